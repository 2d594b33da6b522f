// Package sessions starts and ends impersonation sessions.
//
// A session and its audit entry are always written in one transaction, and a
// token is minted only after that transaction has committed: no token exists
// without its session.started entry.
package sessions

import (
	"fmt"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/attempts"
	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/policy"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/tokens"
)

// Start is a request to start a session. Minutes is the asked length (0:
// the policy's maximum). A nil Policy or Target means there is none.
type Start struct {
	Policy  *records.Policy
	Actor   *core.Record
	Target  *core.Record
	Mode    records.Mode
	Now     time.Time
	Reason  string
	Minutes int
	Client  audit.Client
	// BreakGlass starts the session without consent, in an emergency, as
	// the policy allows (see policy.Check): flagged, and capped at the
	// policy's breakGlassMinutes.
	BreakGlass bool
	// Data is added to the data of the session.started entry.
	Data map[string]any
}

// Started is a session that has started, with its token.
type Started struct {
	Session *records.Session
	Token   string
}

// Expiry returns when a session decided on as d, asked for minutes (0:
// the longest allowed), ends: capped by the policy's maxMinutes, by its
// breakGlassMinutes for a break-glass session, by the approved minutes for
// a session on an approved request, and, when it runs under consent, by
// the consent's expiry; rounded down to whole seconds, as a token's exp is.
func Expiry(d policy.Request, minutes int) time.Time {
	p := d.Policy
	longest := p.MaxMinutes()
	switch {
	case d.BreakGlass:
		longest = min(longest, p.BreakGlassMinutes())
	case d.Approval != nil:
		longest = min(longest, d.Approval.Minutes())
	}
	if minutes <= 0 || minutes > longest {
		minutes = longest
	}
	expires := d.Now.Add(time.Duration(minutes) * time.Minute)
	underConsent := !d.BreakGlass && d.Approval == nil && p.Consent() != records.ConsentNone && d.Consent != nil
	if underConsent && d.Consent.Expires().Before(expires) {
		expires = d.Consent.Expires()
	}
	return expires.Truncate(time.Second)
}

// Decide gathers the target's consent and runs policy.Check on req (its
// policy, actor, target, mode, time, and break-glass). Where consent is
// required and not in force, a start (claim) takes the newest approved
// request of the actor about the target still claimable, which Check
// then weighs as the consent it stands for. It is the one decision made at
// start; Recheck makes it on every later request.
func Decide(app core.App, req policy.Request, claim bool) (policy.Request, error) {
	if req.Target != nil {
		if c, err := records.FindConsent(app, req.Target); err == nil {
			req.Consent = c
		}
	}
	needsGrant := !req.BreakGlass && req.Policy != nil && req.Policy.Consent() != records.ConsentNone && !req.Consent.LiveAt(req.Now)
	if claim && needsGrant && req.Actor != nil && req.Target != nil {
		approved, err := records.FindRequests(app, dbx.And(records.Between(req.Actor, req.Target),
			records.InStatus(records.RequestApproved)), 1)
		if err != nil {
			return req, fmt.Errorf("%w: find an approved request: %w", policy.ErrUndecided, err)
		}
		if len(approved) > 0 && approved[0].ClaimableAt(req.Now) {
			req.Approval = approved[0]
		}
	}
	return req, policy.Check(app, req)
}

// Begin decides on s, and when allowed writes the session and its
// session.started entry in one transaction (the decision runs inside it too,
// so a consent withdrawn meanwhile is seen), then mints the session's token.
// A refusal is returned as the *policy.Refusal of the decision; the caller
// records it with Deny.
func Begin(log *audit.Log, app core.App, s Start) (*Started, error) {
	var session *records.Session
	err := app.RunInTransaction(func(tx core.App) error {
		decided, err := Decide(tx, policy.Request{
			Policy: s.Policy, Actor: s.Actor, Target: s.Target, Mode: s.Mode, Now: s.Now, BreakGlass: s.BreakGlass,
		}, true)
		if err != nil {
			return err
		}
		session, err = records.NewSession(tx, s.Actor, s.Target)
		if err != nil {
			return err
		}
		session.SetReason(s.Reason)
		session.SetMode(s.Mode)
		session.SetExpires(Expiry(decided, s.Minutes))
		session.SetClient(s.Client.IP, s.Client.UserAgent)
		session.SetBreakGlass(s.BreakGlass)
		if decided.Approval != nil {
			session.SetRequest(decided.Approval.Id)
		}
		if err := tx.Save(session); err != nil {
			return err
		}
		if decided.Approval != nil {
			// claimed in this transaction: a concurrent start finds it used
			decided.Approval.SetStatus(records.RequestUsed)
			decided.Approval.SetSession(session.Id)
			if err := tx.Save(decided.Approval); err != nil {
				return err
			}
		}
		entry := audit.ForSession(audit.SessionStarted, session)
		entry.Client = s.Client
		for k, v := range s.Data {
			entry.Data[k] = v
		}
		if decided.Approval != nil {
			entry.Data["request"] = decided.Approval.Id
		}
		entry.Data["mode"] = string(s.Mode)
		entry.Data["expires"] = session.GetDateTime("expires").String()
		if masked, _ := s.Policy.MaskedFields(); len(masked) > 0 {
			entry.Data["maskedFields"] = masked
		}
		return log.Write(tx, entry)
	})
	if err != nil {
		return nil, err
	}

	token, err := tokens.Mint(s.Target, s.Actor, session.Id, session.Expires())
	if err != nil {
		return nil, err
	}
	return &Started{Session: session, Token: token}, nil
}

