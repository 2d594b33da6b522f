package plugin

import (
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// Session is an impersonation session, as the plugin's hooks and
// FromRequest report it: a copy of its impersonation_sessions record.
type Session struct {
	// Id is the session record's id (the token's "sid" claim).
	Id string
	// Actor and ActorCollection are the record id and collection id of
	// the impersonator.
	Actor, ActorCollection string
	// Target and TargetCollection are those of the user impersonated.
	Target, TargetCollection string
	// Mode is what the session may do.
	Mode Mode
	// Reason is the reason given at the start; empty when the policy
	// does not require one and none was given.
	Reason string
	// Started is when the session started.
	Started time.Time
	// Expires is when the session ends if nothing ends it first.
	Expires time.Time
	// Ended is when the session ended; zero while it is live.
	Ended time.Time
	// EndCause says what ended it; empty while it is live. One of
	// "stopped", "expired", "consent_revoked", "consent_shortened",
	// "target_deleted", "actor_deleted", "policy_changed",
	// "token_revoked", "actor_token_revoked", "actor_not_allowed",
	// "target_not_allowed" and "no_longer_allowed" (the README's
	// "Sessions end when their grounds go" says when each happens).
	EndCause string
	// Request is the id of the approved request for access the session
	// started on; empty when it started under consent or break-glass.
	Request string
	// BreakGlass reports whether the session started without consent, in
	// an emergency.
	BreakGlass bool
}

// sessionOf copies s.
func sessionOf(s *records.Session) Session {
	return Session{
		Id:    s.Id,
		Actor: s.Actor(), ActorCollection: s.ActorCollection(),
		Target: s.Target(), TargetCollection: s.TargetCollection(),
		Mode:       Mode(s.Mode()),
		Reason:     s.Reason(),
		Started:    s.GetDateTime("created").Time(),
		Expires:    s.Expires(),
		Ended:      s.Ended(),
		EndCause:   string(s.EndCause()),
		Request:    s.Request(),
		BreakGlass: s.BreakGlass(),
	}
}

// cloneOf returns a copy of r, nil for nil.
func cloneOf(r *core.Record) *core.Record {
	if r == nil {
		return nil
	}
	return r.Clone()
}

// policyRecord returns a copy of p's record, nil for no policy: the
// record itself is the one the plugin's checks read (cached), which a
// handler's change must not reach.
func policyRecord(p *records.Policy) *core.Record {
	if p == nil {
		return nil
	}
	return cloneOf(p.Record)
}

// Impersonation is the impersonation a request is made under.
type Impersonation struct {
	// Session is the live session whose token the request carries.
	Session Session
	// Actor is the impersonator's auth record (a copy).
	Actor *core.Record
	// Policy is the impersonation_policies record of the target's
	// collection (a copy: changing it changes nothing).
	Policy *core.Record
}

// FromRequest returns the impersonation e is made under, or nil when e does
// not carry a valid impersonation token. The request guard, which runs
// right after PocketBase loads e.Auth (whose record is the target), sets
// it; every later middleware, route and request hook can read it.
func FromRequest(e *core.RequestEvent) *Impersonation {
	c := sessions.FromRequest(e)
	if c == nil {
		return nil
	}
	return &Impersonation{Session: sessionOf(c.Session), Actor: cloneOf(c.Actor), Policy: policyRecord(c.Policy)}
}

// StartEvent is the event of OnSessionStart: a start whose input is valid,
// before the policy decision and the session's transaction.
type StartEvent struct {
	hook.Event
	App     core.App
	Request *core.RequestEvent

	// Actor is the impersonator's auth record (a copy: the decision reads
	// the actor as they signed in).
	Actor *core.Record
	// Policy is a copy of the impersonation_policies record of the
	// collection named in the request (changing it changes nothing); nil
	// when it has none (the start is then refused).
	Policy *core.Record
	// Now is the time of the start, on Config.Clock.
	Now time.Time

	// Target, Mode, Reason and Minutes are what was asked for: Target is
	// the auth record of the user to impersonate (nil when the request
	// names none that exists), Minutes 0 means the policy's longest. A
	// handler may change them; the policy decision then judges the
	// changed start.
	Target  *core.Record
	Mode    Mode
	Reason  string
	Minutes int
	// Data, when a handler sets it, is added to the session.started
	// audit entry.
	Data map[string]any
	// BreakGlass reports whether the start asks to begin without consent,
	// in an emergency (a handler cannot change it; it may veto the start).
	BreakGlass bool
}

// EndEvent is the event of OnSessionEnd, triggered after a session's end
// has been committed, whatever ended it.
type EndEvent struct {
	hook.Event
	App     core.App
	Session Session
}

// bridge runs the app's OnSessionStart and OnSessionEnd handlers from the
// core's hook points: a start's changes go back to the core's start.
func (p *Plugin) bridge(core sessions.Hooks) {
	core.Start.BindFunc(func(se *sessions.StartEvent) error {
		s := se.Start
		e := &StartEvent{
			App: se.App, Request: se.Request,
			Actor: cloneOf(s.Actor), Target: cloneOf(s.Target), Policy: policyRecord(s.Policy), Now: s.Now,
			Mode: Mode(s.Mode), Reason: s.Reason, Minutes: s.Minutes, Data: s.Data, BreakGlass: s.BreakGlass,
		}
		stored := s.Target
		return p.onStart.Trigger(e, func(e *StartEvent) error {
			// the decision reads the target as stored: a handler chooses
			// whom, never what the rule sees of them (the handlers had a
			// copy of the stored record; another target is read afresh)
			switch {
			case e.Target == nil:
				s.Target = nil
			case stored != nil && e.Target.Id == stored.Id && e.Target.Collection().Id == stored.Collection().Id:
				s.Target = stored
			default:
				s.Target, _ = se.App.FindRecordById(e.Target.Collection(), e.Target.Id)
			}
			s.Mode, s.Reason, s.Minutes, s.Data = records.Mode(e.Mode), e.Reason, e.Minutes, e.Data
			return se.Next()
		})
	})
	core.End.BindFunc(func(se *sessions.EndEvent) error {
		return p.onEnd.Trigger(&EndEvent{App: se.App, Session: sessionOf(se.Session)}, func(*EndEvent) error {
			return se.Next()
		})
	})
}
