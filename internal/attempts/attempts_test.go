package attempts_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbimpersonation/impersonation/internal/attempts"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// attempt is one call of Allow and the answer it must get.
type attempt struct {
	key   string
	limit int
	at    time.Duration // after t0
	want  bool
}

func TestAllow(t *testing.T) {
	scenarios := []struct {
		name     string
		window   time.Duration
		attempts []attempt
	}{
		{
			name:   "up to the limit then refused",
			window: time.Minute,
			attempts: []attempt{
				{"a", 3, 0, true},
				{"a", 3, time.Second, true},
				{"a", 3, 2 * time.Second, true},
				{"a", 3, 3 * time.Second, false},
				{"a", 3, 4 * time.Second, false},
			},
		},
		{
			name:   "limit reached at one instant",
			window: time.Minute,
			attempts: []attempt{
				{"a", 2, 0, true},
				{"a", 2, 0, true},
				{"a", 2, 0, false},
			},
		},
		{
			name:   "limit one",
			window: time.Minute,
			attempts: []attempt{
				{"a", 1, 0, true},
				{"a", 1, time.Second, false},
			},
		},
		{
			name:   "limit zero refuses everything",
			window: time.Minute,
			attempts: []attempt{
				{"a", 0, 0, false},
				{"a", 0, time.Hour, false},
			},
		},
		{
			name:   "window slides past the first attempt",
			window: time.Minute,
			attempts: []attempt{
				{"a", 2, 0, true},
				{"a", 2, 30 * time.Second, true},
				{"a", 2, 59 * time.Second, false},
				// the attempt at 0 has left the window, the one at 30s has not
				{"a", 2, 61 * time.Second, true},
				{"a", 2, 62 * time.Second, false},
				// the attempt at 30s has left the window
				{"a", 2, 91 * time.Second, true},
				{"a", 2, 92 * time.Second, false},
			},
		},
		{
			name:   "allowed again exactly one window after the earliest counted attempt",
			window: time.Minute,
			attempts: []attempt{
				{"a", 1, 0, true},
				{"a", 1, time.Minute - time.Nanosecond, false},
				{"a", 1, time.Minute, true},
			},
		},
		{
			name:   "refused attempts are not recorded",
			window: time.Minute,
			attempts: []attempt{
				{"a", 1, 0, true},
				{"a", 1, 30 * time.Second, false},
				{"a", 1, 45 * time.Second, false},
				// if the refused attempts counted, 30s and 45s would still be in the window
				{"a", 1, time.Minute, true},
			},
		},
		{
			name:   "long after every attempt the full limit is available",
			window: time.Minute,
			attempts: []attempt{
				{"a", 2, 0, true},
				{"a", 2, 0, true},
				{"a", 2, time.Hour, true},
				{"a", 2, time.Hour, true},
				{"a", 2, time.Hour, false},
			},
		},
		{
			name:   "keys are independent",
			window: time.Minute,
			attempts: []attempt{
				{"a", 1, 0, true},
				{"b", 1, 0, true},
				{"a", 1, time.Second, false},
				{"b", 1, time.Second, false},
				{"c", 1, time.Second, true},
				{"", 1, time.Second, true},
				{"", 1, time.Second, false},
			},
		},
		{
			name:   "a refused key does not use up another key",
			window: time.Minute,
			attempts: []attempt{
				{"a", 1, 0, true},
				{"a", 1, 0, false},
				{"a", 1, 0, false},
				{"b", 2, 0, true},
				{"b", 2, 0, true},
				{"b", 2, 0, false},
			},
		},
		{
			name:   "sweeping stale keys keeps live ones",
			window: time.Minute,
			attempts: []attempt{
				{"stale", 1, 0, true},
				{"live", 1, 50 * time.Second, true},
				// more than a window since the first sweep: "stale" is swept, "live" must stay counted
				{"other", 1, 61 * time.Second, true},
				{"live", 1, 62 * time.Second, false},
				{"stale", 1, 63 * time.Second, true},
			},
		},
		{
			name:   "limit raised between calls",
			window: time.Minute,
			attempts: []attempt{
				{"a", 1, 0, true},
				{"a", 1, time.Second, false},
				{"a", 2, 2 * time.Second, true},
				{"a", 2, 3 * time.Second, false},
			},
		},
		{
			name:   "another window length",
			window: 10 * time.Second,
			attempts: []attempt{
				{"a", 1, 0, true},
				{"a", 1, 9 * time.Second, false},
				{"a", 1, 10 * time.Second, true},
			},
		},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			l := attempts.New(s.window)
			for i, a := range s.attempts {
				if got := l.Allow(attempts.Key{Id: a.key}, a.limit, t0.Add(a.at)); got != a.want {
					t.Errorf("attempt %d: Allow(%q, %d, t0+%v) = %v, want %v", i, a.key, a.limit, a.at, got, a.want)
				}
			}
		})
	}
}

