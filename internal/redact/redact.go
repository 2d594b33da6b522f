// Package redact makes an audit-safe copy of request data: what a request
// carried, read the way PocketBase reads it, without the values of its
// sensitive keys and within fixed size caps.
//
// # Sensitive keys
//
// A key is sensitive when its name contains one of the Redactor's names,
// both folded the way encoding/json/v2 folds names for the case-insensitive
// match PocketBase binds JSON bodies to its forms with: Unicode simple case
// folding, '_' and '-' ignored. So newPassword, api_key, accessToken,
// X-Auth-Token and "paſſword" (with long s, which PocketBase binds to its
// password field) are caught by "password", "key" and "token" (and so are
// monkey and postcode, which is the price). The match is a substring match
// on purpose: it errs on the side of redacting.
//
// # What stands in for a sensitive value
//
// The value of a sensitive key is never kept, at any depth. A string of at
// least MinHashed characters that is not only ASCII digits is replaced by a
// keyed hash, "hmac-sha256:" followed by the lowercase hex of HMAC-SHA256(key,
// value): an operator who knows the key and a value can find the entries
// that carried it. Every other value (a shorter or all-digit string, a
// number, a bool, an object, an array) is replaced by Redacted, which says
// only that a value was there: whoever holds the key could hash every
// candidate of a value with few possibilities (a 6-digit code, a PIN, a
// short password) and read it back from its hash. null stays null.
//
// # Bodies are read as PocketBase reads them
//
// Body reads a body the way PocketBase's BindBody does (see Body):
// "application/json" and every type that starts like it, with its first JSON
// value and the bytes after it ignored; urlencoded and multipart forms, where
// each "@jsonPayload" value is a JSON object PocketBase merges into the form.
// The URL query gets the same "@jsonPayload" reading (Values), because
// PocketBase binds the query of a form request into its body. A string that
// is itself a JSON object or array (PocketBase's json, select and relation
// fields read such a string as JSON) is read too: when it holds a sensitive
// key it is kept as the compact JSON of its redacted copy. What cannot be
// read is summarized by its size, never kept.
//
// # Size caps
//
// Every string a copy keeps (a value, a key, a file name, a media type) is at
// most MaxValue bytes: a longer one keeps its first bytes, cut at a rune
// boundary, and ends with "…". A copy whose JSON encoding would be longer
// than MaxStored bytes is replaced by {"tooLarge": true, "redactedSize": n}.
//
// A Redactor never modifies its inputs and is safe for concurrent use.
//
// Example usage:
//
//	r := redact.New(auditKey, nil) // nil names: DefaultNames()
//	entry["query"] = r.Values(req.URL.Query())
//	entry["body"] = r.Body(req.Header.Get("Content-Type"), body)
//
// An operator matching a known value (long enough to be hashed) against the
// audit computes:
//
//	r.Hash("ghp_abcdefghijklmnopqrstuvwxyz012345") // "hmac-sha256:…"
package redact

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxValue is the most bytes of any one string a redacted copy keeps
	// (before JSON escaping): values, keys, file names and media types.
	MaxValue = 1 << 10

	// MaxStored is the most bytes of the JSON encoding of one redacted copy
	// (a body, a query, a value).
	MaxStored = 64 << 10

	// MinHashed is the fewest characters (runes) of a sensitive string kept
	// as a keyed hash; a shorter one, or one of ASCII digits only, is kept as
	// Redacted.
	MinHashed = 20

	// Redacted stands in for a sensitive value too guessable to be hashed.
	Redacted = "[redacted]"
)

// hashPrefix starts every hash a Redactor writes.
const hashPrefix = "hmac-sha256:"

// ellipsis ends a string cut to MaxValue bytes.
const ellipsis = "…"

// DefaultNames returns the key names redacted when a policy names none. It
// returns a new slice on every call.
func DefaultNames() []string {
	return []string{"password", "passwordConfirm", "oldPassword", "token", "secret", "key", "otp", "code", "authorization", "cookie"}
}

// Redactor copies request data with the values of sensitive keys replaced
// by a keyed hash or Redacted. It is safe for concurrent use and never
// mutates its inputs.
type Redactor struct {
	key   []byte
	names []string // folded, none empty
}

