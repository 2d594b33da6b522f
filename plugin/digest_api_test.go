package plugin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/digest"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

const digestsURL = "/api/impersonation/digests"

// The secrets a write of the digest tests carries, in its query and its
// body: neither a digest nor its email may hold them.
const (
	querySecret = "querysecret-0123456789"
	bodySecret  = "Body-Secret-pw-9876543210"
)

// storedDigest returns the digest saved on session id, nil when none.
func storedDigest(t testing.TB, app core.App, id string) *digest.Digest {
	t.Helper()
	s, err := records.FindSession(app, id)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsDigested() {
		return nil
	}
	d := &digest.Digest{}
	if err := s.UnmarshalJSONField("digest", d); err != nil {
		t.Fatal(err)
	}
	return d
}

// saveDigest stores a digest of requests requests on session id, ended.
func saveDigest(t testing.TB, app core.App, id string, requests int) {
	t.Helper()
	s, err := records.FindSession(app, id)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsEnded() {
		s.SetEnded(time.Now(), records.EndStopped)
	}
	s.SetDigest(&digest.Digest{Session: id, Requests: requests, Collections: []digest.Count{}, Writes: []digest.Write{}}, time.Now())
	if err := app.Save(s); err != nil {
		t.Fatal(err)
	}
}

// runDigestsJob runs the digests job and waits for the digests it started.
func runDigestsJob(t testing.TB, app *testApp) {
	t.Helper()
	for _, j := range app.Cron().Jobs() {
		if j.Id() == ids.DigestsJobId {
			j.Run()
			app.clock.Wait()
			return
		}
	}
	t.Fatal("no digests job")
}

// jobTestApp is a test app whose cron jobs are there to run: newTestApp's
// serve stops the cron, and tests run the jobs themselves.
func jobTestApp(t testing.TB, cfg plugin.Config) (*testApp, http.Handler) {
	t.Helper()
	app := newTestApp(t, cfg)
	return app, serveMux(t, app.TestApp)
}

// sendJSON sends mux method url with a JSON body and token.
func sendJSON(mux http.Handler, method, url, body, token string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, request(method, url, body, token))
	return rec
}

// actAsUser makes, with the write fixture session's token, two reads of
// users, one of the collections route by the users collection's id (a
// collection counts under its name), one request that names no collection,
// and two writes of the user's record whose query and body hold secrets:
// one allowed (a new name), one refused (a new password).
func actAsUser(t testing.TB, app core.App, mux http.Handler) {
	t.Helper()
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		method, url, body string
		status            int
	}{
		{http.MethodGet, "/api/collections/users/records/" + userId, "", 200},
		{http.MethodGet, "/api/collections/" + users.Id + "/records/" + userId + "?fields=id", "", 200},
		{http.MethodGet, "/api/impersonation/current", "", 200},
		{http.MethodPatch, "/api/collections/users/records/" + userId + "?token=" + querySecret,
			`{"name":"renamed","secretNote":"` + bodySecret + `"}`, 200},
		{http.MethodPatch, "/api/collections/USERS/records/" + userId + "?password=" + querySecret,
			`{"password":"` + bodySecret + `","passwordConfirm":"` + bodySecret + `"}`, 403},
	}
	for _, c := range calls {
		if rec := sendJSON(mux, c.method, c.url, c.body, writeToken); rec.Code != c.status {
			t.Fatalf("%s %s: %d %s, want %d", c.method, c.url, rec.Code, rec.Body, c.status)
		}
	}
}

// expectUserDigest checks the digest of actAsUser's requests.
func expectUserDigest(t testing.TB, d *digest.Digest) {
	t.Helper()
	if d == nil {
		t.Fatal("no digest")
	}
	if d.Session != writeSessionId || d.Actor.Id != superuserId || d.Actor.Email != "test@example.com" ||
		d.Mode != records.ModeWrite || d.Reason != "fixture" || d.EndCause != records.EndStopped {
		t.Errorf("digest: %+v", d)
	}
	if d.Requests != 5 || d.OtherRequests != 1 || len(d.Collections) != 1 ||
		d.Collections[0] != (digest.Count{Collection: "users", Requests: 4}) {
		t.Errorf("digest counts: requests %d other %d collections %+v", d.Requests, d.OtherRequests, d.Collections)
	}
	want := []digest.Write{
		{Method: http.MethodPatch, Path: "/api/collections/users/records/" + userId, Status: 200},
		{Method: http.MethodPatch, Path: "/api/collections/USERS/records/" + userId, Status: 403},
	}
	if len(d.Writes) != len(want) {
		t.Fatalf("writes: %+v, want %+v", d.Writes, want)
	}
	for i, w := range d.Writes {
		if w.Method != want[i].Method || w.Path != want[i].Path || w.Status != want[i].Status || w.At == "" {
			t.Errorf("write %d: %+v, want %+v", i, w, want[i])
		}
	}
}

