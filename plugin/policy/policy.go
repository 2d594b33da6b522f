// Package policy decides whether an actor may act as a target now.
//
// Check is the one decision of the plugin: it runs when a session starts and
// again on every request made with the session's token, so an actor who
// loses permission, a disabled policy, a withdrawn consent or a deleted
// record stops a session at its next request.
package policy

import (
	"errors"
	"fmt"
	"time"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/search"

	"github.com/pbimpersonation/impersonation/plugin/records"
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
)

// Sentinel errors a Refusal wraps. ErrNotAllowed covers every refusal that
// must not tell whether the target exists.
var (
	ErrNotAllowed       = errors.New("impersonation not allowed")
	ErrModeNotAllowed   = errors.New("session mode not allowed")
	ErrConsentRequired  = errors.New("target consent required")
	ErrActorUnavailable = errors.New("actor no longer exists")
)

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
	Mode    records.Mode
	Now     time.Time
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
	if err != nil {
		app.Logger().Error("impersonation: evaluate impersonatorRule",
			"collection", r.Policy.Collection(), "error", err)
	}
	if !allowed {
		return refuse(CodeRuleFailed, ErrNotAllowed)
	}

	if !r.Policy.AllowsMode(r.Mode) {
		return refuse(CodeModeNotAllowed, ErrModeNotAllowed)
	}
	if r.Policy.Consent() != records.ConsentNone && !r.Consent.LiveAt(r.Now) {
		return refuse(CodeConsentRequired, ErrConsentRequired)
	}
	return nil
}

// actorSatisfiesRule evaluates the policy's impersonatorRule as PocketBase
// evaluates a view rule on the target: plain field names are the target's,
// @request.auth is the actor. Superusers pass, as they pass every API rule;
// an empty rule lets no one else in. A rule that fails to evaluate refuses.
func actorSatisfiesRule(app core.App, p *records.Policy, actor, target *core.Record) (bool, error) {
	if actor.IsSuperuser() {
		return true, nil
	}
	rule := p.ImpersonatorRule()
	if rule == "" {
		return false, nil
	}
	return app.CanAccessRecord(target, &core.RequestInfo{Auth: actor}, &rule)
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
