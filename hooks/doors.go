package hooks

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"

	"github.com/pocketbase/pocketbase/core"
)

// sessionHeaderLetters are the letters and digits of SessionHeader, in
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

// subscriptionSetsSessionHeader reports whether a realtime subscription
// ("topic?options={...}") sets a header that PocketBase could map to the
// session header's key: PocketBase checks the API rules of realtime events
// with the headers of the subscription's options, which the client chooses.
// It reads the options as PocketBase's subscriptions client does.
func subscriptionSetsSessionHeader(sub string) bool {
	u, err := url.Parse(sub)
	if err != nil {
		return false // PocketBase reads no options from it either
	}
	raw := u.Query().Get("options")
	if raw == "" {
		return false
	}
	var options struct {
		Headers map[string]any `json:"headers"`
	}
	_ = json.Unmarshal([]byte(raw), &options)
	return namesSessionHeader(options.Headers)
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
