// Package sessions starts and ends impersonation sessions.
//
// A session and its audit entry are always written in one transaction, and a
// token is minted only after that transaction has committed: no token exists
// without its session.started entry.
package sessions

import (
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
	// Data is added to the data of the session.started entry.
	Data map[string]any
}

// Started is a session that has started, with its token.
type Started struct {
	Session *records.Session
	Token   string
}

// Expiry returns when a session asked for minutes (0: the policy maximum)
// ends: capped by the policy's maxMinutes and, when consent is required, by
// the consent's expiry; rounded down to whole seconds, as a token's exp is.
func Expiry(p *records.Policy, c *records.Consent, minutes int, now time.Time) time.Time {
	if minutes <= 0 || minutes > p.MaxMinutes() {
		minutes = p.MaxMinutes()
	}
	expires := now.Add(time.Duration(minutes) * time.Minute)
	if p.Consent() != records.ConsentNone && c != nil && c.Expires().Before(expires) {
		expires = c.Expires()
	}
	return expires.Truncate(time.Second)
}

// Decide gathers the target's consent and runs policy.Check. It is the one
// decision made at start and on every later request.
func Decide(app core.App, p *records.Policy, actor, target *core.Record, mode records.Mode, now time.Time) (policy.Request, error) {
	req := policy.Request{Policy: p, Actor: actor, Target: target, Mode: mode, Now: now}
	if target != nil {
		if c, err := records.FindConsent(app, target); err == nil {
			req.Consent = c
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
		decided, err := Decide(tx, s.Policy, s.Actor, s.Target, s.Mode, s.Now)
		if err != nil {
			return err
		}
		session, err = records.NewSession(tx, s.Actor, s.Target)
		if err != nil {
			return err
		}
		session.SetReason(s.Reason)
		session.SetMode(s.Mode)
		session.SetExpires(Expiry(s.Policy, decided.Consent, s.Minutes, s.Now))
		session.SetClient(s.Client.IP, s.Client.UserAgent)
		if err := tx.Save(session); err != nil {
			return err
		}
		entry := audit.ForSession(audit.SessionStarted, session)
		entry.Client = s.Client
		entry.Data = map[string]any{}
		for k, v := range s.Data {
			entry.Data[k] = v
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
	entry.Data = map[string]any{"cause": string(cause)}
	return log.Write(tx, entry)
}
