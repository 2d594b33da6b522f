package plugin_test

import (
	"net/http"
	"testing"

	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/plugin"
)

// TestListRules checks who reads which sessions, consents and audit
// entries through the records API.
func TestListRules(t *testing.T) {
	t.Parallel()
	sessionsURL := "/api/collections/impersonation_sessions/records"
	auditURL := "/api/collections/impersonation_audit/records"
	consentsURL := "/api/collections/impersonation_consents/records"
	twoEntries := factory(plugin.Config{}, func(t testing.TB, app *testApp) {
		for _, target := range []string{userId, user2Id} {
			entry := audit.ForUser(audit.ConsentGranted, mustFind(app, "users", target))
			if err := logOf(app).Write(app, entry); err != nil {
				t.Fatal(err)
			}
		}
	})
	list := func(name, url, token string, want []string, notWant ...string) tests.ApiScenario {
		s := tests.ApiScenario{
			Name:               name,
			Method:             http.MethodGet,
			URL:                url,
			ExpectedStatus:     200,
			ExpectedContent:    want,
			NotExpectedContent: notWant,
			TestAppFactory:     factory(plugin.Config{}, nil),
		}
		if token != "" {
			s.Headers = map[string]string{"Authorization": token}
		}
		return s
	}
	auditList := func(s tests.ApiScenario) tests.ApiScenario { s.TestAppFactory = twoEntries; return s }

	scenarios := []tests.ApiScenario{
		list("a target lists the sessions on them", sessionsURL, userToken,
			[]string{`"totalItems":4`, liveSessionId, writeSessionId, endedSessionId, expiredSessionId}, clientSessionId),
		list("an actor lists the sessions they started", sessionsURL, clientToken,
			[]string{`"totalItems":1`, clientSessionId}, liveSessionId),
		list("another user lists none", sessionsURL, user3Token, []string{`"totalItems":0`}),
		list("a guest lists none", sessionsURL, "", []string{`"totalItems":0`}),
		list("a superuser lists all", sessionsURL, superuserToken, []string{`"totalItems":5`}),
		list("a user lists their own consent", consentsURL, userToken,
			[]string{`"totalItems":1`, consentId(userId)}, consentId(user2Id)),
		list("a guest lists no consent", consentsURL, "", []string{`"totalItems":0`}),
		auditList(list("a user lists the audit entries about them", auditURL, user2Token,
			[]string{`"totalItems":1`, `"target":"` + user2Id + `"`}, `"target":"`+userId+`"`)),
		auditList(list("an actor does not list the audit of their targets", auditURL, clientToken, []string{`"totalItems":0`})),
		auditList(list("a superuser lists the whole audit", auditURL, superuserToken, []string{`"totalItems":2`})),
		{
			Name:            "a user cannot view another user's consent",
			Method:          http.MethodGet,
			URL:             consentsURL + "/" + consentId(user2Id),
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  404,
			ExpectedContent: []string{`"status":404`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}
