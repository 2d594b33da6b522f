package plugin_test

import (
	"net/http"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

// withManagers gives users a manager (a relation to users) and makes the
// users policy read the user's record: its approverRule lets the user's
// manager approve, its impersonatorRule lets clients act as users whose
// email is visible.
func withManagers(t testing.TB, app *testApp) {
	t.Helper()
	enableBatch(t, app)
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	users.Fields.Add(&core.RelationField{Name: "manager", CollectionId: users.Id, MaxSelect: 1})
	mustSave(t, app, users)
	app.updatePolicy(t, "users", func(p *records.Policy) {
		p.SetApproval(records.ApprovalApprover)
		p.SetApproverRule(`@request.auth.id = manager.id`)
		p.SetImpersonatorRule(`@request.auth.collectionName = "clients" && emailVisibility = true`)
	})
}

// TestRuleFieldsCannotBeWritten holds the promise that whoever acts as a
// user cannot change a field of the user's own record that the policy's
// impersonatorRule or approverRule reads (so cannot make an accomplice the
// user's approver), by any spelling of the collection, with any modifier,
// as JSON, the JS SDK's @jsonPayload, or a batch; the refusal is audited.
func TestRuleFieldsCannotBeWritten(t *testing.T) {
	t.Parallel()
	userURL := "/api/collections/users/records/" + userId
	unchanged := func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		u := mustFind(app, "users", userId)
		if u.GetString("manager") != "" {
			t.Errorf("the user's manager is %q", u.GetString("manager"))
		}
		// audited as the guard audits every request of a session
		entries := requestEntries(t, app)
		if len(entries) != 1 || entries[0].GetInt("status") != http.StatusForbidden || entries[0].GetString("session") != writeSessionId {
			t.Errorf("request entries: %d, want one of the session with status 403", len(entries))
		}
	}
	refused := func(field string) []string {
		return []string{`"status":403`, `"code":"rule_field_write"`, `"field":"` + field + `"`}
	}
	write := func(name, method, url string, body map[string]any, field string) tests.ApiScenario {
		return tests.ApiScenario{
			Name: name, Method: method, URL: url, Headers: map[string]string{"Authorization": writeToken},
			Body: jsonBody(body), ExpectedStatus: 403, ExpectedContent: refused(field),
			TestAppFactory: factory(plugin.Config{}, withManagers), AfterTestFunc: unchanged,
		}
	}
	batch := func(name string, request map[string]any, field string) tests.ApiScenario {
		return write(name, http.MethodPost, "/api/batch", map[string]any{"requests": []map[string]any{request}}, field)
	}
	form, formType := multipartBody(map[string]string{"@jsonPayload": `{"name":"x","manager":"` + user2Id + `"}`}, "")
	scenarios := []tests.ApiScenario{
		write("the approverRule's manager", http.MethodPatch, userURL, map[string]any{"manager": user2Id}, "manager"),
		write("the collection in another letter case", http.MethodPatch, "/api/collections/USERS/records/"+userId, map[string]any{"manager": user2Id}, "manager"),
		write("the collection by id", http.MethodPatch, "/api/collections/_pb_users_auth_/records/"+userId, map[string]any{"manager": user2Id}, "manager"),
		write("a modifier", http.MethodPatch, userURL, map[string]any{"manager+": user2Id}, "manager"),
		write("the field in another letter case", http.MethodPatch, userURL, map[string]any{"Manager": user2Id}, "manager"),
		write("the impersonatorRule's field", http.MethodPatch, userURL, map[string]any{"emailVisibility": false}, "emailVisibility"),
		{
			Name: "the JS SDK's @jsonPayload", Method: http.MethodPatch, URL: userURL, Body: form,
			Headers:        map[string]string{"Authorization": writeToken, "Content-Type": formType},
			ExpectedStatus: 403, ExpectedContent: refused("manager"),
			TestAppFactory: factory(plugin.Config{}, withManagers), AfterTestFunc: unchanged,
		},
		batch("a batch update", map[string]any{"method": "PATCH", "url": userURL, "body": map[string]any{"manager": user2Id}}, "manager"),
		batch("a batch upsert", map[string]any{"method": "PUT", "url": "/api/collections/users/records", "body": map[string]any{"id": userId, "manager": user2Id}}, "manager"),
		{
			Name: "a write of what no rule reads passes", Method: http.MethodPatch, URL: userURL,
			Headers: map[string]string{"Authorization": writeToken}, Body: jsonBody(map[string]any{"name": "Ann"}),
			ExpectedStatus: 200, ExpectedContent: []string{`"name":"Ann"`},
			TestAppFactory: factory(plugin.Config{}, withManagers),
		},
		{
			Name: "the user themselves may change their manager", Method: http.MethodPatch, URL: userURL,
			Headers: map[string]string{"Authorization": userToken}, Body: jsonBody(map[string]any{"manager": user2Id}),
			ExpectedStatus: 200, ExpectedContent: []string{`"manager":"` + user2Id + `"`},
			TestAppFactory: factory(plugin.Config{}, withManagers),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestImpersonationTokenReadsTheUsersRequests pins a decision: an
// impersonation token reads what the user reads, so it lists the requests
// about the user (other staff's, with their reasons) as it lists their
// sessions, while the request routes refuse it.
func TestImpersonationTokenReadsTheUsersRequests(t *testing.T) {
	t.Parallel()
	aboutUser := func(t testing.TB, app *testApp) {
		app.addRequestOn(t, "clients", clientId, userId, records.RequestPending)
	}
	live := map[string]string{"Authorization": liveToken}
	scenarios := []tests.ApiScenario{
		{
			Name: "the records API, as the user", Method: http.MethodGet,
			URL: "/api/collections/" + records.RequestsCollection + "/records", Headers: live,
			ExpectedStatus: 200, ExpectedContent: []string{`"totalItems":1`, `"id":"` + fixtureRequestId + `"`, `"reason":"ticket 77"`},
			TestAppFactory: factory(plugin.Config{}, aboutUser),
		},
		{
			Name: "the sessions, alike", Method: http.MethodGet,
			URL: "/api/collections/" + records.SessionsCollection + "/records/" + liveSessionId, Headers: live,
			ExpectedStatus: 200, ExpectedContent: []string{`"id":"` + liveSessionId + `"`, `"reason":`},
			TestAppFactory: factory(plugin.Config{}, aboutUser),
		},
		{
			Name: "the requests route refuses it", Method: http.MethodGet, URL: requestsURL, Headers: live,
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"consent_while_impersonating"`},
			TestAppFactory: factory(plugin.Config{}, aboutUser),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}
