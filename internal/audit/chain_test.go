package audit_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/records"

	"github.com/pbimpersonation/impersonation/internal/testapp"
)

// chained returns a test app whose audit holds n entries, written half by
// Write and half by a Writer, concurrently.
// userAgents are what the entries of chained hold, in turn: every kind of
// string the canonical encoding escapes, or does not.
var userAgents = []string{"", "Mozilla/5.0 (X11) <b>&amp;", "é 漢字 \u2028", "tab\tand\x01", `quote " back \ slash`}

func chained(t *testing.T, n int) *testApp {
	t.Helper()
	app := newTestApp(t)
	w := newWriter(t, app)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e := audit.Entry{Event: audit.Request, Target: fmt.Sprintf("t%03d", i),
				Client: audit.Client{Status: 200, UserAgent: userAgents[i%len(userAgents)], Path: "/api/x?a=1&b=<2>"},
				Data:   map[string]any{"i": i, "nested": map[string]any{"b": []any{1, "two"}}}}
			var err error
			if i%2 == 0 {
				err = app.log.Write(app, e)
			} else {
				err = w.Write(e)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := app.DB().NewQuery("SELECT id FROM impersonation_audit ORDER BY seq").Column(&app.ids); err != nil {
		t.Fatal(err)
	}
	return app
}

func exec(t *testing.T, app core.App, sql string, params dbx.Params) {
	t.Helper()
	if _, err := app.DB().NewQuery(sql).Bind(params).Execute(); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	const n = 60
	cases := []struct {
		name   string
		tamper func(t *testing.T, app core.App, ids []string) (firstBad string)
	}{
		{"an untouched chain", func(*testing.T, core.App, []string) string { return "" }},
		{"an edited field", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "UPDATE impersonation_audit SET status = 403 WHERE id = {:id}", dbx.Params{"id": ids[20]})
			return ids[20]
		}},
		{"edited data", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, `UPDATE impersonation_audit SET data = '{"i":0}' WHERE id = {:id}`, dbx.Params{"id": ids[7]})
			return ids[7]
		}},
		{"a field stored as a blob", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "UPDATE impersonation_audit SET userAgent = x'00ff' WHERE id = {:id}", dbx.Params{"id": ids[12]})
			return ids[12]
		}},
		{"a number stored as text", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "UPDATE impersonation_audit SET status = 'two hundred' WHERE id = {:id}", dbx.Params{"id": ids[13]})
			return ids[13]
		}},
		{"a non-ASCII field edited", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "UPDATE impersonation_audit SET userAgent = replace(userAgent, 'é', 'e') WHERE userAgent LIKE '%漢字%' AND seq > 40", nil)
			var first string
			if err := app.DB().NewQuery("SELECT id FROM impersonation_audit WHERE userAgent LIKE '%漢字%' AND seq > 40 ORDER BY seq LIMIT 1").Row(&first); err != nil {
				t.Fatal(err)
			}
			return first
		}},
		{"an edited hash", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "UPDATE impersonation_audit SET hash = 'ff' || substr(hash, 3) WHERE id = {:id}", dbx.Params{"id": ids[33]})
			return ids[33]
		}},
		{"a hash's last digit edited", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "UPDATE impersonation_audit SET hash = substr(hash, 1, 63) || CASE substr(hash, 64) WHEN '0' THEN '1' ELSE '0' END WHERE id = {:id}", dbx.Params{"id": ids[34]})
			return ids[34]
		}},
		{"a hash with a digit added", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "UPDATE impersonation_audit SET hash = hash || '0' WHERE id = {:id}", dbx.Params{"id": ids[35]})
			return ids[35]
		}},
		{"a deleted entry", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "DELETE FROM impersonation_audit WHERE id = {:id}", dbx.Params{"id": ids[40]})
			return ids[41]
		}},
		{"a deleted first entry", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "DELETE FROM impersonation_audit WHERE id = {:id}", dbx.Params{"id": ids[0]})
			return ids[1]
		}},
		{"a deleted entry renumbered to hide the gap", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "DELETE FROM impersonation_audit WHERE id = {:id}", dbx.Params{"id": ids[10]})
			exec(t, app, "UPDATE impersonation_audit SET seq = seq - 1 WHERE seq > 11", nil)
			return ids[11]
		}},
		{"two entries reordered", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "UPDATE impersonation_audit SET seq = -seq WHERE id IN ({:a}, {:b})", dbx.Params{"a": ids[25], "b": ids[26]})
			exec(t, app, "UPDATE impersonation_audit SET seq = 26 WHERE id = {:id}", dbx.Params{"id": ids[26]})
			exec(t, app, "UPDATE impersonation_audit SET seq = 27 WHERE id = {:id}", dbx.Params{"id": ids[25]})
			return ids[26]
		}},
		{"an entry inserted at the end", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, `INSERT INTO impersonation_audit (id, event, seq, hash, created) VALUES ('forgedentry0001', 'request', {:seq}, 'beef', '2026-01-01 00:00:00.000Z')`, dbx.Params{"seq": n + 1})
			return "forgedentry0001"
		}},
		{"an entry inserted in the middle", func(t *testing.T, app core.App, ids []string) string {
			exec(t, app, "UPDATE impersonation_audit SET seq = seq + 1000 WHERE seq > 30", nil)
			exec(t, app, "UPDATE impersonation_audit SET seq = seq - 999 WHERE seq > 1000", nil)
			exec(t, app, `INSERT INTO impersonation_audit (id, event, seq, hash, created) VALUES ('forgedentry0002', 'request', 31, 'beef', '2026-01-01 00:00:00.000Z')`, nil)
			return "forgedentry0002"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := chained(t, n)
			wantBad := c.tamper(t, app, app.ids)
			var progressCalls int
			res, err := app.log.Verify(func(done, total int) { progressCalls++ })
			if err != nil {
				t.Fatal(err)
			}
			if progressCalls == 0 {
				t.Error("no progress reported")
			}
			if wantBad == "" {
				if !res.OK || res.Entries != n || res.FirstBadId != "" {
					t.Errorf("verify: %+v, want ok with %d entries", res, n)
				}
				return
			}
			if res.OK || res.FirstBadId != wantBad || res.Problem == "" {
				t.Errorf("verify: %+v, want the first bad entry %s", res, wantBad)
			}
		})
	}
}

