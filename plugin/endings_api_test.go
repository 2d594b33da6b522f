package plugin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

// TestSessionEndsWithItsGrounds changes the actor, the target or the
// consent of a live session outside the session (nobody uses its token
// meanwhile): a change that takes away the session's grounds ends it at
// once with the cause that names the change, one that does not leaves it
// running, and a database failure while rechecking ends nothing.
func TestSessionEndsWithItsGrounds(t *testing.T) {
	t.Parallel()
	userURL := "/api/collections/users/records/" + user2Id
	ended := []string{`"status":401`, `"message":"The impersonation session has ended."`, `"code":"session_ended"`}
	update := func(collection, id string, set func(t testing.TB, app *testApp, r recordSetter)) func(testing.TB, *testApp) {
		return func(t testing.TB, app *testApp) {
			r := mustFind(app, collection, id)
			set(t, app, r)
			if err := app.Save(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	endsWith := func(id string, cause records.EndCause) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			wrap(app).expectEnded(t, id, cause)
		}
	}
	staysLive := func(ids ...string) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			for _, id := range ids {
				wrap(app).expectLive(t, id)
			}
		}
	}

	scenarios := []tests.ApiScenario{
		{
			Name:            "the actor demoted: actor_not_allowed",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, update("clients", clientId, func(_ testing.TB, _ *testApp, r recordSetter) {
				r.Set("verified", false)
			})),
			AfterTestFunc: endsWith(clientSessionId, records.EndActorNotAllowed),
		},
		{
			Name:            "the actor's password changed: actor_token_revoked",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, update("clients", clientId, func(_ testing.TB, _ *testApp, r recordSetter) {
				r.Set("password", "a new password 1234")
			})),
			AfterTestFunc: endsWith(clientSessionId, records.EndActorTokenRevoked),
		},
		{
			Name:            "the actor changed but still allowed: the session runs",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"id":"` + user2Id + `"`},
			TestAppFactory: factory(plugin.Config{}, update("clients", clientId, func(_ testing.TB, _ *testApp, r recordSetter) {
				r.Set("emailVisibility", true)
			})),
			AfterTestFunc: staysLive(clientSessionId),
		},
		{
			Name:            "the target no longer matches the rule: target_not_allowed",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, update("users", user2Id, func(_ testing.TB, _ *testApp, r recordSetter) {
				r.Set("verified", false)
			})),
			AfterTestFunc: endsWith(clientSessionId, records.EndTargetNotAllowed),
		},
		{
			Name:            "the target changed its own fields and is still allowed: the session runs",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"id":"` + user2Id + `"`, `"name":"renamed"`},
			TestAppFactory: factory(plugin.Config{}, update("users", user2Id, func(_ testing.TB, _ *testApp, r recordSetter) {
				r.Set("name", "renamed")
			})),
			AfterTestFunc: staysLive(clientSessionId),
		},
		{
			Name:            "the consent shortened below the sessions: consent_shortened",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            strings.NewReader(`{"hours":1}`),
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"active":true`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				ta := wrap(app)
				ta.expectEnded(t, liveSessionId, records.EndConsentShortened)
				ta.expectEnded(t, writeSessionId, records.EndConsentShortened)
				ta.expectLive(t, clientSessionId) // on another user
			},
		},
		{
			Name:            "the consent revoked by a direct save: consent_revoked at once",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + userId,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				c, err := records.FindConsent(app, mustFind(app, "users", userId))
				if err != nil {
					t.Fatal(err)
				}
				c.SetRevoked(true)
				if err := app.Save(c); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: endsWith(liveSessionId, records.EndConsentRevoked),
		},
		{
			Name:            "the consent shortened by a direct save: consent_shortened at once",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + userId,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.grantConsent(t, "users", userId, time.Hour)
			}),
			AfterTestFunc: endsWith(liveSessionId, records.EndConsentShortened),
		},
		{
			Name:            "the consent lengthened: the sessions run",
			Method:          http.MethodPut,
			URL:             "/api/impersonation/consent",
			Body:            strings.NewReader(`{"hours":24}`),
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"active":true`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   staysLive(liveSessionId, writeSessionId),
		},
		{
			Name:            "a record the rule reads in another collection changed: no_longer_allowed",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				readsDemo2(t, app)
				update("demo2", demo2Id, func(_ testing.TB, _ *testApp, r recordSetter) { r.Set("title", "closed") })(t, app)
			}),
			AfterTestFunc: endsWith(clientSessionId, records.EndNoLongerAllowed),
		},
		{
			Name:            "a record the rule does not read changed: the session runs",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"id":"` + user2Id + `"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				readsDemo2(t, app)
				update("demo2", "achvryl401bhse3", func(_ testing.TB, _ *testApp, r recordSetter) { r.Set("title", "closed") })(t, app)
			}),
			AfterTestFunc: staysLive(clientSessionId),
		},
		{
			Name:            "a database failure while the guard rechecks: 500, the session stands",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  500,
			ExpectedContent: []string{`"status":500`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				hideConsents(t, app)
			}),
			AfterTestFunc: staysLive(clientSessionId),
		},
		{
			Name:            "a database failure while an actor's change is rechecked: the session stands",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + user2Id,
			Headers:         map[string]string{"Authorization": user2Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"id":"` + user2Id + `"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				hideConsents(t, app)
				client := mustFind(app, "clients", clientId)
				client.Set("verified", false)
				if err := app.Save(client); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: staysLive(clientSessionId),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// demo2Id is the record of demo2 that readsDemo2's rule reads.
const demo2Id = "llvuca81nly1qls"

// readsDemo2 makes the users policy's rule also read a record of another
// collection (demo2's with title "open"), and opens that record.
func readsDemo2(t testing.TB, app *testApp) {
	t.Helper()
	r := mustFind(app, "demo2", demo2Id)
	r.Set("title", "open")
	if err := app.Save(r); err != nil {
		t.Fatal(err)
	}
	app.updatePolicy(t, "users", func(p *records.Policy) {
		p.SetImpersonatorRule(usersPolicy().ImpersonatorRule + ` && @collection.demo2.title ?= "open"`)
	})
	app.expectLive(t, clientSessionId)
}

// recordSetter is the part of a record the scenarios change.
type recordSetter interface{ Set(string, any) }

// hideConsents renames the consents table, so that every read of a consent
// fails as a database error would.
func hideConsents(t testing.TB, app *testApp) {
	t.Helper()
	if _, err := app.DB().NewQuery("ALTER TABLE " + records.ConsentsCollection + " RENAME TO hidden_consents").Execute(); err != nil {
		t.Fatal(err)
	}
}

// TestRealtimeDroppedWhenGroundsGo subscribes a realtime client with an
// impersonation token and takes the session's grounds away without any
// request from the token's holder: the stream closes, through the hook on
// the actor's change or, for a change no hook sees, through the sweep of
// realtime clients.
func TestRealtimeDroppedWhenGroundsGo(t *testing.T) {
	t.Parallel()
	demote := func(t *testing.T, app *testApp) {
		client := mustFind(app, "clients", clientId)
		client.Set("verified", false)
		if err := app.Save(client); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		setup func(*testApp)
		end   func(*testing.T, *testApp)
		cause records.EndCause
	}{
		{
			name:  "the actor demoted",
			end:   demote,
			cause: records.EndActorNotAllowed,
		},
		{
			name: "a change no hook sees, caught by the sweep",
			// as when the rule reads a collection the plugin does not watch
			setup: func(app *testApp) { app.OnRecordAfterUpdateSuccess().Unbind(ids.AuthRecordUpdatedId) },
			end: func(t *testing.T, app *testApp) {
				demote(t, app)
				app.expectLive(t, clientSessionId)
				runJob(t, app, ids.RecheckRealtimeJobId)
			},
			cause: records.EndNoLongerAllowed,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := newTestApp(t, plugin.Config{})
			defer app.Cleanup()
			if c.setup != nil {
				c.setup(app)
			}
			srv := httptest.NewServer(serveMux(t, app.TestApp))
			defer srv.Close()

			// canceled before srv.Close, which waits for open streams
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clientId, events := connectRealtime(t, ctx, srv.URL)
			sub := post(t, srv.URL+"/api/realtime", `{"clientId":"`+clientId+`","subscriptions":["users"]}`, clientImpersonationToken)
			if sub.StatusCode != 204 {
				t.Fatalf("subscribe: %d", sub.StatusCode)
			}
			c.end(t, app)

			// the stream must close: one left open runs into go test's -timeout
			for range events {
			}
			app.expectEnded(t, clientSessionId, c.cause)
		})
	}
}

// TestEveryEndCauseIsNamed checks that each end cause is a value of the
// sessions collection's endCause field and has a label in the UI's message
// catalogue, in every language (the English and Spanish blocks).
func TestEveryEndCauseIsNamed(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	c, err := app.FindCollectionByNameOrId(records.SessionsCollection)
	if err != nil {
		t.Fatal(err)
	}
	field, _ := c.Fields.GetByName("endCause").(*core.SelectField)
	if field == nil {
		t.Fatal("no endCause select field")
	}
	catalogues := map[string]string{
		"../pb_public/impersonation/lib/messages.js": `"cause.%s"`,
	}
	for _, cause := range records.EndCauses {
		t.Run(string(cause), func(t *testing.T) {
			if !slices.Contains(field.Values, string(cause)) {
				t.Errorf("not a value of endCause: %v", field.Values)
			}
			for path, key := range catalogues {
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(string(raw), fmt.Sprintf(key, cause)); n != 2 {
					t.Errorf("%s: %d labels, want 2 (en, es)", path, n)
				}
			}
		})
	}
	if len(field.Values) != len(records.EndCauses) {
		t.Errorf("endCause values %v, causes %v", field.Values, records.EndCauses)
	}
}
