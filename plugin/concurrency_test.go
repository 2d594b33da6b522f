package plugin_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/plugin"
)

// TestNoRequestAfterTheEndSucceeds ends a session while requests made with
// its token are in flight: no request that starts after the end has
// committed is answered 200, and every 200 has its audit entry.
func TestNoRequestAfterTheEndSucceeds(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	mux := serveMux(t, app.TestApp)

	type result struct {
		started time.Duration
		code    int
	}
	base := time.Now()
	var (
		mu      sync.Mutex
		results []result
		endedAt atomic.Int64 // time since base; 0 while live
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	for range 6 {
		wg.Go(func() {
			for !stop.Load() {
				started := time.Since(base)
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, request(http.MethodGet, "/api/collections/users/records/"+userId, "", liveToken))
				mu.Lock()
				results = append(results, result{started, rec.Code})
				mu.Unlock()
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(results) }
	// waitFor has no deadline of its own: requests that never come run
	// into go test's -timeout, however slow the machine
	waitFor := func(n int) {
		for count() < n {
			time.Sleep(time.Millisecond)
		}
	}

	waitFor(60)
	if err := sessions.End(logOf(app), app, app.session(t, liveSessionId), records.EndStopped, time.Now(), audit.Client{}); err != nil {
		t.Fatal(err)
	}
	endedAt.Store(int64(time.Since(base)))
	waitFor(count() + 60)
	stop.Store(true)
	wg.Wait()

	ended := time.Duration(endedAt.Load())
	var before200, after, after200 int
	for _, r := range results {
		switch {
		case r.started > ended:
			after++
			if r.code == 200 {
				after200++
			}
		case r.code == 200:
			before200++
		}
	}
	if before200 == 0 || after == 0 {
		t.Fatalf("the test did not overlap the end: %d answered before, %d started after", before200, after)
	}
	if after200 != 0 {
		t.Errorf("%d of %d requests started after the end were answered 200", after200, after)
	}
	if err := logOf(app).Flush(); err != nil {
		t.Fatal(err)
	}
	var audited200 int
	err := app.RecordQuery(records.AuditCollection).Select("count(*)").
		AndWhere(dbx.HashExp{"event": "request", "status": 200}).Row(&audited200)
	if err != nil {
		t.Fatal(err)
	}
	var answered200 int
	for _, r := range results {
		if r.code == 200 {
			answered200++
		}
	}
	if audited200 != answered200 {
		t.Errorf("200 answers: %d, audited 200s: %d", answered200, audited200)
	}
}

// TestRealtimeClientIsDisconnected subscribes a realtime client with a
// read-mode impersonation token and checks the stream closes when the
// session ends, by the end route or by its expiry.
func TestRealtimeClientIsDisconnected(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		token func(app *testApp) string
		end   func(t *testing.T, app *testApp, url string)
	}{
		{
			name:  "ended by the end route",
			token: func(*testApp) string { return liveToken },
			end: func(t *testing.T, app *testApp, url string) {
				res := post(t, url+"/api/impersonation/sessions/"+liveSessionId+"/end", "", superuserToken)
				if res.StatusCode != 204 {
					t.Fatalf("end: %d", res.StatusCode)
				}
			},
		},
		{
			name: "ended by its expiry",
			token: func(app *testApp) string {
				expires := app.clock.Now().Add(time.Hour).Truncate(time.Second)
				app.addSession(t, "sessshort000001", core.CollectionNameSuperusers, superuserId, "users", userId, records.ModeRead, expires)
				return mint(mustFind(app, "users", userId), mustFind(app, core.CollectionNameSuperusers, superuserId), "sessshort000001", expires)
			},
			// the plugin's clock passes the expiry; its timer ends the session
			end: func(_ *testing.T, app *testApp, _ string) { app.clock.Advance(time.Hour + time.Second) },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := newTestApp(t, plugin.Config{})
			defer app.Cleanup()
			token := c.token(app)
			srv := httptest.NewServer(serveMux(t, app.TestApp))
			defer srv.Close()

			// canceled before srv.Close, which waits for open streams
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clientId, events := connectRealtime(t, ctx, srv.URL)

			sub := post(t, srv.URL+"/api/realtime", `{"clientId":"`+clientId+`","subscriptions":["users"]}`, token)
			if sub.StatusCode != 204 {
				t.Fatalf("subscribe in read mode: %d", sub.StatusCode)
			}
			c.end(t, app, srv.URL)

			// the stream must close: one left open runs into go test's -timeout
			for range events {
			}
			if err := logOf(app).Flush(); err != nil {
				t.Fatal(err)
			}
			var subscribed int
			_ = app.RecordQuery(records.AuditCollection).Select("count(*)").
				AndWhere(dbx.HashExp{"event": "request", "path": "/api/realtime", "status": 204}).
				AndWhere(dbx.Like("data", `"subscriptions":["users"]`)).Row(&subscribed)
			if subscribed != 1 {
				t.Errorf("audited subscriptions: %d", subscribed)
			}
		})
	}
}

func post(t *testing.T, url, body, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// TestDashboardSeesLiveUpdates subscribes a superuser's realtime client, as
// the dashboard does, to consents and sessions: a consent granted, a
// session started and ended, and a consent withdrawn reach it without a
// reload.
func TestDashboardSeesLiveUpdates(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	srv := httptest.NewServer(serveMux(t, app.TestApp))
	defer srv.Close()

	// canceled before srv.Close, which waits for open streams; an event
	// that never comes runs into go test's -timeout
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clientId, events := connectRealtime(t, ctx, srv.URL)
	if sub := post(t, srv.URL+"/api/realtime", `{"clientId":"`+clientId+`","subscriptions":["impersonation_consents","impersonation_sessions"]}`, superuserToken); sub.StatusCode != 204 {
		t.Fatalf("subscribe: %d", sub.StatusCode)
	}
	next := func(want ...string) {
		t.Helper()
		got, ok := <-events
		for _, w := range want {
			if !ok || !strings.Contains(got, w) {
				t.Fatalf("event %q lacks %q", got, w)
			}
		}
	}

	put := func(url, body, token string) {
		req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", token)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
			t.Fatalf("PUT %s: %v", url, err)
		}
	}
	put(srv.URL+"/api/impersonation/consent", `{"hours":3}`, user3Token)
	next(`impersonation_consents`, `"action":"create"`, `"user":"`+user3Id+`"`)

	if res := post(t, srv.URL+sessionsURL, `{"collection":"users","record":"`+user3Id+`","reason":"ticket 42"}`, superuserToken); res.StatusCode != 200 {
		t.Fatalf("start: %d", res.StatusCode)
	}
	// the session created, then the email's outcome recorded on it: PocketBase
	// sends each realtime message from a goroutine of its own, so the two may
	// come in either order
	actions := map[string]bool{}
	for range 2 {
		got := <-events
		if !strings.Contains(got, `impersonation_sessions`) || !strings.Contains(got, `"target":"`+user3Id+`"`) {
			t.Fatalf("event %q is not about the session on %s", got, user3Id)
		}
		for _, action := range []string{"create", "update"} {
			if strings.Contains(got, `"action":"`+action+`"`) {
				actions[action] = true
			}
		}
	}
	if !actions["create"] || !actions["update"] {
		t.Errorf("the session's events: %v, want a create and an update", actions)
	}

	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/api/impersonation/consent", nil)
	req.Header.Set("Authorization", user3Token)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 204 {
		t.Fatalf("revoke: %v", err)
	}
	seen := map[string]bool{}
	for range 2 { // the consent revoked and the session ended, in either order
		switch got := <-events; {
		case strings.Contains(got, `impersonation_consents`) && strings.Contains(got, `"revoked":true`):
			seen["consent"] = true
		case strings.Contains(got, `impersonation_sessions`) && strings.Contains(got, `"endCause":"consent_revoked"`):
			seen["session"] = true
		}
	}
	if !seen["consent"] || !seen["session"] {
		t.Errorf("events for the withdrawal: %v", seen)
	}
}

// connectRealtime opens a realtime connection to url, as the JS SDK does,
// and returns its client id and its messages ("event data"); the channel
// closes when the server closes the stream or ctx ends.
func connectRealtime(t *testing.T, ctx context.Context, url string) (string, chan string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/realtime", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	events := make(chan string, 100)
	go func() {
		defer close(events)
		stream := bufio.NewReader(res.Body)
		event := ""
		for {
			line, err := stream.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "event:"); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data:"); ok {
				events <- event + " " + v
			}
		}
	}()
	first, ok := <-events
	if !ok || !strings.HasPrefix(first, `PB_CONNECT {"clientId":"`) {
		t.Fatalf("no PB_CONNECT: %q", first)
	}
	return strings.TrimSuffix(strings.TrimPrefix(first, `PB_CONNECT {"clientId":"`), `"}`), events
}
