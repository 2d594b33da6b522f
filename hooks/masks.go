package hooks

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/masks"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// The masked fields of the policy an impersonation runs under (see package
// masks) are hidden from every record PocketBase serves while
// impersonating: OnRecordEnrich, which PocketBase runs for each record of a
// view, a list, an expand at any depth, a batch and an auth response, and
// the realtime events to the clients an impersonation token subscribed.
// The guard refuses what would read them another way (a filter, sort or
// expand; an API rule the request steers) or write them, in a request, a
// batch sub-request and a realtime subscription; the download of a masked
// file field's files is refused. The masks are read at use time from the
// policy the cache holds, so a change applies from the next request.

// masksOfSession returns the masks in force for the session with id sid:
// those of the policy of its target's collection now.
func (p *handlers) masksOfSession(app core.App, sid string) (masks.Masks, error) {
	s, err := p.cache.Session(sid)
	if err != nil {
		return masks.Masks{}, err
	}
	c, err := app.FindCachedCollectionByNameOrId(s.TargetCollection())
	if err != nil {
		return masks.Masks{}, err
	}
	pol, err := p.cache.Policy(c.Name)
	if err != nil {
		return masks.Masks{}, err
	}
	return p.cache.Masks(pol)
}

// hideMasked hides the masked fields of a record served while
// impersonating, which PocketBase's requests tell by the session header the
// guard sets (their RequestInfo, and the copies PocketBase makes of it for
// an expand, a batch sub-request or an auth response). A record whose
// masks cannot be read is not served.
func (p *handlers) hideMasked(e *core.RecordEnrichEvent) error {
	if e.RequestInfo == nil || e.RequestInfo.Headers[sessionHeaderKey] == "" {
		return e.Next()
	}
	m, err := p.masksOfSession(e.App, e.RequestInfo.Headers[sessionHeaderKey])
	if err != nil {
		return err
	}
	if fields := m.Fields(e.Record.Collection().Name); len(fields) > 0 {
		e.Record.Hide(fields...)
	}
	return e.Next()
}

// refuseMaskedFile refuses, while impersonating, the download of a file of
// a masked file field (thumbs included).
func (p *handlers) refuseMaskedFile(e *core.FileDownloadRequestEvent) error {
	current := sessions.FromRequest(e.RequestEvent)
	if current == nil {
		return e.Next()
	}
	m, err := p.cache.Masks(current.Policy)
	if err != nil {
		return refuse(http.StatusForbidden, refusals.CodeDenied, err)
	}
	if slices.Contains(m.Fields(e.Collection.Name), e.FileField.Name) {
		return refuseWith(http.StatusForbidden, refusals.CodeMaskedFile, map[string]any{"field": e.FileField.Name}, nil)
	}
	return e.Next()
}

// maskedCall is what the masks check of a request, a batch sub-request or
// a realtime subscription: the collection it names (nil for none), the API
// rules of that collection that PocketBase evaluates with the request's
// data, the request's query (its filter, sort and expand) and the names of
// the body fields it writes.
type maskedCall struct {
	collection *core.Collection
	rules      []string
	query      map[string]string
	fields     []string
}

// limitMasks refuses a request made while impersonating that reads a
// masked field otherwise than in a record served (its filter, sort or
// expand; an API rule it steers) or that writes one. A policy whose masks
// cannot be read refuses everything.
func (p *handlers) limitMasks(e *core.RequestEvent, current *sessions.Current) error {
	m, err := p.cache.Masks(current.Policy)
	if err != nil {
		return refuse(http.StatusForbidden, refusals.CodeDenied, err)
	}
	if m.Empty() {
		return nil
	}
	call, err := maskedCallOf(e)
	if err != nil {
		return refuseBody(err)
	}
	return maskedError(checkMasked(e.App, m, call))
}

// maskedCallOf describes the request of e for the masks. The body is read
// for a write to a collection's records: its fields as PocketBase binds
// them (JSON, forms, @jsonPayload), and its files.
func maskedCallOf(e *core.RequestEvent) (maskedCall, error) {
	q := e.Request.URL.Query()
	call := maskedCall{query: map[string]string{"filter": q.Get("filter"), "sort": q.Get("sort"), "expand": q.Get("expand")}}
	c, err := e.App.FindCachedCollectionByNameOrId(e.Request.PathValue("collection"))
	if err != nil {
		return call, nil // no collection: PocketBase answers 404
	}
	call.collection = c
	method, pattern := e.Request.Method, e.Request.Pattern
	// Go's router serves HEAD with the GET route: its pattern says GET
	routed := method
	if method == http.MethodHead {
		routed = http.MethodGet
	}
	switch {
	case pattern == fileDownloadPattern:
		call.rules = []string{"viewRule"}
	case strings.HasSuffix(pattern, "/{collection}/auth-refresh"):
		call.rules = []string{"authRule"}
	case strings.HasPrefix(pattern, routed+" /api/collections/{collection}/records"):
		call.rules = rulesFor(c, method, e.Request.PathValue("id") != "")
		if !writes(method) {
			break
		}
		info, err := e.RequestInfo()
		if err != nil {
			return call, err
		}
		for field := range info.Body {
			call.fields = append(call.fields, field)
		}
		if form := e.Request.MultipartForm; form != nil {
			for field := range form.File {
				call.fields = append(call.fields, field)
			}
		}
	}
	return call, nil
}

