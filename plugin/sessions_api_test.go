package plugin_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/security"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/tokens"
	"github.com/pbimpersonation/impersonation/plugin"
)

// jsonBody returns v as a JSON request body.
func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return strings.NewReader(string(b))
}

// startBody is a valid start of a session acting as user id.
func startBody(collection, id string, extra map[string]any) io.Reader {
	body := map[string]any{"collection": collection, "record": id, "reason": "ticket 42"}
	for k, v := range extra {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return jsonBody(body)
}

// startResponse is the body of a successful start.
type startResponse struct {
	Token   string         `json:"token"`
	Record  map[string]any `json:"record"`
	Session map[string]any `json:"session"`
}

func readStart(t testing.TB, res *http.Response) startResponse {
	t.Helper()
	var out startResponse
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectStarted checks a successful start: the session row, its audit
// entry, and a token that PocketBase accepts as the target's, with the act
// and sid claims and an exp equal to the session's expiry.
func expectStarted(t testing.TB, app *tests.TestApp, res *http.Response, actorId, targetId string, mode records.Mode, length time.Duration) {
	t.Helper()
	out := readStart(t, res)
	s := wrap(app).session(t, out.Session["id"].(string))
	if s.Actor() != actorId || s.Target() != targetId || s.Mode() != mode || s.IsEnded() {
		t.Errorf("session actor=%s target=%s mode=%s ended=%v", s.Actor(), s.Target(), s.Mode(), s.IsEnded())
	}
	if got := time.Until(s.Expires()); got > length || got < length-time.Minute {
		t.Errorf("session runs %v, want about %v", got, length)
	}
	claims, ok, err := tokens.Peek(out.Token)
	if !ok || err != nil {
		t.Fatalf("not an impersonation token: %v", err)
	}
	if claims.Session != s.Id || claims.Actor.Sub != actorId || claims.Target != targetId || claims.Refreshable {
		t.Errorf("claims %+v do not match session %s", claims, s.Id)
	}
	if !claims.Expires.Equal(s.Expires()) {
		t.Errorf("token exp %v, session expires %v", claims.Expires, s.Expires())
	}
	target, err := app.FindAuthRecordByToken(out.Token, core.TokenTypeAuth)
	if err != nil || target.Id != targetId {
		t.Errorf("PocketBase does not accept the token as the target's: %v", err)
	}
	var entries []*core.Record
	err = app.RecordQuery(records.AuditCollection).AndWhere(dbx.HashExp{"event": "session.started", "session": s.Id}).All(&entries)
	if err != nil || len(entries) != 1 {
		t.Fatalf("session.started entries for the session: %d %v", len(entries), err)
	}
	if e := entries[0]; e.GetInt("status") != 200 || e.GetString("method") != "POST" || e.GetString("path") != sessionsURL ||
		e.GetString("actor") != actorId || e.GetString("target") != targetId || e.GetString("reason") != s.Reason() {
		t.Errorf("session.started entry: %v", e.PublicExport())
	}
}

// expectDenied returns an AfterTestFunc that checks the audit holds exactly
// the given events (e.g. "session.denied:consent_required") and no session
// was started.
func expectDenied(events ...string) func(testing.TB, *tests.TestApp, *http.Response) {
	return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		wrap(app).expectAudit(t, events...)
		live, _ := records.FindLiveSessions(app, "id not in ({:a}, {:b}, {:c}, {:d})", dbx.Params{
			"a": liveSessionId, "b": writeSessionId, "c": expiredSessionId, "d": clientSessionId,
		})
		if len(live) != 0 {
			t.Errorf("a refused start left %d sessions", len(live))
		}
	}
}

const sessionsURL = "/api/impersonation/sessions"

func TestSessionStart(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	notAllowed := []string{`"status":403`, `"message":"You are not allowed to impersonate this record."`, `"code":"not_allowed"`}
	secrets := []string{`"tokenKey"`, `"password"`}

	badInput := func(name string, extra map[string]any, field string) tests.ApiScenario {
		return tests.ApiScenario{
			Name:            "400 " + name,
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, extra),
			Headers:         superuser,
			ExpectedStatus:  400,
			ExpectedContent: []string{`"data":{"` + field + `":{"code":"validation_`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:invalid_input"),
		}
	}

	scenarios := []tests.ApiScenario{
		{
			Name:            "401 guest",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied(),
		},
		{
			Name:               "superuser starts a read session by default, capped at the policy's 60 minutes",
			Method:             http.MethodPost,
			URL:                sessionsURL,
			Body:               startBody("users", userId, map[string]any{"reason": "\u200b  ticket 42 \ufeff\u2060 "}),
			Headers:            superuser,
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"token":"`, `"email":"test@example.com"`, `"mode":"read"`, `"reason":"ticket 42"`},
			NotExpectedContent: secrets,
			TestAppFactory:     factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStarted(t, app, res, superuserId, userId, records.ModeRead, time.Hour)
			},
		},
		{
			Name:            "minutes asked for",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"minutes": 15, "mode": "write"}),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStarted(t, app, res, superuserId, userId, records.ModeWrite, 15*time.Minute)
			},
		},
		{
			Name:            "minutes over the policy maximum are capped",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"minutes": 100000}),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStarted(t, app, res, superuserId, userId, records.ModeRead, time.Hour)
			},
		},
		{
			Name:            "capped by the consent's expiry",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"minutes": 60}),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.grantConsent(t, "users", userId, 10*time.Minute)
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStarted(t, app, res, superuserId, userId, records.ModeRead, 10*time.Minute)
			},
		},
		{
			Name:            "a policy that allows only write defaults to write",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", Modes: []plugin.Mode{plugin.ModeWrite}}}}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStarted(t, app, res, superuserId, userId, records.ModeWrite, time.Hour)
			},
		},
		{
			Name:            "a verified client may act as a verified user under the rule",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", user2Id, nil),
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStarted(t, app, res, clientId, user2Id, records.ModeRead, time.Hour)
			},
		},
		{
			Name:            "collection by id",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("_pb_users_auth_", userId, nil),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStarted(t, app, res, superuserId, userId, records.ModeRead, time.Hour)
			},
		},
		{
			Name:            "no reason where the policy makes it optional",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"reason": nil}),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", ReasonOptional: true}}}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStarted(t, app, res, superuserId, userId, records.ModeRead, time.Hour)
			},
		},
		{
			Name:            "no consent needed where the policy says none",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", user3Id, nil),
			Headers:         superuser,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", Consent: plugin.ConsentNone}}}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStarted(t, app, res, superuserId, user3Id, records.ModeRead, time.Hour)
			},
		},

		badInput("no collection", map[string]any{"collection": ""}, "collection"),
		badInput("no record", map[string]any{"record": nil}, "record"),
		badInput("no reason", map[string]any{"reason": nil}, "reason"),
		badInput("a blank reason", map[string]any{"reason": "   \t "}, "reason"),
		badInput("a reason too short", map[string]any{"reason": "ab"}, "reason"),
		// an invisible reason is no reason (reasons.Length): format characters,
		// default-ignorables and lone combining marks count nothing
		badInput("a reason of zero-width spaces", map[string]any{"reason": strings.Repeat("\u200b", 20)}, "reason"),
		badInput("a reason of word joiners", map[string]any{"reason": strings.Repeat("\u2060", 20)}, "reason"),
		badInput("a reason of byte-order marks", map[string]any{"reason": strings.Repeat("\ufeff", 20)}, "reason"),
		badInput("a reason of soft hyphens", map[string]any{"reason": strings.Repeat("\u00ad", 20)}, "reason"),
		badInput("a reason of bidi controls", map[string]any{"reason": "\u202e\u2066\u200f\u061c\u2069"}, "reason"),
		badInput("a reason of combining marks alone", map[string]any{"reason": strings.Repeat("\u0301", 20)}, "reason"),
		badInput("two letters padded with zero-width spaces", map[string]any{"reason": "a\u200bb" + strings.Repeat("\u200b", 18)}, "reason"),
		badInput("a reason too long", map[string]any{"reason": strings.Repeat("x", 501)}, "reason"),
		badInput("zero minutes", map[string]any{"minutes": 0}, "minutes"),
		badInput("negative minutes", map[string]any{"minutes": -5}, "minutes"),
		badInput("fractional minutes", map[string]any{"minutes": 1.5}, "minutes"),
		badInput("minutes as a string", map[string]any{"minutes": "10"}, "minutes"),
		badInput("an unknown mode", map[string]any{"mode": "admin"}, "mode"),
		{
			Name:            "400 malformed JSON",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            strings.NewReader(`{"collection":`),
			Headers:         superuser,
			ExpectedStatus:  400,
			ExpectedContent: []string{`"status":400`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:invalid_input"),
		},

		// one answer for every refusal that must not reveal the target
		{
			Name:            "403 unknown record",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", "missingrecord00", nil),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:target_not_found"),
		},
		{
			Name:            "403 an over-long record id is refused and still audited",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", strings.Repeat("r", 300), nil),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:target_not_found"),
		},
		{
			Name:            "403 unknown collection",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("nosuchcollection", userId, nil),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:no_policy"),
		},
		{
			Name:            "403 a collection with no policy",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("clients", clientId, nil),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:no_policy"),
		},
		{
			Name:            "403 a superuser target",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody(core.CollectionNameSuperusers, "sbmbsdb40jyxf7h", nil),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:no_policy"),
		},
		{
			Name:            "403 a disabled policy",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", Disabled: true}}}, nil),
			AfterTestFunc:   expectDenied("session.denied:policy_disabled"),
		},
		{
			// the reason is checked only under a usable policy: its 400 would
			// tell a disabled policy from none
			Name:            "403 a disabled policy, before the reason it requires is checked",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"reason": ""}),
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", Disabled: true}}}, nil),
			AfterTestFunc:   expectDenied("session.denied:policy_disabled"),
		},
		{
			Name:            "403 no policy, alike, without a reason",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("nosuchcollection", userId, map[string]any{"reason": ""}),
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:no_policy"),
		},
		{
			Name:            "403 an unverified client fails the rule",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", user2Id, nil),
			Headers:         map[string]string{"Authorization": client2Token},
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:rule_failed"),
		},
		{
			Name:            "403 the rule refuses an unverified target, alike to an unknown one",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:rule_failed"),
		},
		{
			Name:            "403 a user who is not staff, under the default superusers-only rule",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", user2Id, nil),
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users"}}}, nil),
			AfterTestFunc:   expectDenied("session.denied:rule_failed"),
		},
		{
			Name:            "403 self-impersonation, even where the rule lets every user in",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  403,
			ExpectedContent: notAllowed,
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", ImpersonatorRule: `@request.auth.id != ""`}}}, nil),
			AfterTestFunc:   expectDenied("session.denied:self_impersonation"),
		},
		{
			Name:            "403 no consent",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", user3Id, nil),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"The user has not consented to be impersonated."`, `"code":"consent_required"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectDenied("session.denied:consent_required"),
		},
		{
			Name:            "403 consent revoked",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"The user has not consented to be impersonated."`, `"code":"consent_required"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				// the fixture sessions this would end are not what this test looks at
				app.OnRecordAfterUpdateSuccess().Unbind(ids.ConsentChangedId)
				c := app.grantConsent(t, "users", userId, time.Hour)
				c.SetRevoked(true)
				if err := app.Save(c); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: expectDenied("session.denied:consent_required"),
		},
		{
			Name:            "403 consent expired",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"The user has not consented to be impersonated."`, `"code":"consent_required"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.clock.Advance(consentLength)
			}),
			AfterTestFunc: expectDenied("session.denied:consent_required"),
		},
		{
			Name:            "403 a mode the policy does not allow",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"mode": "write"}),
			Headers:         superuser,
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"The policy does not allow sessions in this mode."`, `"code":"mode_not_allowed"`},
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", Modes: []plugin.Mode{plugin.ModeRead}}}}, nil),
			AfterTestFunc:   expectDenied("session.denied:mode_not_allowed"),
		},
		{
			Name:            "403 chaining: an impersonation token cannot start a session",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", user2Id, nil),
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"An impersonation session cannot start another one."`, `"code":"chaining"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectDenied("session.denied:chaining", "request")(t, app, res)
				// the entry names the real actor, not the user the token stands for
				denied := wrap(app).auditEvents(t, dbx.HashExp{"event": "session.denied", "actor": superuserId, "actorCollection": "pbc_3142635823"})
				if len(denied) != 1 {
					t.Errorf("the chaining refusal does not name the real actor: %v", denied)
				}
			},
		},
		{
			Name:            "429 after the policy's attempts, whatever their outcome, superusers included",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         superuser,
			ExpectedStatus:  429,
			ExpectedContent: []string{`"status":429`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				// 3 refused and 2 started: the 6th attempt in the minute is one too many
				for _, body := range []string{
					`{"collection":`,
					`{"collection":"users","record":"` + user3Id + `","reason":"ticket 42"}`,
					`{"collection":"users","record":"missingrecord00","reason":"ticket 42"}`,
					`{"collection":"users","record":"` + userId + `","reason":"ticket 42"}`,
					`{"collection":"users","record":"` + userId + `","reason":"ticket 42"}`,
				} {
					serve(t, e, http.MethodPost, sessionsURL, body, superuserToken)
				}
			},
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				// the attempt over the limit opens its actor's run: one entry, counting it
				wrap(app).expectAudit(t,
					"session.denied:invalid_input", "session.denied:consent_required", "session.denied:target_not_found",
					"session.started", "session.started", "session.throttled")
				var statuses []int
				if err := logOf(app).Flush(); err != nil {
					t.Fatal(err)
				}
				if err := app.RecordQuery(records.AuditCollection).Select("status").OrderBy("rowid").Column(&statuses); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(statuses) != "[400 403 403 200 200 429]" {
					t.Errorf("audited statuses %v", statuses)
				}
			},
		},
		{
			Name:            "the attempt limit is per actor",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", user2Id, nil),
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				for range 5 {
					serve(t, e, http.MethodPost, sessionsURL, `{"collection":"users","record":"`+user3Id+`","reason":"ticket 42"}`, superuserToken)
				}
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestOneCallerStoresABoundedAudit makes many refused starts as one caller:
// past the attempt limit a start is answered 429 with no entry of its own,
// so the caller leaves at most the limit's session.denied entries and two
// session.throttled ones per window, and the counts of those entries add up
// to every refused attempt, whichever way the last run is written (the
// minute job, the next attempt, or the shutdown).
func TestOneCallerStoresABoundedAudit(t *testing.T) {
	t.Parallel()
	const limit = 5 // the policy's default attemptsPerMinute
	cases := []struct {
		name     string
		token    string
		actor    string
		attempts int
		every    time.Duration // between attempts, on the plugin's clock
		flush    string        // how the last run is written: "job", "attempt" or "shutdown"
	}{
		{"a user the rule refuses, all at once", userToken, userId, 50, 0, "job"},
		{"a user the rule refuses, for two and a half minutes", userToken, userId, 150, time.Second, "attempt"},
		{"an impersonation token, counted for its real actor", liveToken, superuserId, 50, 0, "shutdown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := newTestApp(t, plugin.Config{AlertEmail: "security@example.com", AlertAfterRefusals: 20})
			defer app.Cleanup()
			mux := serveMux(t, app.TestApp)
			attempt := func() int {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, request(http.MethodPost, sessionsURL, `{"collection":"users","record":"`+user2Id+`","reason":"ticket 42"}`, c.token))
				return rec.Code
			}
			refused, throttled := 0, 0
			for i := range c.attempts {
				if i > 0 {
					app.clock.Advance(c.every)
				}
				switch code := attempt(); code {
				case http.StatusTooManyRequests:
					throttled++
					refused++
				case http.StatusForbidden:
					refused++
				default:
					t.Fatalf("attempt %d: %d", i, code)
				}
			}
			if throttled == 0 {
				t.Fatal("no attempt went past the limit")
			}

			app.clock.Advance(time.Minute)
			switch c.flush {
			case "job":
				runJob(t, app, ids.ThrottledJobId)
			case "attempt": // one more, within the limit again: refused, and counted
				if code := attempt(); code != http.StatusForbidden {
					t.Fatalf("the attempt a minute later: %d", code)
				}
				refused++
			case "shutdown":
				waitForEmails(t, app.TestApp)
			}

			var entries []*core.Record
			if err := logOf(app).Flush(); err != nil {
				t.Fatal(err)
			}
			err := app.RecordQuery(records.AuditCollection).AndWhere(dbx.HashExp{"actor": c.actor}).OrderBy("seq").All(&entries)
			if err != nil {
				t.Fatal(err)
			}
			counted, denied, throttledEntries := 0, 0, 0
			for _, e := range entries {
				data := map[string]any{}
				_ = e.UnmarshalJSONField("data", &data)
				switch e.GetString("event") {
				case audit.SessionDenied:
					denied++
					counted++
					if e.GetInt("status") == http.StatusTooManyRequests {
						t.Errorf("a session.denied entry for a throttled attempt: %v", data)
					}
				case audit.SessionThrottled:
					throttledEntries++
					n, _ := data["count"].(float64)
					counted += int(n)
					if n < 1 || data["windowSeconds"] != float64(60) || data["first"] == "" || data["last"] == "" ||
						e.GetInt("status") != http.StatusTooManyRequests || e.GetString("path") != sessionsURL {
						t.Errorf("session.throttled entry: %v %v", e.PublicExport(), data)
					}
				case audit.Request: // the guard's entry of each impersonated request, by design
				default:
					t.Errorf("unexpected entry %s", e.GetString("event"))
				}
			}
			if counted != refused {
				t.Errorf("the entries count %d refused attempts, want %d", counted, refused)
			}
			windows := int((time.Duration(c.attempts)*c.every)/time.Minute) + 2
			if denied > windows*limit || throttledEntries > windows*2 {
				t.Errorf("%d session.denied and %d session.throttled entries for %d windows: want at most %d and %d",
					denied, throttledEntries, windows, windows*limit, windows*2)
			}

			waitForEmails(t, app.TestApp)
			msgs := app.TestMailer.Messages()
			if len(msgs) != 1 || !strings.Contains(msgs[0].HTML, "impersonation starts") {
				t.Errorf("alerts: %d, want 1", len(msgs))
			}
		})
	}
}

// runJob runs the app's cron job id, as the scheduler would.
func runJob(t testing.TB, app *testApp, id string) {
	t.Helper()
	for _, j := range app.Cron().Jobs() {
		if j.Id() == id {
			j.Run()
			return
		}
	}
	t.Fatalf("no job %s", id)
}

// serve sends one request through the scenario's router, for the requests a
// scenario needs before its own.
func serve(t testing.TB, e *core.ServeEvent, method, url, body, token string) *httptest.ResponseRecorder {
	t.Helper()
	mux, err := e.Router.BuildMux()
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, request(method, url, body, token))
	return rec
}

// request returns a JSON request, with token as its Authorization if any.
func request(method, url, body, token string) *http.Request {
	req := httptest.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	return req
}

func TestSessionEnd(t *testing.T) {
	t.Parallel()
	endURL := func(id string) string { return sessionsURL + "/" + id + "/end" }
	endedBy := func(id string, cause records.EndCause) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			wrap(app).expectEnded(t, id, cause)
			wrap(app).expectAudit(t, "session.ended:"+string(cause))
		}
	}
	stillLive := func(id string) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			wrap(app).expectLive(t, id)
			wrap(app).expectAudit(t)
		}
	}
	notFound := []string{`"status":404`}

	scenarios := []tests.ApiScenario{
		{
			Name:            "401 guest",
			Method:          http.MethodPost,
			URL:             endURL(liveSessionId),
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   stillLive(liveSessionId),
		},
		{
			Name:           "a superuser",
			Method:         http.MethodPost,
			URL:            endURL(clientSessionId),
			Headers:        map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc:  endedBy(clientSessionId, records.EndStopped),
		},
		{
			Name:           "its actor",
			Method:         http.MethodPost,
			URL:            endURL(clientSessionId),
			Headers:        map[string]string{"Authorization": clientToken},
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc:  endedBy(clientSessionId, records.EndStopped),
		},
		{
			Name:           "its target, with their own login",
			Method:         http.MethodPost,
			URL:            endURL(clientSessionId),
			Headers:        map[string]string{"Authorization": user2Token},
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc:  endedBy(clientSessionId, records.EndStopped),
		},
		{
			Name:           "its own impersonation token",
			Method:         http.MethodPost,
			URL:            endURL(liveSessionId),
			Headers:        map[string]string{"Authorization": liveToken},
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectEnded(t, liveSessionId, records.EndStopped)
				wrap(app).expectAudit(t, "session.ended:stopped", "request")
			},
		},
		{
			Name:           "an ended session ends once",
			Method:         http.MethodPost,
			URL:            endURL(endedSessionId),
			Headers:        map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectEnded(t, endedSessionId, records.EndStopped)
				wrap(app).expectAudit(t)
			},
		},
		{
			Name:            "404 unknown session",
			Method:          http.MethodPost,
			URL:             endURL("missingsession0"),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  404,
			ExpectedContent: notFound,
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "404 another user, alike to an unknown session",
			Method:          http.MethodPost,
			URL:             endURL(clientSessionId),
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  404,
			ExpectedContent: notFound,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   stillLive(clientSessionId),
		},
		{
			Name:            "404 another staff member",
			Method:          http.MethodPost,
			URL:             endURL(clientSessionId),
			Headers:         map[string]string{"Authorization": client2Token},
			ExpectedStatus:  404,
			ExpectedContent: notFound,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   stillLive(clientSessionId),
		},
		{
			Name:            "404 the token of another session on the same target",
			Method:          http.MethodPost,
			URL:             endURL(liveSessionId),
			Headers:         map[string]string{"Authorization": writeToken},
			ExpectedStatus:  404,
			ExpectedContent: notFound,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectLive(t, liveSessionId)
				wrap(app).expectAudit(t, "request")
			},
		},
		{
			Name:            "never by GET",
			Method:          http.MethodGet,
			URL:             endURL(liveSessionId),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  404,
			ExpectedContent: notFound,
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   stillLive(liveSessionId),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// Client details of the fixture sessions and of an audit entry about
// userId (see withClientDetails): none of them is for anyone but superusers.
const (
	secretIP        = "203.0.113.77"
	secretAgent     = "SecretAgent/7.7"
	secretMailError = "smtp: mail.internal.example refused"
)

// clientDetails are the field names and values withClientDetails sets,
// which no answer to a user or a token holder may hold.
var clientDetails = []string{`"ip"`, `"userAgent"`, `"notifyError"`, secretIP, secretAgent, secretMailError}

// withClientDetails gives every fixture session an IP, a user agent and a
// failed email, and writes an audit entry about userId with that client.
func withClientDetails(t testing.TB, app *testApp) {
	for _, id := range []string{liveSessionId, writeSessionId, endedSessionId, expiredSessionId, clientSessionId} {
		s := app.session(t, id)
		s.SetClient(secretIP, secretAgent)
		s.SetNotified(time.Now(), errors.New(secretMailError))
		if err := app.Save(s); err != nil {
			t.Fatal(err)
		}
	}
	entry := audit.Entry{Event: audit.Request, Target: userId, TargetCollection: "_pb_users_auth_", Session: liveSessionId,
		Client: audit.Client{IP: secretIP, UserAgent: secretAgent, Method: "GET", Path: "/api/x", Status: 200}}
	if err := logOf(app).Write(app, entry); err != nil {
		t.Fatal(err)
	}
}

func TestCurrent(t *testing.T) {
	t.Parallel()
	scenarios := []tests.ApiScenario{
		{
			Name:            "guest",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/current",
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"impersonating":false}`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:           "the user's own login is told of the live sessions on them",
			Method:         http.MethodGet,
			URL:            "/api/impersonation/current",
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"impersonating":false`, `"liveSessions":[{"id":"` + liveSessionId + `"`, `"id":"` + writeSessionId + `"`,
				`"actor":{"id":"` + superuserId + `"`, `"mode":"write"`, `"reason":"fixture"`,
			},
			// ended, expired, and on other users; no session's client or email outcome
			NotExpectedContent: append([]string{endedSessionId, expiredSessionId, clientSessionId}, clientDetails...),
			TestAppFactory:     factory(plugin.Config{}, withClientDetails),
		},
		{
			Name:            "a user with no live session",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/current",
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"impersonating":false,"liveSessions":[],"actors":[]}`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:           "the actors of past sessions are named",
			Method:         http.MethodGet,
			URL:            "/api/impersonation/current",
			Headers:        map[string]string{"Authorization": user2Token},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"liveSessions":[]`,
				`"actors":[{"id":"` + clientId + `","collectionId":"`, `"collectionName":"clients"`,
			},
			NotExpectedContent: []string{superuserId},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				if _, err := app.DB().NewQuery("UPDATE impersonation_sessions SET ended = '2026-01-01 00:00:00.000Z', endCause = 'stopped' WHERE id = {:id}").
					Bind(dbx.Params{"id": clientSessionId}).Execute(); err != nil {
					t.Fatal(err)
				}
			}),
		},
		{
			Name:            "a policy that hides the live sessions",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/current",
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"impersonating":false}`},
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", HideLiveSessions: true}}}, nil),
		},
		{
			Name:            "a record of a collection with no policy",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/current",
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"impersonating":false}`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:           "a superuser's session",
			Method:         http.MethodGet,
			URL:            "/api/impersonation/current",
			Headers:        map[string]string{"Authorization": liveToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"impersonating":true`,
				`"actor":{"id":"` + superuserId + `","collectionId":"pbc_3142635823","collectionName":"_superusers","email":"test@example.com"}`,
				`"session":{"id":"` + liveSessionId + `"}`, `"mode":"read"`, `"expires":"20`,
			},
			// who, how and until when: nothing of the session's client, email, target or reason
			NotExpectedContent: append([]string{`"notified"`, `"target"`, `"reason"`, `"created"`, `"liveSessions"`}, clientDetails...),
			TestAppFactory:     factory(plugin.Config{}, withClientDetails),
		},
		{
			Name:           "a client's session names the actor",
			Method:         http.MethodGet,
			URL:            "/api/impersonation/current",
			Headers:        map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"impersonating":true`, `"collectionName":"clients"`, `"id":"` + clientId + `"`, `"name":""`,
			},
			NotExpectedContent: clientDetails,
			TestAppFactory:     factory(plugin.Config{}, withClientDetails),
		},
		{
			Name:            "an ended session's token",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/current",
			Headers:         map[string]string{"Authorization": endedToken},
			ExpectedStatus:  401,
			ExpectedContent: []string{`"message":"The impersonation session has ended."`, `"code":"session_ended"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestClientDetailsStayWithSuperusers reads sessions and audit entries
// through the records API as each kind of caller: a session's IP, user agent
// and email error, and an entry's IP and user agent, reach superusers only,
// and nobody else can filter on them to guess them.
func TestClientDetailsStayWithSuperusers(t *testing.T) {
	t.Parallel()
	sessionsList := "/api/collections/impersonation_sessions/records"
	auditList := "/api/collections/impersonation_audit/records"
	hidden := func(name, url, token string, want ...string) tests.ApiScenario {
		return tests.ApiScenario{
			Name:               name,
			Method:             http.MethodGet,
			URL:                url,
			Headers:            map[string]string{"Authorization": token},
			ExpectedStatus:     200,
			ExpectedContent:    want,
			NotExpectedContent: clientDetails,
			TestAppFactory:     factory(plugin.Config{}, withClientDetails),
		}
	}
	filtered := func(name, url, token string) tests.ApiScenario {
		return tests.ApiScenario{
			Name:            name,
			Method:          http.MethodGet,
			URL:             url,
			Headers:         map[string]string{"Authorization": token},
			ExpectedStatus:  400,
			ExpectedContent: []string{`"status":400`},
			TestAppFactory:  factory(plugin.Config{}, withClientDetails),
		}
	}
	byIP := "?filter=" + urlQuery(`ip ~ "203."`)
	scenarios := []tests.ApiScenario{
		hidden("the user lists the sessions on them", sessionsList, userToken, `"id":"`+liveSessionId+`"`, `"reason":"fixture"`),
		hidden("the user views one", sessionsList+"/"+liveSessionId, userToken, `"id":"`+liveSessionId+`"`),
		hidden("the actor lists their sessions", sessionsList, clientToken, `"id":"`+clientSessionId+`"`),
		hidden("an impersonation token lists the sessions on its user", sessionsList, liveToken, `"id":"`+liveSessionId+`"`),
		hidden("the user lists the audit about them", auditList, userToken, `"path":"/api/x"`),
		hidden("an impersonation token lists the audit about its user", auditList, liveToken, `"path":"/api/x"`),
		filtered("the user cannot filter sessions by IP", sessionsList+byIP, userToken),
		filtered("the user cannot filter the audit by user agent", auditList+"?filter="+urlQuery(`userAgent ~ "Secret"`), userToken),
		filtered("an impersonation token cannot filter sessions by email error", sessionsList+"?filter="+urlQuery(`notifyError ~ "smtp"`), liveToken),
		{
			Name:            "superusers read them all",
			Method:          http.MethodGet,
			URL:             sessionsList + byIP,
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"totalItems":5`, `"ip":"` + secretIP + `"`, `"userAgent":"` + secretAgent + `"`, `"notifyError":"` + secretMailError + `"`},
			TestAppFactory:  factory(plugin.Config{}, withClientDetails),
		},
		{
			Name:            "superusers read the audit's",
			Method:          http.MethodGet,
			URL:             auditList + byIP,
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"totalItems":1`, `"ip":"` + secretIP + `"`, `"userAgent":"` + secretAgent + `"`},
			TestAppFactory:  factory(plugin.Config{}, withClientDetails),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// resign returns token with its claims changed by change and signed with
// key: a forgery by someone who holds (or does not hold) the right key.
func resign(t testing.TB, token, key string, change func(map[string]any)) string {
	t.Helper()
	claims, err := security.ParseUnverifiedJWT(token)
	if err != nil {
		t.Fatal(err)
	}
	change(claims)
	forged, err := security.NewJWT(claims, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return forged
}