// expectNoSecrets fails t when text holds a secret or a body of actAsUser.
func expectNoSecrets(t testing.TB, what, text string) {
	t.Helper()
	for _, secret := range []string{querySecret, bodySecret, "renamed", "secretNote", "passwordConfirm", "?token", "?password"} {
		if strings.Contains(text, secret) {
			t.Errorf("%s holds %q:\n%s", what, secret, text)
		}
	}
}

// TestDigestOfAnEndedSession: once a session ends, its user gets the digest
// on the session (read through GET digestsURL) and by email, in their
// language: who, why, the mode, the requests per collection and every write
// by method, path and status; never a query or a body.
func TestDigestOfAnEndedSession(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			app, mux := jobTestApp(t, plugin.Config{})
			defer app.Cleanup()
			if lang == "es" {
				app.speakSpanish(t, userId)
			}
			actAsUser(t, app, mux)
			before := app.TestMailer.TotalSend()
			if rec := send(mux, http.MethodPost, sessionsURL+"/"+writeSessionId+"/end", superuserToken); rec.Code != 204 {
				t.Fatalf("end: %d %s", rec.Code, rec.Body)
			}

			d := storedDigest(t, app, writeSessionId)
			expectUserDigest(t, d)
			s := app.session(t, writeSessionId)
			raw, _ := json.Marshal(s.Get("digest"))
			expectNoSecrets(t, "the stored digest", string(raw))
			if s.GetDateTime("digestEmailed").IsZero() || s.GetString("digestEmailError") != "" {
				t.Errorf("digest email not recorded: emailed %v error %q", s.GetDateTime("digestEmailed"), s.GetString("digestEmailError"))
			}

			if n := app.TestMailer.TotalSend() - before; n != 1 {
				t.Fatalf("%d emails, want 1", n)
			}
			msg := app.TestMailer.LastMessage()
			if msg.To[0].Address != "test@example.com" {
				t.Errorf("mailed to %v", msg.To)
			}
			subject, words := "What support did while acting as you", []string{"Reason given: fixture", "Requests: 5: users (4), other (1)", "able to make changes"}
			if lang == "es" {
				subject, words = "Lo que hizo el equipo de soporte", []string{"Motivo indicado: fixture", "Peticiones: 5: users (4), otras (1)", "con permiso para hacer cambios"}
			}
			for _, body := range []string{msg.HTML, msg.Text} {
				for _, want := range append(words, "PATCH /api/collections/users/records/"+userId, "PATCH /api/collections/USERS/records/"+userId, "403", "/impersonation/") {
					if !strings.Contains(body, want) {
						t.Errorf("the email lacks %q:\n%s", want, body)
					}
				}
				expectNoSecrets(t, "the email", body)
			}
			if !strings.HasPrefix(msg.Subject, subject) || msg.Text == "" || strings.Contains(msg.Text, "<p>") {
				t.Errorf("subject %q, text %q", msg.Subject, msg.Text)
			}

			// the page's route answers it, and only to the user
			rec := send(mux, http.MethodGet, digestsURL, userToken)
			var page struct {
				TotalItems int              `json:"totalItems"`
				Items      []*digest.Digest `json:"items"`
			}
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &page) != nil || page.TotalItems != 1 || len(page.Items) != 1 {
				t.Fatalf("digests: %d %s", rec.Code, rec.Body)
			}
			expectUserDigest(t, page.Items[0])
			expectNoSecrets(t, "GET digests", rec.Body.String())
		})
	}
}

