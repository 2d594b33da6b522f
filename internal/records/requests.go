package records

import (
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Approval says whose answer approves a request for access.
type Approval string

// Approvals of a policy.
const (
	// ApprovalUser: the user's answer (the default).
	ApprovalUser Approval = "user"
	// ApprovalApprover: the answer of an approver (the policy's approverRule).
	ApprovalApprover Approval = "approver"
	// ApprovalBoth: the user's and an approver's, two people (four eyes).
	ApprovalBoth Approval = "both"
)

// RequestStatus is where a request for access stands.
type RequestStatus string

// Statuses of a request.
const (
	RequestPending   RequestStatus = "pending"
	RequestApproved  RequestStatus = "approved"
	RequestDeclined  RequestStatus = "declined"
	RequestExpired   RequestStatus = "expired"
	RequestUsed      RequestStatus = "used"
	RequestWithdrawn RequestStatus = "withdrawn"
)

// ClaimWindow is how long after its approval a request may start its one
// session.
const ClaimWindow = time.Hour

// Request is a record of impersonation_requests: an actor asking to act as
// a user, for some minutes in a mode, and the answers it got.
type Request struct{ *core.Record }

var _ core.RecordProxy = (*Request)(nil)

// ProxyRecord returns the proxied record.
func (r *Request) ProxyRecord() *core.Record { return r.Record }

// SetProxyRecord loads record into the proxy.
func (r *Request) SetProxyRecord(record *core.Record) { r.Record = record }

// NewRequest returns a blank, pending request of actor to act as target.
func NewRequest(app core.App, actor, target *core.Record) (*Request, error) {
	rec, err := newRecord(app, RequestsCollection)
	if err != nil {
		return nil, err
	}
	rec.Set("actor", actor.Id)
	rec.Set("actorCollection", actor.Collection().Id)
	rec.Set("target", target.Id)
	rec.Set("targetCollection", target.Collection().Id)
	rec.Set("status", string(RequestPending))
	return &Request{rec}, nil
}

// FindRequest returns the request with the given id.
func FindRequest(app core.App, id string) (*Request, error) {
	rec, err := app.FindRecordById(RequestsCollection, id)
	if err != nil {
		return nil, err
	}
	return &Request{rec}, nil
}

// FindRequests returns the requests that match where, newest first, at
// most limit of them (0: all).
func FindRequests(app core.App, where dbx.Expression, limit int) ([]*Request, error) {
	var rs []*core.Record
	q := app.RecordQuery(RequestsCollection).AndWhere(where).OrderBy("created DESC", "rowid DESC")
	if limit > 0 {
		q.Limit(int64(limit))
	}
	err := q.All(&rs)
	if err != nil {
		return nil, err
	}
	out := make([]*Request, len(rs))
	for i, rec := range rs {
		out[i] = &Request{rec}
	}
	return out, nil
}

// Between is the expression of the requests of actor to act as target.
func Between(actor, target *core.Record) dbx.Expression {
	return dbx.HashExp{
		"actor": actor.Id, "actorCollection": actor.Collection().Id,
		"target": target.Id, "targetCollection": target.Collection().Id,
	}
}

// On is the expression of the requests to act as user.
func On(user *core.Record) dbx.Expression {
	return dbx.HashExp{"target": user.Id, "targetCollection": user.Collection().Id}
}

// By is the expression of the requests actor made.
func By(actor *core.Record) dbx.Expression {
	return dbx.HashExp{"actor": actor.Id, "actorCollection": actor.Collection().Id}
}

// InStatus is the expression of the requests in one of statuses.
func InStatus(statuses ...RequestStatus) dbx.Expression {
	values := make([]any, len(statuses))
	for i, s := range statuses {
		values[i] = string(s)
	}
	return dbx.In("status", values...)
}

// Actor returns the id of the record that asked.
func (r *Request) Actor() string { return r.GetString("actor") }

// ActorCollection returns the collection id of the record that asked.
func (r *Request) ActorCollection() string { return r.GetString("actorCollection") }

// Target returns the id of the user asked about.
func (r *Request) Target() string { return r.GetString("target") }

// TargetCollection returns the collection id of the user asked about.
func (r *Request) TargetCollection() string { return r.GetString("targetCollection") }

// Reason returns why the actor asked.
func (r *Request) Reason() string { return r.GetString("reason") }

// SetReason sets why the actor asks.
func (r *Request) SetReason(v string) { r.Set("reason", v) }

// Minutes returns the longest session the request allows.
func (r *Request) Minutes() int { return r.GetInt("minutes") }

// SetMinutes sets the longest session the request allows.
func (r *Request) SetMinutes(v int) { r.Set("minutes", v) }

// Mode returns the widest mode the request allows.
func (r *Request) Mode() Mode { return Mode(r.GetString("mode")) }

// SetMode sets the widest mode the request allows.
func (r *Request) SetMode(m Mode) { r.Set("mode", string(m)) }

// Status returns where the request stands.
func (r *Request) Status() RequestStatus { return RequestStatus(r.GetString("status")) }

// SetStatus sets where the request stands.
func (r *Request) SetStatus(s RequestStatus) { r.Set("status", string(s)) }

// Expires returns when a pending request lapses unanswered.
func (r *Request) Expires() time.Time { return r.GetDateTime("expires").Time() }

// SetExpires sets when a pending request lapses unanswered.
func (r *Request) SetExpires(t time.Time) { r.Set("expires", dateTime(t)) }

// UserAnswered returns when the user approved (zero: not yet).
func (r *Request) UserAnswered() time.Time { return r.GetDateTime("userAnswered").Time() }

// SetUserAnswered records when the user answered.
func (r *Request) SetUserAnswered(t time.Time) { r.Set("userAnswered", dateTime(t)) }

// Approver returns the id and collection id of the approver who answered
// (empty: none yet).
func (r *Request) Approver() (id, collectionId string) {
	return r.GetString("approver"), r.GetString("approverCollection")
}

// ApproverAnswered returns when an approver approved (zero: not yet).
func (r *Request) ApproverAnswered() time.Time { return r.GetDateTime("approverAnswered").Time() }

// SetApprover records that approver answered at t.
func (r *Request) SetApprover(approver *core.Record, t time.Time) {
	r.Set("approver", approver.Id)
	r.Set("approverCollection", approver.Collection().Id)
	r.Set("approverAnswered", dateTime(t))
}

// Approved returns when the request was approved (zero: it was not).
func (r *Request) Approved() time.Time { return r.GetDateTime("approved").Time() }

// SetApproved records when the request was approved.
func (r *Request) SetApproved(t time.Time) { r.Set("approved", dateTime(t)) }

// Session returns the id of the session started on the request (empty:
// none).
func (r *Request) Session() string { return r.GetString("session") }

// SetSession records the session started on the request.
func (r *Request) SetSession(id string) { r.Set("session", id) }

// Asks reports whether the request is actor's to act as target.
func (r *Request) Asks(actor, target *core.Record) bool {
	return actor != nil && target != nil &&
		r.Actor() == actor.Id && r.ActorCollection() == actor.Collection().Id &&
		r.Target() == target.Id && r.TargetCollection() == target.Collection().Id
}

// Grants reports whether the request lets actor act as target in mode m:
// it is approved (or used by the session it started), asked by actor about
// target, and m is no wider than the approved mode. A nil request grants
// nothing.
func (r *Request) Grants(actor, target *core.Record, m Mode) bool {
	if r == nil || !r.Asks(actor, target) {
		return false
	}
	if s := r.Status(); s != RequestApproved && s != RequestUsed {
		return false
	}
	return m == ModeRead || r.Mode() == ModeWrite
}

// ClaimableAt reports whether the approved request may still start its one
// session at now: approved, unused, within ClaimWindow of its approval.
func (r *Request) ClaimableAt(now time.Time) bool {
	return r != nil && r.Status() == RequestApproved && now.Before(r.Approved().Add(ClaimWindow))
}

// PendingAt reports whether the request still waits for its answer at now.
func (r *Request) PendingAt(now time.Time) bool {
	return r != nil && r.Status() == RequestPending && now.Before(r.Expires())
}
