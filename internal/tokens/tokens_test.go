package tokens_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/security"

	"github.com/pbimpersonation/impersonation/internal/tokens"

	"github.com/pbimpersonation/impersonation/internal/testapp"
)

func TestMain(m *testing.M) { testapp.Main(m) }

// Records of PocketBase's test data (tests/data).
const (
	superuserId = "sywbhecnh46rhm0" // _superusers
	userId      = "oap640cot4yru2s" // users
	clientId    = "gk390qegs4y47wn" // clients
)

func newTestApp(t *testing.T) *tests.TestApp {
	t.Helper()
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatalf("NewTestApp: %v", err)
	}
	t.Cleanup(app.Cleanup)
	return app
}

func findRecord(t *testing.T, app core.App, collection, id string) *core.Record {
	t.Helper()
	r, err := app.FindRecordById(collection, id)
	if err != nil {
		t.Fatalf("find %s/%s: %v", collection, id, err)
	}
	return r
}

// craft returns a three-part token whose payload is the base64url encoding of
// payload; header and signature are junk, Peek does not look at them.
func craft(payload string) string {
	return "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2lnbmF0dXJl"
}

// craftClaims is craft of the JSON encoding of claims.
func craftClaims(t testing.TB, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("marshal claims: %v", err)
	}
	return craft(string(b))
}

// validClaims returns claims shaped as Mint writes them.
func validClaims() map[string]any {
	return map[string]any{
		"type":         "auth",
		"id":           "target1",
		"collectionId": "targetcoll",
		"refreshable":  false,
		"exp":          1700000000,
		"act":          map[string]any{"sub": "actor1", "collectionId": "actorcoll"},
		"sid":          "session1",
	}
}

// with returns validClaims changed by edit.
func with(edit func(c map[string]any)) map[string]any {
	c := validClaims()
	edit(c)
	return c
}

func TestMintPeekRoundTrip(t *testing.T) {
	app := newTestApp(t)

	user := findRecord(t, app, "users", userId)
	client := findRecord(t, app, "clients", clientId)
	superuser := findRecord(t, app, core.CollectionNameSuperusers, superuserId)

	scenarios := []struct {
		name    string
		target  *core.Record
		actor   *core.Record
		expires time.Time
	}{
		{"superuser acting as a user", user, superuser, time.Now().Add(time.Hour).Truncate(time.Second)},
		{"client acting as a user", user, client, time.Now().Add(2 * time.Hour).Truncate(time.Second)},
		{"user acting as a client", client, user, time.Now().Add(30 * time.Minute).Truncate(time.Second)},
		{"expiry with a fraction of a second", user, superuser, time.Now().Add(time.Hour).Truncate(time.Second).Add(700 * time.Millisecond)},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			const sessionId = "sess_0123456789"
			token, err := tokens.Mint(s.target, s.actor, sessionId, s.expires)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}

			claims, ok, err := tokens.Peek(token)
			if err != nil || !ok {
				t.Fatalf("Peek = ok %v, err %v; want true, nil", ok, err)
			}
			want := tokens.Claims{
				Target:           s.target.Id,
				TargetCollection: s.target.Collection().Id,
				Actor:            tokens.Actor{Sub: s.actor.Id, CollectionId: s.actor.Collection().Id},
				Session:          sessionId,
				Refreshable:      false,
			}
			got := claims
			got.Expires = time.Time{}
			if got != want {
				t.Errorf("Peek claims = %+v, want %+v", got, want)
			}
			wantExpires := s.expires.Truncate(time.Second)
			if !claims.Expires.Equal(wantExpires) {
				t.Errorf("Peek Expires = %v, want %v", claims.Expires, wantExpires)
			}

			// the raw claims: PocketBase's own claims plus act and sid, exp to the second
			raw, err := security.ParseUnverifiedJWT(token)
			if err != nil {
				t.Fatalf("ParseUnverifiedJWT: %v", err)
			}
			if raw["exp"] != float64(s.expires.Unix()) {
				t.Errorf("exp claim = %v, want %d", raw["exp"], s.expires.Unix())
			}
			if raw[core.TokenClaimType] != core.TokenTypeAuth {
				t.Errorf("type claim = %v, want %q", raw[core.TokenClaimType], core.TokenTypeAuth)
			}
			if raw[core.TokenClaimRefreshable] != false {
				t.Errorf("refreshable claim = %#v, want false", raw[core.TokenClaimRefreshable])
			}
			if raw[tokens.ClaimSession] != sessionId {
				t.Errorf("sid claim = %v, want %q", raw[tokens.ClaimSession], sessionId)
			}
			act, _ := raw[tokens.ClaimActor].(map[string]any)
			if act["sub"] != s.actor.Id || act["collectionId"] != s.actor.Collection().Id {
				t.Errorf("act claim = %v, want sub %q collectionId %q", raw[tokens.ClaimActor], s.actor.Id, s.actor.Collection().Id)
			}
		})
	}
}

