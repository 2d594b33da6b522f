// Package requests is access by request: an actor asks to act as a user
// whose policy requires consent they have not given, and the user, an
// approver, or both (the policy's approval) answer. An approved request
// lets its actor start one session (see sessions.Begin, which claims it),
// within records.ClaimWindow, for at most the approved minutes and mode.
//
// Every change of a request and its audit entry are written in one
// transaction, and every change re-reads the request inside it, so two
// answers at once make one change.
package requests

import (
	"errors"
	"fmt"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/policy"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// Errors of the changes of a request.
var (
	// ErrPending: the actor has a request about the user waiting already.
	ErrPending = errors.New("a request is pending already")
	// ErrAnswered: the request has no answer of this kind left to give
	// (answered, expired, used, or this side answered already).
	ErrAnswered = errors.New("the request is answered already")
	// ErrExpired: the request lapsed before this answer.
	ErrExpired = errors.New("the request has expired")
	// ErrNotCounted: the user's approval, where the policy counts an
	// approver's alone.
	ErrNotCounted = errors.New("this approval does not count under the policy")
	// ErrWidening: an approval asked for more minutes, or write for read.
	ErrWidening = errors.New("an approval may only narrow a request")
)

// Role is whose answer a caller gives to a request.
type Role string

// Roles of an answer.
const (
	// RoleNone: the caller may not answer (or see) the request.
	RoleNone Role = ""
	// RoleUser: the user the request is about.
	RoleUser Role = "user"
	// RoleApprover: an approver under the policy's approverRule.
	RoleApprover Role = "approver"
	// RoleAsker: the actor who asked, who never answers their own request.
	RoleAsker Role = "asker"
)

// RoleOf returns the role in which caller may answer r, a request about
// user under p: the asker first (never an approver of their own request,
// superuser or not), then the user (who may always decline, and approve
// where p's approval counts them: see Counts), then an approver; RoleNone
// when their answer does not count under p's approval.
func RoleOf(app core.App, p *records.Policy, r *records.Request, caller, user *core.Record) (Role, error) {
	switch {
	case caller.Id == r.Actor() && caller.Collection().Id == r.ActorCollection():
		return RoleAsker, nil
	case caller.Id == user.Id && caller.Collection().Id == user.Collection().Id:
		return RoleUser, nil
	case p.Approval() == records.ApprovalUser:
		return RoleNone, nil
	}
	ok, err := policy.ApproverRuleMatches(app, p, caller, user)
	if err != nil || !ok {
		return RoleNone, err
	}
	return RoleApprover, nil
}

// Counts reports whether an approval in role counts under p: the user's
// does unless p's approval is an approver's alone.
func Counts(p *records.Policy, role Role) bool {
	return role == RoleApprover || (role == RoleUser && p.Approval() != records.ApprovalApprover)
}

// Asking is what an actor asks for.
type Asking struct {
	Policy  *records.Policy
	Actor   *core.Record
	Target  *core.Record
	Reason  string
	Minutes int
	Mode    records.Mode
	Now     time.Time
	Client  audit.Client
}

// Ask writes a's request, pending until the policy's requestHours have
// passed, and its request.created entry, in one transaction. A request of
// the actor about the user already pending refuses it with ErrPending.
func Ask(log *audit.Log, app core.App, a Asking) (*records.Request, error) {
	if err := ExpireWhere(log, app, records.Between(a.Actor, a.Target), a.Now); err != nil {
		return nil, err
	}
	var asked *records.Request
	err := app.RunInTransaction(func(tx core.App) error {
		pending, err := records.FindRequests(tx, dbx.And(records.Between(a.Actor, a.Target), records.InStatus(records.RequestPending)), 1)
		if err != nil {
			return err
		}
		if len(pending) > 0 {
			return ErrPending
		}
		r, err := records.NewRequest(tx, a.Actor, a.Target)
		if err != nil {
			return err
		}
		r.SetReason(a.Reason)
		r.SetMinutes(a.Minutes)
		r.SetMode(a.Mode)
		r.SetExpires(a.Now.Add(time.Duration(a.Policy.RequestHours()) * time.Hour).Truncate(time.Second))
		if err := tx.Save(r); err != nil {
			return err
		}
		entry := entryOf(audit.RequestCreated, r, a.Client)
		entry.Data["minutes"] = r.Minutes()
		entry.Data["mode"] = string(r.Mode())
		entry.Data["expires"] = r.GetDateTime("expires").String()
		asked = r
		return log.Write(tx, entry)
	})
	return asked, err
}

// Answer is one answer to a request.
type Answer struct {
	// Id is the request's.
	Id string
	// By answers in Role (RoleUser or RoleApprover).
	By   *core.Record
	Role Role
	// Minutes and Mode narrow the request when approving (0 and "": as
	// asked).
	Minutes int
	Mode    records.Mode
	Now     time.Time
	Client  audit.Client
}

// Approve records an approval, narrowed by its minutes and mode, and its
// request.approved entry, in one transaction. The request is approved once
// every answer p's approval needs is in (data.approved: true); until then
// the entry says whose answer it awaits. A request that lapsed meanwhile
// is expired (its entry committed) and refused with ErrExpired.
func Approve(log *audit.Log, app core.App, p *records.Policy, a Answer) (*records.Request, error) {
	var approved *records.Request
	err := answer(log, app, a, func(tx core.App, r *records.Request) error {
		if r.Status() != records.RequestPending {
			return ErrAnswered
		}
		if a.Minutes > r.Minutes() || (a.Mode == records.ModeWrite && r.Mode() != records.ModeWrite) {
			return ErrWidening
		}
		if a.Minutes > 0 {
			r.SetMinutes(a.Minutes)
		}
		if a.Mode != "" {
			r.SetMode(a.Mode)
		}
		switch {
		case !Counts(p, a.Role):
			return ErrNotCounted
		case a.Role == RoleUser && r.UserAnswered().IsZero():
			r.SetUserAnswered(a.Now)
		case a.Role == RoleApprover && r.ApproverAnswered().IsZero():
			r.SetApprover(a.By, a.Now)
		default:
			return ErrAnswered
		}
		awaiting := awaitingOf(p, r)
		if awaiting == "" {
			r.SetStatus(records.RequestApproved)
			r.SetApproved(a.Now)
		}
		if err := tx.Save(r); err != nil {
			return err
		}
		entry := answerEntry(audit.RequestApproved, r, a)
		entry.Data["minutes"] = r.Minutes()
		entry.Data["mode"] = string(r.Mode())
		entry.Data["approved"] = awaiting == ""
		if awaiting != "" {
			entry.Data["awaiting"] = string(awaiting)
		}
		approved = r
		return log.Write(tx, entry)
	})
	return approved, err
}

// awaitingOf returns whose answer r still awaits under p's approval, or
// RoleNone when it has every answer it needs.
func awaitingOf(p *records.Policy, r *records.Request) Role {
	user, approver := !r.UserAnswered().IsZero(), !r.ApproverAnswered().IsZero()
	switch p.Approval() {
	case records.ApprovalApprover:
		if !approver {
			return RoleApprover
		}
	case records.ApprovalBoth:
		if !user {
			return RoleUser
		}
		if !approver {
			return RoleApprover
		}
	default:
		if !user {
			return RoleUser
		}
	}
	return RoleNone
}

// Decline records a refusal and its entry, in one transaction: a pending
// request is declined (request.declined); an approved one, used or not, is
// withdrawn (request.withdrawn), and the session it started ends with
// consent_revoked, as when a user withdraws consent. A request answered for
// good, or used by a session that has ended (over), is ErrAnswered.
func Decline(log *audit.Log, app core.App, a Answer) (*records.Request, error) {
	var declined *records.Request
	err := answer(log, app, a, func(tx core.App, r *records.Request) error {
		event := audit.RequestDeclined
		switch r.Status() {
		case records.RequestPending:
			r.SetStatus(records.RequestDeclined)
		case records.RequestApproved, records.RequestUsed:
			switch over, err := over(tx, r, a.Now); {
			case err != nil:
				return err
			case over:
				return ErrAnswered
			}
			event = audit.RequestWithdrawn
			r.SetStatus(records.RequestWithdrawn)
		default:
			return ErrAnswered
		}
		if err := withdraw(log, tx, r, event, a.Now, answerEntry(event, r, a)); err != nil {
			return err
		}
		declined = r
		return nil
	})
	return declined, err
}

// WithdrawOn withdraws every approved request about user, used or not (but
// not over: its session has ended), each with its request.withdrawn entry and the end of the session it
// started, in one transaction: what a withdrawal of consent does to them.
func WithdrawOn(log *audit.Log, app core.App, user *core.Record, now time.Time, client audit.Client) error {
	return app.RunInTransaction(func(tx core.App) error {
		approved, err := records.FindRequests(tx, dbx.And(records.On(user),
			records.InStatus(records.RequestApproved, records.RequestUsed)), 0)
		if err != nil {
			return err
		}
		for _, r := range approved {
			switch over, err := over(tx, r, now); {
			case err != nil:
				return err
			case over:
				continue
			}
			r.SetStatus(records.RequestWithdrawn)
			if err := withdraw(log, tx, r, audit.RequestWithdrawn, now, entryOf(audit.RequestWithdrawn, r, client)); err != nil {
				return err
			}
		}
		return nil
	})
}

// over tells whether r was used by a session that has ended (or expired)
// at now: such a request is answered for good, and nothing is left to
// withdraw.
func over(app core.App, r *records.Request, now time.Time) (bool, error) {
	if r.Status() != records.RequestUsed || r.Session() == "" {
		return false, nil
	}
	s, err := records.FindSession(app, r.Session())
	if err != nil {
		return false, fmt.Errorf("find the session of request %s: %w", r.Id, err)
	}
	return s.IsEnded() || !s.Expires().After(now), nil
}

// withdraw saves r, changed to declined or withdrawn, writes entry, and
// ends the session r started, if any, with consent_revoked.
func withdraw(log *audit.Log, tx core.App, r *records.Request, event string, now time.Time, entry audit.Entry) error {
	if err := tx.Save(r); err != nil {
		return err
	}
	if err := log.Write(tx, entry); err != nil {
		return err
	}
	if event != audit.RequestWithdrawn || r.Session() == "" {
		return nil
	}
	_, err := sessions.EndWhere(log, tx, "id = {:id}", dbx.Params{"id": r.Session()}, records.EndConsentRevoked, now, entry.Client)
	return err
}

// answer expires the request a answers if it has lapsed, then runs change
// on it, re-read inside a transaction.
func answer(log *audit.Log, app core.App, a Answer, change func(tx core.App, r *records.Request) error) error {
	if err := ExpireWhere(log, app, dbx.HashExp{"id": a.Id}, a.Now); err != nil {
		return err
	}
	return app.RunInTransaction(func(tx core.App) error {
		r, err := records.FindRequest(tx, a.Id)
		if err != nil {
			return err
		}
		if r.Status() == records.RequestExpired || (r.Status() == records.RequestPending && !r.PendingAt(a.Now)) {
			return ErrExpired // lapsed now: the minute job writes its entry
		}
		return change(tx, r)
	})
}

// ExpireWhere expires, with a request.expired entry each (data.status: what
// lapsed, pending or approved), the requests that match where (nil: all)
// and have lapsed at now: pending past their expiry, or approved and
// unused for records.ClaimWindow. It runs every minute, and before a
// request is answered, asked again or listed, so that whoever looks at a
// request sees it lapsed and the audit has said so first.
func ExpireWhere(log *audit.Log, app core.App, where dbx.Expression, now time.Time) error {
	nowDate, _ := types.ParseDateTime(now)
	claimable, _ := types.ParseDateTime(now.Add(-records.ClaimWindow))
	lapsed := dbx.Or(
		dbx.And(records.InStatus(records.RequestPending), dbx.NewExp("[[expires]] <= {:now}", dbx.Params{"now": nowDate.String()})),
		dbx.And(records.InStatus(records.RequestApproved), dbx.NewExp("[[approved]] <= {:claimable}", dbx.Params{"claimable": claimable.String()})),
	)
	if where != nil {
		lapsed = dbx.And(where, lapsed)
	}
	found, err := records.FindRequests(app, lapsed, 0)
	if err != nil || len(found) == 0 {
		return err
	}
	return app.RunInTransaction(func(tx core.App) error {
		for _, stale := range found {
			r, err := records.FindRequest(tx, stale.Id)
			if err != nil {
				return err
			}
			was := r.Status()
			if was != records.RequestPending && was != records.RequestApproved {
				continue // answered or claimed meanwhile
			}
			r.SetStatus(records.RequestExpired)
			if err := tx.Save(r); err != nil {
				return err
			}
			entry := entryOf(audit.RequestExpired, r, audit.Client{})
			entry.Data["status"] = string(was)
			if err := log.Write(tx, entry); err != nil {
				return err
			}
		}
		return nil
	})
}

// entryOf returns an entry of event about r: its actor, its user, its
// reason, and data.request, its id.
func entryOf(event string, r *records.Request, client audit.Client) audit.Entry {
	return audit.Entry{
		Event:            event,
		Actor:            r.Actor(),
		ActorCollection:  r.ActorCollection(),
		Target:           r.Target(),
		TargetCollection: r.TargetCollection(),
		Reason:           r.Reason(),
		Client:           client,
		Data:             map[string]any{"request": r.Id},
	}
}

// answerEntry is entryOf with who answered (data.by: id, collection and
// role).
func answerEntry(event string, r *records.Request, a Answer) audit.Entry {
	entry := entryOf(event, r, a.Client)
	entry.Data["by"] = map[string]any{"id": a.By.Id, "collectionId": a.By.Collection().Id, "role": string(a.Role)}
	return entry
}
