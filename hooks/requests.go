package hooks

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pocketbase/dbx"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/notify"
	"github.com/pbimpersonation/impersonation/internal/policy"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/requests"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// Route paths of access by request.
const (
	requestsPath       = "/api/impersonation/requests"
	requestApprovePath = "/api/impersonation/requests/{id}/approve"
	requestDeclinePath = "/api/impersonation/requests/{id}/decline"
)

// maxListedRequests is the most requests a list answers of each kind.
const maxListedRequests = 100

// requestResponse describes a request for access to whoever may see it:
// the actor who asked, the user, an approver.
type requestResponse struct {
	Id         string         `json:"id"`
	Status     string         `json:"status"`
	Expires    string         `json:"expires"`
	Collection string         `json:"collection"`
	Record     string         `json:"record"`
	User       *actorResponse `json:"user,omitzero"`
	Actor      *actorResponse `json:"actor,omitzero"`
	Reason     string         `json:"reason"`
	Minutes    int            `json:"minutes"`
	Mode       records.Mode   `json:"mode"`
	Created    string         `json:"created"`
	// UserAnswered, ApproverAnswered and Approved are when the user, an
	// approver, and (every answer in) the request approved; "" for not yet.
	UserAnswered     string         `json:"userAnswered"`
	Approver         *actorResponse `json:"approver,omitzero"`
	ApproverAnswered string         `json:"approverAnswered"`
	Approved         string         `json:"approved"`
	// Approval is whose answer counts (the policy's approval).
	Approval records.Approval `json:"approval"`
	// Session is the session started on the request ("": none).
	Session string `json:"session"`
	// Role is the caller's: asker, user, approver, or "" (may not answer).
	Role requests.Role `json:"role"`
}

// describeRequest describes r to a caller in role, under policy p.
func describeRequest(app core.App, p *records.Policy, r *records.Request, role requests.Role) requestResponse {
	out := requestResponse{
		Id: r.Id, Status: string(r.Status()), Expires: r.GetDateTime("expires").String(),
		Record: r.Target(), Reason: r.Reason(), Minutes: r.Minutes(), Mode: r.Mode(),
		Created: r.GetDateTime("created").String(), UserAnswered: r.GetDateTime("userAnswered").String(),
		ApproverAnswered: r.GetDateTime("approverAnswered").String(), Approved: r.GetDateTime("approved").String(),
		Session: r.Session(), Role: role, Approval: records.ApprovalUser,
	}
	if p != nil {
		out.Approval = p.Approval()
	}
	if c, err := app.FindCachedCollectionByNameOrId(r.TargetCollection()); err == nil {
		out.Collection = c.Name
	}
	if user, err := app.FindRecordById(r.TargetCollection(), r.Target()); err == nil {
		out.User = actorOf(user)
	}
	if actor, err := app.FindRecordById(r.ActorCollection(), r.Actor()); err == nil {
		out.Actor = actorOf(actor)
	}
	if id, collection := r.Approver(); id != "" {
		if approver, err := app.FindRecordById(collection, id); err == nil {
			out.Approver = actorOf(approver)
		}
	}
	return out
}

// askBody is the body of POST requestsPath.
type askBody struct {
	Collection string `json:"collection" form:"collection"`
	Record     string `json:"record" form:"record"`
	Reason     string `json:"reason" form:"reason"`
	Minutes    any    `json:"minutes" form:"minutes"`
	Mode       string `json:"mode" form:"mode"`
}

