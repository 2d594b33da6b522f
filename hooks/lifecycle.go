package hooks

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/consent"
	"github.com/pbimpersonation/impersonation/internal/notify"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/internal/tokens"
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
		err = sessions.RecheckLive(p.opts.Audit, e.App, "targetCollection = {:collection}",
			map[string]any{"collection": c.Id}, p.opts.Clock.Now(), audit.Client{}, records.EndPolicyChanged)
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
	_, err := sessions.EndWhere(p.opts.Audit, e.App, records.OnTargetFilter, params, records.EndTargetDeleted, now, audit.Client{})
	if err == nil {
		_, err = sessions.EndWhere(p.opts.Audit, e.App, records.ByActorFilter, params, records.EndActorDeleted, now, audit.Client{})
	}
	if c, findErr := records.FindConsent(e.App, e.Record); err == nil && findErr == nil {
		err = e.App.Delete(c)
	}
	if err != nil {
		e.App.Logger().Error("impersonation: end sessions of a deleted record", "error", err)
	}
	return e.Next()
}

// authRecordUpdated rechecks the live sessions by and on an auth record
// that changed, whatever the change (the impersonatorRule may read any of
// its fields), and ends those the policy no longer allows: a tokenKey
// change (a new password, for one) ends the sessions the record started
// (actor_token_revoked) and those on it, whose tokens no longer verify
// (token_revoked); otherwise a rule that no longer matches ends the
// record's sessions as actor with actor_not_allowed and those on it as
// target with target_not_allowed. A database error while rechecking leaves
// the sessions standing (the guard rechecks on their next request, the
// realtime sweep within a minute).
func (p *handlers) authRecordUpdated(e *core.RecordEvent) error {
	original := e.Record.Original()
	if !e.Record.Collection().IsAuth() || original == nil {
		return e.Next()
	}
	now, params := p.opts.Clock.Now(), records.RecordParams(e.Record)
	var err error
	if original.TokenKey() != e.Record.TokenKey() {
		_, err = sessions.EndWhere(p.opts.Audit, e.App, records.OnTargetFilter, params, records.EndTokenRevoked, now, audit.Client{})
		if err == nil {
			_, err = sessions.EndWhere(p.opts.Audit, e.App, records.ByActorFilter, params, records.EndActorTokenRevoked, now, audit.Client{})
		}
	}
	if err == nil {
		err = errors.Join(
			sessions.RecheckLive(p.opts.Audit, e.App, records.ByActorFilter, params, now, audit.Client{}, records.EndActorNotAllowed),
			sessions.RecheckLive(p.opts.Audit, e.App, records.OnTargetFilter, params, now, audit.Client{}, records.EndTargetNotAllowed),
		)
	}
	if err != nil {
		e.App.Logger().Error("impersonation: recheck sessions after an auth record changed", "error", err)
	}
	return e.Next()
}