// New returns a Redactor that hashes with key (HMAC-SHA256) and treats as
// sensitive every key whose folded name contains one of names, folded.
//
// Names that are empty once folded are ignored; when no name remains,
// DefaultNames are used. The key should be secret and random (32 bytes or
// more): with a known or empty key anyone can hash guesses and test them
// against the audit. New copies key and names.
func New(key []byte, names []string) *Redactor {
	r := &Redactor{key: bytes.Clone(key)}
	for _, n := range names {
		if n = fold(n); n != "" {
			r.names = append(r.names, n)
		}
	}
	if len(r.names) == 0 {
		for _, n := range DefaultNames() {
			r.names = append(r.names, fold(n))
		}
	}
	return r
}

// Fold returns name as a Redactor compares it (see fold): two names that
// fold alike redact the same keys, and a name that folds to "" redacts
// nothing.
func Fold(name string) string { return fold(name) }

// With returns a Redactor with r's key and names and names added to them:
// it redacts every key r redacts, and more. r is not changed.
func (r *Redactor) With(names ...string) *Redactor {
	out := &Redactor{key: r.key, names: append([]string(nil), r.names...)}
	for _, n := range names {
		if n = fold(n); n != "" && !slices.Contains(out.names, n) {
			out.names = append(out.names, n)
		}
	}
	return out
}

// fold drops name's '_' and '-' and maps every other rune to the smallest
// rune of its Unicode simple fold set, as encoding/json/v2 folds names:
// fold(a) == fold(b) when PocketBase's case-insensitive binding matches a
// to b.
func fold(name string) string {
	return strings.Map(func(c rune) rune {
		if c == '_' || c == '-' {
			return -1
		}
		for {
			next := unicode.SimpleFold(c)
			if next <= c {
				return next
			}
			c = next
		}
	}, name)
}

// Sensitive reports whether a key of that name is redacted.
func (r *Redactor) Sensitive(name string) bool {
	name = fold(name)
	for _, n := range r.names {
		if strings.Contains(name, n) {
			return true
		}
	}
	return false
}

// Hash returns "hmac-sha256:" + lowercase hex of HMAC-SHA256(key, value).
// It hashes any value; a copy holds hashes only of values long enough (see
// MinHashed).
func (r *Redactor) Hash(value string) string {
	mac := hmac.New(sha256.New, r.key)
	io.WriteString(mac, value)
	out := make([]byte, len(hashPrefix)+2*sha256.Size)
	copy(out, hashPrefix)
	hex.Encode(out[len(hashPrefix):], mac.Sum(nil))
	return string(out)
}

// hashable reports whether a sensitive string is kept as its keyed hash:
// it has at least MinHashed characters and is not only ASCII digits.
func hashable(s string) bool {
	if utf8.RuneCountInString(s) < MinHashed {
		return false
	}
	return strings.ContainsFunc(s, func(c rune) bool { return c < '0' || c > '9' })
}

// Value returns a redacted copy of a decoded JSON value (map[string]any,
// []any, string, float64, bool, nil, json.Number): the value of a sensitive
// key, at any depth through objects and arrays, is replaced as the package
// comment says; a string that is a JSON object or array holding a
// sensitive key is replaced by the compact JSON of its redacted copy; every
// string is capped to MaxValue bytes; a copy over MaxStored bytes is
// summarized. Returns a new value; the input is never modified.
//
// A value of any other type is first converted through its JSON encoding
// (numbers as json.Number), so a struct or a map[string]string is redacted
// too; a value JSON cannot encode gives nil.
func (r *Redactor) Value(v any) any {
	out, _ := r.value(v)
	return capped(out)
}

