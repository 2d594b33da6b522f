package plugin_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/plugin"
)

// registered returns an app factory that hands the plugin instance of a
// newTestApp to bind, to bind the plugin's own hooks.
func registered(bind func(t testing.TB, p *plugin.Plugin)) func(testing.TB) *tests.TestApp {
	return factory(plugin.Config{}, func(t testing.TB, app *testApp) { bind(t, app.plugin) })
}

func TestOnSessionStart(t *testing.T) {
	t.Parallel()
	scenarios := []tests.ApiScenario{
		{
			Name:            "a handler vetoes with its own error",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"mode": "write"}),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"Only the on-call engineer may write."`},
			TestAppFactory: registered(func(t testing.TB, p *plugin.Plugin) {
				p.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error {
					if e.Mode == plugin.ModeWrite {
						return e.Request.ForbiddenError("Only the on-call engineer may write.", nil)
					}
					return e.Next()
				})
			}),
			AfterTestFunc: expectDenied("session.denied:vetoed"),
		},
		{
			Name:               "a handler vetoes with a plain error: the generic refusal",
			Method:             http.MethodPost,
			URL:                sessionsURL,
			Body:               startBody("users", userId, nil),
			Headers:            map[string]string{"Authorization": superuserToken},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"message":"You are not allowed to impersonate this record."`, `"code":"not_allowed"`},
			NotExpectedContent: []string{"internal detail"},
			TestAppFactory: registered(func(t testing.TB, p *plugin.Plugin) {
				p.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error { return errors.New("internal detail") })
			}),
			AfterTestFunc: expectDenied("session.denied:vetoed"),
		},
		{
			// the event's policy is a copy: the decision, and every later
			// start, read the policy as stored
			Name:            "a handler that changes its copy of the policy changes nothing",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", user3Id, nil), // no consent
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"consent_required"`},
			TestAppFactory: registered(func(t testing.TB, p *plugin.Plugin) {
				p.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error {
					e.Policy.Set("consent", "none")
					return e.Next()
				})
			}),
			AfterTestFunc: expectDenied("session.denied:consent_required"),
		},
		{
			Name:            "a handler that blanks the reason the policy requires",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  400,
			ExpectedContent: []string{`"reason":{"code":"validation_required"`},
			TestAppFactory: registered(func(t testing.TB, p *plugin.Plugin) {
				p.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error {
					e.Reason = "  "
					return e.Next()
				})
			}),
			AfterTestFunc: expectDenied("session.denied:invalid_input"),
		},
		{
			Name:            "a handler enriches the start",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"mode": "write"}),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"reason":"ticket 42 [checked]"`, `"mode":"read"`},
			TestAppFactory: registered(func(t testing.TB, p *plugin.Plugin) {
				p.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error {
					e.Reason += " [checked]"
					e.Mode = plugin.ModeRead
					e.Data = map[string]any{"ticket": "42"}
					return e.Next()
				})
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				entry, err := app.FindFirstRecordByData(records.AuditCollection, "event", "session.started")
				if err != nil {
					t.Fatal(err)
				}
				if data := entry.GetString("data"); !strings.Contains(data, `"ticket":"42"`) {
					t.Errorf("session.started data: %s", data)
				}
			},
		},
		{
			Name:            "the policy still decides after a handler changed the start",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"The user has not consented to be impersonated."`, `"code":"consent_required"`},
			TestAppFactory: registered(func(t testing.TB, p *plugin.Plugin) {
				p.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error {
					e.Target = mustFind(e.App, "users", user3Id) // no consent
					return e.Next()
				})
			}),
			AfterTestFunc: expectDenied("session.denied:consent_required"),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

func TestOnSessionEnd(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	var ended []string
	app.plugin.OnSessionEnd().BindFunc(func(e *plugin.EndEvent) error {
		ended = append(ended, e.Session.Id+":"+e.Session.EndCause)
		return e.Next()
	})

	// ends by any path reach the hook, once each: a policy change...
	app.updatePolicy(t, "users", func(p *records.Policy) { p.SetModes([]records.Mode{records.ModeRead}) })
	// ...a deleted actor, and the end route's function
	if err := app.Delete(mustFind(app, "clients", clientId)); err != nil {
		t.Fatal(err)
	}
	if err := sessions.End(logOf(app), app, app.session(t, liveSessionId), records.EndStopped, app.clock.Now(), audit.Client{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		writeSessionId + ":policy_changed",
		clientSessionId + ":actor_deleted",
		liveSessionId + ":stopped",
	}
	if strings.Join(ended, ",") != strings.Join(want, ",") {
		t.Errorf("ended:\n got %v\nwant %v", ended, want)
	}
}