// TestDigestEmailFollowsThePolicy: a policy's digestEmail off sends no
// email; the digest is built all the same, for the user's page. A user
// without an email address gets none either, and the session records why.
func TestDigestEmailFollowsThePolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		setup     func(t testing.TB, app *testApp)
		emails    int
		emailed   bool
		mailError string
	}{
		{"on by default", nil, 1, true, ""},
		{"turned off", func(t testing.TB, app *testApp) {
			app.updatePolicy(t, "users", func(p *records.Policy) { p.SetDigestEmail(false) })
		}, 0, false, ""},
		{"no address", func(t testing.TB, app *testApp) {
			if _, err := app.DB().NewQuery("UPDATE users SET email = '' WHERE id = {:id}").Bind(map[string]any{"id": userId}).Execute(); err != nil {
				t.Fatal(err)
			}
		}, 0, false, "no email address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			app, mux := jobTestApp(t, plugin.Config{})
			defer app.Cleanup()
			if c.setup != nil {
				c.setup(t, app)
			}
			before := app.TestMailer.TotalSend()
			if rec := send(mux, http.MethodGet, "/api/collections/users/records/"+userId, writeToken); rec.Code != 200 {
				t.Fatalf("read: %d %s", rec.Code, rec.Body)
			}
			if rec := send(mux, http.MethodPost, sessionsURL+"/"+writeSessionId+"/end", superuserToken); rec.Code != 204 {
				t.Fatalf("end: %d %s", rec.Code, rec.Body)
			}
			if d := storedDigest(t, app, writeSessionId); d == nil || d.Requests != 1 {
				t.Fatalf("digest %+v, want one of 1 request", d)
			}
			s := app.session(t, writeSessionId)
			if n := app.TestMailer.TotalSend() - before; n != c.emails {
				t.Errorf("%d emails, want %d", n, c.emails)
			}
			if emailed := !s.GetDateTime("digestEmailed").IsZero(); emailed != c.emailed ||
				!strings.Contains(s.GetString("digestEmailError"), c.mailError) || (c.mailError == "") != (s.GetString("digestEmailError") == "") {
				t.Errorf("emailed %v error %q, want %v %q", emailed, s.GetString("digestEmailError"), c.emailed, c.mailError)
			}
		})
	}
}

// holdRequestEntries makes the audit table refuse request entries until
// the returned function is called: the journal's mover cannot move them,
// as when the database is locked or full.
func holdRequestEntries(t testing.TB, app core.App) (release func()) {
	t.Helper()
	_, err := app.DB().NewQuery("CREATE TRIGGER digest_test_hold BEFORE INSERT ON impersonation_audit " +
		"WHEN NEW.event = 'request' BEGIN SELECT RAISE(ABORT, 'held by the test'); END").Execute()
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := app.DB().NewQuery("DROP TRIGGER IF EXISTS digest_test_hold").Execute(); err != nil {
			t.Fatal(err)
		}
	}
}

// flushed waits until every journalled entry of app is in the audit table
// (each failed Flush is a failed move of the mover, which tries again).
func flushed(t testing.TB, app core.App) {
	t.Helper()
	for logOf(app).Flush() != nil {
	}
}

