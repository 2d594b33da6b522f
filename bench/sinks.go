package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"
)

// compareSink alternates rounds of impersonated views with no audit sink
// (A) and with one webhook sink enabled (B), whose receiver, in this
// process, is slow (it answers each batch after receiverDelay, as one far
// away or busy would), and compares their median requests per
// second: ratio = B / A, met when a sink costs at most 5 % of the
// impersonated throughput (its delivery runs in its own goroutine, reading
// committed entries; what it costs is the reads, the HTTP and the cursor's
// update on the write connection). It returns the rounds of both, all
// impersonated; the sink is deleted afterwards.
// receiverDelay is how long the bench's receiver takes to answer a batch.
const receiverDelay = 200 * time.Millisecond

func compareSink(name string, f *fixtures, views target, o options) (comparison, []round, error) {
	var lines atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		time.Sleep(receiverDelay)
		for _, b := range body {
			if b == '\n' {
				lines.Add(1)
			}
		}
	}))
	defer receiver.Close()
	var sink struct{ Id string }
	err := f.srv.call(http.MethodPost, "/api/collections/impersonation_sinks/records", f.srv.superuser, map[string]any{
		"name": "bench", "type": "webhook", "url": receiver.URL, "format": "jsonl", "enabled": false, "startFromNow": true,
		"batchSize": 500, "batchSeconds": 1,
	}, &sink)
	if err != nil {
		return comparison{}, nil, err
	}
	sinkPath := "/api/collections/impersonation_sinks/records/" + sink.Id
	defer f.srv.call(http.MethodDelete, sinkPath, f.srv.superuser, nil, nil)

	c, rounds, err := compareToggled(name, "impersonated, no sink", "impersonated, one webhook sink", views, o,
		func(enabled bool) error {
			return f.srv.call(http.MethodPatch, sinkPath, f.srv.superuser, map[string]any{"enabled": enabled}, nil)
		})
	if err != nil {
		return c, rounds, err
	}
	// the sink is enabled after the last round: it must deliver, or the
	// comparison measured no sink
	for wait := 0; lines.Load() == 0 && wait < 100; wait++ {
		time.Sleep(100 * time.Millisecond)
	}
	if lines.Load() == 0 {
		c.Met = false
	}
	return c, rounds, nil
}
