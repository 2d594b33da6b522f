package audit_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	_ "github.com/pbimpersonation/impersonation/migrations"
	"github.com/pbimpersonation/impersonation/plugin/audit"
	"github.com/pbimpersonation/impersonation/plugin/records"
	"github.com/pbimpersonation/impersonation/plugin/sessions"
)

func newTestApp(t *testing.T) *tests.TestApp {
	t.Helper()
	app, err := tests.NewTestApp()
	if err != nil {
		t.Fatalf("NewTestApp: %v", err)
	}
	t.Cleanup(app.Cleanup)
	audit.SetKey(app, []byte("writer test key"))
	return app
}

// entry is the audit entry of a request to target.
func entry(target string) audit.Entry {
	return audit.Entry{Event: audit.Request, Target: target, Client: audit.Client{Status: 200}}
}

// targets returns how many audit records name each target.
func targets(t *testing.T, app core.App) map[string]int {
	t.Helper()
	rs, err := app.FindAllRecords(records.AuditCollection)
	if err != nil {
		t.Fatalf("FindAllRecords: %v", err)
	}
	out := map[string]int{}
	for _, r := range rs {
		out[r.GetString("target")]++
	}
	return out
}

// insertLog records the rows of every successful INSERT into the audit
// collection made through the app's nonconcurrent DB, which is the one the
// Writer inserts with: each statement is one group commit.
type insertLog struct {
	mu     sync.Mutex
	rows   []int64 // rows of each successful statement, in order
	failed int     // statements that failed
}

// logInserts starts logging the audit inserts of app. Call it before any
// Write starts.
func logInserts(t *testing.T, app core.App) *insertLog {
	t.Helper()
	db, ok := app.NonconcurrentDB().(*dbx.DB)
	if !ok {
		t.Fatalf("NonconcurrentDB is a %T, want *dbx.DB", app.NonconcurrentDB())
	}
	l := &insertLog{}
	db.ExecLogFunc = func(_ context.Context, _ time.Duration, stmt string, result sql.Result, err error) {
		if !strings.HasPrefix(stmt, "INSERT INTO") || !strings.Contains(stmt, records.AuditCollection) {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			l.failed++
			return
		}
		n, _ := result.RowsAffected()
		l.rows = append(l.rows, n)
	}
	return l
}

func (l *insertLog) statements() ([]int64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int64(nil), l.rows...), l.failed
}

// goroutines counts the goroutines whose stack contains frame and, when
// states are given, whose state starts with one of them.
func goroutines(frame string, states ...string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, frame) {
			continue
		}
		header, _, _ := strings.Cut(g, "\n")
		_, state, _ := strings.Cut(header, "[")
		match := len(states) == 0
		for _, s := range states {
			if strings.HasPrefix(state, s) {
				match = true
			}
		}
		if match {
			count++
		}
	}
	return count
}

// Frames of the Writer in goroutine stacks.
const (
	writeFrame  = "plugin/audit.(*Writer).Write("
	commitFrame = "plugin/audit.(*Writer).commit("
	anyFrame    = "impersonation/plugin/audit." // not audit_test
)

