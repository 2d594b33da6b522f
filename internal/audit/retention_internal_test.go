package audit

import (
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/testapp"
)

// TestPruneKeepsTheChainVerifiable writes entries stamped in the past.
func TestPruneKeepsTheChainVerifiable(t *testing.T) {
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	l := New(app, clock.System, []byte("retention test key"))
	for i := range 30 {
		created := mustParse(t, "2020-01-01 00:00:00.000Z")
		if i >= 20 {
			created = mustParse(t, "2025-01-01 00:00:00.000Z")
		}
		if err := l.Append(app, []Entry{{Event: Request, Data: map[string]any{"i": i}, Created: created}}); err != nil {
			t.Fatal(err)
		}
	}

	pruned, err := l.Prune(time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || pruned != 20 {
		t.Fatalf("pruned %d: %v", pruned, err)
	}
	if res, err := l.Verify(nil); err != nil || !res.OK || res.Entries != 11 { // 10 left and the checkpoint
		t.Fatalf("after pruning: %+v %v", res, err)
	}

	// a second prune, of everything, still leaves a verifiable chain
	if pruned, err := l.Prune(time.Now().Add(time.Hour)); err != nil || pruned != 11 {
		t.Fatalf("second prune: %d %v", pruned, err)
	}
	if res, err := l.Verify(nil); err != nil || !res.OK || res.Entries != 1 {
		t.Fatalf("after the second prune: %+v %v", res, err)
	}
	if err := l.Write(app, Entry{Event: SessionStarted}); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(nil); err != nil || !res.OK || res.Entries != 2 {
		t.Fatalf("the chain goes on after pruning: %+v %v", res, err)
	}

	// a forged checkpoint (no key) does not hide deleted entries
	if err := l.Append(app, []Entry{{Event: Request, Created: mustParse(t, "2026-01-01 00:00:00.000Z")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB().NewQuery("DELETE FROM impersonation_audit WHERE seq < (SELECT max(seq) FROM impersonation_audit)").Execute(); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(nil); err != nil || res.OK {
		t.Fatalf("entries deleted past the checkpoint were not found: %+v %v", res, err)
	}
}

func mustParse(t *testing.T, s string) types.DateTime {
	t.Helper()
	d, err := types.ParseDateTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
