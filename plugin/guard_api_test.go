package plugin_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"

	"github.com/pbimpersonation/impersonation/internal/testapp"
)

// TestGuard checks that every request made with an impersonation token is
// checked against its session, with the decision that allowed its start.
func TestGuard(t *testing.T) {
	t.Parallel()
	userURL := "/api/collections/users/records/" + userId
	asUser := []string{`"id":"` + userId + `"`, `"email":"test@example.com"`}
	ended := []string{`"status":401`, `"message":"The impersonation session has ended."`, `"code":"session_ended"`}
	invalid := []string{`"status":401`, `"message":"The impersonation token is invalid."`, `"code":"token_invalid"`}
	noLonger := []string{`"status":401`, `"message":"The impersonation session is no longer allowed and has ended."`, `"code":"no_longer_allowed"`}

	// the user's key, with which a forger who stole it could sign
	var userKey string
	{
		app, _ := testapp.NewApp()
		user := mustFind(app, "users", userId)
		userKey = user.TokenKey() + user.Collection().AuthToken.Secret
		app.Cleanup()
	}
	endsWith := func(id string, cause records.EndCause) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			wrap(app).expectEnded(t, id, cause)
		}
	}

	scenarios := []tests.ApiScenario{
		{
			Name:            "a live session's token acts as the user",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  200,
			ExpectedContent: asUser,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "with a Bearer prefix in any case",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": "bEARER " + liveToken},
			ExpectedStatus:  200,
			ExpectedContent: asUser,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "ordinary tokens pass untouched",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: asUser,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "an ended session's token is refused, not served as a guest",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": endedToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a session past its expiry ends as expired",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": expiredToken},
			ExpectedStatus:  401,
			ExpectedContent: []string{`"message":"The impersonation session has expired."`, `"code":"session_expired"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectEnded(t, expiredSessionId, records.EndExpired)
				wrap(app).expectAudit(t, "session.ended:expired", "request")
			},
		},
		{
			Name:            "the plugin's clock decides expiry",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  401,
			ExpectedContent: []string{`"message":"The impersonation session has expired."`, `"code":"session_expired"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.clock.Advance(sessionLength + time.Second)
			}),
			AfterTestFunc: endsWith(liveSessionId, records.EndExpired),
		},
		{
			Name:            "the next request after the end is refused",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory:  factory(plugin.Config{}, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				if rec := serve(t, e, http.MethodPost, sessionsURL+"/"+liveSessionId+"/end", "", liveToken); rec.Code != 204 {
					t.Fatalf("end: %d %s", rec.Code, rec.Body)
				}
			},
		},
		{
			Name:            "an altered act claim breaks the signature: refused, not a guest",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": resign(t, liveToken, "not the key", func(c map[string]any) { c["act"] = map[string]any{"sub": clientId, "collectionId": "v851q4r790rhknl"} })},
			ExpectedStatus:  401,
			ExpectedContent: invalid,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "an act claim re-signed with the user's key must still match the session",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": resign(t, liveToken, userKey, func(c map[string]any) { c["act"] = map[string]any{"sub": clientId, "collectionId": "v851q4r790rhknl"} })},
			ExpectedStatus:  401,
			ExpectedContent: invalid,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a sid moved to another user's session",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": resign(t, liveToken, userKey, func(c map[string]any) { c["sid"] = clientSessionId })},
			ExpectedStatus:  401,
			ExpectedContent: invalid,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a sid of no session",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": resign(t, liveToken, userKey, func(c map[string]any) { c["sid"] = "missingsession0" })},
			ExpectedStatus:  401,
			ExpectedContent: invalid,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a malformed act claim",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": resign(t, liveToken, userKey, func(c map[string]any) { c["act"] = superuserId })},
			ExpectedStatus:  401,
			ExpectedContent: invalid,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:           "an impersonation token that PocketBase no longer verifies (new tokenKey)",
			Method:         http.MethodGet,
			URL:            userURL,
			Headers:        map[string]string{"Authorization": liveToken},
			ExpectedStatus: 401,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				user := mustFind(app, "users", userId)
				user.RefreshTokenKey()
				if err := app.Save(user); err != nil {
					t.Fatal(err)
				}
			}),
			ExpectedContent: ended,
			AfterTestFunc:   endsWith(liveSessionId, records.EndTokenRevoked),
		},
		{
			Name:            "consent revoked mid-session, even without the route's clean-up or the consent hook",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  401,
			ExpectedContent: noLonger,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.OnRecordAfterUpdateSuccess().Unbind(ids.ConsentChangedId)
				c := app.grantConsent(t, "users", userId, time.Hour)
				c.SetRevoked(true)
				if err := app.Save(c); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectEnded(t, liveSessionId, records.EndConsentRevoked)
				wrap(app).expectAudit(t, "session.ended:consent_revoked", "request")
			},
		},
		{
			Name:            "the policy disabled: its hook ends the sessions at once",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.updatePolicy(t, "users", func(p *records.Policy) { p.SetEnabled(false) })
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				ta := wrap(app)
				for _, id := range []string{liveSessionId, writeSessionId, clientSessionId, expiredSessionId} {
					ta.expectEnded(t, id, records.EndPolicyChanged)
				}
			},
		},
		{
			Name:            "the policy disabled: the guard alone refuses the next request",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  401,
			ExpectedContent: noLonger,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.OnRecordAfterUpdateSuccess(records.PoliciesCollection).Unbind(ids.PolicyChangedId)
				app.updatePolicy(t, "users", func(p *records.Policy) { p.SetEnabled(false) })
			}),
			AfterTestFunc: endsWith(liveSessionId, records.EndPolicyChanged),
		},
		{
			Name:            "the actor no longer satisfies the rule",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + user2Id,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  401,
			ExpectedContent: noLonger,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.OnRecordAfterUpdateSuccess().Unbind(ids.AuthRecordUpdatedId)
				client := mustFind(app, "clients", clientId)
				client.SetVerified(false)
				if err := app.Save(client); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: endsWith(clientSessionId, records.EndNoLongerAllowed),
		},
		{
			Name:            "the policy no longer allows the session's mode",
			Method:          http.MethodGet,
			URL:             userURL,
			Headers:         map[string]string{"Authorization": writeToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.updatePolicy(t, "users", func(p *records.Policy) { p.SetModes([]records.Mode{records.ModeRead}) })
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectEnded(t, writeSessionId, records.EndPolicyChanged)
				wrap(app).expectLive(t, liveSessionId)
			},
		},
		{
			Name:            "the actor deleted",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + user2Id,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				if err := app.Delete(mustFind(app, "clients", clientId)); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: endsWith(clientSessionId, records.EndActorDeleted),
		},
		{
			Name:            "the actor deleted, found by the guard alone",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + user2Id,
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  401,
			ExpectedContent: noLonger,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.OnRecordAfterDeleteSuccess().Unbind(ids.AuthRecordDeletedId)
				if err := app.Delete(mustFind(app, "clients", clientId)); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: endsWith(clientSessionId, records.EndActorDeleted),
		},
		{
			Name:            "the target deleted",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/current",
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				if err := app.Delete(mustFind(app, "users", user2Id)); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectEnded(t, clientSessionId, records.EndTargetDeleted)
				if _, err := records.FindConsent(app, mustFind(app, "users", userId)); err != nil {
					t.Error("another user's consent was deleted")
				}
				if all, _ := app.FindAllRecords(records.ConsentsCollection); len(all) != 1 {
					t.Errorf("consents left: %d, want the deleted user's gone", len(all))
				}
			},
		},
		{
			Name:            "auth-refresh returns the impersonation token unchanged",
			Method:          http.MethodPost,
			URL:             "/api/collections/users/auth-refresh",
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"` + liveToken + `"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "auth-refresh cannot launder an ended session's token",
			Method:          http.MethodPost,
			URL:             "/api/collections/users/auth-refresh",
			Headers:         map[string]string{"Authorization": endedToken},
			ExpectedStatus:  401,
			ExpectedContent: ended,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:               "auth-refresh refuses an impersonation token that claims to be refreshable",
			Method:             http.MethodPost,
			URL:                "/api/collections/users/auth-refresh",
			Headers:            map[string]string{"Authorization": resign(t, liveToken, userKey, func(c map[string]any) { c["refreshable"] = true })},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"message":"An impersonation token cannot be refreshed."`, `"code":"no_refresh"`},
			NotExpectedContent: []string{`"token"`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestBuiltinImpersonate checks that PocketBase's own impersonate route is
// no side door for any auth collection but _superusers, whatever the
// policies say.
func TestBuiltinImpersonate(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	scenarios := []tests.ApiScenario{
		{
			Name:               "refused for a collection under a policy, pointing to the plugin's route",
			Method:             http.MethodPost,
			URL:                "/api/collections/users/impersonate/" + userId,
			Headers:            superuser,
			ExpectedStatus:     403,
			ExpectedContent:    []string{"/api/impersonation/sessions"},
			NotExpectedContent: []string{`"token"`},
			TestAppFactory:     factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectAudit(t, "session.denied:builtin_route")
			},
		},
		{
			Name:            "refused for a disabled policy too",
			Method:          http.MethodPost,
			URL:             "/api/collections/users/impersonate/" + userId,
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{"/api/impersonation/sessions"},
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", Disabled: true}}}, nil),
		},
		{
			Name:            "superuser API keys keep working",
			Method:          http.MethodPost,
			URL:             "/api/collections/_superusers/impersonate/sbmbsdb40jyxf7h",
			Body:            jsonBody(map[string]any{"duration": 3600}),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectAudit(t)
			},
		},
		{
			Name:               "refused for a collection with no policy too",
			Method:             http.MethodPost,
			URL:                "/api/collections/clients/impersonate/" + clientId,
			Headers:            superuser,
			ExpectedStatus:     403,
			ExpectedContent:    []string{"/api/impersonation/sessions"},
			NotExpectedContent: []string{`"token"`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		{
			Name:               "and once a policy is deleted: no policy state reopens it",
			Method:             http.MethodPost,
			URL:                "/api/collections/USERS/impersonate/" + userId,
			Headers:            superuser,
			ExpectedStatus:     403,
			ExpectedContent:    []string{"/api/impersonation/sessions"},
			NotExpectedContent: []string{`"token"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				if err := app.Delete(app.policy(t, "users")); err != nil {
					t.Fatal(err)
				}
			}),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}
