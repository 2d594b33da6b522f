package hooks

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/limits"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/internal/tokens"
)

// guard checks every request that carries an impersonation token against
// its session, so that a token dies with its session, limits what the
// session may do, and audits the request. A request with an ordinary token,
// or none, passes untouched. An impersonation token that fails any check is
// answered 401, never served as a guest.
func (p *handlers) guard(e *core.RequestEvent) error {
	stripSessionHeaders(e.Request.Header)
	raw, wantFile := sessionToken(e)
	if raw == "" {
		return e.Next()
	}
	claims, isImpersonation, err := tokens.Peek(raw)
	if !isImpersonation {
		return e.Next()
	}
	if err != nil || claims.File != wantFile {
		return refuse(http.StatusUnauthorized, refusals.CodeTokenInvalid, nil)
	}
	// counted before the session is read: a digest that starts once the
	// session has ended waits for every request that may have seen it live
	answered := p.pending.begin(claims.Session)
	defer answered()
	s, err := p.cache.Session(claims.Session)
	if err != nil || !claimsNameSession(claims, s) {
		return refuse(http.StatusUnauthorized, refusals.CodeTokenInvalid, nil)
	}
	target := p.signedFor(e, raw, claims, s)
	if target == nil {
		// nothing is written under a session before its token is verified;
		// an ended session's target may have a new key, or be gone
		if s.IsEnded() {
			return refuse(http.StatusUnauthorized, refusals.CodeSessionEnded, nil)
		}
		return refuse(http.StatusUnauthorized, refusals.CodeTokenInvalid, nil)
	}
	return p.audited(e, s, answered, func() error { return p.admit(e, s, claims, target) })
}

// fileDownloadPattern is the route pattern of PocketBase's file downloads,
// which read a file token from ?token= rather than the Authorization header.
const fileDownloadPattern = "GET /api/files/{collection}/{recordId}/{filename}"

// sessionToken returns the token that decides e's access: the file token of
// a file download when it has one (PocketBase authorises the download with
// it alone), and otherwise the Authorization header's. file tells which.
func sessionToken(e *core.RequestEvent) (raw string, file bool) {
	if e.Request.Pattern == fileDownloadPattern {
		if token := e.Request.URL.Query().Get("token"); token != "" {
			return token, true
		}
	}
	return bearerToken(e.Request.Header.Get("Authorization")), false
}

// signedFor returns the target of session s when the token raw, whose
// claims name s, was signed by the server, and nil otherwise. PocketBase
// verified an auth token when it loaded e.Auth as s's target; one it did
// not load (past its exp, or forged) and a file token are checked against
// the target's key here.
func (p *handlers) signedFor(e *core.RequestEvent, raw string, claims tokens.Claims, s *records.Session) *core.Record {
	if !claims.File && e.Auth != nil && e.Auth.Id == s.Target() && e.Auth.Collection().Id == s.TargetCollection() {
		return e.Auth
	}
	target, err := e.App.FindRecordById(s.TargetCollection(), s.Target())
	if err != nil || tokens.VerifySignature(raw, claims, target) != nil {
		return nil
	}
	return target
}

// admit decides on a request made with the token of session s and, when
// the session may make it, runs the rest of the chain.
func (p *handlers) admit(e *core.RequestEvent, s *records.Session, claims tokens.Claims, target *core.Record) error {
	if s.IsEnded() {
		return refuse(http.StatusUnauthorized, refusals.CodeSessionEnded, nil)
	}
	now := p.opts.Clock.Now()
	if !now.Before(s.Expires()) {
		// the session's own expiry, not the unverified token's, decides
		if err := sessions.End(p.opts.Audit, e.App, s, records.EndExpired, now, audit.ClientOf(e, http.StatusUnauthorized)); err != nil {
			return e.InternalServerError("", err)
		}
		return refuse(http.StatusUnauthorized, refusals.CodeSessionExpired, nil)
	}
	// an auth token serves only once PocketBase has loaded it (its exp
	// included); a file token's download is checked by PocketBase again
	if !claims.File && e.Auth != target {
		return refuse(http.StatusUnauthorized, refusals.CodeTokenInvalid, nil)
	}

	// in place before anything reads (and caches) the request's RequestInfo
	e.Request.Header.Set(sessions.Header, s.Id)

	current, cause, err := sessions.Recheck(e.App, p.cache, s, target, now, records.EndNoLongerAllowed)
	if err != nil && cause == "" {
		// the database failed: this request fails closed, the session stands
		return e.InternalServerError("", err)
	}
	if err != nil {
		if endErr := sessions.End(p.opts.Audit, e.App, s, cause, now, audit.ClientOf(e, http.StatusUnauthorized)); endErr != nil {
			return e.InternalServerError("", endErr)
		}
		return refuse(http.StatusUnauthorized, refusals.CodeNoLongerAllowed, nil)
	}

	call, err := callOf(e)
	if err != nil {
		return refuseBody(err)
	}
	if err := checkLimits(current, call); err != nil {
		return limitError(e, err)
	}
	if err := limitQuery(e.App, current, e.Request.PathValue("collection"), e.Request.URL.Query()); err != nil {
		return limitError(e, err)
	}
	if err := p.limitMasks(e, current); err != nil {
		return err
	}
	if err := limitRuleFieldsOf(e, current); err != nil {
		return err
	}

	sessions.MarkRequest(e, current)
	setLogMeta(e, current)
	return e.Next()
}