// requestAsk lets an actor the policy allows ask to act as a user whose
// consent is required and not in force. Each ask counts toward the actor's
// attempt limit, as a start does.
func (p *handlers) requestAsk(e *core.RequestEvent) error {
	if e.Auth == nil {
		return refuse(http.StatusUnauthorized, refusals.CodeAuthRequired, nil)
	}
	if sessions.FromRequest(e) != nil {
		return refuse(http.StatusForbidden, refusals.CodeChaining, nil)
	}
	now := p.opts.Clock.Now()
	var body askBody
	bindErr := e.BindBody(&body)

	var pol *records.Policy
	collection, _ := e.App.FindCachedCollectionByNameOrId(body.Collection)
	limit := p.opts.DefaultAttemptsPerMinute
	if collection != nil {
		if found, err := p.cache.Policy(collection.Name); err == nil {
			pol, limit = found, found.AttemptsPerMinute()
		}
	}
	if !p.attempts.Allow(attemptKey(e.Auth), limit, now) {
		return refuse(http.StatusTooManyRequests, refusals.CodeRateLimited, nil)
	}
	if bindErr != nil {
		return refuseBody(bindErr)
	}
	if body.Collection != "" && body.Record != "" && (pol == nil || !pol.Enabled()) {
		return refuse(http.StatusForbidden, refusals.CodeNotAllowed, nil)
	}
	start, errs := p.startFrom(startBody{Collection: body.Collection, Record: body.Record, Reason: body.Reason, Minutes: body.Minutes, Mode: body.Mode}, pol)
	if pol != nil && start.Minutes > pol.MaxMinutes() {
		errs["minutes"] = validation.ErrMaxLessEqualThanRequired.SetParams(map[string]any{"threshold": pol.MaxMinutes()})
	}
	if len(errs) > 0 {
		return refuseFields(errs)
	}
	if start.Minutes == 0 {
		start.Minutes = pol.MaxMinutes()
	}
	target, _ := e.App.FindRecordById(collection, body.Record)
	decided, err := sessions.Decide(e.App, policy.Request{Policy: pol, Actor: e.Auth, Target: target, Mode: start.Mode, Now: now}, false)
	var refusal *policy.Refusal
	switch {
	case err == nil:
		return refuse(http.StatusConflict, refusals.CodeRequestNotNeeded, nil)
	case errors.As(err, &refusal) && refusal.Code == policy.CodeConsentRequired:
	case errors.As(err, &refusal):
		return refusalError(e, refusal)
	default:
		return e.InternalServerError("", err)
	}
	r, err := requests.Ask(p.opts.Audit, e.App, requests.Asking{
		Policy: pol, Actor: e.Auth, Target: decided.Target, Reason: start.Reason, Minutes: start.Minutes, Mode: start.Mode,
		Now: now, Client: audit.ClientOf(e, http.StatusOK),
	})
	switch {
	case errors.Is(err, requests.ErrPending):
		return refuse(http.StatusConflict, refusals.CodeRequestPending, nil)
	case err != nil:
		return e.InternalServerError("", err)
	}
	p.notifyAccess(e.App, notify.KindAsked, r, nil)
	return e.JSON(http.StatusOK, describeRequest(e.App, pol, r, requests.RoleAsker))
}

// requestAnswerer returns the request named by e's path, its policy, and
// the caller's role in it, or the error to answer with: a request the
// caller may not answer is not found (one answer for "no such request" and
// "not yours"); the actor who asked is refused, superuser or not.
func (p *handlers) requestAnswerer(e *core.RequestEvent) (*records.Request, *records.Policy, requests.Role, error) {
	caller, err := consentUser(e)
	if err != nil {
		return nil, nil, "", err
	}
	notFound := refuse(http.StatusNotFound, refusals.CodeNotFound, nil)
	r, err := records.FindRequest(e.App, e.Request.PathValue("id"))
	if err != nil {
		return nil, nil, "", notFound
	}
	user, err := e.App.FindRecordById(r.TargetCollection(), r.Target())
	if err != nil {
		return nil, nil, "", notFound
	}
	pol, err := records.FindPolicy(e.App, user.Collection().Name)
	if err != nil {
		return nil, nil, "", notFound
	}
	role, err := requests.RoleOf(e.App, pol, r, caller, user)
	switch {
	case err != nil:
		return nil, nil, "", e.InternalServerError("", err)
	case role == requests.RoleAsker:
		return nil, nil, "", refuse(http.StatusForbidden, refusals.CodeOwnRequest, nil)
	case role == requests.RoleNone:
		return nil, nil, "", notFound
	}
	return r, pol, role, nil
}

// approveBody is the body of POST requestApprovePath: what the approval
// narrows (nothing: as asked).
type approveBody struct {
	Minutes any    `json:"minutes" form:"minutes"`
	Mode    string `json:"mode" form:"mode"`
}

func (p *handlers) requestApprove(e *core.RequestEvent) error {
	r, pol, role, err := p.requestAnswerer(e)
	if err != nil {
		return err
	}
	if !requests.Counts(pol, role) {
		return refuse(http.StatusForbidden, refusals.CodeApprovalNotCounted, nil)
	}
	var body approveBody
	if err := e.BindBody(&body); err != nil {
		return refuseBody(err)
	}
	answer := requests.Answer{Id: r.Id, By: e.Auth, Role: role, Now: p.opts.Clock.Now(), Client: audit.ClientOf(e, http.StatusOK)}
	errs := validation.Errors{}
	if body.Minutes != nil {
		minutes, ok := wholeNumber(body.Minutes)
		switch {
		case !ok || minutes < 1:
			errs["minutes"] = validation.NewError("validation_not_whole_minutes", "Must be a whole number of minutes, at least 1.")
		case minutes > r.Minutes():
			errs["minutes"] = widening(r)
		}
		answer.Minutes = minutes
	}
	switch records.Mode(body.Mode) {
	case "":
	case records.ModeRead:
		answer.Mode = records.ModeRead
	case records.ModeWrite:
		if r.Mode() != records.ModeWrite {
			errs["mode"] = widening(r)
		}
		answer.Mode = records.ModeWrite
	default:
		errs["mode"] = validation.ErrInInvalid
	}
	if len(errs) > 0 {
		return refuseFields(errs)
	}
	approved, err := requests.Approve(p.opts.Audit, e.App, pol, answer)
	if err != nil {
		return answerError(e, err)
	}
	if approved.Status() == records.RequestApproved {
		p.notifyAccess(e.App, notify.KindApproved, approved, nil)
	}
	if role == requests.RoleApprover {
		p.notifyAccess(e.App, notify.KindApprovedByApprover, approved, e.Auth)
	}
	return e.JSON(http.StatusOK, describeRequest(e.App, pol, approved, role))
}

