package plugin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dop251/goja"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
	"github.com/pbimpersonation/impersonation/plugin/pbhooks"
)

// exampleHooks is the pb_hooks file of the README.
const exampleHooks = "../examples/pb_hooks/impersonation.pb.js"

// registerJS registers PocketBase's jsvm plugin on app, with the plugin's
// JS bindings (JSConfig) and a pb_hooks directory holding files (name:
// source), and a pool of poolSize runtimes. onInit, if not nil, is the
// app's own jsvm OnInit.
func registerJS(t testing.TB, app *testApp, poolSize int, onInit func(*goja.Runtime), files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	jsvm.MustRegister(app, pbhooks.Config(app.plugin, jsvm.Config{
		HooksDir:      dir,
		HooksPoolSize: poolSize,
		OnInit:        onInit,
		MigrationsDir: t.TempDir(), // none: jsvm's default is beside the data dir
		TypesDir:      t.TempDir(),
	}))
}

// withJS returns an app factory for newTestApp with jsvm registered on it
// (registerJS), loading files.
func withJS(files map[string]string) func(testing.TB) *tests.TestApp {
	return factory(plugin.Config{}, func(t testing.TB, app *testApp) { registerJS(t, app, 2, nil, files) })
}

// example returns the README's pb_hooks file.
func example(t testing.TB) map[string]string {
	src, err := os.ReadFile(exampleHooks)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"impersonation.pb.js": string(src)}
}

// startedData returns the data of the session.started entry of app's
// audit.
func startedData(t testing.TB, app *tests.TestApp) map[string]any {
	t.Helper()
	if err := logOf(app).Flush(); err != nil {
		t.Fatal(err)
	}
	entry, err := app.FindFirstRecordByData(records.AuditCollection, "event", "session.started")
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{}
	if err := entry.UnmarshalJSONField("data", &data); err != nil {
		t.Fatal(err)
	}
	return data
}

// expectStartedData fails t unless the session.started entry's data has
// want (keys and values, as JSON).
func expectStartedData(want map[string]any) func(testing.TB, *tests.TestApp, *http.Response) {
	return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		data := startedData(t, app)
		for k, v := range want {
			got, _ := json.Marshal(data[k])
			exp, _ := json.Marshal(v)
			if string(got) != string(exp) {
				t.Errorf("session.started data %q: got %s, want %s (data %v)", k, got, exp, data)
			}
		}
	}
}

