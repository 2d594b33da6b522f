package plugin_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/spf13/cobra"

	"github.com/pbimpersonation/impersonation/hooks"
	"github.com/pbimpersonation/impersonation/plugin"
)

// commandProcessEnv, when set to a JSON list of arguments, makes the test
// binary an app run with them (see TestMain and runCommandProcess).
const commandProcessEnv = "IMPERSONATION_TEST_COMMAND_ARGS"

// runCommandProcess runs an app as main.go makes it, in dev mode as go run
// starts it, with the arguments args (JSON), and returns its exit code.
func runCommandProcess(args string) int {
	var list []string
	if err := json.Unmarshal([]byte(args), &list); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	os.Args = append([]string{"app"}, list...)
	app := pocketbase.NewWithConfig(pocketbase.Config{DefaultDev: true, HideStartBanner: true})
	plugin.MustRegister(app, plugin.Config{})
	if err := app.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runCommand runs the app, in its own process, with args and --dir dir.
func runCommand(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	raw, _ := json.Marshal(append(args, "--dir", dir))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), commandProcessEnv+"="+string(raw))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// TestCommandStdoutIsData is issue 13's `go run . impersonation audit
// export > audit.jsonl`: in dev mode PocketBase prints each SQL statement,
// and the command's stdout still holds its data and nothing else (the SQL
// goes to stderr).
func TestCommandStdoutIsData(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	withRequestsAndStarts(t, app)
	dir, err := tests.TempDirClone(app.DataDir())
	app.Cleanup()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	t.Run("export jsonl", func(t *testing.T) {
		stdout, stderr, err := runCommand(t, dir, "impersonation", "audit", "export")
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) != 7 {
			t.Errorf("%d lines on stdout, want 7:\n%s", len(lines), stdout)
		}
		for _, line := range lines {
			var entry map[string]any
			if err := json.Unmarshal([]byte(line), &entry); err != nil || entry["event"] == nil {
				t.Errorf("not an entry: %q (%v)", line, err)
			}
		}
		if !strings.Contains(stderr, "SELECT") || !strings.Contains(stderr, "exported 7 entries") {
			t.Errorf("stderr has no SQL (dev mode) or no count:\n%s", nonSQL(stderr))
		}
	})
	t.Run("export csv", func(t *testing.T) {
		stdout, stderr, err := runCommand(t, dir, "impersonation", "audit", "export", "--format", "csv")
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		rows, err := csvRows(stdout)
		if err != nil || len(rows) != 8 {
			t.Errorf("csv: %d rows (%v), want a header and 7:\n%s", len(rows), err, stdout)
		}
	})
	t.Run("verify", func(t *testing.T) {
		stdout, stderr, err := runCommand(t, dir, "impersonation", "audit", "verify")
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		if stdout != "ok: 7 entries\n" {
			t.Errorf("stdout: %q", stdout)
		}
		if !strings.Contains(stderr, "verified 7 of 7 entries") {
			t.Errorf("no progress on stderr:\n%s", nonSQL(stderr))
		}
	})
	t.Run("verify a broken chain", func(t *testing.T) {
		app := newTestApp(t, plugin.Config{})
		tampered(t, app)
		broken, err := tests.TempDirClone(app.DataDir())
		app.Cleanup()
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(broken)
		stdout, stderr, err := runCommand(t, broken, "impersonation", "audit", "verify")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("exit: %v, want status 1", err)
		}
		if stdout != "" || strings.Count(stderr, "the audit chain is broken at entry") != 1 {
			t.Errorf("stdout %q; stderr:\n%s", stdout, nonSQL(stderr))
		}
	})
}

// TestCommandHelp: verify's help states its exit codes and that it works
// beside a running server; export's that stdout holds the entries alone.
func TestCommandHelp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cmd  string
		want []string
	}{
		{"verify", []string{"Exit codes:", "0 the chain is whole", "1 the chain is broken", "beside a running server", "Usage:", "impersonation audit verify"}},
		{"export", []string{"Stdout gets the entries and nothing else, in dev mode too", "beside a running server", "--format", "--filter"}},
	} {
		t.Run(c.cmd, func(t *testing.T) {
			root := &cobra.Command{Use: "app"}
			root.AddCommand(hooks.NewCommand(nil, nil))
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs([]string{"impersonation", "audit", c.cmd, "--help"})
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			help := strings.Join(strings.Fields(out.String()), " ")
			for _, w := range c.want {
				if !strings.Contains(help, w) {
					t.Errorf("help lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(help, "impersonation impersonation") {
				t.Errorf("usage: %s", out.String())
			}
		})
	}
}

// TestCommandAttachesToTheGivenRoot: an app that is not a
// *pocketbase.PocketBase (it wraps one, or is a test app) gets the command
// on the root it passes, as migratecmd's MustRegister takes it.
func TestCommandAttachesToTheGivenRoot(t *testing.T) {
	t.Parallel()
	root := &cobra.Command{Use: "myapp"}
	app := newTestApp(t, plugin.Config{RootCmd: root})
	defer app.Cleanup()
	found, _, err := root.Find([]string{"impersonation", "audit", "export"})
	if err != nil || found.Name() != "export" {
		t.Fatalf("no impersonation audit export on the given root: %v", err)
	}
}

// nonSQL is s without the SQL statements dev mode prints.
func nonSQL(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "[") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
