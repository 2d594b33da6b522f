package plugin_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/hooks"
	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

// withAuditHistory writes a few entries through the plugin's own paths.
func withAuditHistory(t testing.TB, app *testApp) {
	for _, event := range []string{audit.ConsentGranted, audit.SessionStarted, audit.Request, audit.SessionEnded} {
		if err := logOf(app).Write(app, audit.Entry{Event: event, Target: userId, TargetCollection: "_pb_users_auth_"}); err != nil {
			t.Fatal(err)
		}
	}
}

// tampered edits the third entry past the plugin, as someone with the
// database file could.
func tampered(t testing.TB, app *testApp) {
	withAuditHistory(t, app)
	if _, err := app.DB().NewQuery("UPDATE impersonation_audit SET target = 'someoneelse0000' WHERE seq = 3").Execute(); err != nil {
		t.Fatal(err)
	}
}

func thirdEntryId(t testing.TB, app *tests.TestApp) string {
	var id string
	if err := app.DB().Select("id").From("impersonation_audit").Where(dbx.HashExp{"seq": 3}).Row(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestVerifyRoute(t *testing.T) {
	t.Parallel()
	url := "/api/impersonation/audit/verify"
	scenarios := []tests.ApiScenario{
		{
			Name:            "a whole chain",
			Method:          http.MethodGet,
			URL:             url,
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"ok":true,"entries":4}`},
			TestAppFactory:  factory(plugin.Config{}, withAuditHistory),
		},
		{
			Name:            "an edited entry is named",
			Method:          http.MethodGet,
			URL:             url,
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"ok":false`, `"entries":2`, `"firstBadId":"`, `"problem":"entry #3 does not match its hash`},
			TestAppFactory:  factory(plugin.Config{}, tampered),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				var body bytes.Buffer
				_, _ = body.ReadFrom(res.Body)
				if id := thirdEntryId(t, app); !strings.Contains(body.String(), `"firstBadId":"`+id+`"`) {
					t.Errorf("the first bad entry is not %s: %s", id, body.String())
				}
			},
		},
		{
			Name:            "401 guest",
			Method:          http.MethodGet,
			URL:             url,
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "403 a user",
			Method:          http.MethodGet,
			URL:             url,
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "403 an impersonation token",
			Method:          http.MethodGet,
			URL:             url,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setup   func(testing.TB, *testApp)
		wantErr string
		wantOut string
	}{
		{"a whole chain", withAuditHistory, "", "ok: 4 entries"},
		{"an edited entry", tampered, "the audit chain is broken at entry", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := newTestApp(t, plugin.Config{})
			defer app.Cleanup()
			c.setup(t, app)
			cmd := hooks.NewCommand(app, logOf(app))
			var stdout, stderr bytes.Buffer
			cmd.SetOut(&stdout)
			cmd.SetErr(&stderr)
			cmd.SetArgs([]string{"audit", "verify"})
			err := cmd.Execute()
			switch {
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("error %v, want %q", err, c.wantErr)
			case c.wantErr == "" && (err != nil || !strings.Contains(stdout.String(), c.wantOut)):
				t.Errorf("error %v, output %q, want %q", err, stdout.String(), c.wantOut)
			}
			if c.wantErr != "" && !strings.Contains(err.Error(), thirdEntryId(t, app.TestApp)) {
				t.Errorf("the error does not name the first bad entry: %v", err)
			}
			if !strings.Contains(stderr.String(), "verified") {
				t.Errorf("no progress on stderr: %q", stderr.String())
			}
		})
	}
}

