package audit_test

import (
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
)

// TestTheAuditKeepsItsPlannerStatisticsInStep: statistics taken while the
// table was nearly empty (as PocketBase's PRAGMA optimize leaves them after
// a migration) make SQLite read and sort the whole table for the
// dashboard's newest-first page; once the chain has grown past them, the
// audit analyzes its table again and the page walks the index.
func TestTheAuditKeepsItsPlannerStatisticsInStep(t *testing.T) {
	app := newTestApp(t)
	if err := app.log.Write(app, audit.Entry{Event: audit.Request}); err != nil {
		t.Fatal(err)
	}
	exec(t, app, "ANALYZE impersonation_audit", nil)
	const newestFirst = "EXPLAIN QUERY PLAN SELECT * FROM impersonation_audit ORDER BY created DESC, seq DESC LIMIT 30"
	if plan := queryPlan(t, app, newestFirst); !strings.Contains(plan, "USE TEMP B-TREE FOR ORDER BY") {
		t.Fatalf("with the statistics of a near-empty table, want the whole-table sort this test is about; plan: %s", plan)
	}

	entries := make([]audit.Entry, 1200)
	for i := range entries {
		entries[i] = audit.Entry{Event: audit.Request}
	}
	if err := app.log.Append(app, entries); err != nil {
		t.Fatal(err)
	}
	plan := queryPlan(t, app, newestFirst)
	if !strings.Contains(plan, "USING INDEX idx_impersonation_audit_created") || strings.Contains(plan, "FOR ORDER BY") && !strings.Contains(plan, "RIGHT PART") {
		t.Fatalf("after the chain grew, the newest-first page does not walk the created index; plan: %s", plan)
	}
}

// queryPlan returns the details of an EXPLAIN QUERY PLAN run on the pool
// that serves the records API's lists, one step a line.
func queryPlan(t *testing.T, app core.App, query string) string {
	t.Helper()
	rows, err := app.DB().NewQuery(query).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	return strings.Join(steps, "\n")
}
