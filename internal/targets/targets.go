// Package targets tells a support person whom they may impersonate: the
// enabled policies under which they may act as someone, and the records of
// one policy's collection they may act as, each with its consent and the
// session live on it. The dashboard and the support console list these
// before their Impersonate action.
//
// Records are chosen by policy.Targets, the SQL form of the impersonatorRule
// that policy.Check applies at start, so a list never shows a record that a
// start would refuse for the rule, and paging is done by the database.
//
// Example usage:
//
//	pols, err := targets.Policies(app, actor)
//	page, err := targets.List(app, pol, collection, actor, targets.Query{Search: "alice"}, time.Now())
//	if errors.Is(err, targets.ErrNoTargets) {
//		// the actor may impersonate no one there
//	}
package targets

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/search"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/masks"
	"github.com/pbimpersonation/impersonation/internal/policy"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// ErrNoTargets is returned by List when the actor may impersonate no record
// of the collection.
var ErrNoTargets = errors.New("no record to impersonate")

// Paging limits of a Query.
const (
	DefaultPerPage = 30
	MaxPerPage     = 100
	// MaxSearchLength is the longest search text, in bytes.
	MaxSearchLength = 255
)

// Names of the fields of a target collection that a Target shows when the
// collection has them.
const (
	NameField   = "name"
	AvatarField = "avatar"
)

// Policy is what an Impersonate form needs of one policy.
type Policy struct {
	Collection      string              `json:"collection"`
	CollectionId    string              `json:"collectionId"`
	Consent         records.ConsentRule `json:"consent"`
	ReasonRequired  bool                `json:"reasonRequired"`
	MaxMinutes      int                 `json:"maxMinutes"`
	Modes           []records.Mode      `json:"modes"`
	DefaultMode     records.Mode        `json:"defaultMode"`
	ConsentMaxHours int                 `json:"consentMaxHours"`
	// BreakGlass: a start without consent in an emergency is allowed, in
	// BreakGlassModes, for at most BreakGlassMinutes.
	BreakGlass        bool           `json:"breakGlass"`
	BreakGlassModes   []records.Mode `json:"breakGlassModes"`
	BreakGlassMinutes int            `json:"breakGlassMinutes"`
}

// Policies returns, sorted by collection name, the enabled policies under
// which actor may impersonate at least one record: every enabled policy of
// an existing collection for a superuser. A policy whose rule does not
// compile is left out (and logged).
func Policies(app core.App, actor *core.Record) ([]Policy, error) {
	pols, err := records.FindEnabledPolicies(app)
	if err != nil {
		return nil, fmt.Errorf("list the enabled policies: %w", err)
	}
	out := []Policy{}
	for _, pol := range pols {
		collection, err := app.FindCachedCollectionByNameOrId(pol.Collection())
		if err != nil || collection.Name != pol.Collection() || !collection.IsAuth() ||
			collection.Name == core.CollectionNameSuperusers {
			continue // a policy the dashboard would refuse to save
		}
		if !actor.IsSuperuser() {
			ok, err := policy.HasTargets(app, pol, collection, actor)
			if err != nil {
				app.Logger().Error("impersonation: list the targets of a policy",
					"collection", pol.Collection(), "error", err)
			}
			if !ok {
				continue
			}
		}
		out = append(out, policyOf(pol, collection))
	}
	slices.SortFunc(out, func(a, b Policy) int { return strings.Compare(a.Collection, b.Collection) })
	return out, nil
}

func policyOf(p *records.Policy, c *core.Collection) Policy {
	modes := p.Modes()
	if modes == nil {
		modes = []records.Mode{}
	}
	return Policy{
		Collection:        c.Name,
		CollectionId:      c.Id,
		Consent:           p.Consent(),
		ReasonRequired:    p.ReasonRequired(),
		MaxMinutes:        p.MaxMinutes(),
		Modes:             modes,
		DefaultMode:       p.DefaultMode(),
		ConsentMaxHours:   p.ConsentMaxHours(),
		BreakGlass:        p.BreakGlass(),
		BreakGlassModes:   breakGlassModes(p),
		BreakGlassMinutes: p.BreakGlassMinutes(),
	}
}

