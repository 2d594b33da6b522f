package hooks

import (
	"net/http"
	"slices"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/masks"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// limitRuleFields refuses a write made while impersonating to the target's
// own record (its collection by name, in any letter case, or id) that sets
// a field the policy's impersonatorRule or approverRule reads: whoever acts
// as the user may not change who may act as them, or who approves their
// requests (a manager field an approverRule compares with @request.auth.id,
// the relation a rule's path starts from). id is the record's id in the
// path; a batch upsert (PUT) names it in its body, so one without an id in
// its path is checked as a write to the target. fields are the body's
// field names, modifiers and all.
func limitRuleFields(app core.App, current *sessions.Current, method, collection, id string, fields []string) error {
	if !writes(method) || (id != current.Session.Target() && !(method == http.MethodPut && id == "")) {
		return nil
	}
	c, err := app.FindCachedCollectionByNameOrId(collection)
	if err != nil || c.Id != current.Session.TargetCollection() {
		return nil
	}
	ruled := slices.Concat(masks.RuleFields(current.Policy.ImpersonatorRule()), masks.RuleFields(current.Policy.ApproverRule()))
	if field, ok := masks.WrittenOf(ruled, fields); ok {
		return refuseWith(http.StatusForbidden, refusals.CodeRuleFieldWrite, map[string]any{"field": field}, nil)
	}
	return nil
}

// limitRuleFieldsOf applies limitRuleFields to the request of e, a records
// API write whose fields are read as the masks read them.
func limitRuleFieldsOf(e *core.RequestEvent, current *sessions.Current) error {
	id := e.Request.PathValue("id")
	if !writes(e.Request.Method) || id != current.Session.Target() {
		return nil
	}
	call, err := maskedCallOf(e)
	if err != nil {
		return refuseBody(err)
	}
	if call.collection == nil {
		return nil
	}
	return limitRuleFields(e.App, current, e.Request.Method, call.collection.Id, id, call.fields)
}