// expireSessions ends the sessions whose time is up; the guard also ends a
// session lazily when its token is used after expiry.
func (p *handlers) expireSessions() {
	now := p.opts.Clock.Now()
	nowDate, _ := types.ParseDateTime(now)
	_, err := sessions.EndWhere(p.opts.Audit, p.app, "expires <= {:now}", map[string]any{"now": nowDate.String()},
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
		return refuse(http.StatusForbidden, refusals.CodeNoRefresh, nil)
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
	if err := sessions.Deny(p.opts.Audit, e.App, denial); err != nil {
		e.App.Logger().Error("impersonation: write session.denied", "error", err)
	}
	return refuse(http.StatusForbidden, refusals.CodeBuiltinImpersonate, nil)
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
	if err := p.opts.Audit.WriteAnchor(); err != nil && !errors.Is(err, audit.ErrAnchorNotReached) {
		p.app.Logger().Error("impersonation: anchor the audit chain", "error", err)
	}
}

// auditLost alerts, once per anchored head, that the audit chain no longer
// reaches it: an error in the log and an email to AlertEmail.
func (p *handlers) auditLost(loss audit.Loss) {
	p.app.Logger().Error("impersonation: the audit chain no longer reaches its anchored head: committed entries were deleted or rewritten",
		"anchoredSeq", loss.Anchored.Seq, "anchoredHash", loss.Anchored.Hash, "headSeq", loss.Head.Seq, "headHash", loss.Head.Hash)
	app := p.app
	current, err := p.settings.Get(app)
	if err != nil {
		app.Logger().Error("impersonation: read the settings for the audit loss alert", "error", err)
		return
	}
	if current.AlertEmail == "" {
		return
	}
	p.inBackground(func() {
		if err := notify.AuditLoss(app, current.AlertEmail, loss.Anchored.Seq, loss.Anchored.Hash, loss.Head.Seq); err != nil {
			app.Logger().Error("impersonation: email the audit loss alert", "error", err)
		}
	})
}

// pruneAudit deletes the audit entries older than the retention in force,
// leaving a checkpoint so the rest of the chain verifies, but none that an
// enabled sink has not received (see pruneCeiling); with no retention (kept
// for ever) it does nothing.
func (p *handlers) pruneAudit() {
	current, err := p.settings.Get(p.app)
	if err != nil {
		p.app.Logger().Error("impersonation: read the settings for pruning", "error", err)
		return
	}
	if current.Retention() <= 0 {
		return
	}
	before := p.opts.Clock.Now().Add(-current.Retention())
	ceiling, err := p.pruneCeiling(before, current.AlertEmail)
	if err != nil {
		p.app.Logger().Error("impersonation: find what the audit sinks have received", "error", err)
		return
	}
	pruned, err := p.opts.Audit.PruneThrough(before, ceiling)
	if err != nil {
		p.app.Logger().Error("impersonation: prune the audit", "error", err)
		return
	}
	if pruned > 0 {
		p.app.Logger().Info("impersonation: pruned the audit", "entries", pruned)
	}
}

// recheckRealtimeInterval is how often recheckRealtime runs: the longest a
// realtime client keeps receiving events after a change the plugin cannot
// see (a rule reading other collections) stopped allowing its session.
const recheckRealtimeInterval = time.Minute

// recheckRealtime rechecks the live sessions that authorise connected
// realtime clients, which may make no further request, and ends those no
// longer allowed (no_longer_allowed when the rule stopped matching), which
// drops their clients.
func (p *handlers) recheckRealtime() {
	ids := map[string]bool{}
	for _, client := range p.app.SubscriptionsBroker().Clients() {
		if id, _ := client.Get(realtimeSessionKey).(string); id != "" {
			ids[id] = true
		}
	}
	now := p.opts.Clock.Now()
	for id := range ids {
		err := sessions.RecheckLive(p.opts.Audit, p.app, "id = {:id}", map[string]any{"id": id}, now, audit.Client{},
			records.EndNoLongerAllowed)
		if err != nil {
			p.app.Logger().Error("impersonation: recheck a realtime session", "session", id, "error", err)
		}
	}
}

// collectionRef matches a rule's @collection.name references.
var collectionRef = regexp.MustCompile(`@collection\.([A-Za-z0-9_]+)`)

// ruleSourceWritten rechecks the live sessions of every enabled policy
// whose impersonatorRule may read the collection of a record just created,
// updated or deleted (see ruleReads), and ends those no longer allowed with
// no_longer_allowed. Reads the plugin cannot know of (a chain of relations
// past the first) are left to the guard, on the session's next request, and
// to recheckRealtime, within a minute.
func (p *handlers) ruleSourceWritten(e *core.RecordEvent) error {
	written := e.Record.Collection()
	if strings.HasPrefix(written.Name, "impersonation_") {
		return e.Next() // the plugin's own: handled where they change
	}
	pols, err := p.cache.EnabledPolicies()
	if err != nil {
		e.App.Logger().Error("impersonation: find the policies a write may concern", "error", err)
		return e.Next()
	}
	for _, pol := range pols {
		target, err := e.App.FindCachedCollectionByNameOrId(pol.Collection())
		if err != nil || !ruleReads(e.App, pol.ImpersonatorRule(), target, written) {
			continue
		}
		err = sessions.RecheckLive(p.opts.Audit, e.App, "targetCollection = {:collection}",
			map[string]any{"collection": target.Id}, p.opts.Clock.Now(), audit.Client{}, records.EndNoLongerAllowed)
		if err != nil {
			e.App.Logger().Error("impersonation: recheck sessions after a write their rule reads", "error", err)
		}
	}
	return e.Next()
}

// ruleReads reports whether rule, evaluated on a record of target with any
// auth record as @request.auth, may read records of written: it names
// written with @collection, or through a back-relation (written_via_field),
// or names a relation field of target or of an auth collection that points
// to written. It may say yes when the rule does not read written (a
// recheck too many); it says no to a chain of relations past the first.
func ruleReads(app core.App, rule string, target, written *core.Collection) bool {
	if rule == "" {
		return false
	}
	for _, m := range collectionRef.FindAllStringSubmatch(rule, -1) {
		if strings.EqualFold(m[1], written.Name) || m[1] == written.Id {
			return true
		}
	}
	if strings.Contains(rule, written.Name+"_via_") {
		return true
	}
	// PocketBase's own cache of the collections: no query per write
	cached, _ := app.Store().Get(core.StoreKeyCachedCollections).([]*core.Collection)
	for _, c := range append([]*core.Collection{target}, cached...) {
		if c.Id != target.Id && !c.IsAuth() {
			continue
		}
		for _, f := range c.Fields {
			if rel, ok := f.(*core.RelationField); ok && rel.CollectionId == written.Id && strings.Contains(rule, rel.Name) {
				return true
			}
		}
	}
	return false
}

// consentChanged returns the handler that rechecks the live sessions on
// the user of a consent created, changed or (deleted) deleted by any path
// (Grant and Revoke end them in their own transaction; this catches Go code
// and superusers' writes): a live consent's sessions that would outlive it
// end as consent_shortened, those it no longer allows (revoked, expired or
// deleted) as consent_revoked.
func (p *handlers) consentChanged(deleted bool) func(e *core.RecordEvent) error {
	return func(e *core.RecordEvent) error {
		c := &records.Consent{Record: e.Record}
		user, err := e.App.FindRecordById(c.UserCollection(), c.User())
		if err != nil {
			return e.Next() // a deleted user's sessions ended with it
		}
		now := p.opts.Clock.Now()
		if !deleted && !c.Revoked() {
			err = consent.EndOutliving(p.opts.Audit, e.App, user, c, now, audit.Client{})
		}
		if err == nil {
			err = sessions.RecheckLive(p.opts.Audit, e.App, records.OnTargetFilter, records.RecordParams(user), now, audit.Client{},
				records.EndNoLongerAllowed)
		}
		if err != nil {
			e.App.Logger().Error("impersonation: recheck sessions after a consent changed", "error", err)
		}
		return e.Next()
	}
}
