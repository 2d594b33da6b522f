package hooks

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/masks"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
)

// sinkSecret masks a sink's secret from everyone, superusers included: it
// is hidden from every record served (hideSinkSecret), and a query must
// not read it one guess at a time either (secret~'Zq7', sort=secret).
var sinkSecret = masks.New(map[string][]string{records.SinksCollection: {"secret"}})

// refuseSinkSecretQuery refuses a request to a collection's records whose
// query reads a sink's secret (readsSinkSecret).
func refuseSinkSecretQuery(e *core.RequestEvent) error {
	collection := e.Request.PathValue("collection")
	if collection == "" {
		return e.Next()
	}
	if err := sinkSecretError(readsSinkSecret(e.App, collection, queryOf(e.Request.URL.Query()))); err != nil {
		return err
	}
	return e.Next()
}

// refuseSinkSecretBatch refuses a batch any of whose requests' query reads
// a sink's secret.
func refuseSinkSecretBatch(e *core.BatchRequestEvent) error {
	for _, ir := range e.Batch {
		path, rawQuery, _ := strings.Cut(ir.URL, "?")
		m := batchRecordPath.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		query, _ := url.ParseQuery(rawQuery)
		if err := sinkSecretError(readsSinkSecret(e.App, m[1], queryOf(query))); err != nil {
			return err
		}
	}
	return e.Next()
}

// refuseSinkSecretSubscription refuses a realtime subscription whose
// options' query reads a sink's secret (PocketBase filters the events with
// it).
func refuseSinkSecretSubscription(e *core.RealtimeSubscribeRequestEvent) error {
	for _, sub := range e.Subscriptions {
		name, _, ok := recordTopic(sub)
		if !ok {
			continue
		}
		if err := sinkSecretError(readsSinkSecret(e.App, name, optionsOf(sub).Query)); err != nil {
			return err
		}
	}
	return e.Next()
}

// queryOf returns the records API's query parameters of q.
func queryOf(q url.Values) map[string]string {
	return map[string]string{"filter": q.Get("filter"), "sort": q.Get("sort"), "expand": q.Get("expand"), "fields": q.Get("fields")}
}

// readsSinkSecret returns a *masks.Error when a query of the records of
// collection may read a sink's secret: its filter, sort, expand or fields
// name a field "secret" (in any letter case, behind any modifier, read
// with PocketBase's own parser) while the query reaches the sinks: it is
// on them, or a relation, a back-relation or an @collection of its filter,
// sort or expand leads to them.
func readsSinkSecret(app core.App, collection string, query map[string]string) error {
	// a query that never spells the field cannot read it: most requests
	// stop here, before any collection is looked up or any query parsed
	if !strings.Contains(strings.ToLower(query["filter"]+query["sort"]+query["expand"]+query["fields"]), "secret") {
		return nil
	}
	c, err := app.FindCachedCollectionByNameOrId(collection)
	if err != nil || !reachesSinks(app, c, query) {
		return nil // no collection: PocketBase answers 404
	}
	if err := sinkSecret.QueryReads(query["filter"], query["sort"], query["expand"]); err != nil {
		return err
	}
	if field, ok := sinkSecret.ExpandReads(query["fields"]); ok {
		return &masks.Error{Err: masks.ErrRead, Field: field, Where: "fields"}
	}
	return nil
}

// reachesSinks reports whether a query of the records of c reaches the
// sinks collection.
func reachesSinks(app core.App, c *core.Collection, query map[string]string) bool {
	if c.Name == records.SinksCollection {
		return true
	}
	filter, sort := query["filter"], query["sort"]
	reached := expandedCollections(app, c.Name, fieldPaths(filter)+","+fieldPaths(sort)+","+query["expand"])
	for _, ref := range collectionRef.FindAllStringSubmatch(filter+" "+sort, -1) {
		if r, err := app.FindCachedCollectionByNameOrId(ref[1]); err == nil {
			reached = append(reached, r.Name)
		}
	}
	for _, name := range reached {
		if name == records.SinksCollection {
			return true
		}
	}
	return false
}

// sinkSecretError is the answer to a query that reads a sink's secret (a
// *masks.Error; nil for nil): 400, with the field and where it was found.
func sinkSecretError(err error) error {
	me, ok := err.(*masks.Error)
	if !ok {
		return err
	}
	return refuseWith(http.StatusBadRequest, refusals.CodeSinkSecretRead, map[string]any{"field": me.Field, "in": me.Where}, err)
}
