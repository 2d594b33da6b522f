package redact_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/pbimpersonation/impersonation/internal/redact"
)

// authForm has the secret fields of PocketBase's auth forms
// (auth-with-password, auth-with-otp, confirm-password-reset...), bound as
// PocketBase binds them: by json and form tags, JSON names matched without
// regard to case.
type authForm struct {
	Identity        string `form:"identity" json:"identity"`
	Password        string `form:"password" json:"password"`
	PasswordConfirm string `form:"passwordConfirm" json:"passwordConfirm"`
	Token           string `form:"token" json:"token"`
	OTPId           string `form:"otpId" json:"otpId"`
}

// pocketBaseView is what PocketBase's own BindBody makes of a request.
type pocketBaseView struct {
	data map[string]any // as the records API binds it (RequestInfo().Body)
	form authForm       // as the auth forms bind it
	err  error          // BindBody's error for data
	// words are the strings of the request that the audit may keep besides
	// data's: file field names, file names and part media types.
	words []string
}

// newRequest is a PATCH of body with contentType and the raw query, as it
// reaches PocketBase.
func newRequest(contentType, rawQuery string, body []byte) *http.Request {
	return &http.Request{
		Method:        http.MethodPatch,
		URL:           &url.URL{Path: "/api/collections/users/records/x", RawQuery: rawQuery},
		Header:        http.Header{"Content-Type": {contentType}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}
}

// bindAsPocketBase binds the request with PocketBase's router.Event.BindBody,
// once into a map[string]any as the records API does and once into an auth
// form. A binding that fails keeps what it bound before failing: what
// PocketBase saw then must not reach the audit either.
func bindAsPocketBase(contentType, rawQuery string, body []byte) pocketBaseView {
	var v pocketBaseView
	req := newRequest(contentType, rawQuery, body)
	v.data = map[string]any{}
	v.err = (&router.Event{Request: req}).BindBody(&v.data)
	if req.MultipartForm != nil {
		for field, headers := range req.MultipartForm.File {
			v.words = append(v.words, field)
			for _, h := range headers {
				v.words = append(v.words, h.Filename, h.Header.Get("Content-Type"))
			}
		}
		defer req.MultipartForm.RemoveAll()
	}
	req = newRequest(contentType, rawQuery, body)
	_ = (&router.Event{Request: req}).BindBody(&v.form)
	if req.MultipartForm != nil {
		req.MultipartForm.RemoveAll()
	}
	return v
}

// boundToSecret reports whether PocketBase's JSON binding fills a secret
// field of authForm from a key of that name: PocketBase, not the redactor,
// says which names its forms take as passwords and tokens.
func boundToSecret(name string) bool {
	body, _ := json.Marshal(map[string]string{name: "probe"})
	var f authForm
	_ = (&router.Event{Request: newRequest("application/json", "", body)}).BindBody(&f)
	return f.Password == "probe" || f.PasswordConfirm == "probe" || f.Token == "probe"
}

// secretsOf collects, as text, every string and number at or under a
// sensitive key of v (decoded JSON or a bound form).
func secretsOf(r *redact.Redactor, v any, under bool, out *[]string) {
	switch v := v.(type) {
	case string:
		if under {
			*out = append(*out, v)
		}
	case float64:
		if under {
			*out = append(*out, strconv.FormatFloat(v, 'f', -1, 64))
		}
	case json.Number:
		if under {
			*out = append(*out, string(v))
		}
	case map[string]any:
		for k, e := range v {
			secretsOf(r, e, under || r.Sensitive(k), out)
		}
	case []any:
		for _, e := range v {
			secretsOf(r, e, under, out)
		}
	}
}

// public is v with every value under a sensitive key replaced by null: what
// the audit may show of it besides hashes.
func public(r *redact.Redactor, v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if r.Sensitive(k) {
				out[k] = nil
			} else {
				out[k] = public(r, e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = public(r, e)
		}
		return out
	default:
		return v
	}
}

// stands matches what stands in for a secret in a redacted copy.
var stands = regexp.MustCompile(`hmac-sha256:[0-9a-f]{64}|\[redacted\]`)

// scrub is a copy of a redacted copy with what stands in for secrets
// and the sizes the redactor counted (Go ints, where decoded JSON has
// json.Number) replaced by "#": what is left can only have come from the
// request.
func scrub(v any) any {
	switch v := v.(type) {
	case string:
		return stands.ReplaceAllString(v, "#")
	case int, int64:
		return "#"
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = scrub(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = scrub(e)
		}
		return out
	default:
		return v
	}
}

// vocabulary is every word a redacted copy adds to what the request held.
const vocabulary = `query body fields files name size type invalidJson invalidForm invalidMultipart tooLarge redactedSize unencodable @jsonPayload true false null … #`

// unread reports whether the redacted copy v says that it could not read
// a body or an @jsonPayload (a summary the redactor made: its size is an int).
func unread(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if _, counted := v["size"].(int); counted && (v["invalidJson"] == true || v["invalidForm"] == true || v["invalidMultipart"] == true) {
			return true
		}
		for _, e := range v {
			if unread(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if unread(e) {
				return true
			}
		}
	}
	return false
}

// checkNoSecretReachesTheAudit fails t if a value PocketBase binds from the
// request under a sensitive key, at any depth, is in the request's audited
// copy (its query and body, as hooks/request_audit.go builds them), or if
// the audited copy failed to read a body PocketBase read.
func checkNoSecretReachesTheAudit(t *testing.T, r *redact.Redactor, contentType, rawQuery string, body []byte) {
	t.Helper()
	query, _ := url.ParseQuery(rawQuery) // as URL.Query(): what parses
	audited := map[string]any{"query": r.Values(query), "body": r.Body(contentType, body)}
	out := mustJSON(t, scrub(audited))
	if n := len(mustJSON(t, audited["body"])); n > redact.MaxStored {
		t.Fatalf("the audited body is %d bytes, over MaxStored", n)
	}

	pb := bindAsPocketBase(contentType, rawQuery, body)
	var secrets []string
	secretsOf(r, pb.data, false, &secrets)
	for _, s := range []string{pb.form.Password, pb.form.PasswordConfirm, pb.form.Token} {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	// What the audit may keep: the values PocketBase bound under other keys
	// (not those of the keys its forms bind to secrets), the names and types
	// of the files, and the redactor's own words.
	kept := public(r, pb.data).(map[string]any)
	for k := range kept {
		if boundToSecret(k) {
			if !r.Sensitive(k) {
				t.Fatalf("PocketBase binds %q to a password or token, the redactor does not redact it", k)
			}
			kept[k] = nil
		}
	}
	pub := mustJSON(t, []any{kept, pb.form.Identity, pb.form.OTPId, pb.words, vocabulary})
	for _, s := range secrets {
		enc := mustJSON(t, s)
		enc = enc[1 : len(enc)-1]
		if enc == "" || strings.Contains(pub, enc) {
			continue // also kept in the open: not a leak
		}
		if strings.Contains(out, enc) {
			t.Fatalf("a secret PocketBase binds, %q, is in the audit:\n%s\n(content type %q, query %q, body %q)", s, out, contentType, rawQuery, body)
		}
	}
	if pb.err == nil && unread(audited) {
		t.Fatalf("PocketBase read the request, the audit did not:\n%s\n(content type %q, query %q, body %q)", out, contentType, rawQuery, body)
	}
}

// multipartSeed is a multipart body as the JS SDK sends a record update with
// a file: every other field in @jsonPayload.
const multipartSeed = "--b\r\n" +
	"Content-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n" +
	`{"name":"Ada","password":"correct-horse-battery-staple","passwordConfirm":"correct-horse-battery-staple","apiToken":"tok_0123456789abcdefghij"}` + "\r\n" +
	"--b\r\n" +
	"Content-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n" +
	`{"profile":{"otp":"123456"}}` + "\r\n" +
	"--b\r\n" +
	"Content-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n" +
	"--b\r\n" +
	"Content-Disposition: form-data; name=\"oldPassword\"\r\n\r\n1234567890\r\n" +
	"--b--\r\n"

// differentialSeeds are the requests both the table test and the fuzz test
// start from.
var differentialSeeds = []struct {
	name, contentType, query string
	body                     []byte
}{
	{"json", "application/json", "", []byte(`{"password":"correct-horse-battery-staple","name":"Ada","profile":{"apiToken":"tok_0123456789abcdefghij"}}`)},
	{"json with charset and trailing bytes", "application/json; charset=utf-8", "", []byte(`{"password":"hunter2-hunter2","passwordConfirm":"hunter2-hunter2"}` + "\n" + `{"token":"trailing-token-0123456789"}garbage`)},
	{"json type variant", "application/jsonx", "", []byte(`{"otp":"123456","code":987654}`)},
	{"json names folded as PocketBase binds its forms", "application/json", "", []byte(`{"identity":"ada@example.com","PASS_WORD":"folded-password-0123456789","to\u212Aen":"kelvin-token-0123456789"}`)},
	{"json with long s", "application/json", "", []byte(`{"paſſword":"long-s-password-0123456789"}`)},
	{"json field holding JSON text", "application/json", "", []byte(`{"meta":"{\"apiKey\":\"nested-key-0123456789\"}","password":{"nested":"object-secret-0123"}}`)},
	{"urlencoded", "application/x-www-form-urlencoded", "", []byte("identity=ada&password=urlencoded-password-0123&otpId=x")},
	{"urlencoded with @jsonPayload", "application/x-www-form-urlencoded; charset=utf-8", "", []byte("@jsonPayload=" + url.QueryEscape(`{"password":"payload-password-0123456789","token":"123456"}`))},
	{"multipart as the JS SDK sends it", "multipart/form-data; boundary=b", "", []byte(multipartSeed)},
	{"multipart with the query's @jsonPayload", "multipart/form-data; boundary=b", "@jsonPayload=" + url.QueryEscape(`{"secret":"query-payload-secret-0123"}`) + "&password=query-password-0123", []byte(multipartSeed)},
	{"multipart with an unparsable @jsonPayload", "multipart/form-data; boundary=b", "", []byte("--b\r\nContent-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n{\"password\":\"half-a-payload-0123456789\"\r\n--b--\r\n")},
	{"multipart truncated", "multipart/form-data; boundary=b", "", []byte("--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\ntruncated-password-0123")},
	{"xml", "application/xml", "", []byte("<a><Password>xml-password-0123456789</Password></a>")},
	{"text", "text/plain", "", []byte("password=plain-text-password-0123")},
}

// TestNoSecretPocketBaseBindsReachesTheAudit holds the promise "secrets
// never reach the audit" against PocketBase's own body binding, for every
// encoding it reads: whatever PocketBase binds under a sensitive key is not
// in the audited copy.
func TestNoSecretPocketBaseBindsReachesTheAudit(t *testing.T) {
	r := newRedactor()
	for _, s := range differentialSeeds {
		t.Run(s.name, func(t *testing.T) {
			checkNoSecretReachesTheAudit(t, r, s.contentType, s.query, s.body)
		})
	}
	// The check itself finds a leak: PocketBase binds these, the plain
	// form redaction of before (by key name only) kept them.
	t.Run("the check sees the secrets PocketBase binds", func(t *testing.T) {
		pb := bindAsPocketBase("multipart/form-data; boundary=b", "", []byte(multipartSeed))
		var secrets []string
		secretsOf(r, pb.data, false, &secrets)
		for _, want := range []string{"correct-horse-battery-staple", "tok_0123456789abcdefghij", "123456", "1234567890"} {
			if !strings.Contains(strings.Join(secrets, "\n"), want) {
				t.Errorf("PocketBase's view lacks %q: %v", want, pb.data)
			}
		}
		pb = bindAsPocketBase("application/json", "", []byte(`{"paſſword":"long-s-password-0123456789"}`))
		if want := (authForm{Password: "long-s-password-0123456789"}); !reflect.DeepEqual(pb.form, want) {
			t.Errorf("PocketBase binds %+v, want %+v", pb.form, want)
		}
	})
}

// FuzzNoSecretPocketBaseBindsReachesTheAudit is
// TestNoSecretPocketBaseBindsReachesTheAudit over any request; it also
// checks that Body never changes its input and always gives JSON.
func FuzzNoSecretPocketBaseBindsReachesTheAudit(f *testing.F) {
	for _, s := range differentialSeeds {
		f.Add(s.contentType, s.query, s.body)
	}
	r := newRedactor()
	f.Fuzz(func(t *testing.T, contentType, query string, body []byte) {
		before := bytes.Clone(body)
		got := r.Body(contentType, body)
		if !bytes.Equal(body, before) {
			t.Fatalf("Body modified its input: %q, want %q", body, before)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("json.Marshal(Body(%q, %q)) = %v", contentType, body, err)
		}
		checkNoSecretReachesTheAudit(t, r, contentType, query, body)
	})
}
