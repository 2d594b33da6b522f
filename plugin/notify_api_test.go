package plugin_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

// waitForEmails waits for the emails the plugin is sending in the
// background, and for their outcome to be recorded, as the app's shutdown
// does (its OnTerminate handlers run;
// unlike TestApp.Cleanup, the test mailer keeps what it got).
func waitForEmails(t testing.TB, app *tests.TestApp) {
	t.Helper()
	if err := app.OnTerminate().Trigger(&core.TerminateEvent{App: app}, func(*core.TerminateEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// startedSession returns the session a start answered with.
func startedSession(t testing.TB, app *tests.TestApp, res *http.Response) *records.Session {
	t.Helper()
	return wrap(app).session(t, readStart(t, res).Session["id"].(string))
}

func TestSessionStartedEmail(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	const xss = `<img src=x onerror=alert(1)>`
	scenarios := []tests.ApiScenario{
		{
			Name:            "the user is emailed, in English, with what and why and a revoke link",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"minutes": 30, "reason": "ticket 42 " + xss}),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{RevokeURL: "https://app.example.com/account/impersonation"}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				s := startedSession(t, app, res)
				waitForEmails(t, app)
				if n := app.TestMailer.TotalSend(); n != 1 {
					t.Fatalf("emails sent: %d", n)
				}
				msg := app.TestMailer.LastMessage()
				if msg.To[0].Address != "test@example.com" || !strings.Contains(msg.Subject, "Support is acting as you") {
					t.Errorf("to %v, subject %q", msg.To, msg.Subject)
				}
				for _, want := range []string{"test@example.com", "30 minutes", "read-only", "ticket 42 &lt;img src=x onerror=alert(1)&gt;",
					`href="https://app.example.com/account/impersonation"`} {
					if !strings.Contains(msg.HTML, want) {
						t.Errorf("the email lacks %q:\n%s", want, msg.HTML)
					}
				}
				if strings.Contains(msg.HTML, xss) {
					t.Error("the reason is not escaped in the email")
				}
				if fresh := wrap(app).session(t, s.Id); fresh.GetDateTime("notified").IsZero() {
					t.Error("the email is not recorded on the session")
				}
			},
		},
		{
			Name:            "in Spanish for a user whose language is Spanish",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"mode": "write"}),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.speakSpanish(t, userId)
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				waitForEmails(t, app)
				if n := app.TestMailer.TotalSend(); n != 1 {
					t.Fatalf("emails sent: %d", n)
				}
				msg := app.TestMailer.LastMessage()
				if !strings.Contains(msg.Subject, "El equipo de soporte") || !strings.Contains(msg.HTML, "con permiso para hacer cambios") {
					t.Errorf("not in Spanish: %q\n%s", msg.Subject, msg.HTML)
				}
			},
		},
		{
			Name:            "not when the policy says so",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", NoStartEmail: true}}}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				waitForEmails(t, app)
				if n := app.TestMailer.TotalSend(); n != 0 {
					t.Errorf("emails sent: %d", n)
				}
			},
		},
		{
			Name:            "a mail that cannot be sent does not fail the start, and is recorded on the session",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.OnMailerSend().BindFunc(func(e *core.MailerEvent) error { return errors.New("smtp: connection refused") })
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				s := startedSession(t, app, res)
				waitForEmails(t, app)
				fresh := wrap(app).session(t, s.Id)
				if !strings.Contains(fresh.GetString("notifyError"), "connection refused") || !fresh.GetDateTime("notified").IsZero() {
					t.Errorf("recorded: notifyError %q, notified %v", fresh.GetString("notifyError"), fresh.GetDateTime("notified"))
				}
			},
		},
		{
			Name:            "repeated refusals alert the configured address once",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", user3Id, nil),
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{AlertEmail: "security@example.com", AlertAfterRefusals: 3}, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				for range 3 { // the 3rd refusal alerts, the scenario's 4th does not again
					serve(t, e, http.MethodPost, sessionsURL, `{"collection":"users","record":"`+user3Id+`","reason":"ticket 42"}`, clientToken)
				}
			},
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				waitForEmails(t, app)
				msgs := app.TestMailer.Messages()
				if len(msgs) != 1 || msgs[0].To[0].Address != "security@example.com" || !strings.Contains(msgs[0].HTML, "3 impersonation starts") {
					t.Errorf("alerts: %d %+v", len(msgs), msgs)
				}
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}