func TestMintVerifiesWithPocketBase(t *testing.T) {
	app := newTestApp(t)

	user := findRecord(t, app, "users", userId)
	superuser := findRecord(t, app, core.CollectionNameSuperusers, superuserId)
	expires := time.Now().Add(time.Hour).Truncate(time.Second)

	token, err := tokens.Mint(user, superuser, "sess1", expires)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	got, err := app.FindAuthRecordByToken(token, core.TokenTypeAuth)
	if err != nil {
		t.Fatalf("FindAuthRecordByToken: %v", err)
	}
	if got.Id != user.Id || got.Collection().Id != user.Collection().Id {
		t.Errorf("FindAuthRecordByToken = %s/%s, want %s/%s",
			got.Collection().Name, got.Id, user.Collection().Name, user.Id)
	}
}

func TestMintedTokenRejectedByPocketBase(t *testing.T) {
	scenarios := []struct {
		name  string
		token func(t *testing.T, app core.App, target, actor *core.Record) string
	}{
		{
			name: "signed with a wrong key",
			token: func(t *testing.T, app core.App, target, actor *core.Record) string {
				good, err := tokens.Mint(target, actor, "sess1", time.Now().Add(time.Hour))
				if err != nil {
					t.Fatalf("Mint: %v", err)
				}
				raw, err := security.ParseUnverifiedJWT(good)
				if err != nil {
					t.Fatalf("ParseUnverifiedJWT: %v", err)
				}
				bad, err := security.NewJWT(raw, "not-the-key", time.Hour)
				if err != nil {
					t.Fatalf("NewJWT: %v", err)
				}
				return bad
			},
		},
		{
			name: "signed with the file token secret",
			token: func(t *testing.T, app core.App, target, actor *core.Record) string {
				good, err := tokens.Mint(target, actor, "sess1", time.Now().Add(time.Hour))
				if err != nil {
					t.Fatalf("Mint: %v", err)
				}
				raw, err := security.ParseUnverifiedJWT(good)
				if err != nil {
					t.Fatalf("ParseUnverifiedJWT: %v", err)
				}
				bad, err := security.NewJWT(raw, target.TokenKey()+target.Collection().FileToken.Secret, time.Hour)
				if err != nil {
					t.Fatalf("NewJWT: %v", err)
				}
				return bad
			},
		},
		{
			name: "payload changed after signing",
			token: func(t *testing.T, app core.App, target, actor *core.Record) string {
				good, err := tokens.Mint(target, actor, "sess1", time.Now().Add(time.Hour))
				if err != nil {
					t.Fatalf("Mint: %v", err)
				}
				other := findRecord(t, app, "users", "bgs820n361vj1qd")
				raw, err := security.ParseUnverifiedJWT(good)
				if err != nil {
					t.Fatalf("ParseUnverifiedJWT: %v", err)
				}
				raw[core.TokenClaimId] = other.Id
				payload, err := json.Marshal(raw)
				if err != nil {
					t.Fatalf("marshal: %v", err)
				}
				header, _, sig := splitToken(t, good)
				return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + sig
			},
		},
		{
			name: "target's token key changed after minting",
			token: func(t *testing.T, app core.App, target, actor *core.Record) string {
				good, err := tokens.Mint(target, actor, "sess1", time.Now().Add(time.Hour))
				if err != nil {
					t.Fatalf("Mint: %v", err)
				}
				target.RefreshTokenKey()
				if err := app.Save(target); err != nil {
					t.Fatalf("save target: %v", err)
				}
				return good
			},
		},
		{
			name: "expired",
			token: func(t *testing.T, app core.App, target, actor *core.Record) string {
				tok, err := tokens.Mint(target, actor, "sess1", time.Now().Add(-time.Hour))
				if err != nil {
					t.Fatalf("Mint: %v", err)
				}
				return tok
			},
		},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			app := newTestApp(t)
			target := findRecord(t, app, "users", userId)
			actor := findRecord(t, app, core.CollectionNameSuperusers, superuserId)

			token := s.token(t, app, target, actor)
			if got, err := app.FindAuthRecordByToken(token, core.TokenTypeAuth); err == nil {
				t.Errorf("FindAuthRecordByToken = %s/%s, nil; want an error", got.Collection().Name, got.Id)
			}
		})
	}
}

