package plugin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/plugin"

	"github.com/pbimpersonation/impersonation/internal/testapp"
)

// TestRegisterOnAFreshApp proves the plugin is importable by any app: it
// registers on a plain test app, which then has the collections, and writes
// its policies when the server starts.
func TestRegisterOnAFreshApp(t *testing.T) {
	t.Parallel()
	app, err := tests.NewTestApp()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()

	for _, name := range records.Names {
		if _, err := app.FindCollectionByNameOrId(name); err != nil {
			t.Fatalf("collection %s is missing: %v", name, err)
		}
	}
	plugin.MustRegister(app, plugin.Config{Policies: []plugin.Policy{{Collection: "users"}}})
	if _, err := records.FindPolicy(app, "users"); err == nil {
		t.Fatal("the policy was written before the server started")
	}

	e := &core.ServeEvent{App: app, Router: router.NewRouter[*core.RequestEvent](nil)}
	if err := app.OnServe().Trigger(e, func(*core.ServeEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	p, err := records.FindPolicy(app, "users")
	if err != nil {
		t.Fatal(err)
	}
	// the defaults of main.go's policy, as the core issue states them
	if !p.Enabled() || p.ImpersonatorRule() != "" || p.Consent() != records.ConsentRequired || !p.ReasonRequired() ||
		p.MaxMinutes() != 60 || !slices.Equal(p.Modes(), []records.Mode{records.ModeRead, records.ModeWrite}) ||
		p.DefaultMode() != records.ModeRead || p.AttemptsPerMinute() != 5 || p.ConsentMaxHours() != 168 || !p.ShowLiveSessions() {
		t.Errorf("seeded policy: %v", p.PublicExport())
	}

	// a policy edited in the dashboard is not overwritten at the next start
	p.SetMaxMinutes(15)
	if err := app.Save(p); err != nil {
		t.Fatal(err)
	}
	if err := app.OnServe().Trigger(e, func(*core.ServeEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if p, _ := records.FindPolicy(app, "users"); p.MaxMinutes() != 15 {
		t.Errorf("the seed overwrote the edited policy: maxMinutes %d", p.MaxMinutes())
	}
}

func TestRegisterRefusesBadConfig(t *testing.T) {
	t.Parallel()
	cases := map[string]plugin.Config{
		"a policy with no collection":       {Policies: []plugin.Policy{{}}},
		"a reason maximum over 1000":        {ReasonMaxLength: 1001},
		"a reason minimum over the maximum": {ReasonMinLength: 50, ReasonMaxLength: 10},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			app, err := testapp.NewApp()
			if err != nil {
				t.Fatal(err)
			}
			defer app.Cleanup()
			if _, err := plugin.Register(app, cfg); err == nil {
				t.Error("Register accepted the config")
			}
		})
	}
}

// TestAnUnseedablePolicyDoesNotStopTheApp: a policy of Config.Policies
// that does not validate is skipped (and logged with what to fix), the
// valid ones are written and the server starts; with StrictPolicies the
// start fails with that message.
func TestAnUnseedablePolicyDoesNotStopTheApp(t *testing.T) {
	t.Parallel()
	for name, pol := range map[string]plugin.Policy{
		"unknown collection": {Collection: "nosuch"},
		"superusers":         {Collection: core.CollectionNameSuperusers},
		"invalid rule":       {Collection: "users", ImpersonatorRule: "nosuchfield ="},
		"unknown field":      {Collection: "users", ImpersonatorRule: `@request.auth.role = "support" && role != "admin"`},
	} {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, strict %v", name, strict), func(t *testing.T) {
				app := testapp.New(t)
				valid := plugin.Policy{Collection: "clients"}
				plugin.MustRegister(app, plugin.Config{Policies: []plugin.Policy{pol, valid}, StrictPolicies: strict})
				e := &core.ServeEvent{App: app, Router: router.NewRouter[*core.RequestEvent](nil)}
				err := app.OnServe().Trigger(e, func(*core.ServeEvent) error { return nil })
				switch {
				case strict && (err == nil || !strings.Contains(err.Error(), "Fix it in Config.Policies")):
					t.Fatalf("a strict start: %v, want the policy's error and its fix", err)
				case !strict && err != nil:
					t.Fatalf("the server did not start: %v", err)
				}
				if _, err := records.FindPolicy(app, pol.Collection); err == nil {
					t.Error("the invalid policy was written")
				}
				if _, err := records.FindPolicy(app, "clients"); !strict && err != nil {
					t.Errorf("the valid policy was not written: %v", err)
				}
			})
		}
	}
}