func TestAllowConcurrent(t *testing.T) {
	scenarios := []struct {
		name       string
		goroutines int
		limit      int
	}{
		{"50 callers limit 5", 50, 5},
		{"50 callers limit 1", 50, 1},
		{"10 callers limit 10", 10, 10},
		{"10 callers limit 20", 10, 20},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			l := attempts.New(time.Minute)
			var allowed atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range s.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if l.Allow(attempts.Key{Id: "same key"}, s.limit, t0) {
						allowed.Add(1)
					}
				}()
			}
			close(start)
			wg.Wait()

			want := int64(min(s.goroutines, s.limit))
			if got := allowed.Load(); got != want {
				t.Errorf("%d concurrent Allow calls with limit %d: %d allowed, want %d", s.goroutines, s.limit, got, want)
			}
			// the key is full now, whatever the interleaving was
			if s.goroutines >= s.limit && l.Allow(attempts.Key{Id: "same key"}, s.limit, t0) {
				t.Errorf("Allow after the concurrent burst = true, want false")
			}
		})
	}
}

func TestAllowConcurrentKeys(t *testing.T) {
	// many keys at once, each over its limit, with the sweep running as time moves on
	const keys, perKey, limit = 20, 10, 3
	l := attempts.New(time.Minute)
	counts := make([]atomic.Int64, keys)
	var wg sync.WaitGroup
	for k := range keys {
		for i := range perKey {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// every attempt is within one window of t0, so the order of the calls does not matter
				now := t0.Add(time.Duration(i) * time.Second)
				if l.Allow(attempts.Key{Collection: "users", Id: fmt.Sprintf("key-%d", k)}, limit, now) {
					counts[k].Add(1)
				}
			}()
		}
	}
	wg.Wait()
	for k := range counts {
		if got := counts[k].Load(); got != limit {
			t.Errorf("key-%d: %d allowed, want %d", k, got, limit)
		}
	}
}

func ExampleLimiter_Allow() {
	l := attempts.New(time.Minute)
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	actor := attempts.Key{Collection: "_pb_users_auth_", Id: "4q1xlclmfloku33"}

	fmt.Println(l.Allow(actor, 2, start))
	fmt.Println(l.Allow(actor, 2, start.Add(10*time.Second)))
	fmt.Println(l.Allow(actor, 2, start.Add(20*time.Second)))
	fmt.Println(l.Allow(actor, 2, start.Add(time.Minute)))
	// Output:
	// true
	// true
	// false
	// true
}

// refusal is one call of Throttle.Refuse, or of Due when due is set, and
// what it must answer: whether the attempt opens a run, or the runs due,
// as "key:count@first-last" in seconds after t0.
type refusal struct {
	key   string
	at    time.Duration // after t0
	due   bool
	opens bool
	runs  string
}