// TestJSHooksExample runs the README's pb_hooks file through the jsvm plugin.
func TestJSHooksExample(t *testing.T) {
	t.Parallel()
	files := example(t)
	whoami := "/api/myapp/whoami"
	scenarios := []tests.ApiScenario{
		{
			Name:            "a write session without a ticket is refused by the JS handler",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"mode": "write"}),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"Write sessions need a ticket number (#123) in the reason."`},
			TestAppFactory:  withJS(files),
			AfterTestFunc:   expectDenied("session.denied:vetoed"),
		},
		{
			Name:            "a write session with a ticket starts, its ticket in the audit",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, map[string]any{"mode": "write", "reason": "ticket #42"}),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"mode":"write"`, `"reason":"ticket #42"`},
			TestAppFactory:  withJS(files),
			AfterTestFunc:   expectStartedData(map[string]any{"ticket": "42", "by": "test@example.com"}),
		},
		{
			Name:            "a read session without a ticket starts",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"mode":"read"`},
			TestAppFactory:  withJS(files),
			AfterTestFunc:   expectStartedData(map[string]any{"ticket": "none"}),
		},
		{
			Name:            "a JS route sees the impersonation of a request and who makes it",
			Method:          http.MethodGet,
			URL:             whoami,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"impersonated":true`, `"by":"` + superuserId + `"`, `"session":"` + liveSessionId + `"`, `"mode":"read"`},
			TestAppFactory:  withJS(files),
		},
		{
			Name:               "a JS route sees no impersonation in the user's own request",
			Method:             http.MethodGet,
			URL:                whoami,
			Headers:            map[string]string{"Authorization": userToken},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"impersonated":false`},
			NotExpectedContent: []string{`"by"`},
			TestAppFactory:     withJS(files),
		},
		{
			Name:            "a JS route sees no impersonation in a superuser's request",
			Method:          http.MethodGet,
			URL:             whoami,
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"impersonated":false`},
			TestAppFactory:  withJS(files),
		},
		{
			Name:            "a JS route sees no impersonation in a guest's request",
			Method:          http.MethodGet,
			URL:             whoami,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"impersonated":false`},
			TestAppFactory:  withJS(files),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestJSOnImpersonationStart: what a start handler of a pb_hooks file sees,
// changes and refuses.
func TestJSOnImpersonationStart(t *testing.T) {
	t.Parallel()
	hooks := func(handler string) map[string]string {
		return map[string]string{"start.pb.js": "onImpersonationStart(" + handler + ")"}
	}
	scenarios := []tests.ApiScenario{
		{
			Name:    "the handler sees the start and changes it",
			Method:  http.MethodPost,
			URL:     sessionsURL,
			Body:    startBody("users", userId, map[string]any{"mode": "write", "minutes": 30}),
			Headers: map[string]string{"Authorization": superuserToken},
			TestAppFactory: withJS(hooks(`(e) => {
				e.data.seen = {
					mode: e.mode,
					modeIsString: typeof e.mode === "string",
					minutes: e.minutes,
					reason: e.reason,
					actor: e.actor.id,
					target: e.target.id,
					policy: e.policy.get("collection"),
					now: e.now.unix() > 0,
					method: e.request.request.method,
					app: e.app === $app,
					impersonated: $impersonation.fromRequest(e.request) !== null,
				};
				e.mode = "read";
				e.minutes = 5;
				e.reason += " [js]";
				e.next();
			}`)),
			ExpectedStatus:  200,
			ExpectedContent: []string{`"mode":"read"`, `"reason":"ticket 42 [js]"`},
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectStartedData(map[string]any{"seen": map[string]any{
					"mode": "write", "modeIsString": true, "minutes": 30, "reason": "ticket 42",
					"actor": superuserId, "target": userId, "policy": "users", "now": true,
					"method": "POST", "app": true, "impersonated": false,
				}})(t, app, res)
				live, err := records.FindLiveSessions(app, "reason = 'ticket 42 [js]'", nil)
				if err != nil || len(live) != 1 {
					t.Fatalf("live sessions of the start: %d (%v)", len(live), err)
				}
				s := live[0]
				if d := s.Expires().Sub(s.GetDateTime("created").Time()); d < 4*60e9 || d > 6*60e9 {
					t.Errorf("session length %v, want the handler's 5 minutes", d)
				}
			},
		},
		{
			Name:            "data set as a whole goes to the audit",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         map[string]string{"Authorization": superuserToken},
			TestAppFactory:  withJS(hooks(`(e) => { e.data = {ticket: "T-7", tags: ["a", "b"]}; e.next() }`)),
			ExpectedStatus:  200,
			ExpectedContent: []string{`"token":`},
			AfterTestFunc:   expectStartedData(map[string]any{"ticket": "T-7", "tags": []string{"a", "b"}}),
		},
		{
			Name:               "a thrown Error refuses with the generic refusal",
			Method:             http.MethodPost,
			URL:                sessionsURL,
			Body:               startBody("users", userId, nil),
			Headers:            map[string]string{"Authorization": superuserToken},
			TestAppFactory:     withJS(hooks(`(e) => { throw new Error("internal detail") }`)),
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"message":"You are not allowed to impersonate this record."`, `"code":"not_allowed"`},
			NotExpectedContent: []string{"internal detail"},
			AfterTestFunc:      expectDenied("session.denied:vetoed"),
		},
		{
			Name:            "a returned e.request.forbiddenError refuses as it is",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         map[string]string{"Authorization": superuserToken},
			TestAppFactory:  withJS(hooks(`(e) => { return e.request.forbiddenError("Not during the freeze.", null) }`)),
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"Not during the freeze."`},
			AfterTestFunc:   expectDenied("session.denied:vetoed"),
		},
		{
			Name:            "a handler that does not call e.next() refuses",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         map[string]string{"Authorization": superuserToken},
			TestAppFactory:  withJS(hooks(`(e) => {}`)),
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"not_allowed"`},
			AfterTestFunc:   expectDenied("session.denied:vetoed"),
		},
		{
			Name:            "the policy still judges the start a handler changed",
			Method:          http.MethodPost,
			URL:             sessionsURL,
			Body:            startBody("users", userId, nil),
			Headers:         map[string]string{"Authorization": superuserToken},
			TestAppFactory:  withJS(hooks(`(e) => { e.target = e.app.findRecordById("users", "` + user3Id + `"); e.next() }`)),
			ExpectedStatus:  403,
			ExpectedContent: []string{`"code":"consent_required"`},
			AfterTestFunc:   expectDenied("session.denied:consent_required"),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestJSOnImpersonationEnd: an end handler of a pb_hooks file sees every
// end, with its cause.
func TestJSOnImpersonationEnd(t *testing.T) {
	t.Parallel()
	hooks := map[string]string{"end.pb.js": `onImpersonationEnd((e) => {
		const seen = $app.store().get("js.ended") || "";
		$app.store().set("js.ended", seen + e.session.id + ":" + e.session.endCause + ":" + e.session.mode + ";");
		e.next();
	})`}
	expectEnded := func(want string) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			if got, _ := app.Store().Get("js.ended").(string); got != want {
				t.Errorf("ends seen in JS: %q, want %q", got, want)
			}
		}
	}
	scenarios := []tests.ApiScenario{
		{
			Name:           "stopped",
			Method:         http.MethodPost,
			URL:            sessionsURL + "/" + liveSessionId + "/end",
			Headers:        map[string]string{"Authorization": superuserToken},
			TestAppFactory: withJS(hooks),
			ExpectedStatus: 204,
			AfterTestFunc:  expectEnded(liveSessionId + ":stopped:read;"),
		},
		{
			Name:            "the policy no longer allows the session's mode",
			Method:          http.MethodPatch,
			URL:             "/api/collections/" + records.PoliciesCollection + "/records/" + usersPolicyId,
			Body:            jsonBody(map[string]any{"modes": []string{"read"}}),
			Headers:         map[string]string{"Authorization": superuserToken},
			TestAppFactory:  withJS(hooks),
			ExpectedStatus:  200,
			ExpectedContent: []string{`"modes":["read"]`},
			AfterTestFunc:   expectEnded(writeSessionId + ":policy_changed:write;"),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestJSHandlersRuntime: a JS handler's runtime has the globals of jsvm's
// own executors (those of the app's OnInit too), but cronAdd and
// cronRemove, which jsvm keeps to its executors.
func TestJSHandlersRuntime(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	globals := `Object.getOwnPropertyNames(globalThis).sort()`
	registerJS(t, app, 1, func(vm *goja.Runtime) { vm.Set("$appGlobal", 1) }, map[string]string{"globals.pb.js": `
		routerAdd("GET", "/api/js/globals", (e) => e.json(200, ` + globals + `));
		onImpersonationStart((e) => { e.data = {globals: ` + globals + `}; e.next() });
	`})
	mux := serveMux(t, app.TestApp)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, request(http.MethodGet, "/api/js/globals", "", ""))
	var executor []string
	if err := json.Unmarshal(rec.Body.Bytes(), &executor); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, request(http.MethodPost, sessionsURL, `{"collection":"users","record":"`+userId+`","reason":"ticket 42"}`, superuserToken))
	if rec.Code != 200 {
		t.Fatalf("start: %d %s", rec.Code, rec.Body)
	}
	var handler []string
	for _, g := range startedData(t, app.TestApp)["globals"].([]any) {
		handler = append(handler, g.(string))
	}

	var missing, extra []string
	for _, g := range executor {
		if !slices.Contains(handler, g) {
			missing = append(missing, g)
		}
	}
	for _, g := range handler {
		if !slices.Contains(executor, g) {
			extra = append(extra, g)
		}
	}
	if strings.Join(missing, ",") != "cronAdd,cronRemove" || len(extra) != 0 {
		t.Errorf("globals of a JS handler against jsvm's executors: missing %v, extra %v", missing, extra)
	}
	for _, g := range []string{"$appGlobal", "$impersonation", "$app", "$apis", "__hooks", "require"} {
		if !slices.Contains(handler, g) {
			t.Errorf("a JS handler has no %s", g)
		}
	}
}

