package plugin_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/plugin"
)

// restoredData returns a copy of the data directory of an app whose audit
// holds 4 entries, with its key file changed by keyFile (nil: removed), as
// a restore onto a new machine leaves it.
func restoredData(t *testing.T, keyFile []byte) string {
	t.Helper()
	src := newTestApp(t, plugin.Config{})
	defer src.Cleanup()
	withAuditHistory(t, src)
	if err := logOf(src).Flush(); err != nil {
		t.Fatal(err)
	}
	dir, err := tests.TempDirClone(src.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, plugin.AuditKeyFile)
	if keyFile == nil {
		err = os.Remove(path)
	} else {
		err = os.WriteFile(path, keyFile, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMissingAuditKey: an audit that holds entries never gets a new key
// silently, whether the plugin registers on a bootstrapped app or on one
// that bootstraps later (as serve does); a fresh install makes its key.
func TestMissingAuditKey(t *testing.T) {
	t.Parallel()
	otherKey := bytes.Repeat([]byte{7}, 32)
	cases := []struct {
		name       string
		keyFile    []byte // nil: none
		entries    bool
		cfg        plugin.Config
		wantErr    string
		wantStored bool // a key file is there afterwards
	}{
		{name: "entries and no key: refused", entries: true, wantErr: "Restore "},
		{name: "entries and a key file too short: refused", keyFile: []byte("short"), entries: true, wantErr: "not a key of 32 or more"},
		{name: "entries and no key, a new one accepted", entries: true, cfg: plugin.Config{AcceptNewAuditKey: true}, wantStored: true},
		{name: "entries and a configured key", entries: true, cfg: plugin.Config{AuditKey: otherKey}},
		{name: "an empty audit makes its key", wantStored: true},
	}
	for _, c := range cases {
		for _, bootstrapped := range []bool{true, false} {
			name := c.name + map[bool]string{true: ", bootstrapped", false: ", at bootstrap"}[bootstrapped]
			t.Run(name, func(t *testing.T) {
				var dir string
				if c.entries {
					dir = restoredData(t, c.keyFile)
				} else {
					fresh, err := tests.NewTestApp() // its audit is empty, it has no key
					if err != nil {
						t.Fatal(err)
					}
					defer fresh.Cleanup()
					if err := fresh.ResetBootstrapState(); err != nil {
						t.Fatal(err)
					}
					dir = fresh.DataDir()
				}
				var err error
				if bootstrapped {
					var app *tests.TestApp
					if app, err = tests.NewTestApp(dir); err != nil {
						t.Fatal(err)
					}
					defer app.Cleanup()
					dir = app.DataDir()
					_, err = plugin.Register(app, c.cfg)
				} else {
					app := core.NewBaseApp(core.BaseAppConfig{DataDir: dir})
					if _, err = plugin.Register(app, c.cfg); err == nil {
						err = app.Bootstrap()
					}
					if err == nil { // bootstrapped again, as a failed restart does
						if err = app.ResetBootstrapState(); err == nil {
							err = app.Bootstrap()
						}
					}
					defer app.ResetBootstrapState()
				}
				switch {
				case c.wantErr == "" && err != nil:
					t.Fatalf("refused: %v", err)
				case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
					t.Fatalf("error %v, want %q", err, c.wantErr)
				case c.wantErr != "" && c.keyFile == nil && !errors.Is(err, plugin.ErrAuditKeyMissing):
					t.Fatalf("error %v is not ErrAuditKeyMissing", err)
				}
				stored, readErr := os.ReadFile(filepath.Join(dir, plugin.AuditKeyFile))
				switch {
				case c.wantStored && (readErr != nil || len(stored) < 32):
					t.Errorf("no key was stored: %v", readErr)
				case !c.wantStored && c.keyFile == nil && readErr == nil:
					t.Error("a key was stored")
				case c.keyFile != nil && !bytes.Equal(stored, c.keyFile):
					t.Error("the key file was replaced")
				}
			})
		}
	}
}

// TestKeyMismatch: a chain written under another key than the install's
// fails verify from its first entry, and verify names the cause; an edited
// first entry is not taken for another key.
func TestKeyMismatch(t *testing.T) {
	t.Parallel()
	t.Run("another key", func(t *testing.T) {
		app, err := tests.NewTestApp(restoredData(t, bytes.Repeat([]byte{7}, 32)))
		if err != nil {
			t.Fatal(err)
		}
		defer app.Cleanup()
		register(t, app, plugin.Config{})
		if ok, err := logOf(app).KeyMatches(); err != nil || ok {
			t.Errorf("KeyMatches %v, %v: want false", ok, err)
		}
		res, err := logOf(app).Verify(nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.Cause != audit.CauseKeyMismatch || !strings.Contains(res.Problem, audit.CauseKeyMismatch) {
			t.Errorf("verify: %+v", res)
		}
	})
	t.Run("an edited first entry", func(t *testing.T) {
		app := newTestApp(t, plugin.Config{})
		defer app.Cleanup()
		withAuditHistory(t, app)
		if _, err := app.DB().NewQuery("UPDATE impersonation_audit SET target = 'someoneelse0000' WHERE seq = 1").Execute(); err != nil {
			t.Fatal(err)
		}
		if ok, err := logOf(app).KeyMatches(); err != nil || !ok {
			t.Errorf("KeyMatches %v, %v: want true", ok, err)
		}
		res, err := logOf(app).Verify(nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.Cause != "" || !strings.Contains(res.Problem, "entry #1 does not match its hash") {
			t.Errorf("verify: %+v", res)
		}
	})
}
