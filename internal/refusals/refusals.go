// Package refusals defines the codes of the impersonation plugin's
// refusals and their fixed English messages.
package refusals

import "github.com/pbimpersonation/impersonation/internal/sessions"

// Refusals. Every refusal of the plugin, on its /api/impersonation/* routes
// and on PocketBase's own routes (the guard of impersonation tokens, the
// protected collections), is PocketBase's JSON error {status, message, data}
// with a stable code that a client translates, never its English message:
//
//   - an error of one field keeps PocketBase's shape, data.<field> =
//     {code, message, params} (codes "validation_...");
//   - any other refusal has its code under data.impersonation (Key),
//     as {code, message}, the message being the one of the error itself,
//     and params when the refusal names something (the masked field a
//     request reads or writes, and where).
//
// For example:
//
//	{"status":403,"message":"The user has not consented to be impersonated.",
//	 "data":{"impersonation":{"code":"consent_required","message":"The user has not consented to be impersonated."}}}
//
// The codes and their messages are defined here and nowhere else; the UI's
// catalogue (pb_public/impersonation/lib/messages.js) holds a text for each
// code, under "error.<code>".

// Key is the key of a refusal's code in its error's data.
const Key = "impersonation"

// Code is the stable code of a refusal.
type Code string

// The codes of the plugin's refusals. The refusals of a start that must not
// reveal whether the target exists share one code, CodeNotAllowed.
const (
	// every route that needs a signed-in caller
	CodeAuthRequired Code = "auth_required"
	CodeInvalidBody  Code = "invalid_body"
	CodeInvalidData  Code = "invalid_data"
	CodeNotFound     Code = "not_found"

	// POST /api/impersonation/sessions
	CodeNotAllowed      Code = "not_allowed"
	CodeConsentRequired Code = "consent_required"
	CodeModeNotAllowed  Code = "mode_not_allowed"
	CodeChaining        Code = "chaining"
	CodeRateLimited     Code = "rate_limited"
	CodeBreakGlassOff   Code = "break_glass_off"

	// /api/impersonation/requests
	CodeRequestNotNeeded   Code = "request_not_needed"
	CodeRequestPending     Code = "request_pending"
	CodeRequestAnswered    Code = "request_answered"
	CodeRequestExpired     Code = "request_expired"
	CodeOwnRequest         Code = "own_request"
	CodeApprovalNotCounted Code = "approval_not_counted"

	// /api/impersonation/consent
	CodeConsentWhileImpersonating Code = "consent_while_impersonating"
	CodeNotEnabled                Code = "not_enabled"
	CodeConsentRateLimited        Code = "consent_rate_limited"

	// GET /api/impersonation/digests
	CodeDigestsWhileImpersonating Code = "digests_while_impersonating"

	// GET /api/impersonation/policies and /targets
	CodeStaffWhileImpersonating Code = "staff_while_impersonating"
	CodeNoTargets               Code = "no_targets"

	// /api/impersonation/audit/*
	CodeBadExport            Code = "bad_export"
	CodeNothingToAcknowledge Code = "nothing_to_acknowledge"
	CodeChainBroken          Code = "chain_broken"

	// the guard, on every request made with an impersonation token
	CodeTokenInvalid    Code = "token_invalid"
	CodeSessionEnded    Code = "session_ended"
	CodeSessionExpired  Code = "session_expired"
	CodeNoLongerAllowed Code = "no_longer_allowed"
	CodeNeverAllowed    Code = "never_allowed"
	CodeDenied          Code = "denied"
	CodeReadOnly        Code = "read_only"
	CodeSessionHeader   Code = "session_header"
	CodeRealtimeExpand  Code = "realtime_expand"
	CodeNoRefresh       Code = "no_refresh"

	// the guard, on what a policy's maskedFields hide (params: the field,
	// and where it was found)
	CodeMaskedRead  Code = "masked_read"
	CodeMaskedRule  Code = "masked_rule"
	CodeMaskedWrite Code = "masked_write"
	CodeMaskedFile  Code = "masked_file"

	// the guard, on a write to the user's own record that would change a
	// field the policy's impersonatorRule or approverRule reads (params: the
	// field)
	CodeRuleFieldWrite Code = "rule_field_write"

	// PocketBase's own routes on the plugin's collections
	CodeBuiltinImpersonate Code = "builtin_impersonate"
	CodeAuditAppendOnly    Code = "audit_append_only"
	CodeRecordsByRoutes    Code = "records_by_routes"
	CodeNoTruncate         Code = "no_truncate"
	CodeNoCollectionDelete Code = "no_collection_delete"
	CodeNoCollectionChange Code = "no_collection_change"
	CodeNoImport           Code = "no_import"
	CodeSettingsExist      Code = "settings_exist"
	// params: the field
	CodeSinkStateReadOnly Code = "sink_state_read_only"
	// params: the field, and where it was found
	CodeSinkSecretRead Code = "sink_secret_read"
)