// widening is the field error of an approval wider than the request r.
func widening(r *records.Request) error {
	return validation.NewError("validation_request_widening", "An approval may shorten the time or allow reading only, never more than asked.").
		SetParams(map[string]any{"minutes": r.Minutes(), "mode": string(r.Mode())})
}

func (p *handlers) requestDecline(e *core.RequestEvent) error {
	r, pol, role, err := p.requestAnswerer(e)
	if err != nil {
		return err
	}
	declined, err := requests.Decline(p.opts.Audit, e.App, requests.Answer{
		Id: r.Id, By: e.Auth, Role: role, Now: p.opts.Clock.Now(), Client: audit.ClientOf(e, http.StatusOK),
	})
	if err != nil {
		return answerError(e, err)
	}
	p.notifyAccess(e.App, notify.KindDeclined, declined, nil)
	return e.JSON(http.StatusOK, describeRequest(e.App, pol, declined, role))
}

// answerError is the answer to an approval or decline that failed.
func answerError(e *core.RequestEvent, err error) error {
	switch {
	case errors.Is(err, requests.ErrExpired):
		return refuse(http.StatusConflict, refusals.CodeRequestExpired, nil)
	case errors.Is(err, requests.ErrAnswered):
		return refuse(http.StatusConflict, refusals.CodeRequestAnswered, nil)
	case errors.Is(err, requests.ErrNotCounted):
		return refuse(http.StatusForbidden, refusals.CodeApprovalNotCounted, nil)
	case errors.Is(err, requests.ErrWidening):
		return refuseFields(validation.Errors{"minutes": validation.NewError("validation_request_widening",
			"An approval may shorten the time or allow reading only, never more than asked.")})
	default:
		return e.InternalServerError("", err)
	}
}

// requestsListResponse is the answer of GET requestsPath.
type requestsListResponse struct {
	// Asked are the caller's own requests, the newest first.
	Asked []requestResponse `json:"asked"`
	// ToAnswer are the requests the caller may answer, as the user or an
	// approver: pending, or approved and not used yet (which the user may
	// withdraw), the newest first.
	ToAnswer []requestResponse `json:"toAnswer"`
}

// requestsList answers the requests the caller asked and those they may
// answer. Lapsed requests are expired first.
func (p *handlers) requestsList(e *core.RequestEvent) error {
	caller, err := consentUser(e)
	if err != nil {
		return err
	}
	now := p.opts.Clock.Now()
	if err := requests.ExpireWhere(p.opts.Audit, e.App, nil, now); err != nil {
		return e.InternalServerError("", err)
	}
	out := requestsListResponse{Asked: []requestResponse{}, ToAnswer: p.requestsToAnswer(e.App, caller)}
	asked, err := records.FindRequests(e.App, records.By(caller), maxListedRequests)
	if err != nil {
		return e.InternalServerError("", err)
	}
	for _, r := range asked {
		pol, _ := p.policyOfRequest(e.App, r)
		out.Asked = append(out.Asked, describeRequest(e.App, pol, r, requests.RoleAsker))
	}
	return e.JSON(http.StatusOK, out)
}

