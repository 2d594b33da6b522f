package plugin_test

import (
	"encoding/json"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
	"net/http"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/testapp"
	"github.com/pbimpersonation/impersonation/plugin"
)

// auditEntryId is the id of the audit entry withAuditEntry writes.
const auditEntryId = "auditentry00001"

// withAuditEntry adds one session.started entry about userId, with the id
// auditEntryId.
func withAuditEntry(t testing.TB, app *testApp) {
	entry := audit.Entry{Event: audit.SessionStarted, Target: userId, TargetCollection: "_pb_users_auth_", Session: liveSessionId}
	if err := logOf(app).Write(app, entry); err != nil {
		t.Fatal(err)
	}
	// the routes under test need a known id; the chain is not what they test
	if _, err := app.DB().NewQuery("UPDATE impersonation_audit SET id = {:id}").Bind(dbx.Params{"id": auditEntryId}).Execute(); err != nil {
		t.Fatal(err)
	}
}

// unchangedAudit checks the audit entry of withAuditEntry is still there,
// as written, and alone.
func unchangedAudit(t testing.TB, app *tests.TestApp, _ *http.Response) {
	all, err := app.FindAllRecords(records.AuditCollection)
	if err != nil || len(all) != 1 || all[0].Id != auditEntryId || all[0].GetString("event") != audit.SessionStarted {
		t.Errorf("audit changed: %v %v", all, err)
	}
}

