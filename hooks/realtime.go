package hooks

import (
	"net/http"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// realtimeSessionKey is where a realtime client keeps the id of the
// session whose token authorised its subscriptions.
const realtimeSessionKey = "impersonationSession"

// markRealtimeClient refuses subscriptions whose options set the session
// header (for anyone: PocketBase checks realtime events against the
// options' headers), remembers the session of a realtime client subscribed
// with an impersonation token, and ends the session when it expires, so the
// client is disconnected on time even if it makes no further request.
func (p *handlers) markRealtimeClient(e *core.RealtimeSubscribeRequestEvent) error {
	for _, sub := range e.Subscriptions {
		if subscriptionSetsSessionHeader(sub) {
			return refuse(http.StatusForbidden, refusals.CodeSessionHeader, nil)
		}
	}
	current := sessions.FromRequest(e.RequestEvent)
	if current == nil {
		return e.Next()
	}
	if err := limitSubscriptions(e, current); err != nil {
		return err
	}
	if err := p.limitMaskedSubscriptions(e, current); err != nil {
		return err
	}
	s := current.Session
	if e.Client.Get(realtimeSessionKey) == s.Id {
		return e.Next() // already marked, and its expiry already scheduled
	}
	e.Client.Set(realtimeSessionKey, s.Id)
	p.expiries.add(s.Expires().Sub(p.opts.Clock.Now())+time.Second, func() {
		live, err := records.FindSession(p.app, s.Id)
		if err != nil || live.IsEnded() {
			return
		}
		if err := sessions.End(p.opts.Audit, p.app, live, records.EndExpired, p.opts.Clock.Now(), audit.Client{}); err != nil {
			p.app.Logger().Error("impersonation: end an expired session", "error", err)
		}
	})
	return e.Next()
}

// expiryTimers are timers that stop, and never fire again, once the app
// terminates (its database is gone by then).
type expiryTimers struct {
	clock   clock.Clock
	mu      sync.Mutex
	stopped bool
	next    int
	stops   map[int]func() bool // of the timers not yet fired
}

// add runs f after d, unless the timers are stopped first.
func (t *expiryTimers) add(d time.Duration, f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	if t.stops == nil {
		t.stops = map[int]func() bool{}
	}
	id := t.next
	t.next++
	t.stops[id] = t.clock.AfterFunc(d, func() {
		t.mu.Lock()
		run := !t.stopped
		delete(t.stops, id)
		t.mu.Unlock()
		if run {
			f()
		}
	})
}

// stopAll stops the timers for good.
func (t *expiryTimers) stopAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	for _, stop := range t.stops {
		stop()
	}
	t.stops = nil
}

// sessionSaved notices a session's end, whatever ended it: it disconnects
// the realtime clients the session authorised, triggers the End hook, and
// starts the session's digest.
func (p *handlers) sessionSaved(e *core.RecordEvent) error {
	s := &records.Session{Record: e.Record}
	original := e.Record.Original()
	if !s.IsEnded() || original == nil || !original.GetDateTime("ended").IsZero() {
		return e.Next()
	}
	broker := e.App.SubscriptionsBroker()
	for id, client := range broker.Clients() {
		if client.Get(realtimeSessionKey) == s.Id {
			broker.Unregister(id)
		}
	}
	end := &sessions.EndEvent{App: e.App, Session: s}
	if err := p.opts.Hooks.End.Trigger(end); err != nil {
		e.App.Logger().Error("impersonation: an OnSessionEnd handler failed", "error", err)
	}
	p.digestWhenAnswered(s.Id)
	return e.Next()
}