// breakGlassModes returns the modes a break-glass session may run in under p.
func breakGlassModes(p *records.Policy) []records.Mode {
	out := []records.Mode{}
	for _, m := range []records.Mode{records.ModeRead, records.ModeWrite} {
		if p.AllowsBreakGlassMode(m) {
			out = append(out, m)
		}
	}
	return out
}

// Query is a page of List.
type Query struct {
	// Search keeps the records whose id, email or name (when the
	// collection has a text field "name") contains it, case-insensitively
	// for ASCII letters. It is plain text: no filter syntax or wildcard.
	// Empty: every record.
	Search string
	// Page is the page number, from 1.
	Page int
	// PerPage is the number of records a page holds, 1 to MaxPerPage.
	PerPage int
}

// Page is a page of targets, shaped like a page of PocketBase's records API.
type Page struct {
	Page       int      `json:"page"`
	PerPage    int      `json:"perPage"`
	TotalItems int      `json:"totalItems"`
	TotalPages int      `json:"totalPages"`
	Items      []Target `json:"items"`
}

// Target is a record the actor may impersonate. Name and Avatar (the file
// name) are empty when the collection has no such field; Email, Name and
// Avatar are empty when the policy masks them from an actor who is not a
// superuser.
type Target struct {
	Id             string       `json:"id"`
	CollectionId   string       `json:"collectionId"`
	CollectionName string       `json:"collectionName"`
	Email          string       `json:"email"`
	Name           string       `json:"name"`
	Avatar         string       `json:"avatar"`
	Consent        Consent      `json:"consent"`
	LiveSession    *LiveSession `json:"liveSession"`
	// Request is the actor's newest request for access to the target (nil:
	// none).
	Request *Request `json:"request"`
}

// Request is an actor's request for access to a target, as the lists of
// targets show it.
type Request struct {
	Id       string       `json:"id"`
	Status   string       `json:"status"`
	Expires  string       `json:"expires"`
	Approved string       `json:"approved"`
	Minutes  int          `json:"minutes"`
	Mode     records.Mode `json:"mode"`
}

// Consent is a target's consent under the policy.
type Consent struct {
	// Required: the policy needs the target's consent.
	Required bool `json:"required"`
	// Active: the target's consent is in force now.
	Active bool `json:"active"`
	// Expires is when the consent lapses (or lapsed), in PocketBase's date
	// format; empty when the target never consented or withdrew it.
	Expires string `json:"expires"`
}

// LiveSession is the newest session live on a target.
type LiveSession struct {
	Id    string `json:"id"`
	Actor string `json:"actor"`
	// ActorName is the actor's name, or its email when it has none.
	ActorName string       `json:"actorName"`
	Mode      records.Mode `json:"mode"`
	Expires   string       `json:"expires"`
}

// List returns page q of the records of collection that actor may
// impersonate under pol (see policy.Targets), sorted by email, with their
// consent and live session at now. q must be valid (see Query).
//
// It returns ErrNoTargets when actor may impersonate no record there
// (which a superuser always may, even of an empty collection), and a
// *policy.Refusal for a disabled policy or a collection it does not cover.
func List(app core.App, pol *records.Policy, collection *core.Collection, actor *core.Record, q Query, now time.Time) (*Page, error) {
	query, resolver, err := policy.Targets(app, pol, collection, actor)
	var refusal *policy.Refusal
	switch {
	case errors.As(err, &refusal) && refusal.Code == policy.CodeRuleFailed:
		return nil, ErrNoTargets
	case err != nil:
		return nil, err
	}
	hidden, err := maskedFrom(pol, collection, actor)
	if err != nil {
		return nil, err
	}
	if q.Search != "" {
		query.AndWhere(searchExpr(collection, q.Search, hidden))
	}
	order := []search.SortField{{Name: core.FieldNameEmail, Direction: search.SortAsc}, {Name: core.FieldNameId, Direction: search.SortAsc}}
	if slices.Contains(hidden, core.FieldNameEmail) {
		order = order[1:] // the order would tell the masked emails apart
	}

	found := []*core.Record{}
	result, err := search.NewProvider(resolver).
		Query(query).
		CountCol("_rowid_").
		Page(q.Page).
		PerPage(q.PerPage).
		Sort(order).
		Exec(&found)
	if err != nil {
		return nil, fmt.Errorf("list the targets of %s: %w", collection.Name, err)
	}

	if result.TotalItems == 0 && !actor.IsSuperuser() {
		// nobody matched: the search, or the rule?
		some := false
		if q.Search != "" {
			if some, err = policy.HasTargets(app, pol, collection, actor); err != nil {
				return nil, err
			}
		}
		if !some {
			return nil, ErrNoTargets
		}
	}

	items, err := describe(app, pol, collection, actor, found, hidden, now)
	if err != nil {
		return nil, err
	}
	return &Page{
		Page:       result.Page,
		PerPage:    result.PerPage,
		TotalItems: result.TotalItems,
		TotalPages: result.TotalPages,
		Items:      items,
	}, nil
}