// requestsToAnswer returns the open requests (pending, or approved and
// unused) caller may answer: those about them, and, under every enabled
// policy whose approval counts an approver's answer, those whose user's
// record caller satisfies the approverRule on.
func (p *handlers) requestsToAnswer(app core.App, caller *core.Record) []requestResponse {
	out := []requestResponse{}
	open := records.InStatus(records.RequestPending, records.RequestApproved)
	own, err := records.FindRequests(app, dbx.And(records.On(caller), open), maxListedRequests)
	if err != nil {
		app.Logger().Error("impersonation: list the requests about a user", "error", err)
	}
	var candidates []*records.Request
	candidates = append(candidates, own...)
	pols, err := p.cache.EnabledPolicies()
	if err != nil {
		app.Logger().Error("impersonation: list the policies for approvers", "error", err)
	}
	for _, pol := range pols {
		c, err := app.FindCachedCollectionByNameOrId(pol.Collection())
		if err != nil || pol.Approval() == records.ApprovalUser {
			continue
		}
		others, err := records.FindRequests(app, dbx.And(dbx.HashExp{"targetCollection": c.Id}, records.InStatus(records.RequestPending),
			dbx.Not(records.On(caller))), maxListedRequests)
		if err != nil {
			app.Logger().Error("impersonation: list the requests for an approver", "error", err)
		}
		candidates = append(candidates, others...)
	}
	for _, r := range candidates {
		pol, user := p.policyOfRequest(app, r)
		if pol == nil || user == nil {
			continue
		}
		role, err := requests.RoleOf(app, pol, r, caller, user)
		if err != nil || role == requests.RoleNone || role == requests.RoleAsker {
			continue
		}
		out = append(out, describeRequest(app, pol, r, role))
	}
	return out
}

// policyOfRequest returns the policy and the user of r (nil when gone).
func (p *handlers) policyOfRequest(app core.App, r *records.Request) (*records.Policy, *core.Record) {
	user, err := app.FindRecordById(r.TargetCollection(), r.Target())
	if err != nil {
		return nil, nil
	}
	pol, err := p.cache.Policy(user.Collection().Name)
	if err != nil {
		return nil, user
	}
	return pol, user
}

// requestsOn describes the open requests about user, for their consent
// view: pending, and approved but not used yet. Lapsed ones are expired
// first.
func (p *handlers) requestsOn(app core.App, user *core.Record, pol *records.Policy) []requestResponse {
	out := []requestResponse{}
	if err := requests.ExpireWhere(p.opts.Audit, app, records.On(user), p.opts.Clock.Now()); err != nil {
		app.Logger().Error("impersonation: expire the requests about a user", "error", err)
		return out
	}
	open, err := records.FindRequests(app, dbx.And(records.On(user), records.InStatus(records.RequestPending, records.RequestApproved)), maxListedRequests)
	if err != nil {
		app.Logger().Error("impersonation: list the requests about a user", "error", err)
	}
	for _, r := range open {
		out = append(out, describeRequest(app, pol, r, requests.RoleUser))
	}
	return out
}

// expireRequests expires the requests that have lapsed (the minute job).
func (p *handlers) expireRequests() {
	if err := requests.ExpireWhere(p.opts.Audit, p.app, nil, p.opts.Clock.Now()); err != nil {
		p.app.Logger().Error("impersonation: expire requests", "error", err)
	}
}

// notifyAccess emails, in the background, about request r: the user when it
// is asked (KindAsked) or approved by an approver (KindApprovedByApprover,
// approver given), the actor when it is approved or declined. A mail that
// cannot be sent is logged and never fails the answer.
func (p *handlers) notifyAccess(app core.App, kind string, r *records.Request, approver *core.Record) {
	p.inBackground(func() {
		actor, err := app.FindRecordById(r.ActorCollection(), r.Actor())
		if err != nil {
			return
		}
		user, err := app.FindRecordById(r.TargetCollection(), r.Target())
		if err != nil {
			return
		}
		to := actor
		if kind == notify.KindAsked || kind == notify.KindApprovedByApprover {
			to = user
		}
		current, err := p.settings.Get(app)
		if err == nil {
			err = notify.Access(app, kind, to, r, nil, actor, user, approver, current.Revoke(app.Settings().Meta.AppURL))
		}
		if err != nil {
			app.Logger().Error("impersonation: email about a request", "kind", kind, "request", r.Id, "error", err)
		}
	})
}

// notifyBreakGlass emails, in the background, the user of break-glass
// session s (whatever the policy's notifyTarget) and the policy's
// oversightEmail.
func (p *handlers) notifyBreakGlass(app core.App, pol *records.Policy, s *records.Session, actor, user *core.Record) {
	p.inBackground(func() {
		current, err := p.settings.Get(app)
		if err == nil {
			err = notify.Access(app, notify.KindBreakGlass, user, nil, s, actor, user, nil, current.Revoke(app.Settings().Meta.AppURL))
		}
		if err != nil {
			app.Logger().Error("impersonation: email the user about a break-glass session", "session", s.Id, "error", err)
		}
		recordMailOutcome(app, s.Id, func(fresh *records.Session) { fresh.SetNotified(p.opts.Clock.Now(), err) })
		if to := strings.TrimSpace(pol.OversightEmail()); to != "" {
			if err := notify.BreakGlassOversight(app, to, s, actor, user); err != nil {
				app.Logger().Error("impersonation: email oversight about a break-glass session", "session", s.Id, "error", err)
			}
		}
	})
}