// writes reports whether a records API method writes a record.
func writes(method string) bool {
	return method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut
}

// batchRecordsPath matches the path of a batch sub-request and names its
// collection and record.
var batchRecordsPath = regexp.MustCompile(`^/api/collections/([^/?]+)/records(?:/([^/?]+))?$`)

// limitMaskedBatch applies limitMasks to one request of a batch made while
// impersonating, whose body fields (with its URL's query, as PocketBase
// binds them) are fields.
func (p *handlers) limitMaskedBatch(app core.App, current *sessions.Current, method, path string, query url.Values, fields []string) error {
	m, err := p.cache.Masks(current.Policy)
	if err != nil {
		return refuse(http.StatusForbidden, refusals.CodeDenied, err)
	}
	if m.Empty() {
		return nil
	}
	call := maskedCall{query: map[string]string{"filter": query.Get("filter"), "sort": query.Get("sort"), "expand": query.Get("expand")}}
	if match := batchRecordsPath.FindStringSubmatch(path); match != nil {
		if c, err := app.FindCachedCollectionByNameOrId(match[1]); err == nil {
			method = strings.ToUpper(method)
			call.collection, call.rules = c, rulesFor(c, method, match[2] != "")
			if writes(method) {
				call.fields = fields
			}
		}
	}
	return maskedError(checkMasked(app, m, call))
}

// limitMaskedSubscriptions applies limitMasks to the record topics a client
// subscribes to with an impersonation token: their options' filter and
// sort, and the list or view rule their events are checked with, which
// PocketBase evaluates with the options' query and headers (the client's).
func (p *handlers) limitMaskedSubscriptions(e *core.RealtimeSubscribeRequestEvent, current *sessions.Current) error {
	m, err := p.cache.Masks(current.Policy)
	if err != nil {
		return refuse(http.StatusForbidden, refusals.CodeDenied, err)
	}
	for _, sub := range e.Subscriptions {
		if err := maskedError(checkSubscription(e.App, m, sub)); err != nil {
			return err
		}
	}
	return nil
}

// checkSubscription checks one realtime subscription ("posts/*?options=...")
// against the masks m.
func checkSubscription(app core.App, m masks.Masks, sub string) error {
	if m.Empty() {
		return nil
	}
	name, id, ok := recordTopic(sub)
	if !ok {
		return nil
	}
	c, err := app.FindCachedCollectionByNameOrId(name)
	if err != nil {
		return nil // a custom topic
	}
	return checkMasked(app, m, maskedCall{collection: c, rules: rulesFor(c, http.MethodGet, id != ""), query: optionsOf(sub).Query})
}

// maskEvent hides the masked fields of collection from a record event on
// its way to a realtime client subscribed with the token of session sid,
// and reports whether the event may go on: not when the masks cannot be
// read, nor when the subscription's options read a masked field (a policy
// changed since the client subscribed).
func (p *handlers) maskEvent(e *core.RealtimeMessageEvent, sid string, collection *core.Collection) bool {
	m, err := p.masksOfSession(e.App, sid)
	if err != nil || checkSubscription(e.App, m, e.Message.Name) != nil {
		return false
	}
	fields := m.Fields(collection.Name)
	if len(fields) == 0 {
		return true
	}
	data, err := withoutFields(e.Message.Data, fields)
	if err != nil {
		return false
	}
	e.Message.Data = data
	return true
}

// withoutFields returns the data of a record event ({"action", "record"})
// with the record's fields named fields left out, every other value as
// sent.
func withoutFields(data []byte, fields []string) ([]byte, error) {
	var event map[string]json.RawMessage
	if err := json.Unmarshal(data, &event); err != nil {
		return nil, err
	}
	var record map[string]json.RawMessage
	if err := json.Unmarshal(event["record"], &record); err != nil {
		return nil, err
	}
	for _, f := range fields {
		delete(record, f)
	}
	raw, err := json.Marshal(record)
	if err != nil {
		return nil, err
	}
	event["record"] = raw
	return json.Marshal(event)
}

