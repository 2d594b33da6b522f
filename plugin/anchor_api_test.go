package plugin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/hooks"
	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

// deleteNewestSQL is the attack: a superuser deletes the newest audit
// entries with PocketBase's own SQL route.
const deleteNewestSQL = `{"query":"DELETE FROM impersonation_audit WHERE seq > 2"}`

// cutShort writes 4 entries and deletes the newest 2 past the plugin, as
// POST /api/sql does.
func cutShort(t testing.TB, app *testApp) {
	withAuditHistory(t, app)
	if _, err := app.DB().NewQuery("DELETE FROM impersonation_audit WHERE seq > 2").Execute(); err != nil {
		t.Fatal(err)
	}
}

// deleteThroughSQL runs the attack through the scenario's router, then the
// anchor's minute job, which used to overwrite the anchor with what was
// left.
func deleteThroughSQL(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
	if rec := serve(t, e, http.MethodPost, "/api/sql", deleteNewestSQL, superuserToken); rec.Code != http.StatusOK {
		t.Fatalf("POST /api/sql: %d %s", rec.Code, rec.Body.String())
	}
	runJob(t, wrap(app), ids.AnchorAuditJobId)
}

// lossReported is what verify answers once entries #3 and #4 are gone.
var lossReported = []string{`"ok":false`, `"entries":2`, `"code":"anchor_not_reached"`, `"anchored":{"seq":4,`, `"head":{"seq":2,`,
	`"problem":"the chain ends at #2 but reached #4: the newest entries were deleted"`}

// lossAlerts returns to whom the audit loss alert was emailed.
func lossAlerts(t testing.TB, app *tests.TestApp) []string {
	waitForEmails(t, app)
	var to []string
	for _, m := range app.TestMailer.Messages() {
		if strings.Contains(m.Subject, "audit entries lost") {
			to = append(to, m.To[0].Address)
		}
	}
	return to
}

