// Package attempts limits how often one actor may try something that
// writes an audit entry (start a session, change their consent), and
// gathers the start attempts refused over the limit into runs, so that a
// caller over the limit adds a bounded number of audit entries, each
// counting the attempts it stands for.
package attempts

import (
	"slices"
	"sync"
	"time"
)

// Key names the actor that attempts: the collection id and id of an auth
// record.
type Key struct {
	Collection string
	Id         string
}

// Limiter counts attempts per key in a sliding window. It is safe for
// concurrent use; concurrent attempts never pass the limit together. Counts
// live in memory: they start again when the process restarts.
type Limiter struct {
	window time.Duration

	mu        sync.Mutex
	hits      map[Key][]time.Time
	lastSweep time.Time
}

// New returns a Limiter over the given window.
func New(window time.Duration) *Limiter {
	return &Limiter{window: window, hits: map[Key][]time.Time{}}
}

// Allow records an attempt for key at now and reports whether it is within
// limit attempts per window. An attempt over the limit is not recorded, so a
// caller is let in again one window after its earliest counted attempt.
func (l *Limiter) Allow(key Key, limit int, now time.Time) bool {
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

// Run is Count refused attempts of Key, the first at First and the last at
// Last.
type Run struct {
	Key         Key
	Count       int
	First, Last time.Time
}

// Throttle gathers the attempts refused over the limit into runs, per key.
// The first refused attempt of a key opens a run and is recorded by the
// caller at once, on its own (so the evidence that the limit was hit is
// written even if the process dies); the key's refused attempts in the
// window after it are only counted, and Due returns them as one Run once
// that window has passed. A key over the limit for good thus makes at most
// two records per window, whose counts add up to its refused attempts. It
// is safe for concurrent use; counts live in memory, so the caller records
// Drain's runs before the process stops.
type Throttle struct {
	window time.Duration

	mu   sync.Mutex
	open map[Key]*openRun
	due  []Run // runs closed by Refuse, for the next Due or Drain
}

// openRun is a key's run: opened when its first refused attempt was
// recorded, counting those after it.
type openRun struct {
	opened time.Time
	rest   Run
}

// NewThrottle returns a Throttle whose runs last window.
func NewThrottle(window time.Duration) *Throttle {
	return &Throttle{window: window, open: map[Key]*openRun{}}
}

// Window is how long a run lasts.
func (t *Throttle) Window() time.Duration { return t.window }

// Refuse counts an attempt of key refused at now. It reports whether the
// attempt opens a run: the caller then records it, as a run of one.
func (t *Throttle) Refuse(key Key, now time.Time) (opens bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.open[key]
	if r != nil && now.Sub(r.opened) >= t.window {
		t.close(key, r)
		r = nil
	}
	if r == nil {
		t.open[key] = &openRun{opened: now, rest: Run{Key: key}}
		return true
	}
	if r.rest.Count == 0 {
		r.rest.First = now
	}
	r.rest.Count++
	r.rest.Last = now
	return false
}

// Due returns, oldest first, the counted attempts of the runs whose window
// has passed by now, and forgets those runs; a run with no attempt after
// its first has nothing to return.
func (t *Throttle) Due(now time.Time) []Run {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, r := range t.open {
		if now.Sub(r.opened) >= t.window {
			t.close(key, r)
		}
	}
	return t.take()
}

// Drain returns, oldest first, the counted attempts of every run, passed or
// not, and forgets them all.
func (t *Throttle) Drain() []Run {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, r := range t.open {
		t.close(key, r)
	}
	return t.take()
}

// close ends key's run r; t.mu is held.
func (t *Throttle) close(key Key, r *openRun) {
	delete(t.open, key)
	if r.rest.Count > 0 {
		t.due = append(t.due, r.rest)
	}
}

// take returns the closed runs, oldest first, and forgets them; t.mu is
// held.
func (t *Throttle) take() []Run {
	runs := t.due
	t.due = nil
	slices.SortFunc(runs, func(a, b Run) int { return a.First.Compare(b.First) })
	return runs
}
