package redact_test

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
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pbimpersonation/impersonation/plugin/redact"
)

// testKey is the HMAC key of every test.
var testKey = []byte("test-key-0123456789abcdef0123456")

func newRedactor() *redact.Redactor { return redact.New(testKey, nil) }

// mustJSON is the json.Marshal of v, failing the test on error.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%#v): %v", v, err)
	}
	return string(b)
}

// assertAbsent fails when any secret appears in the JSON encoding of v.
func assertAbsent(t *testing.T, v any, secrets ...string) {
	t.Helper()
	out := mustJSON(t, v)
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("secret %q appears in %s", s, out)
		}
	}
}

// deepCopy copies decoded JSON data, so that a later DeepEqual detects any
// change made to the original.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

func copyValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func TestDefaultNames(t *testing.T) {
	names := redact.DefaultNames()
	want := []string{"password", "passwordConfirm", "oldPassword", "token", "secret", "key", "otp", "code", "authorization", "cookie"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("DefaultNames() = %q, want %q", names, want)
	}
	names[0] = "changed"
	if got := redact.DefaultNames()[0]; got != "password" {
		t.Fatalf("DefaultNames()[0] = %q after a caller changed its copy, want password", got)
	}
	r := redact.New(testKey, nil)
	for _, n := range want {
		if !r.Sensitive(n) {
			t.Errorf("New(key, nil).Sensitive(%q) = false, want true", n)
		}
	}
}

func TestNewNames(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		yes   []string
		no    []string
	}{
		{"custom names only", []string{"ssn", "iban"}, []string{"ssn", "SSN", "userIban", "ssn_hash"}, []string{"password", "token", "email"}},
		{"names normalized", []string{"API_KEY", "Session-Id"}, []string{"apikey", "x-api-key", "sessionId", "SESSION_ID"}, []string{"key", "session", "password"}},
		{"empty names fall back to defaults", []string{"", "_", "-"}, []string{"password", "token"}, []string{"email"}},
		{"empty list falls back to defaults", []string{}, []string{"password", "cookie"}, []string{"email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := slices.Clone(tt.names)
			r := redact.New(testKey, names)
			if !reflect.DeepEqual(names, tt.names) {
				t.Fatalf("New changed its names: %q, want %q", names, tt.names)
			}
			for _, n := range tt.yes {
				if !r.Sensitive(n) {
					t.Errorf("Sensitive(%q) = false, want true", n)
				}
			}
			for _, n := range tt.no {
				if r.Sensitive(n) {
					t.Errorf("Sensitive(%q) = true, want false", n)
				}
			}
		})
	}
}

func TestNewCopiesKey(t *testing.T) {
	key := []byte("mutable-key")
	r := redact.New(key, nil)
	before := r.Hash("v")
	key[0] = 'X'
	if after := r.Hash("v"); after != before {
		t.Fatalf("Hash changed after the caller changed its key: %s, want %s", after, before)
	}
}

