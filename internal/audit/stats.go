package audit

import (
	"strconv"
	"strings"
	"sync"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// SQLite's query planner picks the audit's indexes from the statistics
// that ANALYZE leaves in sqlite_stat1. PocketBase runs PRAGMA optimize after
// every collection save and at midnight, so the audit's statistics are
// often those of a table that was nearly empty (a fresh install, a
// migration): then the planner reads the whole table and sorts it for the
// dashboard's newest-first page (hundreds of milliseconds at 20,000
// entries, instead of a few). The audit keeps its statistics in step with
// its size instead: each time the chain has grown fourfold since they were
// taken, its table is analyzed again, on a sample of rows, so that the cost
// stays a few milliseconds at any size.

// statsSample is the rows per index ANALYZE looks at (PRAGMA analysis_limit).
const statsSample = 1000

// statsMinRows is the size below which statistics do not matter.
const statsMinRows = 1000

// statsGrowth is how many times the chain grows between two analyses.
const statsGrowth = 4

// statsKeeper analyzes one app's audit table as its chain grows.
type statsKeeper struct {
	mu sync.Mutex
	// next is the head seq at which the table is analyzed again; 0 until
	// the statistics found are read.
	next int
}

// refresh analyzes app's audit table (app is never a transaction) when
// the chain's head seq has reached statsGrowth times its size at the last
// analysis. Errors are logged: they cost speed, never entries.
func (k *statsKeeper) refresh(app core.App, headSeq int) {
	if err := k.analyze(app, headSeq); err != nil {
		app.Logger().Warn("impersonation: update the audit table's planner statistics", "error", err)
	}
}

func (k *statsKeeper) analyze(app core.App, headSeq int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.next == 0 {
		analyzed, err := analyzedRows(app)
		if err != nil {
			return err
		}
		k.next = max(statsMinRows, statsGrowth*analyzed)
	}
	if headSeq < k.next {
		return nil
	}
	k.next = statsGrowth * headSeq
	// one connection writes (PocketBase's nonconcurrent pool has one), so
	// the sample limit applies to the ANALYZE, and is lifted after it
	_, err := app.NonconcurrentDB().NewQuery("PRAGMA analysis_limit = " + strconv.Itoa(statsSample) +
		"; ANALYZE {{" + records.AuditCollection + "}}; PRAGMA analysis_limit = 0").Execute()
	return err
}

// analyzedRows returns the rows the audit table had when it was last
// analyzed (the first number of its statistics), 0 when it never was.
func analyzedRows(app core.App) (int, error) {
	if !app.HasTable("sqlite_stat1") {
		return 0, nil
	}
	var stats []string
	err := app.NonconcurrentDB().NewQuery("SELECT stat FROM sqlite_stat1 WHERE tbl = {:tbl}").
		Bind(map[string]any{"tbl": records.AuditCollection}).Column(&stats)
	if err != nil {
		return 0, err
	}
	rows := 0
	for _, s := range stats {
		first, _, _ := strings.Cut(s, " ")
		n, _ := strconv.Atoi(first)
		rows = max(rows, n)
	}
	return rows, nil
}
