// Package audit writes entries to the impersonation_audit collection and
// verifies them.
//
// Entries are append-only: the plugin only ever inserts them, and its request
// hooks refuse every API create, update or delete, superusers included. They
// form a keyed hash chain (see chainVersion), so an entry changed, deleted,
// inserted or reordered by any other means is found by Verify. An entry is
// written with the app (or transaction) it is given, so callers put an entry
// in the same transaction as the change it records. Entries are inserted
// directly, without PocketBase's record hooks.
package audit

import (
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Event names.
const (
	ConsentGranted = "consent.granted"
	ConsentRevoked = "consent.revoked"
	SessionStarted = "session.started"
	SessionDenied  = "session.denied"
	SessionEnded   = "session.ended"
	// SessionThrottled counts start attempts refused over the attempt
	// limit (data.count), which get no entry of their own.
	SessionThrottled = "session.throttled"
	// Request is a request made with an impersonation token.
	Request = "request"
	// PolicyCreated, PolicyUpdated and PolicyDeleted record a change of an
	// impersonation policy (data: the collection, the policy before and
	// after).
	PolicyCreated = "policy.created"
	PolicyUpdated = "policy.updated"
	PolicyDeleted = "policy.deleted"
	// SettingsCreated, SettingsUpdated and SettingsDeleted record a change
	// of the settings record (data: the values in force before and after,
	// and "weakened", the ways it weakens the evidence, when it does).
	SettingsCreated = "settings.created"
	SettingsUpdated = "settings.updated"
	SettingsDeleted = "settings.deleted"
	// SinkCreated, SinkUpdated and SinkDeleted record a change of an
	// audit sink (data: the sink before and after, without its secret).
	SinkCreated = "sink.created"
	SinkUpdated = "sink.updated"
	SinkDeleted = "sink.deleted"
	// CollectionRulesChanged records a change of a collection's API rules
	// (data: the collection, its rules before and after; nil: none).
	CollectionRulesChanged = "collection.rules_changed"
	// RequestCreated, RequestApproved, RequestDeclined, RequestExpired and
	// RequestWithdrawn record a request for access: asked, approved (in
	// full, or data.awaiting the other answer of a two-person approval),
	// declined, lapsed unanswered (or unused), withdrawn once approved.
	RequestCreated   = "request.created"
	RequestApproved  = "request.approved"
	RequestDeclined  = "request.declined"
	RequestExpired   = "request.expired"
	RequestWithdrawn = "request.withdrawn"
)

// Client is the HTTP side of an entry: who called, what, and the status
// the request is answered with (0 outside a request).
type Client struct {
	IP        string
	UserAgent string
	Method    string
	// Path is the request's path, escaped (URL.EscapedPath: a "%3F" in a
	// segment is not a query). Its JWT-shaped segments are redacted when
	// the entry is written (redact.Path).
	Path   string
	Status int
}

// ClientOf returns the Client of a request answered with status.
func ClientOf(e *core.RequestEvent, status int) Client {
	return Client{
		IP:        e.RealIP(),
		UserAgent: e.Request.UserAgent(),
		Method:    e.Request.Method,
		Path:      e.Request.URL.EscapedPath(),
		Status:    status,
	}
}

// Entry is one audit entry before it is written.
type Entry struct {
	Event            string
	Actor            string
	ActorCollection  string
	Target           string
	TargetCollection string
	Session          string
	Reason           string
	Client           Client
	Data             map[string]any
	// Created stamps the entry; zero means when it is written. A request's
	// entry is dated when the request was answered (the instant its
	// durationMs is measured to); bulk loads set it too (an audit imported
	// from another store, the bench command's scale data).
	Created types.DateTime
}

// ForSession returns an entry of event about session s. Its Data holds
// breakGlass: true for a break-glass session, so that every entry of one
// is flagged (the audit's filter data.breakGlass = true lists them): add
// to it, never replace it.
func ForSession(event string, s *records.Session) Entry {
	data := map[string]any{}
	if s.BreakGlass() {
		data["breakGlass"] = true
	}
	return Entry{
		Data:             data,
		Event:            event,
		Actor:            s.Actor(),
		ActorCollection:  s.ActorCollection(),
		Target:           s.Target(),
		TargetCollection: s.TargetCollection(),
		Session:          s.Id,
		Reason:           s.Reason(),
	}
}

// ForUser returns an entry of event about user, with no actor (the user
// acted on their own account).
func ForUser(event string, user *core.Record) Entry {
	return Entry{
		Event:            event,
		Target:           user.Id,
		TargetCollection: user.Collection().Id,
	}
}

// Write appends entry e to the chain with app, l's app or a transaction of
// it: the entry then commits or rolls back with the change it records.
func (l *Log) Write(app core.App, e Entry) error {
	return l.Append(app, []Entry{e})
}

// cut shortens s to at most n runes, so that an over-long value from a
// client (a header, a record id in a refused start) never makes an audit
// write fail validation.
func cut(s string, n int) string {
	runes := []rune(s)
	if len(runes) <= n {
		return s
	}
	return string(runes[:n])
}