func TestSensitive(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"password", true},
		{"passwordConfirm", true},
		{"oldPassword", true},
		{"token", true},
		{"secret", true},
		{"key", true},
		{"otp", true},
		{"code", true},
		{"authorization", true},
		{"cookie", true},
		{"PASSWORD", true},
		{"PassWord", true},
		{"newPassword", true},
		{"new_password", true},
		{"api-key", true},
		{"api_key", true},
		{"X-Auth-Token", true},
		{"accessToken", true},
		{"Authorization", true},
		{"Set-Cookie", true},
		{"client_secret", true},
		{"pass_word", true},
		{"email", false},
		{"name", false},
		{"title", false},
		{"mode", false},
		{"", false},
		{"id", false},
	}
	r := newRedactor()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Sensitive(tt.name); got != tt.want {
				t.Fatalf("Sensitive(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestHash(t *testing.T) {
	const value = "s3cr3t-VALUE-1"
	r := newRedactor()
	h := r.Hash(value)

	t.Run("stable", func(t *testing.T) {
		if again := redact.New(testKey, []string{"other"}).Hash(value); again != h {
			t.Fatalf("Hash differs between calls with one key: %s, %s", h, again)
		}
	})
	t.Run("keyed", func(t *testing.T) {
		if other := redact.New([]byte("another-key"), nil).Hash(value); other == h {
			t.Fatalf("Hash is the same under two keys: %s", h)
		}
	})
	t.Run("prefix and form", func(t *testing.T) {
		rest, ok := strings.CutPrefix(h, "hmac-sha256:")
		if !ok {
			t.Fatalf("Hash = %s, want the hmac-sha256: prefix", h)
		}
		if len(rest) != 64 || strings.ToLower(rest) != rest {
			t.Fatalf("Hash = %s, want 64 lowercase hex digits after the prefix", h)
		}
	})
	t.Run("matches HMAC-SHA256", func(t *testing.T) {
		mac := hmac.New(sha256.New, testKey)
		mac.Write([]byte(value))
		want := "hmac-sha256:" + hex.EncodeToString(mac.Sum(nil))
		if h != want {
			t.Fatalf("Hash = %s, want %s", h, want)
		}
	})
	t.Run("value absent", func(t *testing.T) {
		if strings.Contains(h, value) {
			t.Fatalf("Hash(%q) = %s contains the value", value, h)
		}
	})
	t.Run("different values differ", func(t *testing.T) {
		if r.Hash("a") == r.Hash("b") || r.Hash("") == r.Hash(" ") {
			t.Fatal("two values share a hash")
		}
	})
}

func TestValue(t *testing.T) {
	r := newRedactor()
	h := r.Hash
	tests := []struct {
		name    string
		in      any
		want    any
		secrets []string
	}{
		{
			name:    "flat object",
			in:      map[string]any{"email": "ada@example.com", "password": "s3cr3t-VALUE-1"},
			want:    map[string]any{"email": "ada@example.com", "password": h("s3cr3t-VALUE-1")},
			secrets: []string{"s3cr3t-VALUE-1"},
		},
		{
			name: "nested depth 5",
			in: map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": map[string]any{
				"token": "s3cr3t-VALUE-2", "title": "kept",
			}}}}},
			want: map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": map[string]any{
				"token": h("s3cr3t-VALUE-2"), "title": "kept",
			}}}}},
			secrets: []string{"s3cr3t-VALUE-2"},
		},
		{
			name: "array of objects",
			in: map[string]any{"users": []any{
				map[string]any{"name": "a", "apiKey": "s3cr3t-VALUE-3"},
				map[string]any{"name": "b", "secret": "s3cr3t-VALUE-4"},
				"plain", float64(7),
			}},
			want: map[string]any{"users": []any{
				map[string]any{"name": "a", "apiKey": h("s3cr3t-VALUE-3")},
				map[string]any{"name": "b", "secret": h("s3cr3t-VALUE-4")},
				"plain", float64(7),
			}},
			secrets: []string{"s3cr3t-VALUE-3", "s3cr3t-VALUE-4"},
		},
		{
			name:    "array of objects at top level",
			in:      []any{map[string]any{"otp": "s3cr3t-VALUE-5"}, []any{map[string]any{"code": "s3cr3t-VALUE-6"}}},
			want:    []any{map[string]any{"otp": h("s3cr3t-VALUE-5")}, []any{map[string]any{"code": h("s3cr3t-VALUE-6")}}},
			secrets: []string{"s3cr3t-VALUE-5", "s3cr3t-VALUE-6"},
		},
		{
			name:    "array under a sensitive key",
			in:      map[string]any{"tokens": []any{"s3cr3t-VALUE-7", "s3cr3t-VALUE-8"}},
			want:    map[string]any{"tokens": h(`["s3cr3t-VALUE-7","s3cr3t-VALUE-8"]`)},
			secrets: []string{"s3cr3t-VALUE-7", "s3cr3t-VALUE-8"},
		},
		{
			name: "object under a sensitive key, keys sorted, no HTML escaping",
			in: map[string]any{"secret": map[string]any{
				"z": "s3cr3t-VALUE-9", "a": []any{true, nil}, "html": "<&>",
			}},
			want:    map[string]any{"secret": h(`{"a":[true,null],"html":"<&>","z":"s3cr3t-VALUE-9"}`)},
			secrets: []string{"s3cr3t-VALUE-9"},
		},
		{
			name: "number, bool and null under sensitive keys",
			in: map[string]any{
				"otp": float64(123456), "code": json.Number("987654321987654321"),
				"token": true, "password": nil, "mode": float64(2),
			},
			want: map[string]any{
				"otp": h("123456"), "code": h("987654321987654321"),
				"token": h("true"), "password": nil, "mode": float64(2),
			},
			secrets: []string{"123456", "987654321987654321"},
		},
		{
			name:    "number hashes like its text",
			in:      map[string]any{"otp": float64(424242)},
			want:    map[string]any{"otp": h("424242")},
			secrets: []string{"424242"},
		},
		{
			name: "mixed case keys",
			in: map[string]any{
				"PassWord": "s3cr3t-VALUE-10", "X-AUTH-TOKEN": "s3cr3t-VALUE-11",
				"EMAIL": "ADA@EXAMPLE.COM", "Access_Token": map[string]any{"v": "s3cr3t-VALUE-12"},
			},
			want: map[string]any{
				"PassWord": h("s3cr3t-VALUE-10"), "X-AUTH-TOKEN": h("s3cr3t-VALUE-11"),
				"EMAIL": "ADA@EXAMPLE.COM", "Access_Token": h(`{"v":"s3cr3t-VALUE-12"}`),
			},
			secrets: []string{"s3cr3t-VALUE-10", "s3cr3t-VALUE-11", "s3cr3t-VALUE-12"},
		},
		{
			name:    "unicode values",
			in:      map[string]any{"password": "pässwörd-秘密-🔑", "name": "Zoë 山田"},
			want:    map[string]any{"password": h("pässwörd-秘密-🔑"), "name": "Zoë 山田"},
			secrets: []string{"pässwörd-秘密-🔑", "秘密"},
		},
		{
			name:    "empty string under a sensitive key is hashed",
			in:      map[string]any{"password": ""},
			want:    map[string]any{"password": h("")},
			secrets: nil,
		},
		{
			name: "scalars without a key are kept",
			in:   []any{"s", float64(1.5), true, nil, json.Number("12")},
			want: []any{"s", float64(1.5), true, nil, json.Number("12")},
		},
		{
			name: "empty containers",
			in:   map[string]any{"a": map[string]any{}, "b": []any{}},
			want: map[string]any{"a": map[string]any{}, "b": []any{}},
		},
		{name: "nil", in: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Value(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Value(%#v)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
			assertAbsent(t, got, tt.secrets...)
		})
	}
}