// withRequestsAndStarts writes 7 entries, seq 1 to 7: session.started ones
// at seq 1, 4 and 7, request ones between.
func withRequestsAndStarts(t testing.TB, app *testApp) {
	for i := range 7 {
		event := audit.Request
		if i%3 == 0 {
			event = audit.SessionStarted
		}
		entry := audit.Entry{Event: event, Target: userId, Reason: "line, with \"quotes\"\nand a newline", Data: map[string]any{"i": i}}
		if err := logOf(app).Write(app, entry); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExportRoute(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	lines := func(want int, csv bool) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, res *http.Response) {
			var body bytes.Buffer
			_, _ = body.ReadFrom(res.Body)
			got := body.String()
			if csv {
				rows, err := csvRows(got)
				if err != nil || len(rows) != want+1 || rows[0][0] != "id" {
					t.Errorf("csv rows: %d (want header + %d): %v", len(rows), want, err)
				}
				return
			}
			if n := strings.Count(got, "\n"); n != want {
				t.Errorf("jsonl lines: %d, want %d\n%s", n, want, got)
			}
		}
	}
	scenarios := []tests.ApiScenario{
		{
			Name:            "jsonl: one line per entry",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/audit/export",
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"event":"session.started"`, `"seq":1`, `"hash":"`},
			TestAppFactory:  factory(plugin.Config{}, withRequestsAndStarts),
			AfterTestFunc:   lines(7, false),
		},
		{
			Name:            "csv: a header and one row per entry, quoted",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/audit/export?format=csv",
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{"id,seq,hash,created,event"},
			TestAppFactory:  factory(plugin.Config{}, withRequestsAndStarts),
			AfterTestFunc:   lines(7, true),
		},
		{
			Name:               "filtered with the records API's syntax",
			Method:             http.MethodGet,
			URL:                "/api/impersonation/audit/export?filter=" + urlQuery(`event = "request" && seq > 2`),
			Headers:            superuser,
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"event":"request"`},
			NotExpectedContent: []string{`"event":"session.started"`},
			TestAppFactory:     factory(plugin.Config{}, withRequestsAndStarts),
			AfterTestFunc:      lines(3, false), // seq 3, 5 and 6
		},
		{
			Name:            "an empty csv export still has its header",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/audit/export?format=csv&filter=" + urlQuery(`event = "none"`),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{"id,seq,hash"},
			TestAppFactory:  factory(plugin.Config{}, withRequestsAndStarts),
			AfterTestFunc:   lines(0, true),
		},
		{
			Name:            "400 an unknown format",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/audit/export?format=xml",
			Headers:         superuser,
			ExpectedStatus:  400,
			ExpectedContent: []string{`"status":400`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "400 a filter that does not parse",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/audit/export?filter=" + urlQuery(`nosuchfield = 1`),
			Headers:         superuser,
			ExpectedStatus:  400,
			ExpectedContent: []string{`"status":400`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "401 guest",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/audit/export",
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "403 a user",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/audit/export",
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// Hostile values a client controls, each of which a spreadsheet would run
// as a formula: hostileStarts sends them in refused starts.
const (
	hostileReason     = `=HYPERLINK("http://x","y")`
	hostileUserAgent  = `+cmd|' /C calc'!A0`
	hostileRecord     = `@SUM(1+1)`
	hostileCollection = `-2+3`
	hostileTabRecord  = "\t=1+1"
	hostileCRAgent    = "\r=1+1"
)

// hostileStarts makes two refused starts whose audit entries hold the
// hostile values as reason, user agent, record id and collection name (a
// reason is trimmed, so the tab goes in a record id).
func hostileStarts(t testing.TB, _ *tests.TestApp, e *core.ServeEvent) {
	mux, err := e.Router.BuildMux()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ collection, record, reason, agent string }{
		{"users", hostileRecord, hostileReason, hostileUserAgent},
		{hostileCollection, hostileTabRecord, "ticket 42", hostileCRAgent},
	} {
		body, _ := json.Marshal(map[string]string{"collection": s.collection, "record": s.record, "reason": s.reason})
		req := request(http.MethodPost, sessionsURL, string(body), superuserToken)
		req.Header.Set("User-Agent", s.agent)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("hostile start: %d %s", rec.Code, rec.Body)
		}
	}
}

// TestExportCellsNeverRunAsFormulas exports entries that hold what a client
// sent: in CSV no cell starts a spreadsheet formula (the value gets a
// leading quote), in JSON lines every value is as stored.
func TestExportCellsNeverRunAsFormulas(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	scenarios := []tests.ApiScenario{
		{
			Name:           "csv: a leading quote on every cell that would start a formula",
			Method:         http.MethodGet,
			URL:            "/api/impersonation/audit/export?format=csv",
			Headers:        superuser,
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"'=HYPERLINK(""http://x"",""y"")"`, `'+cmd|' /C calc'!A0`, `'@SUM(1+1)`, `'-2+3`,
			},
			TestAppFactory: factory(plugin.Config{}, nil),
			BeforeTestFunc: hostileStarts,
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				var body bytes.Buffer
				_, _ = body.ReadFrom(res.Body)
				rows, err := csvRows(body.String())
				if err != nil || len(rows) != 3 {
					t.Fatalf("csv rows: %d (want header + 2): %v", len(rows), err)
				}
				cells := map[string]bool{}
				for _, row := range rows {
					for _, c := range row {
						if c != "" && strings.ContainsAny(c[:1], "=+-@\t\r") {
							t.Errorf("cell %q starts a formula", c)
						}
						cells[c] = true
					}
				}
				for _, v := range []string{hostileReason, hostileUserAgent, hostileRecord, hostileCollection, hostileTabRecord, hostileCRAgent} {
					if !cells["'"+v] {
						t.Errorf("no cell %q", "'"+v)
					}
				}
			},
		},
		{
			Name:           "jsonl: every value as stored",
			Method:         http.MethodGet,
			URL:            "/api/impersonation/audit/export",
			Headers:        superuser,
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"reason":"=HYPERLINK(\"http://x\",\"y\")"`, `"userAgent":"+cmd|' /C calc'!A0"`, `"target":"@SUM(1+1)"`,
				`"targetCollection":"-2+3"`, `"target":"\t=1+1"`, `"userAgent":"\r=1+1"`,
			},
			NotExpectedContent: []string{`"'`},
			TestAppFactory:     factory(plugin.Config{}, nil),
			BeforeTestFunc:     hostileStarts,
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

func TestExportCommand(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	withRequestsAndStarts(t, app)
	cmd := hooks.NewCommand(app, logOf(app))
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"audit", "export", "--format", "csv", "--filter", `event = "session.started"`})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	rows, err := csvRows(stdout.String())
	if err != nil || len(rows) != 4 {
		t.Errorf("csv rows: %d, want a header and 3: %v", len(rows), err)
	}
	if !strings.Contains(stderr.String(), "exported 3 entries") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// TestAuditCommandsReadEveryAnsweredEntry runs the audit commands on the
