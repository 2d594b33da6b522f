package redact_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/pbimpersonation/impersonation/internal/redact"
)

const pathJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6InUxIiwidHlwZSI6InBhc3N3b3JkUmVzZXQifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

// TestPath: a JWT-shaped segment is redacted, however it is spelled in the
// path; a "?" decoded from a segment stays escaped; every other segment is
// kept as it is.
func TestPath(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"/api/collections/users/request-password-reset/" + pathJWT, "/api/collections/users/request-password-reset/" + redact.Redacted},
		{"/api/x/token=" + pathJWT + "/y", "/api/x/" + redact.Redacted + "/y"},
		{"/api/x/" + strings.Replace(pathJWT, "eyJ", "%65yJ", 1), "/api/x/" + redact.Redacted},
		{"/api/x/" + strings.ReplaceAll(pathJWT, ".", "%2E"), "/api/x/" + redact.Redacted},
		{"/api/collections/users/records/PATHSECRET%3Fpassword%3DP2SECRET", "/api/collections/users/records/PATHSECRET%3Fpassword%3DP2SECRET"},
		{"/api/collections/users/records/4q1xlclmfloku33", "/api/collections/users/records/4q1xlclmfloku33"},
		{"/api/files/users/abc/avatar.v1.png", "/api/files/users/abc/avatar.v1.png"},
		{"/bad%zz/" + pathJWT, "/bad%zz/" + redact.Redacted},
		{"", ""},
	} {
		if got := redact.Path(c.path); got != c.want {
			t.Errorf("Path(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

// FuzzPath: whatever the path, no segment of its copy holds a JWT, decoded
// or not, and the copy has as many segments.
func FuzzPath(f *testing.F) {
	for _, seed := range []string{"/api/x/" + pathJWT, "/a/%65yJa.b.c", "/a/b%3Fc%3Dd", "/%zz/eyJ.x.", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		out := redact.Path(path)
		if strings.Count(out, "/") != strings.Count(path, "/") {
			t.Fatalf("Path(%q) = %q: segments changed", path, out)
		}
		for _, s := range strings.Split(out, "/") {
			decoded, _ := url.PathUnescape(s)
			for _, v := range []string{s, decoded} {
				if i := strings.Index(v, "eyJ"); i >= 0 && strings.Count(v[i:], ".") >= 2 && s != redact.Redacted && looksJWT(v[i:]) {
					t.Fatalf("Path(%q) = %q keeps a JWT", path, out)
				}
			}
		}
	})
}

// looksJWT is the fuzz test's own reading of a JWT at the start of s.
func looksJWT(s string) bool {
	parts := strings.SplitN(s, ".", 3)
	isB64 := func(p string, empty bool) bool {
		if p == "" {
			return empty
		}
		for _, r := range p {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+=", r) {
				return false
			}
		}
		return true
	}
	return len(parts) == 3 && isB64(parts[0], false) && isB64(parts[1], false) && isB64(strings.SplitN(parts[2], "/", 2)[0], true)
}

func ExamplePath() {
	fmt.Println(redact.Path("/api/collections/users/request-password-reset/eyJhbGciOiJIUzI1NiJ9.eyJpZCI6InUxIn0.c2ln"))
	fmt.Println(redact.Path("/api/collections/users/records/abc%3Fpassword%3Dx"))
	// Output:
	// /api/collections/users/request-password-reset/[redacted]
	// /api/collections/users/records/abc%3Fpassword%3Dx
}