func TestValueOtherTypes(t *testing.T) {
	type login struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Retries  int    `json:"retries"`
	}
	r := newRedactor()
	tests := []struct {
		name string
		in   any
		want any
	}{
		{
			name: "map[string]string",
			in:   map[string]string{"email": "a@b.c", "token": "s3cr3t-VALUE-20"},
			want: map[string]any{"email": "a@b.c", "token": r.Hash("s3cr3t-VALUE-20")},
		},
		{
			name: "struct",
			in:   login{Email: "a@b.c", Password: "s3cr3t-VALUE-21", Retries: 3},
			want: map[string]any{"email": "a@b.c", "password": r.Hash("s3cr3t-VALUE-21"), "retries": json.Number("3")},
		},
		{
			name: "typed slice under a sensitive key",
			in:   map[string]any{"codes": []string{"s3cr3t-VALUE-22"}},
			want: map[string]any{"codes": r.Hash(`["s3cr3t-VALUE-22"]`)},
		},
		{
			name: "not encodable",
			in:   map[string]any{"ch": make(chan int)},
			want: map[string]any{"ch": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Value(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Value(%#v)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
			assertAbsent(t, got, "s3cr3t-VALUE")
		})
	}
}

func TestValues(t *testing.T) {
	r := newRedactor()
	h := r.Hash
	tests := []struct {
		name    string
		raw     string // a query string or urlencoded form
		want    map[string]any
		secrets []string
	}{
		{
			name:    "query string",
			raw:     "page=2&token=s3cr3t-VALUE-30&sort=-created",
			want:    map[string]any{"page": []any{"2"}, "token": []any{h("s3cr3t-VALUE-30")}, "sort": []any{"-created"}},
			secrets: []string{"s3cr3t-VALUE-30"},
		},
		{
			name: "repeated keys",
			raw:  "tag=a&tag=b&api_key=s3cr3t-VALUE-31&api_key=s3cr3t-VALUE-32&api_key=",
			want: map[string]any{
				"tag":     []any{"a", "b"},
				"api_key": []any{h("s3cr3t-VALUE-31"), h("s3cr3t-VALUE-32"), h("")},
			},
			secrets: []string{"s3cr3t-VALUE-31", "s3cr3t-VALUE-32"},
		},
		{
			name: "mixed case keys",
			raw:  "PASSWORD=s3cr3t-VALUE-33&Email=ada%40example.com&X-Auth-Token=s3cr3t-VALUE-34&Mode=read",
			want: map[string]any{
				"PASSWORD":     []any{h("s3cr3t-VALUE-33")},
				"Email":        []any{"ada@example.com"},
				"X-Auth-Token": []any{h("s3cr3t-VALUE-34")},
				"Mode":         []any{"read"},
			},
			secrets: []string{"s3cr3t-VALUE-33", "s3cr3t-VALUE-34"},
		},
		{
			name:    "urlencoded form with escapes",
			raw:     "newPassword=s3cr3t+VALUE%2635&name=Zo%C3%AB",
			want:    map[string]any{"newPassword": []any{h("s3cr3t VALUE&35")}, "name": []any{"Zoë"}},
			secrets: []string{"s3cr3t VALUE", "VALUE\\u002635", "VALUE&35"},
		},
		{name: "empty", raw: "", want: map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.raw)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.raw, err)
			}
			got := r.Values(v)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Values(%v)\n got %#v\nwant %#v", v, got, tt.want)
			}
			assertAbsent(t, got, tt.secrets...)
		})
	}
	t.Run("nil", func(t *testing.T) {
		if got := r.Values(nil); len(got) != 0 {
			t.Fatalf("Values(nil) = %#v, want an empty map", got)
		}
	})
}