// data of a killed server, whose last entries are still in the audit
// journal: verify and export include every one of them (moved into the
// table, as a start would). Beside a running server, whose journal it is,
// a command moves nothing and says how many entries it leaves out.
func TestAuditCommandsReadEveryAnsweredEntry(t *testing.T) {
	t.Parallel()
	const journalled = 7
	running := newTestApp(t, plugin.Config{})
	defer running.Cleanup()
	w := logOf(running).Writer

	// the writer's mover waits for the database, so the entries stay in the
	// journal; the data directory is copied then, as a kill would leave it
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- running.RunInTransaction(func(core.App) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	for i := range journalled {
		if err := w.Write(audit.Entry{Event: audit.Request, Target: fmt.Sprintf("journalled%05d", i), Client: audit.Client{Status: 200}}); err != nil {
			t.Fatal(err)
		}
	}
	killed, err := tests.TempDirClone(running.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(killed)
	journal := func(dir string) string {
		var all []byte
		for _, name := range audit.JournalFiles {
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, raw...)
		}
		return string(all)
	}
	if n := strings.Count(journal(killed), "\n"); n != journalled {
		t.Fatalf("the killed server's journal holds %d entries, want %d", n, journalled)
	}

	run := func(app core.App, args ...string) (stdout, stderr string, err error) {
		cmd := hooks.NewCommand(app, logOf(app))
		var out, errOut bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(append([]string{"audit"}, args...))
		err = cmd.Execute()
		return out.String(), errOut.String(), err
	}

	t.Run("beside the running server", func(t *testing.T) {
		before := journal(running.DataDir())
		stdout, stderr, err := run(running, "verify")
		if err != nil || !strings.Contains(stdout, "ok: 0 entries") ||
			!strings.Contains(stderr, "a server owns the audit journal in "+running.DataDir()+": 7 entries it answered in the last moments were not in the audit table yet and are not in this verify") {
			t.Errorf("verify: %v\nstdout %q\nstderr %q", err, stdout, stderr)
		}
		if journal(running.DataDir()) != before {
			t.Error("the command changed the running server's journal")
		}
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := logOf(running).Flush(); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		args []string
		want func(t *testing.T, stdout string)
	}{
		{"verify", []string{"verify"}, func(t *testing.T, stdout string) {
			if !strings.Contains(stdout, fmt.Sprintf("ok: %d entries", journalled)) {
				t.Errorf("stdout %q", stdout)
			}
		}},
		{"export", []string{"export"}, func(t *testing.T, stdout string) {
			for i := range journalled {
				if !strings.Contains(stdout, fmt.Sprintf(`"target":"journalled%05d"`, i)) {
					t.Errorf("entry %d is not exported:\n%s", i, stdout)
				}
			}
		}},
		{"export as csv", []string{"export", "--format", "csv"}, func(t *testing.T, stdout string) {
			if rows, err := csvRows(stdout); err != nil || len(rows) != journalled+1 {
				t.Errorf("csv rows: %d (want header + %d): %v", len(rows), journalled, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run("the killed server's data: "+c.name, func(t *testing.T) {
			app, err := tests.NewTestApp(killed) // a clone of it
			if err != nil {
				t.Fatal(err)
			}
			defer app.Cleanup()
			register(t, app, plugin.Config{})
			stdout, stderr, err := run(app, c.args...)
			if err != nil || !strings.Contains(stderr, fmt.Sprintf("moved %d entries a stopped server had left in the audit journal", journalled)) {
				t.Fatalf("%v: %v\nstderr %q", c.args, err, stderr)
			}
			c.want(t, stdout)
			if n := len(journal(app.DataDir())); n != 0 {
				t.Errorf("the journal holds %d bytes after the command", n)
			}
			// the next run finds them in the table, and no second copy
			if stdout, _, err := run(app, "verify"); err != nil || !strings.Contains(stdout, fmt.Sprintf("ok: %d entries", journalled)) {
				t.Errorf("verify after: %v %q", err, stdout)
			}
		})
	}
}

func csvRows(s string) ([][]string, error) { return csv.NewReader(strings.NewReader(s)).ReadAll() }

func urlQuery(s string) string { return url.QueryEscape(s) }

// TestAuditReadsIncludeEveryAnsweredEntry lists the audit through the
// records API right after each impersonated request, the collection named
// in every way PocketBase accepts: the list includes the entry of every
// request answered before it (the mover lets entries gather in the
// journal, so a list that did not flush first would miss it).
func TestAuditReadsIncludeEveryAnsweredEntry(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	mux := serveMux(t, app.TestApp)
	auditCollection, err := app.FindCollectionByNameOrId(records.AuditCollection)
	if err != nil {
		t.Fatal(err)
	}
	impersonatedRequest := func() {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, request(http.MethodGet, "/api/collections/users/records/"+userId, "", liveToken))
		if rec.Code != http.StatusOK {
			t.Fatalf("impersonated request: %d %s", rec.Code, rec.Body)
		}
	}
	read := func(path string) map[string]any {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, request(http.MethodGet, path, "", superuserToken))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	answered := 0
	for _, name := range []string{records.AuditCollection, strings.ToUpper(records.AuditCollection), "Impersonation_Audit", auditCollection.Id} {
		impersonatedRequest()
		answered++
		list := read("/api/collections/" + name + "/records?sort=-seq&filter=" + url.QueryEscape(`event="request"`))
		items, _ := list["items"].([]any)
		if got := int(list["totalItems"].(float64)); got != answered || len(items) == 0 {
			t.Fatalf("list as %q right after the request: %d request entries, want %d", name, got, answered)
		}
		newest := items[0].(map[string]any)
		if view := read("/api/collections/" + name + "/records/" + newest["id"].(string)); view["path"] != "/api/collections/users/records/"+userId {
			t.Errorf("view as %q: %v", name, view)
		}
	}
}