func splitToken(t *testing.T, token string) (header, payload, sig string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts, want 3", token, len(parts))
	}
	return parts[0], parts[1], parts[2]
}

func TestMintRefusesNonAuthTarget(t *testing.T) {
	app := newTestApp(t)
	actor := findRecord(t, app, core.CollectionNameSuperusers, superuserId)
	target := core.NewRecord(core.NewBaseCollection("things"))
	target.Id = "thing1"

	token, err := tokens.Mint(target, actor, "sess1", time.Now().Add(time.Hour))
	if !errors.Is(err, core.ErrNotAuthRecord) {
		t.Errorf("Mint = %q, %v; want core.ErrNotAuthRecord", token, err)
	}
	if token != "" {
		t.Errorf("Mint token = %q, want empty", token)
	}
}

func TestPeekNotImpersonation(t *testing.T) {
	app := newTestApp(t)
	user := findRecord(t, app, "users", userId)
	plain, err := user.NewAuthToken()
	if err != nil {
		t.Fatalf("NewAuthToken: %v", err)
	}
	superuser := findRecord(t, app, core.CollectionNameSuperusers, superuserId)
	superuserToken, err := superuser.NewAuthToken()
	if err != nil {
		t.Fatalf("NewAuthToken: %v", err)
	}

	scenarios := []struct {
		name  string
		token string
	}{
		{"empty string", ""},
		{"single dot", "."},
		{"two dots", ".."},
		{"two parts", "a.b"},
		{"four parts", craftClaims(t, validClaims()) + ".extra"},
		{"payload not base64", "a.b.c"},
		{"payload padded base64", "a." + base64.URLEncoding.EncodeToString([]byte(`{"act":{"sub":"x"},"sid":"s"}`)) + ".c"},
		{"payload with characters outside the URL alphabet", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"sid":"s"}`)) + "+/.c"},
		{"payload not JSON", craft("not json")},
		{"payload JSON array", craft(`["act","sid"]`)},
		{"payload JSON string", craft(`"act"`)},
		{"payload JSON null", craft(`null`)},
		{"payload empty object", craft(`{}`)},
		{"ordinary user auth token", plain},
		{"ordinary superuser auth token", superuserToken},
		{"claims without act and sid", craftClaims(t, with(func(c map[string]any) {
			delete(c, "act")
			delete(c, "sid")
		}))},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			claims, ok, err := tokens.Peek(s.token)
			if ok || err != nil {
				t.Errorf("Peek(%q) = ok %v, err %v; want false, nil", s.token, ok, err)
			}
			if claims != (tokens.Claims{}) {
				t.Errorf("Peek(%q) claims = %+v, want zero", s.token, claims)
			}
		})
	}
}

func TestPeekMalformed(t *testing.T) {
	scenarios := []struct {
		name   string
		claims map[string]any
	}{
		{"act but no sid", with(func(c map[string]any) { delete(c, "sid") })},
		{"sid but no act", with(func(c map[string]any) { delete(c, "act") })},
		{"act is null", with(func(c map[string]any) { c["act"] = nil })},
		{"sid is null", with(func(c map[string]any) { c["sid"] = nil })},
		{"act is a string", with(func(c map[string]any) { c["act"] = "actor1" })},
		{"act is an array", with(func(c map[string]any) { c["act"] = []any{"actor1", "actorcoll"} })},
		{"act without sub", with(func(c map[string]any) { c["act"] = map[string]any{"collectionId": "actorcoll"} })},
		{"act without collectionId", with(func(c map[string]any) { c["act"] = map[string]any{"sub": "actor1"} })},
		{"act sub empty", with(func(c map[string]any) { c["act"] = map[string]any{"sub": "", "collectionId": "actorcoll"} })},
		{"act sub a number", with(func(c map[string]any) { c["act"] = map[string]any{"sub": 1, "collectionId": "actorcoll"} })},
		{"sid a number", with(func(c map[string]any) { c["sid"] = 42 })},
		{"sid empty", with(func(c map[string]any) { c["sid"] = "" })},
		{"missing id", with(func(c map[string]any) { delete(c, "id") })},
		{"id a number", with(func(c map[string]any) { c["id"] = 7 })},
		{"missing collectionId", with(func(c map[string]any) { delete(c, "collectionId") })},
		{"empty collectionId", with(func(c map[string]any) { c["collectionId"] = "" })},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			token := craftClaims(t, s.claims)
			_, ok, err := tokens.Peek(token)
			if !ok || !errors.Is(err, tokens.ErrMalformed) {
				t.Errorf("Peek = ok %v, err %v; want true, ErrMalformed", ok, err)
			}
		})
	}
}

func TestPeekWellFormed(t *testing.T) {
	scenarios := []struct {
		name   string
		claims map[string]any
		want   tokens.Claims
	}{
		{
			name:   "as Mint writes it",
			claims: validClaims(),
			want: tokens.Claims{
				Target: "target1", TargetCollection: "targetcoll",
				Actor:   tokens.Actor{Sub: "actor1", CollectionId: "actorcoll"},
				Session: "session1", Expires: time.Unix(1700000000, 0),
			},
		},
		{
			name:   "refreshable true is reported",
			claims: with(func(c map[string]any) { c["refreshable"] = true }),
			want: tokens.Claims{
				Target: "target1", TargetCollection: "targetcoll",
				Actor:   tokens.Actor{Sub: "actor1", CollectionId: "actorcoll"},
				Session: "session1", Refreshable: true, Expires: time.Unix(1700000000, 0),
			},
		},
		{
			name:   "no exp leaves Expires zero",
			claims: with(func(c map[string]any) { delete(c, "exp") }),
			want: tokens.Claims{
				Target: "target1", TargetCollection: "targetcoll",
				Actor:   tokens.Actor{Sub: "actor1", CollectionId: "actorcoll"},
				Session: "session1",
			},
		},
		{
			name:   "extra claims are ignored",
			claims: with(func(c map[string]any) { c["email"] = "x@example.com"; c["act"].(map[string]any)["extra"] = 1 }),
			want: tokens.Claims{
				Target: "target1", TargetCollection: "targetcoll",
				Actor:   tokens.Actor{Sub: "actor1", CollectionId: "actorcoll"},
				Session: "session1", Expires: time.Unix(1700000000, 0),
			},
		},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			got, ok, err := tokens.Peek(craftClaims(t, s.claims))
			if !ok || err != nil {
				t.Fatalf("Peek = ok %v, err %v; want true, nil", ok, err)
			}
			if !got.Expires.Equal(s.want.Expires) {
				t.Errorf("Expires = %v, want %v", got.Expires, s.want.Expires)
			}
			got.Expires, s.want.Expires = time.Time{}, time.Time{}
			if got != s.want {
				t.Errorf("claims = %+v, want %+v", got, s.want)
			}
		})
	}
}

// TestPeekDoesNotVerify pins down that Peek reads claims of tokens that
// PocketBase would reject: the caller relies on PocketBase's middleware for
// signature and expiry.
func TestPeekDoesNotVerify(t *testing.T) {
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(with(func(c map[string]any) {
		c["exp"] = 1
	}))).SignedString([]byte("some key"))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	scenarios := []struct {
		name  string
		token string
	}{
		{"junk signature", craftClaims(t, validClaims())},
		{"expired and signed with an unknown key", expired},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			claims, ok, err := tokens.Peek(s.token)
			if !ok || err != nil {
				t.Fatalf("Peek = ok %v, err %v; want true, nil", ok, err)
			}
			if claims.Session != "session1" || claims.Target != "target1" {
				t.Errorf("claims = %+v, want session1 / target1", claims)
			}
		})
	}
}

func FuzzPeek(f *testing.F) {
	f.Add("")
	f.Add(".")
	f.Add("a.b.c")
	f.Add(craftClaims(f, validClaims()))
	f.Add(craftClaims(f, with(func(c map[string]any) { delete(c, "sid") })))
	f.Add(craftClaims(f, with(func(c map[string]any) { c["act"] = "x" })))

	f.Fuzz(func(t *testing.T, token string) {
		claims, ok, err := tokens.Peek(token)
		if err != nil {
			if !ok {
				t.Fatalf("Peek(%q) = ok false with err %v; an error implies ok", token, err)
			}
			if !errors.Is(err, tokens.ErrMalformed) {
				t.Fatalf("Peek(%q) err = %v, want ErrMalformed", token, err)
			}
		}
		if !ok && claims != (tokens.Claims{}) {
			t.Fatalf("Peek(%q) = ok false with claims %+v, want zero claims", token, claims)
		}
		if ok && err == nil {
			if claims.Session == "" || claims.Actor.Sub == "" || claims.Actor.CollectionId == "" ||
				claims.Target == "" || claims.TargetCollection == "" {
				t.Fatalf("Peek(%q) = %+v, ok, nil; want every id non-empty", token, claims)
			}
		}
	})
}

func ExamplePeek() {
	payload := `{"type":"auth","id":"u1","collectionId":"c1","refreshable":false,` +
		`"exp":1700000000,"act":{"sub":"a1","collectionId":"c2"},"sid":"s1"}`
	token := "header." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".signature"

	claims, ok, err := tokens.Peek(token)
	fmt.Println(ok, err)
	fmt.Println(claims.Target, claims.TargetCollection, claims.Actor.Sub, claims.Actor.CollectionId, claims.Session)
	fmt.Println(claims.Expires.UTC().Format(time.RFC3339))

	_, ok, err = tokens.Peek("header." + base64.RawURLEncoding.EncodeToString([]byte(`{"id":"u1"}`)) + ".signature")
	fmt.Println(ok, err)
	// Output:
	// true <nil>
	// u1 c1 a1 c2 s1
	// 2023-11-14T22:13:20Z
	// false <nil>
}

// TestPeekSeesEscapedClaimNames: a payload may spell "act" or "sid" with
// JSON escapes, which PocketBase's parser decodes; Peek's shortcut for
// tokens naming neither must not take such a token for an ordinary one.
func TestPeekSeesEscapedClaimNames(t *testing.T) {
	for _, payload := range []string{
		`{"type":"auth","id":"target1","collectionId":"targetcoll","\u0061ct":{"sub":"actor1","collectionId":"actorcoll"},"sid":"sess1"}`,
		`{"type":"auth","id":"target1","collectionId":"targetcoll","act":{"sub":"actor1","collectionId":"actorcoll"},"\u0073id":"sess1"}`,
		`{"type":"auth","id":"target1","collectionId":"targetcoll","\u0061ct":{"sub":"actor1","collectionId":"actorcoll"},"\u0073id":"sess1"}`,
	} {
		claims, ok, err := tokens.Peek(craft(payload))
		if !ok || err != nil || claims.Session != "sess1" || claims.Actor.Sub != "actor1" {
			t.Errorf("Peek(%s) = %+v, ok %v, err %v; want the impersonation claims", payload, claims, ok, err)
		}
	}
}