// part is one part of a test multipart body; a part with a filename is a
// file.
type part struct {
	field, filename, contentType, content string
}

// multipartBody builds a multipart/form-data body and its content type.
func multipartBody(t testing.TB, parts ...part) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.filename != "" {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.field, p.filename))
		} else {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p.field))
		}
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatalf("CreatePart: %v", err)
		}
		if _, err := io.WriteString(pw, p.content); err != nil {
			t.Fatalf("write part: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close multipart writer: %v", err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

func TestBody(t *testing.T) {
	r := newRedactor()
	h := r.Hash

	fileA := "FILE-CONTENT-A " + strings.Repeat("0123456789", 300) // 3015 bytes
	fileB := "FILE-CONTENT-B\x00\x01\x02 binary"
	mpCT, mpBody := multipartBody(t,
		part{field: "title", content: "Quarterly report"},
		part{field: "tags", content: "a"},
		part{field: "tags", content: "b"},
		part{field: "documents", filename: "report.pdf", contentType: "application/pdf", content: fileA},
		part{field: "documents", filename: "raw.bin", contentType: "application/octet-stream", content: fileB},
	)
	sensCT, sensBody := multipartBody(t,
		part{field: "email", content: "ada@example.com"},
		part{field: "password", content: "s3cr3t-VALUE-40"},
		part{field: "passwordConfirm", content: "s3cr3t-VALUE-40"},
		part{field: "avatar", filename: "me.png", contentType: "image/png", content: "PNG-CONTENT-s3cr3t"},
	)
	truncCT, truncBody := multipartBody(t, part{field: "avatar", filename: "a.png", content: "FILE-CONTENT-C" + strings.Repeat("x", 100)})
	truncBody = truncBody[:len(truncBody)-40]
	boundary := func(ct string) string {
		_, p, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("ParseMediaType(%q): %v", ct, err)
		}
		return p["boundary"]
	}

	tests := []struct {
		name        string
		contentType string
		body        []byte
		want        any
		secrets     []string
	}{
		{
			name:        "json",
			contentType: "application/json",
			body:        []byte(`{"email":"ada@example.com","password":"s3cr3t-VALUE-41","profile":{"tokens":[{"accessToken":"s3cr3t-VALUE-42"}],"age":36}}`),
			want: map[string]any{
				"email":    "ada@example.com",
				"password": h("s3cr3t-VALUE-41"),
				"profile":  map[string]any{"tokens": h(`[{"accessToken":"s3cr3t-VALUE-42"}]`), "age": json.Number("36")},
			},
			secrets: []string{"s3cr3t-VALUE-41", "s3cr3t-VALUE-42"},
		},
		{
			name:        "json with charset, numbers exact",
			contentType: "Application/JSON; charset=utf-8",
			body:        []byte(`{"otp": 12345678901234567890, "count": 1.50}`),
			want:        map[string]any{"otp": h("12345678901234567890"), "count": json.Number("1.50")},
			secrets:     []string{"12345678901234567890"},
		},
		{
			name:        "+json type",
			contentType: "application/merge-patch+json",
			body:        []byte(`{"secret":"s3cr3t-VALUE-43"}`),
			want:        map[string]any{"secret": h("s3cr3t-VALUE-43")},
			secrets:     []string{"s3cr3t-VALUE-43"},
		},
		{
			name:        "json array",
			contentType: "application/json",
			body:        []byte(`[{"key":"s3cr3t-VALUE-44"},"x"]`),
			want:        []any{map[string]any{"key": h("s3cr3t-VALUE-44")}, "x"},
			secrets:     []string{"s3cr3t-VALUE-44"},
		},
		{
			name:        "invalid json",
			contentType: "application/json",
			body:        []byte(`{"password":"s3cr3t-VALUE-45"`),
			want:        map[string]any{"invalidJson": true, "size": 29},
			secrets:     []string{"s3cr3t-VALUE-45"},
		},
		{
			name:        "json with trailing data",
			contentType: "application/json",
			body:        []byte(`{"a":1} {"password":"s3cr3t-VALUE-46"}`),
			want:        map[string]any{"invalidJson": true, "size": 38},
			secrets:     []string{"s3cr3t-VALUE-46"},
		},
		{
			name:        "urlencoded",
			contentType: "application/x-www-form-urlencoded",
			body:        []byte("identity=ada%40example.com&password=s3cr3t-VALUE-47&password=s3cr3t-VALUE-48"),
			want: map[string]any{
				"identity": []any{"ada@example.com"},
				"password": []any{h("s3cr3t-VALUE-47"), h("s3cr3t-VALUE-48")},
			},
			secrets: []string{"s3cr3t-VALUE-47", "s3cr3t-VALUE-48"},
		},
		{
			name:        "invalid urlencoded",
			contentType: "application/x-www-form-urlencoded",
			body:        []byte("password=s3cr3t-VALUE-49%zz"),
			want:        map[string]any{"invalidForm": true, "size": 27},
			secrets:     []string{"s3cr3t-VALUE-49"},
		},
		{
			name:        "multipart with fields and two files",
			contentType: mpCT,
			body:        mpBody,
			want: map[string]any{
				"fields": map[string]any{"title": []any{"Quarterly report"}, "tags": []any{"a", "b"}},
				"files": map[string]any{"documents": []any{
					map[string]any{"name": "report.pdf", "size": int64(3015), "type": "application/pdf"},
					map[string]any{"name": "raw.bin", "size": int64(len(fileB)), "type": "application/octet-stream"},
				}},
			},
			secrets: []string{"FILE-CONTENT", "0123456789"},
		},
		{
			name:        "multipart with a sensitive field",
			contentType: sensCT,
			body:        sensBody,
			want: map[string]any{
				"fields": map[string]any{
					"email":           []any{"ada@example.com"},
					"password":        []any{h("s3cr3t-VALUE-40")},
					"passwordConfirm": []any{h("s3cr3t-VALUE-40")},
				},
				"files": map[string]any{"avatar": []any{
					map[string]any{"name": "me.png", "size": int64(18), "type": "image/png"},
				}},
			},
			secrets: []string{"s3cr3t-VALUE-40", "PNG-CONTENT"},
		},
		{
			name:        "multipart without parts",
			contentType: "multipart/form-data; boundary=xyz",
			body:        []byte("--xyz--\r\n"),
			want:        map[string]any{"fields": map[string]any{}, "files": map[string]any{}},
		},
		{
			name:        "malformed multipart: no boundary parameter",
			contentType: "multipart/form-data",
			body:        mpBody,
			want:        map[string]any{"invalidMultipart": true, "size": len(mpBody)},
			secrets:     []string{"FILE-CONTENT", "Quarterly"},
		},
		{
			name:        "malformed multipart: bad parameters",
			contentType: "multipart/form-data; boundary",
			body:        mpBody,
			want:        map[string]any{"invalidMultipart": true, "size": len(mpBody)},
		},
		{
			name:        "malformed multipart: wrong boundary",
			contentType: "multipart/form-data; boundary=not-the-boundary",
			body:        mpBody,
			want:        map[string]any{"invalidMultipart": true, "size": len(mpBody)},
			secrets:     []string{"FILE-CONTENT", "Quarterly"},
		},
		{
			name:        "malformed multipart: truncated",
			contentType: truncCT,
			body:        truncBody,
			want:        map[string]any{"invalidMultipart": true, "size": len(truncBody)},
			secrets:     []string{"FILE-CONTENT"},
		},
		{
			name:        "malformed multipart: garbage",
			contentType: "multipart/form-data; boundary=" + boundary(mpCT),
			body:        []byte("password=s3cr3t-VALUE-50"),
			want:        map[string]any{"invalidMultipart": true, "size": 24},
			secrets:     []string{"s3cr3t-VALUE-50"},
		},
		{name: "empty body", contentType: "application/json", body: []byte{}, want: nil},
		{name: "nil body", contentType: "multipart/form-data", body: nil, want: nil},
		{
			name:        "text/plain",
			contentType: "text/plain; charset=utf-8",
			body:        []byte("password=s3cr3t-VALUE-51"),
			want:        map[string]any{"size": 24, "type": "text/plain; charset=utf-8"},
			secrets:     []string{"s3cr3t-VALUE-51"},
		},
		{
			name:        "application/octet-stream",
			contentType: "application/octet-stream",
			body:        []byte("\x00\x01s3cr3t-VALUE-52"),
			want:        map[string]any{"size": 17, "type": "application/octet-stream"},
			secrets:     []string{"s3cr3t-VALUE-52"},
		},
		{
			name:        "no content type",
			contentType: "",
			body:        []byte(`{"password":"s3cr3t-VALUE-53"}`),
			want:        map[string]any{"size": 30, "type": ""},
			secrets:     []string{"s3cr3t-VALUE-53"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Body(tt.contentType, tt.body)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Body(%q, %q)\n got %#v\nwant %#v", tt.contentType, tt.body, got, tt.want)
			}
			assertAbsent(t, got, tt.secrets...)
		})
	}
}

