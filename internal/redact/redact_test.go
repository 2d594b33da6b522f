package redact_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pbimpersonation/impersonation/internal/redact"
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
		{"paſſword", true},   // long s: encoding/json/v2 binds it to a password field
		{"to\u212Aen", true}, // Kelvin sign
		{"ſecret", true},     // long s
		{"PASS-WORD", true},
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

// sec is a secret long enough to be kept as a keyed hash, numbered so that
// every test value differs.
func sec(n int) string { return fmt.Sprintf("s3cr3t-VALUE-%02d-long-enough", n) }

func TestGuessableSecretsKeepNoHash(t *testing.T) {
	r := newRedactor()
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"a 6-digit code", "123456", redact.Redacted},
		{"a short password", "hunter2", redact.Redacted},
		{"one character under MinHashed", strings.Repeat("x", redact.MinHashed-1), redact.Redacted},
		{"many bytes, few characters", strings.Repeat("秘", redact.MinHashed-1), redact.Redacted},
		{"an empty string", "", redact.Redacted},
		{"digits only, however long", strings.Repeat("7", 40), redact.Redacted},
		{"a number", float64(123456), redact.Redacted},
		{"a JSON number", json.Number("98765432109876543210"), redact.Redacted},
		{"a bool", true, redact.Redacted},
		{"an object", map[string]any{"v": sec(1)}, redact.Redacted},
		{"an array", []any{sec(2), sec(3)}, redact.Redacted},
		{"null stays null", nil, nil},
		{"MinHashed characters", strings.Repeat("x", redact.MinHashed), r.Hash(strings.Repeat("x", redact.MinHashed))},
		{"MinHashed characters, one not a digit", strings.Repeat("7", redact.MinHashed-1) + "a", r.Hash(strings.Repeat("7", redact.MinHashed-1) + "a")},
		{"a long token", "ghp_abcdefghijklmnopqrstuvwxyz012345", r.Hash("ghp_abcdefghijklmnopqrstuvwxyz012345")},
		{"a long multibyte password", "pässwörd-秘密-🔑-pässwörd", r.Hash("pässwörd-秘密-🔑-pässwörd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Value(map[string]any{"password": tt.in})
			want := map[string]any{"password": tt.want}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Value(password: %#v)\n got %#v\nwant %#v", tt.in, got, want)
			}
		})
	}
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
			in:      map[string]any{"email": "ada@example.com", "password": sec(1)},
			want:    map[string]any{"email": "ada@example.com", "password": h(sec(1))},
			secrets: []string{sec(1)},
		},
		{
			name: "nested depth 5",
			in: map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": map[string]any{
				"token": sec(2), "title": "kept",
			}}}}},
			want: map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": map[string]any{
				"token": h(sec(2)), "title": "kept",
			}}}}},
			secrets: []string{sec(2)},
		},
		{
			name: "array of objects",
			in: map[string]any{"users": []any{
				map[string]any{"name": "a", "apiKey": sec(3)},
				map[string]any{"name": "b", "secret": sec(4)},
				"plain", float64(7),
			}},
			want: map[string]any{"users": []any{
				map[string]any{"name": "a", "apiKey": h(sec(3))},
				map[string]any{"name": "b", "secret": h(sec(4))},
				"plain", float64(7),
			}},
			secrets: []string{sec(3), sec(4)},
		},
		{
			name:    "array of objects at top level",
			in:      []any{map[string]any{"otp": "123456"}, []any{map[string]any{"code": sec(6)}}},
			want:    []any{map[string]any{"otp": redact.Redacted}, []any{map[string]any{"code": h(sec(6))}}},
			secrets: []string{"123456", sec(6)},
		},
		{
			name:    "array under a sensitive key",
			in:      map[string]any{"tokens": []any{sec(7), sec(8)}},
			want:    map[string]any{"tokens": redact.Redacted},
			secrets: []string{sec(7), sec(8)},
		},
		{
			name:    "object under a sensitive key",
			in:      map[string]any{"secret": map[string]any{"z": sec(9), "a": []any{true, nil}}},
			want:    map[string]any{"secret": redact.Redacted},
			secrets: []string{sec(9)},
		},
		{
			name: "number, bool and null under sensitive keys",
			in: map[string]any{
				"otp": float64(123456), "code": json.Number("987654321987654321"),
				"token": true, "password": nil, "mode": float64(2),
			},
			want: map[string]any{
				"otp": redact.Redacted, "code": redact.Redacted,
				"token": redact.Redacted, "password": nil, "mode": float64(2),
			},
			secrets: []string{"123456", "987654321987654321"},
		},
		{
			name: "mixed case and folded keys",
			in: map[string]any{
				"PassWord": sec(10), "X-AUTH-TOKEN": sec(11), "paſſword": sec(13), "to\u212Aen": sec(14),
				"EMAIL": "ADA@EXAMPLE.COM", "Access_Token": map[string]any{"v": sec(12)},
			},
			want: map[string]any{
				"PassWord": h(sec(10)), "X-AUTH-TOKEN": h(sec(11)), "paſſword": h(sec(13)), "to\u212Aen": h(sec(14)),
				"EMAIL": "ADA@EXAMPLE.COM", "Access_Token": redact.Redacted,
			},
			secrets: []string{sec(10), sec(11), sec(12), sec(13), sec(14)},
		},
		{
			name:    "a string that is a JSON object holding a sensitive key",
			in:      map[string]any{"meta": `{"apiToken":"` + sec(15) + `","pin":"1234","theme":"dark","list":[{"otp":"1234"}]}`},
			want:    map[string]any{"meta": `{"apiToken":"` + h(sec(15)) + `","list":[{"otp":"[redacted]"}],"pin":"1234","theme":"dark"}`},
			secrets: []string{sec(15)},
		},
		{
			name:    "a string that is a JSON array holding one, nested in a string",
			in:      map[string]any{"meta": `  [{"note":"{\"password\":\"` + sec(16) + `\"}"}]`},
			want:    map[string]any{"meta": `[{"note":"{\"password\":\"` + h(sec(16)) + `\"}"}]`},
			secrets: []string{sec(16)},
		},
		{
			name: "JSON strings without a sensitive key are kept as sent",
			in:   map[string]any{"meta": `{ "theme": "dark" }`, "tags": `["a", "b"]`, "bad": `{"password":`},
			want: map[string]any{"meta": `{ "theme": "dark" }`, "tags": `["a", "b"]`, "bad": `{"password":`},
		},
		{
			name:    "unicode values",
			in:      map[string]any{"password": "pässwörd-秘密-🔑", "name": "Zoë 山田"},
			want:    map[string]any{"password": redact.Redacted, "name": "Zoë 山田"},
			secrets: []string{"pässwörd-秘密-🔑", "秘密"},
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
			in:   map[string]string{"email": "a@b.c", "token": sec(20)},
			want: map[string]any{"email": "a@b.c", "token": r.Hash(sec(20))},
		},
		{
			name: "struct",
			in:   login{Email: "a@b.c", Password: sec(21), Retries: 3},
			want: map[string]any{"email": "a@b.c", "password": r.Hash(sec(21)), "retries": json.Number("3")},
		},
		{
			name: "typed slice under a sensitive key",
			in:   map[string]any{"codes": []string{sec(22)}},
			want: map[string]any{"codes": redact.Redacted},
		},
		{
			name: "not encodable",
			in:   map[string]any{"ch": make(chan int)},
			want: map[string]any{"ch": nil},
		},
		{
			name: "a NaN is summarized, never kept",
			in:   map[string]any{"n": math.NaN()},
			want: map[string]any{"unencodable": true},
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
			raw:     "page=2&token=" + sec(30) + "&sort=-created",
			want:    map[string]any{"page": []any{"2"}, "token": []any{h(sec(30))}, "sort": []any{"-created"}},
			secrets: []string{sec(30)},
		},
		{
			name: "repeated keys",
			raw:  "tag=a&tag=b&api_key=" + sec(31) + "&api_key=" + sec(32) + "&api_key=",
			want: map[string]any{
				"tag":     []any{"a", "b"},
				"api_key": []any{h(sec(31)), h(sec(32)), redact.Redacted},
			},
			secrets: []string{sec(31), sec(32)},
		},
		{
			name: "mixed case keys",
			raw:  "PASSWORD=" + sec(33) + "&Email=ada%40example.com&X-Auth-Token=" + sec(34) + "&Mode=read",
			want: map[string]any{
				"PASSWORD":     []any{h(sec(33))},
				"Email":        []any{"ada@example.com"},
				"X-Auth-Token": []any{h(sec(34))},
				"Mode":         []any{"read"},
			},
			secrets: []string{sec(33), sec(34)},
		},
		{
			name:    "urlencoded form with escapes",
			raw:     "newPassword=s3cr3t+VALUE%2635-long-enough&name=Zo%C3%AB",
			want:    map[string]any{"newPassword": []any{h("s3cr3t VALUE&35-long-enough")}, "name": []any{"Zoë"}},
			secrets: []string{"s3cr3t VALUE", "VALUE\\u002635", "VALUE&35"},
		},
		{
			name: "@jsonPayload values are read as the JSON PocketBase merges into the form",
			raw: "title=x&@jsonPayload=" + url.QueryEscape(`{"password":"`+sec(35)+`","passwordConfirm":"`+sec(35)+`","pin":"4321","profile":{"apiToken":"`+sec(36)+`"}}`) +
				"&@jsonPayload=" + url.QueryEscape(`{"otp":"123456"} trailing bytes`),
			want: map[string]any{
				"title": []any{"x"},
				"@jsonPayload": []any{
					map[string]any{"password": h(sec(35)), "passwordConfirm": h(sec(35)), "pin": "4321", "profile": map[string]any{"apiToken": h(sec(36))}},
					map[string]any{"otp": redact.Redacted},
				},
			},
			secrets: []string{sec(35), sec(36), "123456", "trailing"},
		},
		{
			name:    "an @jsonPayload that is not JSON is kept by its size only",
			raw:     "@jsonPayload=" + url.QueryEscape(`{"password":"`+sec(37)+`"`),
			want:    map[string]any{"@jsonPayload": []any{map[string]any{"invalidJson": true, "size": len(`{"password":"` + sec(37) + `"`)}}},
			secrets: []string{sec(37)},
		},
		{
			name:    "a value that is a JSON object holding a sensitive key",
			raw:     "meta=" + url.QueryEscape(`{"secret":"`+sec(38)+`"}`),
			want:    map[string]any{"meta": []any{`{"secret":"` + h(sec(38)) + `"}`}},
			secrets: []string{sec(38)},
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
		part{field: "documents", filename: "raw.bin", contentType: "application/octet-stream; token=" + sec(39), content: fileB},
	)
	sensCT, sensBody := multipartBody(t,
		part{field: "email", content: "ada@example.com"},
		part{field: "password", content: sec(40)},
		part{field: "passwordConfirm", content: sec(40)},
		part{field: "avatar", filename: "me.png", contentType: "image/png", content: "PNG-CONTENT-s3cr3t"},
	)
	// What the JS SDK sends when a file is attached: every other field in
	// one @jsonPayload; a client may send several.
	sdkCT, sdkBody := multipartBody(t,
		part{field: "@jsonPayload", content: `{"name":"Ada","password":"` + sec(41) + `","passwordConfirm":"` + sec(41) + `","apiToken":"` + sec(42) + `"}`},
		part{field: "@jsonPayload", content: `{"profile":{"otp":"654321"},"mode":"x"}`},
		part{field: "avatar", filename: "me.png", contentType: "image/png", content: "PNG"},
	)
	badPayloadCT, badPayloadBody := multipartBody(t, part{field: "@jsonPayload", content: `{"password":"` + sec(43) + `"`})
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
			body:        []byte(`{"email":"ada@example.com","password":"` + sec(44) + `","profile":{"tokens":[{"accessToken":"` + sec(45) + `"}],"age":36}}`),
			want: map[string]any{
				"email":    "ada@example.com",
				"password": h(sec(44)),
				"profile":  map[string]any{"tokens": redact.Redacted, "age": json.Number("36")},
			},
			secrets: []string{sec(44), sec(45)},
		},
		{
			name:        "json with charset, numbers exact",
			contentType: "Application/JSON; charset=utf-8",
			body:        []byte(`{"otp": 12345678901234567890, "count": 1.50}`),
			want:        map[string]any{"otp": redact.Redacted, "count": json.Number("1.50")},
			secrets:     []string{"12345678901234567890"},
		},
		{
			name:        "json with trailing bytes: the first value, as PocketBase reads it",
			contentType: "application/json; charset=utf-8",
			body:        []byte(`{"password":"` + sec(46) + `"} {"password":"` + sec(47) + `"}garbage`),
			want:        map[string]any{"password": h(sec(46))},
			secrets:     []string{sec(46), sec(47), "garbage"},
		},
		{
			name:        "a type that only starts like application/json",
			contentType: "application/jsonx;;",
			body:        []byte(`{"secret":"` + sec(48) + `"}`),
			want:        map[string]any{"secret": h(sec(48))},
			secrets:     []string{sec(48)},
		},
		{
			name:        "+json type",
			contentType: "application/merge-patch+json",
			body:        []byte(`{"secret":"` + sec(49) + `"}`),
			want:        map[string]any{"secret": h(sec(49))},
			secrets:     []string{sec(49)},
		},
		{
			name:        "json array",
			contentType: "application/json",
			body:        []byte(`[{"key":"` + sec(50) + `"},"x"]`),
			want:        []any{map[string]any{"key": h(sec(50))}, "x"},
			secrets:     []string{sec(50)},
		},
		{
			name:        "invalid json",
			contentType: "application/json",
			body:        []byte(`{"password":"` + sec(51) + `"`),
			want:        map[string]any{"invalidJson": true, "size": 41},
			secrets:     []string{sec(51)},
		},
		{
			name:        "urlencoded",
			contentType: "application/x-www-form-urlencoded",
			body:        []byte("identity=ada%40example.com&password=" + sec(52) + "&password=" + sec(53)),
			want: map[string]any{
				"identity": []any{"ada@example.com"},
				"password": []any{h(sec(52)), h(sec(53))},
			},
			secrets: []string{sec(52), sec(53)},
		},
		{
			name:        "urlencoded with @jsonPayload",
			contentType: "application/x-www-form-urlencoded; charset=utf-8",
			body:        []byte("@jsonPayload=" + url.QueryEscape(`{"password":"`+sec(54)+`"}`)),
			want:        map[string]any{"@jsonPayload": []any{map[string]any{"password": h(sec(54))}}},
			secrets:     []string{sec(54)},
		},
		{
			name:        "invalid urlencoded",
			contentType: "application/x-www-form-urlencoded",
			body:        []byte("password=" + sec(55) + "%zz"),
			want:        map[string]any{"invalidForm": true, "size": 39},
			secrets:     []string{sec(55)},
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
			secrets: []string{"FILE-CONTENT", "0123456789", sec(39)},
		},
		{
			name:        "multipart with sensitive fields",
			contentType: sensCT,
			body:        sensBody,
			want: map[string]any{
				"fields": map[string]any{
					"email":           []any{"ada@example.com"},
					"password":        []any{h(sec(40))},
					"passwordConfirm": []any{h(sec(40))},
				},
				"files": map[string]any{"avatar": []any{
					map[string]any{"name": "me.png", "size": int64(18), "type": "image/png"},
				}},
			},
			secrets: []string{sec(40), "PNG-CONTENT"},
		},
		{
			name:        "multipart as the JS SDK sends it: @jsonPayload read as JSON, several merged",
			contentType: sdkCT,
			body:        sdkBody,
			want: map[string]any{
				"fields": map[string]any{"@jsonPayload": []any{
					map[string]any{"name": "Ada", "password": h(sec(41)), "passwordConfirm": h(sec(41)), "apiToken": h(sec(42))},
					map[string]any{"profile": map[string]any{"otp": redact.Redacted}, "mode": "x"},
				}},
				"files": map[string]any{"avatar": []any{
					map[string]any{"name": "me.png", "size": int64(3), "type": "image/png"},
				}},
			},
			secrets: []string{sec(41), sec(42), "654321"},
		},
		{
			name:        "multipart with an @jsonPayload that is not JSON",
			contentType: badPayloadCT,
			body:        badPayloadBody,
			want: map[string]any{
				"fields": map[string]any{"@jsonPayload": []any{map[string]any{"invalidJson": true, "size": len(`{"password":"` + sec(43) + `"`)}}},
				"files":  map[string]any{},
			},
			secrets: []string{sec(43)},
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
			body:        []byte("password=" + sec(56)),
			want:        map[string]any{"invalidMultipart": true, "size": 36},
			secrets:     []string{sec(56)},
		},
		{name: "empty body", contentType: "application/json", body: []byte{}, want: nil},
		{name: "nil body", contentType: "multipart/form-data", body: nil, want: nil},
		{
			name:        "text/plain: its media type, without parameters",
			contentType: "text/plain; charset=utf-8; token=" + sec(57),
			body:        []byte("password=" + sec(58)),
			want:        map[string]any{"size": 36, "type": "text/plain"},
			secrets:     []string{sec(57), sec(58)},
		},
		{
			name:        "xml, which PocketBase binds to its forms: its size only",
			contentType: "application/xml",
			body:        []byte("<a><Password>" + sec(59) + "</Password></a>"),
			want:        map[string]any{"size": 55, "type": "application/xml"},
			secrets:     []string{sec(59)},
		},
		{
			name:        "no content type",
			contentType: "",
			body:        []byte(`{"password":"` + sec(60) + `"}`),
			want:        map[string]any{"size": 42, "type": ""},
			secrets:     []string{sec(60)},
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

func TestEveryStoredStringIsCapped(t *testing.T) {
	r := newRedactor()
	long := strings.Repeat("a", 3*redact.MaxValue)
	wide := strings.Repeat("é", redact.MaxValue) // 2 bytes a rune
	cutLong := strings.Repeat("a", redact.MaxValue-len("…")) + "…"
	cutWide := strings.Repeat("é", (redact.MaxValue-len("…"))/2) + "…"
	mpCT, mpBody := multipartBody(t,
		part{field: long, content: long},
		part{field: "doc", filename: wide, contentType: "text/" + long, content: "x"},
	)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"a value", r.Value(map[string]any{"note": long}), map[string]any{"note": cutLong}},
		{"a value cut at a rune boundary", r.Value(map[string]any{"note": wide}), map[string]any{"note": cutWide}},
		{"a key", r.Value(map[string]any{long: 1.0}), map[string]any{cutLong: 1.0}},
		{"a long sensitive key is still sensitive", r.Value(map[string]any{"password" + long: "hunter2"}),
			map[string]any{("password" + long)[:redact.MaxValue-len("…")] + "…": redact.Redacted}},
		{"a number", r.Value([]any{json.Number(strings.Repeat("9", 2*redact.MaxValue))}),
			[]any{strings.Repeat("9", redact.MaxValue-len("…")) + "…"}},
		{"a form", r.Values(url.Values{long: {long}}), map[string]any{cutLong: []any{cutLong}}},
		{"multipart fields, file names and types", r.Body(mpCT, mpBody), map[string]any{
			"fields": map[string]any{cutLong: []any{cutLong}},
			"files":  map[string]any{"doc": []any{map[string]any{"name": cutWide, "size": int64(1), "type": ("text/" + long)[:redact.MaxValue-len("…")] + "…"}}},
		}},
		{"a media type", redact.MediaType("text/" + long), ("text/" + long)[:redact.MaxValue-len("…")] + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Fatalf("\n got %#v\nwant %#v", tt.got, tt.want)
			}
		})
	}

	t.Run("a whole copy over MaxStored is summarized", func(t *testing.T) {
		many := map[string]any{}
		for i := range 2 * redact.MaxStored / redact.MaxValue {
			many[fmt.Sprint(i)] = long
		}
		body := []byte(mustJSON(t, many))
		got := r.Body("application/json", body)
		m, ok := got.(map[string]any)
		if !ok || m["tooLarge"] != true || len(m) != 2 {
			t.Fatalf("Body of %d bytes = %.200v, want a tooLarge summary", len(body), got)
		}
		if n, _ := m["redactedSize"].(int); n <= redact.MaxStored || n >= len(body) {
			t.Fatalf("redactedSize = %v, want the size of the redacted copy (over %d, under %d)", m["redactedSize"], redact.MaxStored, len(body))
		}
		form := url.Values{}
		for i := range 2 * redact.MaxStored / redact.MaxValue {
			form.Set(fmt.Sprint(i), long)
		}
		if got := r.Values(form); got["tooLarge"] != true {
			t.Fatalf("Values of a large form = %.200v, want a tooLarge summary", got)
		}
	})
	t.Run("a copy of MaxStored bytes is kept", func(t *testing.T) {
		v := []any{strings.Repeat("a", redact.MaxValue)}
		for len(mustJSON(t, v))+redact.MaxValue+3 <= redact.MaxStored {
			v = append(v, strings.Repeat("a", redact.MaxValue))
		}
		v = append(v, strings.Repeat("a", redact.MaxStored-len(mustJSON(t, v))-3))
		if n := len(mustJSON(t, v)); n != redact.MaxStored {
			t.Fatalf("test value is %d bytes, want %d", n, redact.MaxStored)
		}
		if got := r.Value(v); !reflect.DeepEqual(got, v) {
			t.Fatalf("Value of exactly MaxStored bytes was changed: %.200v", got)
		}
	})
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

