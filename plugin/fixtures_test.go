package plugin_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/pocketbase/dbx"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/testapp"
	"github.com/pbimpersonation/impersonation/internal/tokens"
	"github.com/pbimpersonation/impersonation/plugin"
)

// Records of PocketBase's test data (tests/data of the module).
const (
	superuserId = "sywbhecnh46rhm0" // _superusers test@example.com
	userId      = "4q1xlclmfloku33" // users test@example.com, not verified
	user2Id     = "oap640cot4yru2s" // users test2@example.com, verified
	user3Id     = "bgs820n361vj1qd" // users test3@example.com, verified
	clientId    = "gk390qegs4y47wn" // clients test@example.com, verified
	client2Id   = "o1y0dd0spd786md" // clients test2@example.com, not verified
)

// Fixture sessions every test app gets (see newTestApp).
const (
	liveSessionId    = "sesslive0000001" // superuser acting as userId, read mode
	writeSessionId   = "sesswrite000001" // superuser acting as userId, write mode
	endedSessionId   = "sessended000001" // ended (stopped)
	expiredSessionId = "sessexpire00001" // past its expiry, not yet ended
	clientSessionId  = "sessclient00001" // client acting as user2Id
)

// usersPolicyId is the id the seeded policy of users gets in newTestApp.
const usersPolicyId = "policyusers0001"

// settingsId is the id the seeded settings record gets in newTestApp.
const settingsId = "settings0000001"

// consentId is the id of the consent record grantConsent makes for user id.
func consentId(id string) string { return "consent" + id[:8] }

// sessionLength is how long the fixture sessions run from the start of the
// test binary. It outlasts the longest run of the package (its -timeout in
// .ci/run), so a test late in a slow run under the race detector still finds
// them live.
const sessionLength = 2 * time.Hour

// consentLength is how long the consents newTestApp grants last from the
// app's clock: longer than the fixture sessions, so that a test that moves
// the clock past a session's end meets the session's expiry, not the consent's.
const consentLength = sessionLength + time.Hour

// Tokens minted once from the test data: every clone of it has the same keys.
var (
	superuserToken string
	userToken      string
	user2Token     string
	user3Token     string
	clientToken    string
	client2Token   string

	liveToken                string
	writeToken               string
	endedToken               string
	expiredToken             string
	clientImpersonationToken string

	// fixtureExpires is the expiry of the live fixture sessions.
	fixtureExpires time.Time
)

func TestMain(m *testing.M) {
	if args := os.Getenv(commandProcessEnv); args != "" {
		os.Exit(runCommandProcess(args))
	}
	app, err := testapp.NewApp()
	if err != nil {
		panic(err)
	}
	fixtureExpires = time.Now().Add(sessionLength).Truncate(time.Second)
	superuserToken = authToken(app, core.CollectionNameSuperusers, superuserId)
	userToken = authToken(app, "users", userId)
	user2Token = authToken(app, "users", user2Id)
	user3Token = authToken(app, "users", user3Id)
	clientToken = authToken(app, "clients", clientId)
	client2Token = authToken(app, "clients", client2Id)

	superuser := mustFind(app, core.CollectionNameSuperusers, superuserId)
	client := mustFind(app, "clients", clientId)
	user := mustFind(app, "users", userId)
	user2 := mustFind(app, "users", user2Id)
	liveToken = mint(user, superuser, liveSessionId, fixtureExpires)
	writeToken = mint(user, superuser, writeSessionId, fixtureExpires)
	endedToken = mint(user, superuser, endedSessionId, fixtureExpires)
	expiredToken = mint(user, superuser, expiredSessionId, fixtureExpires)
	clientImpersonationToken = mint(user2, client, clientSessionId, fixtureExpires)
	app.Cleanup()

	code := testapp.Run(m)
	if code == 0 && ranEverything() {
		code = checkAnswersDocumented()
	}
	os.Exit(code)
}

func mustFind(app core.App, collection, id string) *core.Record {
	r, err := app.FindRecordById(collection, id)
	if err != nil {
		panic(err)
	}
	return r
}

func authToken(app core.App, collection, id string) string {
	token, err := mustFind(app, collection, id).NewAuthToken()
	if err != nil {
		panic(err)
	}
	return token
}

func mint(target, actor *core.Record, sessionId string, expires time.Time) string {
	token, err := tokens.Mint(target, actor, sessionId, expires)
	if err != nil {
		panic(err)
	}
	return token
}

// testApp is a test app with the plugin registered and the fixtures in place.
// auditLogs are the audits of the apps registered by the tests, by app
// (*tests.TestApp): a scenario's AfterTestFunc gets the bare app.
var auditLogs sync.Map

// register registers the plugin on app for a test and keeps its audit for
// logOf.
func register(t testing.TB, app *tests.TestApp, cfg plugin.Config) *plugin.Plugin {
	t.Helper()
	p, err := plugin.Register(app, cfg)
	if err != nil {
		t.Fatal(err)
	}
	auditLogs.Store(app, plugin.AuditLog(p))
	return p
}