func TestNoMutation(t *testing.T) {
	r := newRedactor()

	values := []struct {
		name string
		in   any
	}{
		{"object", map[string]any{
			"password": "s3cr3t-VALUE-60",
			"nested":   map[string]any{"deep": map[string]any{"token": map[string]any{"v": "s3cr3t-VALUE-61"}, "ok": []any{1.0, "x"}}},
			"list":     []any{map[string]any{"apiKey": "s3cr3t-VALUE-62"}, []any{map[string]any{"code": 1.0}}},
		}},
		{"array", []any{map[string]any{"secret": []any{"a", "b"}}, "s", nil}},
	}
	for _, tt := range values {
		t.Run("Value/"+tt.name, func(t *testing.T) {
			before := deepCopy(tt.in)
			out := r.Value(tt.in)
			if !reflect.DeepEqual(tt.in, before) {
				t.Fatalf("Value modified its input:\n got %#v\nwant %#v", tt.in, before)
			}
			// The result shares no map or slice with the input.
			scribble(out)
			if !reflect.DeepEqual(tt.in, before) {
				t.Fatalf("changing Value's result changed its input:\n got %#v\nwant %#v", tt.in, before)
			}
		})
	}

	t.Run("Values", func(t *testing.T) {
		in := url.Values{"password": {"s3cr3t-VALUE-63", "x"}, "tag": {"a", "b"}}
		before := copyValues(in)
		out := r.Values(in)
		if !reflect.DeepEqual(in, before) {
			t.Fatalf("Values modified its input: %v, want %v", in, before)
		}
		scribble(out)
		if !reflect.DeepEqual(in, before) {
			t.Fatalf("changing Values' result changed its input: %v, want %v", in, before)
		}
	})

	mpCT, mpBody := multipartBody(t,
		part{field: "password", content: "s3cr3t-VALUE-64"},
		part{field: "file", filename: "f.txt", content: "FILE-CONTENT-D"},
	)
	bodies := []struct {
		name, contentType string
		body              []byte
	}{
		{"json", "application/json", []byte(`{"password":"s3cr3t-VALUE-65","a":{"token":[1,2]}}`)},
		{"invalid json", "application/json", []byte(`{"password":`)},
		{"urlencoded", "application/x-www-form-urlencoded", []byte("password=s3cr3t-VALUE-66&a=b")},
		{"multipart", mpCT, mpBody},
		{"other", "text/plain", []byte("hello")},
	}
	for _, tt := range bodies {
		t.Run("Body/"+tt.name, func(t *testing.T) {
			before := bytes.Clone(tt.body)
			r.Body(tt.contentType, tt.body)
			if !bytes.Equal(tt.body, before) {
				t.Fatalf("Body modified its input:\n got %q\nwant %q", tt.body, before)
			}
		})
	}
}

