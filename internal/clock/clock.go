// Package clock is the time source of everything the plugin times itself:
// sessions, consents, pruning, the refusal window and the timers that end
// the sessions of realtime clients. PocketBase's own clocks (a token's exp,
// autodate fields, cron) are outside it.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and runs functions after a while.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed, unless
	// the stop function it returns is called first (stop reports whether
	// it stopped the call).
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// System is the system clock.
var System Clock = system{}

type system struct{}

func (system) Now() time.Time { return time.Now() }

func (system) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Manual is a Clock that moves only when Advance or Set moves it; tests use
// it so that nothing waits for real time. It is safe for concurrent use.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*manualTimer]bool
	// running counts the functions started and not yet returned; idle is
	// broadcast when it drops to zero
	running int
	idle    *sync.Cond
}

type manualTimer struct {
	at time.Time
	f  func()
}

// NewManual returns a Manual clock set to now.
func NewManual(now time.Time) *Manual {
	c := &Manual{now: now, timers: map[*manualTimer]bool{}}
	c.idle = sync.NewCond(&c.mu)
	return c
}

// Now returns the clock's time.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc calls f, in its own goroutine, once the clock has moved d on.
func (c *Manual) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{at: c.now.Add(d), f: f}
	if d <= 0 {
		c.start(f)
		return func() bool { return false }
	}
	c.timers[t] = true
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		pending := c.timers[t]
		delete(c.timers, t)
		return pending
	}
}

// Advance moves the clock d on and starts the functions now due.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			delete(c.timers, t)
			c.start(t.f)
		}
	}
}

// Wait returns once every function the clock has started has returned: a
// test waits for the background work of a request before it reads what
// that work changed, or counts the app's events.
func (c *Manual) Wait() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.running > 0 {
		c.idle.Wait()
	}
}

// start runs f in its own goroutine, counted until it returns; c.mu is held.
func (c *Manual) start(f func()) {
	c.running++
	go func() {
		defer func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.running--; c.running == 0 {
				c.idle.Broadcast()
			}
		}()
		f()
	}()
}
