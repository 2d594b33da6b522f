// Package policy decides whether an actor may act as a target now.
//
// Check is the one decision of the plugin: it runs when a session starts,
// again on every request made with the session's token, and whenever the
// policy, the actor or the target changes (and every minute for sessions
// with realtime clients), so an actor who loses permission, a disabled
// policy, a withdrawn consent or a deleted record stops a session. A
// database failure while it decides is an error wrapping ErrUndecided, never
// a Refusal. Targets is the same
// impersonatorRule as a database filter, for the lists of whom an actor may
// impersonate.
package policy

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pocketbase/dbx"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/search"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Code is a machine-readable reason for a refusal; it is stored in the
// "code" of a session.denied audit entry.
type Code string

// Refusal codes.
const (
	CodeNoPolicy        Code = "no_policy"
	CodePolicyDisabled  Code = "policy_disabled"
	CodeTargetNotFound  Code = "target_not_found"
	CodeSuperuserTarget Code = "superuser_target"
	CodeSelf            Code = "self_impersonation"
	CodeActorNotFound   Code = "actor_not_found"
	CodeRuleFailed      Code = "rule_failed"
	CodeModeNotAllowed  Code = "mode_not_allowed"
	CodeConsentRequired Code = "consent_required"
	CodeBreakGlassOff   Code = "break_glass_off"
)

// Sentinel errors a Refusal wraps. ErrNotAllowed covers every refusal that
// must not tell whether the target exists.
var (
	ErrNotAllowed       = errors.New("impersonation not allowed")
	ErrModeNotAllowed   = errors.New("session mode not allowed")
	ErrConsentRequired  = errors.New("target consent required")
	ErrBreakGlassOff    = errors.New("break-glass not allowed")
	ErrActorUnavailable = errors.New("actor no longer exists")
	// ErrUndecided is what Check wraps, instead of a Refusal, when the
	// database failed while it evaluated the impersonatorRule: the caller
	// fails closed for this call and must not treat it as a refusal (a
	// live session stands).
	ErrUndecided = errors.New("impersonation decision failed")
)

// ruleError is an impersonatorRule that does not compile: it refuses.
type ruleError struct{ err error }

func (e *ruleError) Error() string { return "impersonatorRule: " + e.err.Error() }
func (e *ruleError) Unwrap() error { return e.err }

// Refusal is the error Check returns: a sentinel error and the exact code.
type Refusal struct {
	Code Code
	Err  error
}

func (r *Refusal) Error() string { return fmt.Sprintf("%s: %s", r.Err, r.Code) }

// Unwrap returns the sentinel error.
func (r *Refusal) Unwrap() error { return r.Err }

func refuse(code Code, err error) *Refusal { return &Refusal{Code: code, Err: err} }

// Request is what Check decides on. A nil Policy, Target, Actor or Consent
// means there is none.
type Request struct {
	Policy  *records.Policy
	Actor   *core.Record
	Target  *core.Record
	Consent *records.Consent
	// Approval is the approved request a session starts on or runs under
	// (nil: none): where consent is required, it stands in for it.
	Approval *records.Request
	// BreakGlass: the session starts, or runs, without consent in an
	// emergency, which the policy must allow, in a mode it allows for it.
	BreakGlass bool
	Mode       records.Mode
	Now        time.Time
}

