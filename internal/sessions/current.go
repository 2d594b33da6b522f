package sessions

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/policy"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// Current is the impersonation a request is made under: the live session
// its token belongs to, and the actor behind it.
type Current struct {
	Session *records.Session
	Actor   *core.Record
	Policy  *records.Policy
}

// Header is set by the guard on every request made while impersonating,
// to the session's id, and removed from every other request, so an app's
// API rules can say "not while impersonating":
//
//	@request.headers.x_impersonation_session = ""
const Header = "X-Impersonation-Session"

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
// as target, as it ran when s started, with the records read through r.
//
// On a refusal it returns the cause s must end with and the refusal;
// ruleCause is the cause when the impersonatorRule no longer matches (the
// caller knows whose change it is looking at: the actor's, the target's,
// the policy's, or nobody's in particular). When the database fails, no
// decision is made: it returns an empty cause and an error wrapping
// policy.ErrUndecided, and s must not be ended on that account.
func Recheck(app core.App, r Reader, s *records.Session, target *core.Record, now time.Time, ruleCause records.EndCause) (*Current, records.EndCause, error) {
	req := policy.Request{Target: target, Mode: s.Mode(), Now: now, BreakGlass: s.BreakGlass()}
	var errs [4]error
	req.Actor, errs[0] = r.Record(s.ActorCollection(), s.Actor())
	req.Policy, errs[1] = r.Policy(target.Collection().Name)
	req.Consent, errs[2] = r.Consent(target)
	if id := s.Request(); id != "" {
		req.Approval, errs[3] = r.Request(id)
	}
	for _, err := range errs {
		if err != nil && !IsNotFound(err) {
			return nil, "", fmt.Errorf("%w: recheck session %s: %w", policy.ErrUndecided, s.Id, err)
		}
	}
	if err := policy.Check(app, req); err != nil {
		return nil, endCauseOf(err, ruleCause), err
	}
	return &Current{Session: s, Actor: req.Actor, Policy: req.Policy}, "", nil
}

// IsNotFound reports whether err says that a record does not exist, rather
// than that the database failed.
func IsNotFound(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, errNotFound)
}

// RecheckLive runs Recheck (with ruleCause, read from the database) on
// every live session that matches filter and ends those it refuses. It is
// how a change to a policy, an actor or a target reaches sessions that make
// no further request. A session whose recheck fails on a database error
// stands; the errors are returned together after every other session was
// rechecked.
func RecheckLive(log *audit.Log, app core.App, filter string, params dbx.Params, now time.Time, client audit.Client, ruleCause records.EndCause) error {
	live, err := records.FindLiveSessions(app, filter, params)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range live {
		cause := records.EndTargetDeleted
		target, err := app.FindRecordById(s.TargetCollection(), s.Target())
		switch {
		case err == nil:
			_, cause, err = Recheck(app, NewDBReader(app), s, target, now, ruleCause)
		case IsNotFound(err):
			err = nil
		}
		if cause == "" {
			errs = append(errs, err)
			continue
		}
		if err := End(log, app, s, cause, now, client); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// endCauseOf maps a refusal of a live session to the cause it ends with;
// ruleCause is the cause of a rule that no longer matches. An error that is
// not a refusal has no cause.
func endCauseOf(err error, ruleCause records.EndCause) records.EndCause {
	var r *policy.Refusal
	if !errors.As(err, &r) {
		return ""
	}
	switch r.Code {
	case policy.CodeActorNotFound:
		return records.EndActorDeleted
	case policy.CodeTargetNotFound:
		return records.EndTargetDeleted
	case policy.CodeConsentRequired:
		return records.EndConsentRevoked
	case policy.CodeRuleFailed:
		return ruleCause
	default:
		return records.EndPolicyChanged
	}
}
