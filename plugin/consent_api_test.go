package plugin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/consent"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

func TestConsentView(t *testing.T) {
	t.Parallel()
	scenarios := []tests.ApiScenario{
		{
			Name:            "guest",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/consent",
			ExpectedStatus:  401,
			ExpectedContent: []string{`"code":"auth_required"`, `"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:           "user with live consent",
			Method:         http.MethodGet,
			URL:            "/api/impersonation/consent",
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"active":true`, `"required":true`, `"maxHours":168`, `"revoked":false`, `"expires":"20`,
			},
			TestAppFactory: factory(plugin.Config{}, nil),
		},
		{
			Name:            "user whose consent expired",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/consent",
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"active":false`, `"expires":"20`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.clock.Advance(consentLength + time.Second)
			}),
		},
		{
			Name:            "user of a collection with no policy",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/consent",
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"active":false`, `"required":false`, `"maxHours":0`, `"id":""`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "impersonation token",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/consent",
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

func TestConsentGrant(t *testing.T) {
	t.Parallel()
	hours := func(body string) *strings.Reader { return strings.NewReader(body) }
	badHours := func(name, body string) tests.ApiScenario {
		return tests.ApiScenario{
			Name:            "hours " + name,
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(body),
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  400,
			ExpectedContent: []string{`"data":{"hours":{"code":"validation_`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if events := wrap(app).auditEvents(t, dbx.HashExp{"event": "consent.granted"}); len(events) != 0 {
					t.Errorf("a refused grant was audited: %v", events)
				}
			},
		}
	}
	scenarios := []tests.ApiScenario{
		{
			Name:            "guest",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(`{"hours":1}`),
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "grant 24 hours",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(`{"hours":24}`),
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"active":true`, `"id":"`, `"expires":"20`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				ta := wrap(app)
				c, err := records.FindConsent(app, mustFind(app, "users", user3Id))
				if err != nil {
					t.Fatal(err)
				}
				left := time.Until(c.Expires())
				if left < 23*time.Hour || left > 24*time.Hour {
					t.Errorf("consent expires in %v, want about 24h", left)
				}
				if got := ta.auditEvents(t, dbx.HashExp{"event": "consent.granted", "target": user3Id}); len(got) != 1 {
					t.Errorf("consent.granted entries: %v", got)
				}
			},
		},
		{
			Name:            "grant again replaces a revoked consent",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(`{"hours":1}`),
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"active":true`, `"revoked":false`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				c, _ := records.FindConsent(app, mustFind(app, "users", userId))
				c.SetRevoked(true)
				if err := app.Save(c); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				all, _ := app.FindAllRecords(records.ConsentsCollection)
				if len(all) != 2 {
					t.Errorf("consent records: %d, want one per user (2)", len(all))
				}
			},
		},
		{
			Name:            "the policy maximum",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(`{"hours":168}`),
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  200,
			TestAppFactory:  factory(plugin.Config{}, nil),
			ExpectedContent: []string{`"active":true`},
		},
		badHours("over the policy maximum", `{"hours":169}`),
		badHours("zero", `{"hours":0}`),
		badHours("negative", `{"hours":-1}`),
		badHours("fractional", `{"hours":1.5}`),
		badHours("a string", `{"hours":"5"}`),
		badHours("missing", `{}`),
		badHours("null", `{"hours":null}`),
		{
			Name:            "over a lower policy maximum",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(`{"hours":25}`),
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  400,
			ExpectedContent: []string{`"hours":{"code":"validation_out_of_range"`},
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", ConsentMaxHours: 24}}}, nil),
		},
		{
			Name:            "malformed JSON",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(`{"hours":`),
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  400,
			ExpectedContent: []string{`"status":400`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "collection with no policy",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(`{"hours":1}`),
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "superuser",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(`{"hours":1}`),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "impersonator cannot consent for the user",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            hours(`{"hours":168}`),
			Headers:         map[string]string{"Authorization": writeToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{"while impersonating"},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if got := wrap(app).auditEvents(t, dbx.HashExp{"event": "consent.granted"}); len(got) != 0 {
					t.Errorf("consent granted by an impersonator: %v", got)
				}
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

func TestConsentRevoke(t *testing.T) {
	t.Parallel()
	scenarios := []tests.ApiScenario{
		{
			Name:            "guest",
			Method:          http.MethodDelete,
			URL:             "/api/impersonation/consent",
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:           "revoke ends every live session on the user at once",
			Method:         http.MethodDelete,
			URL:            "/api/impersonation/consent",
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				ta := wrap(app)
				ta.expectEnded(t, liveSessionId, records.EndConsentRevoked)
				ta.expectEnded(t, writeSessionId, records.EndConsentRevoked)
				ta.expectEnded(t, expiredSessionId, records.EndConsentRevoked)
				ta.expectEnded(t, endedSessionId, records.EndStopped) // already ended: unchanged
				ta.expectLive(t, clientSessionId)                     // another user's
				c, _ := records.FindConsent(app, mustFind(app, "users", userId))
				if !c.Revoked() {
					t.Error("consent not revoked")
				}
				ta.expectAudit(t, "consent.revoked",
					"session.ended:consent_revoked", "session.ended:consent_revoked", "session.ended:consent_revoked")
			},
		},
		{
			Name:           "revoking with no consent is harmless",
			Method:         http.MethodDelete,
			URL:            "/api/impersonation/consent",
			Headers:        map[string]string{"Authorization": user3Token},
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectAudit(t, "consent.revoked")
			},
		},
		{
			Name:            "impersonator cannot revoke for the user",
			Method:          http.MethodDelete,
			URL:             "/api/impersonation/consent",
			Headers:         map[string]string{"Authorization": writeToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectLive(t, writeSessionId)
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestConsentChangesStoreABoundedAudit changes a user's consent past the
// limit: the changes past it are refused (429), change nothing and write no
// entry, refused inputs do not count, a withdrawal that stops something is
// never refused, the limit is per user, and it lets the user in again a
// minute later.
func TestConsentChangesStoreABoundedAudit(t *testing.T) {
	t.Parallel()
	const consentURL = "/api/impersonation/consent"
	limit := consent.ChangesPerMinute
	// changes makes n grants (PUT) or withdrawals (DELETE) of the consent
	// of the user of token, after three refused grants that do not count
	changes := func(token, method string, n int) func(testing.TB, *tests.TestApp, *core.ServeEvent) {
		return func(t testing.TB, _ *tests.TestApp, e *core.ServeEvent) {
			for range 3 {
				if rec := serve(t, e, http.MethodPut, consentURL, `{"hours":0}`, token); rec.Code != 400 {
					t.Fatalf("an invalid grant: %d", rec.Code)
				}
			}
			body, want := `{"hours":2}`, 200
			if method == http.MethodDelete {
				body, want = "", 204
			}
			for i := range n {
				if rec := serve(t, e, method, consentURL, body, token); rec.Code != want {
					t.Fatalf("%s %d: %d %s", method, i, rec.Code, rec.Body)
				}
			}
		}
	}
	// consentEntries checks that the audit holds want consent entries
	consentEntries := func(want int) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			entries := wrap(app).auditEvents(t, dbx.In("event", "consent.granted", "consent.revoked"))
			if len(entries) != want {
				t.Errorf("%d consent entries, want %d: %v", len(entries), want, entries)
			}
		}
	}
	later := clock.NewManual(time.Now()) // the plugin's clock of the last scenario
	scenarios := []tests.ApiScenario{
		{
			Name:            "a grant past the limit: 429, no entry, the consent unchanged",
			Method:          http.MethodPut,
			URL:             consentURL,
			Body:            strings.NewReader(`{"hours":5}`),
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  429,
			ExpectedContent: []string{`"message":"Too many consent changes; try again in a minute."`, `"code":"consent_rate_limited"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			BeforeTestFunc:  changes(userToken, http.MethodPut, limit),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				consentEntries(limit)(t, app, res)
				c, _ := records.FindConsent(app, mustFind(app, "users", userId))
				if left := time.Until(c.Expires()); left > 2*time.Hour || left < time.Hour {
					t.Errorf("the refused 5-hour grant changed the 2-hour consent: %v left", left)
				}
			},
		},
		{
			Name:            "a withdrawal of nothing past the limit: 429, no entry",
			Method:          http.MethodDelete,
			URL:             consentURL,
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  429,
			ExpectedContent: []string{`"status":429`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			BeforeTestFunc:  changes(user3Token, http.MethodDelete, limit),
			AfterTestFunc:   consentEntries(limit),
		},
		{
			Name:           "a withdrawal of a consent in force is never refused",
			Method:         http.MethodDelete,
			URL:            consentURL,
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			BeforeTestFunc: changes(userToken, http.MethodPut, limit),
			AfterTestFunc:  consentEntries(limit + 1),
		},
		{
			Name:           "a withdrawal that ends a live session is never refused",
			Method:         http.MethodDelete,
			URL:            consentURL,
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				// the first withdrawal stops the consent and the fixture sessions, the rest stop nothing
				changes(userToken, http.MethodDelete, limit+1)(t, app, e)
				wrap(app).addSession(t, "sessafter000001", core.CollectionNameSuperusers, superuserId, "users", userId, records.ModeRead, fixtureExpires)
			},
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				consentEntries(limit+2)(t, app, res)
				wrap(app).expectEnded(t, "sessafter000001", records.EndConsentRevoked)
			},
		},
		{
			Name:            "the limit is per user",
			Method:          http.MethodPut,
			URL:             consentURL,
			Body:            strings.NewReader(`{"hours":5}`),
			Headers:         map[string]string{"Authorization": user2Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"active":true`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			BeforeTestFunc:  changes(userToken, http.MethodPut, limit),
			AfterTestFunc:   consentEntries(limit + 1),
		},
		{
			Name:            "a minute later the user may change it again",
			Method:          http.MethodPut,
			URL:             consentURL,
			Body:            strings.NewReader(`{"hours":5}`),
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"active":true`},
			TestAppFactory:  factory(plugin.Config{Clock: later}, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				changes(userToken, http.MethodPut, limit)(t, app, e)
				later.Advance(time.Minute)
			},
			AfterTestFunc: consentEntries(limit + 1),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}