// Check returns nil when r.Actor may act as r.Target in r.Mode at r.Now, and
// a *Refusal otherwise. The order of the checks is part of the contract: a
// caller learns whether consent is missing only after the checks that hide
// the target's existence have passed.
func Check(app core.App, r Request) error {
	switch {
	case r.Policy == nil:
		return refuse(CodeNoPolicy, ErrNotAllowed)
	case !r.Policy.Enabled():
		return refuse(CodePolicyDisabled, ErrNotAllowed)
	case r.Target == nil || r.Target.Collection().Name != r.Policy.Collection():
		return refuse(CodeTargetNotFound, ErrNotAllowed)
	case r.Target.IsSuperuser():
		return refuse(CodeSuperuserTarget, ErrNotAllowed)
	case r.Actor == nil:
		return refuse(CodeActorNotFound, ErrActorUnavailable)
	case r.Actor.Id == r.Target.Id && r.Actor.Collection().Id == r.Target.Collection().Id:
		return refuse(CodeSelf, ErrNotAllowed)
	}

	allowed, err := actorSatisfiesRule(app, r.Policy, r.Actor, r.Target)
	var ruleErr *ruleError
	switch {
	case errors.As(err, &ruleErr):
		app.Logger().Error("impersonation: evaluate impersonatorRule",
			"collection", r.Policy.Collection(), "error", err)
	case err != nil:
		// the database failed, not the rule: no decision was made
		return fmt.Errorf("%w: %w", ErrUndecided, err)
	}
	if !allowed {
		return refuse(CodeRuleFailed, ErrNotAllowed)
	}

	if !r.Policy.AllowsMode(r.Mode) {
		return refuse(CodeModeNotAllowed, ErrModeNotAllowed)
	}
	if r.BreakGlass {
		switch {
		case !r.Policy.BreakGlass():
			return refuse(CodeBreakGlassOff, ErrBreakGlassOff)
		case !r.Policy.AllowsBreakGlassMode(r.Mode):
			return refuse(CodeModeNotAllowed, ErrModeNotAllowed)
		}
		return nil
	}
	if r.Policy.Consent() == records.ConsentNone || r.Consent.LiveAt(r.Now) {
		return nil
	}
	switch {
	case r.Approval.Grants(r.Actor, r.Target, r.Mode):
		return nil
	case r.Approval.Grants(r.Actor, r.Target, records.ModeRead):
		// approved, for reading only
		return refuse(CodeModeNotAllowed, ErrModeNotAllowed)
	}
	return refuse(CodeConsentRequired, ErrConsentRequired)
}

// ApproverRuleMatches reports whether approver may answer, as an approver,
// the requests to act as user under p: it satisfies the policy's
// approverRule, evaluated as the impersonatorRule is (plain field names are
// the user's, @request.auth is the approver; superusers always satisfy it,
// an empty rule lets no one else in). The user is never their own
// approver. A rule that does not compile refuses and is logged.
func ApproverRuleMatches(app core.App, p *records.Policy, approver, user *core.Record) (bool, error) {
	switch {
	case approver == nil || user == nil:
		return false, nil
	case approver.Id == user.Id && approver.Collection().Id == user.Collection().Id:
		return false, nil
	case approver.IsSuperuser():
		return true, nil
	case p.ApproverRule() == "":
		return false, nil
	}
	rule := p.ApproverRule()
	resolver := core.NewRecordFieldResolver(app, user.Collection(), ruleRequestInfo(approver), true)
	if _, err := search.FilterData(rule).BuildExpr(resolver); err != nil {
		app.Logger().Error("impersonation: evaluate approverRule", "collection", p.Collection(), "error", err)
		return false, nil
	}
	ok, err := app.CanAccessRecord(user, ruleRequestInfo(approver), &rule)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUndecided, err)
	}
	return ok, nil
}

// actorSatisfiesRule evaluates the policy's impersonatorRule as PocketBase
// evaluates a view rule on the target: plain field names are the target's,
// @request.auth is the actor. Superusers pass, as they pass every API rule;
// an empty rule lets no one else in. A rule that does not compile refuses
// (a *ruleError); any other error is the database's.
func actorSatisfiesRule(app core.App, p *records.Policy, actor, target *core.Record) (bool, error) {
	everyone, rule := ruleOf(p, actor)
	switch {
	case everyone:
		return true, nil
	case rule == "":
		return false, nil
	}
	resolver := core.NewRecordFieldResolver(app, target.Collection(), ruleRequestInfo(actor), true)
	if _, err := search.FilterData(rule).BuildExpr(resolver); err != nil {
		return false, &ruleError{err}
	}
	return app.CanAccessRecord(target, ruleRequestInfo(actor), &rule)
}

