package plugin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

// echoURL is a route the tests add to see a request as a handler sees it.
const echoURL = "/api/test/echo"

// addEcho adds echoURL for GET and POST: it answers with the body it read,
// the impersonation the plugin says the request is under, the session
// header and PocketBase's log meta.
func addEcho(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
	echo := func(re *core.RequestEvent) error {
		body, err := io.ReadAll(re.Request.Body)
		if err != nil {
			return err
		}
		out := map[string]any{
			"body":    string(body),
			"header":  re.Request.Header.Get(plugin.SessionHeader),
			"logMeta": re.Get(apis.RequestEventKeyLogMeta),
		}
		if imp := plugin.FromRequest(re); imp != nil {
			out["session"] = imp.Session.Id
			out["mode"] = imp.Session.Mode
			out["actor"] = imp.Actor.Id
		}
		return re.JSON(http.StatusOK, out)
	}
	e.Router.GET(echoURL, echo)
	e.Router.POST(echoURL, echo)
	e.Router.POST("/api/billing/charge", func(re *core.RequestEvent) error { return re.NoContent(204) })
}

// requestEntries returns the data of the "request" audit entries.
func requestEntries(t testing.TB, app *tests.TestApp) []*core.Record {
	t.Helper()
	if err := logOf(app).Flush(); err != nil {
		t.Fatal(err)
	}
	var entries []*core.Record
	err := app.RecordQuery(records.AuditCollection).AndWhere(dbx.HashExp{"event": "request"}).OrderBy("rowid").All(&entries)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// expectRequestAudit returns an AfterTestFunc that checks one request entry
// with status, written for session sessionId.
func expectRequestAudit(sessionId string, status int) func(testing.TB, *tests.TestApp, *http.Response) {
	return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		entries := requestEntries(t, app)
		if len(entries) != 1 {
			t.Fatalf("request entries: %d, want 1", len(entries))
		}
		if e := entries[0]; e.GetInt("status") != status || e.GetString("session") != sessionId || e.GetString("actor") != superuserId {
			t.Errorf("request entry: %v", e.PublicExport())
		}
	}
}

