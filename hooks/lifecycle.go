package hooks

import (
	"errors"
	"net/http"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/plugin/audit"
	"github.com/pbimpersonation/impersonation/plugin/notify"
	"github.com/pbimpersonation/impersonation/plugin/records"
	"github.com/pbimpersonation/impersonation/plugin/sessions"
	"github.com/pbimpersonation/impersonation/plugin/tokens"
)

// policyChanged re-checks the live sessions of a policy's collection after
// the policy was changed or deleted, and ends those it no longer allows.
func (p *handlers) policyChanged(e *core.RecordEvent) error {
	pol := &records.Policy{Record: e.Record}
	names := []string{pol.Collection()}
	if original := e.Record.Original(); original != nil {
		names = append(names, original.GetString("collection"))
	}
	for _, name := range names {
		c, err := e.App.FindCachedCollectionByNameOrId(name)
		if err != nil {
			continue
		}
		err = sessions.RecheckLive(e.App, "targetCollection = {:collection}",
			map[string]any{"collection": c.Id}, p.opts.Clock.Now(), audit.Client{})
		if err != nil {
			e.App.Logger().Error("impersonation: recheck sessions after policy change", "error", err)
		}
	}
	return e.Next()
}

// authRecordDeleted ends the live sessions on or by a deleted auth record
// and deletes its consent.
func (p *handlers) authRecordDeleted(e *core.RecordEvent) error {
	if !e.Record.Collection().IsAuth() {
		return e.Next()
	}
	now, params := p.opts.Clock.Now(), records.RecordParams(e.Record)
	_, err := sessions.EndWhere(e.App, records.OnTargetFilter, params, records.EndTargetDeleted, now, audit.Client{})
	if err == nil {
		_, err = sessions.EndWhere(e.App, records.ByActorFilter, params, records.EndActorDeleted, now, audit.Client{})
	}
	if c, findErr := records.FindConsent(e.App, e.Record); err == nil && findErr == nil {
		err = e.App.Delete(c)
	}
	if err != nil {
		e.App.Logger().Error("impersonation: end sessions of a deleted record", "error", err)
	}
	return e.Next()
}

// authRecordUpdated ends the live sessions on an auth record whose tokenKey
// changed (a new password, for one): their tokens no longer verify.
func (p *handlers) authRecordUpdated(e *core.RecordEvent) error {
	original := e.Record.Original()
	if !e.Record.Collection().IsAuth() || original == nil || original.TokenKey() == e.Record.TokenKey() {
		return e.Next()
	}
	_, err := sessions.EndWhere(e.App, records.OnTargetFilter, records.RecordParams(e.Record),
		records.EndTokenRevoked, p.opts.Clock.Now(), audit.Client{})
	if err != nil {
		e.App.Logger().Error("impersonation: end sessions after a tokenKey change", "error", err)
	}
	return e.Next()
}

// expireSessions ends the sessions whose time is up; the guard also ends a
// session lazily when its token is used after expiry.
func (p *handlers) expireSessions() {
	now := p.opts.Clock.Now()
	nowDate, _ := types.ParseDateTime(now)
	_, err := sessions.EndWhere(p.app, "expires <= {:now}", map[string]any{"now": nowDate.String()},
		records.EndExpired, now, audit.Client{})
	if err != nil {
		p.app.Logger().Error("impersonation: expire sessions", "error", err)
	}
}

// refuseRefreshable lets auth-refresh return an impersonation token
// unchanged, as PocketBase does for any non-refreshable token, and refuses
// outright a token that claims to be refreshable.
func refuseRefreshable(e *core.RecordAuthRefreshRequestEvent) error {
	if sessions.FromRequest(e.RequestEvent) == nil {
		return e.Next()
	}
	claims, _, _ := tokens.Peek(bearerToken(e.Request.Header.Get("Authorization")))
	if claims.Refreshable {
		return e.ForbiddenError("An impersonation token cannot be refreshed.", nil)
	}
	return e.Next()
}

// builtinImpersonatePattern is the route pattern of PocketBase's own
// impersonate endpoint, which the dashboard's Impersonate button calls.
const builtinImpersonatePattern = "POST /api/collections/{collection}/impersonate/{id}"

// builtinImpersonate refuses PocketBase's own impersonate route for the
// records of every auth collection but _superusers (it would mint a plain
// token with no session, consent or audit), whatever the policies say: no
// policy state, a disabled or deleted one included, reopens it. It points
// to the plugin's route. _superusers keep the built-in behaviour (apps use
// it to mint long-lived superuser tokens), and the plugin never lets a
// policy name _superusers.
func (p *handlers) builtinImpersonate(e *core.RecordAuthRequestEvent) error {
	if e.AuthMethod != "" || e.Request.Pattern != builtinImpersonatePattern {
		return e.Next()
	}
	if e.Collection.Name == core.CollectionNameSuperusers {
		return e.Next()
	}
	denial := sessions.Denial{
		Actor: e.Auth, Target: e.Record.Id, TargetCollection: e.Collection.Id,
		Code: "builtin_route", Client: audit.ClientOf(e.RequestEvent, http.StatusForbidden),
	}
	if err := sessions.Deny(e.App, denial); err != nil {
		e.App.Logger().Error("impersonation: write session.denied", "error", err)
	}
	return e.ForbiddenError("Records of this collection are impersonated through POST "+SessionsPath+".", nil)
}

// anchorAudit moves the audit chain's anchor forward to its head (every
// append does too): it finds, within a minute, committed entries deleted
// when nothing was appended since, and alerts it (auditLost).
func (p *handlers) anchorAudit() {
	if !p.app.IsBootstrapped() {
		return // terminated already: nothing to read
	}
	if p.restoring.Load() {
		return // the data read may be the restored one: the anchor stays
	}
	// a loss was alerted once, by auditLost; Verify reports it until acknowledged
	if err := audit.WriteAnchor(p.app); err != nil && !errors.Is(err, audit.ErrAnchorNotReached) {
		p.app.Logger().Error("impersonation: anchor the audit chain", "error", err)
	}
}

// auditLost alerts, once per anchored head, that the audit chain no longer
// reaches it: an error in the log and an email to AlertEmail.
func (p *handlers) auditLost(loss audit.Loss) {
	p.app.Logger().Error("impersonation: the audit chain no longer reaches its anchored head: committed entries were deleted or rewritten",
		"anchoredSeq", loss.Anchored.Seq, "anchoredHash", loss.Anchored.Hash, "headSeq", loss.Head.Seq, "headHash", loss.Head.Hash)
	if p.opts.AlertEmail == "" {
		return
	}
	app := p.app
	p.inBackground(func() {
		if err := notify.AuditLoss(app, p.opts.AlertEmail, loss.Anchored.Seq, loss.Anchored.Hash, loss.Head.Seq); err != nil {
			app.Logger().Error("impersonation: email the audit loss alert", "error", err)
		}
	})
}

// pruneAudit deletes the audit entries older than the retention, leaving a
// checkpoint so the rest of the chain verifies.
func (p *handlers) pruneAudit() {
	pruned, err := audit.Prune(p.app, p.opts.Clock.Now().Add(-p.opts.AuditRetention))
	if err != nil {
		p.app.Logger().Error("impersonation: prune the audit", "error", err)
		return
	}
	if pruned > 0 {
		p.app.Logger().Info("impersonation: pruned the audit", "entries", pruned)
	}
}