// waitFor polls cond. It has no deadline of its own: go test's -timeout
// ends a test whose condition never comes true.
func waitFor(cond func() bool) {
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

// dbGate holds the only connection of the app's nonconcurrent DB in an open
// transaction, so that the Writer's next insert waits for it.
type dbGate struct {
	release chan struct{}
	done    chan error
}

func holdDB(t *testing.T, app core.App) *dbGate {
	t.Helper()
	g := &dbGate{release: make(chan struct{}), done: make(chan error, 1)}
	held := make(chan struct{})
	go func() {
		g.done <- app.RunInTransaction(func(core.App) error {
			close(held)
			<-g.release
			return nil
		})
	}()
	<-held
	return g
}

func (g *dbGate) open(t *testing.T) {
	t.Helper()
	close(g.release)
	if err := <-g.done; err != nil {
		t.Fatalf("the gate's transaction: %v", err)
	}
}

// result is the outcome of one Write.
type result struct {
	target string
	err    error
}

// writeAll calls w.Write(build(target)) for each target in its own goroutine
// and returns a channel that yields every result once all have returned.
func writeAll(w *audit.Writer, targets []string, build func(target string) audit.Entry) <-chan []result {
	out := make(chan []result, 1)
	results := make([]result, len(targets))
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = result{target, w.Write(build(target))}
		}()
	}
	go func() {
		wg.Wait()
		out <- results
	}()
	return out
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func TestWriterConcurrentWrites(t *testing.T) {
	cases := []struct {
		name     string
		maxBatch int
		writes   int
	}{
		{name: "batches of 16", maxBatch: 16, writes: 200},
		{name: "batches of 1", maxBatch: 1, writes: 200},
		{name: "batch larger than the writes", maxBatch: 500, writes: 200},
		{name: "production batch size", maxBatch: 256, writes: 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp(t)
			log := logInserts(t, app)
			w := audit.NewWriter(app, tc.maxBatch)

			want := map[string]int{}
			errs := make([]error, tc.writes)
			visible := make([]bool, tc.writes)
			var wg sync.WaitGroup
			for i := range tc.writes {
				target := fmt.Sprintf("t%03d", i)
				want[target] = 1
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = w.Write(entry(target))
					if errs[i] == nil {
						// committed when Write returns: visible to another connection at once
						_, err := app.FindFirstRecordByData(records.AuditCollection, "target", target)
						visible[i] = err == nil
					}
				}()
			}
			wg.Wait()

			for i, err := range errs {
				if err != nil {
					t.Errorf("Write(t%03d) = %v, want nil", i, err)
				} else if !visible[i] {
					t.Errorf("Write(t%03d) returned nil before its entry was visible", i)
				}
			}
			if got := targets(t, app); !reflect.DeepEqual(got, want) {
				t.Errorf("audit targets (count each) = %v\nwant each of %d targets once", got, len(want))
			}
			rs, err := app.FindAllRecords(records.AuditCollection)
			if err != nil {
				t.Fatalf("FindAllRecords: %v", err)
			}
			if len(rs) != tc.writes {
				t.Errorf("%d audit records, want %d", len(rs), tc.writes)
			}
			ids := map[string]bool{}
			for _, r := range rs {
				if r.GetString("event") != audit.Request || r.GetInt("status") != 200 {
					t.Errorf("record %s: event %q status %d, want %q 200", r.Id, r.GetString("event"), r.GetInt("status"), audit.Request)
				}
				ids[r.Id] = true
			}
			if len(ids) != len(rs) {
				t.Errorf("%d distinct ids among %d records", len(ids), len(rs))
			}

			rows, failed := log.statements()
			if failed != 0 {
				t.Errorf("%d audit inserts failed", failed)
			}
			var total int64
			for i, n := range rows {
				total += n
				if n < 1 || n > int64(tc.maxBatch) {
					t.Errorf("insert %d saved %d entries, want 1 to maxBatch %d", i, n, tc.maxBatch)
				}
			}
			if total != int64(tc.writes) {
				t.Errorf("inserts saved %d entries, want %d", total, tc.writes)
			}
			// nothing of the Writer outlives its calls: there is nothing to flush
			if n := goroutines(anyFrame); n != 0 {
				t.Errorf("%d goroutines still run Writer code after every Write returned", n)
			}
		})
	}
}

