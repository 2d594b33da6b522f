// Package digest builds what a user is told once an impersonation session
// on them has ended: who acted, why, when, for how long and in which mode,
// how many requests reached each collection, and every write (method,
// path, status), read from the session's request entries in the audit.
//
// A digest holds no request body and no query string: a write's path is
// the URL path as the audit stored it (the query, which can carry secrets,
// is a separate field of the entry, and stays there). The caller builds a
// digest once every request entry of the session is in the audit table
// (see hooks: the guard's pending entries and audit.Log.Flush).
//
// Example usage:
//
//	d, err := digest.Build(app, session, time.Now())
//	session.SetDigest(d, time.Now())
package digest

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/limits"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// MaxWrites is the most writes a digest lists; the rest are counted in
// WritesLeftOut. A session's digest stays within its field's size cap
// (4 MB) with the longest paths the audit keeps.
const MaxWrites = 1000

// Digest is what happened in one ended session.
type Digest struct {
	Session string `json:"session"`
	// Actor is who acted; only its ids when the record no longer exists.
	Actor    Actor            `json:"actor"`
	Reason   string           `json:"reason"`
	Mode     records.Mode     `json:"mode"`
	Started  string           `json:"started"`
	Ended    string           `json:"ended"`
	EndCause records.EndCause `json:"endCause"`
	// Seconds is how long the session ran, from its start to its end or,
	// when it was ended after its expiry (by the expiry job), its expiry.
	Seconds int `json:"seconds"`
	// Requests counts every request made with the session's token.
	Requests int `json:"requests"`
	// Collections count the requests that named a collection (records,
	// auth and file routes), by the collection's name, most first.
	Collections []Count `json:"collections"`
	// OtherRequests count the rest (realtime, batch, custom routes...).
	OtherRequests int `json:"otherRequests"`
	// Writes are the requests with a method other than GET, HEAD or
	// OPTIONS, refused ones included, in the order answered.
	Writes []Write `json:"writes"`
	// WritesLeftOut counts the writes past MaxWrites.
	WritesLeftOut int `json:"writesLeftOut"`
}

// Actor names who acted in a session.
type Actor struct {
	Id             string `json:"id"`
	CollectionId   string `json:"collectionId"`
	CollectionName string `json:"collectionName,omitzero"`
	Email          string `json:"email,omitzero"`
	Name           string `json:"name,omitzero"`
}

// Count is the number of requests that named one collection.
type Count struct {
	Collection string `json:"collection"`
	Requests   int    `json:"requests"`
}

// Write is one write request: when it was answered, and how.
type Write struct {
	At     string `json:"at"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
}

// entry is the part of a request entry a digest reads.
type entry struct {
	Method  string `db:"method"`
	Path    string `db:"path"`
	Status  int    `db:"status"`
	Created string `db:"created"`
	Route   string `db:"route"`
}

// Build returns the digest of session s, which has ended, from its request
// entries in the audit table answered up to upTo.
func Build(app core.App, s *records.Session, upTo time.Time) (*Digest, error) {
	until, _ := types.ParseDateTime(upTo)
	var entries []entry
	err := app.DB().
		Select("method", "path", "status", "created", "json_extract([[data]], '$.route') AS route").
		From(records.AuditCollection).
		Where(dbx.HashExp{"session": s.Id, "event": "request"}).
		AndWhere(dbx.NewExp("[[created]] <= {:until}", dbx.Params{"until": until.String()})).
		OrderBy("created", "seq").
		All(&entries)
	if err != nil {
		return nil, err
	}

	started := s.GetDateTime("created").Time()
	d := &Digest{
		Session:     s.Id,
		Actor:       actorOf(app, s),
		Reason:      s.Reason(),
		Mode:        s.Mode(),
		Started:     s.GetDateTime("created").String(),
		Ended:       s.GetDateTime("ended").String(),
		EndCause:    s.EndCause(),
		Seconds:     max(0, int(earliest(s.Ended(), s.Expires()).Sub(started)/time.Second)),
		Requests:    len(entries),
		Collections: []Count{},
		Writes:      []Write{},
	}
	counts := map[string]int{}
	for _, e := range entries {
		if name := collectionOf(app, e.Route, e.Path); name != "" {
			counts[name]++
		} else {
			d.OtherRequests++
		}
		if limits.SafeMethod(e.Method) {
			continue
		}
		if len(d.Writes) == MaxWrites {
			d.WritesLeftOut++
			continue
		}
		d.Writes = append(d.Writes, Write{At: e.Created, Method: e.Method, Path: e.Path, Status: e.Status})
	}
	for name, n := range counts {
		d.Collections = append(d.Collections, Count{Collection: name, Requests: n})
	}
	// most requests first, then by name
	slices.SortFunc(d.Collections, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Collection, b.Collection))
	})
	return d, nil
}

// earliest returns the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// actorOf names the actor of s as it is now; only its ids once deleted.
func actorOf(app core.App, s *records.Session) Actor {
	a := Actor{Id: s.Actor(), CollectionId: s.ActorCollection()}
	r, err := app.FindRecordById(s.ActorCollection(), s.Actor())
	if err != nil {
		return a
	}
	a.CollectionName, a.Email, a.Name = r.Collection().Name, r.Email(), r.GetString("name")
	return a
}

// collectionSegment is the path segment of a route pattern that names a
// collection, in PocketBase's records, auth, collections and files routes.
const collectionSegment = "{collection}"

// collectionOf returns the name of the collection a request named, read
// from its route pattern ("GET /api/collections/{collection}/records") and
// its path; "" when the route names none. A collection named by id or in
// another letter case counts under its name; one that no longer exists (or
// never did) under the segment as the request spelled it.
func collectionOf(app core.App, route, path string) string {
	_, pattern, _ := strings.Cut(route, " ")
	at := -1
	for i, seg := range strings.Split(pattern, "/") {
		if seg == collectionSegment {
			at = i
			break
		}
	}
	segs := strings.Split(path, "/")
	if at < 0 || at >= len(segs) || segs[at] == "" {
		return ""
	}
	if c, err := app.FindCachedCollectionByNameOrId(segs[at]); err == nil {
		return c.Name
	}
	return segs[at]
}
