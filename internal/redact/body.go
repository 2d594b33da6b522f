package redact

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// jsonPayloadKey is the form key whose values PocketBase decodes as JSON
// objects and merges into the form (router.JSONPayloadKey): the JS SDK puts
// every non-file field of a multipart request there.
const jsonPayloadKey = "@jsonPayload"

// Values returns a redacted copy of url.Values (a query string, a form) as
// map[string]any where each key maps to []any, read as PocketBase reads a
// form: each "@jsonPayload" value becomes the redacted copy of the JSON
// value it holds, or {"invalidJson": true, "size": len(value)} when it holds
// none; under a sensitive key each value is a keyed hash or Redacted;
// under any other key a string is kept as Value keeps strings. A copy over
// MaxStored bytes is summarized.
func (r *Redactor) Values(v url.Values) map[string]any {
	out := r.values(v)
	if s := overCap(out); s != nil {
		return s
	}
	return out
}

// values is Values without the cap on the whole copy.
func (r *Redactor) values(v url.Values) map[string]any {
	out := make(map[string]any, len(v))
	for k, vs := range v {
		sensitive := r.Sensitive(k)
		list := make([]any, len(vs))
		for i, s := range vs {
			switch {
			case k == jsonPayloadKey:
				list[i] = r.payload(s)
			case sensitive:
				list[i] = secret(r, s)
			default:
				list[i], _ = r.text(s)
			}
		}
		out[cut(k)] = list
	}
	return out
}

// payload is the redacted copy of an "@jsonPayload" value.
func (r *Redactor) payload(s string) any {
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return map[string]any{"invalidJson": true, "size": len(s)}
	}
	out, _ := r.value(v)
	return out
}

// Multipart returns a redacted copy of a parsed multipart form:
// {"fields": Values of its values, "files": map field -> []{"name", "size",
// "type"}}, a file by its name, size and media type only. A copy over
// MaxStored bytes is summarized.
func (r *Redactor) Multipart(form *multipart.Form) any {
	return capped(r.multipart(form))
}

// multipart is Multipart without the cap on the whole copy.
func (r *Redactor) multipart(form *multipart.Form) map[string]any {
	files := make(map[string]any, len(form.File))
	for field, headers := range form.File {
		list := make([]any, len(headers))
		for i, h := range headers {
			list[i] = map[string]any{
				"name": cut(h.Filename),
				"size": h.Size,
				"type": MediaType(h.Header.Get("Content-Type")),
			}
		}
		files[cut(field)] = list
	}
	return map[string]any{"fields": r.values(form.Value), "files": files}
}

// Body returns a redacted copy of a request body for the audit, reading it
// as PocketBase's BindBody does, by content type:
//   - a type that starts with "application/json" (any case, any
//     parameters: PocketBase reads "application/json; charset=utf-8" and
//     "application/jsonx" alike), or a +json type: Value of its first JSON
//     value, the bytes after it ignored as PocketBase ignores them; a body
//     without one gives {"invalidJson": true, "size": len(body)}
//   - application/x-www-form-urlencoded: Values of the form; a form
//     url.ParseQuery rejects gives {"invalidForm": true, "size": len(body)}
//   - a type that starts with "multipart/form-data": Multipart of the form
//     net/http's ParseMultipartForm (which PocketBase calls) makes of it;
//     a body it rejects gives {"invalidMultipart": true, "size": len(body)}
//   - an empty body: nil
//   - anything else (XML included): {"size": len(body), "type":
//     MediaType(contentType)}
//
// A copy over MaxStored bytes is summarized. Sizes are ints, file sizes
// int64. Body never modifies body.
func (r *Redactor) Body(contentType string, body []byte) any {
	if len(body) == 0 {
		return nil
	}
	t := strings.ToLower(strings.TrimSpace(contentType))
	switch {
	case strings.HasPrefix(t, "application/json") || strings.HasSuffix(MediaType(t), "+json"):
		v, err := decodeJSON(body)
		if err != nil {
			return map[string]any{"invalidJson": true, "size": len(body)}
		}
		return r.Value(v)
	case strings.HasPrefix(t, "multipart/form-data"):
		form, err := parseMultipart(contentType, body)
		if err != nil {
			return map[string]any{"invalidMultipart": true, "size": len(body)}
		}
		defer form.RemoveAll()
		return r.Multipart(form)
	case MediaType(t) == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return map[string]any{"invalidForm": true, "size": len(body)}
		}
		return r.Values(form)
	default:
		return map[string]any{"size": len(body), "type": MediaType(contentType)}
	}
}

// parseMultipart parses a multipart/form-data body with net/http's own
// ParseMultipartForm, the parser PocketBase's BindBody uses, with room in
// memory for every file of the body (so that nothing goes to disk).
func parseMultipart(contentType string, body []byte) (*multipart.Form, error) {
	req := &http.Request{
		Method:        http.MethodPost,
		URL:           &url.URL{},
		Header:        http.Header{"Content-Type": {contentType}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}
	if err := req.ParseMultipartForm(int64(len(body))); err != nil {
		return nil, err
	}
	return req.MultipartForm, nil
}

// MediaType returns the media type of a Content-Type header: lowercased,
// trimmed, without its parameters (which a client can fill with anything),
// at most MaxValue bytes.
func MediaType(contentType string) string {
	base, _, _ := strings.Cut(contentType, ";")
	return cut(strings.TrimSpace(strings.ToLower(base)))
}
