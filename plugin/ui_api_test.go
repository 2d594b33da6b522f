package plugin_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/records"
	pbpublic "github.com/pbimpersonation/impersonation/pb_public"
	"github.com/pbimpersonation/impersonation/plugin"

	"github.com/pbimpersonation/impersonation/internal/testapp"
)

// usersCollectionId is the id of the users collection of the test data.
const usersCollectionId = "_pb_users_auth_"

// extraUsers are the users addUsers makes: the verified ones a verified
// client may impersonate under usersPolicy, and the unverified ones it may
// not.
var (
	extraVerified   = []string{"verified00000a1", "verified00000a2", "verified00000a3", "verified00000a4"}
	extraUnverified = []string{"unverified000b1", "unverified000b2", "unverified000b3"}
)

// extraPasswordHash is a bcrypt hash of "1234567890" at the lowest cost,
// made once: hashing a password per record at PocketBase's default cost
// made addUsers the slowest step of the UI tests.
const extraPasswordHash = "$2a$04$yOrey7qncRtrEZ7E1Iiyc.DTDNuUk/0HbTJLt83j/f48Cn4eQYsty"

// addUsers adds extraVerified and extraUnverified to the users collection,
// with emails that sort among the test data's ("test-a1@example.com"...).
func addUsers(t testing.TB, app *testApp) {
	t.Helper()
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	add := func(id string, verified bool) {
		r := core.NewRecord(users)
		r.Id = id
		suffix := id[len(id)-2:]
		r.SetEmail("test-" + suffix + "@example.com")
		r.Set("name", "Extra "+suffix)
		r.SetVerified(verified)
		r.SetRaw(core.FieldNamePassword, &core.PasswordFieldValue{Hash: extraPasswordHash})
		if err := app.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range extraVerified {
		add(id, true)
	}
	for _, id := range extraUnverified {
		add(id, false)
	}
}

// forbiddenToClient are the users a verified client may not impersonate
// under usersPolicy.
var forbiddenToClient = append([]string{userId}, extraUnverified...)

// notIds returns `"id":"X"` for each id, for NotExpectedContent.
func notIds(ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = `"id":"` + id + `"`
	}
	return out
}

func TestUIPolicies(t *testing.T) {
	t.Parallel()
	usersEntry := `{"collection":"users","collectionId":"` + usersCollectionId + `","consent":"required","reasonRequired":true,` +
		`"maxMinutes":60,"modes":["read","write"],"defaultMode":"read","consentMaxHours":168,` +
		`"breakGlass":false,"breakGlassModes":["read"],"breakGlassMinutes":15}`
	scenarios := []tests.ApiScenario{
		{
			Name:            "guest",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`, `"code":"auth_required"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:               "impersonation token",
			Method:             http.MethodGet,
			URL:                "/api/impersonation/policies",
			Headers:            map[string]string{"Authorization": liveToken},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"status":403`},
			NotExpectedContent: []string{`"policies"`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		{
			Name:            "impersonation token of a client's session",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			Headers:         map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "superuser",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"productURL":"/","policies":[` + usersEntry + `]}`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "verified client the rule matches",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"policies":[` + usersEntry + `]`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "unverified client the rule does not match",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			Headers:         map[string]string{"Authorization": client2Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"productURL":"/","policies":[]}`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "user of the policy's collection",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"policies":[]`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a rule matching only the caller lists nothing",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"policies":[]`},
			TestAppFactory: factory(plugin.Config{Policies: []plugin.Policy{{
				Collection: "users", ImpersonatorRule: `@request.auth.id = id`,
			}}}, nil),
		},
		{
			Name:            "disabled policy is not listed, even to superusers",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"policies":[]`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.updatePolicy(t, "users", func(p *records.Policy) { p.SetEnabled(false) })
			}),
		},
		{
			Name:            "disabled policy is not listed to a client the rule matches",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"policies":[]`},
			TestAppFactory: factory(plugin.Config{Policies: []plugin.Policy{{
				Collection: "users", ImpersonatorRule: usersPolicy().ImpersonatorRule, Disabled: true,
			}}}, nil),
		},
		{
			Name:           "several policies, sorted by collection, with their settings",
			Method:         http.MethodGet,
			URL:            "/api/impersonation/policies",
			Headers:        map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"productURL":"/app/"`,
				`"policies":[{"collection":"clients","collectionId":"v851q4r790rhknl","consent":"none","reasonRequired":false,` +
					`"maxMinutes":15,"modes":["write"],"defaultMode":"write","consentMaxHours":24,` +
					`"breakGlass":false,"breakGlassModes":["read"],"breakGlassMinutes":15},` + usersEntry + `]`,
			},
			TestAppFactory: factory(plugin.Config{ProductURL: "/app/", Policies: []plugin.Policy{
				usersPolicy(),
				{
					Collection: "clients", Consent: plugin.ConsentNone, ReasonOptional: true, MaxMinutes: 15,
					Modes: []plugin.Mode{plugin.ModeWrite}, ConsentMaxHours: 24,
				},
			}}, nil),
		},
		{
			Name:            "a rule that does not compile lists nothing",
			Method:          http.MethodGet,
			URL:             "/api/impersonation/policies",
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"policies":[]`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				breakRule(t, app)
			}),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestUISignIn: the support console's sign-in collections, the same for
