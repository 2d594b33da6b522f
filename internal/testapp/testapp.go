// Package testapp makes the PocketBase test apps of the module's tests
// cheaply. PocketBase's tests.NewTestApp copies its test data and replays
// every migration for each app (about 250 ms, ~13 times that under the race
// detector); here the test data, with the plugin's migrations applied, is
// prepared once per test binary, and each app is a clone of it (a copy of a
// few files, no migration to replay).
//
// Example usage, in a package's tests:
//
//	func TestMain(m *testing.M) { testapp.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		app := testapp.New(t) // cleaned up when t ends
//		...
//	}
package testapp

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/pocketbase/pocketbase/tests"

	_ "github.com/pbimpersonation/impersonation/migrations" // the plugin's collections
)

var (
	prepare  sync.Once
	prepared string // the prepared data directory
	errPrep  error
)

// Dir returns the data directory every app is cloned from: PocketBase's
// test data with every migration applied. It is made on first use.
func Dir() (string, error) {
	prepare.Do(func() {
		app, err := tests.NewTestApp()
		if err != nil {
			errPrep = fmt.Errorf("testapp: prepare the data directory: %w", err)
			return
		}
		// close the databases, keep the directory
		if err := app.ResetBootstrapState(); err != nil {
			errPrep = fmt.Errorf("testapp: close the prepared data directory: %w", err)
			return
		}
		prepared = app.DataDir()
	})
	return prepared, errPrep
}

// NewApp returns a fresh app cloned from Dir; the caller cleans it up.
func NewApp() (*tests.TestApp, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	return tests.NewTestApp(dir)
}

// New returns a fresh app cloned from Dir, cleaned up when t ends.
func New(t testing.TB) *tests.TestApp {
	t.Helper()
	app, err := NewApp()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Cleanup)
	return app
}

// Main runs the tests of m, removes the prepared data directory and exits
// with the tests' code. A package whose tests use New calls it, or Run,
// from its TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests of m, removes the prepared data directory and returns
// the tests' code, for a TestMain that checks more after the tests.
func Run(m *testing.M) int {
	code := m.Run()
	if prepared != "" {
		os.RemoveAll(prepared)
	}
	return code
}
