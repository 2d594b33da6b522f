package plugin_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

// emergency is a reason long enough for a break-glass start.
const emergency = "outage: the user's payments fail (INC-42)"

// breakGlass turns break-glass on in the users policy, with change applied
// after.
func breakGlass(change func(*records.Policy)) func(testing.TB, *testApp) {
	return func(t testing.TB, app *testApp) {
		app.updatePolicy(t, "users", func(p *records.Policy) {
			p.SetBreakGlass(true)
			if change != nil {
				change(p)
			}
		})
	}
}

func TestBreakGlassStart(t *testing.T) {
	t.Parallel()
	client := map[string]string{"Authorization": clientToken}
	start := func(extra map[string]any) *strings.Reader {
		body := map[string]any{"collection": "users", "record": user3Id, "reason": emergency, "breakGlass": true}
		for k, v := range extra {
			body[k] = v
		}
		b, _ := json.Marshal(body)
		return strings.NewReader(string(b))
	}
	scenarios := []tests.ApiScenario{
		{
			Name: "off by default", Method: http.MethodPost, URL: sessionsURL, Body: start(nil), Headers: client,
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"break_glass_off"`},
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectDenied("session.denied:break_glass_off")(t, app, res)
				var flagged bool
				_ = app.RecordQuery(records.AuditCollection).Select("json_extract(data, '$.breakGlass')").Row(&flagged)
				if !flagged {
					t.Error("the refused break-glass start is not flagged")
				}
			},
		},
		{
			Name: "a reason under 20 characters", Method: http.MethodPost, URL: sessionsURL,
			Body: start(map[string]any{"reason": "it is urgent, sorry"}), Headers: client,
			ExpectedStatus: 400, ExpectedContent: []string{`"reason":{"code":"validation_length_too_short"`, `"min":20`},
			TestAppFactory: factory(plugin.Config{}, breakGlass(nil)),
			AfterTestFunc:  expectDenied("policy.updated", "session.denied:invalid_input"),
		},
		{
			Name: "a break-glass reason of 20 zero-width spaces", Method: http.MethodPost, URL: sessionsURL,
			Body: start(map[string]any{"reason": strings.Repeat("\u200b", 20)}), Headers: client,
			ExpectedStatus: 400, ExpectedContent: []string{`"reason":{"code":"validation_required"`},
			TestAppFactory: factory(plugin.Config{}, breakGlass(nil)),
			AfterTestFunc:  expectDenied("policy.updated", "session.denied:invalid_input"),
		},
		{
			Name: "a break-glass reason of a letter and 19 zero-width spaces", Method: http.MethodPost, URL: sessionsURL,
			Body: start(map[string]any{"reason": "a" + strings.Repeat("\u200b", 19)}), Headers: client,
			ExpectedStatus: 400, ExpectedContent: []string{`"reason":{"code":"validation_length_too_short"`},
			TestAppFactory: factory(plugin.Config{}, breakGlass(nil)),
			AfterTestFunc:  expectDenied("policy.updated", "session.denied:invalid_input"),
		},
		{
			Name: "a break-glass reason of 19 characters padded with invisible ones", Method: http.MethodPost, URL: sessionsURL,
			Body: start(map[string]any{"reason": "it is urgent, sorry" + strings.Repeat("\u2060\ufeff\u00ad\u202e\u0301", 4)}), Headers: client,
			ExpectedStatus: 400, ExpectedContent: []string{`"reason":{"code":"validation_length_too_short"`},
			TestAppFactory: factory(plugin.Config{}, breakGlass(nil)),
			AfterTestFunc:  expectDenied("policy.updated", "session.denied:invalid_input"),
		},
		{
			Name: "write, which breakGlassModes does not list by default", Method: http.MethodPost, URL: sessionsURL,
			Body: start(map[string]any{"mode": "write"}), Headers: client,
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"mode_not_allowed"`},
			TestAppFactory: factory(plugin.Config{}, breakGlass(nil)),
			AfterTestFunc:  expectDenied("policy.updated", "session.denied:mode_not_allowed"),
		},
		{
			Name: "write, where breakGlassModes lists it", Method: http.MethodPost, URL: sessionsURL,
			Body: start(map[string]any{"mode": "write"}), Headers: client,
			ExpectedStatus: 200, ExpectedContent: []string{`"breakGlass":true`, `"mode":"write"`},
			TestAppFactory: factory(plugin.Config{}, breakGlass(func(p *records.Policy) {
				p.SetBreakGlassModes([]records.Mode{records.ModeRead, records.ModeWrite})
			})),
		},
		{
			Name: "a rule the actor does not satisfy stays in force", Method: http.MethodPost, URL: sessionsURL, Body: start(nil),
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"not_allowed"`},
			TestAppFactory: factory(plugin.Config{}, breakGlass(nil)),
		},
		{
			Name: "started: capped at breakGlassMinutes, flagged, the user and oversight told", Method: http.MethodPost, URL: sessionsURL,
			Body: start(map[string]any{"minutes": 60}), Headers: client,
			ExpectedStatus: 200, ExpectedContent: []string{`"breakGlass":true`, `"token":"`},
			TestAppFactory: factory(plugin.Config{}, breakGlass(func(p *records.Policy) { p.SetOversightEmail("oversight@example.com") })),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				s := startedSession(t, app, res)
				if !s.BreakGlass() || s.Mode() != records.ModeRead {
					t.Errorf("session breakGlass=%v mode=%s", s.BreakGlass(), s.Mode())
				}
				if left := time.Until(s.Expires()); left > 15*time.Minute || left < 14*time.Minute {
					t.Errorf("the session runs %v, want the default breakGlassMinutes, 15", left)
				}
				var flagged bool
				err := app.RecordQuery(records.AuditCollection).Select("json_extract(data, '$.breakGlass')").
					AndWhere(dbx.HashExp{"event": "session.started", "session": s.Id}).Row(&flagged)
				if err != nil || !flagged {
					t.Errorf("session.started not flagged: %v", err)
				}
				sent := map[string]string{}
				for _, m := range app.TestMailer.Messages() {
					sent[m.To[0].Address] = m.Subject + m.HTML
				}
				if !strings.Contains(sent["test3@example.com"], "Emergency access") || !strings.Contains(sent["test3@example.com"], "INC-42") {
					t.Errorf("the user's email: %q", sent["test3@example.com"])
				}
				if !strings.Contains(sent["oversight@example.com"], "Break-glass") || !strings.Contains(sent["oversight@example.com"], s.Id) {
					t.Errorf("oversight's email: %q", sent["oversight@example.com"])
				}
			},
		},
		{
			Name: "at most breakGlassMinutes", Method: http.MethodPost, URL: sessionsURL,
			Body: start(map[string]any{"minutes": 45}), Headers: client,
			ExpectedStatus: 200, ExpectedContent: []string{`"breakGlass":true`},
			TestAppFactory: factory(plugin.Config{}, breakGlass(func(p *records.Policy) { p.SetBreakGlassMinutes(30) })),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				s := startedSession(t, app, res)
				if left := time.Until(s.Expires()); left > 30*time.Minute || left < 29*time.Minute {
					t.Errorf("the session runs %v, want 30 minutes", left)
				}
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestBreakGlassSessionIsFlaggedThroughout: every entry of a break-glass
// session is flagged, one filter lists them and the sessions, the user
// ends it from their side, and a policy that stops allowing break-glass
// ends it.
func TestBreakGlassSessionIsFlaggedThroughout(t *testing.T) {
	t.Parallel()
	f := newFlow(t, breakGlass(nil))
	started := f.must(t, 200, http.MethodPost, sessionsURL,
		`{"collection":"users","record":"`+user3Id+`","reason":"`+emergency+`","breakGlass":true}`, clientToken)
	token := started["token"].(string)
	id := started["session"].(map[string]any)["id"].(string)
	f.must(t, 200, http.MethodGet, "/api/collections/users/records/"+user3Id, "", token)
	// the user sees it in their history, flagged, and ends it
	history := f.must(t, 200, http.MethodGet, "/api/collections/impersonation_sessions/records?filter="+urlQuery("breakGlass = true"), "", user3Token)
	if got := jsonOf(history); !strings.Contains(got, `"totalItems":1`) || !strings.Contains(got, id) {
		t.Errorf("the user's break-glass sessions: %s", got)
	}
	f.must(t, 204, http.MethodPost, sessionsURL+"/"+id+"/end", "", user3Token)

	entries := f.must(t, 200, http.MethodGet, "/api/collections/impersonation_audit/records?perPage=50&filter="+urlQuery("data.breakGlass = true"), "", superuserToken)
	var events []string
	for _, e := range entries["items"].([]any) {
		entry := e.(map[string]any)
		if entry["session"] != id {
			t.Errorf("a flagged entry of another session: %v", entry)
		}
		events = append(events, entry["event"].(string))
	}
	slices.Sort(events)
	if strings.Join(events, ",") != "request,session.ended,session.started" {
		t.Errorf("flagged entries %v", events)
	}

	// break-glass switched off: a live break-glass session ends
	again := f.must(t, 200, http.MethodPost, sessionsURL,
		`{"collection":"users","record":"`+user3Id+`","reason":"`+emergency+`","breakGlass":true}`, clientToken)
	f.updatePolicy(t, "users", func(p *records.Policy) { p.SetBreakGlass(false) })
	f.expectEnded(t, again["session"].(map[string]any)["id"].(string), records.EndPolicyChanged)
}

// TestHooksSeeBreakGlassAndRequests: OnSessionStart is told a start is
// break-glass, and the sessions the hooks report say how they started.
func TestHooksSeeBreakGlassAndRequests(t *testing.T) {
	t.Parallel()
	f := newFlow(t, breakGlass(nil))
	var asked []bool
	var ended []plugin.Session
	f.plugin.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error {
		asked = append(asked, e.BreakGlass)
		return e.Next()
	})
	f.plugin.OnSessionEnd().BindFunc(func(e *plugin.EndEvent) error {
		ended = append(ended, e.Session)
		return e.Next()
	})
	glass := f.must(t, 200, http.MethodPost, sessionsURL,
		`{"collection":"users","record":"`+user3Id+`","reason":"`+emergency+`","breakGlass":true}`, clientToken)
	f.must(t, 204, http.MethodPost, sessionsURL+"/"+glass["session"].(map[string]any)["id"].(string)+"/end", "", clientToken)
	id := f.askAndApprove(t, "")
	approved := f.must(t, 200, http.MethodPost, sessionsURL, startUser3+`}`, clientToken)
	f.must(t, 204, http.MethodPost, sessionsURL+"/"+approved["session"].(map[string]any)["id"].(string)+"/end", "", clientToken)
	if len(asked) != 2 || !asked[0] || asked[1] {
		t.Errorf("OnSessionStart saw breakGlass %v, want [true false]", asked)
	}
	if len(ended) != 2 || !ended[0].BreakGlass || ended[0].Request != "" || ended[1].BreakGlass || ended[1].Request != id {
		t.Errorf("OnSessionEnd saw %+v", ended)
	}
}
