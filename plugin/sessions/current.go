package sessions

import (
	"errors"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/plugin/audit"
	"github.com/pbimpersonation/impersonation/plugin/policy"
	"github.com/pbimpersonation/impersonation/plugin/records"
)

// Current is the impersonation a request is made under: the live session
// its token belongs to, and the actor behind it.
type Current struct {
	Session *records.Session
	Actor   *core.Record
	Policy  *records.Policy
}

// requestKey is where a request event stores its *Current.
const requestKey = "impersonation"

// FromRequest returns the impersonation e is made under, or nil when e does
// not carry a valid impersonation token. It is set by the plugin's request
// guard, which runs right after PocketBase loads e.Auth.
func FromRequest(e *core.RequestEvent) *Current {
	c, _ := e.Get(requestKey).(*Current)
	return c
}

// MarkRequest stores c as the impersonation e is made under.
func MarkRequest(e *core.RequestEvent, c *Current) { e.Set(requestKey, c) }

// Recheck runs the policy decision again for a request made with s's token
// as target, as it ran when s started, with the records read through r. On
// a refusal it also returns the cause s must end with.
func Recheck(app core.App, r Reader, s *records.Session, target *core.Record, now time.Time) (*Current, records.EndCause, error) {
	req := policy.Request{Target: target, Mode: s.Mode(), Now: now}
	req.Actor, _ = r.Record(s.ActorCollection(), s.Actor())
	req.Policy, _ = r.Policy(target.Collection().Name)
	req.Consent, _ = r.Consent(target)
	if err := policy.Check(app, req); err != nil {
		return nil, endCauseOf(err), err
	}
	return &Current{Session: s, Actor: req.Actor, Policy: req.Policy}, "", nil
}

// RecheckLive runs Recheck on every live session that matches filter and
// ends those it refuses. It is how a policy change reaches sessions that
// make no further request.
func RecheckLive(app core.App, filter string, params dbx.Params, now time.Time, client audit.Client) error {
	live, err := records.FindLiveSessions(app, filter, params)
	if err != nil {
		return err
	}
	for _, s := range live {
		cause := records.EndTargetDeleted
		if target, err := app.FindRecordById(s.TargetCollection(), s.Target()); err == nil {
			_, cause, _ = Recheck(app, NewDBReader(app), s, target, now)
		}
		if cause == "" {
			continue
		}
		if err := End(app, s, cause, now, client); err != nil {
			return err
		}
	}
	return nil
}

// endCauseOf maps a refusal of a live session to the cause it ends with.
func endCauseOf(err error) records.EndCause {
	var r *policy.Refusal
	if !errors.As(err, &r) {
		return records.EndPolicyChanged
	}
	switch r.Code {
	case policy.CodeActorNotFound:
		return records.EndActorDeleted
	case policy.CodeTargetNotFound:
		return records.EndTargetDeleted
	case policy.CodeConsentRequired:
		return records.EndConsentRevoked
	default:
		return records.EndPolicyChanged
	}
}