// scribble changes every map and slice of decoded JSON data in place.
func scribble(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			scribble(e)
			v[k] = "scribbled"
		}
		v["scribbled"] = true
	case []any:
		for i, e := range v {
			scribble(e)
			v[i] = "scribbled"
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	r := newRedactor()
	in := map[string]any{"password": "s3cr3t-VALUE-70", "a": map[string]any{"token": "t", "list": []any{map[string]any{"key": 1.0}}}}
	want := r.Value(in)
	body := []byte(`{"password":"s3cr3t-VALUE-71","n":1}`)
	wantBody := r.Body("application/json", body)

	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got := r.Value(in); !reflect.DeepEqual(got, want) {
					errs <- fmt.Sprintf("Value = %#v, want %#v", got, want)
					return
				}
				if got := r.Body("application/json", body); !reflect.DeepEqual(got, wantBody) {
					errs <- fmt.Sprintf("Body = %#v, want %#v", got, wantBody)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// isJSONType reports whether Body treats contentType as JSON: a subset of
// its rule, enough for the fuzz invariant.
func isJSONType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// secretsOf collects every string at or under a sensitive key of v.
func secretsOf(r *redact.Redactor, v any, under bool, out *[]string) {
	switch v := v.(type) {
	case string:
		if under {
			*out = append(*out, v)
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

// public is v with every value under a sensitive key replaced by null: all
// that a redacted copy may show besides hashes.
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

// unhash replaces, in place, every string that starts like a hash with "#",
// so that a secret that happens to be a piece of a hash is not reported.
func unhash(v any) any {
	switch v := v.(type) {
	case string:
		if strings.HasPrefix(v, "hmac-sha256:") {
			return "#"
		}
	case map[string]any:
		for k, e := range v {
			v[k] = unhash(e)
		}
	case []any:
		for i, e := range v {
			v[i] = unhash(e)
		}
	}
	return v
}

func FuzzBody(f *testing.F) {
	f.Add("application/json", []byte(`{"password":"s3cr3t-VALUE-80","email":"a@b.c"}`))
	f.Add("application/json", []byte(`{"a":{"b":[{"X-Auth-Token":"s3cr3t-VALUE-81"},{"otp":123456789}]}}`))
	f.Add("application/json", []byte(`{"secret":{"k":"s3cr3t-VALUE-82"},"password":null}`))
	f.Add("application/vnd.api+json; charset=utf-8", []byte(`[{"key":"s3cr3t-VALUE-83"}]`))
	f.Add("application/json", []byte(`{"password":`))
	f.Add("application/x-www-form-urlencoded", []byte("password=s3cr3t-VALUE-84&a=1&a=2"))
	f.Add("application/x-www-form-urlencoded", []byte("a=%zz"))
	mpCT, mpBody := multipartBody(f,
		part{field: "password", content: "s3cr3t-VALUE-85"},
		part{field: "file", filename: "f.txt", contentType: "text/plain", content: "FILE-CONTENT-E"},
	)
	f.Add(mpCT, mpBody)
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b--\r\n"))
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\ngarbage"))
	f.Add("text/plain", []byte("hello"))
	f.Add("", []byte{})

	r := newRedactor()
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		before := bytes.Clone(body)
		got := r.Body(contentType, body)
		if !bytes.Equal(body, before) {
			t.Fatalf("Body modified its input: %q, want %q", body, before)
		}
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("json.Marshal(Body(%q, %q)) = %v", contentType, body, err)
		}
		if !isJSONType(contentType) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var in any
		if dec.Decode(&in) != nil || dec.Decode(new(any)) != io.EOF {
			return
		}
		var secrets []string
		secretsOf(r, in, false, &secrets)
		pub := mustJSON(t, unhash(public(r, in)))
		outP := mustJSON(t, unhash(got))
		for _, s := range secrets {
			if len(s) < 8 {
				continue
			}
			enc := mustJSON(t, s)
			enc = enc[1 : len(enc)-1]
			// A secret that also shows as a key or a kept value is not a leak.
			if strings.Contains(pub, enc) {
				continue
			}
			if strings.Contains(outP, enc) {
				t.Fatalf("secret %q appears in %s (body %q)", s, out, body)
			}
		}
	})
}

func ExampleRedactor_Value() {
	r := redact.New([]byte("example-key"), nil)
	out := r.Value(map[string]any{
		"email":    "ada@example.com",
		"password": "hunter2",
	})
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	// Output:
	// {"email":"ada@example.com","password":"hmac-sha256:39f87a9fcfc6df58326c15228c4d8a2770ea5109a44e344a7f9195fce71bdb82"}
}

func ExampleRedactor_Body() {
	r := redact.New([]byte("example-key"), nil)
	out := r.Body("application/x-www-form-urlencoded", []byte("identity=ada%40example.com&otp=123456"))
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	// Output:
	// {"identity":["ada@example.com"],"otp":["hmac-sha256:64f522f787ee8acdd23ee1d5a42b8e54b3ae92e3b0dae3af20485c1763d31e93"]}
}

func BenchmarkBodyJSON(b *testing.B) {
	body := []byte(`{
  "email": "ada.lovelace@example.com",
  "emailVisibility": false,
  "name": "Ada Lovelace",
  "password": "correct-horse-battery-staple",
  "passwordConfirm": "correct-horse-battery-staple",
  "oldPassword": "tr0ub4dor&3",
  "avatar": null,
  "role": "support",
  "profile": {
    "title": "Analyst",
    "bio": "Writes notes on the Analytical Engine and reviews impersonation audits.",
    "address": {"street": "12 St James's Square", "city": "London", "postcode": "SW1Y 4JH", "country": "GB"},
    "preferences": {"theme": "dark", "language": "en-GB", "notifications": {"email": true, "sms": false}}
  },
  "devices": [
    {"id": "dev_01", "platform": "ios", "pushToken": "f1e2d3c4b5a697887766554433221100"},
    {"id": "dev_02", "platform": "web", "pushToken": "00112233445566778899aabbccddeeff"}
  ],
  "integrations": [
    {"provider": "github", "apiKey": "ghp_abcdefghijklmnopqrstuvwxyz012345", "scopes": ["repo", "read:org"]},
    {"provider": "slack", "webhook": "https://hooks.example.com/services/T000/B000/XXXX", "enabled": true}
  ],
  "tags": ["vip", "beta", "early-adopter"],
  "loginCount": 42,
  "lastLogin": "2026-11-21 12:00:00.000Z",
  "otp": 123456,
  "mode": "read"
}`)
	if len(body) < 900 || len(body) > 1300 {
		b.Fatalf("benchmark body is %d bytes, want about 1 KB", len(body))
	}
	r := newRedactor()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r.Body("application/json", body)
	}
}
