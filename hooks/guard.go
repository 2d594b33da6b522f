package hooks

import (
	"net/http"
	"strings"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/plugin/audit"
	"github.com/pbimpersonation/impersonation/plugin/records"
	"github.com/pbimpersonation/impersonation/plugin/sessions"
	"github.com/pbimpersonation/impersonation/plugin/tokens"
)

// Messages of the guard's 401 answers.
const (
	msgTokenInvalid    = "The impersonation token is invalid."
	msgSessionEnded    = "The impersonation session has ended."
	msgSessionExpired  = "The impersonation session has expired."
	msgNoLongerAllowed = "The impersonation session is no longer allowed and has ended."
)

// guard checks every request that carries an impersonation token against
// its session, so that a token dies with its session. A request with an
// ordinary token, or none, passes untouched. An impersonation token that
// fails any check is answered 401, never served as a guest.
func (p *handlers) guard(e *core.RequestEvent) error {
	raw := bearerToken(e.Request.Header.Get("Authorization"))
	if raw == "" {
		return e.Next()
	}
	claims, isImpersonation, err := tokens.Peek(raw)
	if !isImpersonation {
		return e.Next()
	}
	if err != nil {
		return e.UnauthorizedError(msgTokenInvalid, nil)
	}

	s, err := records.FindSession(e.App, claims.Session)
	if err != nil || !claimsNameSession(claims, s) {
		return e.UnauthorizedError(msgTokenInvalid, nil)
	}
	if s.IsEnded() {
		return e.UnauthorizedError(msgSessionEnded, nil)
	}
	now := p.opts.Now()
	if !now.Before(s.Expires()) {
		// the session's own expiry, not the unverified token's, decides
		if err := sessions.End(e.App, s, records.EndExpired, now, audit.ClientOf(e, http.StatusUnauthorized)); err != nil {
			return e.InternalServerError("", err)
		}
		return e.UnauthorizedError(msgSessionExpired, nil)
	}
	// PocketBase verified the signature when it loaded e.Auth
	if e.Auth == nil || e.Auth.Id != claims.Target || e.Auth.Collection().Id != claims.TargetCollection {
		return e.UnauthorizedError(msgTokenInvalid, nil)
	}

	current, cause, err := sessions.Recheck(e.App, s, e.Auth, now)
	if err != nil {
		if endErr := sessions.End(e.App, s, cause, now, audit.ClientOf(e, http.StatusUnauthorized)); endErr != nil {
			return e.InternalServerError("", endErr)
		}
		return e.UnauthorizedError(msgNoLongerAllowed, nil)
	}
	sessions.MarkRequest(e, current)
	return e.Next()
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
