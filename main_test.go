package main

import (
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/tools/osutils"
)

// TestUsageLine: the plugin's commands are attached to the app's root, and
// their usage names the app as it is run, not "impersonation impersonation".
func TestUsageLine(t *testing.T) {
	t.Chdir(t.TempDir()) // the app's data directory is ./pb_data
	app := newApp()
	verify, _, err := app.RootCmd.Find([]string{"impersonation", "audit", "verify"})
	if err != nil || verify.Name() != "verify" {
		t.Fatalf("no impersonation audit verify command: %v", err)
	}
	line := verify.UseLine()
	if strings.Contains(line, "impersonation impersonation") {
		t.Errorf("usage: %q", line)
	}
	// a test binary is built and run as go run builds and runs the app
	if want := "go run . impersonation audit verify"; osutils.IsProbablyGoRun() && !strings.HasPrefix(line, want) {
		t.Errorf("usage: %q, want %q", line, want)
	}
}
