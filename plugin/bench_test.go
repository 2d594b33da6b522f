package plugin_test

import (
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

// serveConcurrently sends n GETs of the user's record with 8 concurrent
// clients and returns how long they took.
func serveConcurrently(b *testing.B, target benchTarget, n int) time.Duration {
	const clients = 8
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
			serveConcurrently(b, target, b.N)
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
func BenchmarkOverhead(b *testing.B) {
	targets := benchTargets(b)
	const perRound = 200
	took := make([]time.Duration, len(targets))
	b.ResetTimer()
	for b.Loop() {
		for i, target := range targets {
			took[i] += serveConcurrently(b, target, perRound)
		}
	}
	b.ReportMetric(float64(took[0])/float64(took[1]), "plugin/plain")
	b.ReportMetric(float64(took[1])/float64(took[2]), "impersonated/normal")
}