// anyone, and none while only superusers may act.
func TestUISignIn(t *testing.T) {
	t.Parallel()
	const url = "/api/impersonation/sign-in"
	scenarios := []tests.ApiScenario{
		{
			Name:               "guest: the auth collections with password sign-in, _superusers left out",
			Method:             http.MethodGet,
			URL:                url,
			ExpectedStatus:     200,
			ExpectedContent:    []string{`{"collections":["clients","users"]}`},
			NotExpectedContent: []string{`_superusers`, `nologin`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		{
			Name:            "a signed-in user gets the same answer",
			Method:          http.MethodGet,
			URL:             url,
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"collections":["clients","users"]}`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "no impersonator rule: only superusers act, nothing to sign in to",
			Method:          http.MethodGet,
			URL:             url,
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"collections":[]}`},
			TestAppFactory:  factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users"}}}, nil),
		},
		{
			Name:            "a disabled policy's rule does not count",
			Method:          http.MethodGet,
			URL:             url,
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"collections":[]}`},
			TestAppFactory: factory(plugin.Config{Policies: []plugin.Policy{{
				Collection: "users", ImpersonatorRule: usersPolicy().ImpersonatorRule, Disabled: true,
			}}}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// breakRule stores a users policy rule that does not compile, as only raw
// SQL can.
func breakRule(t testing.TB, app *testApp) {
	t.Helper()
	if _, err := app.DB().NewQuery("UPDATE impersonation_policies SET impersonatorRule = 'nope ~~ (' WHERE collection = 'users'").Execute(); err != nil {
		t.Fatal(err)
	}
}

func TestUITargets(t *testing.T) {
	t.Parallel()
	get := func(query string) string { return "/api/impersonation/targets?" + query }
	badQuery := func(name, query, field string) tests.ApiScenario {
		return tests.ApiScenario{
			Name:               "400 " + name,
			Method:             http.MethodGet,
			URL:                get(query),
			Headers:            map[string]string{"Authorization": superuserToken},
			ExpectedStatus:     400,
			ExpectedContent:    []string{`"status":400`, `"data":{"` + field + `":{"code":"validation_`},
			NotExpectedContent: []string{`"items"`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		}
	}
	scenarios := []tests.ApiScenario{
		{
			Name:            "guest",
			Method:          http.MethodGet,
			URL:             get("collection=users"),
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:               "impersonation token",
			Method:             http.MethodGet,
			URL:                get("collection=users"),
			Headers:            map[string]string{"Authorization": liveToken},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"status":403`},
			NotExpectedContent: []string{`"items"`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		{
			Name:               "impersonation token of a client's session",
			Method:             http.MethodGet,
			URL:                get("collection=users"),
			Headers:            map[string]string{"Authorization": clientImpersonationToken},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"status":403`},
			NotExpectedContent: []string{`"items"`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		badQuery("no collection", "", "collection"),
		badQuery("page 0", "collection=users&page=0", "page"),
		badQuery("negative page", "collection=users&page=-1", "page"),
		badQuery("page not a number", "collection=users&page=abc", "page"),
		badQuery("fractional page", "collection=users&page=1.5", "page"),
		badQuery("huge page", "collection=users&page=99999999999999999999", "page"),
		badQuery("perPage 0", "collection=users&perPage=0", "perPage"),
		badQuery("perPage 101", "collection=users&perPage=101", "perPage"),
		badQuery("perPage not a number", "collection=users&perPage=ten", "perPage"),
		badQuery("search too long", "collection=users&search="+strings.Repeat("a", 256), "search"),
		{
			Name:            "404 unknown collection",
			Method:          http.MethodGet,
			URL:             get("collection=nope"),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  404,
			ExpectedContent: []string{`"status":404`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "404 collection with no policy",
			Method:          http.MethodGet,
			URL:             get("collection=clients"),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  404,
			ExpectedContent: []string{`"status":404`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:               "404 disabled policy",
			Method:             http.MethodGet,
			URL:                get("collection=users"),
			Headers:            map[string]string{"Authorization": superuserToken},
			ExpectedStatus:     404,
			ExpectedContent:    []string{`"status":404`},
			NotExpectedContent: []string{`"items"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.updatePolicy(t, "users", func(p *records.Policy) { p.SetEnabled(false) })
			}),
		},
		{
			Name:            "404 _superusers",
			Method:          http.MethodGet,
			URL:             get("collection=_superusers"),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  404,
			ExpectedContent: []string{`"status":404`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:               "403 unverified client the rule does not match",
			Method:             http.MethodGet,
			URL:                get("collection=users"),
			Headers:            map[string]string{"Authorization": client2Token},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"status":403`},
			NotExpectedContent: []string{`"items"`, "example.com"},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		{
			Name:               "403 user, whatever the search",
			Method:             http.MethodGet,
			URL:                get("collection=users&search=test"),
			Headers:            map[string]string{"Authorization": userToken},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"status":403`},
			NotExpectedContent: []string{`"items"`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		{
			Name:               "403 a rule matching only the caller",
			Method:             http.MethodGet,
			URL:                get("collection=users"),
			Headers:            map[string]string{"Authorization": userToken},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"status":403`},
			NotExpectedContent: []string{`"items"`},
			TestAppFactory: factory(plugin.Config{Policies: []plugin.Policy{{
				Collection: "users", ImpersonatorRule: `@request.auth.id = id`,
			}}}, nil),
		},
		{
			Name:               "403 a rule that does not compile",
			Method:             http.MethodGet,
			URL:                get("collection=users"),
			Headers:            map[string]string{"Authorization": clientToken},
			ExpectedStatus:     403,
			ExpectedContent:    []string{`"status":403`},
			NotExpectedContent: []string{`"items"`},
			TestAppFactory:     factory(plugin.Config{}, func(t testing.TB, app *testApp) { breakRule(t, app) }),
		},
		{
			Name:           "superuser: every user, sorted by email, with consent and live session",
			Method:         http.MethodGet,
			URL:            get("collection=users"),
			Headers:        map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`{"page":1,"perPage":30,"totalItems":3,"totalPages":1,"items":[`,
				// test@example.com: live consent; the newest of its two live sessions (write) is shown
				`{"id":"` + userId + `","collectionId":"` + usersCollectionId + `","collectionName":"users",` +
					`"email":"test@example.com","name":"test1","avatar":"300_1SEi6Q6U72.png",` +
					`"consent":{"required":true,"active":true,"expires":"20`,
				`"liveSession":{"id":"` + writeSessionId + `","actor":"` + superuserId + `","actorName":"test@example.com","mode":"write","expires":"20`,
				// test2@example.com: a client's session (clients have a name field, empty here: the email)
				`{"id":"` + user2Id + `","collectionId":"` + usersCollectionId + `","collectionName":"users",` +
					`"email":"test2@example.com","name":"","avatar":"",` +
					`"consent":{"required":true,"active":true,"expires":"20`,
				`"liveSession":{"id":"` + clientSessionId + `","actor":"` + clientId + `","actorName":"test@example.com","mode":"read","expires":"20`,
				// test3@example.com: never consented, nothing live
				`{"id":"` + user3Id + `","collectionId":"` + usersCollectionId + `","collectionName":"users",` +
					`"email":"test3@example.com","name":"test3","avatar":"",` +
					`"consent":{"required":true,"active":false,"expires":""},"liveSession":null,"request":null}`,
			},
			NotExpectedContent: []string{`"tokenKey"`, `"password"`, liveSessionId, endedSessionId, expiredSessionId},
			TestAppFactory:     factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, _ *tests.TestApp, res *http.Response) {
				// byte order: "test2@" < "test3@" < "test@"
				expectOrder(t, res, user2Id, user3Id, userId)
			},
		},
		{
			Name:            "the collection by id",
			Method:          http.MethodGet,
			URL:             get("collection=" + usersCollectionId),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"totalItems":3`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:           "consent not required by the policy; an expired and a revoked consent",
			Method:         http.MethodGet,
			URL:            get("collection=users"),
			Headers:        map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"email":"test@example.com","name":"test1","avatar":"300_1SEi6Q6U72.png","consent":{"required":false,"active":false,"expires":"20`,
				`"email":"test2@example.com","name":"","avatar":"","consent":{"required":false,"active":false,"expires":""}`,
			},
			TestAppFactory: factory(plugin.Config{Policies: []plugin.Policy{{Collection: "users", Consent: plugin.ConsentNone}}},
				func(t testing.TB, app *testApp) {
					app.grantConsent(t, "users", userId, -time.Minute)
					c := app.grantConsent(t, "users", user2Id, time.Hour)
					c.SetRevoked(true)
					if err := app.Save(c); err != nil {
						t.Fatal(err)
					}
				}),
		},
		{
			Name:            "an ended session is not live",
			Method:          http.MethodGet,
			URL:             get("collection=users&search=test2"),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"totalItems":1`, `"liveSession":null`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				s := app.session(t, clientSessionId)
				s.SetEnded(time.Now(), records.EndStopped)
				if err := app.Save(s); err != nil {
					t.Fatal(err)
				}
			}),
		},
		{
			Name:            "an expired, not yet ended session is not live",
			Method:          http.MethodGet,
			URL:             get("collection=users&search=test2"),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"totalItems":1`, `"liveSession":null`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.clock.Advance(sessionLength + time.Second)
			}),
		},
		{
			Name:               "verified client: only the verified users",
			Method:             http.MethodGet,
			URL:                get("collection=users"),
			Headers:            map[string]string{"Authorization": clientToken},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"totalItems":2`, `"id":"` + user2Id + `"`, `"id":"` + user3Id + `"`},
			NotExpectedContent: notIds(userId),
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		{
			Name:               "the caller is never among the targets",
			Method:             http.MethodGet,
			URL:                get("collection=users"),
			Headers:            map[string]string{"Authorization": userToken},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"totalItems":2`, `"id":"` + user2Id + `"`, `"id":"` + user3Id + `"`},
			NotExpectedContent: notIds(userId),
			TestAppFactory: factory(plugin.Config{Policies: []plugin.Policy{{
				Collection: "users", ImpersonatorRule: `@request.auth.collectionName = "users"`,
			}}}, nil),
		},
		{
			Name:            "search by email",
			Method:          http.MethodGet,
			URL:             get("collection=users&search=test2%40"),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"totalItems":1`, `"id":"` + user2Id + `"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "search by name, case-insensitive",
			Method:          http.MethodGet,
			URL:             get("collection=users&search=TEST3"),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"totalItems":1`, `"id":"` + user3Id + `"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "search by part of an id",
			Method:          http.MethodGet,
			URL:             get("collection=users&search=" + userId[3:9]),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"totalItems":1`, `"id":"` + userId + `"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a search that matches nobody",
			Method:          http.MethodGet,
			URL:             get("collection=users&search=nobody"),
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"page":1,"perPage":30,"totalItems":0,"totalPages":0,"items":[]}`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:               "paging",
			Method:             http.MethodGet,
			URL:                get("collection=users&perPage=2&page=2"),
			Headers:            map[string]string{"Authorization": superuserToken},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`{"page":2,"perPage":2,"totalItems":3,"totalPages":2,"items":[{"id":"` + userId + `"`},
			NotExpectedContent: notIds(user2Id, user3Id),
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		{
			Name:            "a page past the last",
			Method:          http.MethodGet,
			URL:             get("collection=users&page=9"),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`{"page":9,"perPage":30,"totalItems":3,"totalPages":1,"items":[]}`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// expectOrder fails t unless the items of the targets page in res have
// exactly the ids want, in that order.
func expectOrder(t testing.TB, res *http.Response, want ...string) {
	t.Helper()
	var page struct {
		Items []struct {
			Id string `json:"id"`
		} `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range page.Items {
		got = append(got, it.Id)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("items %v, want %v", got, want)
	}
}

// TestUITargetsNeverReveal: a staff member whose rule matches only some
// users never sees the others, whatever the search or page, and a search is
// plain text, never filter syntax or a LIKE wildcard.
func TestUITargetsNeverReveal(t *testing.T) {
	t.Parallel()
	// the verified client may impersonate user2, user3 and the extra
	// verified users: 6, sorted by email test-a1..a4, test2, test3
	allowed := append(append([]string{}, extraVerified...), user2Id, user3Id)
	get := func(query string) string { return "/api/impersonation/targets?collection=users&" + query }
	scenario := func(name, query string, expected ...string) tests.ApiScenario {
		return tests.ApiScenario{
			Name:               name,
			Method:             http.MethodGet,
			URL:                get(query),
			Headers:            map[string]string{"Authorization": clientToken},
			ExpectedStatus:     200,
			ExpectedContent:    expected,
			NotExpectedContent: append(notIds(forbiddenToClient...), "Extra b", "test-b"),
			TestAppFactory:     factory(plugin.Config{}, addUsers),
		}
	}

	var scenarios []tests.ApiScenario
	scenarios = append(scenarios, scenario("everyone allowed", "", `"totalItems":6`))
	for page := 1; page <= 7; page++ {
		want := []string{fmt.Sprintf(`"page":%d,"perPage":1,"totalItems":6,"totalPages":6,"items":[`, page)}
		if page <= len(allowed) {
			want = append(want, `"items":[{"id":"`+allowed[page-1]+`"`)
		} else {
			want = append(want, `"items":[]`)
		}
		scenarios = append(scenarios, scenario(fmt.Sprintf("page %d of 1", page), fmt.Sprintf("perPage=1&page=%d", page), want...))
	}
	for _, search := range []string{
		"test-b", "Extra b", "unverified", userId, "test@example.com", "test1",
	} {
		scenarios = append(scenarios, scenario("search for a forbidden user: "+search,
			"search="+url.QueryEscape(search), `"totalItems":0`, `"items":[]`))
	}
	scenarios = append(scenarios,
		scenario("a search matching allowed and forbidden users", "search=example.com", `"totalItems":6`),
		scenario("a search matching allowed and forbidden users, paged", "search=test-&perPage=3&page=2",
			`"page":2,"perPage":3,"totalItems":4,"totalPages":2,"items":[{"id":"`+extraVerified[3]+`",`),
	)
	for _, search := range []string{
		`" || id != "`,
		`' OR 1=1 --`,
		`") OR 1=1 OR ("`,
		`test" || verified = false || email ~ "`,
		`@request.auth.id != ""`,
		`@request.auth.collectionName = "clients"`,
		`%`,
		`_`,
		`test_@example.com`,
		`\`,
		`*`,
	} {
		scenarios = append(scenarios, scenario("injection is plain text: "+search,
			"search="+url.QueryEscape(search), `"totalItems":0`, `"items":[]`))
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestUITargetsWalk pages through the targets of a rule that matches some
// users, one page after another on one server, and finds each allowed user
// exactly once and no other.
func TestUITargetsWalk(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	addUsers(t, app)
	mux := serveMux(t, app.TestApp)

	seen := map[string]int{}
	for page := 1; ; page++ {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, request(http.MethodGet, fmt.Sprintf("/api/impersonation/targets?collection=users&perPage=4&page=%d", page), "", clientToken))
		if rec.Code != 200 {
			t.Fatalf("page %d: %d %s", page, rec.Code, rec.Body)
		}
		var res struct {
			TotalPages int `json:"totalPages"`
			Items      []struct {
				Id string `json:"id"`
			} `json:"items"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			seen[it.Id]++
		}
		if page >= res.TotalPages {
			break
		}
	}
	want := append(append([]string{}, extraVerified...), user2Id, user3Id)
	if len(seen) != len(want) {
		t.Errorf("saw %v, want each of %v once", seen, want)
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("%s seen %d times", id, seen[id])
		}
	}
}

// pageFiles returns the files of the embedded pages, as served paths.
func pageFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := fs.WalkDir(pbpublic.Impersonation, "impersonation", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			// an index.html is served at its directory's path
			files = append(files, "/"+strings.TrimSuffix(name, "index.html"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// contentTypeOf is the content type a page file is served with.
func contentTypeOf(name string) string {
	switch {
	case strings.HasSuffix(name, ".html"), strings.HasSuffix(name, "/"):
		return "text/html; charset=utf-8"
	case strings.HasSuffix(name, ".js"), strings.HasSuffix(name, ".mjs"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		return "text/css; charset=utf-8"
	}
	return ""
}

func TestUIPages(t *testing.T) {
	t.Parallel()
	expectHeaders := func(path string) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, _ *tests.TestApp, res *http.Response) {
			if got := res.Header.Get("Content-Security-Policy"); got != plugin.PagesCSP {
				t.Errorf("%s: Content-Security-Policy %q", path, got)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("%s: Cache-Control %q, want no-cache", path, got)
			}
			if res.Header.Get("ETag") == "" {
				t.Errorf("%s: no ETag", path)
			}
			if want := contentTypeOf(path); want != "" && res.Header.Get("Content-Type") != want {
				t.Errorf("%s: Content-Type %q, want %q", path, res.Header.Get("Content-Type"), want)
			}
		}
	}
	var scenarios []tests.ApiScenario
	// every embedded file, by its own path, from one app (an app per file
	// would cost minutes under the race detector)
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	mux := serveMux(t, app.TestApp)
	for _, path := range pageFiles(t) {
		name := strings.TrimPrefix(path, "/")
		if strings.HasSuffix(name, "/") {
			name += "index.html"
		}
		data, err := fs.ReadFile(pbpublic.Impersonation, name)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), first) {
			t.Errorf("%s: %d, body without %q", path, rec.Code, first)
		}
		expectHeaders(path)(t, app.TestApp, rec.Result())
	}
	// the pages the contract names are there
	for _, path := range []string{
		"/impersonation/", "/impersonation/console/", "/impersonation/handoff.html", "/impersonation/banner.js",
		"/impersonation/lib/i18n.js", "/impersonation/lib/handoff.js", "/impersonation/lib/style.css",
	} {
		name := strings.TrimPrefix(path, "/")
		if strings.HasSuffix(name, "/") {
			name += "index.html"
		}
		if _, err := fs.Stat(pbpublic.Impersonation, name); err != nil {
			t.Errorf("%s is not embedded: %v", path, err)
		}
	}

	scenarios = append(scenarios,
		tests.ApiScenario{
			Name:            "the SDK is an ES module served as JavaScript",
			Method:          http.MethodGet,
			URL:             "/impersonation/vendor/pocketbase.es.mjs",
			ExpectedStatus:  200,
			ExpectedContent: []string{"export"},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectHeaders("/impersonation/vendor/pocketbase.es.mjs"),
		},
		tests.ApiScenario{
			Name:           "no trailing slash redirects",
			Method:         http.MethodGet,
			URL:            "/impersonation",
			ExpectedStatus: 301,
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, _ *tests.TestApp, res *http.Response) {
				if loc := res.Header.Get("Location"); loc != "/impersonation/" {
					t.Errorf("Location %q", loc)
				}
			},
		},
		tests.ApiScenario{
			Name:            "unknown file",
			Method:          http.MethodGet,
			URL:             "/impersonation/nope.js",
			ExpectedStatus:  404,
			ExpectedContent: []string{`"status":404`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		tests.ApiScenario{
			Name:               "no way out of the pages' directory",
			Method:             http.MethodGet,
			URL:                "/impersonation/..%2fembed.go",
			ExpectedStatus:     404,
			NotExpectedContent: []string{"package pbpublic"},
			ExpectedContent:    []string{`"status":404`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		tests.ApiScenario{
			Name:               "no way out of the pages' directory (encoded dots)",
			Method:             http.MethodGet,
			URL:                "/impersonation/%2e%2e/dashboard/main.js",
			ExpectedStatus:     404,
			NotExpectedContent: []string{"await"},
			ExpectedContent:    []string{`"status":404`},
			TestAppFactory:     factory(plugin.Config{}, nil),
		},
		tests.ApiScenario{
			Name:            "the dashboard extension's files",
			Method:          http.MethodGet,
			URL:             "/_/extensions/impersonation/main.js",
			ExpectedStatus:  200,
			ExpectedContent: []string{firstLine(t, pbpublic.Dashboard, "dashboard/main.js")},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		tests.ApiScenario{
			Name:            "/_/extensions.js holds the extension's main.js",
			Method:          http.MethodGet,
			URL:             "/_/extensions.js",
			ExpectedStatus:  200,
			ExpectedContent: []string{"await (async function(){" + readFile(t, pbpublic.Dashboard, "dashboard/main.js") + "})();"},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
	)
	for _, s := range scenarios {
		s.Test(t)
	}
}

func readFile(t testing.TB, fsys fs.FS, name string) string {
	t.Helper()
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func firstLine(t testing.TB, fsys fs.FS, name string) string {
	t.Helper()
	first, _, _ := strings.Cut(strings.TrimSpace(readFile(t, fsys, name)), "\n")
	return first
}

// TestUIPagesRevalidate: a page the browser has is answered 304 while it is
// unchanged, and never cached without revalidation.
func TestUIPagesRevalidate(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	mux := serveMux(t, app.TestApp)
	const path = "/impersonation/vendor/pocketbase.es.mjs"

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || etag == "" {
		t.Fatalf("first GET: %d, ETag %q", rec.Code, etag)
	}

	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("GET with the ETag: %d, %d bytes; want 304 and no body", rec.Code, rec.Body.Len())
	}

	req = httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("If-None-Match", `"stale"`)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("GET with another ETag: %d, want 200", rec.Code)
	}
}

// TestUIProductURL: Register takes a path of the app or an http(s) URL as
// ProductURL, never a script URL or one that leaves the origin by a
// protocol-relative path.
func TestUIProductURL(t *testing.T) {
	t.Parallel()
	for url, ok := range map[string]bool{
		"/":                        true,
		"/app/":                    true,
		"/app/?tab=1#top":          true,
		"https://app.example.com/": true,
		"http://127.0.0.1:8090/":   true,
		"javascript:alert(1)":      false,
		"JavaScript:alert(1)":      false,
		"data:text/html,x":         false,
		"//evil.example/":          false,
		`/\evil.example/`:          false,
		"app/":                     false,
		"ftp://example.com/":       false,
		"https:///path":            false,
	} {
		t.Run(url, func(t *testing.T) {
			app, err := testapp.NewApp()
			if err != nil {
				t.Fatal(err)
			}
			defer app.Cleanup()
			_, err = plugin.Register(app, plugin.Config{ProductURL: url})
			if (err == nil) != ok {
				t.Errorf("Register: %v, want accepted %v", err, ok)
			}
		})
	}
}
