package hooks

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"

	"github.com/pbimpersonation/impersonation/internal/limits"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// sessionHeaderLetters are the letters and digits of sessions.Header, in
// lower case: every header name that PocketBase maps to the same
// @request.headers key (it snake-cases names, so "X-Impersonation-Session",
// "X_impersonation_session" and "x.impersonation.session" all become
// x_impersonation_session) has exactly these letters and digits.
const sessionHeaderLetters = "ximpersonationsession"

// isSessionHeaderName reports whether PocketBase could map the header name
// to the session header's @request.headers key. It errs on the side of yes:
// any name with the same letters and digits counts.
func isSessionHeaderName(name string) bool {
	if len(name) < len(sessionHeaderLetters) {
		return false
	}
	i := 0
	for _, c := range []byte(name) {
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		default:
			continue // PocketBase splits words there
		}
		if i == len(sessionHeaderLetters) || sessionHeaderLetters[i] != c {
			return false
		}
		i++
	}
	return i == len(sessionHeaderLetters)
}

// stripSessionHeaders removes from h every header that PocketBase could map
// to the session header's key.
func stripSessionHeaders(h http.Header) {
	for name := range h {
		if isSessionHeaderName(name) {
			delete(h, name)
		}
	}
}

// namesSessionHeader reports whether any key of headers could be mapped to
// the session header's key.
func namesSessionHeader[V any](headers map[string]V) bool {
	for name := range headers {
		if isSessionHeaderName(name) {
			return true
		}
	}
	return false
}

// optionsOf returns the options of a realtime subscription
// ("topic?options={...}") as PocketBase reads them, by its own
// subscriptions client: the headers (their names snake-cased) and the
// query with which it checks the API rules of realtime events, which the
// client chooses.
func optionsOf(sub string) subscriptions.SubscriptionOptions {
	scratch := subscriptions.NewDefaultClient()
	scratch.Subscribe(sub)
	return scratch.Subscriptions()[sub]
}

// subscriptionSetsSessionHeader reports whether a realtime subscription
// sets a header that PocketBase could map to the session header's key.
func subscriptionSetsSessionHeader(sub string) bool {
	return namesSessionHeader(optionsOf(sub).Headers)
}

// collectionPath matches the routes that name a collection in their second
// segment: the records, auth and collection routes, and file downloads.
var collectionPath = regexp.MustCompile(`^/api/(collections|files)/([^/]+)(/.*)?$`)

// canonicalPath returns path with the collection it names spelled as the
// collection's name: PocketBase accepts a collection's name in any letter
// case, or its id, so the route rules and the refusals compare this form.
// A path that names no known collection is returned as it is.
func canonicalPath(app core.App, path string) string {
	m := collectionPath.FindStringSubmatch(path)
	if m == nil {
		return path
	}
	c, err := app.FindCachedCollectionByNameOrId(m[2])
	if err != nil || c.Name == m[2] {
		return path
	}
	return "/api/" + m[1] + "/" + c.Name + m[3]
}

// limitQuery applies the session's limits to the records a request's
// query would reach in collection (a name or id) besides those it names:
// through expand, and through the relations its filter and sort read
// (which tell a denied record's values apart one guess at a time). Each
// collection reached is checked as a GET of its records, so a policy that
// denies a collection's records denies them through a relation too.
func limitQuery(app core.App, current *sessions.Current, collection string, query map[string][]string) error {
	filter, sort, expand := first(query, "filter"), first(query, "sort"), first(query, "expand")
	if collection == "" || filter == "" && sort == "" && expand == "" {
		return nil // the common case, on the guard's hot path: nothing to resolve
	}
	var calls []limits.Call
	for _, name := range expandedCollections(app, collection, fieldPaths(filter)+","+fieldPaths(sort)+","+expand) {
		// the records served are some of the collection's: its list, and
		// any record ("records/" meets a rule for "records/*")
		calls = append(calls,
			limits.Call{Method: http.MethodGet, Path: "/api/collections/" + name + "/records"},
			limits.Call{Method: http.MethodGet, Path: "/api/collections/" + name + "/records/"})
	}
	return checkLimits(current, calls...)
}

func first(query map[string][]string, key string) string {
	if v := query[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// quoted matches the string literals of a filter.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)

// fieldPath matches a field path of a filter or sort ("owner.team.name",
// "comments_via_post.text:lower").
var fieldPath = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z]+)?(?:\.[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z]+)?)*`)

// fieldPaths returns the field paths a filter or sort expression reads,
// comma-separated and without modifiers, as expandedCollections takes them.
// It errs on the side of more: any word outside a string literal counts.
func fieldPaths(expr string) string {
	if expr == "" {
		return ""
	}
	var paths []string
	for _, p := range fieldPath.FindAllString(quoted.ReplaceAllString(expr, " "), -1) {
		segments := strings.Split(p, ".")
		for i, s := range segments {
			segments[i], _, _ = strings.Cut(s, ":")
		}
		paths = append(paths, strings.Join(segments, "."))
	}
	return strings.Join(paths, ",")
}

// expandedCollections returns the names of the collections that an expand
// ("author,comments_via_post.author") of the records of collection reaches,
// read as PocketBase reads it: a relation field leads to its collection, a
// "COLLECTION_via_FIELD" back-relation to COLLECTION. A segment it cannot
// resolve ends its path (PocketBase expands nothing there either).
func expandedCollections(app core.App, collection, expand string) []string {
	start, err := app.FindCachedCollectionByNameOrId(collection)
	if err != nil {
		return nil
	}
	var names []string
	for _, path := range strings.Split(expand, ",") {
		c := start
		for _, segment := range strings.Split(strings.TrimSpace(path), ".") {
			next := ""
			if f, ok := c.Fields.GetByName(segment).(*core.RelationField); ok {
				next = f.CollectionId
			} else if i := strings.LastIndex(segment, "_via_"); i > 0 {
				next = segment[:i] // PocketBase's ^(\w+)_via_(\w+)$ splits at the last
			}
			if c, err = app.FindCachedCollectionByNameOrId(next); next == "" || err != nil {
				break
			}
			names = append(names, c.Name)
		}
	}
	return names
}