// TestRecordsApiCannotChangePluginRecords checks that audit entries,
// sessions and consents change through no records API call, superusers and
// batch requests included.
func TestRecordsApiCannotChangePluginRecords(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	refused := []string{`"status":403`}
	audited := factory(plugin.Config{}, withAuditEntry)
	scenarios := []tests.ApiScenario{
		{
			Name:            "a superuser cannot create an audit entry",
			Method:          http.MethodPost,
			URL:             "/api/collections/impersonation_audit/records",
			Body:            jsonBody(map[string]any{"event": "session.started", "target": userId}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{"append-only"},
			TestAppFactory:  audited,
			AfterTestFunc:   unchangedAudit,
		},
		{
			Name:            "a superuser cannot edit an audit entry",
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_audit/records/" + auditEntryId,
			Body:            jsonBody(map[string]any{"event": "nothing.happened"}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: refused,
			TestAppFactory:  audited,
			AfterTestFunc:   unchangedAudit,
		},
		{
			Name:            "a superuser cannot delete an audit entry",
			Method:          http.MethodDelete,
			URL:             "/api/collections/impersonation_audit/records/" + auditEntryId,
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: refused,
			TestAppFactory:  audited,
			AfterTestFunc:   unchangedAudit,
		},
		{
			Name:            "nor through a batch request",
			Method:          http.MethodPost,
			URL:             "/api/batch",
			Body:            strings.NewReader(`{"requests":[{"method":"DELETE","url":"/api/collections/impersonation_audit/records/` + auditEntryId + `"}]}`),
			Headers:         superuser,
			ExpectedStatus:  400,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				withAuditEntry(t, app)
				settings := app.Settings()
				settings.Batch.Enabled = true
				settings.Batch.MaxRequests = 10
				if err := app.Save(settings); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: unchangedAudit,
		},
		{
			Name:            "a superuser cannot extend a session",
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_sessions/records/" + endedSessionId,
			Body:            jsonBody(map[string]any{"ended": "", "endCause": ""}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{"/api/impersonation routes"},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectEnded(t, endedSessionId, records.EndStopped)
			},
		},
		{
			Name:            "a superuser cannot create a session",
			Method:          http.MethodPost,
			URL:             "/api/collections/impersonation_sessions/records",
			Body:            jsonBody(map[string]any{"actor": superuserId, "actorCollection": "pbc_3142635823", "target": user3Id, "targetCollection": "_pb_users_auth_", "mode": "write", "expires": "2099-01-01 00:00:00.000Z"}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: refused,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a superuser cannot delete a session",
			Method:          http.MethodDelete,
			URL:             "/api/collections/impersonation_sessions/records/" + liveSessionId,
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: refused,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a user cannot forge their consent through the records API",
			Method:          http.MethodPost,
			URL:             "/api/collections/impersonation_consents/records",
			Body:            jsonBody(map[string]any{"user": user3Id, "userCollection": "_pb_users_auth_", "expires": "2099-01-01 00:00:00.000Z"}),
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  403,
			ExpectedContent: refused,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a superuser cannot delete a consent",
			Method:          http.MethodDelete,
			URL:             "/api/collections/impersonation_consents/records/" + consentId(userId),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: refused,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a user cannot extend their consent through the records API",
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_consents/records/" + consentId(userId),
			Body:            jsonBody(map[string]any{"expires": "2099-01-01 00:00:00.000Z"}),
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  403,
			ExpectedContent: refused,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestCollectionsApiCannotRemovePluginData checks the collection-level
// routes that would empty or drop the plugin's collections.
func TestCollectionsApiCannotRemovePluginData(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	audited := factory(plugin.Config{}, withAuditEntry)
	scenarios := []tests.ApiScenario{
		{
			Name:            "truncate the audit",
			Method:          http.MethodDelete,
			URL:             "/api/collections/impersonation_audit/truncate",
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  audited,
			AfterTestFunc:   unchangedAudit,
		},
		{
			Name:            "delete the audit collection",
			Method:          http.MethodDelete,
			URL:             "/api/collections/impersonation_audit",
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  audited,
			AfterTestFunc:   unchangedAudit,
		},
		{
			Name:            "change the audit collection's fields",
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_audit",
			Body:            jsonBody(map[string]any{"createRule": ""}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  audited,
			AfterTestFunc:   unchangedAudit,
		},
		{
			Name:            "an import that deletes the missing collections",
			Method:          http.MethodPut,
			URL:             "/api/collections/import",
			Body:            jsonBody(map[string]any{"deleteMissing": true, "collections": []any{map[string]any{"name": "users"}}}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  audited,
			AfterTestFunc:   unchangedAudit,
		},
		{
			Name:            "open the policies collection's create rule",
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_policies",
			Body:            jsonBody(map[string]any{"createRule": ""}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"no_collection_change"`},
			TestAppFactory:  audited,
			AfterTestFunc:   policiesStayClosed,
		},
		{
			Name:            "open the policies collection's list rule, named by id in another case",
			Method:          http.MethodPatch,
			URL:             "/api/collections/IMPERSONATION_POLICIES",
			Body:            jsonBody(map[string]any{"listRule": "@request.auth.id != ''"}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"no_collection_change"`},
			TestAppFactory:  audited,
			AfterTestFunc:   policiesStayClosed,
		},
		{
			Name:   "an import that opens the policies collection's update rule",
			Method: http.MethodPut,
			URL:    "/api/collections/import",
			Body: jsonBody(map[string]any{"collections": []any{map[string]any{
				"name": "impersonation_policies", "type": "base", "updateRule": "",
			}}}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"no_import"`},
			TestAppFactory:  audited,
			AfterTestFunc:   policiesStayClosed,
		},
		{
			Name:            "rename a field of the policies collection the plugin reads",
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_policies",
			Body:            jsonBody(map[string]any{"fields": renamedPolicyField("deniedRoutes", "_deniedRoutes")}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"no_collection_change"`},
			TestAppFactory:  audited,
		},
		{
			Name:            "drop the policies collection's indexes",
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_policies",
			Body:            jsonBody(map[string]any{"indexes": []string{}}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"no_collection_change"`},
			TestAppFactory:  audited,
		},
		{
			Name:            "the policies collection takes an app's field",
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_policies",
			Body:            jsonBody(map[string]any{"fields": append(policyFields(), map[string]any{"name": "note", "type": "text"})}),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"name":"note"`, `"createRule":null`},
			TestAppFactory:  audited,
			AfterTestFunc:   policiesStayClosed,
		},
		{
			Name:           "the policies collection can be truncated by a superuser",
			Method:         http.MethodDelete,
			URL:            "/api/collections/clients/truncate",
			Headers:        superuser,
			ExpectedStatus: 204,
			TestAppFactory: audited,
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestPolicyValidation checks that a policy is validated on save, in the
// dashboard as anywhere.
func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	patch := func(name string, body map[string]any, status int, content ...string) tests.ApiScenario {
		return tests.ApiScenario{
			Name:            name,
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_policies/records/" + usersPolicyId,
			Body:            jsonBody(body),
			Headers:         superuser,
			ExpectedStatus:  status,
			ExpectedContent: content,
			TestAppFactory:  factory(plugin.Config{}, nil),
		}
	}
	scenarios := []tests.ApiScenario{
		patch("a rule that does not parse", map[string]any{"impersonatorRule": "@request.auth.id ="}, 400,
			`"impersonatorRule":{"code":"validation_invalid_rule"`),
		patch("a rule naming an unknown field", map[string]any{"impersonatorRule": "nosuchfield = 1"}, 400,
			`"impersonatorRule":{"code":"validation_invalid_rule"`),
		patch("a collection that does not exist", map[string]any{"collection": "nosuch"}, 400,
			`"collection":{"code":"validation_not_auth_collection"`),
		patch("a base collection", map[string]any{"collection": "demo1"}, 400,
			`"collection":{"code":"validation_not_auth_collection"`),
		patch("superusers", map[string]any{"collection": "_superusers"}, 400,
			`"collection":{"code":"validation_superusers"`),
		patch("no modes", map[string]any{"modes": []string{}}, 400, `"modes":{"code":"validation_required"`),
		patch("zero minutes", map[string]any{"maxMinutes": 0}, 400, `"maxMinutes":{"code":"validation_required"`),
		patch("a valid rule", map[string]any{"impersonatorRule": `@request.auth.collectionName = "clients" && verified = true`}, 200,
			`"impersonatorRule":"@request.auth.collectionName = \"clients\" && verified = true"`),
		{
			Name:            "users cannot read policies",
			Method:          http.MethodGet,
			URL:             "/api/collections/impersonation_policies/records",
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

// policiesStayClosed fails t unless every API rule of the policies
// collection is still superusers only.
func policiesStayClosed(t testing.TB, app *tests.TestApp, _ *http.Response) {
	c, err := app.FindCollectionByNameOrId("impersonation_policies")
	if err != nil {
		t.Fatal(err)
	}
	for i, rule := range []*string{c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule} {
		if rule != nil {
			t.Errorf("API rule %d of the policies collection is %q, want superusers only", i, *rule)
		}
	}
}

// policyFields returns the fields of the policies collection as the
// collections API takes them.
func policyFields() []any {
	app, err := testapp.NewApp()
	if err != nil {
		panic(err)
	}
	defer app.Cleanup()
	c, err := app.FindCollectionByNameOrId("impersonation_policies")
	if err != nil {
		panic(err)
	}
	raw, _ := json.Marshal(c.Fields)
	var fields []any
	if err := json.Unmarshal(raw, &fields); err != nil {
		panic(err)
	}
	return fields
}

// TestThePluginsCollectionsKeepTheirNames is the attack of a superuser who
// renames one of the plugin's collections, if only its letter case: the
// plugin's hooks, refusals and checks name them exactly, so a renamed
// sessions collection let an ended session's token go on, and a rename
// there and back through an import unhid its private fields. No door
// renames them: the collections API, an import (by name or id), Go code.
func TestThePluginsCollectionsKeepTheirNames(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	audited := factory(plugin.Config{}, withAuditEntry)
	namesKept := func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		for _, name := range []string{"impersonation_policies", "impersonation_consents", "impersonation_sessions", "impersonation_audit"} {
			var stored string
			if err := app.DB().NewQuery("SELECT name FROM _collections WHERE LOWER(name) = {:name}").
				Bind(dbx.Params{"name": name}).Row(&stored); err != nil || stored != name {
				t.Errorf("the collection %s is now named %q (%v)", name, stored, err)
			}
		}
	}
	scenarios := []tests.ApiScenario{}
	for _, c := range []struct{ collection, name string }{
		{"impersonation_sessions", "Impersonation_Sessions"},
		{"impersonation_consents", "zz_consents"},
		{"impersonation_audit", "IMPERSONATION_AUDIT"},
	} {
		scenarios = append(scenarios, tests.ApiScenario{
			Name:            "rename " + c.collection + " to " + c.name,
			Method:          http.MethodPatch,
			URL:             "/api/collections/" + c.collection,
			Body:            jsonBody(map[string]any{"name": c.name}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"no_collection_change"`},
			TestAppFactory:  audited,
			AfterTestFunc:   namesKept,
		})
	}
	scenarios = append(scenarios,
		tests.ApiScenario{
			Name:            "rename the policies collection in another letter case",
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_policies",
			Body:            jsonBody(map[string]any{"name": "Impersonation_Policies"}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"no_collection_change"`},
			TestAppFactory:  audited,
			AfterTestFunc:   namesKept,
		},
		tests.ApiScenario{
			Name:   "rename the policies collection by an import naming its id",
			Method: http.MethodPut,
			URL:    "/api/collections/import",
			Body: jsonBody(map[string]any{"collections": []any{map[string]any{
				"id": usersPolicyCollectionId(), "name": "zz_policies", "type": "base", "fields": policyFields(),
			}}}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"no_import"`},
			TestAppFactory:  audited,
			AfterTestFunc:   namesKept,
		},
	)
	for _, s := range scenarios {
		s.Test(t)
	}

	t.Run("Go code", func(t *testing.T) {
		app := testapp.New(t)
		plugin.MustRegister(app, plugin.Config{})
		e := &core.ServeEvent{App: app, Router: router.NewRouter[*core.RequestEvent](nil)}
		if err := app.OnServe().Trigger(e, func(*core.ServeEvent) error { return nil }); err != nil {
			t.Fatal(err)
		}
		c, err := app.FindCollectionByNameOrId("impersonation_sessions")
		if err != nil {
			t.Fatal(err)
		}
		c.Name = "IMPERSONATION_SESSIONS"
		if err := app.Save(c); err == nil {
			t.Error("app.Save renamed the sessions collection")
		}
		policies, err := app.FindCollectionByNameOrId("impersonation_policies")
		if err != nil {
			t.Fatal(err)
		}
		policies.Fields.GetByName("deniedRoutes").SetName("_deniedRoutes")
		if err := app.SaveNoValidate(policies); err == nil {
			t.Error("app.SaveNoValidate (as an import saves) renamed a field of the policies collection")
		}
		if err := app.Delete(policies); err == nil {
			t.Error("app.Delete deleted the policies collection")
		}
	})
}

// usersPolicyCollectionId is the id of the policies collection.
func usersPolicyCollectionId() string {
	app, err := testapp.NewApp()
	if err != nil {
		panic(err)
	}
	defer app.Cleanup()
	c, err := app.FindCollectionByNameOrId("impersonation_policies")
	if err != nil {
		panic(err)
	}
	return c.Id
}

// renamedPolicyField returns the fields of the policies collection with
// the field from renamed to.
func renamedPolicyField(from, to string) []any {
	fields := policyFields()
	for _, f := range fields {
		if m := f.(map[string]any); m["name"] == from {
			m["name"] = to
		}
	}
	return fields
}
