// Package redact makes an audit-safe copy of request data.
//
// A Redactor copies a request body, query string or decoded JSON value and
// replaces the value of every sensitive key with a keyed hash,
// "hmac-sha256:" followed by the lowercase hex of HMAC-SHA256(key, value).
// The audit never holds the value, yet an operator who knows the key and a
// value can compute its hash and find the entries that carried it.
//
// A key is sensitive when its name, compared case-insensitively and ignoring
// '_' and '-', contains one of the Redactor's names. The match is a substring
// match on purpose: it errs on the side of redacting, so newPassword,
// api_key, accessToken and X-Auth-Token are caught by "password", "key" and
// "token" (and so are monkey and postcode, which is the price).
//
// Under a sensitive key a string is hashed as is; any other value (number,
// bool, object, array) is hashed as its compact JSON encoding, with object
// keys sorted and no HTML escaping, so the number 123456 and the string
// "123456" give the same hash; null stays null.
//
// A Redactor never modifies its inputs and is safe for concurrent use.
//
// Example usage:
//
//	r := redact.New(auditKey, nil) // nil names: DefaultNames()
//	entry["query"] = r.Values(req.URL.Query())
//	entry["body"] = r.Body(req.Header.Get("Content-Type"), body)
//
// An operator matching a known value against the audit computes:
//
//	r.Hash("hunter2") // "hmac-sha256:…"
package redact

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
	"unicode"
)

// hashPrefix starts every hash a Redactor writes.
const hashPrefix = "hmac-sha256:"

// DefaultNames returns the key names redacted when a policy names none. It
// returns a new slice on every call.
func DefaultNames() []string {
	return []string{"password", "passwordConfirm", "oldPassword", "token", "secret", "key", "otp", "code", "authorization", "cookie"}
}

// Redactor copies request data with the values of sensitive keys replaced
// by a keyed hash. It is safe for concurrent use and never mutates its
// inputs.
type Redactor struct {
	key   []byte
	names []string // normalized, none empty
}

// New returns a Redactor that hashes with key (HMAC-SHA256) and treats as
// sensitive every key whose name, compared case-insensitively and ignoring
// '_' and '-', contains one of names.
//
// Names that are empty once '_' and '-' are removed are ignored; when no
// name remains, DefaultNames are used. The key should be secret and random
// (32 bytes or more): with a known or empty key anyone can hash guesses and
// test them against the audit. New copies key and names.
func New(key []byte, names []string) *Redactor {
	r := &Redactor{key: bytes.Clone(key)}
	for _, n := range names {
		if n = normalize(n); n != "" {
			r.names = append(r.names, n)
		}
	}
	if len(r.names) == 0 {
		for _, n := range DefaultNames() {
			r.names = append(r.names, normalize(n))
		}
	}
	return r
}

// normalize lowercases name and drops its '_' and '-'.
func normalize(name string) string {
	return strings.Map(func(c rune) rune {
		if c == '_' || c == '-' {
			return -1
		}
		return unicode.ToLower(c)
	}, name)
}

// Sensitive reports whether a key of that name is redacted.
func (r *Redactor) Sensitive(name string) bool {
	name = normalize(name)
	for _, n := range r.names {
		if strings.Contains(name, n) {
			return true
		}
	}
	return false
}

// Hash returns "hmac-sha256:" + lowercase hex of HMAC-SHA256(key, value).
func (r *Redactor) Hash(value string) string {
	mac := hmac.New(sha256.New, r.key)
	io.WriteString(mac, value)
	out := make([]byte, len(hashPrefix)+2*sha256.Size)
	copy(out, hashPrefix)
	hex.Encode(out[len(hashPrefix):], mac.Sum(nil))
	return string(out)
}

// Value returns a redacted copy of a decoded JSON value (map[string]any,
// []any, string, float64, bool, nil, json.Number): under a sensitive key, a
// string is replaced by Hash(s); any other non-nil value (number, bool,
// object, array) by Hash of its compact JSON encoding; null stays null.
// Recurses at any depth through objects and arrays (arrays of objects
// included). Returns a new value; the input is never modified.
//
// A value of any other type is first converted through its JSON encoding
// (numbers as json.Number), so a struct or a map[string]string is redacted
// too; a value JSON cannot encode gives nil.
func (r *Redactor) Value(v any) any {
	switch v := v.(type) {
	case nil, string, float64, bool, json.Number:
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if r.Sensitive(k) {
				out[k] = r.hashValue(e)
			} else {
				out[k] = r.Value(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = r.Value(e)
		}
		return out
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil
		}
		d, err := decodeJSON(b)
		if err != nil {
			return nil
		}
		return r.Value(d)
	}
}

