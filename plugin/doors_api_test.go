package plugin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/filesystem"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/internal/tokens"
	"github.com/pbimpersonation/impersonation/plugin"
)

// headersURL is a route the tests add that answers with the value API rules
// see as @request.headers.x_impersonation_session.
const headersURL = "/api/test/headers"

func addHeaders(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
	e.Router.GET(headersURL, func(re *core.RequestEvent) error {
		info, err := re.RequestInfo()
		if err != nil {
			return err
		}
		return re.JSON(http.StatusOK, map[string]any{"session": info.Headers["x_impersonation_session"]})
	})
}

// forgedSpellings are header names that PocketBase maps to the same
// @request.headers key as the session header.
var forgedSpellings = []string{"X-Impersonation-Session", "X_impersonation_session", "x.impersonation.session", "X-IMPERSONATION_Session"}

// enableBatch turns PocketBase's batch API on.
func enableBatch(t testing.TB, app *testApp) {
	settings := app.Settings()
	settings.Batch.Enabled = true
	settings.Batch.MaxRequests = 10
	if err := app.Save(settings); err != nil {
		t.Fatal(err)
	}
}

// TestSessionHeaderCannotBeForgedOrCleared holds the promise that API rules
// can trust @request.headers.x_impersonation_session: it is the session's
// id on every request made while impersonating and empty on every other,
// whatever spelling of the header a client sends, directly, in a batch
// sub-request or in a realtime subscription's options.
func TestSessionHeaderCannotBeForgedOrCleared(t *testing.T) {
	t.Parallel()
	var scenarios []tests.ApiScenario
	for _, name := range forgedSpellings {
		scenarios = append(scenarios,
			tests.ApiScenario{
				Name:            "a user cannot set it as " + name,
				Method:          http.MethodGet,
				URL:             headersURL,
				Headers:         map[string]string{"Authorization": userToken, name: "sesslive0000001"},
				ExpectedStatus:  200,
				ExpectedContent: []string{`{"session":""}`},
				TestAppFactory:  factory(plugin.Config{}, nil),
				BeforeTestFunc:  addHeaders,
			},
			tests.ApiScenario{
				Name:            "an impersonator cannot clear it as " + name,
				Method:          http.MethodGet,
				URL:             headersURL,
				Headers:         map[string]string{"Authorization": liveToken, name: ""},
				ExpectedStatus:  200,
				ExpectedContent: []string{`{"session":"` + liveSessionId + `"}`},
				TestAppFactory:  factory(plugin.Config{}, nil),
				BeforeTestFunc:  addHeaders,
			},
			tests.ApiScenario{
				Name:    "a batch sub-request cannot set it as " + name,
				Method:  http.MethodPost,
				URL:     "/api/batch",
				Headers: map[string]string{"Authorization": userToken},
				Body: jsonBody(map[string]any{"requests": []map[string]any{{
					"method": "PATCH", "url": "/api/collections/users/records/" + userId,
					"headers": map[string]string{name: "sesslive0000001"}, "body": map[string]any{"name": "x"},
				}}}),
				ExpectedStatus:  403,
				ExpectedContent: []string{`"message":"The X-Impersonation-Session header is set by the server only."`},
				TestAppFactory:  factory(plugin.Config{}, enableBatch),
			},
			tests.ApiScenario{
				Name:    "an impersonator's batch sub-request cannot clear it as " + name,
				Method:  http.MethodPost,
				URL:     "/api/batch",
				Headers: map[string]string{"Authorization": writeToken},
				Body: jsonBody(map[string]any{"requests": []map[string]any{{
					"method": "PATCH", "url": "/api/collections/users/records/" + userId,
					"headers": map[string]string{name: ""}, "body": map[string]any{"name": "x"},
				}}}),
				ExpectedStatus:  403,
				ExpectedContent: []string{`"message":"The X-Impersonation-Session header is set by the server only."`},
				TestAppFactory:  factory(plugin.Config{}, enableBatch),
			},
		)
	}

	// the README's rule on the most sensitive records: a write to an auth
	// record reads RequestInfo in the guard, so the header must be there first
	notWhileImpersonating := func(t testing.TB, app *testApp) {
		enableBatch(t, app)
		users, err := app.FindCollectionByNameOrId("users")
		if err != nil {
			t.Fatal(err)
		}
		rule := `id = @request.auth.id && @request.headers.x_impersonation_session = ""`
		users.UpdateRule = &rule
		if err := app.Save(users); err != nil {
			t.Fatal(err)
		}
	}
	unchanged := func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		if name := mustFind(app, "users", userId).GetString("name"); name != "test1" {
			t.Errorf("the user's name changed to %q", name)
		}
	}
	scenarios = append(scenarios,
		tests.ApiScenario{
			Name:            "a rule refusing impersonators holds for a write to an auth record",
			Method:          http.MethodPatch,
			URL:             "/api/collections/users/records/" + userId,
			Headers:         map[string]string{"Authorization": writeToken},
			Body:            jsonBody(map[string]any{"name": "changed"}),
			ExpectedStatus:  404,
			ExpectedContent: []string{`"status":404`},
			TestAppFactory:  factory(plugin.Config{}, notWhileImpersonating),
			AfterTestFunc:   unchanged,
		},
		tests.ApiScenario{
			Name:            "and in a batch",
			Method:          http.MethodPost,
			URL:             "/api/batch",
			Headers:         map[string]string{"Authorization": writeToken},
			Body:            jsonBody(map[string]any{"requests": []map[string]any{{"method": "PATCH", "url": "/api/collections/users/records/" + userId, "body": map[string]any{"name": "changed"}}}}),
			ExpectedStatus:  400,
			ExpectedContent: []string{`"response":{"data":{},"message":"The requested resource wasn't found.","status":404}`},
			TestAppFactory:  factory(plugin.Config{}, notWhileImpersonating),
			AfterTestFunc:   unchanged,
		},
		tests.ApiScenario{
			Name:            "the user's own write passes the same rule",
			Method:          http.MethodPatch,
			URL:             "/api/collections/users/records/" + userId,
			Headers:         map[string]string{"Authorization": userToken},
			Body:            jsonBody(map[string]any{"name": "changed"}),
			ExpectedStatus:  200,
			ExpectedContent: []string{`"name":"changed"`},
			TestAppFactory:  factory(plugin.Config{}, notWhileImpersonating),
		},
	)
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestRealtimeOptionsCannotSetTheSessionHeader subscribes with options
// whose headers name the session header: PocketBase checks realtime events
// against those headers, so such a subscription is refused for anyone.
func TestRealtimeOptionsCannotSetTheSessionHeader(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	server := httptest.NewServer(serveMux(t, app.TestApp))
	defer server.Close()
	srv := server.URL
	// canceled before server.Close, which waits for open streams
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	realtimeClient := func() string {
		id, _ := connectRealtime(t, ctx, srv)
		return id
	}
	for _, name := range forgedSpellings {
		for _, token := range []string{userToken, liveToken} {
			clientId := realtimeClient()
			options := url.QueryEscape(`{"headers":{"` + name + `":"sesslive0000001"}}`)
			sub := post(t, srv+"/api/realtime", `{"clientId":"`+clientId+`","subscriptions":["users?options=`+options+`"]}`, token)
			if sub.StatusCode != http.StatusForbidden {
				t.Errorf("subscription with %s in its options: %d, want 403", name, sub.StatusCode)
			}
		}
	}
	clientId := realtimeClient()
	options := url.QueryEscape(`{"headers":{"x_other":"1"},"query":{"expand":"x"}}`)
	if sub := post(t, srv+"/api/realtime", `{"clientId":"`+clientId+`","subscriptions":["users?options=`+options+`"]}`, userToken); sub.StatusCode != http.StatusNoContent {
		t.Errorf("subscription with other options: %d, want 204", sub.StatusCode)
	}
}