// TestDigestWaitsForEveryEntry: a digest is built only once every request
// entry of the session is in the audit table. While the mover cannot move
// the journal, the session's end builds none; once it can, the digests job
// builds it, with every request.
func TestDigestWaitsForEveryEntry(t *testing.T) {
	t.Parallel()
	const requests = 30
	app, mux := jobTestApp(t, plugin.Config{})
	defer app.Cleanup()
	release := holdRequestEntries(t, app)
	for i := range requests {
		if rec := send(mux, http.MethodGet, fmt.Sprintf("/api/collections/users/records/%s?n=%d", userId, i), writeToken); rec.Code != 200 {
			t.Fatalf("read %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if rec := send(mux, http.MethodPost, sessionsURL+"/"+writeSessionId+"/end", superuserToken); rec.Code != 204 {
		t.Fatalf("end: %d %s", rec.Code, rec.Body)
	}
	// the end's request returns once the digest it started has given up
	if d := storedDigest(t, app, writeSessionId); d != nil {
		t.Fatalf("a digest was built before the journal was moved: %+v", d)
	}
	runDigestsJob(t, app)
	if d := storedDigest(t, app, writeSessionId); d != nil {
		t.Fatalf("the job built a digest before the journal was moved: %+v", d)
	}
	if rec := send(mux, http.MethodGet, digestsURL, userToken); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"totalItems":0`) {
		t.Errorf("digests while waiting: %d %s", rec.Code, rec.Body)
	}

	release()
	flushed(t, app)
	runDigestsJob(t, app)
	if d := storedDigest(t, app, writeSessionId); d == nil || d.Requests != requests || d.Collections[0].Requests != requests {
		t.Fatalf("digest %+v, want %d requests", d, requests)
	}
}

// TestDigestWaitsForRequestsInFlight: a request made with the session's
// token that is still being answered when the session ends is in its
// digest, though its entry is written after the end.
func TestDigestWaitsForRequestsInFlight(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	const slowURL = "/api/test/slow"
	entered, finish := make(chan struct{}), make(chan struct{})
	app.OnServe().BindFunc(func(e *core.ServeEvent) error {
		e.Router.POST(slowURL, func(re *core.RequestEvent) error {
			close(entered)
			<-finish
			return re.NoContent(http.StatusAccepted)
		})
		return e.Next()
	})
	mux := serveMux(t, app.TestApp)
	done := make(chan int)
	go func() { done <- send(mux, http.MethodPost, slowURL, writeToken).Code }()
	<-entered
	// the session ends while the request is in its handler
	if rec := send(mux, http.MethodPost, sessionsURL+"/"+writeSessionId+"/end", superuserToken); rec.Code != 204 {
		t.Fatalf("end: %d %s", rec.Code, rec.Body)
	}
	if d := storedDigest(t, app, writeSessionId); d != nil {
		t.Fatalf("a digest was built while a request was in flight: %+v", d)
	}
	close(finish)
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("the slow request: %d", code)
	}
	app.clock.Wait()
	d := storedDigest(t, app, writeSessionId)
	if d == nil || d.Requests != 1 || len(d.Writes) != 1 || d.Writes[0].Path != slowURL || d.Writes[0].Status != http.StatusAccepted {
		t.Fatalf("digest %+v, want the slow request", d)
	}
}

// TestRestartBuildsMissingDigests: a session that ended while its digest
// could not be built (the server killed with its journal not yet moved)
// gets its digest when the server starts again, with every request.
func TestRestartBuildsMissingDigests(t *testing.T) {
	t.Parallel()
	const requests = 4
	app, mux := jobTestApp(t, plugin.Config{})
	defer app.Cleanup()
	holdRequestEntries(t, app)
	for range requests {
		if rec := send(mux, http.MethodGet, "/api/collections/users/records/"+userId, writeToken); rec.Code != 200 {
			t.Fatalf("read: %d %s", rec.Code, rec.Body)
		}
	}
	if rec := send(mux, http.MethodPost, sessionsURL+"/"+writeSessionId+"/end", superuserToken); rec.Code != 204 {
		t.Fatalf("end: %d %s", rec.Code, rec.Body)
	}
	if d := storedDigest(t, app, writeSessionId); d != nil {
		t.Fatalf("a digest was built before the journal was moved: %+v", d)
	}

	// the data directory as a kill leaves it: the entries in the journal only
	restarted, err := tests.NewTestApp(app.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Cleanup()
	if _, err := restarted.DB().NewQuery("DROP TRIGGER digest_test_hold").Execute(); err != nil {
		t.Fatal(err)
	}
	before := restarted.TestMailer.TotalSend()
	c := app.clock
	register(t, restarted, plugin.Config{Policies: []plugin.Policy{usersPolicy()}, Clock: c})
	(&testApp{TestApp: restarted, clock: c}).seedPolicies(t) // the serve
	c.Wait()
	if d := storedDigest(t, restarted, writeSessionId); d == nil || d.Requests != requests {
		t.Fatalf("digest after the restart %+v, want %d requests", d, requests)
	}
	if n := restarted.TestMailer.TotalSend() - before; n != 1 {
		t.Errorf("%d emails after the restart, want 1", n)
	}
}

// TestDigestIsUnforgeable: the digest is the plugin's alone: no API write
// of the session (superusers included) changes it, its fields are hidden
// from the session's actor and user in the records API, and a filter on
// it is refused there.
func TestDigestIsUnforgeable(t *testing.T) {
	t.Parallel()
	sessionURL := "/api/collections/impersonation_sessions/records/" + endedSessionId
	withDigest := factory(plugin.Config{}, func(t testing.TB, app *testApp) { saveDigest(t, app, endedSessionId, 7) })
	unchanged := func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		if d := storedDigest(t, app, endedSessionId); d == nil || d.Requests != 7 {
			t.Errorf("the digest changed: %+v", d)
		}
	}
	forged := map[string]any{"digest": map[string]any{"session": endedSessionId, "requests": 0}, "digestEmailError": "x"}
	scenarios := []tests.ApiScenario{
		{
			Name: "a superuser updates it", Method: http.MethodPatch, URL: sessionURL, Body: jsonBody(forged),
			Headers:        map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"records_by_routes"`},
			TestAppFactory: withDigest, AfterTestFunc: unchanged,
		},
		{
			Name: "the user updates it", Method: http.MethodPatch, URL: sessionURL, Body: jsonBody(forged),
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"status":403`},
			TestAppFactory: withDigest, AfterTestFunc: unchanged,
		},
		{
			Name: "the user deletes the session", Method: http.MethodDelete, URL: sessionURL,
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"status":403`},
			TestAppFactory: withDigest, AfterTestFunc: unchanged,
		},
		{
			Name: "the actor's client reads the session", Method: http.MethodGet, URL: "/api/collections/impersonation_sessions/records/" + clientSessionId,
			Headers:            map[string]string{"Authorization": clientToken},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"id":"` + clientSessionId + `"`, `"digested":`},
			NotExpectedContent: []string{`"digest":`, `"digestEmailError"`, `"requests"`},
			TestAppFactory:     factory(plugin.Config{}, func(t testing.TB, app *testApp) { saveDigest(t, app, clientSessionId, 7) }),
		},
		{
			Name: "the user reads the session", Method: http.MethodGet, URL: sessionURL,
			Headers:            map[string]string{"Authorization": userToken},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"id":"` + endedSessionId + `"`},
			NotExpectedContent: []string{`"digest":`, `"digestEmailError"`, `"requests"`},
			TestAppFactory:     withDigest,
		},
		{
			Name: "the user filters on it", Method: http.MethodGet,
			URL:                "/api/collections/impersonation_sessions/records?filter=" + url.QueryEscape("digest.requests = 7"),
			Headers:            map[string]string{"Authorization": userToken},
			ExpectedStatus:     400,
			ExpectedContent:    []string{`"status":400`},
			NotExpectedContent: []string{endedSessionId},
			TestAppFactory:     withDigest,
		},
		{
			Name: "a superuser reads it", Method: http.MethodGet, URL: sessionURL,
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"digest":{`, `"requests":7`},
			TestAppFactory:  withDigest,
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestDigestsRoute: GET digestsURL answers the caller's own digests, a
// page at a time, the latest session first; never another user's, never
// while impersonating.
func TestDigestsRoute(t *testing.T) {
	t.Parallel()
	withDigests := factory(plugin.Config{}, func(t testing.TB, app *testApp) {
		saveDigest(t, app, endedSessionId, 1)
		saveDigest(t, app, liveSessionId, 2)
		saveDigest(t, app, clientSessionId, 3) // user2's
		// the expired session ended with no digest yet: not listed
		s := app.session(t, expiredSessionId)
		s.SetEnded(time.Now(), records.EndExpired)
		s.SetDigest(nil, time.Now()) // as the migration marks those that ended before digests
		if err := app.Save(s); err != nil {
			t.Fatal(err)
		}
	})
	scenarios := []tests.ApiScenario{
		{
			Name: "a guest", Method: http.MethodGet, URL: digestsURL,
			ExpectedStatus: 401, ExpectedContent: []string{`"code":"auth_required"`},
			TestAppFactory: withDigests,
		},
		{
			Name: "an impersonation token", Method: http.MethodGet, URL: digestsURL,
			Headers:            map[string]string{"Authorization": writeToken},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"code":"digests_while_impersonating"`},
			NotExpectedContent: []string{`"requests"`},
			TestAppFactory:     withDigests,
		},
		{
			Name: "the user", Method: http.MethodGet, URL: digestsURL,
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{`"page":1`, `"perPage":30`, `"totalItems":2`,
				`"session":"` + endedSessionId + `"`, `"session":"` + liveSessionId + `"`},
			NotExpectedContent: []string{clientSessionId, expiredSessionId, "digestEmailError", `"ip"`},
			TestAppFactory:     withDigests,
		},
		{
			Name: "the user, a page of one", Method: http.MethodGet, URL: digestsURL + "?page=2&perPage=1",
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"page":2`, `"perPage":1`, `"totalItems":2`, `"items":[{`},
			TestAppFactory:  withDigests,
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				// the fixture sessions share a creation time: the id orders them
				var page struct{ Items []digest.Digest }
				if err := json.NewDecoder(res.Body).Decode(&page); err != nil || len(page.Items) != 1 {
					t.Fatalf("page: %v %+v", err, page)
				}
				if got := page.Items[0].Session; got != endedSessionId && got != liveSessionId {
					t.Errorf("page 2 holds %s", got)
				}
			},
		},
		{
			Name: "another user", Method: http.MethodGet, URL: digestsURL,
			Headers:            map[string]string{"Authorization": user2Token},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"totalItems":1`, `"session":"` + clientSessionId + `"`},
			NotExpectedContent: []string{endedSessionId, liveSessionId},
			TestAppFactory:     withDigests,
		},
		{
			Name: "a superuser, never a target", Method: http.MethodGet, URL: digestsURL,
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"totalItems":0`, `"items":[]`},
			TestAppFactory:  withDigests,
		},
		{
			Name: "perPage over 200", Method: http.MethodGet, URL: digestsURL + "?perPage=201",
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  400,
			ExpectedContent: []string{`"perPage":{"code":"validation_max_less_equal_than_required"`},
			TestAppFactory:  withDigests,
		},
		{
			Name: "page not a number", Method: http.MethodGet, URL: digestsURL + "?page=x",
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  400,
			ExpectedContent: []string{`"page":{"code":"validation_not_page_number"`},
			TestAppFactory:  withDigests,
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestDigestOfAnExpiredSession: a session ended by the expiry job after its
// time was up ran until its expiry, not until the job ran.
func TestDigestOfAnExpiredSession(t *testing.T) {
	t.Parallel()
	app, mux := jobTestApp(t, plugin.Config{})
	defer app.Cleanup()
	body := `{"collection":"users","record":"` + userId + `","reason":"ticket 9","minutes":1}`
	rec := sendJSON(mux, http.MethodPost, sessionsURL, body, superuserToken)
	var started struct{ Session struct{ Id string } }
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &started) != nil {
		t.Fatalf("start: %d %s", rec.Code, rec.Body)
	}
	app.clock.Advance(10 * time.Minute)
	for _, j := range app.Cron().Jobs() {
		if j.Id() == ids.ExpireSessionsJobId {
			j.Run()
		}
	}
	app.clock.Wait()
	app.expectEnded(t, started.Session.Id, records.EndExpired)
	if d := storedDigest(t, app, started.Session.Id); d == nil || d.Seconds > 60 || d.Seconds < 50 || d.EndCause != records.EndExpired {
		t.Fatalf("digest %+v, want about 60 seconds", d)
	}
}

// TestDigestPathsRedacted: a token put in a path segment (as a password
// reset's link may carry one) reaches neither the audit, nor the digest,
// nor its email; a "?" decoded from a segment is shown escaped, never as
// the start of a query.
func TestDigestPathsRedacted(t *testing.T) {
	t.Parallel()
	app, mux := jobTestApp(t, plugin.Config{})
	defer app.Cleanup()
	const jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6InBhdGgiLCJ0eXBlIjoicGFzc3dvcmRSZXNldCJ9.cGF0aC1zaWduYXR1cmUtcGF0aA"
	paths := []string{
		"/api/collections/users/request-password-reset/" + jwt,
		"/api/collections/users/records/PATHSECRET%3Fpassword%3DP2SECRET",
	}
	for _, p := range paths {
		sendJSON(mux, http.MethodPost, p, `{}`, writeToken)
	}
	if rec := send(mux, http.MethodPost, sessionsURL+"/"+writeSessionId+"/end", superuserToken); rec.Code != 204 {
		t.Fatalf("end: %d %s", rec.Code, rec.Body)
	}
	var stored []string
	if err := app.DB().NewQuery("SELECT path FROM impersonation_audit WHERE session = {:s}").Bind(dbx.Params{"s": writeSessionId}).Column(&stored); err != nil {
		t.Fatal(err)
	}
	want := []string{"/api/collections/users/request-password-reset/[redacted]", "/api/collections/users/records/PATHSECRET%3Fpassword%3DP2SECRET"}
	for _, w := range want {
		if !slices.Contains(stored, w) {
			t.Errorf("the audit's paths %q lack %q", stored, w)
		}
	}
	d := storedDigest(t, app, writeSessionId)
	var written []string
	for _, w := range d.Writes {
		written = append(written, w.Path)
	}
	if !slices.Equal(written, want) {
		t.Errorf("the digest's writes %q, want %q", written, want)
	}
	msg := app.TestMailer.LastMessage()
	for _, text := range []string{strings.Join(stored, " "), msg.HTML, msg.Text} {
		for _, secret := range []string{jwt, "eyJ", "?password", "P2SECRET\n"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q found in:\n%s", secret, text)
			}
		}
	}
	if !strings.Contains(msg.Text, want[0]) {
		t.Errorf("the email lacks %q:\n%s", want[0], msg.Text)
	}
}