// TestExpireSessionsJob runs the scheduled job that ends sessions whose time
// is up, so the dashboard does not show them live.
func TestExpireSessionsJob(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()

	var run func()
	for _, j := range app.Cron().Jobs() {
		if j.Id() == ids.ExpireSessionsJobId {
			run = j.Run
		}
	}
	if run == nil {
		t.Fatal("no expiry job")
	}

	run()
	app.expectEnded(t, expiredSessionId, records.EndExpired)
	app.expectLive(t, liveSessionId)

	app.clock.Advance(sessionLength + time.Second)
	run()
	for _, id := range []string{liveSessionId, writeSessionId, clientSessionId} {
		app.expectEnded(t, id, records.EndExpired)
	}
	app.expectAudit(t, "session.ended:expired", "session.ended:expired", "session.ended:expired", "session.ended:expired")
}

// TestConcurrentStartsRaceTheAttemptLimit fires more concurrent starts than
// the limit allows: exactly the limit gets past it, and every attempt is
// audited.
func TestConcurrentStartsRaceTheAttemptLimit(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	mux := serveMux(t, app.TestApp)

	const attempts, limit = 20, 5
	var wg sync.WaitGroup
	var started, limited, other atomic.Int32
	for range attempts {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, request(http.MethodPost, sessionsURL, `{"collection":"users","record":"`+userId+`","reason":"ticket 42"}`, superuserToken))
			switch rec.Code {
			case 200:
				started.Add(1)
			case 429:
				limited.Add(1)
			default:
				other.Add(1)
				t.Logf("an attempt answered %d: %s", rec.Code, rec.Body)
			}
		})
	}
	wg.Wait()
	if started.Load() != limit || limited.Load() != attempts-limit || other.Load() != 0 {
		t.Errorf("started %d, limited %d, other %d; want %d, %d, 0", started.Load(), limited.Load(), other.Load(), limit, attempts-limit)
	}
	// the attempts over the limit are counted in session.throttled entries
	app.clock.Advance(time.Minute)
	runJob(t, app, ids.ThrottledJobId)
	events := strings.Join(app.auditEvents(t, nil), ",")
	if n := strings.Count(events, "session.started"); n != limit {
		t.Errorf("session.started entries: %d", n)
	}
	var throttled int
	err := app.RecordQuery(records.AuditCollection).Select("COALESCE(SUM(json_extract(data, '$.count')), 0)").
		AndWhere(dbx.HashExp{"event": "session.throttled"}).Row(&throttled)
	if err != nil || throttled != attempts-limit || strings.Count(events, "session.throttled") > 2 {
		t.Errorf("session.throttled entries %q count %d (%v), want at most 2 counting %d", events, throttled, err, attempts-limit)
	}
}

// send sends mux a request made with token (none when "") and returns its
// answer.
func send(mux http.Handler, method, url, token string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, request(method, url, "", token))
	return rec
}

// fileToken returns the file token mux gives the holder of token.
func fileToken(t testing.TB, mux http.Handler, token string) string {
	t.Helper()
	rec := send(mux, http.MethodPost, "/api/files/token", token)
	var out struct{ Token string }
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
		t.Fatalf("file token: %d %s", rec.Code, rec.Body)
	}
	return out.Token
}

// serveMux returns the app's full HTTP handler, as `serve` builds it.
func serveMux(t testing.TB, app *tests.TestApp) http.Handler {
	t.Helper()
	r, err := apis.NewRouter(app)
	if err != nil {
		t.Fatal(err)
	}
	var mux http.Handler
	e := &core.ServeEvent{App: app, Router: r}
	err = app.OnServe().Trigger(e, func(e *core.ServeEvent) error {
		mux, err = e.Router.BuildMux()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mux
}

// TestPruneAuditJob runs the retention job: entries older than the
// retention go, a checkpoint stays, and the chain still verifies.
func TestPruneAuditJob(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{AuditRetention: 24 * time.Hour})
	defer app.Cleanup()
	for range 3 {
		if err := logOf(app).Write(app, audit.Entry{Event: audit.SessionStarted}); err != nil {
			t.Fatal(err)
		}
	}
	var run func()
	for _, j := range app.Cron().Jobs() {
		if j.Id() == ids.PruneAuditJobId {
			run = j.Run
		}
	}
	if run == nil {
		t.Fatal("no retention job")
	}
	run() // nothing is a day old yet
	app.expectAudit(t, "session.started", "session.started", "session.started")

	app.clock.Advance(25 * time.Hour)
	run()
	app.expectAudit(t, "audit.checkpoint")
	if res, err := logOf(app).Verify(nil); err != nil || !res.OK {
		t.Errorf("verify after pruning: %+v %v", res, err)
	}
}

// TestPublicConstantsMatchTheCore: the public package spells its constants
// out, so that go doc shows them; they are the core's values.
func TestPublicConstantsMatchTheCore(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ public, core string }{
		{string(plugin.ModeRead), string(records.ModeRead)},
		{string(plugin.ModeWrite), string(records.ModeWrite)},
		{string(plugin.ConsentRequired), string(records.ConsentRequired)},
		{string(plugin.ConsentNone), string(records.ConsentNone)},
		{plugin.SessionHeader, sessions.Header},
	} {
		if c.public != c.core {
			t.Errorf("the public constant %q is %q in the core", c.public, c.core)
		}
	}
}
