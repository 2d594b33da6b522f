package hooks

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/inflector"

	"github.com/pbimpersonation/impersonation/internal/limits"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// sessionHeaderKey is sessions.Header as API rules read it.
var sessionHeaderKey = inflector.Snakecase(sessions.Header)

// recordTopic splits a realtime subscription ("posts/*", "posts/RECORD_ID",
// "posts", each maybe with "?options=...") into its collection and record
// id ("" for a collection topic). ok is false for other topics.
func recordTopic(sub string) (collection, id string, ok bool) {
	topic, _, _ := strings.Cut(sub, "?")
	collection, id, _ = strings.Cut(topic, "/")
	if collection == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	if id == "*" {
		id = ""
	}
	return collection, id, true
}

// limitSubscriptions applies the session's limits to the realtime topics a
// client subscribes to, as to the records API requests that read the same
// records: a policy that denies a collection's records denies its topics.
func limitSubscriptions(e *core.RealtimeSubscribeRequestEvent, current *sessions.Current) error {
	for _, sub := range e.Subscriptions {
		collection, id, ok := recordTopic(sub)
		if !ok {
			continue
		}
		path := "/api/collections/" + collection + "/records"
		if id != "" {
			path += "/" + id
		}
		call := limits.Call{Method: http.MethodGet, Path: canonicalPath(e.App, path)}
		if err := checkLimits(current, call); err != nil {
			return limitError(e.RequestEvent, err)
		}
		options := optionsOf(sub)
		if options.Query["expand"] != "" {
			// PocketBase expands a realtime event's relations with the
			// subscription's options, where no session header is, so the
			// expanded records could escape the rules that hide them
			return refuse(http.StatusForbidden, refusals.CodeRealtimeExpand, nil)
		}
		query := map[string][]string{}
		for k, v := range options.Query {
			query[k] = []string{v}
		}
		if err := limitQuery(e.App, current, collection, query); err != nil {
			return limitError(e.RequestEvent, err)
		}
	}
	return nil
}

// realtimeEvent is the data of a record event PocketBase sends.
type realtimeEvent struct {
	Action string         `json:"action"`
	Record map[string]any `json:"record"`
}

// obeyHeaderRules drops a record event on its way to a realtime client
// subscribed with an impersonation token unless the collection's API rule
// lets the client see the record with the session header set, as its HTTP
// requests are checked: PocketBase checks realtime events with the
// subscription's own options, which carry no session header. A message it
// cannot check is dropped. The policy's masked fields are left out of the
// events it lets go (maskEvent).
func (p *handlers) obeyHeaderRules(e *core.RealtimeMessageEvent) error {
	sid, _ := e.Client.Get(realtimeSessionKey).(string)
	if sid == "" {
		return e.Next()
	}
	name, id, ok := recordTopic(e.Message.Name)
	if !ok {
		return e.Next()
	}
	collection, err := e.App.FindCachedCollectionByNameOrId(name)
	if err != nil {
		return e.Next() // not a record event (a custom topic)
	}
	var event realtimeEvent
	if json.Unmarshal(e.Message.Data, &event) != nil || event.Record == nil {
		return nil
	}
	recordId, _ := event.Record["id"].(string)
	record, err := e.App.FindRecordById(collection, recordId)
	if err != nil {
		if event.Action != "delete" {
			return nil
		}
		// a deleted record is checked as the event describes it
		record = core.NewRecord(collection)
		record.Load(event.Record)
	}
	rule := collection.ListRule
	if id != "" {
		rule = collection.ViewRule
	}
	options := e.Client.Subscriptions(e.Message.Name)[e.Message.Name]
	headers := maps.Clone(options.Headers)
	if headers == nil {
		headers = map[string]string{}
	}
	headers[sessionHeaderKey] = sid
	auth, _ := e.Client.Get(apis.RealtimeClientAuthKey).(*core.Record)
	info := &core.RequestInfo{
		Context: core.RequestInfoContextRealtime,
		Method:  http.MethodGet,
		Query:   options.Query,
		Headers: headers,
		Auth:    auth,
	}
	if allowed, err := e.App.CanAccessRecord(record, info, rule); err != nil || !allowed {
		return nil
	}
	if !p.maskEvent(e, sid, collection) {
		return nil
	}
	return e.Next()
}