// TestWriterGroupsQueuedWrites makes the first insert wait for the DB while
// the other writes queue behind it, so the inserts that follow must gather
// them: group commit observed without relying on timing.
func TestWriterGroupsQueuedWrites(t *testing.T) {
	cases := []struct {
		name     string
		maxBatch int
		queued   int
		want     []int64 // rows of each insert, the gated first one included
	}{
		{name: "all queued writes in one insert", maxBatch: 16, queued: 10, want: []int64{1, 10}},
		{name: "queue exactly maxBatch", maxBatch: 10, queued: 10, want: []int64{1, 10}},
		{name: "more queued writes than maxBatch", maxBatch: 4, queued: 10, want: []int64{1, 4, 4, 2}},
		{name: "maxBatch of 1 does not group", maxBatch: 1, queued: 3, want: []int64{1, 1, 1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp(t)
			log := logInserts(t, app)
			w := audit.NewWriter(app, tc.maxBatch)

			g := holdDB(t, app)
			firstDone := writeAll(w, []string{"first"}, entry)
			// the first writer leads: its batch is fixed once it commits
			waitFor(func() bool { return goroutines(commitFrame) == 1 })
			queued := names("q", tc.queued)
			queuedDone := writeAll(w, queued, entry)
			waitFor(func() bool { return goroutines(writeFrame, "sync.Cond.Wait") == tc.queued })
			g.open(t)

			for _, r := range append(<-firstDone, <-queuedDone...) {
				if r.err != nil {
					t.Errorf("Write(%s) = %v, want nil", r.target, r.err)
				}
			}
			rows, failed := log.statements()
			if failed != 0 {
				t.Errorf("%d audit inserts failed", failed)
			}
			if !reflect.DeepEqual(rows, tc.want) {
				t.Errorf("rows of each insert = %v, want %v", rows, tc.want)
			}
			got := targets(t, app)
			for _, target := range append(queued, "first") {
				if got[target] != 1 {
					t.Errorf("target %s has %d records, want 1", target, got[target])
				}
			}
		})
	}
}

// unencodable is Data that encoding/json refuses.
var unencodable = map[string]any{"ch": make(chan int)}

func TestWriterFailingEntryFailsAlone(t *testing.T) {
	const trigger = `CREATE TRIGGER refuse_bad_audit BEFORE INSERT ON impersonation_audit
		WHEN NEW.target = 'bad' BEGIN SELECT RAISE(ABORT, 'bad entry'); END`
	cases := []struct {
		name  string
		gated bool // queue every write behind a held insert so the bad entry shares a group
		setup func(t *testing.T, app core.App)
		bad   func(target string) audit.Entry
		check func(t *testing.T, err error)
	}{
		{
			name:  "unencodable data in a gathered group",
			gated: true,
			bad: func(target string) audit.Entry {
				e := entry(target)
				e.Data = unencodable
				return e
			},
			check: func(t *testing.T, err error) {
				var jsonErr *json.UnsupportedTypeError
				if !errors.As(err, &jsonErr) {
					t.Errorf("Write(bad) = %v, want a *json.UnsupportedTypeError", err)
				}
			},
		},
		{
			name:  "row refused by the database in a gathered group",
			gated: true,
			setup: func(t *testing.T, app core.App) {
				if _, err := app.DB().NewQuery(trigger).Execute(); err != nil {
					t.Fatalf("create trigger: %v", err)
				}
			},
			bad: entry,
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "bad entry") {
					t.Errorf("Write(bad) = %v, want the trigger's error", err)
				}
			},
		},
		{
			name: "unencodable data among free concurrent writes",
			bad: func(target string) audit.Entry {
				e := entry(target)
				e.Data = unencodable
				return e
			},
			check: func(t *testing.T, err error) {
				if err == nil {
					t.Error("Write(bad) = nil, want an error")
				}
			},
		},
		{
			name: "row refused by the database among free concurrent writes",
			setup: func(t *testing.T, app core.App) {
				if _, err := app.DB().NewQuery(trigger).Execute(); err != nil {
					t.Fatalf("create trigger: %v", err)
				}
			},
			bad: entry,
			check: func(t *testing.T, err error) {
				if err == nil {
					t.Error("Write(bad) = nil, want an error")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp(t)
			if tc.setup != nil {
				tc.setup(t, app)
			}
			log := logInserts(t, app)
			w := audit.NewWriter(app, 32)
			good := names("good", 20)
			all := append(append([]string(nil), good...), "bad")
			build := func(target string) audit.Entry {
				if target == "bad" {
					return tc.bad(target)
				}
				return entry(target)
			}

			var firstDone <-chan []result
			var g *dbGate
			if tc.gated {
				g = holdDB(t, app)
				firstDone = writeAll(w, []string{"first"}, entry)
				waitFor(func() bool { return goroutines(commitFrame) == 1 })
			}
			done := writeAll(w, all, build)
			if tc.gated {
				waitFor(func() bool { return goroutines(writeFrame, "sync.Cond.Wait") == len(all) })
				g.open(t)
				for _, r := range <-firstDone {
					if r.err != nil {
						t.Errorf("Write(first) = %v, want nil", r.err)
					}
				}
			}

			for _, r := range <-done {
				if r.target == "bad" {
					tc.check(t, r.err)
				} else if r.err != nil {
					t.Errorf("Write(%s) = %v, want nil", r.target, r.err)
				}
			}
			got := targets(t, app)
			for _, target := range good {
				if got[target] != 1 {
					t.Errorf("target %s has %d records, want exactly 1", target, got[target])
				}
			}
			if got["bad"] != 0 {
				t.Errorf("the bad entry was saved %d times", got["bad"])
			}
			if tc.gated {
				// the group of 21 failed as a whole, then each entry was inserted alone
				rows, _ := log.statements()
				want := []int64{1}
				for range good {
					want = append(want, 1)
				}
				if !reflect.DeepEqual(rows, want) {
					t.Errorf("rows of each successful insert = %v, want the gated one then %d single rows", rows, len(good))
				}
			}
		})
	}
}