// logOf returns the audit of app, a test app the plugin was registered on
// (by newTestApp or register), or of its testApp.
func logOf(app core.App) *audit.Log {
	if ta, ok := app.(*testApp); ok {
		app = ta.TestApp
	}
	l, ok := auditLogs.Load(app)
	if !ok {
		panic("logOf: the plugin is not registered on this app")
	}
	return l.(*audit.Log)
}

type testApp struct {
	*tests.TestApp
	clock  *clock.Manual
	plugin *plugin.Plugin
}

// usersPolicy is the policy of main.go, plus a rule that lets verified
// clients act as verified users.
func usersPolicy() plugin.Policy {
	return plugin.Policy{
		Collection:       "users",
		ImpersonatorRule: `@request.auth.collectionName = "clients" && @request.auth.verified = true && verified = true`,
	}
}

// newTestApp returns a fresh test app with the plugin registered with cfg
// (Policies defaults to usersPolicy; Clock to a manual clock at the real time), the
// policies seeded, consent granted by userId and user2Id for consentLength,
// and the fixture sessions.
func newTestApp(t testing.TB, cfg plugin.Config) *testApp {
	t.Helper()
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewManual(time.Now())
	if cfg.Policies == nil {
		cfg.Policies = []plugin.Policy{usersPolicy()}
	}
	if cfg.Clock == nil {
		cfg.Clock = c
	}
	ta := &testApp{TestApp: app, clock: c, plugin: register(t, app, cfg)}
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{Priority: 1000, Func: quiet(app, c)})
	ta.seedPolicies(t)
	if _, err := app.DB().NewQuery("UPDATE impersonation_policies SET id = {:id} WHERE collection = 'users'").
		Bind(dbx.Params{"id": usersPolicyId}).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB().NewQuery("UPDATE impersonation_settings SET id = {:id}").
		Bind(dbx.Params{"id": settingsId}).Execute(); err != nil {
		t.Fatal(err)
	}

	// the fixtures start with an empty audit: the seeded policy's
	// policy.created entry (and the settings' settings.created) is setup,
	// not what a test exercises
	if _, err := app.DB().NewQuery("DELETE FROM impersonation_audit").Execute(); err != nil {
		t.Fatal(err)
	}
	// and so does its anchor, or the empty audit would be a loss
	if err := os.Remove(filepath.Join(app.DataDir(), audit.AnchorFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}

	ta.grantConsent(t, "users", userId, consentLength)
	ta.grantConsent(t, "users", user2Id, consentLength)
	ta.addSession(t, liveSessionId, core.CollectionNameSuperusers, superuserId, "users", userId, records.ModeRead, fixtureExpires)
	ta.addSession(t, writeSessionId, core.CollectionNameSuperusers, superuserId, "users", userId, records.ModeWrite, fixtureExpires)
	ended := ta.addSession(t, endedSessionId, core.CollectionNameSuperusers, superuserId, "users", userId, records.ModeRead, fixtureExpires)
	ended.SetEnded(time.Now(), records.EndStopped)
	// with no digest, as a session that ended before digests existed: a
	// digest built in the background would email the user amid a test
	ended.SetDigest(nil, time.Now())
	if err := app.Save(ended); err != nil {
		t.Fatal(err)
	}
	ta.addSession(t, expiredSessionId, core.CollectionNameSuperusers, superuserId, "users", userId, records.ModeRead, time.Now().Add(-time.Minute))
	ta.addSession(t, clientSessionId, "clients", clientId, "users", user2Id, records.ModeRead, fixtureExpires)
	return ta
}

// quiet keeps a test app's background work from overlapping what a test
// checks after a request: every request returns once the background work it
// started through the plugin's clock c (the emails) has returned, and the
// cron that OnServe starts (priority 999) is stopped, since its jobs fire on
// the real clock's minutes (tests run the plugin's jobs themselves).
// tests.ApiScenario counts the app's events right after the response, so
// work still running then would race it.
func quiet(app core.App, c *clock.Manual) func(*core.ServeEvent) error {
	return func(e *core.ServeEvent) error {
		e.Router.BindFunc(func(re *core.RequestEvent) error {
			err := re.Next()
			c.Wait()
			return err
		})
		// first of all, to see the answers of every middleware
		e.Router.Bind(&hook.Handler[*core.RequestEvent]{Priority: math.MinInt, Func: func(re *core.RequestEvent) error {
			err := re.Next()
			recordAnswer(re, err)
			return err
		}})
		app.Cron().Stop()
		return e.Next()
	}
}