// TestJSHandlersConcurrently starts sessions in parallel, each through a
// JS handler that works a while: each start gets its own runtime, and its
// own changes. Run it with -race: a runtime used by two goroutines at once
// is a data race.
func TestJSHandlersConcurrently(t *testing.T) {
	t.Parallel()
	pol := usersPolicy()
	pol.AttemptsPerMinute = 100
	app := newTestApp(t, plugin.Config{Policies: []plugin.Policy{pol}})
	defer app.Cleanup()
	registerJS(t, app, 2, nil, map[string]string{"start.pb.js": `onImpersonationStart((e) => {
		let sum = 0;
		for (let i = 0; i < 20000; i++) { sum += i % 7 }
		e.data = {reason: e.reason, sum: sum};
		e.reason = e.reason + " [js]";
		e.next();
	})`})
	mux := serveMux(t, app.TestApp)

	const starts = 8
	var wg sync.WaitGroup
	codes := make([]int, starts)
	for i := range starts {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			target := []string{userId, user2Id}[i%2]
			body := fmt.Sprintf(`{"collection":"users","record":%q,"reason":"ticket %d"}`, target, i)
			mux.ServeHTTP(rec, request(http.MethodPost, sessionsURL, body, superuserToken))
			codes[i] = rec.Code
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Errorf("start %d: %d", i, code)
		}
	}

	// each session.started entry has the data of its own start
	if err := logOf(app).Flush(); err != nil {
		t.Fatal(err)
	}
	started, err := app.FindAllRecords(records.AuditCollection, dbx.HashExp{"event": "session.started"})
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != starts {
		t.Fatalf("%d session.started entries, want %d", len(started), starts)
	}
	for _, entry := range started {
		data := map[string]any{}
		if err := entry.UnmarshalJSONField("data", &data); err != nil {
			t.Fatal(err)
		}
		s := app.session(t, entry.GetString("session"))
		if want := data["reason"].(string) + " [js]"; s.Reason() != want || data["sum"] != float64(59997) {
			t.Errorf("session %s: reason %q, data %v: want reason %q and sum 59997", s.Id, s.Reason(), data, want)
		}
	}
}

// TestJSHooksExampleInREADME: the README shows the pb_hooks file the tests
// load, as it is.
func TestJSHooksExampleInREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src := example(t)["impersonation.pb.js"]
	if !strings.Contains(string(readme), "```js\n"+src+"```\n") {
		t.Errorf("README.md does not show %s as it is", exampleHooks)
	}
}

// TestJSBinderRefusesANonFunction: a pb_hooks file that binds something
// else than a function fails to load, naming the binder.
func TestJSBinderRefusesANonFunction(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	defer func() {
		if msg := fmt.Sprint(recover()); !strings.Contains(msg, "onImpersonationEnd: the handler must be a function") {
			t.Errorf("loading the file: %s", msg)
		}
	}()
	registerJS(t, app, 0, nil, map[string]string{"bad.pb.js": `onImpersonationEnd("not a function")`})
}