func TestReadAndWriteModes(t *testing.T) {
	t.Parallel()
	read := map[string]string{"Authorization": liveToken}
	write := map[string]string{"Authorization": writeToken}
	userURL := "/api/collections/users/records/" + userId
	readOnly := []string{`"status":403`, `"message":"The impersonation session is read-only."`, `"code":"read_only"`}
	never := []string{`"status":403`, `"message":"This action is never allowed while impersonating."`, `"code":"never_allowed"`}
	denied := []string{`"status":403`, `"message":"This action is not allowed while impersonating."`, `"code":"denied"`}
	unchanged := func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		user := mustFind(app, "users", userId)
		if user.GetString("name") != "test1" || user.Email() != "test@example.com" || user.Verified() {
			t.Errorf("the user changed: %v", user.PublicExport())
		}
	}
	withRoutes := func(denied, allowed []string) func(testing.TB) *tests.TestApp {
		return factory(plugin.Config{}, func(t testing.TB, app *testApp) {
			app.updatePolicy(t, "users", func(p *records.Policy) {
				p.SetDeniedRoutes(denied)
				p.SetAllowedRoutes(allowed)
			})
		})
	}
	scenario := func(name, method, url string, headers map[string]string, body any, status int, content []string) tests.ApiScenario {
		s := tests.ApiScenario{
			Name: name, Method: method, URL: url, Headers: headers,
			ExpectedStatus: status, ExpectedContent: content,
			TestAppFactory: factory(plugin.Config{}, nil),
			BeforeTestFunc: addEcho,
		}
		if body != nil {
			s.Body = jsonBody(body)
		}
		return s
	}
	withAfter := func(s tests.ApiScenario, after func(testing.TB, *tests.TestApp, *http.Response)) tests.ApiScenario {
		s.AfterTestFunc = after
		return s
	}
	withFactory := func(s tests.ApiScenario, f func(testing.TB) *tests.TestApp) tests.ApiScenario {
		s.TestAppFactory = f
		return s
	}

	scenarios := []tests.ApiScenario{
		withAfter(scenario("read: GET passes", http.MethodGet, userURL, read, nil, 200, []string{`"id":"` + userId + `"`}),
			expectRequestAudit(liveSessionId, 200)),
		withAfter(scenario("read: a change is refused", http.MethodPatch, userURL, read, map[string]any{"name": "changed"}, 403, readOnly),
			func(t testing.TB, app *tests.TestApp, res *http.Response) {
				unchanged(t, app, res)
				expectRequestAudit(liveSessionId, 403)(t, app, res)
			}),
		scenario("read: a custom POST is refused", http.MethodPost, echoURL, read, map[string]any{}, 403, readOnly),
		scenario("read: ending the session is allowed", http.MethodPost, "/api/impersonation/sessions/"+liveSessionId+"/end", read, nil, 204, nil),
		scenario("read: auth-refresh is allowed", http.MethodPost, "/api/collections/users/auth-refresh", read, nil, 200, []string{`"token":"` + liveToken + `"`}),
		withAfter(scenario("write: a change passes", http.MethodPatch, userURL, write, map[string]any{"name": "changed"}, 200, []string{`"name":"changed"`}),
			func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if mustFind(app, "users", userId).GetString("name") != "changed" {
					t.Error("the write did not happen")
				}
			}),
		withAfter(scenario("write: the email is never changed", http.MethodPatch, userURL, write, map[string]any{"email": "evil@example.com"}, 403, never), unchanged),
		withAfter(scenario("write: nor the password", http.MethodPatch, userURL, write, map[string]any{"password": "12345678aA!", "passwordConfirm": "12345678aA!", "oldPassword": "1234567890"}, 403, never), unchanged),
		withAfter(scenario("write: nor the verified flag", http.MethodPatch, userURL, write, map[string]any{"verified": true}, 403, never), unchanged),
		withAfter(scenario("write: nor with a modifier", http.MethodPatch, userURL, write, map[string]any{"email:autogenerate": ""}, 403, never), unchanged),
		withAfter(scenario("write: nor hidden among harmless fields", http.MethodPatch, userURL, write, map[string]any{"name": "x", "tokenKey": "stolen"}, 403, never), unchanged),
		withAfter(scenario("write: an auth record is never deleted", http.MethodDelete, userURL, write, nil, 403, never), unchanged),
		scenario("write: auth-with-password is never allowed", http.MethodPost, "/api/collections/users/auth-with-password", write, map[string]any{"identity": "test@example.com", "password": "1234567890"}, 403, never),
		scenario("write: request-password-reset is never allowed", http.MethodPost, "/api/collections/users/request-password-reset", write, map[string]any{"email": "test@example.com"}, 403, never),
		scenario("write: request-otp is never allowed", http.MethodPost, "/api/collections/users/request-otp", write, map[string]any{"email": "test@example.com"}, 403, never),
		scenario("write: request-email-change is never allowed", http.MethodPost, "/api/collections/users/request-email-change", write, map[string]any{"newEmail": "x@example.com"}, 403, never),
		scenario("write: confirm-verification is never allowed", http.MethodPost, "/api/collections/users/confirm-verification", write, map[string]any{"token": "x"}, 403, never),
		scenario("write: the consent routes are never allowed", http.MethodPut, "/api/impersonation/consent", write, map[string]any{"hours": 168}, 403, never),
		scenario("write: the built-in impersonate route is never allowed", http.MethodPost, "/api/collections/users/impersonate/"+user2Id, write, nil, 403, never),
		scenario("write: superuser-only routes are never allowed", http.MethodGet, "/api/settings", write, nil, 403, never),
		scenario("read: nor the collections", http.MethodGet, "/api/collections", read, nil, 403, never),
		scenario("read: nor the logs", http.MethodGet, "/api/logs", read, nil, 403, never),
		withFactory(scenario("write: a route the policy denies", http.MethodPost, "/api/billing/charge", write, map[string]any{}, 403, denied),
			withRoutes([]string{"POST /api/billing/*"}, nil)),
		scenario("write: the same route without the policy's denial", http.MethodPost, "/api/billing/charge", write, map[string]any{}, 204, nil),
		withFactory(scenario("read: a route the policy allows in read mode", http.MethodPost, "/api/billing/charge", read, map[string]any{}, 204, nil),
			withRoutes(nil, []string{"POST /api/billing/charge"})),
		withFactory(scenario("read: the policy cannot allow a never-allowed route", http.MethodGet, "/api/settings", read, nil, 403, never),
			withRoutes(nil, []string{"* /api/settings*"})),
		withFactory(scenario("write: unparsable route rules refuse everything", http.MethodGet, userURL, write, nil, 403, denied),
			factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				// written past the validation, as a broken database would hold it
				if _, err := app.DB().NewQuery("UPDATE impersonation_policies SET deniedRoutes = '{\"not\":\"a list\"}'").Execute(); err != nil {
					t.Fatal(err)
				}
			})),
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