// refusalMessages holds each code's fixed English message.
var refusalMessages = map[Code]string{
	CodeAuthRequired: "The request requires valid record authorization token.",
	CodeInvalidBody:  "An error occurred while loading the submitted data.",
	CodeInvalidData:  "An error occurred while validating the submitted data.",
	CodeNotFound:     "The requested resource wasn't found.",

	CodeNotAllowed:      "You are not allowed to impersonate this record.",
	CodeConsentRequired: "The user has not consented to be impersonated.",
	CodeModeNotAllowed:  "The policy does not allow sessions in this mode.",
	CodeChaining:        "An impersonation session cannot start another one.",
	CodeRateLimited:     "Too many impersonation attempts; try again in a minute.",
	CodeBreakGlassOff:   "The policy does not allow break-glass sessions.",

	CodeRequestNotNeeded:   "The user's consent is in force or not required: start a session instead.",
	CodeRequestPending:     "You have a request about this user waiting for its answer already.",
	CodeRequestAnswered:    "The request has been answered already.",
	CodeRequestExpired:     "The request has expired.",
	CodeOwnRequest:         "You cannot answer your own request.",
	CodeApprovalNotCounted: "Under this policy an approver approves the request; you may decline it.",

	CodeConsentWhileImpersonating: "Consent cannot be managed while impersonating.",
	CodeNotEnabled:                "Impersonation is not enabled for your account.",
	CodeConsentRateLimited:        "Too many consent changes; try again in a minute.",

	CodeDigestsWhileImpersonating: "A user's session digests cannot be read while impersonating.",

	CodeStaffWhileImpersonating: "Staff lists are not available while impersonating.",
	CodeNoTargets:               "You are not allowed to impersonate any record of this collection.",

	CodeBadExport:            "The export's format or filter is invalid.",
	CodeNothingToAcknowledge: "The audit chain reaches its anchor: there is nothing to acknowledge.",
	CodeChainBroken:          "The audit chain is broken, not only cut short: an acknowledgement does not mend it. Run the verify for the first bad entry.",

	CodeTokenInvalid:    "The impersonation token is invalid.",
	CodeSessionEnded:    "The impersonation session has ended.",
	CodeSessionExpired:  "The impersonation session has expired.",
	CodeNoLongerAllowed: "The impersonation session is no longer allowed and has ended.",
	CodeNeverAllowed:    "This action is never allowed while impersonating.",
	CodeDenied:          "This action is not allowed while impersonating.",
	CodeReadOnly:        "The impersonation session is read-only.",
	CodeSessionHeader:   "The " + sessions.Header + " header is set by the server only.",
	CodeRealtimeExpand:  "Realtime subscriptions cannot expand relations while impersonating.",
	CodeNoRefresh:       "An impersonation token cannot be refreshed.",

	CodeMaskedRead:     "The filter, sort or expand reads a field that is hidden while impersonating.",
	CodeMaskedRule:     "The collection's API rule compares a field that is hidden while impersonating with data of the request.",
	CodeMaskedWrite:    "A field that is hidden while impersonating cannot be written.",
	CodeRuleFieldWrite: "A field that decides who may act as this user, or approve their requests, cannot be changed while impersonating.",
	CodeMaskedFile:     "This file is hidden while impersonating.",

	CodeBuiltinImpersonate: "Records of this collection are impersonated through POST /api/impersonation/sessions.",
	CodeAuditAppendOnly:    "Impersonation audit entries are append-only and cannot be changed through the API.",
	CodeRecordsByRoutes:    "Impersonation sessions, consents and requests change only through the /api/impersonation routes.",
	CodeNoTruncate:         "The impersonation collections cannot be truncated.",
	CodeNoCollectionDelete: "The impersonation collections cannot be deleted while the plugin is registered.",
	CodeNoCollectionChange: "The impersonation collections cannot be changed while the plugin is registered.",
	CodeNoImport:           "The import would delete or change the impersonation collections.",
	CodeSettingsExist:      "The impersonation settings are one record, which exists already: edit it.",
	CodeSinkStateReadOnly:  "A sink's delivery state (deliveredSeq, checkpointOffset, lastError, lastAttempt) is written by the plugin only.",
	CodeSinkSecretRead:     "The filter, sort, expand or fields read a sink's secret, which no one may read.",
}

// Codes returns every refusal code, for documentation and tests.
func Codes() []Code {
	out := make([]Code, 0, len(refusalMessages))
	for c := range refusalMessages {
		out = append(out, c)
	}
	return out
}

// Message is the code's fixed English message.
func (c Code) Message() string {
	return refusalMessages[c]
}