// checkLimits checks calls against the limits of the current session, the
// policy's route rules parsed once; a policy whose route rules do not parse
// refuses everything.
func checkLimits(current *sessions.Current, calls ...limits.Call) error {
	lim, err := limits.FromPolicy(current.Policy)
	if err != nil {
		return errors.Join(limits.ErrDenied, err)
	}
	for _, call := range calls {
		if err := limits.Check(current.Session.Mode(), lim, call); err != nil {
			return err
		}
	}
	return nil
}

// limitError is the answer to a request the limits refuse.
func limitError(e *core.RequestEvent, err error) error {
	switch {
	case errors.Is(err, limits.ErrNeverAllowed):
		return refuse(http.StatusForbidden, refusals.CodeNeverAllowed, nil)
	case errors.Is(err, limits.ErrReadOnly):
		return refuse(http.StatusForbidden, refusals.CodeReadOnly, nil)
	default:
		return refuse(http.StatusForbidden, refusals.CodeDenied, nil)
	}
}

// callOf describes the request of e for the limits. The body is read only
// for a write to the records of an auth collection.
func callOf(e *core.RequestEvent) (limits.Call, error) {
	call := limits.Call{Method: e.Request.Method, Path: canonicalPath(e.App, e.Request.URL.Path)}
	call.AuthRecord = isAuthCollection(e.App, e.Request.PathValue("collection")) &&
		strings.HasPrefix(e.Request.Pattern, e.Request.Method+" /api/collections/{collection}/records")
	if call.AuthRecord && e.Request.Method != http.MethodGet && e.Request.Method != http.MethodDelete {
		info, err := e.RequestInfo()
		if err != nil {
			return call, err
		}
		for field := range info.Body {
			call.Fields = append(call.Fields, field)
		}
	}
	return call, nil
}

func isAuthCollection(app core.App, nameOrId string) bool {
	if nameOrId == "" {
		return false
	}
	c, err := app.FindCachedCollectionByNameOrId(nameOrId)
	return err == nil && c.IsAuth()
}

// batchRecordPath matches the path of a batch request and names its collection.
var batchRecordPath = regexp.MustCompile(`^/api/collections/([^/?]+)/records`)

// limitBatch refuses a batch any of whose requests sets a header that
// PocketBase could map to the session header's key (whoever sends it: a
// sub-request's headers override the batch's own), and applies the limits
// to each request of a batch made while impersonating.
func (p *handlers) limitBatch(e *core.BatchRequestEvent) error {
	for _, ir := range e.Batch {
		if namesSessionHeader(ir.Headers) {
			return refuse(http.StatusForbidden, refusals.CodeSessionHeader, nil)
		}
	}
	current := sessions.FromRequest(e.RequestEvent)
	if current == nil {
		return e.Next()
	}
	for _, ir := range e.Batch {
		path, rawQuery, _ := strings.Cut(ir.URL, "?")
		query, _ := url.ParseQuery(rawQuery)
		call := limits.Call{Method: ir.Method, Path: canonicalPath(e.App, path), Fields: batchFields(ir.Body, query)}
		collection := ""
		if m := batchRecordPath.FindStringSubmatch(path); m != nil {
			collection = m[1]
			call.AuthRecord = isAuthCollection(e.App, collection)
		}
		if err := checkLimits(current, call); err != nil {
			return limitError(e.RequestEvent, err)
		}
		if err := limitQuery(e.App, current, collection, query); err != nil {
			return limitError(e.RequestEvent, err)
		}
		if err := p.limitMaskedBatch(e.App, current, ir.Method, path, query, call.Fields); err != nil {
			return err
		}
		if m := batchRecordsPath.FindStringSubmatch(path); m != nil {
			if err := limitRuleFields(e.App, current, strings.ToUpper(ir.Method), m[1], m[2], call.Fields); err != nil {
				return err
			}
		}
	}
	return e.Next()
}

// batchFields returns the names of the fields a batch request sets: those
// of its body and, since PocketBase binds a batch request as a multipart
// form, which takes the URL's query values too, those of its URL's query
// (and of any @jsonPayload there).
func batchFields(body map[string]any, query url.Values) []string {
	var fields []string
	for field := range body {
		fields = append(fields, field)
	}
	for field, values := range query {
		fields = append(fields, field)
		if field != "@jsonPayload" {
			continue
		}
		for _, v := range values {
			var payload map[string]any
			_ = json.Unmarshal([]byte(v), &payload)
			for f := range payload {
				fields = append(fields, f)
			}
		}
	}
	return fields
}

// setLogMeta adds the session and its actor to PocketBase's own request
// log entry of e.
func setLogMeta(e *core.RequestEvent, current *sessions.Current) {
	meta, _ := e.Get(apis.RequestEventKeyLogMeta).(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["impersonation"] = map[string]any{
		"session":         current.Session.Id,
		"actor":           current.Session.Actor(),
		"actorCollection": current.Session.ActorCollection(),
		"mode":            current.Session.Mode(),
	}
	e.Set(apis.RequestEventKeyLogMeta, meta)
}

// claimsNameSession reports whether the token's claims name session s: the
// same actor and the same target.
func claimsNameSession(c tokens.Claims, s *records.Session) bool {
	return c.Actor.Sub == s.Actor() && c.Actor.CollectionId == s.ActorCollection() &&
		c.Target == s.Target() && c.TargetCollection == s.TargetCollection()
}

// bearerToken returns the token of an Authorization header value, read as
// PocketBase reads it: the "Bearer " prefix is optional and case-insensitive.
func bearerToken(header string) string {
	if len(header) > 7 && strings.EqualFold(header[:7], "Bearer ") {
		return header[7:]
	}
	return header
}