// value is the redacted copy of v, and whether v held a sensitive key.
func (r *Redactor) value(v any) (any, bool) {
	switch v := v.(type) {
	case nil, float64, bool:
		return v, false
	case json.Number:
		if len(v) > MaxValue {
			return cut(string(v)), false
		}
		return v, false
	case string:
		return r.text(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		found := false
		for k, e := range v {
			if r.Sensitive(k) {
				out[cut(k)] = secret(r, e)
				found = true
				continue
			}
			c, f := r.value(e)
			out[cut(k)] = c
			found = found || f
		}
		return out, found
	case []any:
		out := make([]any, len(v))
		found := false
		for i, e := range v {
			c, f := r.value(e)
			out[i] = c
			found = found || f
		}
		return out, found
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, false
		}
		d, err := decodeJSON(b)
		if err != nil {
			return nil, false
		}
		return r.value(d)
	}
}

// text is the redacted copy of a string found under a key that is not
// sensitive, and whether it held a sensitive key: a JSON object or array
// that holds one (at any depth) becomes the compact JSON of its redacted
// copy; any other string is kept, cut to MaxValue bytes.
func (r *Redactor) text(s string) (any, bool) {
	if t := strings.TrimLeft(s, " \t\r\n"); t != "" && (t[0] == '{' || t[0] == '[') {
		if v, err := decodeJSON([]byte(t)); err == nil {
			if out, found := r.value(v); found {
				return cut(compactJSON(out)), true
			}
		}
	}
	if out, found := r.urlText(s); found {
		return cut(out), true
	}
	return cut(s), false
}

// urlText is the redacted copy of a string that carries a URL query after
// a "?" (a batch request's url, a realtime subscription with its options),
// and whether the query held a sensitive key: each value of the query is
// redacted as Values redacts it, and the query written back. A query that
// does not parse, or has a fragment, is replaced whole by UnparsedQuery (a
// lenient reader could still find a secret in it).
func (r *Redactor) urlText(s string) (string, bool) {
	prefix, raw, ok := strings.Cut(s, "?")
	if !ok || strings.ContainsAny(prefix, " \t\r\n") || !strings.Contains(raw, "=") {
		return "", false // no URL with a query: text that has a "?"
	}
	query, err := url.ParseQuery(raw)
	if err != nil || strings.Contains(raw, "#") {
		return prefix + "?" + UnparsedQuery, true
	}
	found := false
	out := url.Values{}
	for k, vs := range query {
		sensitive := r.Sensitive(k)
		for _, v := range vs {
			var c any
			switch {
			case k == jsonPayloadKey:
				c = r.payload(v)
				found = true
			case sensitive:
				c, found = secret(r, v), true
			default:
				var f bool
				c, f = r.text(v)
				found = found || f
			}
			if str, isString := c.(string); isString {
				out.Add(k, str)
			} else {
				out.Add(k, compactJSON(c))
			}
		}
	}
	return prefix + "?" + out.Encode(), found
}

// secret is what a copy keeps of v, the value of a sensitive key.
func secret(r *Redactor, v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		if hashable(v) {
			return r.Hash(v)
		}
	}
	return Redacted
}

// UnparsedQuery replaces a URL query, inside a value, that does not parse.
const UnparsedQuery = "[unparsed query]"

// cut returns s if it has at most MaxValue bytes, else its first bytes, cut
// at a rune boundary, followed by "…", MaxValue bytes at most in all.
func cut(s string) string {
	if len(s) <= MaxValue {
		return s
	}
	n := MaxValue - len(ellipsis)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

// capped returns v, or a summary of it if its JSON encoding is longer than
// MaxStored bytes (or cannot be made).
func capped(v any) any {
	if s := overCap(v); s != nil {
		return s
	}
	return v
}

// overCap returns the summary that replaces v when v's JSON encoding is
// longer than MaxStored bytes, and nil when v fits. A v JSON cannot encode
// (a NaN, a func) is summarized as {"unencodable": true}.
func overCap(v any) map[string]any {
	b, err := json.Marshal(v)
	switch {
	case err != nil:
		return map[string]any{"unencodable": true}
	case len(b) > MaxStored:
		return map[string]any{"tooLarge": true, "redactedSize": len(b)}
	}
	return nil
}

// compactJSON is the compact JSON encoding of v, without HTML escaping.
func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return Redacted // not reached: v is a redacted copy of decoded JSON
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// decodeJSON decodes the first JSON value of b, numbers as json.Number, and
// ignores the bytes after it, as PocketBase's BindBody does.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