// seedPolicies writes the configured policies as the server's start does.
func (a *testApp) seedPolicies(t testing.TB) {
	t.Helper()
	// a bare router: apis.NewRouter would bind its UI routes a second time
	e := new(core.ServeEvent)
	e.App = a
	e.Router = router.NewRouter[*core.RequestEvent](nil)
	if err := a.OnServe().Trigger(e, func(*core.ServeEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func (a *testApp) policy(t testing.TB, collection string) *records.Policy {
	t.Helper()
	p, err := records.FindPolicy(a, collection)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// speakSpanish gives the users collection a language field and sets user
// id's to Spanish (Mexico), as notify.LanguageOf reads it.
func (a *testApp) speakSpanish(t testing.TB, id string) {
	t.Helper()
	users, err := a.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	users.Fields.Add(&core.TextField{Name: "language"})
	if err := a.Save(users); err != nil {
		t.Fatal(err)
	}
	user := mustFind(a, "users", id)
	user.Set("language", "es-MX")
	if err := a.Save(user); err != nil {
		t.Fatal(err)
	}
}

// updatePolicy changes the policy of collection with change and saves it.
func (a *testApp) updatePolicy(t testing.TB, collection string, change func(*records.Policy)) {
	t.Helper()
	p := a.policy(t, collection)
	change(p)
	if err := a.Save(p); err != nil {
		t.Fatal(err)
	}
}

func (a *testApp) grantConsent(t testing.TB, collection, id string, d time.Duration) *records.Consent {
	t.Helper()
	c, err := records.FindOrNewConsent(a, mustFind(a, collection, id))
	if err != nil {
		t.Fatal(err)
	}
	if c.IsNew() {
		c.Id = consentId(id)
	}
	c.SetExpires(a.clock.Now().Add(d))
	c.SetRevoked(false)
	if err := a.Save(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (a *testApp) addSession(t testing.TB, id, actorCollection, actorId, targetCollection, targetId string, mode records.Mode, expires time.Time) *records.Session {
	t.Helper()
	s, err := records.NewSession(a, mustFind(a, actorCollection, actorId), mustFind(a, targetCollection, targetId))
	if err != nil {
		t.Fatal(err)
	}
	s.Id = id
	s.SetMode(mode)
	s.SetReason("fixture")
	s.SetExpires(expires)
	if err := a.Save(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (a *testApp) session(t testing.TB, id string) *records.Session {
	t.Helper()
	s, err := records.FindSession(a, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// auditEvents returns the events of the audit entries that match where
// (nil: all), in the order written, each as "event" or "event:code/cause".
func (a *testApp) auditEvents(t testing.TB, where dbx.Expression) []string {
	t.Helper()
	if where == nil {
		where = dbx.NewExp("1=1")
	}
	if err := logOf(a).Flush(); err != nil {
		t.Fatal(err)
	}
	var entries []*core.Record
	err := a.RecordQuery(records.AuditCollection).AndWhere(where).OrderBy("rowid").All(&entries)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range entries {
		event := e.GetString("event")
		data := map[string]any{}
		_ = e.UnmarshalJSONField("data", &data)
		for _, key := range []string{"code", "cause"} {
			if v, ok := data[key].(string); ok {
				event += ":" + v
			}
		}
		events = append(events, event)
	}
	return events
}

// expectAudit fails t unless the audit entries are exactly want.
func (a *testApp) expectAudit(t testing.TB, want ...string) {
	t.Helper()
	got := a.auditEvents(t, nil)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit entries:\n got %v\nwant %v", got, want)
	}
}

// expectEnded fails t unless session id has ended with cause.
func (a *testApp) expectEnded(t testing.TB, id string, cause records.EndCause) {
	t.Helper()
	s := a.session(t, id)
	if !s.IsEnded() || s.EndCause() != cause {
		t.Errorf("session %s: ended=%v cause=%q, want ended with %q", id, s.IsEnded(), s.EndCause(), cause)
	}
}

// expectLive fails t unless session id is live.
func (a *testApp) expectLive(t testing.TB, id string) {
	t.Helper()
	if s := a.session(t, id); s.IsEnded() {
		t.Errorf("session %s ended (%s), want live", id, s.EndCause())
	}
}

// wrap gives the helpers of testApp to an app made by newTestApp.
func wrap(app *tests.TestApp) *testApp { return &testApp{TestApp: app} }

// factory returns an ApiScenario app factory for newTestApp(cfg) that runs
// setup on the app first and hands the app to check afterwards.
func factory(cfg plugin.Config, setup func(testing.TB, *testApp)) func(testing.TB) *tests.TestApp {
	return func(t testing.TB) *tests.TestApp {
		app := newTestApp(t, cfg)
		if setup != nil {
			setup(t, app)
		}
		return app.TestApp
	}
}

// hmacHex is the redacted hash of value under the audit key key, computed
// independently of the plugin: HMAC-SHA256(redact key, value) in hex, the
// redact key being HMAC-SHA256(key, "impersonation audit v2 redact").
func hmacHex(key, value string) string {
	derive := hmac.New(sha256.New, []byte(key))
	derive.Write([]byte("impersonation audit v2 redact"))
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write([]byte(value))
	return hex.EncodeToString(mac.Sum(nil))
}