// TestWriterNonPositiveMaxBatch: a Writer made with a maxBatch below 1 must
// still save an entry or say it did not.
func TestWriterNonPositiveMaxBatch(t *testing.T) {
	for _, maxBatch := range []int{0, -1} {
		t.Run(fmt.Sprintf("maxBatch %d", maxBatch), func(t *testing.T) {
			app := newTestApp(t)
			w := audit.NewWriter(app, maxBatch)
			err := func() (err error) {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("Write panicked: %v", p)
						t.Error(err)
					}
				}()
				return w.Write(entry("only"))
			}()
			if err == nil && targets(t, app)["only"] != 1 {
				t.Errorf("Write = nil, but the entry was not saved")
			}
		})
	}
}

func TestWriterStoresEntry(t *testing.T) {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	cases := []struct {
		name  string
		entry audit.Entry
		want  map[string]string // stored text fields
		data  any               // the data field read back as JSON
	}{
		{
			name: "plain entry",
			entry: audit.Entry{
				Event: audit.Request, Actor: "actor0000000001", ActorCollection: "pbc_actors",
				Target: "plain", TargetCollection: "pbc_targets", Session: "session00000001", Reason: "ticket 42",
				Client: audit.Client{IP: "10.0.0.1", UserAgent: "curl/8", Method: "PATCH", Path: "/api/collections/posts/records/abc", Status: 204},
				Data:   map[string]any{"status": 204, "body": map[string]any{"title": "x"}},
			},
			want: map[string]string{
				"event": audit.Request, "actor": "actor0000000001", "actorCollection": "pbc_actors",
				"target": "plain", "targetCollection": "pbc_targets", "session": "session00000001", "reason": "ticket 42",
				"ip": "10.0.0.1", "userAgent": "curl/8", "method": "PATCH", "path": "/api/collections/posts/records/abc",
			},
			data: map[string]any{"status": float64(204), "body": map[string]any{"title": "x"}},
		},
		{
			name:  "no data",
			entry: audit.Entry{Event: audit.Request, Target: "nodata"},
			want:  map[string]string{"event": audit.Request, "target": "nodata", "reason": "", "path": ""},
			data:  nil,
		},
		{
			name: "long strings are cut",
			entry: audit.Entry{
				Event: audit.Request, Actor: long("a", 300), ActorCollection: long("b", 300),
				Target: long("é", 300), TargetCollection: long("c", 300), Session: long("d", 300), Reason: long("ü", 5000),
				Client: audit.Client{IP: long("1", 300), UserAgent: long("é", 5000), Method: long("M", 30), Path: long("/p", 2000)},
			},
			want: map[string]string{
				"actor": long("a", 255), "actorCollection": long("b", 255), "target": long("é", 255),
				"targetCollection": long("c", 255), "session": long("d", 255), "reason": long("ü", 1000),
				"ip": long("1", 255), "userAgent": long("é", 1000), "method": long("M", 20), "path": long("/p", 1500),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp(t)
			w := audit.NewWriter(app, 16)
			if err := w.Write(tc.entry); err != nil {
				t.Fatalf("Write: %v", err)
			}
			rs, err := app.FindAllRecords(records.AuditCollection)
			if err != nil || len(rs) != 1 {
				t.Fatalf("FindAllRecords = %d records, %v; want 1", len(rs), err)
			}
			r := rs[0]
			for field, want := range tc.want {
				if got := r.GetString(field); got != want {
					t.Errorf("%s = %.30q... (%d runes), want %.30q... (%d runes)",
						field, got, utf8.RuneCountInString(got), want, utf8.RuneCountInString(want))
				}
			}
			if got := r.GetInt("status"); got != tc.entry.Client.Status {
				t.Errorf("status = %d, want %d", got, tc.entry.Client.Status)
			}
			if len(r.Id) != 15 {
				t.Errorf("id %q, want PocketBase's 15 characters", r.Id)
			}
			if r.GetDateTime("created").IsZero() {
				t.Errorf("created is empty (%q)", r.GetString("created"))
			}
			var data any
			if err := r.UnmarshalJSONField("data", &data); err != nil {
				t.Fatalf("data is not JSON (%q): %v", r.GetString("data"), err)
			}
			if !reflect.DeepEqual(data, tc.data) {
				t.Errorf("data = %#v, want %#v", data, tc.data)
			}
			// the record passes the collection's own validation
			if err := app.Validate(r); err != nil {
				t.Errorf("the stored entry does not validate: %v", err)
			}
		})
	}
}