// TestRouteRulesMatchEveryCollectionSpelling denies a collection's records
// by name and reaches them by every other name PocketBase accepts: the
// rule holds for each, directly and in a batch.
func TestRouteRulesMatchEveryCollectionSpelling(t *testing.T) {
	t.Parallel()
	const demo2Id = "sz5l5z67tg7gku0"
	denyDemo2 := func(t testing.TB, app *testApp) {
		enableBatch(t, app)
		app.updatePolicy(t, "users", func(p *records.Policy) { p.SetDeniedRoutes([]string{"* /api/collections/demo2/records*"}) })
	}
	denied := []string{`"status":403`, `"message":"This action is not allowed while impersonating."`, `"code":"denied"`}
	var scenarios []tests.ApiScenario
	for _, name := range []string{"demo2", "DEMO2", "Demo2", demo2Id} {
		scenarios = append(scenarios,
			tests.ApiScenario{
				Name: "list as " + name, Method: http.MethodGet, URL: "/api/collections/" + name + "/records",
				Headers: map[string]string{"Authorization": writeToken}, ExpectedStatus: 403, ExpectedContent: denied,
				TestAppFactory: factory(plugin.Config{}, denyDemo2),
			},
			tests.ApiScenario{
				Name: "batch create as " + name, Method: http.MethodPost, URL: "/api/batch",
				Headers:        map[string]string{"Authorization": writeToken},
				Body:           jsonBody(map[string]any{"requests": []map[string]any{{"method": "POST", "url": "/api/collections/" + name + "/records", "body": map[string]any{"title": "x"}}}}),
				ExpectedStatus: 403, ExpectedContent: denied,
				TestAppFactory: factory(plugin.Config{}, denyDemo2),
			},
		)
	}
	scenarios = append(scenarios, tests.ApiScenario{
		Name: "without the rule the list passes", Method: http.MethodGet, URL: "/api/collections/DEMO2/records",
		Headers: map[string]string{"Authorization": writeToken}, ExpectedStatus: 200, ExpectedContent: []string{`"items":[`},
		TestAppFactory: factory(plugin.Config{}, nil),
	})
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestRouteRulesThatCannotMatchAreRefused saves policies whose route rules
// could never match a request: each is refused with a clear 400.
func TestRouteRulesThatCannotMatchAreRefused(t *testing.T) {
	t.Parallel()
	for _, rule := range []string{
		"FETCH /api/collections/demo2/records",
		"GET /api/*/records",
		"* /api/collections/DEMO2/records*",
		"* /api/collections/sz5l5z67tg7gku0/records*",
		"* /api/collections/nosuch/records*",
		"GET api/collections/demo2/records",
	} {
		(&tests.ApiScenario{
			Name:            rule,
			Method:          http.MethodPatch,
			URL:             "/api/collections/impersonation_policies/records/" + usersPolicyId,
			Headers:         map[string]string{"Authorization": superuserToken},
			Body:            jsonBody(map[string]any{"deniedRoutes": []string{rule}}),
			ExpectedStatus:  400,
			ExpectedContent: []string{`"deniedRoutes":{"code":"validation_invalid_route_rules"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		}).Test(t)
	}
}

// TestSystemAuthCollectionsAreNeverReachable holds the promise that an
// impersonator never touches the account's keys: PocketBase's OAuth2
// links, login origins, MFA and OTP records, in any mode, by any name.
func TestSystemAuthCollectionsAreNeverReachable(t *testing.T) {
	t.Parallel()
	never := []string{`"status":403`, `"message":"This action is never allowed while impersonating."`, `"code":"never_allowed"`}
	var scenarios []tests.ApiScenario
	for _, name := range []string{core.CollectionNameExternalAuths, core.CollectionNameAuthOrigins, core.CollectionNameMFAs, core.CollectionNameOTPs, "_EXTERNALAUTHS", "pbc_4275539003"} {
		scenarios = append(scenarios,
			tests.ApiScenario{
				Name: "list " + name, Method: http.MethodGet, URL: "/api/collections/" + name + "/records",
				Headers: map[string]string{"Authorization": writeToken}, ExpectedStatus: 403, ExpectedContent: never,
				TestAppFactory: factory(plugin.Config{}, nil),
			},
			tests.ApiScenario{
				Name: "delete from " + name, Method: http.MethodDelete, URL: "/api/collections/" + name + "/records/anything000001",
				Headers: map[string]string{"Authorization": writeToken}, ExpectedStatus: 403, ExpectedContent: never,
				TestAppFactory: factory(plugin.Config{}, nil),
			},
			tests.ApiScenario{
				Name: "batch delete from " + name, Method: http.MethodPost, URL: "/api/batch",
				Headers:        map[string]string{"Authorization": writeToken},
				Body:           jsonBody(map[string]any{"requests": []map[string]any{{"method": "DELETE", "url": "/api/collections/" + name + "/records/anything000001"}}}),
				ExpectedStatus: 403, ExpectedContent: never,
				TestAppFactory: factory(plugin.Config{}, enableBatch),
			},
		)
	}
	scenarios = append(scenarios, tests.ApiScenario{
		Name: "the user's own token still lists them", Method: http.MethodGet, URL: "/api/collections/_authOrigins/records",
		Headers: map[string]string{"Authorization": userToken}, ExpectedStatus: 200, ExpectedContent: []string{`"items":[`},
		TestAppFactory: factory(plugin.Config{}, nil),
	})
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestForgedTokensWriteNothing holds the promise that nothing is written
// under a session before its token's signature is verified: a token with
// a session's claims that the server did not sign is refused, and no
// audit entry is written, whatever the session's state and the body's size.
func TestForgedTokensWriteNothing(t *testing.T) {
	t.Parallel()
	forge := func(sessionId string) string {
		claims := jwt.MapClaims{
			"id": userId, "type": "auth", "collectionId": usersCollectionId, "refreshable": false,
			"exp": fixtureExpires.Unix(), "sid": sessionId,
			"act": map[string]any{"sub": superuserId, "collectionId": "pbc_3142635823"},
		}
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("not the user's key"))
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	var scenarios []tests.ApiScenario
	for sessionId, message := range map[string]string{
		liveSessionId:    "The impersonation token is invalid.",
		writeSessionId:   "The impersonation token is invalid.",
		expiredSessionId: "The impersonation token is invalid.",
		endedSessionId:   "The impersonation session has ended.",
	} {
		scenarios = append(scenarios, tests.ApiScenario{
			Name:            "a forged token of " + sessionId,
			Method:          http.MethodPost,
			URL:             "/api/collections/demo2/records",
			Headers:         map[string]string{"Authorization": forge(sessionId), "User-Agent": "forger"},
			Body:            strings.NewReader(`{"title":"` + strings.Repeat("x", 900_000) + `"}`),
			ExpectedStatus:  401,
			ExpectedContent: []string{`"message":"` + message + `"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectAudit(t)
				if s := wrap(app).session(t, sessionId); sessionId != endedSessionId && s.IsEnded() {
					t.Errorf("a forged token ended session %s (%s)", sessionId, s.EndCause())
				}
			},
		})
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestPolicyAndRuleChangesAreAudited holds the promise that what decides an
// impersonator's reach never changes without a trace: a policy's edit and
// deletion, and a change of a collection's API rules, each leave a chained
// entry with the state before and after; a save that changes no rule
// leaves none.
func TestPolicyAndRuleChangesAreAudited(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	// changeData returns the data of the only entry of event.
	changeData := func(t testing.TB, app *tests.TestApp, event string) map[string]any {
		t.Helper()
		entries, err := app.FindAllRecords(records.AuditCollection, dbx.HashExp{"event": event})
		if err != nil || len(entries) != 1 {
			t.Fatalf("%s entries: %d (%v), want 1", event, len(entries), err)
		}
		data := map[string]any{}
		if err := entries[0].UnmarshalJSONField("data", &data); err != nil {
			t.Fatal(err)
		}
		return data
	}
	field := func(data map[string]any, side, name string) any {
		m, _ := data[side].(map[string]any)
		return m[name]
	}
	scenarios := []tests.ApiScenario{
		{
			Name: "a policy edited to need no consent", Method: http.MethodPatch,
			URL:     "/api/collections/impersonation_policies/records/" + usersPolicyId,
			Headers: superuser, Body: jsonBody(map[string]any{"consent": "none"}),
			ExpectedStatus: 200, ExpectedContent: []string{`"consent":"none"`},
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				data := changeData(t, app, audit.PolicyUpdated)
				if field(data, "before", "consent") != "required" || field(data, "after", "consent") != "none" {
					t.Errorf("policy.updated data: %v", data)
				}
			},
		},
		{
			Name: "a policy deleted", Method: http.MethodDelete,
			URL:            "/api/collections/impersonation_policies/records/" + usersPolicyId,
			Headers:        superuser,
			ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				data := changeData(t, app, audit.PolicyDeleted)
				if field(data, "before", "collection") != "users" || data["after"] != nil {
					t.Errorf("policy.deleted data: %v", data)
				}
			},
		},
		{
			Name: "a collection's API rule changed", Method: http.MethodPatch,
			URL:     "/api/collections/demo2",
			Headers: superuser, Body: jsonBody(map[string]any{"deleteRule": `@request.headers.x_impersonation_session = ""`}),
			ExpectedStatus: 200, ExpectedContent: []string{`"deleteRule":"@request.headers.x_impersonation_session = \"\""`},
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				data := changeData(t, app, audit.CollectionRulesChanged)
				if data["collection"] != "demo2" || field(data, "before", "deleteRule") != "" || field(data, "after", "deleteRule") != `@request.headers.x_impersonation_session = ""` {
					t.Errorf("collection.rules_changed data: %v", data)
				}
			},
		},
		{
			Name: "a collection saved with the same rules", Method: http.MethodPatch,
			URL:     "/api/collections/demo2",
			Headers: superuser, Body: jsonBody(map[string]any{"listRule": ""}),
			ExpectedStatus: 200, ExpectedContent: []string{`"name":"demo2"`},
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectAudit(t)
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestFileTokensDieWithTheirSession holds the promise that a file token got
// while impersonating is the session's: it names the session, its
// downloads are checked, limited and audited like the session's other
// requests, and it stops working the moment the session ends.
func TestFileTokensDieWithTheirSession(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	users.Fields.Add(&core.FileField{Name: "secretDoc", Protected: true, MaxSelect: 1, MaxSize: 1 << 20})
	if err := app.Save(users); err != nil {
		t.Fatal(err)
	}
	user := mustFind(app, "users", userId)
	doc, err := filesystem.NewFileFromBytes([]byte("the user's secret"), "doc.txt")
	if err != nil {
		t.Fatal(err)
	}
	user.Set("secretDoc", doc)
	if err := app.Save(user); err != nil {
		t.Fatal(err)
	}
	fileURL := "/api/files/users/" + userId + "/" + mustFind(app, "users", userId).GetString("secretDoc")
	mux := serveMux(t, app.TestApp)

	own := fileToken(t, mux, userToken)
	if rec := send(mux, http.MethodGet, fileURL+"?token="+own, ""); rec.Code != 200 || rec.Body.String() != "the user's secret" {
		t.Fatalf("the user's own download: %d %s", rec.Code, rec.Body)
	}

	token := fileToken(t, mux, liveToken)
	if claims, ok, err := tokens.Peek(token); !ok || err != nil || claims.Session != liveSessionId || !claims.File {
		t.Fatalf("the file token got while impersonating does not name its session: %+v %v %v", claims, ok, err)
	}
	if rec := send(mux, http.MethodGet, fileURL+"?token="+token, ""); rec.Code != 200 || rec.Body.String() != "the user's secret" {
		t.Fatalf("download while the session is live: %d %s", rec.Code, rec.Body)
	}
	if rec := send(mux, http.MethodGet, "/api/collections/users/records/"+userId, token); rec.Code != http.StatusUnauthorized {
		t.Errorf("the file token as an auth token: %d, want 401", rec.Code)
	}
	var downloads int
	if err := logOf(app).Flush(); err != nil {
		t.Fatal(err)
	}
	if err := app.DB().NewQuery("SELECT count(*) FROM impersonation_audit WHERE event = 'request' AND session = {:s} AND path = {:p}").
		Bind(dbx.Params{"s": liveSessionId, "p": fileURL}).Row(&downloads); err != nil || downloads != 1 {
		t.Errorf("audited downloads: %d (%v), want 1", downloads, err)
	}

	// a rule that denies the user's records denies their files too
	app.updatePolicy(t, "users", func(p *records.Policy) {
		p.SetDeniedRoutes([]string{"GET /api/collections/users/records/" + userId})
	})
	if rec := send(mux, http.MethodGet, fileURL+"?token="+token, ""); rec.Code != http.StatusForbidden {
		t.Errorf("download of a denied record's file: %d, want 403", rec.Code)
	}
	app.updatePolicy(t, "users", func(p *records.Policy) { p.SetDeniedRoutes(nil) })

	if err := sessions.End(logOf(app), app, app.session(t, liveSessionId), records.EndStopped, app.clock.Now(), audit.Client{}); err != nil {
		t.Fatal(err)
	}
	if rec := send(mux, http.MethodGet, fileURL+"?token="+token, ""); rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("download after the session ended: %d %s, want 401", rec.Code, rec.Body)
	}
}

// TestRealtimeObeysWhatHTTPObeys holds the promise that a realtime client
// subscribed with an impersonation token gets only what its HTTP requests
// would: a collection whose API rule hides records from impersonators
// (@request.headers.x_impersonation_session) hides their events too, and a
// policy that denies a collection's records denies its topics.
func TestRealtimeObeysWhatHTTPObeys(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	demo2, err := app.FindCollectionByNameOrId("demo2")
	if err != nil {
		t.Fatal(err)
	}
	rule := `@request.headers.x_impersonation_session = "" || title ~ "visible"`
	demo2.ListRule = &rule
	if err := app.Save(demo2); err != nil {
		t.Fatal(err)
	}

	// handled counts the demo2 messages each client's stream has handled
	// (dropped or written); delivered names those that went through
	var mu sync.Mutex
	handled := map[string]int{}
	delivered := map[string][]string{}
	handledCh := make(chan string, 100)
	app.OnRealtimeMessageSend().Bind(&hook.Handler[*core.RealtimeMessageEvent]{Priority: -1, Func: func(e *core.RealtimeMessageEvent) error {
		err := e.Next()
		if strings.HasPrefix(e.Message.Name, "demo2") {
			mu.Lock()
			handled[e.Client.Id()]++
			mu.Unlock()
			handledCh <- e.Client.Id()
		}
		return err
	}})
	app.OnRealtimeMessageSend().Bind(&hook.Handler[*core.RealtimeMessageEvent]{Priority: 1, Func: func(e *core.RealtimeMessageEvent) error {
		if strings.HasPrefix(e.Message.Name, "demo2") {
			var event struct{ Record struct{ Title string } }
			_ = json.Unmarshal(e.Message.Data, &event)
			mu.Lock()
			delivered[e.Client.Id()] = append(delivered[e.Client.Id()], event.Record.Title)
			mu.Unlock()
		}
		return e.Next()
	}})

	server := httptest.NewServer(serveMux(t, app.TestApp))
	defer server.Close()
	// canceled before server.Close, which waits for open streams
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subscribe := func(token, topic string) string {
		id, _ := connectRealtime(t, ctx, server.URL)
		if sub := post(t, server.URL+"/api/realtime", `{"clientId":"`+id+`","subscriptions":["`+topic+`"]}`, token); sub.StatusCode != http.StatusNoContent {
			t.Fatalf("subscribe to %s: %d", topic, sub.StatusCode)
		}
		return id
	}
	own := subscribe(userToken, "demo2")
	impersonated := subscribe(liveToken, "demo2")

	for _, title := range []string{"hidden one", "visible one", "hidden two", "visible two"} {
		r := core.NewRecord(demo2)
		r.Set("title", title)
		if err := app.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	// every event has been handled by both streams (no deadline: go test's -timeout)
	for {
		mu.Lock()
		done := handled[own] == 4 && handled[impersonated] == 4
		mu.Unlock()
		if done {
			break
		}
		<-handledCh
	}
	mu.Lock()
	defer mu.Unlock()
	if got := len(delivered[own]); got != 4 {
		t.Errorf("the user's own client got %d events, want 4: %v", got, delivered[own])
	}
	slices.Sort(delivered[impersonated])
	if got := strings.Join(delivered[impersonated], ","); got != "visible one,visible two" {
		t.Errorf("the impersonation client got %q, want only the visible records", got)
	}

	app.updatePolicy(t, "users", func(p *records.Policy) { p.SetDeniedRoutes([]string{"GET /api/collections/demo2/records*"}) })
	for _, topic := range []string{"demo2", "DEMO2/*", "sz5l5z67tg7gku0/anything000001"} {
		id, _ := connectRealtime(t, ctx, server.URL)
		sub := post(t, server.URL+"/api/realtime", `{"clientId":"`+id+`","subscriptions":["`+topic+`"]}`, liveToken)
		if sub.StatusCode != http.StatusForbidden {
			t.Errorf("subscription to %s under a policy denying demo2's records: %d, want 403", topic, sub.StatusCode)
		}
	}
}

// TestRouteRulesCoverExpand holds the promise that a policy denying a
// collection's records denies them wherever PocketBase would serve them:
// through an expand of a relation or a back-relation, in REST and in a
// realtime subscription's options.
func TestRouteRulesCoverExpand(t *testing.T) {
	t.Parallel()
	deny := func(rule string) func(testing.TB, *testApp) {
		return func(t testing.TB, app *testApp) {
			app.updatePolicy(t, "users", func(p *records.Policy) { p.SetDeniedRoutes([]string{rule}) })
		}
	}
	denied := []string{`"status":403`, `"message":"This action is not allowed while impersonating."`, `"code":"denied"`}
	scenarios := []tests.ApiScenario{
		{
			Name: "expand of a relation to a denied collection", Method: http.MethodGet,
			URL:     "/api/collections/users/records/" + userId + "?expand=rel",
			Headers: map[string]string{"Authorization": liveToken}, ExpectedStatus: 403, ExpectedContent: denied,
			TestAppFactory: factory(plugin.Config{}, deny("* /api/collections/demo2/records*")),
		},
		{
			Name: "expand of a back-relation from a denied collection", Method: http.MethodGet,
			URL:     "/api/collections/demo2/records?expand=" + url.QueryEscape("users_via_rel"),
			Headers: map[string]string{"Authorization": liveToken}, ExpectedStatus: 403, ExpectedContent: denied,
			TestAppFactory: factory(plugin.Config{}, deny("GET /api/collections/users/records*")),
		},
		{
			Name: "a nested expand reaching a denied collection", Method: http.MethodGet,
			URL:     "/api/collections/demo2/records?expand=" + url.QueryEscape("users_via_rel.rel"),
			Headers: map[string]string{"Authorization": liveToken}, ExpectedStatus: 403, ExpectedContent: denied,
			TestAppFactory: factory(plugin.Config{}, deny("GET /api/collections/demo2/records/*")),
		},
		{
			Name: "the same expand without the rule", Method: http.MethodGet,
			URL:     "/api/collections/users/records/" + userId + "?expand=rel",
			Headers: map[string]string{"Authorization": liveToken}, ExpectedStatus: 200, ExpectedContent: []string{`"id":"` + userId + `"`},
			TestAppFactory: factory(plugin.Config{}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}

	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	deny("* /api/collections/demo2/records*")(t, app)
	server := httptest.NewServer(serveMux(t, app.TestApp))
	defer server.Close()
	// canceled before server.Close, which waits for open streams
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id, _ := connectRealtime(t, ctx, server.URL)
	options := url.QueryEscape(`{"query":{"expand":"rel"}}`)
	if sub := post(t, server.URL+"/api/realtime", `{"clientId":"`+id+`","subscriptions":["users/`+userId+`?options=`+options+`"]}`, liveToken); sub.StatusCode != http.StatusForbidden {
		t.Errorf("a realtime subscription expanding a denied collection: %d, want 403", sub.StatusCode)
	}
}

// TestBatchURLQueryIsTheRequests holds the promise that a batch request's
// URL query counts as what it is to PocketBase: body fields (a batch
// request is bound as a multipart form, which takes the query's values) and
// expand, filter and sort.
func TestBatchURLQueryIsTheRequests(t *testing.T) {
	t.Parallel()
	batch := func(method, url string, body map[string]any) io.Reader {
		return jsonBody(map[string]any{"requests": []map[string]any{{"method": method, "url": url, "body": body}}})
	}
	never := []string{`"status":403`, `"message":"This action is never allowed while impersonating."`, `"code":"never_allowed"`}
	denied := []string{`"status":403`, `"message":"This action is not allowed while impersonating."`, `"code":"denied"`}
	denyDemo2 := func(t testing.TB, app *testApp) {
		enableBatch(t, app)
		app.updatePolicy(t, "users", func(p *records.Policy) { p.SetDeniedRoutes([]string{"* /api/collections/demo2/records*"}) })
	}
	unchanged := func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		user := mustFind(app, "users", userId)
		if !user.ValidatePassword("1234567890") || user.Verified() || user.Email() != "test@example.com" {
			t.Error("the user's account changed")
		}
	}
	userURL := "/api/collections/users/records/" + userId
	var scenarios []tests.ApiScenario
	for name, query := range map[string]string{
		"password in the query":     "?password=Hacked12345!&passwordConfirm=Hacked12345!",
		"verified in the query":     "?verified=true",
		"email in the query":        "?email=evil@example.com",
		"@jsonPayload in the query": "?" + url.Values{"@jsonPayload": {`{"verified":true}`}}.Encode(),
	} {
		scenarios = append(scenarios, tests.ApiScenario{
			Name: name, Method: http.MethodPost, URL: "/api/batch",
			Headers:        map[string]string{"Authorization": writeToken},
			Body:           batch("PATCH", userURL+query, map[string]any{"name": "x"}),
			ExpectedStatus: 403, ExpectedContent: never,
			TestAppFactory: factory(plugin.Config{}, enableBatch),
			AfterTestFunc:  unchanged,
		})
	}
	scenarios = append(scenarios,
		tests.ApiScenario{
			Name: "creating an auth record with a password in the query", Method: http.MethodPost, URL: "/api/batch",
			Headers:        map[string]string{"Authorization": writeToken},
			Body:           batch("POST", "/api/collections/users/records?email=created@example.com&password=Created12345!&passwordConfirm=Created12345!", map[string]any{"name": "c"}),
			ExpectedStatus: 403, ExpectedContent: never,
			TestAppFactory: factory(plugin.Config{}, enableBatch),
		},
		tests.ApiScenario{
			Name: "expand in the query reaching a denied collection", Method: http.MethodPost, URL: "/api/batch",
			Headers:        map[string]string{"Authorization": writeToken},
			Body:           batch("PATCH", userURL+"?expand=rel", map[string]any{"name": "x"}),
			ExpectedStatus: 403, ExpectedContent: denied,
			TestAppFactory: factory(plugin.Config{}, denyDemo2),
		},
	)
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestFiltersCannotReadDeniedRecords holds the promise that a denied
// collection's values cannot be told apart one guess at a time: a filter or
// sort that reads it through a relation or back-relation is refused, in
// REST and in realtime options.
func TestFiltersCannotReadDeniedRecords(t *testing.T) {
	t.Parallel()
	deny := func(rule string) func(testing.TB, *testApp) {
		return func(t testing.TB, app *testApp) {
			app.updatePolicy(t, "users", func(p *records.Policy) { p.SetDeniedRoutes([]string{rule}) })
		}
	}
	denied := []string{`"status":403`, `"message":"This action is not allowed while impersonating."`, `"code":"denied"`}
	var scenarios []tests.ApiScenario
	for name, query := range map[string]string{
		"filter through a relation":      "filter=" + url.QueryEscape(`rel.title = "test1"`),
		"filter with a modifier":         "filter=" + url.QueryEscape(`rel.title:lower ~ "test"`),
		"sort through a relation":        "sort=" + url.QueryEscape("-rel.title"),
		"filter through a back-relation": "filter=" + url.QueryEscape(`rel.users_via_rel.name ?= "x"`),
	} {
		scenarios = append(scenarios, tests.ApiScenario{
			Name: name, Method: http.MethodGet, URL: "/api/collections/users/records?" + query,
			Headers:        map[string]string{"Authorization": liveToken},
			ExpectedStatus: 403, ExpectedContent: denied,
			TestAppFactory: factory(plugin.Config{}, deny("* /api/collections/demo2/records*")),
		})
	}
	scenarios = append(scenarios,
		tests.ApiScenario{
			Name: "a relation's name inside a string is no path", Method: http.MethodGet,
			URL:     "/api/collections/users/records?filter=" + url.QueryEscape(`name != "rel.title"`),
			Headers: map[string]string{"Authorization": liveToken},
			// past the plugin, PocketBase's own rule answers (users list: superusers only)
			ExpectedStatus: 403, ExpectedContent: []string{`"message":"Only superusers can perform this action."`},
			TestAppFactory: factory(plugin.Config{}, deny("* /api/collections/demo2/records*")),
		},
		tests.ApiScenario{
			Name: "the filter without the rule", Method: http.MethodGet,
			URL:     "/api/collections/users/records?filter=" + url.QueryEscape(`rel.title = "test1"`),
			Headers: map[string]string{"Authorization": liveToken},
			// past the plugin, PocketBase's own rule answers (users list: superusers only)
			ExpectedStatus: 403, ExpectedContent: []string{`"message":"Only superusers can perform this action."`},
			TestAppFactory: factory(plugin.Config{}, nil),
		},
	)
	for _, s := range scenarios {
		s.Test(t)
	}

	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	deny("* /api/collections/demo2/records*")(t, app)
	server := httptest.NewServer(serveMux(t, app.TestApp))
	defer server.Close()
	// canceled before server.Close, which waits for open streams
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, options := range []string{`{"query":{"filter":"rel.title = 'test1'"}}`, `{"query":{"filter":"rel.title = 'test1'"}}x`} {
		id, _ := connectRealtime(t, ctx, server.URL)
		body, _ := json.Marshal(map[string]any{"clientId": id, "subscriptions": []string{"users/*?options=" + url.QueryEscape(options)}})
		if sub := post(t, server.URL+"/api/realtime", string(body), liveToken); sub.StatusCode != http.StatusForbidden {
			t.Errorf("a realtime filter reading a denied collection (%s): %d, want 403", options, sub.StatusCode)
		}
	}
}

// TestRealtimeOptionsAreReadAsPocketBaseReadsThem subscribes with options
// that a stricter parser would reject (bytes after the JSON) but PocketBase
// applies: the plugin sees them as PocketBase does, so a forged session
// header is refused and so is a realtime expand while impersonating (an
// expand of a realtime event is fetched without the session header).
func TestRealtimeOptionsAreReadAsPocketBaseReadsThem(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	server := httptest.NewServer(serveMux(t, app.TestApp))
	defer server.Close()
	// canceled before server.Close, which waits for open streams
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct{ token, options string }{
		{userToken, `{"headers":{"x_impersonation_session":"forged"}}x`},
		{"", `{"headers":{"x_impersonation_session":"forged"}}x`},
		{liveToken, `{"query":{"expand":"rel"}}`},
		{liveToken, `{"query":{"expand":"rel"}}x`},
	} {
		id, _ := connectRealtime(t, ctx, server.URL)
		body, _ := json.Marshal(map[string]any{"clientId": id, "subscriptions": []string{"users/*?options=" + c.options}})
		if sub := post(t, server.URL+"/api/realtime", string(body), c.token); sub.StatusCode != http.StatusForbidden {
			t.Errorf("subscription with options %s: %d, want 403", c.options, sub.StatusCode)
		}
	}
}

// TestRenamingACollectionKeepsItsRules holds the promise that a rule
// denying a collection's records does not lapse when the collection is
// renamed: the rename is carried into the policy (an audited edit).
func TestRenamingACollectionKeepsItsRules(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	app.updatePolicy(t, "users", func(p *records.Policy) {
		p.SetDeniedRoutes([]string{"* /api/collections/demo2/records*", "GET /api/files/demo2/*"})
	})
	mux := serveMux(t, app.TestApp)
	call := func(method, url, body, token string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, request(method, url, body, token))
		return rec
	}
	if rec := call(http.MethodPatch, "/api/collections/demo2", `{"name":"demo2renamed"}`, superuserToken); rec.Code != http.StatusOK {
		t.Fatalf("rename: %d %s", rec.Code, rec.Body)
	}
	if got, _ := app.policy(t, "users").DeniedRoutes(); strings.Join(got, ",") != "* /api/collections/demo2renamed/records*,GET /api/files/demo2renamed/*" {
		t.Errorf("the policy's rules after the rename: %v", got)
	}
	for _, name := range []string{"demo2renamed", "sz5l5z67tg7gku0"} {
		if rec := call(http.MethodGet, "/api/collections/"+name+"/records", "", writeToken); rec.Code != http.StatusForbidden {
			t.Errorf("the renamed collection's records as %s: %d, want 403", name, rec.Code)
		}
	}
	if events := app.auditEvents(t, dbx.HashExp{"event": audit.PolicyUpdated}); len(events) != 2 {
		t.Errorf("policy.updated entries: %v, want the test's edit and the rename's", events)
	}
}
