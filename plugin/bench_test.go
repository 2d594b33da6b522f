package plugin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/plugin"
)

// benchTarget is one kind of request against one app.
type benchTarget struct {
	name  string
	mux   http.Handler
	token string
}

// benchTargets returns plain PocketBase (no plugin) with the user's token,
// the app with the plugin and the user's token, and the app with the plugin
// and an impersonation token of the same user (read mode, fully audited).
func benchTargets(b *testing.B) []benchTarget {
	plain, err := tests.NewTestApp()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(plain.Cleanup)
	withPlugin := newTestApp(b, plugin.Config{})
	b.Cleanup(withPlugin.Cleanup)
	pluginMux := serveMux(b, withPlugin.TestApp)
	return []benchTarget{
		{"plain PocketBase, user token", serveMux(b, plain), userToken},
		{"plugin, user token", pluginMux, userToken},
		{"plugin, impersonation token", pluginMux, liveToken},
	}
}

// serveConcurrently sends n GETs of the user's record from that many
// concurrent clients and returns how long they took.
func serveConcurrently(b *testing.B, target benchTarget, n, clients int) time.Duration {
	url := "/api/collections/users/records/" + userId
	var wg sync.WaitGroup
	started := time.Now()
	for c := range clients {
		wg.Go(func() {
			for i := c; i < n; i += clients {
				rec := httptest.NewRecorder()
				target.mux.ServeHTTP(rec, request(http.MethodGet, url, "", target.token))
				if rec.Code != 200 {
					b.Errorf("%s: %d %s", target.name, rec.Code, rec.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(started)
}

// BenchmarkRequests measures each kind of request on its own.
func BenchmarkRequests(b *testing.B) {
	for _, target := range benchTargets(b) {
		b.Run(target.name, func(b *testing.B) {
			serveConcurrently(b, target, b.N, 8)
		})
	}
}

// BenchmarkOverhead alternates rounds of the three kinds of requests (A B C
// A B C ...) in one run and reports throughput ratios, which noisy machines
// measure far better than absolute figures:
//   - plugin/plain: requests without an impersonation token, with the plugin
//     registered vs plain PocketBase (goal >= 0.98);
//   - impersonated/normal: the same user's requests with an impersonation
//     token (checked, limited, audited) vs their own token (goal >= 0.90).
//
// It runs with 8 and with 32 concurrent clients. The bench command (go run
// ./bench) measures the same over HTTP against plain PocketBase's binary.
func BenchmarkOverhead(b *testing.B) {
	targets := benchTargets(b)
	const perRound = 200
	for _, clients := range []int{8, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			took := make([]time.Duration, len(targets))
			for b.Loop() {
				for i, target := range targets {
					took[i] += serveConcurrently(b, target, perRound, clients)
				}
			}
			b.ReportMetric(float64(took[0])/float64(took[1]), "plugin/plain")
			b.ReportMetric(float64(took[1])/float64(took[2]), "impersonated/normal")
		})
	}
}

// BenchmarkSessionStart starts sessions on the same user, one after
// another, as a superuser: the work of POST /api/impersonation/sessions
// without HTTP (the bench command compares it with PocketBase's own
// impersonate call over HTTP).
func BenchmarkSessionStart(b *testing.B) {
	pol := usersPolicy()
	pol.AttemptsPerMinute, pol.NoStartEmail = 10_000, true
	app := newTestApp(b, plugin.Config{Policies: []plugin.Policy{pol}})
	b.Cleanup(app.Cleanup)
	mux := serveMux(b, app.TestApp)
	body := `{"collection":"users","record":"` + userId + `","reason":"bench","minutes":5}`
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, request(http.MethodPost, "/api/impersonation/sessions", body, superuserToken))
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