// runes returns s repeated to n runes.
func runes(s string, n int) string {
	return strings.Repeat(s, n)
}

func TestWriteCutsLongStrings(t *testing.T) {
	cases := []struct {
		name  string
		field string
		limit int
		set   func(e *audit.Entry, v string)
	}{
		{name: "reason", field: "reason", limit: 1000, set: func(e *audit.Entry, v string) { e.Reason = v }},
		{name: "ip", field: "ip", limit: 255, set: func(e *audit.Entry, v string) { e.Client.IP = v }},
		{name: "userAgent", field: "userAgent", limit: 1000, set: func(e *audit.Entry, v string) { e.Client.UserAgent = v }},
		{name: "method", field: "method", limit: 20, set: func(e *audit.Entry, v string) { e.Client.Method = v }},
		{name: "path", field: "path", limit: 3000, set: func(e *audit.Entry, v string) { e.Client.Path = v }},
	}
	app := newTestApp(t)
	for _, tc := range cases {
		for _, v := range []struct {
			name  string
			value string
			want  string
		}{
			{name: "ascii 5000 runes", value: runes("a", 5000), want: runes("a", tc.limit)},
			{name: "multi-byte 5000 runes", value: runes("é", 5000), want: runes("é", tc.limit)},
			{name: "ascii one over the limit", value: runes("b", tc.limit+1), want: runes("b", tc.limit)},
			{name: "multi-byte at the limit", value: runes("ü", tc.limit), want: runes("ü", tc.limit)},
			{name: "short", value: "x€y", want: "x€y"},
		} {
			t.Run(tc.name+" "+v.name, func(t *testing.T) {
				target := tc.name + " " + v.name
				e := entry(target)
				tc.set(&e, v.value)
				if err := audit.Write(app, e); err != nil {
					t.Fatalf("Write: %v", err)
				}
				r, err := app.FindFirstRecordByData(records.AuditCollection, "target", target)
				if err != nil {
					t.Fatalf("find the entry: %v", err)
				}
				got := r.GetString(tc.field)
				if got != v.want {
					t.Errorf("%s stored with %d runes (%.20q...), want %d runes (%.20q...)",
						tc.field, utf8.RuneCountInString(got), got, utf8.RuneCountInString(v.want), v.want)
				}
			})
		}
	}
}

