package plugin_test

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/osutils"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/checkpoints"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/sinks"
	"github.com/pbimpersonation/impersonation/plugin"
)

// trustFiles are the files of the data directory that never travel with
// the data.
var trustFiles = append([]string{
	plugin.AuditKeyFile, audit.AnchorFile, audit.AnchorFile + ".tmp", audit.JournalLockFile,
	checkpoints.KeyFile, checkpoints.LogFile, sinks.Dir,
}, audit.JournalFiles[:]...)

// TestBackupLeavesOutTheTrustRoots creates a backup while entries wait in
// the audit journal: the zip holds neither the key, the anchor, the
// journal, the checkpoint key and log nor the file sinks' folder, and its
// data.db holds every journalled entry.
func TestBackupLeavesOutTheTrustRoots(t *testing.T) {
	t.Parallel()
	const journalled = 5
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	w := logOf(app).Writer
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	withAuditHistory(t, app)
	if err := logOf(app).WriteAnchor(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app.DataDir(), audit.AnchorFile+".tmp"), []byte("v1 1 x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runJob(t, app, ids.CheckpointJobId)
	if err := os.MkdirAll(filepath.Join(app.DataDir(), sinks.Dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app.DataDir(), sinks.Dir, "witness.jsonl"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range trustFiles {
		if _, err := os.Stat(filepath.Join(app.DataDir(), name)); err != nil {
			t.Fatalf("the data directory has no %s to leave out: %v", name, err)
		}
	}

	// the mover waits for the database, so the entries are in the journal
	// only when the backup starts
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- app.RunInTransaction(func(core.App) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	for i := range journalled {
		if err := w.Write(audit.Entry{Event: audit.Request, Target: fmt.Sprintf("journalled%05d", i), Client: audit.Client{Status: 200}}); err != nil {
			t.Fatal(err)
		}
	}
	app.OnBackupCreate().Bind(&hook.Handler[*core.BackupEvent]{Priority: -1, Func: func(e *core.BackupEvent) error {
		close(release)
		return e.Next()
	}})
	if err := app.CreateBackup(context.Background(), "test.zip"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	zr, err := zip.OpenReader(filepath.Join(app.DataDir(), core.LocalBackupsDirName, "test.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	dataDB := filepath.Join(t.TempDir(), "data.db")
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "data.db" {
			copyZipped(t, f, dataDB)
		}
	}
	for _, name := range trustFiles {
		if slices.ContainsFunc(names, func(n string) bool { return n == name || strings.HasPrefix(n, name+"/") }) {
			t.Errorf("the backup holds %s", name)
		}
	}
	if !slices.Contains(names, "data.db") {
		t.Fatalf("the backup has no data.db: %v", names)
	}

	db, err := core.DefaultDBConnect(dataDB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.NewQuery("SELECT COUNT(*) FROM impersonation_audit WHERE target LIKE 'journalled%'").Row(&n); err != nil {
		t.Fatal(err)
	}
	if n != journalled {
		t.Errorf("the backup's data.db holds %d of the %d journalled entries", n, journalled)
	}
}

func copyZipped(t testing.TB, f *zip.File, to string) {
	t.Helper()
	r, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, r); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreKeepsTheTrustRoots restores an extracted backup that still
// holds a key, an anchor and a journal of its own (as backups made before
// they were left out do), the way core.RestoreBackup replaces pb_data, but
// without the restart: the install's current key and anchor are kept, and
// none of the backup's trust files comes in.
func TestRestoreKeepsTheTrustRoots(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	withAuditHistory(t, app)
	if err := logOf(app).WriteAnchor(); err != nil {
		t.Fatal(err)
	}
	dir := app.DataDir()
	read := func(name string) string {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	key, anchor := read(plugin.AuditKeyFile), read(audit.AnchorFile)

	// the backup as extracted: its own data, key, anchor and journal
	extracted := filepath.Join(dir, core.LocalTempDirName, "pb_restore_test")
	if err := os.MkdirAll(extracted, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB().NewQuery("VACUUM INTO {:path}").Bind(map[string]any{"path": filepath.Join(extracted, "data.db")}).Execute(); err != nil {
		t.Fatal(err)
	}
	backupFiles := map[string]string{
		plugin.AuditKeyFile:       "an old key of the backup, 32 bytes or more",
		audit.AnchorFile:          "v1 1 0000\n",
		audit.JournalFiles[0]:     `{"not":"an entry of this install"}` + "\n",
		audit.JournalLockFile:     "",
		audit.AnchorFile + ".tmp": "v1 1 0000\n",
	}
	for name, content := range backupFiles {
		if err := os.WriteFile(filepath.Join(extracted, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	event := &core.BackupEvent{Name: "test.zip"}
	event.App = app
	event.Context = context.Background()
	event.Exclude = []string{core.LocalBackupsDirName, core.LocalTempDirName, core.LocalAutocertCacheDirName, "lost+found"}
	old := filepath.Join(dir, core.LocalTempDirName, "old_pb_data_test")
	err := app.OnBackupRestore().Trigger(event, func(e *core.BackupEvent) error {
		for _, name := range trustFiles {
			if !slices.Contains(e.Exclude, name) {
				t.Errorf("the restore does not keep %s: %v", name, e.Exclude)
			}
		}
		// core.RestoreBackup's replacement of pb_data; PocketBase's notify
		// dir stays, since this process goes on (a real restore restarts
		// it): moving the watched dir would fire PocketBase's watcher
		// goroutine, which reads the app's state while the test's cleanup
		// clears it (a data race in PocketBase's test harness)
		moved := append(slices.Clone(e.Exclude), core.LocalNotifyDirName)
		err := e.App.RunInTransaction(func(txApp core.App) error {
			return txApp.AuxRunInTransaction(func(txApp core.App) error {
				if err := osutils.MoveDirContent(txApp.DataDir(), old, moved...); err != nil {
					return err
				}
				return osutils.MoveDirContent(extracted, txApp.DataDir(), moved...)
			})
		})
		if err != nil {
			return err
		}
		// until the restart, the app may read the restored data, here
		// older than the anchor: the anchor job (and the one the restart's
		// terminate runs) must not roll the anchor back to it
		if _, err := e.App.DB().NewQuery("DELETE FROM impersonation_audit WHERE seq > 2").Execute(); err != nil {
			return err
		}
		for _, j := range e.App.Cron().Jobs() {
			if j.Id() == ids.AnchorAuditJobId {
				j.Run()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if got := read(plugin.AuditKeyFile); got != key {
		t.Error("the restore replaced the audit key")
	}
	if got := read(audit.AnchorFile); got != anchor {
		t.Errorf("the restore replaced the anchor: %q, want %q", got, anchor)
	}
	if got := read(audit.JournalFiles[0]); got != "" {
		t.Errorf("the restore brought in the backup's journal: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "data.db")); err != nil {
		t.Errorf("the restore did not bring in the backup's data.db: %v", err)
	}
}