func TestThrottle(t *testing.T) {
	scenarios := []struct {
		name  string
		calls []refusal
		// drained is what Drain returns after the calls
		drained string
	}{
		{
			name: "the first refusal opens a run, the rest are counted",
			calls: []refusal{
				{key: "a", at: 0, opens: true},
				{key: "a", at: time.Second},
				{key: "a", at: 2 * time.Second},
			},
			drained: "a:2@1-2",
		},
		{
			name: "a run is due one window after it opened, not before",
			calls: []refusal{
				{key: "a", at: 0, opens: true},
				{key: "a", at: 10 * time.Second},
				{key: "a", at: 50 * time.Second},
				{due: true, at: time.Minute - time.Nanosecond, runs: ""},
				{due: true, at: time.Minute, runs: "a:2@10-50"},
				{due: true, at: 2 * time.Minute, runs: ""},
			},
		},
		{
			name: "a refusal after the window opens the next run and closes the last",
			calls: []refusal{
				{key: "a", at: 0, opens: true},
				{key: "a", at: 30 * time.Second},
				{key: "a", at: 70 * time.Second, opens: true},
				{key: "a", at: 80 * time.Second},
				{due: true, at: 80 * time.Second, runs: "a:1@30-30"},
			},
			drained: "a:1@80-80",
		},
		{
			name: "a run of one has nothing more to record",
			calls: []refusal{
				{key: "a", at: 0, opens: true},
				{due: true, at: time.Hour, runs: ""},
				{key: "a", at: time.Hour, opens: true},
			},
		},
		{
			name: "keys run apart, due runs oldest first",
			calls: []refusal{
				{key: "a", at: 0, opens: true},
				{key: "b", at: time.Second, opens: true},
				{key: "b", at: 2 * time.Second},
				{key: "a", at: 3 * time.Second},
				{key: "b", at: 4 * time.Second},
				{due: true, at: 2 * time.Minute, runs: "b:2@2-4,a:1@3-3"},
			},
		},
		{
			name: "Drain takes runs whose window has not passed",
			calls: []refusal{
				{key: "a", at: 0, opens: true},
				{key: "a", at: time.Second},
				{key: "b", at: time.Second, opens: true},
				{key: "b", at: 5 * time.Second},
			},
			drained: "a:1@1-1,b:1@5-5",
		},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			th := attempts.NewThrottle(time.Minute)
			for i, c := range s.calls {
				if c.due {
					if got := runsText(th.Due(t0.Add(c.at))); got != c.runs {
						t.Errorf("call %d: Due(t0+%v) = %q, want %q", i, c.at, got, c.runs)
					}
					continue
				}
				if got := th.Refuse(attempts.Key{Id: c.key}, t0.Add(c.at)); got != c.opens {
					t.Errorf("call %d: Refuse(%q, t0+%v) opens = %v, want %v", i, c.key, c.at, got, c.opens)
				}
			}
			if got := runsText(th.Drain()); got != s.drained {
				t.Errorf("Drain() = %q, want %q", got, s.drained)
			}
			if got := th.Drain(); len(got) != 0 {
				t.Errorf("a second Drain() = %v, want none", got)
			}
		})
	}
}

// TestThrottleConcurrent refuses many attempts of one key at once: one
// opens the run, and the run counts every other.
func TestThrottleConcurrent(t *testing.T) {
	const refusals = 200
	th := attempts.NewThrottle(time.Minute)
	var opened atomic.Int64
	var wg sync.WaitGroup
	for i := range refusals {
		wg.Go(func() {
			if th.Refuse(attempts.Key{Id: "a"}, t0.Add(time.Duration(i)*time.Millisecond)) {
				opened.Add(1)
			}
		})
	}
	wg.Wait()
	runs := th.Drain()
	if opened.Load() != 1 || len(runs) != 1 || runs[0].Count != refusals-1 {
		t.Errorf("opened %d, runs %v; want 1 opened and one run of %d", opened.Load(), runs, refusals-1)
	}
}

// runsText writes runs as "key:count@first-last", first and last in
// seconds after t0.
func runsText(runs []attempts.Run) string {
	var out []string
	for _, r := range runs {
		out = append(out, fmt.Sprintf("%s:%d@%d-%d", r.Key.Id, r.Count, int(r.First.Sub(t0).Seconds()), int(r.Last.Sub(t0).Seconds())))
	}
	return strings.Join(out, ",")
}

func ExampleThrottle() {
	th := attempts.NewThrottle(time.Minute)
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	actor := attempts.Key{Collection: "_pb_users_auth_", Id: "4q1xlclmfloku33"}

	// 50 attempts over the limit, a second apart
	for i := range 50 {
		if th.Refuse(actor, start.Add(time.Duration(i)*time.Second)) {
			fmt.Println("record the first at once")
		}
	}
	for _, run := range th.Due(start.Add(time.Minute)) {
		fmt.Printf("then one record of %d, from %s to %s\n", run.Count, run.First.Format("15:04:05"), run.Last.Format("15:04:05"))
	}
	// Output:
	// record the first at once
	// then one record of 49, from 12:00:01 to 12:00:49
}