func TestVerifyReportsTheNewestEntriesDeleted(t *testing.T) {
	t.Parallel()
	url := "/api/impersonation/audit/verify"
	superuser := map[string]string{"Authorization": superuserToken}
	scenarios := []tests.ApiScenario{
		{
			Name:            "DELETE WHERE seq > N through POST /api/sql, after the anchor's job ran",
			Method:          http.MethodGet,
			URL:             url,
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: lossReported,
			TestAppFactory:  factory(plugin.Config{}, withAuditHistory),
			BeforeTestFunc:  deleteThroughSQL,
		},
		{
			Name:   "entries deleted right after their commit, before any job ran (no window)",
			Method: http.MethodGet, URL: url, Headers: superuser,
			ExpectedStatus:  200,
			ExpectedContent: lossReported,
			TestAppFactory:  factory(plugin.Config{}, cutShort),
		},
		{
			Name:   "entries appended after the loss do not cover it",
			Method: http.MethodGet, URL: url, Headers: superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"ok":false`, `"code":"anchor_not_reached"`, `"anchored":{"seq":4,`, `"head":{"seq":5,`, `"firstBadId":"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				cutShort(t, app)
				withAuditHistory(t, app) // #3 to #6, #4 not the anchored one
				if _, err := app.DB().NewQuery("DELETE FROM impersonation_audit WHERE seq > 5").Execute(); err != nil {
					t.Fatal(err)
				}
			}),
		},
		{
			Name:   "the loss is alerted once: an email to AlertEmail",
			Method: http.MethodGet, URL: url, Headers: superuser,
			ExpectedStatus:  200,
			ExpectedContent: lossReported,
			TestAppFactory:  factory(plugin.Config{AlertEmail: "security@example.com"}, withAuditHistory),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				deleteThroughSQL(t, app, e)
				runJob(t, wrap(app), ids.AnchorAuditJobId)
				if rec := serve(t, e, http.MethodGet, url, "", superuserToken); !strings.Contains(rec.Body.String(), `"code":"anchor_not_reached"`) {
					t.Errorf("verify: %s", rec.Body.String())
				}
			},
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if to := lossAlerts(t, app); len(to) != 1 || to[0] != "security@example.com" {
					t.Errorf("loss alerts to %v, want one to security@example.com", to)
				}
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

func TestAcknowledgeRoute(t *testing.T) {
	t.Parallel()
	url := "/api/impersonation/audit/acknowledge"
	superuser := map[string]string{"Authorization": superuserToken}
	body := `{"reason":"restored the wrong backup"}`
	stillLost := func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		if res, err := logOf(app).Verify(nil); err != nil || res.Code != audit.CodeAnchorNotReached {
			t.Errorf("verify after a refusal: %+v %v", res, err)
		}
	}
	scenarios := []tests.ApiScenario{
		{
			Name:   "a superuser accepts the loss: a chained entry records it",
			Method: http.MethodPost, URL: url, Body: strings.NewReader(body), Headers: superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"anchored":{"seq":4,`, `"head":{"seq":2,`, `"entry":{"seq":3,`},
			TestAppFactory:  factory(plugin.Config{}, withAuditHistory),
			BeforeTestFunc:  deleteThroughSQL,
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				var ack audit.Acknowledgement
				if err := json.NewDecoder(res.Body).Decode(&ack); err != nil {
					t.Fatal(err)
				}
				if res, err := logOf(app).Verify(nil); err != nil || !res.OK || res.Entries != 3 {
					t.Errorf("verify after the acknowledgement: %+v %v", res, err)
				}
				wrap(app).expectAudit(t, audit.ConsentGranted, audit.SessionStarted, audit.Acknowledged)
				entry, err := app.FindRecordById(records.AuditCollection, ack.Id)
				if err != nil {
					t.Fatal(err)
				}
				var data struct {
					Anchored audit.Head `json:"anchored"`
					Head     audit.Head `json:"head"`
					Reason   string     `json:"reason"`
				}
				if err := entry.UnmarshalJSONField("data", &data); err != nil {
					t.Fatal(err)
				}
				if entry.GetString("actor") != superuserId || entry.GetInt("seq") != 3 || data.Anchored != ack.Anchored ||
					data.Head != ack.Head || data.Anchored.Seq != 4 || data.Head.Seq != 2 || data.Reason != "restored the wrong backup" {
					t.Errorf("the entry: actor %q seq %d data %+v, acknowledgement %+v", entry.GetString("actor"), entry.GetInt("seq"), data, ack)
				}
			},
		},
		{
			Name:   "a loss acknowledged at once, before any job found it, is alerted all the same",
			Method: http.MethodPost, URL: url, Body: strings.NewReader(body), Headers: superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"anchored":{"seq":4,`, `"head":{"seq":2,`, `"entry":{"seq":3,`},
			TestAppFactory:  factory(plugin.Config{AlertEmail: "security@example.com"}, cutShort),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if to := lossAlerts(t, app); len(to) != 1 || to[0] != "security@example.com" {
					t.Errorf("loss alerts to %v, want one to security@example.com", to)
				}
			},
		},
		{
			Name:   "409 nothing to acknowledge",
			Method: http.MethodPost, URL: url, Body: strings.NewReader(body), Headers: superuser,
			ExpectedStatus:  409,
			ExpectedContent: []string{`"status":409`, `nothing to acknowledge`},
			TestAppFactory:  factory(plugin.Config{}, withAuditHistory),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectAudit(t, audit.ConsentGranted, audit.SessionStarted, audit.Request, audit.SessionEnded)
			},
		},
		{
			Name:   "409 a chain broken otherwise is not mended",
			Method: http.MethodPost, URL: url, Body: strings.NewReader(body), Headers: superuser,
			ExpectedStatus:  409,
			ExpectedContent: []string{`"status":409`, `broken`},
			TestAppFactory:  factory(plugin.Config{}, tampered),
		},
		{
			Name:   "400 an invisible reason",
			Method: http.MethodPost, URL: url, Body: strings.NewReader(`{"reason":"\u200b\u2060\ufeff\u00ad"}`), Headers: superuser,
			ExpectedStatus:  400,
			ExpectedContent: []string{`"reason":{"code":"validation_required"`},
			TestAppFactory:  factory(plugin.Config{}, cutShort),
			AfterTestFunc:   stillLost,
		},
		{
			Name:   "400 no reason",
			Method: http.MethodPost, URL: url, Body: strings.NewReader(`{"reason":"  "}`), Headers: superuser,
			ExpectedStatus:  400,
			ExpectedContent: []string{`"reason":{"code":"validation_required"`},
			TestAppFactory:  factory(plugin.Config{}, cutShort),
			AfterTestFunc:   stillLost,
		},
		{
			Name:   "401 guest",
			Method: http.MethodPost, URL: url, Body: strings.NewReader(body),
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, cutShort),
			AfterTestFunc:   stillLost,
		},
		{
			Name:   "403 a user",
			Method: http.MethodPost, URL: url, Body: strings.NewReader(body), Headers: map[string]string{"Authorization": userToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, cutShort),
			AfterTestFunc:   stillLost,
		},
		{
			Name:   "403 an impersonation token",
			Method: http.MethodPost, URL: url, Body: strings.NewReader(body), Headers: map[string]string{"Authorization": liveToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, cutShort),
			AfterTestFunc:   stillLost,
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestAuditLossSurvivesARestart reads the loss with the server stopped:
// the command line of a new process on the data directory reports it from
// the anchor file, until acknowledged there.
func TestAuditLossSurvivesARestart(t *testing.T) {
	t.Parallel()
	running := newTestApp(t, plugin.Config{})
	defer running.Cleanup()
	cutShort(t, running)
	stopped, err := tests.TempDirClone(running.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(stopped)
	app, err := tests.NewTestApp(stopped)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	register(t, app, plugin.Config{})
	run := func(args ...string) (string, error) {
		cmd := hooks.NewCommand(app, logOf(app))
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(new(bytes.Buffer))
		cmd.SetArgs(append([]string{"audit"}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	steps := []struct {
		args    []string
		wantOut string
		wantErr string
	}{
		{[]string{"verify"}, "", "the audit chain no longer reaches its anchored head #4"},
		{[]string{"acknowledge"}, "", "--reason is required"},
		{[]string{"verify"}, "", "its head is #2"},
		{[]string{"acknowledge", "--reason", "restored the wrong backup"}, "acknowledged: the anchored head #4", ""},
		{[]string{"verify"}, "ok: 3 entries", ""},
		{[]string{"acknowledge", "--reason", "again"}, "", "nothing to acknowledge"},
	}
	for _, s := range steps {
		out, err := run(s.args...)
		switch {
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Fatalf("%v: error %v, want %q", s.args, err, s.wantErr)
		case s.wantErr == "" && (err != nil || !strings.Contains(out, s.wantOut)):
			t.Fatalf("%v: error %v, output %q, want %q", s.args, err, out, s.wantOut)
		}
	}
	var event string
	if err := app.DB().Select("event").From(records.AuditCollection).Where(dbx.HashExp{"seq": 3}).Row(&event); err != nil || event != audit.Acknowledged {
		t.Errorf("entry #3: %q %v", event, err)
	}
}