func ExampleRedactor_Value() {
	r := redact.New([]byte("example-key"), nil)
	out := r.Value(map[string]any{
		"email":    "ada@example.com",
		"password": "hunter2",                              // guessable: no hash
		"apiToken": "ghp_abcdefghijklmnopqrstuvwxyz012345", // long enough: its keyed hash
	})
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	// Output:
	// {"apiToken":"hmac-sha256:adbf3717c215151cd1b3b9c531a84c0492caa7f8f8b24a6ea87cff74989ca3ba","email":"ada@example.com","password":"[redacted]"}
}

func ExampleRedactor_Body() {
	r := redact.New([]byte("example-key"), nil)
	out := r.Body("application/x-www-form-urlencoded", []byte("identity=ada%40example.com&otp=123456&@jsonPayload=%7B%22newPassword%22%3A%22hunter2%22%7D"))
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	// Output:
	// {"@jsonPayload":[{"newPassword":"[redacted]"}],"identity":["ada@example.com"],"otp":["[redacted]"]}
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

// TestQueriesInsideStringsAreRedacted redacts the URL queries that values
// carry: a batch request's url and a realtime subscription with its
// options, as the JS SDK and PocketBase send them.
func TestQueriesInsideStringsAreRedacted(t *testing.T) {
	r := newRedactor()
	cases := []struct {
		name    string
		body    string
		secrets []string
		keep    []string
	}{
		{
			name:    "a batch request's url",
			body:    `{"requests":[{"method":"PATCH","url":"/api/collections/users/records/x?password=Hacked12345!&passwordConfirm=Hacked12345!&name=kept","body":{}}]}`,
			secrets: []string{"Hacked12345!"},
			keep:    []string{"/api/collections/users/records/x?", "name=kept"},
		},
		{
			name:    "a batch request's url with @jsonPayload",
			body:    `{"requests":[{"method":"PATCH","url":"/api/collections/users/records/x?%40jsonPayload=%7B%22token%22%3A%22T0ken-in-a-payload-1234%22%7D"}]}`,
			secrets: []string{"T0ken-in-a-payload-1234"},
		},
		{
			name:    "a realtime subscription's options",
			body:    `{"clientId":"c","subscriptions":["docs/*?options={\"query\":{\"token\":\"R1-query-token-secret\"},\"headers\":{\"authorization\":\"R2-header-secret-value\"}}"]}`,
			secrets: []string{"R1-query-token-secret", "R2-header-secret-value"},
			keep:    []string{"docs/*?options="},
		},
		{
			name:    "a batch request's url whose query does not parse",
			body:    `{"requests":[{"url":"/api/x?x;password=SEKRETB2"},{"url":"/api/x?%zz&password=SEKRETE6"},{"url":"/api/x?x=1#password=SEKRETB7"}]}`,
			secrets: []string{"SEKRETB2", "SEKRETE6", "SEKRETB7"},
			keep:    []string{"/api/x?" + redact.UnparsedQuery},
		},
		{
			name: "text with a question mark is no URL",
			body: `{"title":"Why? 50% off","note":"a=b? maybe"}`,
			keep: []string{"Why? 50% off", "a=b? maybe"},
		},
		{
			name: "a query with nothing sensitive is kept as it is",
			body: `{"url":"/api/collections/posts/records?filter=a%3D1&sort=-created"}`,
			keep: []string{"/api/collections/posts/records?filter=a%3D1&sort=-created"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := json.Marshal(r.Body("application/json", []byte(c.body)))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range c.secrets {
				if strings.Contains(string(out), s) {
					t.Errorf("%q is in the copy: %s", s, out)
				}
			}
			for _, k := range c.keep {
				if !strings.Contains(string(out), strings.ReplaceAll(k, "&", `\u0026`)) && !strings.Contains(string(out), k) {
					t.Errorf("%q is not kept: %s", k, out)
				}
			}
		})
	}
}
