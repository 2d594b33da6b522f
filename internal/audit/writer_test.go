package audit_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sessions"

	"github.com/pbimpersonation/impersonation/internal/testapp"
)

func TestMain(m *testing.M) { testapp.Main(m) }

// testApp is a test app and its audit.
type testApp struct {
	*tests.TestApp
	log *audit.Log
	// ids are, in an app made by chained, its entries' ids in seq order
	ids []string
}

// testKey is the audit key of the test apps.
var testKey = []byte("writer test key")

func newTestApp(t *testing.T) *testApp {
	t.Helper()
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatalf("NewTestApp: %v", err)
	}
	t.Cleanup(app.Cleanup)
	return &testApp{TestApp: app, log: audit.New(app, clock.System, testKey)}
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

// newWriter returns an open Writer of app, closed at the end of the test.
func newWriter(t *testing.T, app *testApp) *audit.Writer {
	t.Helper()
	w := app.log.Writer
	if err := w.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// verify fails t unless app's chain verifies with n entries.
func verify(t *testing.T, app *testApp, n int) {
	t.Helper()
	res, err := app.log.Verify(nil)
	if err != nil || !res.OK || res.Entries != n {
		t.Fatalf("Verify = %+v, %v; want ok with %d entries", res, err, n)
	}
}

// journalBytes is the size of app's journal files together.
func journalBytes(t *testing.T, app core.App) int64 {
	t.Helper()
	var n int64
	for _, name := range audit.JournalFiles {
		st, err := os.Stat(filepath.Join(app.DataDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

func TestWriterConcurrentWrites(t *testing.T) {
	app := newTestApp(t)
	w := newWriter(t, app)
	want := names("user", 200)
	for _, r := range <-writeAll(w, want, entry) {
		if r.err != nil {
			t.Fatalf("Write(%s): %v", r.target, r.err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := targets(t, app)
	for _, target := range want {
		if got[target] != 1 {
			t.Fatalf("%s has %d entries, want 1", target, got[target])
		}
	}
	verify(t, app, len(want))
	waitFor(func() bool { return journalBytes(t, app) == 0 }) // both files take their turn
}

// TestWriterDoesNotWaitForTheTable holds the database while entries are
// written: every Write returns (the entries are journalled), and once the
// database is free the mover inserts them.
func TestWriterDoesNotWaitForTheTable(t *testing.T) {
	app := newTestApp(t)
	w := newWriter(t, app)
	gate := holdDB(t, app)
	results := <-writeAll(w, names("held", 50), entry)
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("Write(%s) with the database held: %v", r.target, r.err)
		}
	}
	if got := targets(t, app); len(got) != 0 {
		gate.open(t)
		t.Fatalf("entries reached the table while the database was held: %v", got)
	}
	gate.open(t)
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	verify(t, app, 50)
}

func TestWriterRefusesAnUnencodableEntry(t *testing.T) {
	app := newTestApp(t)
	w := newWriter(t, app)
	bad := entry("bad")
	bad.Data = map[string]any{"f": func() {}}
	if err := w.Write(bad); err == nil {
		t.Fatal("Write of an unencodable entry succeeded")
	}
	if err := w.Write(entry("good")); err != nil {
		t.Fatalf("Write after a refused entry: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := targets(t, app); !reflect.DeepEqual(got, map[string]int{"good": 1}) {
		t.Fatalf("entries %v, want good only", got)
	}
}

// TestWriterKeepsEntriesTheTableRefuses makes the audit table refuse
// inserts: writes still succeed, Flush reports the refusal, and the mover
// retries until the table takes them.
func TestWriterKeepsEntriesTheTableRefuses(t *testing.T) {
	app := newTestApp(t)
	w := newWriter(t, app)
	trigger := `CREATE TRIGGER refuse_audit BEFORE INSERT ON impersonation_audit BEGIN SELECT RAISE(ABORT, 'refused'); END`
	if _, err := app.DB().NewQuery(trigger).Execute(); err != nil {
		t.Fatal(err)
	}
	for _, target := range names("kept", 3) {
		if err := w.Write(entry(target)); err != nil {
			t.Fatalf("Write while the table refuses: %v", err)
		}
	}
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Flush while the table refuses = %v, want the refusal", err)
	}
	if journalBytes(t, app) == 0 {
		t.Fatal("the journal was emptied while its entries were not in the table")
	}
	if _, err := app.DB().NewQuery("DROP TRIGGER refuse_audit").Execute(); err != nil {
		t.Fatal(err)
	}
	waitFor(func() bool { return w.Flush() == nil })
	if got := targets(t, app); !reflect.DeepEqual(got, map[string]int{"kept000": 1, "kept001": 1, "kept002": 1}) {
		t.Fatalf("entries after the table accepts again: %v", got)
	}
	verify(t, app, 3)
}

// TestWriterRecoversTheJournal plays a killed process: entries journalled
// while the database was held are copied, with a torn last write, into the
// data directory of another app, whose writer must move them in when it
// opens, once each, however often it is opened.
func TestWriterRecoversTheJournal(t *testing.T) {
	killed := newTestApp(t)
	w := newWriter(t, killed)
	gate := holdDB(t, killed)
	for _, target := range names("left", 5) {
		if err := w.Write(entry(target)); err != nil {
			t.Fatal(err)
		}
	}
	journal := map[string][]byte{}
	for _, name := range audit.JournalFiles {
		raw, err := os.ReadFile(filepath.Join(killed.DataDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		journal[name] = raw
	}
	gate.open(t)

	app := newTestApp(t)
	if err := app.log.Write(app, entry("before")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second opening, a restart, finds the same journal again
		app.log = audit.New(app, clock.System, testKey)
		for name, raw := range journal {
			torn := append(append([]byte(nil), raw...), `{"Id":"torn`...)
			if err := os.WriteFile(filepath.Join(app.DataDir(), name), torn, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		w := newWriter(t, app)
		want := map[string]int{"before": 1, "left000": 1, "left001": 1, "left002": 1, "left003": 1, "left004": 1}
		if got := targets(t, app); !reflect.DeepEqual(got, want) {
			t.Fatalf("after recovery: %v, want %v", got, want)
		}
		verify(t, app, 6)
		if n := journalBytes(t, app); n != 0 {
			t.Fatalf("the journal holds %d bytes after recovery", n)
		}
		// it stops, as a process does, and lets go of the journal's lock
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriterClosed(t *testing.T) {
	app := newTestApp(t)
	w := newWriter(t, app)
	if err := w.Write(entry("last")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := targets(t, app); got["last"] != 1 {
		t.Fatalf("Close left the last entry out of the table: %v", got)
	}
	if err := w.Write(entry("late")); !errors.Is(err, audit.ErrWriterClosed) {
		t.Fatalf("Write after Close = %v, want ErrWriterClosed", err)
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
			w := newWriter(t, app)
			if err := w.Write(tc.entry); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
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
				if err := app.log.Write(app, e); err != nil {
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
			if err := app.log.Write(app, e); err != nil {
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
		write func(app *testApp) error
	}{
		{name: "Write target", field: "target", write: func(app *testApp) error {
			return app.log.Write(app, audit.Entry{Event: audit.SessionDenied, Target: long})
		}},
		{name: "Write targetCollection", field: "targetCollection", write: func(app *testApp) error {
			return app.log.Write(app, audit.Entry{Event: audit.SessionDenied, Target: "t1", TargetCollection: long})
		}},
		{name: "sessions.Deny record", field: "target", write: func(app *testApp) error {
			return sessions.Deny(app.log, app, sessions.Denial{TargetCollection: "users", Target: long, Code: "not_allowed"})
		}},
		{name: "sessions.Deny collection", field: "targetCollection", write: func(app *testApp) error {
			return sessions.Deny(app.log, app, sessions.Denial{TargetCollection: long, Target: "t1", Code: "not_allowed"})
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

// TestBacklog: while the table is held, the journalled entries are the
// backlog, the oldest of them its lag; once moved, nothing is left.
func TestBacklog(t *testing.T) {
	app := newTestApp(t)
	began := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c := clock.NewManual(began)
	app.log = audit.New(app.TestApp, c, testKey)
	w := newWriter(t, app)
	gate := holdDB(t, app)
	for _, target := range names("held", 3) {
		if err := w.Write(entry(target)); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
	}
	b, err := w.Backlog()
	if err != nil || b.Entries != 3 || b.Oldest != "2026-11-30 12:00:00.000Z" || b.JournalBytes == 0 || b.MoveError != "" {
		gate.open(t)
		t.Fatalf("with the table held: %+v %v; want 3 entries from 12:00:00 in the journal", b, err)
	}
	gate.open(t)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(func() bool { return journalBytes(t, app) == 0 })
	if b, err := w.Backlog(); err != nil || b != (audit.Backlog{}) {
		t.Errorf("once moved: %+v %v; want nothing", b, err)
	}
}