// hashValue is the redacted form of v found under a sensitive key.
func (r *Redactor) hashValue(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return r.Hash(v)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Not encodable (a NaN, a func...): hash its printed form, never
		// keep it.
		return r.Hash(fmt.Sprint(v))
	}
	return r.Hash(strings.TrimSuffix(buf.String(), "\n"))
}

// Values returns a redacted copy of url.Values (query strings, urlencoded
// forms) as map[string]any where each key maps to []any of strings (or
// hashes).
func (r *Redactor) Values(v url.Values) map[string]any {
	out := make(map[string]any, len(v))
	for k, vs := range v {
		sensitive := r.Sensitive(k)
		list := make([]any, len(vs))
		for i, s := range vs {
			if sensitive {
				list[i] = r.Hash(s)
			} else {
				list[i] = s
			}
		}
		out[k] = list
	}
	return out
}

// Body returns a redacted copy of a request body for the audit, by content
// type:
//   - application/json (and +json): the decoded JSON (numbers as
//     json.Number) redacted with Value; invalid JSON gives
//     {"invalidJson": true, "size": len(body)}
//   - application/x-www-form-urlencoded: Values of the parsed form; a form
//     url.ParseQuery rejects gives {"invalidForm": true, "size": len(body)}
//   - multipart/form-data: {"fields": Values of the text fields, "files":
//     map field -> []{"name", "size", "type"}}; file contents never appear
//     and are counted, not held; parts without a form name are skipped
//   - an empty body: nil
//   - anything else: {"size": len(body), "type": contentType}
//
// Malformed multipart gives {"invalidMultipart": true, "size": len(body)}.
// Sizes are ints, file sizes int64. Body never modifies body.
func (r *Redactor) Body(contentType string, body []byte) any {
	if len(body) == 0 {
		return nil
	}
	switch mt := mediaType(contentType); {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		v, err := decodeJSON(body)
		if err != nil {
			return map[string]any{"invalidJson": true, "size": len(body)}
		}
		return r.Value(v)
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return map[string]any{"invalidForm": true, "size": len(body)}
		}
		return r.Values(form)
	case mt == "multipart/form-data":
		out, err := r.multipart(contentType, body)
		if err != nil {
			return map[string]any{"invalidMultipart": true, "size": len(body)}
		}
		return out
	default:
		return map[string]any{"size": len(body), "type": contentType}
	}
}

// mediaType is the lowercased media type of a Content-Type header, as
// mime.ParseMediaType gives it, even when its parameters are malformed.
func mediaType(contentType string) string {
	base, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(strings.ToLower(base))
}

// decodeJSON decodes exactly one JSON value, numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if err := dec.Decode(new(any)); err != io.EOF {
		return nil, fmt.Errorf("redact: data after the JSON value")
	}
	return v, nil
}

// multipart is the redacted form of a multipart/form-data body.
func (r *Redactor) multipart(contentType string, body []byte) (map[string]any, error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, fmt.Errorf("redact: multipart without boundary")
	}
	fields := url.Values{}
	files := map[string]any{}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF { // not errors.Is: a truncated body wraps io.EOF
			break
		}
		if err != nil {
			return nil, err
		}
		name := part.FormName()
		if name == "" {
			continue
		}
		if filename := part.FileName(); filename != "" {
			size, err := io.Copy(io.Discard, part)
			if err != nil {
				return nil, err
			}
			list, _ := files[name].([]any)
			files[name] = append(list, map[string]any{
				"name": filename,
				"size": size,
				"type": part.Header.Get("Content-Type"),
			})
			continue
		}
		value, err := io.ReadAll(part)
		if err != nil {
			return nil, err
		}
		fields.Add(name, string(value))
	}
	return map[string]any{"fields": r.Values(fields), "files": files}, nil
}
