// Package attempts limits how often one actor may try to start a session.
package attempts

import (
	"sync"
	"time"
)

// Limiter counts attempts per key in a sliding window. It is safe for
// concurrent use; concurrent attempts never pass the limit together. Counts
// live in memory: they start again when the process restarts.
type Limiter struct {
	window time.Duration

	mu        sync.Mutex
	hits      map[string][]time.Time
	lastSweep time.Time
}

// New returns a Limiter over the given window.
func New(window time.Duration) *Limiter {
	return &Limiter{window: window, hits: map[string][]time.Time{}}
}

// Allow records an attempt for key at now and reports whether it is within
// limit attempts per window. An attempt over the limit is not recorded, so a
// caller is let in again one window after its earliest counted attempt.
func (l *Limiter) Allow(key string, limit int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()

	since := now.Add(-l.window)
	if now.Sub(l.lastSweep) > l.window {
		for k, hits := range l.hits {
			if len(recent(hits, since)) == 0 {
				delete(l.hits, k)
			}
		}
		l.lastSweep = now
	}

	hits := recent(l.hits[key], since)
	if len(hits) >= limit {
		l.hits[key] = hits
		return false
	}
	l.hits[key] = append(hits, now)
	return true
}

// recent returns the hits after since; hits are in time order.
func recent(hits []time.Time, since time.Time) []time.Time {
	for i, t := range hits {
		if t.After(since) {
			return hits[i:]
		}
	}
	return hits[:0]
}