// searchParam is the name of the search text's placeholder.
const searchParam = "impersonationTargetsSearch"

// maskedFrom returns the fields of collection that pol masks from actor:
// the staff who are not superusers see the users they may impersonate as
// they would while impersonating them, and search them by those fields
// alone. An error means that pol's maskedFields cannot be read.
func maskedFrom(pol *records.Policy, collection *core.Collection, actor *core.Record) ([]string, error) {
	if actor.IsSuperuser() {
		return nil, nil
	}
	masked, err := pol.MaskedFields()
	if err != nil {
		return nil, fmt.Errorf("read the masked fields of %s: %w", pol.Collection(), err)
	}
	return masks.New(masked).Fields(collection.Name), nil
}

// searchExpr matches the records whose id, email or name contains text as
// plain text: LIKE's wildcards in it are escaped, and it is bound as a
// parameter, never parsed as a filter. A hidden field is not searched.
func searchExpr(c *core.Collection, text string, hidden []string) dbx.Expression {
	columns := []string{core.FieldNameId}
	if !slices.Contains(hidden, core.FieldNameEmail) {
		columns = append(columns, core.FieldNameEmail)
	}
	if f := c.Fields.GetByName(NameField); f != nil && f.Type() == core.FieldTypeText && !slices.Contains(hidden, NameField) {
		columns = append(columns, NameField)
	}
	escaped := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(text)
	parts := make([]string, len(columns))
	for i, col := range columns {
		parts[i] = fmt.Sprintf(`[[%s.%s]] LIKE {:%s} ESCAPE '\'`, c.Name, col, searchParam)
	}
	return dbx.NewExp("("+strings.Join(parts, " OR ")+")", dbx.Params{searchParam: "%" + escaped + "%"})
}

// describe returns the targets of rs with their consent and live session,
// their hidden fields left empty.
func describe(app core.App, pol *records.Policy, c *core.Collection, actor *core.Record, rs []*core.Record, hidden []string, now time.Time) ([]Target, error) {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.Id
	}
	consents, err := records.FindConsents(app, c.Id, ids)
	if err != nil {
		return nil, fmt.Errorf("find the consents of targets: %w", err)
	}
	live, err := liveSessions(app, c, ids, now)
	if err != nil {
		return nil, err
	}
	asked, err := requestsBy(app, actor, c, ids)
	if err != nil {
		return nil, err
	}

	hasName := c.Fields.GetByName(NameField) != nil && !slices.Contains(hidden, NameField)
	hasAvatar := c.Fields.GetByName(AvatarField) != nil && !slices.Contains(hidden, AvatarField)
	hasEmail := !slices.Contains(hidden, core.FieldNameEmail)
	items := make([]Target, len(rs))
	for i, r := range rs {
		t := Target{
			Id:             r.Id,
			CollectionId:   c.Id,
			CollectionName: c.Name,
			Consent:        Consent{Required: pol.Consent() == records.ConsentRequired},
			LiveSession:    live[r.Id],
			Request:        asked[r.Id],
		}
		if hasEmail {
			t.Email = r.Email()
		}
		if hasName {
			t.Name = r.GetString(NameField)
		}
		if hasAvatar {
			t.Avatar = r.GetString(AvatarField)
		}
		if consent := consents[r.Id]; consent != nil && !consent.Revoked() {
			t.Consent.Active = consent.LiveAt(now)
			t.Consent.Expires = dateString(consent.Expires())
		}
		items[i] = t
	}
	return items, nil
}

