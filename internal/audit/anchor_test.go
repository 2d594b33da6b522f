package audit_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// anchorOf returns the content of app's AnchorFile.
func anchorOf(t *testing.T, app *testApp) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(app.DataDir(), audit.AnchorFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// head returns the seq and hash of app's entry seq as AnchorFile writes it.
func head(t *testing.T, app *testApp, seq int) string {
	t.Helper()
	var hash string
	if err := app.DB().NewQuery(fmt.Sprintf("SELECT hash FROM impersonation_audit WHERE seq = %d", seq)).Row(&hash); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("v1 %020d %s", seq, hash)
}

// expectLoss fails t unless app's chain verifies as not reaching the head
// anchored at anchoredSeq, with its head at headSeq.
func expectLoss(t *testing.T, app *testApp, anchoredSeq, headSeq int) audit.Result {
	t.Helper()
	res, err := app.log.Verify(nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Code != audit.CodeAnchorNotReached || res.Anchored == nil || res.Anchored.Seq != anchoredSeq ||
		res.Head == nil || res.Head.Seq != headSeq {
		t.Fatalf("verify: %+v (anchored %+v, head %+v), want anchor #%d not reached from #%d", res, res.Anchored, res.Head, anchoredSeq, headSeq)
	}
	return res
}

func TestTheAnchorFollowsEveryCommit(t *testing.T) {
	cases := []struct {
		name  string
		write func(t *testing.T, app *testApp)
	}{
		{"Write", func(t *testing.T, app *testApp) {
			if err := app.log.Write(app, audit.Entry{Event: audit.SessionStarted}); err != nil {
				t.Fatal(err)
			}
		}},
		{"Write in a caller's transaction", func(t *testing.T, app *testApp) {
			err := app.RunInTransaction(func(tx core.App) error {
				if err := app.log.Write(tx, audit.Entry{Event: audit.SessionStarted}); err != nil {
					return err
				}
				// not anchored before the commit: the entry may still roll back
				if got := anchorOf(t, app); got != head(t, app, 3) {
					t.Errorf("anchored before the commit: %q", got)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"a batch of the journal's mover", func(t *testing.T, app *testApp) {
			w := newWriter(t, app)
			if err := w.Write(entry("someone")); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := newTestApp(t)
			for range 3 {
				if err := app.log.Write(app, audit.Entry{Event: audit.Request}); err != nil {
					t.Fatal(err)
				}
			}
			c.write(t, app)
			if got, want := anchorOf(t, app), head(t, app, 4); got != want {
				t.Fatalf("anchor %q, want the new head %q", got, want)
			}
			// the newest entry deleted at once, before any job ran: no window
			exec(t, app, "DELETE FROM impersonation_audit WHERE seq = 4", nil)
			expectLoss(t, app, 4, 3)
		})
	}
}

func TestARolledBackEntryIsNotAnchored(t *testing.T) {
	app := newTestApp(t)
	if err := app.log.Write(app, audit.Entry{Event: audit.Request}); err != nil {
		t.Fatal(err)
	}
	err := app.RunInTransaction(func(tx core.App) error {
		if err := app.log.Write(tx, audit.Entry{Event: audit.SessionStarted}); err != nil {
			return err
		}
		return errors.New("the change the entry records failed")
	})
	if err == nil {
		t.Fatal("the transaction did not fail")
	}
	if got, want := anchorOf(t, app), head(t, app, 1); got != want {
		t.Errorf("anchor %q, want %q", got, want)
	}
	if res, err := app.log.Verify(nil); err != nil || !res.OK || res.Entries != 1 {
		t.Errorf("verify: %+v %v", res, err)
	}
}

// TestTheAnchorNeverMovesBack is the attack of POST /api/sql as a
// superuser: "DELETE FROM impersonation_audit WHERE seq > N".
func TestTheAnchorNeverMovesBack(t *testing.T) {
	app := chained(t, 10)
	anchored := head(t, app, 10)
	lost := 0
	app.log.OnAnchorLost(func(loss audit.Loss) {
		lost++
		if loss.Anchored.Seq != 10 || loss.Head.Seq != 6 {
			t.Errorf("loss %+v", loss)
		}
	})
	exec(t, app, "DELETE FROM impersonation_audit WHERE seq > 6", nil)

	// the minute job, twice: the anchor stays, the loss is alerted once
	for range 2 {
		if err := app.log.WriteAnchor(); !errors.Is(err, audit.ErrAnchorNotReached) {
			t.Fatalf("WriteAnchor: %v", err)
		}
	}
	if got := anchorOf(t, app); got != anchored {
		t.Errorf("the anchor moved back to %q", got)
	}
	if lost != 1 {
		t.Errorf("the loss was alerted %d times, want once", lost)
	}
	expectLoss(t, app, 10, 6)

	// new entries do not cover it: first short of the anchored seq, then
	// past it with another entry at #10
	if err := app.log.Write(app, audit.Entry{Event: audit.SessionStarted}); err != nil {
		t.Fatal(err)
	}
	expectLoss(t, app, 10, 7)
	for range 4 {
		if err := app.log.Write(app, audit.Entry{Event: audit.SessionStarted}); err != nil {
			t.Fatal(err)
		}
	}
	res := expectLoss(t, app, 10, 11)
	if !strings.Contains(res.Problem, "entry #10 is not the one the anchor recorded") || res.FirstBadId == "" {
		t.Errorf("rewritten past the anchor: %+v", res)
	}
	if got := anchorOf(t, app); got != anchored {
		t.Errorf("the anchor moved to %q", got)
	}
	if lost != 1 {
		t.Errorf("the loss was alerted %d times, want once", lost)
	}

	// a restart (a new app on the data directory) still reports it and
	// does not alert it again
	again, err := tests.NewTestApp(app.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Cleanup()
	restarted := &testApp{TestApp: again, log: audit.New(again, clock.System, testKey)}
	restarted.log.OnAnchorLost(func(audit.Loss) { lost++ })
	if err := restarted.log.WriteAnchor(); !errors.Is(err, audit.ErrAnchorNotReached) {
		t.Fatalf("WriteAnchor after a restart: %v", err)
	}
	expectLoss(t, restarted, 10, 11)
	if lost != 1 {
		t.Errorf("the loss was alerted %d times, want once", lost)
	}
}

func TestAcknowledge(t *testing.T) {
	t.Run("nothing to acknowledge", func(t *testing.T) {
		app := chained(t, 4)
		if _, err := app.log.Acknowledge(audit.Entry{}, "why"); !errors.Is(err, audit.ErrNothingToAcknowledge) {
			t.Errorf("Acknowledge: %v", err)
		}
	})
	t.Run("a chain broken otherwise", func(t *testing.T) {
		app := chained(t, 4)
		exec(t, app, "UPDATE impersonation_audit SET status = 500 WHERE seq = 2", nil)
		exec(t, app, "DELETE FROM impersonation_audit WHERE seq > 3", nil)
		if _, err := app.log.Acknowledge(audit.Entry{}, "why"); !errors.Is(err, audit.ErrChainBroken) {
			t.Errorf("Acknowledge: %v", err)
		}
	})
	t.Run("a loss is recorded in the chain, then anchored", func(t *testing.T) {
		app := chained(t, 10)
		anchoredHash := strings.Fields(head(t, app, 10))[2]
		exec(t, app, "DELETE FROM impersonation_audit WHERE seq > 6", nil)
		headHash := strings.Fields(head(t, app, 6))[2]
		by := audit.Entry{Actor: "su", ActorCollection: core.CollectionNameSuperusers}
		ack, err := app.log.Acknowledge(by, "restored a backup")
		if err != nil {
			t.Fatal(err)
		}
		want := audit.Acknowledgement{
			Loss:  audit.Loss{Anchored: audit.Head{Seq: 10, Hash: anchoredHash}, Head: audit.Head{Seq: 6, Hash: headHash}},
			Entry: audit.Head{Seq: 7, Hash: ack.Entry.Hash}, Id: ack.Id,
		}
		if ack != want {
			t.Errorf("acknowledgement %+v, want %+v", ack, want)
		}
		if got := anchorOf(t, app); got != head(t, app, 7) {
			t.Errorf("anchor %q, want the acknowledgement", got)
		}
		if res, err := app.log.Verify(nil); err != nil || !res.OK || res.Entries != 7 {
			t.Errorf("verify after the acknowledgement: %+v %v", res, err)
		}
		r, err := app.FindRecordById(records.AuditCollection, ack.Id)
		if err != nil {
			t.Fatal(err)
		}
		wantData := fmt.Sprintf(`{"anchored":{"seq":10,"hash":%q},"head":{"seq":6,"hash":%q},"reason":"restored a backup"}`, anchoredHash, headHash)
		if r.GetString("event") != audit.Acknowledged || r.GetString("actor") != "su" || r.GetString("data") != wantData {
			t.Errorf("entry: event %q actor %q data %s, want data %s", r.GetString("event"), r.GetString("actor"), r.GetString("data"), wantData)
		}
		// the chain goes on, anchored
		if err := app.log.Write(app, audit.Entry{Event: audit.SessionStarted}); err != nil {
			t.Fatal(err)
		}
		if got := anchorOf(t, app); got != head(t, app, 8) {
			t.Errorf("anchor %q after the acknowledgement, want #8", got)
		}
		if _, err := app.log.Acknowledge(audit.Entry{}, "again"); !errors.Is(err, audit.ErrNothingToAcknowledge) {
			t.Errorf("a second Acknowledge: %v", err)
		}
	})
}

func TestPruningPastTheAnchorIsNoLoss(t *testing.T) {
	app := newTestApp(t)
	old, err := types.ParseDateTime("2020-01-01 00:00:00.000Z")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := app.log.Append(app, []audit.Entry{{Event: audit.Request, Created: old}}); err != nil {
			t.Fatal(err)
		}
	}
	if pruned, err := app.log.Prune(time.Now()); err != nil || pruned != 5 {
		t.Fatalf("Prune: %d %v", pruned, err)
	}
	// the anchored #5 is gone, but the checkpoint names it
	if got, want := anchorOf(t, app), head(t, app, 6); got != want {
		t.Errorf("anchor %q, want the checkpoint %q", got, want)
	}
	if err := app.log.WriteAnchor(); err != nil {
		t.Errorf("WriteAnchor: %v", err)
	}
	if res, err := app.log.Verify(nil); err != nil || !res.OK || res.Entries != 1 {
		t.Errorf("verify: %+v %v", res, err)
	}
}

// TestAnAnchorOfAnOlderVersionIsRead reads the line the minute job of
// earlier versions wrote ("v1 <seq> <hash>", seq not padded): it is the
// anchored head, and the next anchor replaces the file.
func TestAnAnchorOfAnOlderVersionIsRead(t *testing.T) {
	older := func(app *testApp, seq int) {
		line := strings.Replace(head(t, app, seq), fmt.Sprintf(" %020d ", seq), fmt.Sprintf(" %d ", seq), 1)
		if err := os.WriteFile(filepath.Join(app.DataDir(), audit.AnchorFile), []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("a loss is found", func(t *testing.T) {
		app := chained(t, 4)
		older(app, 3)
		exec(t, app, "DELETE FROM impersonation_audit WHERE seq > 2", nil)
		expectLoss(t, app, 3, 2)
	})
	t.Run("the anchor moves on, in the current format", func(t *testing.T) {
		app := chained(t, 4)
		older(app, 2)
		if err := app.log.WriteAnchor(); err != nil {
			t.Fatal(err)
		}
		if got := anchorOf(t, app); got != head(t, app, 4) {
			t.Errorf("anchor %q, want #4 in the current format", got)
		}
	})
}