func TestVerifyNeedsTheKey(t *testing.T) {
	app := chained(t, 5)
	app.log = audit.New(app, clock.System, []byte("another install's key"))
	res, err := app.log.Verify(nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.FirstBadId != app.ids[0] {
		t.Errorf("a chain verified with another key: %+v", res)
	}
}

func TestConcurrentWritersKeepOneChain(t *testing.T) {
	app := chained(t, 200)
	var seqs []int
	if err := app.DB().NewQuery("SELECT seq FROM impersonation_audit ORDER BY seq").Column(&seqs); err != nil {
		t.Fatal(err)
	}
	for i, s := range seqs {
		if s != i+1 {
			t.Fatalf("seq %d at position %d: the chain has a gap or a fork", s, i)
		}
	}
	if res, err := app.log.Verify(nil); err != nil || !res.OK || res.Entries != 200 {
		t.Errorf("verify: %+v %v", res, err)
	}
}

func TestAWriteThatRollsBackLeavesNoLink(t *testing.T) {
	app := chained(t, 3)
	err := app.RunInTransaction(func(tx core.App) error {
		if err := app.log.Write(tx, audit.Entry{Event: audit.SessionStarted}); err != nil {
			return err
		}
		return fmt.Errorf("the change the entry records failed")
	})
	if err == nil || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("transaction: %v", err)
	}
	if err := app.log.Write(app, audit.Entry{Event: audit.SessionEnded}); err != nil {
		t.Fatal(err)
	}
	if res, err := app.log.Verify(nil); err != nil || !res.OK || res.Entries != 4 {
		t.Errorf("verify: %+v %v", res, err)
	}
	var n int
	_ = app.RecordQuery(records.AuditCollection).Select("count(*)").AndWhere(dbx.HashExp{"event": audit.SessionStarted}).Row(&n)
	if n != 0 {
		t.Errorf("the rolled back entry is there")
	}
}

func TestVerifyFindsTheNewestEntriesDeleted(t *testing.T) {
	app := chained(t, 10)
	if err := app.log.WriteAnchor(); err != nil {
		t.Fatal(err)
	}
	if res, err := app.log.Verify(nil); err != nil || !res.OK {
		t.Fatalf("anchored chain: %+v %v", res, err)
	}
	// newer entries after the anchor are fine
	if err := app.log.Write(app, audit.Entry{Event: audit.SessionEnded}); err != nil {
		t.Fatal(err)
	}
	if res, err := app.log.Verify(nil); err != nil || !res.OK || res.Entries != 11 {
		t.Fatalf("chain grown past its anchor: %+v %v", res, err)
	}
	// deleting the newest ones, back past the anchor, is found
	exec(t, app, "DELETE FROM impersonation_audit WHERE seq >= 9", nil)
	res, err := app.log.Verify(nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Entries != 8 || !strings.Contains(res.Problem, "newest entries were deleted") {
		t.Errorf("tail deletion not found: %+v", res)
	}
}

func TestPruneLeavesNoCover(t *testing.T) {
	t.Run("oldest entries deleted without a checkpoint are found", func(t *testing.T) {
		app := chained(t, 10)
		exec(t, app, "DELETE FROM impersonation_audit WHERE seq <= 3", nil)
		res, err := app.log.Verify(nil)
		if err != nil || res.OK || res.FirstBadId != app.ids[3] {
			t.Errorf("verify: %+v %v", res, err)
		}
	})
	t.Run("a broken chain is not pruned", func(t *testing.T) {
		app := chained(t, 10)
		exec(t, app, "UPDATE impersonation_audit SET status = 500 WHERE seq = 2", nil)
		if _, err := app.log.Prune(time.Now().Add(time.Hour)); !errors.Is(err, audit.ErrChainBroken) {
			t.Fatalf("prune: %v", err)
		}
		var n int
		_ = app.DB().NewQuery("SELECT count(*) FROM impersonation_audit").Row(&n)
		if n != 10 {
			t.Errorf("entries left: %d, want all 10", n)
		}
	})
}

// BenchmarkVerify verifies a chain of 50,000 request entries; ns/op is per
// verify of the whole chain.
func BenchmarkVerify(b *testing.B) {
	pb, err := testapp.NewApp()
	if err != nil {
		b.Fatal(err)
	}
	defer pb.Cleanup()
	app := &testApp{TestApp: pb, log: audit.New(pb, clock.System, []byte("bench key"))}
	const n, batch = 50_000, 1000
	for start := 0; start < n; start += batch {
		entries := make([]audit.Entry, batch)
		for i := range entries {
			entries[i] = audit.Entry{Event: audit.Request, Target: fmt.Sprintf("user%010d", (start+i)%1000),
				Session: fmt.Sprintf("sess%011d", (start+i)/20), Client: audit.Client{Method: "GET", Path: "/api/collections/notes/records", Status: 200},
				Data: map[string]any{"route": "GET /api/collections/{collection}/records", "query": "page=1&perPage=30"}}
		}
		if err := app.log.Append(app, entries); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		res, err := app.log.Verify(nil)
		if err != nil || !res.OK || res.Entries != n {
			b.Fatalf("Verify = %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n, "µs/entry")
}