func TestBatchWhileImpersonating(t *testing.T) {
	t.Parallel()
	batch := func(requests ...map[string]any) io.Reader {
		return jsonBody(map[string]any{"requests": requests})
	}
	enableBatch := func(t testing.TB, app *testApp) {
		settings := app.Settings()
		settings.Batch.Enabled = true
		settings.Batch.MaxRequests = 10
		if err := app.Save(settings); err != nil {
			t.Fatal(err)
		}
	}
	patchUser := func(body map[string]any) map[string]any {
		return map[string]any{"method": "PATCH", "url": "/api/collections/users/records/" + userId, "body": body}
	}
	scenarios := []tests.ApiScenario{
		{
			Name:            "a batch of harmless writes passes in write mode",
			Method:          http.MethodPost,
			URL:             "/api/batch",
			Body:            batch(patchUser(map[string]any{"name": "batched"})),
			Headers:         map[string]string{"Authorization": writeToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"name":"batched"`},
			TestAppFactory:  factory(plugin.Config{}, enableBatch),
		},
		{
			Name:            "a batch that hides an email change is refused whole",
			Method:          http.MethodPost,
			URL:             "/api/batch",
			Body:            batch(patchUser(map[string]any{"name": "batched"}), patchUser(map[string]any{"email": "evil@example.com"})),
			Headers:         map[string]string{"Authorization": writeToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"This action is never allowed while impersonating."`, `"code":"never_allowed"`},
			TestAppFactory:  factory(plugin.Config{}, enableBatch),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if user := mustFind(app, "users", userId); user.GetString("name") != "test1" || user.Email() != "test@example.com" {
					t.Errorf("the batch changed the user: %v", user.PublicExport())
				}
			},
		},
		{
			Name:            "a batch that deletes an auth record is refused",
			Method:          http.MethodPost,
			URL:             "/api/batch",
			Body:            batch(map[string]any{"method": "DELETE", "url": "/api/collections/users/records/" + userId}),
			Headers:         map[string]string{"Authorization": writeToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, enableBatch),
		},
		{
			Name:   "a batch request cannot clear the session header",
			Method: http.MethodPost,
			URL:    "/api/batch",
			Body: batch(map[string]any{"method": "PATCH", "url": "/api/collections/users/records/" + userId,
				"headers": map[string]any{"x-impersonation-session": ""}, "body": map[string]any{"name": "x"}}),
			Headers:         map[string]string{"Authorization": writeToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, enableBatch),
		},
		{
			Name:            "a batch is refused in read mode",
			Method:          http.MethodPost,
			URL:             "/api/batch",
			Body:            batch(patchUser(map[string]any{"name": "batched"})),
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"message":"The impersonation session is read-only."`, `"code":"read_only"`},
			TestAppFactory:  factory(plugin.Config{}, enableBatch),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestAppsSeeTheImpersonation checks what an app's own code sees: the
// plugin's FromRequest, the session header for API rules (which a client
// cannot forge), and PocketBase's log meta.
func TestAppsSeeTheImpersonation(t *testing.T) {
	t.Parallel()
	notWhileImpersonating := factory(plugin.Config{}, func(t testing.TB, app *testApp) {
		users, err := app.FindCollectionByNameOrId("users")
		if err != nil {
			t.Fatal(err)
		}
		rule := `id = @request.auth.id && @request.headers.x_impersonation_session = ""`
		users.ViewRule = &rule
		if err := app.Save(users); err != nil {
			t.Fatal(err)
		}
	})
	scenarios := []tests.ApiScenario{
		{
			Name:           "an impersonated request",
			Method:         http.MethodGet,
			URL:            echoURL,
			Headers:        map[string]string{"Authorization": liveToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"session":"` + liveSessionId + `"`, `"mode":"read"`, `"actor":"` + superuserId + `"`,
				`"header":"` + liveSessionId + `"`,
				`"logMeta":{"impersonation":{`, `"actor":"` + superuserId + `"`,
			},
			TestAppFactory: factory(plugin.Config{}, nil),
			BeforeTestFunc: addEcho,
		},
		{
			Name:               "a user's own request, with a forged session header",
			Method:             http.MethodGet,
			URL:                echoURL,
			Headers:            map[string]string{"Authorization": userToken, plugin.SessionHeader: liveSessionId},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"header":""`},
			NotExpectedContent: []string{`"session"`, `"impersonation"`},
			TestAppFactory:     factory(plugin.Config{}, nil),
			BeforeTestFunc:     addEcho,
		},
		{
			Name:            "an API rule refuses the impersonator",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + userId,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  404,
			ExpectedContent: []string{`"status":404`},
			TestAppFactory:  notWhileImpersonating,
		},
		{
			Name:            "and lets the user in",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + userId,
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"id":"` + userId + `"`},
			TestAppFactory:  notWhileImpersonating,
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestRequestAudit checks the per-request audit entry: what it keeps, what
// it redacts, and that the handler still gets the body it was sent.
func TestRequestAudit(t *testing.T) {
	t.Parallel()
	// long enough to be kept as a keyed hash (redact.MinHashed)
	const secret = "s3cr3t-VALUE-42-long-enough"
	body := `{"profile":{"settings":[{"apiKey":"` + secret + `","theme":"dark"}]},"Password":"` + secret + `","otp":"4321","note":"hello"}`

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("title", "report")
	_ = mw.WriteField("otp", secret)
	_ = mw.WriteField("code", "123456")
	fw, _ := mw.CreateFormFile("document", "report.pdf")
	_, _ = fw.Write([]byte(strings.Repeat("x", 1234)))
	_ = mw.Close()

	entryData := func(t testing.TB, app *tests.TestApp) (*core.Record, string) {
		entries := requestEntries(t, app)
		if len(entries) != 1 {
			t.Fatalf("request entries: %d", len(entries))
		}
		raw, _ := json.Marshal(entries[0].Get("data"))
		if strings.Contains(string(raw), secret) {
			t.Errorf("the audit holds the secret: %s", raw)
		}
		return entries[0], string(raw)
	}
	scenarios := []tests.ApiScenario{
		{
			Name:            "JSON body and query string: secrets hashed at any depth (guessable ones only marked), the handler gets the body unchanged",
			Method:          http.MethodPost,
			URL:             echoURL + "?token=" + secret + "&page=2",
			Body:            strings.NewReader(body),
			Headers:         map[string]string{"Authorization": writeToken, "User-Agent": "audit-test/1.0"},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"body":` + string(mustJSON(body))},
			TestAppFactory:  factory(plugin.Config{}, nil),
			BeforeTestFunc:  addEcho,
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				entry, data := entryData(t, app)
				for _, want := range []string{`"page":["2"]`, `"token":["hmac-sha256:`, `"apiKey":"hmac-sha256:`, `"Password":"hmac-sha256:`, `"otp":"[redacted]"`, `"theme":"dark"`, `"note":"hello"`, `"route":"POST ` + echoURL + `"`, `"durationMs":`} {
					if !strings.Contains(data, want) {
						t.Errorf("entry data lacks %s: %s", want, data)
					}
				}
				if entry.GetString("method") != "POST" || entry.GetString("path") != echoURL || entry.GetString("userAgent") != "audit-test/1.0" ||
					entry.GetString("session") != writeSessionId || entry.GetString("target") != userId || entry.GetInt("status") != 200 {
					t.Errorf("entry: %v", entry.PublicExport())
				}
			},
		},
		{
			Name:            "multipart: fields redacted (guessable ones only marked), files by name, size and type only",
			Method:          http.MethodPost,
			URL:             echoURL,
			Body:            bytes.NewReader(form.Bytes()),
			Headers:         map[string]string{"Authorization": writeToken, "Content-Type": mw.FormDataContentType()},
			ExpectedStatus:  200,
			ExpectedContent: []string{strings.Repeat("x", 1234)},
			TestAppFactory:  factory(plugin.Config{}, nil),
			BeforeTestFunc:  addEcho,
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				_, data := entryData(t, app)
				for _, want := range []string{`"title":["report"]`, `"otp":["hmac-sha256:`, `"code":["[redacted]"]`, `"name":"report.pdf"`, `"size":1234`} {
					if !strings.Contains(data, want) {
						t.Errorf("entry data lacks %s: %s", want, data)
					}
				}
				if strings.Contains(data, "xxxx") {
					t.Errorf("the file's content is in the audit: %s", data)
				}
			},
		},
		{
			Name:            "a refused request is audited with its status",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + userId,
			Headers:         map[string]string{"Authorization": endedToken},
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectRequestAudit(endedSessionId, 401),
		},
		{
			Name:            "the keyed hash is the install's: a known value can be matched",
			Method:          http.MethodGet,
			URL:             echoURL + "?token=" + secret,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"session":"` + liveSessionId + `"`},
			TestAppFactory:  factory(plugin.Config{AuditKey: []byte("a known test key")}, nil),
			BeforeTestFunc:  addEcho,
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				// the keyed hash under "a known test key", computed independently
				want := hmacHex("a known test key", secret)
				if _, data := entryData(t, app); !strings.Contains(data, `"token":["hmac-sha256:`+want+`"]`) {
					t.Errorf("the hash is not the keyed hash of the value: %s", data)
				}
			},
		},
		{
			Name:               "an audit write that fails fails the request closed",
			Method:             http.MethodGet,
			URL:                "/api/collections/users/records/" + userId,
			Headers:            map[string]string{"Authorization": liveToken},
			ExpectedStatus:     500,
			ExpectedContent:    []string{`"status":500`},
			NotExpectedContent: []string{"test@example.com"},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				// the journal takes no entries, as a full disk would not
				if err := logOf(app).Writer.Close(); err != nil {
					t.Fatal(err)
				}
			}),
		},
		{
			Name:            "requests with ordinary tokens are not audited",
			Method:          http.MethodGet,
			URL:             "/api/collections/users/records/" + userId,
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"id":"` + userId + `"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				wrap(app).expectAudit(t)
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestSecretsNeverReachTheAudit holds the promise "secrets never reach the
// audit" against the encodings a review carried them past it with: the JS
// SDK's multipart @jsonPayload (in the body and, merged into the body by
// PocketBase, in the query), and JSON with a charset parameter and bytes
// after the value. PocketBase reads every one of these bodies (the guard
// refuses the password change it finds in them); the stored audit row holds
// none of the secrets, only their keyed hashes or, for a guessable one, a
// marker.
func TestSecretsNeverReachTheAudit(t *testing.T) {
	t.Parallel()
	const (
		auditKey    = "a known test key"
		password    = "correct-horse-battery-staple-42"
		apiToken    = "tok_live_0123456789abcdefghij"
		otp         = "482916"
		querySecret = "query-payload-secret-0123456789"
	)
	payload := `{"name":"changed","password":"` + password + `","passwordConfirm":"` + password +
		`","apiToken":"` + apiToken + `","otp":"` + otp + `"}`
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("@jsonPayload", payload)
	fw, _ := mw.CreateFormFile("avatar", "me.png")
	_, _ = fw.Write([]byte("PNG"))
	_ = mw.Close()
	userURL := "/api/collections/users/records/" + userId
	never := []string{`"message":"This action is never allowed while impersonating."`, `"code":"never_allowed"`}
	redacted := []string{
		`"password":"hmac-sha256:` + hmacHex(auditKey, password) + `"`,
		`"passwordConfirm":"hmac-sha256:` + hmacHex(auditKey, password) + `"`,
		`"apiToken":"hmac-sha256:` + hmacHex(auditKey, apiToken) + `"`,
		`"otp":"[redacted]"`,
		`"name":"changed"`,
	}

	// stored checks every column of the one request entry, as the app's
	// database holds it.
	stored := func(want ...string) func(testing.TB, *tests.TestApp, *http.Response) {
		return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			if err := logOf(app).Flush(); err != nil {
				t.Fatal(err)
			}
			var rows []dbx.NullStringMap
			err := app.DB().Select("*").From(records.AuditCollection).Where(dbx.HashExp{"event": audit.Request}).All(&rows)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 {
				t.Fatalf("request entries: %d, want 1", len(rows))
			}
			var row strings.Builder
			for column, v := range rows[0] {
				row.WriteString(column + "=" + v.String + "\n")
			}
			for _, s := range []string{password, apiToken, otp, querySecret} {
				if strings.Contains(row.String(), s) {
					t.Errorf("the stored audit entry holds the secret %q:\n%s", s, row.String())
				}
			}
			for _, w := range want {
				if !strings.Contains(rows[0]["data"].String, w) {
					t.Errorf("the stored entry's data lacks %s: %s", w, rows[0]["data"].String)
				}
			}
		}
	}
	headers := func(contentType string) map[string]string {
		return map[string]string{"Authorization": writeToken, "Content-Type": contentType}
	}
	withKey := factory(plugin.Config{AuditKey: []byte(auditKey)}, nil)
	scenarios := []tests.ApiScenario{
		{
			Name:   "a multipart PATCH as the JS SDK sends it, with an @jsonPayload in the query too",
			Method: http.MethodPatch,
			URL:    userURL + "?@jsonPayload=" + url.QueryEscape(`{"secret":"`+querySecret+`"}`),
			Body:   bytes.NewReader(form.Bytes()), Headers: headers(mw.FormDataContentType()),
			ExpectedStatus: 403, ExpectedContent: never,
			TestAppFactory: withKey,
			AfterTestFunc: stored(append([]string{`"secret":"hmac-sha256:` + hmacHex(auditKey, querySecret) + `"`,
				`"avatar":[{"name":"me.png","size":3,"type":"application/octet-stream"}]`}, redacted...)...),
		},
		{
			Name:    "a JSON PATCH with a charset parameter and bytes after the value",
			Method:  http.MethodPatch,
			URL:     userURL,
			Body:    strings.NewReader(payload + "\n" + `{"password":"` + password + `"} garbage ` + apiToken),
			Headers: headers("application/json; charset=utf-8"), ExpectedStatus: 403, ExpectedContent: never,
			TestAppFactory: withKey,
			AfterTestFunc:  stored(redacted...),
		},
		{
			Name:    "an urlencoded PATCH with an @jsonPayload",
			Method:  http.MethodPatch,
			URL:     userURL,
			Body:    strings.NewReader("@jsonPayload=" + url.QueryEscape(payload)),
			Headers: headers("application/x-www-form-urlencoded"), ExpectedStatus: 403, ExpectedContent: never,
			TestAppFactory: withKey,
			AfterTestFunc:  stored(redacted...),
		},
		{
			Name:   "a multipart POST to a route that reads the raw body",
			Method: http.MethodPost,
			URL:    echoURL,
			Body:   bytes.NewReader(form.Bytes()), Headers: headers(mw.FormDataContentType()),
			ExpectedStatus: 200, ExpectedContent: []string{`"session":"` + writeSessionId + `"`},
			TestAppFactory: withKey, BeforeTestFunc: addEcho,
			AfterTestFunc: stored(redacted...),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// mustJSON returns s as a JSON string literal.
func mustJSON(s string) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}
