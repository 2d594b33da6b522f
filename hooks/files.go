package hooks

import (
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/internal/tokens"
)

// sessionFileToken replaces the file token PocketBase mints for a request
// made while impersonating with one that names the session (tokens.MintFile)
// and expires no later than it: the guard then checks each download made
// with it against the session, limits and audits it like any other request,
// and refuses it once the session has ended.
func (p *handlers) sessionFileToken(e *core.FileTokenRequestEvent) error {
	current := sessions.FromRequest(e.RequestEvent)
	if current == nil {
		return e.Next()
	}
	expires := p.opts.Clock.Now().Add(e.Record.Collection().FileToken.DurationTime())
	if end := current.Session.Expires(); end.Before(expires) {
		expires = end
	}
	token, err := tokens.MintFile(e.Record, current.Actor, current.Session.Id, expires)
	if err != nil {
		return e.InternalServerError("", err)
	}
	e.Token = token
	return e.Next()
}
