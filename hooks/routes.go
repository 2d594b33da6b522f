package hooks

import (
	"errors"
	"maps"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pocketbase/dbx"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/pbimpersonation/impersonation/internal/attempts"
	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/consent"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/masks"
	"github.com/pbimpersonation/impersonation/internal/policy"
	"github.com/pbimpersonation/impersonation/internal/reasons"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/requests"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// Route paths.
const (
	consentPath     = "/api/impersonation/consent"
	sessionsPath    = "/api/impersonation/sessions"
	sessionEndPath  = "/api/impersonation/sessions/{id}/end"
	currentPath     = "/api/impersonation/current"
	verifyPath      = "/api/impersonation/audit/verify"
	exportPath      = "/api/impersonation/audit/export"
	acknowledgePath = "/api/impersonation/audit/acknowledge"
	healthPath      = "/api/impersonation/health"
)

// bindRoutes adds the plugin's routes and middleware to the router.
func (p *handlers) bindRoutes(e *core.ServeEvent) error {
	p.serving.Store(true)
	e.Router.Bind(&hook.Handler[*core.RequestEvent]{Id: ids.GuardId, Priority: guardPriority, Func: p.guard})
	e.Router.Bind(&hook.Handler[*core.RequestEvent]{Id: ids.ProtectTruncateId, Func: refuseTruncate})
	e.Router.Bind(&hook.Handler[*core.RequestEvent]{Id: ids.SinkSecretQueryId, Func: refuseSinkSecretQuery})
	e.Router.Bind(&hook.Handler[*core.RequestEvent]{Id: ids.AuditReadId, Func: p.flushBeforeAuditRead})

	e.Router.GET(consentPath, p.consentView)
	e.Router.PUT(consentPath, p.consentGrant)
	e.Router.DELETE(consentPath, p.consentRevoke)
	e.Router.POST(sessionsPath, p.sessionStart)
	e.Router.POST(sessionEndPath, p.sessionEnd)
	e.Router.GET(currentPath, p.current)
	e.Router.POST(requestsPath, p.requestAsk)
	e.Router.GET(requestsPath, p.requestsList)
	e.Router.POST(requestApprovePath, p.requestApprove)
	e.Router.POST(requestDeclinePath, p.requestDecline)
	e.Router.GET(digestsPath, p.digestsList)
	e.Router.GET(verifyPath, p.verifyAudit).Bind(apis.RequireSuperuserAuth())
	e.Router.POST(acknowledgePath, p.acknowledgeAudit).Bind(apis.RequireSuperuserAuth())
	e.Router.GET(exportPath, p.exportAudit).Bind(apis.RequireSuperuserAuth())
	e.Router.GET(healthPath, p.health).Bind(apis.RequireSuperuserAuth())
	e.Router.GET(checkpointPath, p.latestCheckpoint).Bind(apis.RequireSuperuserAuth())
	e.Router.POST(witnessPath, p.checkWitness).Bind(apis.RequireSuperuserAuth())
	e.Router.GET(policiesPath, p.policiesList)
	e.Router.GET(targetsPath, p.targetsList)
	e.Router.GET(signInPath, p.signInCollections)
	p.bindPages(e)
	return e.Next()
}

// flushBeforeAuditRead makes every read of the audit through the records
// API (list and view, the collection named in any letter case or by id)
// include every entry answered before it: PocketBase runs a list's query
// before OnRecordsListRequest fires, so the journal is flushed here, in
// front of the handler. Other requests pass untouched.
func (p *handlers) flushBeforeAuditRead(e *core.RequestEvent) error {
	if e.Request.Method != http.MethodGet || !strings.HasPrefix(e.Request.Pattern, recordsRoutePattern) {
		return e.Next()
	}
	c, err := e.App.FindCachedCollectionByNameOrId(e.Request.PathValue("collection"))
	if err != nil || c.Name != records.AuditCollection {
		return e.Next()
	}
	if err := p.opts.Audit.Writer.Flush(); err != nil {
		return e.InternalServerError("", err)
	}
	return e.Next()
}

// recordsRoutePattern starts the patterns of the records API's list and
// view routes.
const recordsRoutePattern = "GET /api/collections/{collection}/records"

// healthResponse is the answer of GET healthPath: the audit's state at a
// glance, for the dashboard and an operator's monitoring.
type healthResponse struct {
	// Journal is what the journal holds that the audit table does not yet
	Journal audit.Backlog `json:"journal"`
	// LastVerify is the last verify of the chain since the server started
	LastVerify *audit.Verified `json:"lastVerify"`
	// Head is the newest entry of the audit table: a sink's lag is
	// Head.Seq - its deliveredSeq
	Head audit.Head `json:"head"`
}

// health answers the audit's state: the mover's backlog and lag, the
// journal's size, the last verify, and the chain's head.
func (p *handlers) health(e *core.RequestEvent) error {
	backlog, err := p.opts.Audit.Writer.Backlog()
	if err != nil {
		return e.InternalServerError("", err)
	}
	head, err := audit.HeadOf(e.App)
	if err != nil {
		return e.InternalServerError("", err)
	}
	return e.JSON(http.StatusOK, healthResponse{Journal: backlog, LastVerify: p.opts.Audit.LastVerify(), Head: head})
}

// exportAudit streams the audit entries that match ?filter= (the records
// API's syntax) as ?format=jsonl (the default) or csv.
func (p *handlers) exportAudit(e *core.RequestEvent) error {
	if err := p.opts.Audit.Flush(); err != nil {
		return e.InternalServerError("", err)
	}
	format := e.Request.URL.Query().Get("format")
	if format == "" {
		format = audit.FormatJSONL
	}
	x, err := audit.NewExport(e.App, format, e.Request.URL.Query().Get("filter"))
	if errors.Is(err, audit.ErrBadExport) {
		return router.NewApiError(http.StatusBadRequest, err.Error(), refusal{code: refusals.CodeBadExport})
	}
	if err != nil {
		return e.InternalServerError("", err)
	}
	e.Response.Header().Set("Content-Type", x.ContentType())
	e.Response.Header().Set("Content-Disposition", "attachment; filename=impersonation-audit."+format)
	if _, err := x.Run(e.Response); err != nil {
		// the status is sent: all that is left is to stop the stream
		e.App.Logger().Error("impersonation: export the audit", "error", err)
	}
	return nil
}

// verifyAudit answers whether the audit's hash chain is whole and reaches
// its anchor. It moves the anchor forward first, which alerts a loss not
// alerted yet.
func (p *handlers) verifyAudit(e *core.RequestEvent) error {
	if err := p.opts.Audit.Flush(); err != nil {
		return e.InternalServerError("", err)
	}
	if err := p.opts.Audit.WriteAnchor(); err != nil && !errors.Is(err, audit.ErrAnchorNotReached) {
		return e.InternalServerError("", err)
	}
	res, err := p.opts.Audit.Verify(nil)
	if err != nil {
		return e.InternalServerError("", err)
	}
	return e.JSON(http.StatusOK, res)
}

// acknowledgeBody is the body of POST acknowledgePath.
type acknowledgeBody struct {
	Reason string `json:"reason"`
}

// acknowledgeAudit lets a superuser accept that the audit chain no longer
// reaches its anchored head, with a reason: audit.Acknowledge records the
// loss as an entry of the chain, which is anchored. 409 when there is
// nothing to acknowledge, or when the chain is broken otherwise.
func (p *handlers) acknowledgeAudit(e *core.RequestEvent) error {
	var body acknowledgeBody
	if err := e.BindBody(&body); err != nil {
		return refuseBody(err)
	}
	reason := reasons.Clean(body.Reason)
	if errs := p.reasonErrors(reason, true, 1); len(errs) > 0 {
		return refuseFields(errs)
	}
	if err := p.opts.Audit.Flush(); err != nil {
		return e.InternalServerError("", err)
	}
	by := audit.Entry{Actor: e.Auth.Id, ActorCollection: e.Auth.Collection().Id, Client: audit.ClientOf(e, http.StatusOK)}
	ack, err := p.opts.Audit.Acknowledge(by, reason)
	switch {
	case errors.Is(err, audit.ErrNothingToAcknowledge):
		return refuse(http.StatusConflict, refusals.CodeNothingToAcknowledge, nil)
	case errors.Is(err, audit.ErrChainBroken):
		return refuse(http.StatusConflict, refusals.CodeChainBroken, nil)
	case err != nil:
		return e.InternalServerError("", err)
	}
	e.App.Logger().Warn("impersonation: a superuser acknowledged lost audit entries",
		"superuser", e.Auth.Id, "anchoredSeq", ack.Anchored.Seq, "headSeq", ack.Head.Seq, "entry", ack.Id)
	return e.JSON(http.StatusOK, ack)
}

// ---------------------------------------------------------------------------
// consent

// consentUser returns the auth record that may manage its own consent, or
// the error to answer with: a guest gets 401, a request made while
// impersonating gets 403 (the impersonator must not consent for the user).
func consentUser(e *core.RequestEvent) (*core.Record, error) {
	if e.Auth == nil {
		return nil, refuse(http.StatusUnauthorized, refusals.CodeAuthRequired, nil)
	}
	if sessions.FromRequest(e) != nil {
		return nil, refuse(http.StatusForbidden, refusals.CodeConsentWhileImpersonating, nil)
	}
	return e.Auth, nil
}

// withdrawalStops reports whether withdrawing user's consent at now stops
// something: a consent in force, or a live session on them (or a look-up
// failed: then the withdrawal goes ahead).
func withdrawalStops(app core.App, user *core.Record, now time.Time) bool {
	if c, err := records.FindConsent(app, user); err == nil && c.LiveAt(now) {
		return true
	}
	live, err := records.FindLiveSessions(app, records.OnTargetFilter, records.RecordParams(user))
	return err != nil || len(live) > 0
}

// consentResponse is the answer of the consent routes.
type consentResponse struct {
	Id       string `json:"id"`
	Active   bool   `json:"active"`
	Expires  string `json:"expires"`
	Revoked  bool   `json:"revoked"`
	Required bool   `json:"required"`
	MaxHours int    `json:"maxHours"`
	// MaskedFields are what support cannot see while acting as the user,
	// by collection: the masks of the enabled policy of the user's
	// collection ({} for none).
	MaskedFields masks.Listing `json:"maskedFields"`
	// Requests are the open requests for access to the user (pending, or
	// approved and not used yet), the newest first, in GET's answer.
	Requests []requestResponse `json:"requests"`
}

// newConsentResponse describes consent c (nil: none) under policy p (nil: none).
func newConsentResponse(p *records.Policy, c *records.Consent, live bool) consentResponse {
	out := consentResponse{Active: live, MaskedFields: masks.Listing{}, Requests: []requestResponse{}}
	if p != nil {
		out.Required = p.Enabled() && p.Consent() == records.ConsentRequired
		out.MaxHours = p.ConsentMaxHours()
		if masked, err := p.MaskedFields(); err == nil && p.Enabled() {
			out.MaskedFields = masks.New(masked).ByCollection()
		}
	}
	if c != nil && !c.IsNew() {
		out.Id = c.Id
		out.Expires = c.GetDateTime("expires").String()
		out.Revoked = c.Revoked()
	}
	return out
}

func (p *handlers) consentView(e *core.RequestEvent) error {
	user, err := consentUser(e)
	if err != nil {
		return err
	}
	pol, _ := records.FindPolicy(e.App, user.Collection().Name)
	c, _ := records.FindConsent(e.App, user)
	out := newConsentResponse(pol, c, c.LiveAt(p.opts.Clock.Now()))
	out.Requests = p.requestsOn(e.App, user, pol)
	return e.JSON(http.StatusOK, out)
}

func (p *handlers) consentGrant(e *core.RequestEvent) error {
	user, err := consentUser(e)
	if err != nil {
		return err
	}
	pol, err := records.FindPolicy(e.App, user.Collection().Name)
	if err != nil {
		return refuse(http.StatusForbidden, refusals.CodeNotEnabled, nil)
	}
	var body struct {
		Hours any `json:"hours" form:"hours"`
	}
	if err := e.BindBody(&body); err != nil {
		return refuseBody(err)
	}
	hours, ok := wholeNumber(body.Hours)
	if !ok {
		return refuseFields(validation.Errors{
			"hours": validation.NewError("validation_not_whole_number", "Must be a whole number of hours."),
		})
	}
	if err := consent.ValidateHours(pol, hours); err != nil {
		return refuseFields(validation.Errors{"hours": err})
	}
	if !p.consentChanges.Allow(attemptKey(user), consent.ChangesPerMinute, p.opts.Clock.Now()) {
		return refuse(http.StatusTooManyRequests, refusals.CodeConsentRateLimited, nil)
	}
	c, err := consent.Grant(p.opts.Audit, e.App, user, hours, p.opts.Clock.Now(), audit.ClientOf(e, http.StatusOK))
	if err != nil {
		return e.InternalServerError("", err)
	}
	return e.JSON(http.StatusOK, newConsentResponse(pol, c, true))
}

func (p *handlers) consentRevoke(e *core.RequestEvent) error {
	user, err := consentUser(e)
	if err != nil {
		return err
	}
	// a withdrawal that stops something is never refused: it is how a user
	// ends the sessions on them
	now := p.opts.Clock.Now()
	if !withdrawalStops(e.App, user, now) && !p.consentChanges.Allow(attemptKey(user), consent.ChangesPerMinute, now) {
		return refuse(http.StatusTooManyRequests, refusals.CodeConsentRateLimited, nil)
	}
	if err := consent.Revoke(p.opts.Audit, e.App, user, now, audit.ClientOf(e, http.StatusNoContent)); err != nil {
		return e.InternalServerError("", err)
	}
	// and the approvals given on requests: none may start a session now
	if err := requests.WithdrawOn(p.opts.Audit, e.App, user, now, audit.ClientOf(e, http.StatusNoContent)); err != nil {
		return e.InternalServerError("", err)
	}
	return e.NoContent(http.StatusNoContent)
}

// ---------------------------------------------------------------------------
// sessions

// startResponse is the answer of a started session.
type startResponse struct {
	Token   string           `json:"token"`
	Record  *core.Record     `json:"record"`
	Session *records.Session `json:"session"`
}

// startBody is the body of POST /api/impersonation/sessions.
type startBody struct {
	Collection string `json:"collection" form:"collection"`
	Record     string `json:"record" form:"record"`
	Reason     string `json:"reason" form:"reason"`
	Minutes    any    `json:"minutes" form:"minutes"`
	Mode       string `json:"mode" form:"mode"`
	// BreakGlass starts without consent, in an emergency, where the policy
	// allows it: a reason of at least breakGlassReasonMin characters.
	BreakGlass bool `json:"breakGlass" form:"breakGlass"`
}

// breakGlassReasonMin is the shortest reason of a break-glass start.
const breakGlassReasonMin = 20

func (p *handlers) sessionStart(e *core.RequestEvent) error {
	if e.Auth == nil {
		return refuse(http.StatusUnauthorized, refusals.CodeAuthRequired, nil)
	}
	now := p.opts.Clock.Now()
	client := audit.ClientOf(e, http.StatusOK)
	var body startBody
	bindErr := e.BindBody(&body)

	// the attempt, its limit and its audit are the real actor's, not those
	// of the target an impersonation token stands for
	current := sessions.FromRequest(e)
	actor := e.Auth
	if current != nil {
		actor = current.Actor
	}
	denial := sessions.Denial{Actor: actor, TargetCollection: body.Collection, Target: body.Record, Client: client, BreakGlass: body.BreakGlass}
	collection, _ := e.App.FindCachedCollectionByNameOrId(body.Collection)
	if collection != nil {
		denial.TargetCollection = collection.Id
	}
	deny := func(code string, apiErr error) error {
		denial.Code = code
		var routerErr *router.ApiError
		if errors.As(apiErr, &routerErr) {
			denial.Client.Status = routerErr.Status
		}
		if err := sessions.Deny(p.opts.Audit, e.App, denial); err != nil {
			e.App.Logger().Error("impersonation: write session.denied", "error", err)
		}
		p.alertRefusals(e.App, attemptKey(actor), 1)
		return apiErr
	}

	var pol *records.Policy
	limit := p.opts.DefaultAttemptsPerMinute
	if collection != nil {
		if found, err := p.cache.Policy(collection.Name); err == nil {
			pol, limit = found, found.AttemptsPerMinute()
		}
	}
	// the limit comes before any entry: past it, an attempt only adds to
	// its actor's count (see throttle)
	p.writeThrottled(e.App, p.refused.Due(now), countedAttempts())
	if !p.attempts.Allow(attemptKey(actor), limit, now) {
		p.throttle(e.App, attemptKey(actor), now, audit.ClientOf(e, http.StatusTooManyRequests))
		return refuse(http.StatusTooManyRequests, refusals.CodeRateLimited, nil)
	}
	if current != nil {
		return deny("chaining", refuse(http.StatusForbidden, refusals.CodeChaining, nil))
	}
	if bindErr != nil {
		return deny("invalid_input", refuseBody(bindErr))
	}

	// a collection without a usable policy is refused before the fields
	// that only a policy asks for (a reason) are checked: their answers
	// would tell which collections have one
	if body.Collection != "" && body.Record != "" && (pol == nil || !pol.Enabled()) {
		code := policy.CodeNoPolicy
		if pol != nil {
			code = policy.CodePolicyDisabled
		}
		return deny(string(code), refuse(http.StatusForbidden, refusals.CodeNotAllowed, nil))
	}
	start, fieldErrs := p.startFrom(body, pol)
	if len(fieldErrs) > 0 {
		return deny("invalid_input", refuseFields(fieldErrs))
	}
	denial.Reason = start.Reason
	if collection != nil {
		start.Target, _ = e.App.FindRecordById(collection, body.Record)
	}
	start.Policy, start.Actor, start.Now, start.Client = pol, e.Auth, now, client

	// the OnSessionStart handlers run first; they may change the start or veto it
	var started *sessions.Started
	var began bool
	var beginErr error
	event := &sessions.StartEvent{App: e.App, Request: e, Start: &start}
	var invalidAfterHooks validation.Errors
	hookErr := p.opts.Hooks.Start.Trigger(event, func(se *sessions.StartEvent) error {
		// a handler may have changed the reason: the policy still asks for one
		se.Start.Reason = reasons.Clean(se.Start.Reason)
		if invalidAfterHooks = p.startReasonErrors(se.Start.Reason, se.Start.Policy, se.Start.BreakGlass); len(invalidAfterHooks) > 0 {
			return invalidAfterHooks
		}
		began = true
		started, beginErr = sessions.Begin(p.opts.Audit, se.App, *se.Start)
		return beginErr
	})
	var refusal *policy.Refusal
	var apiErr *router.ApiError
	switch {
	case len(invalidAfterHooks) > 0:
		return deny("invalid_input", refuseFields(invalidAfterHooks))
	case !began && errors.As(hookErr, &apiErr):
		return deny("vetoed", apiErr)
	case !began:
		return deny("vetoed", refuse(http.StatusForbidden, refusals.CodeNotAllowed, hookErr))
	case errors.As(beginErr, &refusal):
		return deny(string(refusal.Code), refusalError(e, refusal))
	case beginErr != nil:
		return e.InternalServerError("", beginErr)
	case hookErr != nil:
		// the session has started and its token exists: answer with it
		e.App.Logger().Error("impersonation: an OnSessionStart handler failed after the start", "error", hookErr)
	}

	switch {
	case started.Session.BreakGlass():
		p.notifyBreakGlass(e.App, start.Policy, started.Session, start.Actor, start.Target)
	case start.Policy.NotifyTarget():
		p.notifyStarted(e.App, started.Session, start.Actor, start.Target)
	}

	target := start.Target.Clone()
	target.IgnoreEmailVisibility(true) // the impersonator sees what the user sees
	if m, err := p.cache.Masks(start.Policy); err == nil {
		target.Hide(m.Fields(target.Collection().Name)...) // and not what the policy masks
	} else {
		// the session's requests are refused (denied) until the masks are fixed
		e.App.Logger().Error("impersonation: read the masked fields of a policy", "collection", start.Policy.Collection(), "error", err)
		target = nil
	}
	return e.JSON(http.StatusOK, startResponse{Token: started.Token, Record: target, Session: started.Session})
}

// attemptKey names the record that attempts (a start, a consent change)
// for a Limiter and the Throttle.
func attemptKey(actor *core.Record) attempts.Key {
	return attempts.Key{Collection: actor.Collection().Id, Id: actor.Id}
}

// throttle counts a start attempt of key refused over the attempt limit at
// now. The attempt that opens its actor's run gets a session.throttled
// entry of its own (count 1, with its client); the run's later attempts
// are written together once its window has passed (by the next attempt of
// anyone, the minute job, or the shutdown: see writeThrottled). So what an
// actor over the limit adds to the audit is at most two entries a window,
// whose counts add up to its refused attempts.
func (p *handlers) throttle(app core.App, key attempts.Key, now time.Time, client audit.Client) {
	if p.refused.Refuse(key, now) {
		p.writeThrottled(app, []attempts.Run{{Key: key, Count: 1, First: now, Last: now}}, client)
	}
}

// countedAttempts is the client of a run's attempts counted after its
// first: the route they were refused on, which is all they share.
func countedAttempts() audit.Client {
	return audit.Client{Method: http.MethodPost, Path: sessionsPath, Status: http.StatusTooManyRequests}
}

// writeThrottled writes a session.throttled entry with client for each of
// runs, and alerts on the refusals they add.
func (p *handlers) writeThrottled(app core.App, runs []attempts.Run, client audit.Client) {
	for _, run := range runs {
		if err := sessions.Throttled(p.opts.Audit, app, run, p.refused.Window(), client); err != nil {
			app.Logger().Error("impersonation: write session.throttled", "count", run.Count, "error", err)
			continue
		}
		p.alertRefusals(app, run.Key, run.Count)
	}
}

// startFrom validates body against the policy (nil when the collection has
// none; such a start is refused later, alike to an unknown target) and
// returns the start it asks for, or the errors of its fields.
// reasonErrors returns the error of reason, cleaned (reasons.Clean), as
// every route that takes a reason measures it: longer than ReasonMaxLength
// characters as stored, or, where required, of no visible character
// (reasons.Length) or fewer than min.
func (p *handlers) reasonErrors(reason string, required bool, min int) validation.Errors {
	n := reasons.Length(reason)
	switch {
	case utf8.RuneCountInString(reason) > p.opts.ReasonMaxLength:
		return validation.Errors{"reason": validation.ErrLengthTooLong.SetParams(map[string]any{"max": p.opts.ReasonMaxLength})}
	case required && n == 0:
		return validation.Errors{"reason": validation.ErrRequired}
	case required && n < min:
		return validation.Errors{"reason": validation.ErrLengthTooShort.SetParams(map[string]any{"min": min})}
	}
	return nil
}

// startReasonErrors returns the error of a start's reason under pol (nil:
// no policy): required, of ReasonMinLength characters at least, where pol
// requires one, and of breakGlassReasonMin at least when the start is
// break-glass.
func (p *handlers) startReasonErrors(reason string, pol *records.Policy, breakGlass bool) validation.Errors {
	switch {
	case breakGlass:
		return p.reasonErrors(reason, true, max(breakGlassReasonMin, p.opts.ReasonMinLength))
	case pol != nil && pol.ReasonRequired():
		return p.reasonErrors(reason, true, p.opts.ReasonMinLength)
	}
	return p.reasonErrors(reason, false, 0)
}

func (p *handlers) startFrom(body startBody, pol *records.Policy) (sessions.Start, validation.Errors) {
	errs := validation.Errors{}
	start := sessions.Start{Reason: reasons.Clean(body.Reason), Mode: records.ModeRead, BreakGlass: body.BreakGlass}

	if body.Collection == "" {
		errs["collection"] = validation.ErrRequired
	}
	if body.Record == "" {
		errs["record"] = validation.ErrRequired
	}

	maps.Copy(errs, p.startReasonErrors(start.Reason, pol, body.BreakGlass))

	if body.Minutes != nil {
		minutes, ok := wholeNumber(body.Minutes)
		if !ok || minutes < 1 {
			errs["minutes"] = validation.NewError("validation_not_whole_minutes", "Must be a whole number of minutes, at least 1.")
		}
		start.Minutes = minutes
	}

	switch records.Mode(body.Mode) {
	case "":
		if pol != nil {
			start.Mode = pol.DefaultMode()
		}
	case records.ModeRead, records.ModeWrite:
		start.Mode = records.Mode(body.Mode)
	default:
		errs["mode"] = validation.ErrInInvalid
	}
	return start, errs
}

// refusalError is the client's answer to a refused start: a fixed message
// per sentinel, never the code of a refusal that must not reveal the target.
func refusalError(e *core.RequestEvent, r *policy.Refusal) error {
	switch {
	case errors.Is(r, policy.ErrConsentRequired):
		return refuse(http.StatusForbidden, refusals.CodeConsentRequired, nil)
	case errors.Is(r, policy.ErrModeNotAllowed):
		return refuse(http.StatusForbidden, refusals.CodeModeNotAllowed, nil)
	case errors.Is(r, policy.ErrBreakGlassOff):
		return refuse(http.StatusForbidden, refusals.CodeBreakGlassOff, nil)
	default:
		return refuse(http.StatusForbidden, refusals.CodeNotAllowed, nil)
	}
}

func (p *handlers) sessionEnd(e *core.RequestEvent) error {
	if e.Auth == nil {
		return refuse(http.StatusUnauthorized, refusals.CodeAuthRequired, nil)
	}
	s, err := records.FindSession(e.App, e.Request.PathValue("id"))
	if err != nil || !mayEnd(e, s) {
		// one answer for "no such session" and "not yours"
		return refuse(http.StatusNotFound, refusals.CodeNotFound, nil)
	}
	if err := sessions.End(p.opts.Audit, e.App, s, records.EndStopped, p.opts.Clock.Now(), audit.ClientOf(e, http.StatusNoContent)); err != nil {
		return e.InternalServerError("", err)
	}
	return e.NoContent(http.StatusNoContent)
}

// mayEnd reports whether the caller of e may end session s: a superuser, the
// token of s itself, or (with their own login) its actor or its target. An
// impersonation token may end only its own session.
func mayEnd(e *core.RequestEvent, s *records.Session) bool {
	if e.HasSuperuserAuth() {
		return true
	}
	if current := sessions.FromRequest(e); current != nil {
		return current.Session.Id == s.Id
	}
	id, collection := e.Auth.Id, e.Auth.Collection().Id
	return (id == s.Actor() && collection == s.ActorCollection()) ||
		(id == s.Target() && collection == s.TargetCollection())
}

// ---------------------------------------------------------------------------
// current

// currentResponse is the answer of GET /api/impersonation/current. Every
// field is an explicit allow-list: the holder of an impersonation token, and
// the user, learn who acts, how and until when, never the session's client
// (IP, user agent) or its email's outcome.
type currentResponse struct {
	Impersonating bool            `json:"impersonating"`
	Session       *currentSession `json:"session,omitzero"`
	Actor         *actorResponse  `json:"actor,omitzero"`
	Mode          records.Mode    `json:"mode,omitzero"`
	Expires       string          `json:"expires,omitzero"`
	// LiveSessions are, for a user's own client, the sessions live on them
	// (when their policy shows them; nil otherwise).
	LiveSessions []liveSession `json:"liveSessions,omitzero"`
	// Actors name, with LiveSessions, everyone who has acted as the user,
	// so their history can say who (the sessions records hold only ids).
	Actors []*actorResponse `json:"actors,omitzero"`
	// MaskedFields are, for an impersonation token, the fields hidden from
	// it, by collection (left out when none are).
	MaskedFields masks.Listing `json:"maskedFields,omitzero"`
}

// currentSession names the session an impersonation token belongs to.
type currentSession struct {
	Id string `json:"id"`
}

// liveSession tells a user who is acting as them, how and until when.
type liveSession struct {
	Id      string         `json:"id"`
	Actor   *actorResponse `json:"actor"`
	Mode    records.Mode   `json:"mode"`
	Reason  string         `json:"reason"`
	Started string         `json:"started"`
	Expires string         `json:"expires"`
}

// actorResponse names the real actor of a session. Name is there when the
// actor's collection has a "name" field.
type actorResponse struct {
	Id             string  `json:"id"`
	CollectionId   string  `json:"collectionId"`
	CollectionName string  `json:"collectionName"`
	Email          string  `json:"email"`
	Name           *string `json:"name,omitzero"`
}

func (p *handlers) current(e *core.RequestEvent) error {
	current := sessions.FromRequest(e)
	if current == nil {
		live := p.liveSessionsOn(e.App, e.Auth)
		res := currentResponse{LiveSessions: live}
		if live != nil {
			res.Actors = actorsOf(e.App, e.Auth)
		}
		return e.JSON(http.StatusOK, res)
	}
	res := currentResponse{
		Impersonating: true,
		Session:       &currentSession{Id: current.Session.Id},
		Actor:         actorOf(current.Actor),
		Mode:          current.Session.Mode(),
		Expires:       current.Session.GetDateTime("expires").String(),
	}
	if m, err := p.cache.Masks(current.Policy); err == nil && !m.Empty() {
		res.MaskedFields = m.ByCollection()
	}
	return e.JSON(http.StatusOK, res)
}

// liveSessionsOn returns the sessions live on user when their policy shows
// them, or nil (a guest, a superuser, or a policy that hides them).
func (p *handlers) liveSessionsOn(app core.App, user *core.Record) []liveSession {
	if user == nil {
		return nil
	}
	pol, err := records.FindPolicy(app, user.Collection().Name)
	if err != nil || !pol.ShowLiveSessions() {
		return nil
	}
	live, err := records.FindLiveSessions(app, records.OnTargetFilter, records.RecordParams(user))
	if err != nil {
		app.Logger().Error("impersonation: list the sessions on a user", "error", err)
	}
	out := []liveSession{}
	now := p.opts.Clock.Now()
	for _, s := range live {
		if !now.Before(s.Expires()) {
			continue
		}
		actor, err := app.FindRecordById(s.ActorCollection(), s.Actor())
		if err != nil {
			continue
		}
		out = append(out, liveSession{
			Id: s.Id, Actor: actorOf(actor), Mode: s.Mode(), Reason: s.Reason(),
			Started: s.GetDateTime("created").String(), Expires: s.GetDateTime("expires").String(),
		})
	}
	return out
}

// maxActors is the most actors actorsOf names, the latest first.
const maxActors = 100

// actorsOf names the actors of the sessions on user, the latest first,
// leaving out deleted ones.
func actorsOf(app core.App, user *core.Record) []*actorResponse {
	var rows []struct {
		Actor           string `db:"actor"`
		ActorCollection string `db:"actorCollection"`
	}
	err := app.RecordQuery(records.SessionsCollection).
		Select("actor", "actorCollection").
		AndWhere(dbx.HashExp{"target": user.Id, "targetCollection": user.Collection().Id}).
		GroupBy("actor", "actorCollection").
		OrderBy("max(created) DESC").
		Limit(maxActors).
		All(&rows)
	if err != nil {
		app.Logger().Error("impersonation: list the actors of the sessions on a user", "error", err)
	}
	out := []*actorResponse{}
	for _, r := range rows {
		if actor, err := app.FindRecordById(r.ActorCollection, r.Actor); err == nil {
			out = append(out, actorOf(actor))
		}
	}
	return out
}

// actorOf describes the record acting in a session.
func actorOf(r *core.Record) *actorResponse {
	actor := &actorResponse{
		Id:             r.Id,
		CollectionId:   r.Collection().Id,
		CollectionName: r.Collection().Name,
		Email:          r.Email(),
	}
	if r.Collection().Fields.GetByName("name") != nil {
		name := r.GetString("name")
		actor.Name = &name
	}
	return actor
}

// wholeNumber returns v as an int when it is a JSON number with no
// fraction, small enough to be a count of minutes or hours.
func wholeNumber(v any) (int, bool) {
	f, ok := v.(float64)
	if !ok || f != float64(int64(f)) || f > 1e9 || f < -1e9 {
		return 0, false
	}
	return int(f), true
}