// ruleOf returns what p's impersonatorRule asks of actor: every target
// (everyone: a superuser), no target (an empty rule), or the targets that
// match rule.
func ruleOf(p *records.Policy, actor *core.Record) (everyone bool, rule string) {
	if actor.IsSuperuser() {
		return true, ""
	}
	return false, p.ImpersonatorRule()
}

// ruleRequestInfo is the request the impersonatorRule is evaluated in:
// @request.auth is the actor, and nothing else of the request the actor
// makes (its query, body or headers) takes part.
func ruleRequestInfo(actor *core.Record) *core.RequestInfo {
	return &core.RequestInfo{Auth: actor}
}

// Targets returns the query of the records of collection that actor may act
// as under p, and the resolver that must update it (the joins a rule needs)
// before it runs, as search.Provider does. It narrows the query by the rule
// Check applies, as SQL, so that paging is done by the database: a
// superuser matches every record, an empty rule no one, and otherwise the
// rule is evaluated as a view rule with @request.auth = actor. The actor
// itself is never among the records.
//
// A disabled policy, a collection p does not cover, and a rule that lets
// actor act as no one return a *Refusal, as Check would; a rule that does
// not compile returns the error.
func Targets(app core.App, p *records.Policy, collection *core.Collection, actor *core.Record) (*dbx.SelectQuery, *core.RecordFieldResolver, error) {
	switch {
	case p == nil:
		return nil, nil, refuse(CodeNoPolicy, ErrNotAllowed)
	case !p.Enabled():
		return nil, nil, refuse(CodePolicyDisabled, ErrNotAllowed)
	case collection == nil || collection.Name != p.Collection() || !collection.IsAuth() ||
		collection.Name == core.CollectionNameSuperusers:
		return nil, nil, refuse(CodeTargetNotFound, ErrNotAllowed)
	case actor == nil:
		return nil, nil, refuse(CodeActorNotFound, ErrActorUnavailable)
	}

	query := app.RecordQuery(collection)
	resolver := core.NewRecordFieldResolver(app, collection, ruleRequestInfo(actor), true)
	if actor.Collection().Id == collection.Id {
		query.AndWhere(dbx.Not(dbx.HashExp{collection.Name + ".id": actor.Id}))
	}

	everyone, rule := ruleOf(p, actor)
	switch {
	case everyone:
		return query, resolver, nil
	case rule == "":
		return nil, nil, refuse(CodeRuleFailed, ErrNotAllowed)
	}
	expr, err := search.FilterData(rule).BuildExpr(resolver)
	if err != nil {
		return nil, nil, fmt.Errorf("build impersonatorRule of %s: %w", p.Collection(), err)
	}
	return query.AndWhere(expr), resolver, nil
}

// HasTargets reports whether actor may act as at least one record of
// collection under p (see Targets).
func HasTargets(app core.App, p *records.Policy, collection *core.Collection, actor *core.Record) (bool, error) {
	query, resolver, err := Targets(app, p, collection, actor)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := resolver.UpdateQuery(query); err != nil {
		return false, fmt.Errorf("join impersonatorRule of %s: %w", p.Collection(), err)
	}
	var found int
	err = query.Select("(1)").Limit(1).Row(&found)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find a target under the policy of %s: %w", p.Collection(), err)
	}
	return found > 0, nil
}

// ValidateRule returns a validation error when rule is not a filter that
// can run on the named collection.
func ValidateRule(app core.App, collection *core.Collection, rule string) error {
	if rule == "" {
		return nil
	}
	resolver := core.NewRecordFieldResolver(app, collection, &core.RequestInfo{}, true)
	if _, err := search.FilterData(rule).BuildExpr(resolver); err != nil {
		return validation.NewError("validation_invalid_rule", "Invalid rule: "+err.Error())
	}
	return nil
}
