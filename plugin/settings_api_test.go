package plugin_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

const (
	settingsURL       = "/api/collections/impersonation_settings/records"
	settingsRecordURL = settingsURL + "/" + settingsId
)

// alerting is a Config whose settings alert security@example.com.
var alerting = plugin.Config{AlertEmail: "security@example.com", AlertAfterRefusals: 5}

// settingsEntries returns the data of the settings.* audit entries, in the
// order written, each with its event under "event".
func settingsEntries(t testing.TB, app core.App) []map[string]any {
	t.Helper()
	if err := logOf(app).Flush(); err != nil {
		t.Fatal(err)
	}
	var entries []*core.Record
	err := app.RecordQuery(records.AuditCollection).AndWhere(dbx.Like("event", "settings.").Match(false, true)).
		OrderBy("rowid").All(&entries)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, len(entries))
	for i, e := range entries {
		data := map[string]any{}
		if err := e.UnmarshalJSONField("data", &data); err != nil {
			t.Fatal(err)
		}
		data["event"] = e.GetString("event")
		out[i] = data
	}
	return out
}

// expectSettingsEntries returns an AfterTestFunc that checks the settings
// entries' events and, for the last one, its weakened list, then the
// alerts emailed (the addresses, in order).
func expectSettingsEntries(events []string, weakened []string, alertedTo ...string) func(testing.TB, *tests.TestApp, *http.Response) {
	return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		entries := settingsEntries(t, app)
		var got []string
		for _, e := range entries {
			got = append(got, e["event"].(string))
		}
		if !slices.Equal(got, events) {
			t.Fatalf("settings entries %v, want %v", got, events)
		}
		if len(entries) > 0 {
			last := entries[len(entries)-1]
			var w []string
			if list, ok := last["weakened"].([]any); ok {
				for _, c := range list {
					w = append(w, c.(string))
				}
			}
			if !slices.Equal(w, weakened) {
				t.Errorf("weakened %v, want %v (entry %v)", w, weakened, last)
			}
			if _, ok := last["before"].(map[string]any); !ok {
				t.Errorf("the entry has no before: %v", last)
			}
		}
		waitForEmails(t, app)
		var to []string
		for _, m := range app.TestMailer.Messages() {
			if strings.Contains(m.Subject, "settings weakened") {
				to = append(to, m.To[0].Address)
				if !strings.Contains(m.HTML, "weakens the evidence") {
					t.Errorf("the alert says: %s", m.HTML)
				}
			}
		}
		if !slices.Equal(to, alertedTo) {
			t.Errorf("settings alerts to %v, want %v", to, alertedTo)
		}
	}
}