// Denial is a refused start: who asked, as whom, and why.
type Denial struct {
	Actor            *core.Record
	TargetCollection string // collection id, or the name asked for when no such collection exists
	Target           string
	Code             string
	Reason           string
	Client           audit.Client
	// BreakGlass: the start asked to begin without consent (its entry is
	// flagged as a break-glass session's entries are).
	BreakGlass bool
}

// Deny writes the session.denied entry of a refused start.
func Deny(log *audit.Log, app core.App, d Denial) error {
	entry := audit.Entry{
		Event:            audit.SessionDenied,
		Target:           d.Target,
		TargetCollection: d.TargetCollection,
		Reason:           d.Reason,
		Client:           d.Client,
		Data:             map[string]any{"code": d.Code},
	}
	if d.BreakGlass {
		entry.Data["breakGlass"] = true
	}
	if d.Actor != nil {
		entry.Actor = d.Actor.Id
		entry.ActorCollection = d.Actor.Collection().Id
	}
	return log.Write(app, entry)
}

// Throttled writes the session.throttled entry of run: start attempts of
// its actor refused over the attempt limit, whose runs last window. client
// is the attempt's when the run is the one attempt that opened it, or just
// the route (method, path, status) for the attempts counted after it.
func Throttled(log *audit.Log, app core.App, run attempts.Run, window time.Duration, client audit.Client) error {
	first, _ := types.ParseDateTime(run.First)
	last, _ := types.ParseDateTime(run.Last)
	return log.Write(app, audit.Entry{
		Event:           audit.SessionThrottled,
		Actor:           run.Key.Id,
		ActorCollection: run.Key.Collection,
		Client:          client,
		Data: map[string]any{
			"count": run.Count, "first": first.String(), "last": last.String(), "windowSeconds": int(window / time.Second),
		},
	})
}

// End ends session s with cause and writes its session.ended entry, in one
// transaction. Ending a session that has already ended changes nothing.
func End(log *audit.Log, app core.App, s *records.Session, cause records.EndCause, now time.Time, client audit.Client) error {
	return app.RunInTransaction(func(tx core.App) error {
		return end(log, tx, s.Id, cause, now, client)
	})
}

// EndWhere ends every live session that matches filter (see
// records.FindLiveSessions) with cause, in one transaction, and returns how
// many it ended.
func EndWhere(log *audit.Log, app core.App, filter string, params dbx.Params, cause records.EndCause, now time.Time, client audit.Client) (int, error) {
	ended := 0
	err := app.RunInTransaction(func(tx core.App) error {
		live, err := records.FindLiveSessions(tx, filter, params)
		if err != nil {
			return err
		}
		for _, s := range live {
			if err := end(log, tx, s.Id, cause, now, client); err != nil {
				return err
			}
		}
		ended = len(live)
		return nil
	})
	return ended, err
}

// end re-reads the session inside tx, so that two concurrent ends write one
// session.ended entry, not two.
func end(log *audit.Log, tx core.App, id string, cause records.EndCause, now time.Time, client audit.Client) error {
	s, err := records.FindSession(tx, id)
	if err != nil {
		return err
	}
	if s.IsEnded() {
		return nil
	}
	s.SetEnded(now, cause)
	if err := tx.Save(s); err != nil {
		return err
	}
	entry := audit.ForSession(audit.SessionEnded, s)
	entry.Client = client
	entry.Data["cause"] = string(cause)
	return log.Write(tx, entry)
}