func TestWriteStoresFields(t *testing.T) {
	cases := []struct {
		name     string
		data     map[string]any
		wantData any // the data field read back as JSON, nil when absent
	}{
		{
			name:     "nested data",
			data:     map[string]any{"code": "not_found", "n": 3, "nested": map[string]any{"ok": true, "list": []any{"a", 1}}},
			wantData: map[string]any{"code": "not_found", "n": float64(3), "nested": map[string]any{"ok": true, "list": []any{"a", float64(1)}}},
		},
		{name: "empty data", data: map[string]any{}, wantData: map[string]any{}},
		{name: "no data", data: nil, wantData: nil},
	}
	app := newTestApp(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := audit.Entry{
				Event:            audit.SessionDenied,
				Actor:            "actor0000000001",
				ActorCollection:  "pbc_actors",
				Target:           "target " + tc.name,
				TargetCollection: "pbc_targets",
				Session:          "session00000001",
				Reason:           "support ticket 42",
				Client:           audit.Client{IP: "10.0.0.1", UserAgent: "curl/8", Method: "POST", Path: "/api/impersonation/sessions", Status: 403},
				Data:             tc.data,
			}
			if err := audit.Write(app, e); err != nil {
				t.Fatalf("Write: %v", err)
			}
			r, err := app.FindFirstRecordByData(records.AuditCollection, "target", e.Target)
			if err != nil {
				t.Fatalf("find the entry: %v", err)
			}
			for field, want := range map[string]string{
				"event": e.Event, "actor": e.Actor, "actorCollection": e.ActorCollection,
				"targetCollection": e.TargetCollection, "session": e.Session, "reason": e.Reason,
				"ip": e.Client.IP, "userAgent": e.Client.UserAgent, "method": e.Client.Method, "path": e.Client.Path,
			} {
				if got := r.GetString(field); got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			if got := r.GetInt("status"); got != 403 {
				t.Errorf("status = %d, want 403", got)
			}
			var data any
			if err := r.UnmarshalJSONField("data", &data); err != nil {
				t.Fatalf("data is not JSON (%q): %v", r.GetString("data"), err)
			}
			if !reflect.DeepEqual(data, tc.wantData) {
				t.Errorf("data = %#v (raw %s), want %#v", data, r.GetString("data"), tc.wantData)
			}
		})
	}
}

// TestWriteOverlongTargetIsAudited writes entries whose target or target
// collection is longer than the field's 255 characters. Both come from the
// request body of a refused session start (sessions.Deny), so an over-long
// value must be cut like the other request-controlled strings, not make the
// audit write fail.
func TestWriteOverlongTargetIsAudited(t *testing.T) {
	long := runes("x", 300)
	cases := []struct {
		name  string
		field string
		write func(app core.App) error
	}{
		{name: "Write target", field: "target", write: func(app core.App) error {
			return audit.Write(app, audit.Entry{Event: audit.SessionDenied, Target: long})
		}},
		{name: "Write targetCollection", field: "targetCollection", write: func(app core.App) error {
			return audit.Write(app, audit.Entry{Event: audit.SessionDenied, Target: "t1", TargetCollection: long})
		}},
		{name: "sessions.Deny record", field: "target", write: func(app core.App) error {
			return sessions.Deny(app, sessions.Denial{TargetCollection: "users", Target: long, Code: "not_allowed"})
		}},
		{name: "sessions.Deny collection", field: "targetCollection", write: func(app core.App) error {
			return sessions.Deny(app, sessions.Denial{TargetCollection: long, Target: "t1", Code: "not_allowed"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp(t)
			if err := tc.write(app); err != nil {
				t.Fatalf("the entry was not written: %v", err)
			}
			rs, err := app.FindAllRecords(records.AuditCollection)
			if err != nil {
				t.Fatalf("FindAllRecords: %v", err)
			}
			if len(rs) != 1 {
				t.Fatalf("%d audit records, want 1", len(rs))
			}
			got := rs[0].GetString(tc.field)
			if n := utf8.RuneCountInString(got); n == 0 || n > 255 || !strings.HasPrefix(long, got) {
				t.Errorf("%s stored as %d runes, want a prefix of the value of at most 255", tc.field, n)
			}
		})
	}
}
