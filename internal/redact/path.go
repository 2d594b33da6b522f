package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Path returns the audit-safe copy of a request's path, given escaped (as
// URL.EscapedPath returns it): each segment that holds a JWT-shaped token
// (three base64url parts, the first starting "eyJ": PocketBase's auth,
// file, verification, password-reset and email-change tokens), in its
// escaped or its percent-decoded form, is replaced whole by Redacted.
// The path stays escaped, so a "?" decoded from a segment ("%3F") is never
// read as the start of a query.
func Path(escaped string) string {
	segments := strings.Split(escaped, "/")
	for i, s := range segments {
		decoded, err := url.PathUnescape(s)
		if jwtShaped.MatchString(s) || (err == nil && jwtShaped.MatchString(decoded)) {
			segments[i] = Redacted
		}
	}
	return strings.Join(segments, "/")
}

// jwtShaped matches a JWT anywhere in a text: "eyJ" (the base64url of
// `{"`) and two more base64url parts (padding and the standard alphabet
// allowed too, erring on the side of redacting).
var jwtShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_+=-]*\.[A-Za-z0-9_+=-]+\.[A-Za-z0-9_+=-]*`)