// liveSessions returns, by target id, the newest session live (not ended,
// not expired) at now on each of the records ids of c.
func liveSessions(app core.App, c *core.Collection, ids []string, now time.Time) (map[string]*LiveSession, error) {
	ss, err := records.FindLiveSessionsOn(app, c.Id, ids)
	if err != nil {
		return nil, fmt.Errorf("find the sessions live on targets: %w", err)
	}
	newest := map[string]*records.Session{}
	actorIds := map[string][]string{} // by actor collection id
	for _, s := range ss {
		if _, seen := newest[s.Target()]; seen || !now.Before(s.Expires()) {
			continue
		}
		newest[s.Target()] = s
		actorIds[s.ActorCollection()] = append(actorIds[s.ActorCollection()], s.Actor())
	}

	names := map[string]string{} // by actor collection id + "/" + actor id
	for collectionId, ids := range actorIds {
		actors, err := app.FindRecordsByIds(collectionId, ids)
		if err != nil {
			app.Logger().Error("impersonation: find the actors of live sessions", "error", err)
			continue
		}
		for _, a := range actors {
			names[collectionId+"/"+a.Id] = nameOf(a)
		}
	}

	out := make(map[string]*LiveSession, len(newest))
	for target, s := range newest {
		out[target] = &LiveSession{
			Id:        s.Id,
			Actor:     s.Actor(),
			ActorName: names[s.ActorCollection()+"/"+s.Actor()],
			Mode:      s.Mode(),
			Expires:   dateString(s.Expires()),
		}
	}
	return out, nil
}

// requestsBy returns, by target id, actor's newest request for access to
// each of the records ids of c.
func requestsBy(app core.App, actor *core.Record, c *core.Collection, ids []string) (map[string]*Request, error) {
	targets := make([]any, len(ids))
	for i, id := range ids {
		targets[i] = id
	}
	found, err := records.FindRequests(app, dbx.And(records.By(actor), dbx.HashExp{"targetCollection": c.Id, "target": targets}), 0)
	if err != nil {
		return nil, fmt.Errorf("find the requests of an actor: %w", err)
	}
	out := map[string]*Request{}
	for _, r := range found {
		if _, seen := out[r.Target()]; seen {
			continue
		}
		out[r.Target()] = &Request{
			Id: r.Id, Status: string(r.Status()), Expires: dateString(r.Expires()), Approved: r.GetDateTime("approved").String(),
			Minutes: r.Minutes(), Mode: r.Mode(),
		}
	}
	return out, nil
}

// nameOf returns r's name, or its email when it has none.
func nameOf(r *core.Record) string {
	if r.Collection().Fields.GetByName(NameField) != nil {
		if name := r.GetString(NameField); name != "" {
			return name
		}
	}
	return r.Email()
}

// dateString formats t as PocketBase formats dates in JSON; the zero time
// is "".
func dateString(t time.Time) string {
	d, _ := types.ParseDateTime(t)
	return d.String()
}

// SignInCollections returns, sorted, the names of the auth collections whose
// users can sign in with a password to act under a policy: every auth
// collection with password sign-in but _superusers, when an enabled policy
// has an impersonator rule (without one only superusers may act, and the
// list is empty). It depends on no caller and looks up no user, so a guest
// may read it: the support console shows it on its sign-in form. Which
// collection a rule admits is not worked out (a rule can admit anyone
// signed in), so a collection listed here may still have no one allowed.
func SignInCollections(app core.App) ([]string, error) {
	pols, err := records.FindEnabledPolicies(app)
	if err != nil {
		return nil, fmt.Errorf("list the enabled policies: %w", err)
	}
	out := []string{}
	if !slices.ContainsFunc(pols, func(p *records.Policy) bool { return strings.TrimSpace(p.ImpersonatorRule()) != "" }) {
		return out, nil
	}
	auths, err := app.FindAllCollections(core.CollectionTypeAuth)
	if err != nil {
		return nil, fmt.Errorf("list the auth collections: %w", err)
	}
	for _, c := range auths {
		if c.Name != core.CollectionNameSuperusers && c.PasswordAuth.Enabled {
			out = append(out, c.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}