// saveSettings returns a setup that changes the settings record in Go (a
// door of its own: no request) and saves it.
func saveSettings(change func(s *records.Settings)) func(testing.TB, *testApp) {
	return func(t testing.TB, app *testApp) {
		s, err := records.FindSettings(app)
		if err != nil || s == nil {
			t.Fatalf("settings: %v %v", s, err)
		}
		change(s)
		if err := app.Save(s); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSettingsRecord: superusers read and edit the one settings record
// through the records API; each change is validated, audited in its
// transaction, and a change that weakens the evidence is alerted to the
// address in force before it.
func TestSettingsRecord(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	scenarios := []tests.ApiScenario{
		{
			Name: "a superuser reads the settings seeded from Config", Method: http.MethodGet, URL: settingsRecordURL,
			Headers: superuser, ExpectedStatus: 200,
			ExpectedContent: []string{`"alertEmail":"security@example.com"`, `"alertAfterRefusals":5`, `"auditRetentionHours":48`,
				`"productURL":"/"`, `"extraRedactKeys":[]`},
			TestAppFactory: factory(plugin.Config{AlertEmail: "security@example.com", AuditRetention: 47*time.Hour + time.Minute}, nil),
		},
		{
			Name: "a user cannot list them", Method: http.MethodGet, URL: settingsURL,
			Headers: map[string]string{"Authorization": userToken}, ExpectedStatus: 403, ExpectedContent: []string{`"status":403`},
			NotExpectedContent: []string{"alertEmail"},
			TestAppFactory:     factory(alerting, nil),
		},
		{
			Name: "a user cannot change them", Method: http.MethodPatch, URL: settingsRecordURL,
			Body: strings.NewReader(`{"alertEmail":""}`), Headers: map[string]string{"Authorization": userToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"status":403`},
			TestAppFactory: factory(alerting, nil),
			AfterTestFunc:  expectSettingsEntries(nil, nil),
		},
		{
			Name: "a stronger change is audited and not alerted", Method: http.MethodPatch, URL: settingsRecordURL,
			Body: jsonBody(map[string]any{"alertAfterRefusals": 3, "productURL": "/app/", "revokeURL": "https://app.example.com/account",
				"auditRetentionHours": 0}),
			Headers: superuser, ExpectedStatus: 200, ExpectedContent: []string{`"productURL":"/app/"`},
			TestAppFactory: factory(alerting, nil),
			AfterTestFunc:  expectSettingsEntries([]string{"settings.updated"}, nil),
		},
		{
			// a key matches as a part of a name: more keys hide more of every
			// request from the audit
			Name: "an added redaction key is audited and alerted", Method: http.MethodPatch, URL: settingsRecordURL,
			Body:    jsonBody(map[string]any{"extraRedactKeys": []string{"iban"}}),
			Headers: superuser, ExpectedStatus: 200, ExpectedContent: []string{`"extraRedactKeys":["iban"]`},
			TestAppFactory: factory(alerting, nil),
			AfterTestFunc:  expectSettingsEntries([]string{"settings.updated"}, []string{"redact_keys_added"}, "security@example.com"),
		},
		{
			Name: "a redaction key shorter than 3 characters is refused", Method: http.MethodPatch, URL: settingsRecordURL,
			Body:    jsonBody(map[string]any{"extraRedactKeys": []string{"a_"}}),
			Headers: superuser, ExpectedStatus: 400, ExpectedContent: []string{`"code":"validation_invalid_redact_keys"`},
			TestAppFactory: factory(alerting, nil),
			AfterTestFunc:  expectSettingsEntries(nil, nil),
		},
		{
			Name: "a weakening change is audited and alerted to the old address", Method: http.MethodPatch, URL: settingsRecordURL,
			Body:    jsonBody(map[string]any{"alertEmail": "", "alertAfterRefusals": 50, "auditRetentionHours": 24, "extraRedactKeys": []string{}}),
			Headers: superuser, ExpectedStatus: 200, ExpectedContent: []string{`"alertEmail":""`},
			TestAppFactory: factory(alerting, saveSettings(func(s *records.Settings) { s.SetExtraRedactKeys([]string{"iban"}) })),
			// the setup's own change (a key added) is alerted too
			AfterTestFunc: expectSettingsEntries([]string{"settings.updated", "settings.updated"},
				[]string{"retention_shortened", "alert_email_removed", "alert_threshold_raised", "redact_keys_removed"},
				"security@example.com", "security@example.com"),
		},
		{
			Name: "changing the alert address alerts the old one", Method: http.MethodPatch, URL: settingsRecordURL,
			Body: strings.NewReader(`{"alertEmail":"someone@elsewhere.example"}`), Headers: superuser, ExpectedStatus: 200,
			ExpectedContent: []string{`"alertEmail":"someone@elsewhere.example"`},
			TestAppFactory:  factory(alerting, nil),
			AfterTestFunc:   expectSettingsEntries([]string{"settings.updated"}, []string{"alert_email_changed"}, "security@example.com"),
		},
		{
			Name: "a shorter retention alerts", Method: http.MethodPatch, URL: settingsRecordURL,
			Body: strings.NewReader(`{"auditRetentionHours":24}`), Headers: superuser, ExpectedStatus: 200,
			ExpectedContent: []string{`"auditRetentionHours":24`},
			TestAppFactory:  factory(plugin.Config{AlertEmail: "security@example.com", AuditRetention: 72 * time.Hour}, nil),
			AfterTestFunc:   expectSettingsEntries([]string{"settings.updated"}, []string{"retention_shortened"}, "security@example.com"),
		},
		{
			Name:   "deleting the record falls back to Config: audited, and alerted when Config is weaker",
			Method: http.MethodDelete, URL: settingsRecordURL, Headers: superuser, ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, saveSettings(func(s *records.Settings) {
				s.SetAlertEmail("ops@example.com")
				s.SetAuditRetentionHours(0)
			})),
			AfterTestFunc: expectSettingsEntries([]string{"settings.updated", "settings.deleted"}, []string{"alert_email_removed"}, "ops@example.com"),
		},
		{
			Name: "a second record is refused", Method: http.MethodPost, URL: settingsURL,
			Body: strings.NewReader(`{"alertAfterRefusals":5}`), Headers: superuser,
			ExpectedStatus: 409, ExpectedContent: []string{`"code":"settings_exist"`},
			TestAppFactory: factory(alerting, nil),
			AfterTestFunc:  expectSettingsEntries(nil, nil),
		},
		{
			Name: "a record is created again once deleted: audited against Config", Method: http.MethodPost, URL: settingsURL,
			Body: strings.NewReader(`{"alertAfterRefusals":5,"alertEmail":"ops@example.com"}`), Headers: superuser,
			ExpectedStatus: 200, ExpectedContent: []string{`"alertEmail":"ops@example.com"`},
			TestAppFactory: factory(alerting, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				if rec := serve(t, e, http.MethodDelete, settingsRecordURL, "", superuserToken); rec.Code != 204 {
					t.Fatalf("delete: %d %s", rec.Code, rec.Body)
				}
			},
			AfterTestFunc: expectSettingsEntries([]string{"settings.deleted", "settings.created"}, []string{"alert_email_changed"}, "security@example.com"),
		},
		{
			Name: "a batch is audited and alerted the same", Method: http.MethodPost, URL: "/api/batch", Headers: superuser,
			Body: jsonBody(map[string]any{"requests": []map[string]any{{
				"method": "PATCH", "url": settingsRecordURL, "body": map[string]any{"alertEmail": ""},
			}}}),
			ExpectedStatus: 200, ExpectedContent: []string{`"alertEmail":""`},
			TestAppFactory: factory(alerting, enableBatch),
			AfterTestFunc:  expectSettingsEntries([]string{"settings.updated"}, []string{"alert_email_removed"}, "security@example.com"),
		},
		{
			Name: "a batch cannot add a second record", Method: http.MethodPost, URL: "/api/batch", Headers: superuser,
			Body: jsonBody(map[string]any{"requests": []map[string]any{
				{"method": "POST", "url": settingsURL, "body": map[string]any{"alertAfterRefusals": 5}},
			}}),
			ExpectedStatus: 400, ExpectedContent: []string{`"status":400`},
			TestAppFactory: factory(alerting, enableBatch),
			AfterTestFunc:  expectSettingsEntries(nil, nil),
		},
	}
	// every invalid value is refused with its field's code, and nothing is written
	for field, invalid := range map[string]struct {
		value any
		code  string
	}{
		"alertEmail":          {"not an address", "validation_is_email"},
		"alertAfterRefusals":  {0, "validation_required"},
		"auditRetentionHours": {-1, "validation_min_number_constraint"},
		"productURL":          {"javascript:alert(1)", "validation_invalid_url"},
		"revokeURL":           {"//evil.example/", "validation_invalid_url"},
		"extraRedactKeys":     {"iban", "validation_invalid_redact_keys"},
	} {
		scenarios = append(scenarios, tests.ApiScenario{
			Name: "an invalid " + field + " is refused", Method: http.MethodPatch, URL: settingsRecordURL,
			Body: jsonBody(map[string]any{field: invalid.value}), Headers: superuser,
			ExpectedStatus: 400, ExpectedContent: []string{`"` + field + `":{"code":"` + invalid.code + `"`},
			TestAppFactory: factory(alerting, nil),
			AfterTestFunc:  expectSettingsEntries(nil, nil),
		})
	}
	scenarios = append(scenarios, tests.ApiScenario{
		Name: "PocketBase's field errors and the plugin's are answered together", Method: http.MethodPatch, URL: settingsRecordURL,
		Body: strings.NewReader(`{"alertEmail":"nope","productURL":"javascript:alert(1)"}`), Headers: superuser,
		ExpectedStatus: 400, ExpectedContent: []string{`"alertEmail":{"code":"validation_is_email"`, `"productURL":{"code":"validation_invalid_url"`},
		TestAppFactory: factory(alerting, nil),
		AfterTestFunc:  expectSettingsEntries(nil, nil),
	})
	for i, keys := range []any{[]any{""}, []any{"_-"}, []any{1}, []any{strings.Repeat("k", 101)}, slices.Repeat([]any{"k"}, 101), map[string]any{"password": false}} {
		scenarios = append(scenarios, tests.ApiScenario{
			Name: "invalid extra redaction keys are refused " + string(rune('a'+i)), Method: http.MethodPatch, URL: settingsRecordURL,
			Body: jsonBody(map[string]any{"extraRedactKeys": keys}), Headers: superuser,
			ExpectedStatus: 400, ExpectedContent: []string{`"code":"validation_invalid_redact_keys"`},
			TestAppFactory: factory(alerting, nil),
			AfterTestFunc:  expectSettingsEntries(nil, nil),
		})
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestSettingsTakeEffectWithoutRestart: a change made through the records
// API is in force for the next request, job and email.
func TestSettingsTakeEffectWithoutRestart(t *testing.T) {
	t.Parallel()
	patch := func(body string) func(testing.TB, *tests.TestApp, *core.ServeEvent) {
		return func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
			if rec := serve(t, e, http.MethodPatch, settingsRecordURL, body, superuserToken); rec.Code != 200 {
				t.Fatalf("settings change: %d %s", rec.Code, rec.Body)
			}
		}
	}
	scenarios := []tests.ApiScenario{
		{
			Name: "the product page", Method: http.MethodGet, URL: "/api/impersonation/policies",
			Headers: map[string]string{"Authorization": superuserToken}, ExpectedStatus: 200,
			ExpectedContent: []string{`"productURL":"/app/"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			BeforeTestFunc:  patch(`{"productURL":"/app/"}`),
		},
		{
			Name: "the product page falls back to Config once the record is deleted", Method: http.MethodGet, URL: "/api/impersonation/policies",
			Headers: map[string]string{"Authorization": superuserToken}, ExpectedStatus: 200,
			ExpectedContent: []string{`"productURL":"/shop/"`},
			TestAppFactory:  factory(plugin.Config{ProductURL: "/shop/"}, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				patch(`{"productURL":"/app/"}`)(t, app, e)
				if rec := serve(t, e, http.MethodGet, "/api/impersonation/policies", "", superuserToken); !strings.Contains(rec.Body.String(), `"/app/"`) {
					t.Fatalf("before the delete: %s", rec.Body)
				}
				if rec := serve(t, e, http.MethodDelete, settingsRecordURL, "", superuserToken); rec.Code != 204 {
					t.Fatalf("delete: %d %s", rec.Code, rec.Body)
				}
			},
		},
		{
			Name: "the revoke link of the session-started email", Method: http.MethodPost, URL: sessionsURL,
			Body: startBody("users", userId, nil), Headers: map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 200, ExpectedContent: []string{`"token":"`},
			TestAppFactory: factory(plugin.Config{RevokeURL: "https://old.example.com/revoke"}, nil),
			BeforeTestFunc: patch(`{"revokeURL":"/account/consent"}`),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				waitForEmails(t, app)
				msg := app.TestMailer.LastMessage()
				want := app.Settings().Meta.AppURL + "/account/consent"
				if !strings.Contains(msg.HTML, `href="`+want+`"`) || strings.Contains(msg.HTML, "old.example.com") {
					t.Errorf("the email links to the wrong page (want %s):\n%s", want, msg.HTML)
				}
			},
		},
		{
			Name: "the refusals alert's address and threshold", Method: http.MethodPost, URL: sessionsURL,
			Body: startBody("users", user3Id, nil), Headers: map[string]string{"Authorization": clientToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"status":403`},
			TestAppFactory: factory(plugin.Config{}, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				patch(`{"alertEmail":"ops@example.com","alertAfterRefusals":2}`)(t, app, e)
				serve(t, e, http.MethodPost, sessionsURL, `{"collection":"users","record":"`+user3Id+`","reason":"ticket 42"}`, clientToken)
			},
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				waitForEmails(t, app)
				var to []string
				for _, m := range app.TestMailer.Messages() {
					if strings.Contains(m.Subject, "Repeated impersonation refusals") {
						to = append(to, m.To[0].Address)
					}
				}
				if !slices.Equal(to, []string{"ops@example.com"}) {
					t.Errorf("refusal alerts to %v", to)
				}
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestPruneJobReadsTheRetentionSetting: the retention job runs whatever
// Config says and prunes by the retention in force when it runs.
func TestPruneJobReadsTheRetentionSetting(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{}) // kept for ever
	defer app.Cleanup()
	for range 3 {
		if err := logOf(app).Write(app, audit.Entry{Event: audit.SessionStarted}); err != nil {
			t.Fatal(err)
		}
	}
	app.clock.Advance(25 * time.Hour)
	runJob(t, app, ids.PruneAuditJobId) // for ever: nothing goes
	app.expectAudit(t, "session.started", "session.started", "session.started")

	saveSettings(func(s *records.Settings) { s.SetAuditRetentionHours(24) })(t, app)
	runJob(t, app, ids.PruneAuditJobId)
	events := app.auditEvents(t, nil)
	if len(events) != 2 || events[0] != "settings.updated" || events[1] != "audit.checkpoint" {
		t.Errorf("after pruning: %v, want the settings change (newer than a day) and the checkpoint", events)
	}
	if res, err := logOf(app).Verify(nil); err != nil || !res.OK {
		t.Errorf("verify after pruning: %+v %v", res, err)
	}
}

// TestSettingsCannotReduceRedaction: the extra redaction keys only ever add
// to Config.RedactKeys. Whatever reaches the settings record, through
// whichever door (records API update, create, delete, batch, Go code
// without validation), an impersonated request's values under Config's
// keys are never kept; a key added in the settings is redacted from the
// next request on, and no longer once removed.
func TestSettingsCannotReduceRedaction(t *testing.T) {
	t.Parallel()
	cfg := plugin.Config{RedactKeys: []string{"password", "secret"}}
	const url = "/api/collections/users/records/" + userId + "?password=hunter2&secret=s3cr3t&iban=DE89370400440532013000"
	door := func(steps ...[3]string) func(testing.TB, *tests.TestApp, *core.ServeEvent) {
		return func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
			// refused or not, what follows must hold
			for _, st := range steps {
				rec := serve(t, e, st[0], st[1], st[2], superuserToken)
				t.Logf("%s %s: %d", st[0], st[1], rec.Code)
			}
		}
	}
	addIban := [3]string{http.MethodPatch, settingsRecordURL, `{"extraRedactKeys":["iban"]}`}
	batch := func(body string) [3]string {
		return [3]string{http.MethodPost, "/api/batch", `{"requests":[{"method":"PATCH","url":"` + settingsRecordURL + `","body":` + body + `}]}`}
	}
	kept := func(ibanRedacted bool) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			entries := requestEntries(t, app)
			if len(entries) != 1 {
				t.Fatalf("request entries: %d", len(entries))
			}
			data := entries[0].GetString("data")
			for _, leak := range []string{"hunter2", "s3cr3t"} {
				if strings.Contains(data, leak) {
					t.Errorf("the audit kept %q: %s", leak, data)
				}
			}
			if got := !strings.Contains(data, "DE89370400440532013000"); got != ibanRedacted {
				t.Errorf("iban redacted %v, want %v: %s", got, ibanRedacted, data)
			}
		}
	}
	scenarios := []struct {
		name  string
		setup func(testing.TB, *tests.TestApp, *core.ServeEvent)
		iban  bool
	}{
		{"no extra keys", nil, false},
		{"a key added through the records API", door(addIban), true},
		{"emptied through the records API", door(addIban, [3]string{http.MethodPatch, settingsRecordURL, `{"extraRedactKeys":[]}`}), false},
		{"set to null", door([3]string{http.MethodPatch, settingsRecordURL, `{"extraRedactKeys":null}`}), false},
		{"a removal spelled as a key", door([3]string{http.MethodPatch, settingsRecordURL, `{"extraRedactKeys":["-password","!secret"]}`}), false},
		{"an object instead of a list", door([3]string{http.MethodPatch, settingsRecordURL, `{"extraRedactKeys":{"password":false}}`}), false},
		{"the record deleted", door(addIban, [3]string{http.MethodDelete, settingsRecordURL, ""}), false},
		{"deleted and created again", door([3]string{http.MethodDelete, settingsRecordURL, ""},
			[3]string{http.MethodPost, settingsURL, `{"alertAfterRefusals":5,"extraRedactKeys":["iban"]}`}), true},
		{"a second record with no keys", door(addIban, [3]string{http.MethodPost, settingsURL, `{"alertAfterRefusals":5,"extraRedactKeys":[]}`}), true},
		{"a batch", door(addIban, batch(`{"extraRedactKeys":[]}`)), false},
		{"a batch adding one", door(batch(`{"extraRedactKeys":["IBAN"]}`)), true},
		{"Go code saving garbage without validation", func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
			s, err := records.FindSettings(app)
			if err != nil {
				t.Fatal(err)
			}
			s.Set("extraRedactKeys", map[string]any{"password": false, "secret": nil})
			if err := app.SaveNoValidate(s); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, sc := range scenarios {
		(&tests.ApiScenario{
			Name: sc.name, Method: http.MethodGet, URL: url,
			Headers: map[string]string{"Authorization": liveToken}, ExpectedStatus: 200, ExpectedContent: []string{`"id":"` + userId + `"`},
			TestAppFactory: factory(cfg, enableBatch),
			BeforeTestFunc: sc.setup,
			AfterTestFunc:  kept(sc.iban),
		}).Test(t)
	}
}

// TestSettingsCacheUnderConcurrency: changes of the settings while
// impersonated requests are audited (run under -race by .ci/run): every
// entry is redacted by Config's keys, and once the last change is
// committed the next request sees it.
func TestSettingsCacheUnderConcurrency(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{RedactKeys: []string{"password"}})
	defer app.Cleanup()
	mux := serveMux(t, app.TestApp)
	const url = "/api/collections/users/records/" + userId + "?password=hunter2&iban=DE89370400440532013000"
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 6 {
				if i%2 == 0 {
					body := `{"extraRedactKeys":["iban"]}`
					if j%2 == 1 {
						body = `{"extraRedactKeys":[]}`
					}
					rec := httptest.NewRecorder()
					mux.ServeHTTP(rec, request(http.MethodPatch, settingsRecordURL, body, superuserToken))
					if rec.Code != 200 {
						t.Errorf("settings change: %d %s", rec.Code, rec.Body)
					}
					continue
				}
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, request(http.MethodGet, url, "", liveToken))
				if rec.Code != 200 {
					t.Errorf("impersonated request: %d %s", rec.Code, rec.Body)
				}
			}
		}()
	}
	wg.Wait()
	// the last change of each writer empties the list: the next request keeps the iban
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, request(http.MethodGet, url, "", liveToken))
	entries := requestEntries(t, app.TestApp)
	if len(entries) != 25 {
		t.Fatalf("request entries: %d, want 25", len(entries))
	}
	for _, e := range entries {
		if strings.Contains(e.GetString("data"), "hunter2") {
			t.Errorf("the audit kept a password: %s", e.GetString("data"))
		}
	}
	if last := entries[len(entries)-1].GetString("data"); !strings.Contains(last, "DE89370400440532013000") {
		t.Errorf("the last request was redacted by a forgotten setting: %s", last)
	}
	if n := len(settingsEntries(t, app)); n != 24 {
		t.Errorf("settings entries: %d, want 24", n)
	}
}