// checkMasked returns a *masks.Error when call reads a masked field
// through its query, writes one, or makes PocketBase evaluate an API rule
// that compares one with data the caller sends: the call's own rules, the
// view rules of the collections its expand reaches, and the list rules of
// those its filter and sort read (PocketBase applies them to each joined
// collection).
func checkMasked(app core.App, m masks.Masks, call maskedCall) error {
	filter, sort, expand := call.query["filter"], call.query["sort"], call.query["expand"]
	if err := m.QueryReads(filter, sort, expand); err != nil {
		return err
	}
	if call.collection == nil {
		return nil
	}
	if field, ok := m.Written(call.collection.Name, call.fields); ok {
		return &masks.Error{Err: masks.ErrWrite, Field: field, Where: "body"}
	}
	type ruleOf struct {
		collection *core.Collection
		rule       string
	}
	var rules []ruleOf
	for _, rule := range call.rules {
		rules = append(rules, ruleOf{call.collection, rule})
	}
	for _, name := range expandedCollections(app, call.collection.Name, expand) {
		if c, err := app.FindCachedCollectionByNameOrId(name); err == nil {
			for _, rule := range rulesFor(c, http.MethodGet, true) {
				rules = append(rules, ruleOf{c, rule})
			}
		}
	}
	read := fieldPaths(filter) + "," + fieldPaths(sort)
	joined := expandedCollections(app, call.collection.Name, read)
	for _, ref := range collectionRef.FindAllStringSubmatch(filter+" "+sort, -1) {
		joined = append(joined, ref[1])
	}
	for _, name := range joined {
		if c, err := app.FindCachedCollectionByNameOrId(name); err == nil {
			rules = append(rules, ruleOf{c, "listRule"})
		}
	}
	for _, r := range rules {
		// a create rule's own fields are the values the caller sends
		if field, ok := m.RuleSteered(ruleText(r.collection, r.rule), sessionHeaderKey, r.rule == "createRule"); ok {
			return &masks.Error{Err: masks.ErrRule, Field: field, Where: r.collection.Name + "." + r.rule}
		}
	}
	return nil
}

// rulesFor returns the names of the API rules of c that PocketBase
// evaluates with the data of a records API request: the list or view rule
// of a read (one: of a record), the create, update or delete rule of a
// write with the view rule of the record it answers with, and the manage
// rule of any request to an auth collection's records (PocketBase
// evaluates it on reads too, to decide whether each record's email is
// shown). PUT is a batch upsert.
func rulesFor(c *core.Collection, method string, one bool) []string {
	var rules []string
	switch method {
	case http.MethodGet, http.MethodHead:
		rules = []string{"listRule"}
		if one {
			rules = []string{"viewRule"}
		}
	case http.MethodPost:
		rules = []string{"createRule", "viewRule"}
	case http.MethodPatch:
		rules = []string{"updateRule", "viewRule"}
	case http.MethodPut:
		rules = []string{"createRule", "updateRule", "viewRule"}
	case http.MethodDelete:
		rules = []string{"deleteRule"}
	}
	if c.IsAuth() && len(rules) > 0 {
		rules = append(rules, "manageRule")
	}
	return rules
}

// ruleText returns c's API rule of that name ("" for none, or superusers
// only).
func ruleText(c *core.Collection, name string) string {
	var rule *string
	switch name {
	case "listRule":
		rule = c.ListRule
	case "viewRule":
		rule = c.ViewRule
	case "createRule":
		rule = c.CreateRule
	case "updateRule":
		rule = c.UpdateRule
	case "deleteRule":
		rule = c.DeleteRule
	case "authRule":
		rule = c.AuthRule
	case "manageRule":
		rule = c.ManageRule
	}
	if rule == nil {
		return ""
	}
	return *rule
}

// maskedError is the answer to a request refused on account of a masked
// field (a *masks.Error; nil for nil): 400 for a query that reads one, 403
// for an API rule it steers or a write, with the field and where it was
// found as params.
func maskedError(err error) error {
	var me *masks.Error
	if !errors.As(err, &me) {
		return err
	}
	params := map[string]any{"field": me.Field, "in": me.Where}
	switch {
	case errors.Is(err, masks.ErrRead):
		return refuseWith(http.StatusBadRequest, refusals.CodeMaskedRead, params, err)
	case errors.Is(err, masks.ErrRule):
		return refuseWith(http.StatusForbidden, refusals.CodeMaskedRule, params, err)
	default:
		return refuseWith(http.StatusForbidden, refusals.CodeMaskedWrite, params, err)
	}
}
