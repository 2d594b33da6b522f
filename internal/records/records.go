// Package records holds typed wrappers around the plugin's collections of
// policies, consents, sessions, requests, settings and sinks, and the names of all seven, so that no
// collection or field name is spelled out twice in the rest of the code
// (audit entries are written by package audit).
//
// Each wrapper embeds *core.Record, so it can be saved with app.Save and
// serialised like any record. Collection references (actorCollection,
// targetCollection, userCollection) hold collection ids, as tokens do; a
// policy names its collection by name, as an admin types it.
package records

import (
	"fmt"
	"slices"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Collection names.
const (
	PoliciesCollection = "impersonation_policies"
	ConsentsCollection = "impersonation_consents"
	SessionsCollection = "impersonation_sessions"
	AuditCollection    = "impersonation_audit"
	SettingsCollection = "impersonation_settings"
	SinksCollection    = "impersonation_sinks"
	RequestsCollection = "impersonation_requests"
)

// Names lists every collection of the plugin.
var Names = []string{
	PoliciesCollection, ConsentsCollection, SessionsCollection, AuditCollection, SettingsCollection, SinksCollection,
	RequestsCollection,
}

// Mode is what an impersonation session may do: read only, or read and write.
type Mode string

// Session modes.
const (
	ModeRead  Mode = "read"
	ModeWrite Mode = "write"
)

// ConsentRule says whether a policy needs the target's consent.
type ConsentRule string

// Consent rules of a policy.
const (
	ConsentRequired ConsentRule = "required"
	ConsentNone     ConsentRule = "none"
)

// EndCause says why a session ended.
type EndCause string

// Causes of a session's end.
const (
	EndStopped        EndCause = "stopped"
	EndExpired        EndCause = "expired"
	EndConsentRevoked EndCause = "consent_revoked"
	EndTargetDeleted  EndCause = "target_deleted"
	EndActorDeleted   EndCause = "actor_deleted"
	EndPolicyChanged  EndCause = "policy_changed"
	EndTokenRevoked   EndCause = "token_revoked"
	// EndActorTokenRevoked: the actor's tokenKey changed (a new password,
	// for one), which logs the actor out everywhere.
	EndActorTokenRevoked EndCause = "actor_token_revoked"
	// EndActorNotAllowed: a change to the actor's record made the policy's
	// impersonatorRule stop matching (a demotion, for one).
	EndActorNotAllowed EndCause = "actor_not_allowed"
	// EndTargetNotAllowed: a change to the target's record made the
	// policy's impersonatorRule stop matching.
	EndTargetNotAllowed EndCause = "target_not_allowed"
	// EndNoLongerAllowed: the impersonatorRule stopped matching for a
	// reason the plugin cannot pin on the actor, the target or the policy
	// (a rule that reads other records), seen on a request or by the sweep
	// of realtime clients.
	EndNoLongerAllowed EndCause = "no_longer_allowed"
	// EndConsentShortened: the target's new consent ends before the
	// session would: a session never outlives the consent it runs under.
	EndConsentShortened EndCause = "consent_shortened"
)

// EndCauses lists every cause, in the order of the sessions collection's
// endCause values.
var EndCauses = []EndCause{
	EndStopped, EndExpired, EndConsentRevoked, EndTargetDeleted, EndActorDeleted, EndPolicyChanged,
	EndTokenRevoked, EndActorTokenRevoked, EndActorNotAllowed, EndTargetNotAllowed, EndNoLongerAllowed,
	EndConsentShortened,
}

// newRecord makes a blank record of the named collection.
func newRecord(app core.App, name string) (*core.Record, error) {
	c, err := app.FindCachedCollectionByNameOrId(name)
	if err != nil {
		return nil, fmt.Errorf("find collection %s: %w", name, err)
	}
	return core.NewRecord(c), nil
}

// dateTime converts a time to PocketBase's date type.
func dateTime(t time.Time) types.DateTime {
	d, _ := types.ParseDateTime(t)
	return d
}

// ---------------------------------------------------------------------------

// Policy is a record of impersonation_policies: who may impersonate the
// records of one auth collection, and under which limits.
type Policy struct{ *core.Record }

// NewPolicy returns a blank policy record.
func NewPolicy(app core.App) (*Policy, error) {
	r, err := newRecord(app, PoliciesCollection)
	if err != nil {
		return nil, err
	}
	return &Policy{r}, nil
}

// FindPolicy returns the policy of the named auth collection.
func FindPolicy(app core.App, collectionName string) (*Policy, error) {
	r, err := app.FindFirstRecordByData(PoliciesCollection, "collection", collectionName)
	if err != nil {
		return nil, err
	}
	return &Policy{r}, nil
}

// FindEnabledPolicies returns the policies that are switched on.
func FindEnabledPolicies(app core.App) ([]*Policy, error) {
	rs, err := app.FindAllRecords(PoliciesCollection, dbx.HashExp{"enabled": true})
	if err != nil {
		return nil, err
	}
	pols := make([]*Policy, len(rs))
	for i, r := range rs {
		pols[i] = &Policy{r}
	}
	return pols, nil
}

// Collection returns the name of the auth collection the policy covers.
func (p *Policy) Collection() string { return p.GetString("collection") }

// SetCollection sets the name of the auth collection the policy covers.
func (p *Policy) SetCollection(name string) { p.Set("collection", name) }

// Enabled reports whether impersonation is switched on for the collection.
func (p *Policy) Enabled() bool { return p.GetBool("enabled") }

// SetEnabled switches impersonation on or off.
func (p *Policy) SetEnabled(v bool) { p.Set("enabled", v) }

// ImpersonatorRule returns the filter an actor must satisfy; empty means
// that only superusers may impersonate.
func (p *Policy) ImpersonatorRule() string { return p.GetString("impersonatorRule") }

// SetImpersonatorRule sets the filter an actor must satisfy.
func (p *Policy) SetImpersonatorRule(rule string) { p.Set("impersonatorRule", rule) }

// Consent returns whether the target's consent is needed.
func (p *Policy) Consent() ConsentRule { return ConsentRule(p.GetString("consent")) }

// SetConsent sets whether the target's consent is needed.
func (p *Policy) SetConsent(v ConsentRule) { p.Set("consent", string(v)) }

// ReasonRequired reports whether a reason must be given to start a session.
func (p *Policy) ReasonRequired() bool { return p.GetBool("reasonRequired") }

// SetReasonRequired sets whether a reason must be given.
func (p *Policy) SetReasonRequired(v bool) { p.Set("reasonRequired", v) }

// MaxMinutes returns the longest session the policy allows.
func (p *Policy) MaxMinutes() int { return p.GetInt("maxMinutes") }

// SetMaxMinutes sets the longest session the policy allows.
func (p *Policy) SetMaxMinutes(v int) { p.Set("maxMinutes", v) }

// Modes returns the session modes the policy allows.
func (p *Policy) Modes() []Mode {
	var modes []Mode
	for _, m := range p.GetStringSlice("modes") {
		modes = append(modes, Mode(m))
	}
	return modes
}

// SetModes sets the session modes the policy allows.
func (p *Policy) SetModes(modes []Mode) {
	values := make([]string, len(modes))
	for i, m := range modes {
		values[i] = string(m)
	}
	p.Set("modes", values)
}

// AllowsMode reports whether the policy allows sessions in mode m.
func (p *Policy) AllowsMode(m Mode) bool { return slices.Contains(p.Modes(), m) }

// DefaultMode is the mode of a session that asks for none: read when the
// policy allows it, otherwise the one mode it allows.
func (p *Policy) DefaultMode() Mode {
	if modes := p.Modes(); len(modes) > 0 && !p.AllowsMode(ModeRead) {
		return modes[0]
	}
	return ModeRead
}

// AttemptsPerMinute returns how many session starts one actor may attempt a minute.
func (p *Policy) AttemptsPerMinute() int { return p.GetInt("attemptsPerMinute") }

// SetAttemptsPerMinute sets how many session starts one actor may attempt a minute.
func (p *Policy) SetAttemptsPerMinute(v int) { p.Set("attemptsPerMinute", v) }

// ConsentMaxHours returns the longest consent a user may grant.
func (p *Policy) ConsentMaxHours() int { return p.GetInt("consentMaxHours") }

// SetConsentMaxHours sets the longest consent a user may grant.
func (p *Policy) SetConsentMaxHours(v int) { p.Set("consentMaxHours", v) }

// ShowLiveSessions reports whether users are told while a session on them
// is live.
func (p *Policy) ShowLiveSessions() bool { return p.GetBool("showLiveSessions") }

// SetShowLiveSessions sets whether users are told while a session on them
// is live.
func (p *Policy) SetShowLiveSessions(v bool) { p.Set("showLiveSessions", v) }

// NotifyTarget reports whether the user is emailed when a session on them
// starts.
func (p *Policy) NotifyTarget() bool { return p.GetBool("notifyTarget") }

// SetNotifyTarget sets whether the user is emailed when a session on them
// starts.
func (p *Policy) SetNotifyTarget(v bool) { p.Set("notifyTarget", v) }

// DigestEmail reports whether the user is emailed the digest of a session
// on them once it has ended (their page always shows it).
func (p *Policy) DigestEmail() bool { return p.GetBool("digestEmail") }

// SetDigestEmail sets whether the user is emailed the digest of a session
// on them once it has ended.
func (p *Policy) SetDigestEmail(v bool) { p.Set("digestEmail", v) }

// DeniedRoutes returns the route rules refused while impersonating, or an
// error when the field is not a JSON array of strings.
func (p *Policy) DeniedRoutes() ([]string, error) { return p.routes("deniedRoutes") }

// SetDeniedRoutes sets the route rules refused while impersonating.
func (p *Policy) SetDeniedRoutes(rules []string) { p.Set("deniedRoutes", rules) }

// AllowedRoutes returns the route rules a read-only session may call, or an
// error when the field is not a JSON array of strings.
func (p *Policy) AllowedRoutes() ([]string, error) { return p.routes("allowedRoutes") }

// SetAllowedRoutes sets the route rules a read-only session may call.
func (p *Policy) SetAllowedRoutes(rules []string) { p.Set("allowedRoutes", rules) }

// MaskedFields returns the fields hidden while impersonating under the
// policy, by collection name (nil for none), or an error when the field is
// not a JSON object of arrays of strings.
func (p *Policy) MaskedFields() (map[string][]string, error) {
	raw, _ := p.GetRaw("maskedFields").(types.JSONRaw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var masked map[string][]string
	if err := p.UnmarshalJSONField("maskedFields", &masked); err != nil {
		return nil, fmt.Errorf("maskedFields: want a JSON object of arrays of field names: %w", err)
	}
	return masked, nil
}

// SetMaskedFields sets the fields hidden while impersonating under the
// policy, by collection name.
func (p *Policy) SetMaskedFields(masked map[string][]string) { p.Set("maskedFields", masked) }

// RequestHours returns how long a request for access waits for its
// answer, in hours (24 when the field is 0).
func (p *Policy) RequestHours() int { return orDefault(p.GetInt("requestHours"), 24) }

// SetRequestHours sets how long a request for access waits, in hours.
func (p *Policy) SetRequestHours(v int) { p.Set("requestHours", v) }

// Approval returns whose answer approves a request (ApprovalUser when the
// field is empty).
func (p *Policy) Approval() Approval {
	if a := Approval(p.GetString("approval")); a != "" {
		return a
	}
	return ApprovalUser
}

// SetApproval sets whose answer approves a request.
func (p *Policy) SetApproval(a Approval) { p.Set("approval", string(a)) }

// ApproverRule returns the filter an approver must satisfy; empty means
// that only superusers approve.
func (p *Policy) ApproverRule() string { return p.GetString("approverRule") }

// SetApproverRule sets the filter an approver must satisfy.
func (p *Policy) SetApproverRule(rule string) { p.Set("approverRule", rule) }

// BreakGlass reports whether a session may start without consent in an
// emergency.
func (p *Policy) BreakGlass() bool { return p.GetBool("breakGlass") }

// SetBreakGlass allows or forbids break-glass starts.
func (p *Policy) SetBreakGlass(v bool) { p.Set("breakGlass", v) }

// AllowsBreakGlassMode reports whether a break-glass session may run in
// mode m: read, and write only when breakGlassModes lists it.
func (p *Policy) AllowsBreakGlassMode(m Mode) bool {
	modes := p.GetStringSlice("breakGlassModes")
	if len(modes) == 0 {
		return m == ModeRead
	}
	return slices.Contains(modes, string(m))
}

// SetBreakGlassModes sets the modes a break-glass session may run in.
func (p *Policy) SetBreakGlassModes(modes []Mode) {
	values := make([]string, len(modes))
	for i, m := range modes {
		values[i] = string(m)
	}
	p.Set("breakGlassModes", values)
}

// BreakGlassMinutes returns the longest break-glass session (15 when the
// field is 0).
func (p *Policy) BreakGlassMinutes() int { return orDefault(p.GetInt("breakGlassMinutes"), 15) }

// SetBreakGlassMinutes sets the longest break-glass session.
func (p *Policy) SetBreakGlassMinutes(v int) { p.Set("breakGlassMinutes", v) }

// OversightEmail returns who is emailed when a break-glass session
// starts (empty: no one but the user).
func (p *Policy) OversightEmail() string { return p.GetString("oversightEmail") }

// SetOversightEmail sets who is emailed when a break-glass session starts.
func (p *Policy) SetOversightEmail(v string) { p.Set("oversightEmail", v) }

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (p *Policy) routes(field string) ([]string, error) {
	raw, _ := p.GetRaw(field).(types.JSONRaw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var rules []string
	if err := p.UnmarshalJSONField(field, &rules); err != nil {
		return nil, fmt.Errorf("%s: want a JSON array of strings: %w", field, err)
	}
	return rules, nil
}

// ---------------------------------------------------------------------------

// Consent is a record of impersonation_consents: one per user, saying until
// when the user lets policy-approved staff act as them.
type Consent struct{ *core.Record }

// FindConsent returns the consent record of a user, live or not.
func FindConsent(app core.App, user *core.Record) (*Consent, error) {
	r := &core.Record{}
	err := app.RecordQuery(ConsentsCollection).
		AndWhere(dbx.HashExp{"user": user.Id, "userCollection": user.Collection().Id}).
		Limit(1).
		One(r)
	if err != nil {
		return nil, err
	}
	return &Consent{r}, nil
}

// FindOrNewConsent returns the user's consent record, or a blank one for them.
func FindOrNewConsent(app core.App, user *core.Record) (*Consent, error) {
	c, err := FindConsent(app, user)
	if err == nil {
		return c, nil
	}
	r, err := newRecord(app, ConsentsCollection)
	if err != nil {
		return nil, err
	}
	r.Set("user", user.Id)
	r.Set("userCollection", user.Collection().Id)
	return &Consent{r}, nil
}

// FindConsents returns the consent records, live or not, of the users with
// the given ids of the collection with id collectionId, by user id.
func FindConsents(app core.App, collectionId string, userIds []string) (map[string]*Consent, error) {
	out := make(map[string]*Consent, len(userIds))
	if len(userIds) == 0 {
		return out, nil
	}
	var rs []*core.Record
	err := app.RecordQuery(ConsentsCollection).
		AndWhere(dbx.HashExp{"userCollection": collectionId, "user": anySlice(userIds)}).
		All(&rs)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		c := &Consent{r}
		out[c.User()] = c
	}
	return out, nil
}

// User returns the id of the user who consents.
func (c *Consent) User() string { return c.GetString("user") }

// UserCollection returns the collection id of the user who consents.
func (c *Consent) UserCollection() string { return c.GetString("userCollection") }

// Expires returns when the consent lapses.
func (c *Consent) Expires() time.Time { return c.GetDateTime("expires").Time() }

// SetExpires sets when the consent lapses.
func (c *Consent) SetExpires(t time.Time) { c.Set("expires", dateTime(t)) }

// Revoked reports whether the user withdrew the consent.
func (c *Consent) Revoked() bool { return c.GetBool("revoked") }

// SetRevoked marks the consent withdrawn or not.
func (c *Consent) SetRevoked(v bool) { c.Set("revoked", v) }

// LiveAt reports whether the consent is in force at now.
func (c *Consent) LiveAt(now time.Time) bool {
	return c != nil && !c.Revoked() && now.Before(c.Expires())
}

// ---------------------------------------------------------------------------

// Session is a record of impersonation_sessions: one actor acting as one
// target until it expires or ends.
type Session struct{ *core.Record }

// NewSession returns a blank session of actor acting as target.
func NewSession(app core.App, actor, target *core.Record) (*Session, error) {
	r, err := newRecord(app, SessionsCollection)
	if err != nil {
		return nil, err
	}
	r.Set("actor", actor.Id)
	r.Set("actorCollection", actor.Collection().Id)
	r.Set("target", target.Id)
	r.Set("targetCollection", target.Collection().Id)
	return &Session{r}, nil
}

// FindSession returns the session with the given id.
func FindSession(app core.App, id string) (*Session, error) {
	r, err := app.FindRecordById(SessionsCollection, id)
	if err != nil {
		return nil, err
	}
	return &Session{r}, nil
}

// FindLiveSessions returns the sessions not yet ended that match the filter,
// oldest first.
func FindLiveSessions(app core.App, filter string, params dbx.Params) ([]*Session, error) {
	where := "ended = ''"
	if filter != "" {
		where += " && (" + filter + ")"
	}
	rs, err := app.FindRecordsByFilter(SessionsCollection, where, "created", 0, 0, params)
	if err != nil {
		return nil, err
	}
	return asSessions(rs), nil
}

// FindLiveSessionsOn returns the sessions not yet ended (expired or not)
// acting as the records with the given ids of the collection with id
// collectionId, newest first.
func FindLiveSessionsOn(app core.App, collectionId string, targetIds []string) ([]*Session, error) {
	if len(targetIds) == 0 {
		return nil, nil
	}
	var rs []*core.Record
	err := app.RecordQuery(SessionsCollection).
		AndWhere(dbx.HashExp{"ended": "", "targetCollection": collectionId, "target": anySlice(targetIds)}).
		OrderBy("created DESC", "rowid DESC").
		All(&rs)
	if err != nil {
		return nil, err
	}
	return asSessions(rs), nil
}

// anySlice converts ids for a dbx IN expression.
func anySlice(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// OnTargetFilter is the FindLiveSessions filter for the sessions acting as
// record (params "id" and "collection", see RecordParams).
const OnTargetFilter = "target = {:id} && targetCollection = {:collection}"

// ByActorFilter is the FindLiveSessions filter for the sessions started by
// record (params from RecordParams).
const ByActorFilter = "actor = {:id} && actorCollection = {:collection}"

// RecordParams returns the filter params naming a record by id and collection id.
func RecordParams(r *core.Record) dbx.Params {
	return dbx.Params{"id": r.Id, "collection": r.Collection().Id}
}

// Actor returns the id of the record acting.
func (s *Session) Actor() string { return s.GetString("actor") }

// ActorCollection returns the collection id of the record acting.
func (s *Session) ActorCollection() string { return s.GetString("actorCollection") }

// Target returns the id of the record acted as.
func (s *Session) Target() string { return s.GetString("target") }

// TargetCollection returns the collection id of the record acted as.
func (s *Session) TargetCollection() string { return s.GetString("targetCollection") }

// Reason returns why the session was started.
func (s *Session) Reason() string { return s.GetString("reason") }

// SetReason sets why the session was started.
func (s *Session) SetReason(v string) { s.Set("reason", v) }

// Mode returns what the session may do.
func (s *Session) Mode() Mode { return Mode(s.GetString("mode")) }

// SetMode sets what the session may do.
func (s *Session) SetMode(m Mode) { s.Set("mode", string(m)) }

// Expires returns when the session lapses.
func (s *Session) Expires() time.Time { return s.GetDateTime("expires").Time() }

// SetExpires sets when the session lapses.
func (s *Session) SetExpires(t time.Time) { s.Set("expires", dateTime(t)) }

// Ended returns when the session ended; zero while it is live.
func (s *Session) Ended() time.Time { return s.GetDateTime("ended").Time() }

// EndCause returns why the session ended; empty while it is live.
func (s *Session) EndCause() EndCause { return EndCause(s.GetString("endCause")) }

// SetEnded records the end of the session.
func (s *Session) SetEnded(at time.Time, cause EndCause) {
	s.Set("ended", dateTime(at))
	s.Set("endCause", string(cause))
}

// SetClient records the IP address and user agent that started the session.
func (s *Session) SetClient(ip, userAgent string) {
	s.Set("ip", ip)
	s.Set("userAgent", userAgent)
}

// SetNotified records that the user was emailed about the session, or why
// the email could not be sent (err not nil).
func (s *Session) SetNotified(at time.Time, err error) {
	if err != nil {
		s.Set("notifyError", errorText(err))
		return
	}
	s.Set("notified", dateTime(at))
	s.Set("notifyError", "")
}

// Request returns the id of the approved request the session started on
// (empty: it did not).
func (s *Session) Request() string { return s.GetString("request") }

// SetRequest records the approved request the session starts on.
func (s *Session) SetRequest(id string) { s.Set("request", id) }

// BreakGlass reports whether the session started without consent, in an
// emergency.
func (s *Session) BreakGlass() bool { return s.GetBool("breakGlass") }

// SetBreakGlass marks the session as started in an emergency.
func (s *Session) SetBreakGlass(v bool) { s.Set("breakGlass", v) }

// IsEnded reports whether the session has been ended.
func (s *Session) IsEnded() bool { return !s.GetDateTime("ended").IsZero() }

// IsDigested reports whether the session's digest has been built (or, for
// a session that ended before digests existed, will never be).
func (s *Session) IsDigested() bool { return !s.GetDateTime("digested").IsZero() }

// SetDigest records the session's digest, v, built at at.
func (s *Session) SetDigest(v any, at time.Time) {
	s.Set("digest", v)
	s.Set("digested", dateTime(at))
}

// SetDigestEmailed records that the user was emailed the session's digest,
// or why the email could not be sent (err not nil).
func (s *Session) SetDigestEmailed(at time.Time, err error) {
	if err != nil {
		s.Set("digestEmailError", errorText(err))
		return
	}
	s.Set("digestEmailed", dateTime(at))
	s.Set("digestEmailError", "")
}

// errorText is err's message cut to the 1000 characters a session's mail
// error field holds.
func errorText(err error) string {
	msg := []rune(err.Error())
	return string(msg[:min(len(msg), 1000)])
}

// FindUndigested returns up to limit ended sessions whose digest has not
// been built, the earliest ended first.
func FindUndigested(app core.App, limit int) ([]*Session, error) {
	var rs []*core.Record
	err := app.RecordQuery(SessionsCollection).
		AndWhere(dbx.HashExp{"digested": ""}).
		AndWhere(dbx.Not(dbx.HashExp{"ended": ""})).
		OrderBy("ended", "id").
		Limit(int64(limit)).
		All(&rs)
	if err != nil {
		return nil, err
	}
	return asSessions(rs), nil
}

// asSessions wraps records of the sessions collection.
func asSessions(rs []*core.Record) []*Session {
	out := make([]*Session, len(rs))
	for i, r := range rs {
		out[i] = &Session{r}
	}
	return out
}

// ---------------------------------------------------------------------------

// The wrappers are core.RecordProxy values, so app.Save runs the record
// pipeline (id generation, validation, record hooks) on them.
var (
	_ core.RecordProxy = (*Policy)(nil)
	_ core.RecordProxy = (*Consent)(nil)
	_ core.RecordProxy = (*Session)(nil)
)

// ProxyRecord returns the proxied record.
func (p *Policy) ProxyRecord() *core.Record { return p.Record }

// SetProxyRecord loads record into the proxy.
func (p *Policy) SetProxyRecord(record *core.Record) { p.Record = record }

// ProxyRecord returns the proxied record.
func (c *Consent) ProxyRecord() *core.Record { return c.Record }

// SetProxyRecord loads record into the proxy.
func (c *Consent) SetProxyRecord(record *core.Record) { c.Record = record }

// ProxyRecord returns the proxied record.
func (s *Session) ProxyRecord() *core.Record { return s.Record }

// SetProxyRecord loads record into the proxy.
func (s *Session) SetProxyRecord(record *core.Record) { s.Record = record }
