package plugin_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/mailer"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

const requestsURL = "/api/impersonation/requests"

func approveURL(id string) string { return requestsURL + "/" + id + "/approve" }
func declineURL(id string) string { return requestsURL + "/" + id + "/decline" }

// The fixture request addRequest makes: clientId asking to act as user3Id
// (who has no consent), for 30 minutes in write mode.
const fixtureRequestId = "requestfixture1"

// addRequest adds, as fixtureRequestId, a request of actor (collection,
// id) about user3Id in status, 30 minutes in write mode, made at the app's
// clock (approved then, when status is approved or used).
func (a *testApp) addRequest(t testing.TB, actorCollection, actorId string, status records.RequestStatus) *records.Request {
	t.Helper()
	return a.addRequestOn(t, actorCollection, actorId, user3Id, status)
}

// addRequestOn is addRequest about the user userId.
func (a *testApp) addRequestOn(t testing.TB, actorCollection, actorId, userId string, status records.RequestStatus) *records.Request {
	t.Helper()
	r, err := records.NewRequest(a, mustFind(a, actorCollection, actorId), mustFind(a, "users", userId))
	if err != nil {
		t.Fatal(err)
	}
	r.Id = fixtureRequestId
	r.SetReason("ticket 77")
	r.SetMinutes(30)
	r.SetMode(records.ModeWrite)
	r.SetStatus(status)
	r.SetExpires(a.clock.Now().Add(24 * time.Hour))
	if status == records.RequestApproved || status == records.RequestUsed {
		r.SetApproved(a.clock.Now())
		r.SetUserAnswered(a.clock.Now())
	}
	if err := a.Save(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// clientAsks adds the fixture request of clientId, pending.
func clientAsks(t testing.TB, app *testApp) {
	app.addRequest(t, "clients", clientId, records.RequestPending)
}

// approvers makes user2Id the one approver of the users policy, whose
// approval counts the answers of approval.
func approvers(approval records.Approval) func(testing.TB, *testApp) {
	return func(t testing.TB, app *testApp) {
		app.updatePolicy(t, "users", func(p *records.Policy) {
			p.SetApproval(approval)
			p.SetApproverRule(`@request.auth.collectionName = "users" && @request.auth.id = "` + user2Id + `"`)
		})
	}
}

// both runs the setups one after the other.
func both(setups ...func(testing.TB, *testApp)) func(testing.TB, *testApp) {
	return func(t testing.TB, app *testApp) {
		for _, s := range setups {
			s(t, app)
		}
	}
}

// requestOf returns the fixture request as stored.
func requestOf(t testing.TB, app core.App) *records.Request {
	t.Helper()
	r, err := records.FindRequest(app, fixtureRequestId)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expectRequest returns an AfterTestFunc that checks the fixture request's
// status and the audit's entries (but the setup's policy.updated).
func expectRequest(status records.RequestStatus, events ...string) func(testing.TB, *tests.TestApp, *http.Response) {
	return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		if got := requestOf(t, app).Status(); got != status {
			t.Errorf("request status %q, want %q", got, status)
		}
		got := wrap(app).auditEvents(t, dbx.NewExp("event != 'policy.updated'"))
		if strings.Join(got, ",") != strings.Join(events, ",") {
			t.Errorf("audit entries:\n got %v\nwant %v", got, events)
		}
	}
}

// mailedTo returns the email sent to to whose subject has subject, and
// fails t when there is none (emails go out in the background, in any
// order).
func mailedTo(t testing.TB, app *tests.TestApp, to, subject string) *mailer.Message {
	t.Helper()
	for _, msg := range app.TestMailer.Messages() {
		if msg.To[0].Address == to && strings.Contains(msg.Subject, subject) {
			return msg
		}
	}
	t.Errorf("no email to %s %q among %d", to, subject, app.TestMailer.TotalSend())
	return &mailer.Message{}
}

func TestRequestAsk(t *testing.T) {
	t.Parallel()
	ask := func(extra map[string]any) *strings.Reader {
		body := map[string]any{"collection": "users", "record": user3Id, "reason": "ticket 77", "minutes": 20, "mode": "write"}
		for k, v := range extra {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		b, _ := json.Marshal(body)
		return strings.NewReader(string(b))
	}
	client := map[string]string{"Authorization": clientToken}
	nothingAsked := func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		if n, _ := app.CountRecords(records.RequestsCollection); n != 0 {
			t.Errorf("%d requests written", n)
		}
		wrap(app).expectAudit(t)
	}
	scenarios := []tests.ApiScenario{
		{
			Name: "guest", Method: http.MethodPost, URL: requestsURL, Body: ask(nil),
			ExpectedStatus: 401, ExpectedContent: []string{`"code":"auth_required"`},
			TestAppFactory: factory(plugin.Config{}, nil), AfterTestFunc: nothingAsked,
		},
		{
			Name: "an impersonation token", Method: http.MethodPost, URL: requestsURL, Body: ask(nil),
			Headers:        map[string]string{"Authorization": writeToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"chaining"`},
			TestAppFactory: factory(plugin.Config{}, nil),
		},
		{
			Name: "a body that cannot be read", Method: http.MethodPost, URL: requestsURL, Body: strings.NewReader(`{"collection":`),
			Headers: client, ExpectedStatus: 400, ExpectedContent: []string{`"code":"invalid_body"`},
			TestAppFactory: factory(plugin.Config{}, nil), AfterTestFunc: nothingAsked,
		},
		{
			Name: "no reason", Method: http.MethodPost, URL: requestsURL, Body: ask(map[string]any{"reason": nil}),
			Headers: client, ExpectedStatus: 400, ExpectedContent: []string{`"reason":{"code":"validation_required"`},
			TestAppFactory: factory(plugin.Config{}, nil), AfterTestFunc: nothingAsked,
		},
		{
			Name: "an invisible reason", Method: http.MethodPost, URL: requestsURL,
			Body:    ask(map[string]any{"reason": strings.Repeat("\u200b\u2060\ufeff\u00ad\u202e\u0301", 4)}),
			Headers: client, ExpectedStatus: 400, ExpectedContent: []string{`"reason":{"code":"validation_required"`},
			TestAppFactory: factory(plugin.Config{}, nil), AfterTestFunc: nothingAsked,
		},
		{
			Name: "more minutes than the policy's maximum", Method: http.MethodPost, URL: requestsURL, Body: ask(map[string]any{"minutes": 61}),
			Headers: client, ExpectedStatus: 400, ExpectedContent: []string{`"minutes":{"code":"validation_max_less_equal_than_required"`},
			TestAppFactory: factory(plugin.Config{}, nil), AfterTestFunc: nothingAsked,
		},
		{
			Name: "a collection with no policy", Method: http.MethodPost, URL: requestsURL,
			Body:    ask(map[string]any{"collection": "clients", "record": client2Id}),
			Headers: client, ExpectedStatus: 403, ExpectedContent: []string{`"code":"not_allowed"`},
			TestAppFactory: factory(plugin.Config{}, nil), AfterTestFunc: nothingAsked,
		},
		{
			Name: "an actor the impersonatorRule refuses", Method: http.MethodPost, URL: requestsURL, Body: ask(nil),
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"not_allowed"`},
			TestAppFactory: factory(plugin.Config{}, nil), AfterTestFunc: nothingAsked,
		},
		{
			Name: "a user whose consent is in force", Method: http.MethodPost, URL: requestsURL,
			Body:    ask(map[string]any{"record": user2Id}),
			Headers: client, ExpectedStatus: 409, ExpectedContent: []string{`"code":"request_not_needed"`},
			TestAppFactory: factory(plugin.Config{}, nil), AfterTestFunc: nothingAsked,
		},
		{
			Name: "asked", Method: http.MethodPost, URL: requestsURL, Body: ask(nil), Headers: client,
			ExpectedStatus: 200,
			ExpectedContent: []string{`"status":"pending"`, `"expires":"20`, `"id":"`, `"minutes":20`, `"mode":"write"`,
				`"role":"asker"`, `"reason":"ticket 77"`},
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				var out struct{ Id, Expires string }
				if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
					t.Fatal(err)
				}
				r, err := records.FindRequest(app, out.Id)
				if err != nil {
					t.Fatal(err)
				}
				if r.Actor() != clientId || r.Target() != user3Id || r.Status() != records.RequestPending ||
					r.Minutes() != 20 || r.Mode() != records.ModeWrite {
					t.Errorf("request %v", r.PublicExport())
				}
				if left := time.Until(r.Expires()); left > 24*time.Hour || left < 23*time.Hour {
					t.Errorf("the request waits %v, want the default 24 hours", left)
				}
				wrap(app).expectAudit(t, "request.created")
				if html := mailedTo(t, app, "test3@example.com", "Support asks to act as you").HTML; !strings.Contains(html, "/impersonation/") || strings.Contains(html, out.Id) {
					t.Errorf("the email links the user's page, never the request: %s", html)
				}
			},
		},
		{
			Name: "the policy's requestHours", Method: http.MethodPost, URL: requestsURL, Body: ask(nil), Headers: client,
			ExpectedStatus: 200, ExpectedContent: []string{`"status":"pending"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.updatePolicy(t, "users", func(p *records.Policy) { p.SetRequestHours(2) })
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				rs, _ := records.FindRequests(app, dbx.NewExp("1=1"), 0)
				if len(rs) != 1 || time.Until(rs[0].Expires()) > 2*time.Hour || time.Until(rs[0].Expires()) < time.Hour {
					t.Errorf("requests %v, want one waiting 2 hours", rs)
				}
			},
		},
		{
			Name: "a second request while one is pending", Method: http.MethodPost, URL: requestsURL, Body: ask(nil), Headers: client,
			ExpectedStatus: 409, ExpectedContent: []string{`"code":"request_pending"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if n, _ := app.CountRecords(records.RequestsCollection); n != 1 {
					t.Errorf("%d requests, want the one pending", n)
				}
			},
		},
		{
			Name: "again once the pending one has expired", Method: http.MethodPost, URL: requestsURL, Body: ask(nil), Headers: client,
			ExpectedStatus: 200, ExpectedContent: []string{`"status":"pending"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				clientAsks(t, app)
				app.clock.Advance(25 * time.Hour)
			}),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if got := requestOf(t, app).Status(); got != records.RequestExpired {
					t.Errorf("the old request is %q", got)
				}
				wrap(app).expectAudit(t, "request.expired", "request.created")
			},
		},
		{
			Name: "over the attempt limit: asking counts with starts", Method: http.MethodPost, URL: requestsURL, Body: ask(nil), Headers: client,
			ExpectedStatus: 429, ExpectedContent: []string{`"code":"rate_limited"`},
			TestAppFactory: factory(plugin.Config{}, nil),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				// four starts and one ask: the policy's five attempts a minute
				for range 4 {
					serve(t, e, http.MethodPost, sessionsURL, `{"collection":"users","record":"`+user3Id+`","reason":"ticket 77"}`, clientToken)
				}
				if rec := serve(t, e, http.MethodPost, requestsURL, `{"collection":"users","record":"`+user3Id+`","reason":"ticket 77"}`, clientToken); rec.Code != 200 {
					t.Fatalf("the fifth attempt, an ask: %d %s", rec.Code, rec.Body)
				}
			},
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

func TestRequestApprove(t *testing.T) {
	t.Parallel()
	user3 := map[string]string{"Authorization": user3Token}
	body := func(s string) *strings.Reader { return strings.NewReader(s) }
	scenarios := []tests.ApiScenario{
		{
			Name: "guest", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			ExpectedStatus: 401, ExpectedContent: []string{`"code":"auth_required"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks), AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "an impersonation token", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			Headers:        map[string]string{"Authorization": writeToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"consent_while_impersonating"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks),
		},
		{
			Name: "no such request", Method: http.MethodPost, URL: approveURL("nosuchrequest00"), Headers: user3,
			ExpectedStatus: 404, ExpectedContent: []string{`"code":"not_found"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks),
		},
		{
			Name: "another user's request", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			Headers:        map[string]string{"Authorization": user2Token},
			ExpectedStatus: 404, ExpectedContent: []string{`"code":"not_found"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks), AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "the asker approving their own request", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			Headers:        map[string]string{"Authorization": clientToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"own_request"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks), AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "a superuser approving their own request, whatever the approval", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			Headers:        map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"own_request"`},
			TestAppFactory: factory(plugin.Config{}, both(approvers(records.ApprovalApprover), func(t testing.TB, app *testApp) {
				app.addRequest(t, core.CollectionNameSuperusers, superuserId, records.RequestPending)
			})),
			AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "more minutes than asked", Method: http.MethodPost, URL: approveURL(fixtureRequestId), Headers: user3,
			Body:           body(`{"minutes":31}`),
			ExpectedStatus: 400, ExpectedContent: []string{`"minutes":{"code":"validation_request_widening"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks), AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "write where read was asked", Method: http.MethodPost, URL: approveURL(fixtureRequestId), Headers: user3,
			Body:           body(`{"mode":"write"}`),
			ExpectedStatus: 400, ExpectedContent: []string{`"mode":{"code":"validation_request_widening"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				r := app.addRequest(t, "clients", clientId, records.RequestPending)
				r.SetMode(records.ModeRead)
				if err := app.Save(r); err != nil {
					t.Fatal(err)
				}
			}),
			AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "a mode that does not exist", Method: http.MethodPost, URL: approveURL(fixtureRequestId), Headers: user3,
			Body: body(`{"mode":"admin"}`), ExpectedStatus: 400, ExpectedContent: []string{`"mode":{"code":"validation_in_invalid"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks), AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "a body that cannot be read", Method: http.MethodPost, URL: approveURL(fixtureRequestId), Headers: user3,
			Body: body(`{"minutes":`), ExpectedStatus: 400, ExpectedContent: []string{`"code":"invalid_body"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks), AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "a request that expired unanswered", Method: http.MethodPost, URL: approveURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 409, ExpectedContent: []string{`"code":"request_expired"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				clientAsks(t, app)
				app.clock.Advance(24 * time.Hour)
			}),
			AfterTestFunc: expectRequest(records.RequestExpired, "request.expired"),
		},
		{
			Name: "a request declined already", Method: http.MethodPost, URL: approveURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 409, ExpectedContent: []string{`"code":"request_answered"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.addRequest(t, "clients", clientId, records.RequestDeclined)
			}),
			AfterTestFunc: expectRequest(records.RequestDeclined),
		},
		{
			Name: "approved by the user, shortened and made read-only", Method: http.MethodPost, URL: approveURL(fixtureRequestId), Headers: user3,
			Body:            body(`{"minutes":10,"mode":"read"}`),
			ExpectedStatus:  200,
			ExpectedContent: []string{`"status":"approved"`, `"minutes":10`, `"mode":"read"`, `"role":"user"`, `"approved":"20`},
			TestAppFactory:  factory(plugin.Config{}, clientAsks),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectRequest(records.RequestApproved, "request.approved")(t, app, res)
				if r := requestOf(t, app); r.Minutes() != 10 || r.Mode() != records.ModeRead {
					t.Errorf("approved %d minutes %s", r.Minutes(), r.Mode())
				}
				mailedTo(t, app, "test@example.com", "is approved")
			},
		},
		{
			Name: "the user, where an approver's answer counts", Method: http.MethodPost, URL: approveURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"approval_not_counted"`},
			TestAppFactory: factory(plugin.Config{}, both(approvers(records.ApprovalApprover), clientAsks)),
			AfterTestFunc:  expectRequest(records.RequestPending),
		},
		{
			Name: "an approver outside the approverRule", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 404, ExpectedContent: []string{`"code":"not_found"`},
			TestAppFactory: factory(plugin.Config{}, both(approvers(records.ApprovalApprover), clientAsks)),
			AfterTestFunc:  expectRequest(records.RequestPending),
		},
		{
			Name: "an approver of a policy whose approval is the user's", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			Headers:        map[string]string{"Authorization": user2Token},
			ExpectedStatus: 404, ExpectedContent: []string{`"code":"not_found"`},
			TestAppFactory: factory(plugin.Config{}, both(approvers(records.ApprovalUser), clientAsks)),
			AfterTestFunc:  expectRequest(records.RequestPending),
		},
		{
			Name: "approved by an approver: the user is told who", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			Headers:         map[string]string{"Authorization": user2Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"status":"approved"`, `"role":"approver"`, `"approver":{"id":"` + user2Id},
			TestAppFactory:  factory(plugin.Config{}, both(approvers(records.ApprovalApprover), clientAsks)),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectRequest(records.RequestApproved, "request.approved")(t, app, res)
				if html := mailedTo(t, app, "test3@example.com", "was approved").HTML; !strings.Contains(html, "test2@example.com") {
					t.Errorf("the user's email does not name the approver: %s", html)
				}
			},
		},
		{
			Name: "a superuser as an approver", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			Headers:         map[string]string{"Authorization": superuserToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"status":"approved"`, `"role":"approver"`},
			TestAppFactory:  factory(plugin.Config{}, both(approvers(records.ApprovalApprover), clientAsks)),
			AfterTestFunc:   expectRequest(records.RequestApproved, "request.approved"),
		},
		{
			Name: "four eyes: the user's answer alone leaves it pending", Method: http.MethodPost, URL: approveURL(fixtureRequestId), Headers: user3,
			ExpectedStatus:  200,
			ExpectedContent: []string{`"status":"pending"`, `"userAnswered":"20`, `"approval":"both"`},
			TestAppFactory:  factory(plugin.Config{}, both(approvers(records.ApprovalBoth), clientAsks)),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectRequest(records.RequestPending, "request.approved")(t, app, res)
				var awaiting string
				_ = app.RecordQuery(records.AuditCollection).Select("json_extract(data, '$.awaiting')").
					AndWhere(dbx.HashExp{"event": "request.approved"}).Row(&awaiting)
				if awaiting != "approver" {
					t.Errorf("the entry awaits %q", awaiting)
				}
			},
		},
		{
			Name: "four eyes: the approver's answer after the user's approves", Method: http.MethodPost, URL: approveURL(fixtureRequestId),
			Headers:         map[string]string{"Authorization": user2Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"status":"approved"`},
			TestAppFactory:  factory(plugin.Config{}, both(approvers(records.ApprovalBoth), clientAsks)),
			BeforeTestFunc: func(t testing.TB, app *tests.TestApp, e *core.ServeEvent) {
				if rec := serve(t, e, http.MethodPost, approveURL(fixtureRequestId), "", user3Token); rec.Code != 200 {
					t.Fatalf("the user's answer: %d %s", rec.Code, rec.Body)
				}
				if rec := serve(t, e, http.MethodPost, approveURL(fixtureRequestId), "", user3Token); rec.Code != 409 {
					t.Fatalf("the user's answer again: %d %s", rec.Code, rec.Body)
				}
			},
			AfterTestFunc: expectRequest(records.RequestApproved, "request.approved", "request.approved"),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

func TestRequestDecline(t *testing.T) {
	t.Parallel()
	user3 := map[string]string{"Authorization": user3Token}
	scenarios := []tests.ApiScenario{
		{
			Name: "guest", Method: http.MethodPost, URL: declineURL(fixtureRequestId),
			ExpectedStatus: 401, ExpectedContent: []string{`"code":"auth_required"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks), AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "another user's request", Method: http.MethodPost, URL: declineURL(fixtureRequestId),
			Headers:        map[string]string{"Authorization": user2Token},
			ExpectedStatus: 404, ExpectedContent: []string{`"code":"not_found"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks), AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "the asker", Method: http.MethodPost, URL: declineURL(fixtureRequestId),
			Headers:        map[string]string{"Authorization": clientToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"own_request"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks), AfterTestFunc: expectRequest(records.RequestPending),
		},
		{
			Name: "declined by the user", Method: http.MethodPost, URL: declineURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 200, ExpectedContent: []string{`"status":"declined"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectRequest(records.RequestDeclined, "request.declined")(t, app, res)
				mailedTo(t, app, "test@example.com", "was declined")
			},
		},
		{
			Name: "the user declines where an approver approves", Method: http.MethodPost, URL: declineURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 200, ExpectedContent: []string{`"status":"declined"`, `"role":"user"`},
			TestAppFactory: factory(plugin.Config{}, both(approvers(records.ApprovalApprover), clientAsks)),
			AfterTestFunc:  expectRequest(records.RequestDeclined, "request.declined"),
		},
		{
			Name: "an approver outside the approverRule", Method: http.MethodPost, URL: declineURL(fixtureRequestId),
			Headers:        map[string]string{"Authorization": userToken},
			ExpectedStatus: 404, ExpectedContent: []string{`"code":"not_found"`},
			TestAppFactory: factory(plugin.Config{}, both(approvers(records.ApprovalApprover), clientAsks)),
			AfterTestFunc:  expectRequest(records.RequestPending),
		},
		{
			Name: "declined twice", Method: http.MethodPost, URL: declineURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 409, ExpectedContent: []string{`"code":"request_answered"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.addRequest(t, "clients", clientId, records.RequestDeclined)
			}),
			AfterTestFunc: expectRequest(records.RequestDeclined),
		},
		{
			Name: "a request that expired unanswered", Method: http.MethodPost, URL: declineURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 409, ExpectedContent: []string{`"code":"request_expired"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				clientAsks(t, app)
				app.clock.Advance(24 * time.Hour)
			}),
			AfterTestFunc: expectRequest(records.RequestExpired, "request.expired"),
		},
		{
			Name: "an approval unused past its hour", Method: http.MethodPost, URL: declineURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 409, ExpectedContent: []string{`"code":"request_expired"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.addRequest(t, "clients", clientId, records.RequestApproved)
				app.clock.Advance(records.ClaimWindow)
			}),
			AfterTestFunc: expectRequest(records.RequestExpired, "request.expired"),
		},
		{
			Name: "a used approval whose session has ended", Method: http.MethodPost, URL: declineURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 409, ExpectedContent: []string{`"code":"request_answered"`},
			TestAppFactory: factory(plugin.Config{}, usedBy(records.EndStopped)),
			AfterTestFunc:  nothingWithdrawn,
		},
		{
			Name: "a used approval whose session has expired, not yet marked ended", Method: http.MethodPost, URL: declineURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 409, ExpectedContent: []string{`"code":"request_answered"`},
			TestAppFactory: factory(plugin.Config{}, usedBy("")),
			AfterTestFunc:  nothingWithdrawn,
		},
		{
			Name: "a used approval whose session is live: withdrawn, the session ends", Method: http.MethodPost, URL: declineURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 200, ExpectedContent: []string{`"status":"withdrawn"`},
			TestAppFactory: factory(plugin.Config{}, usedBy(liveSession)),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectRequest(records.RequestWithdrawn, "request.withdrawn", "session.ended:consent_revoked")(t, app, res)
				wrap(app).expectEnded(t, usedSessionId, records.EndConsentRevoked)
			},
		},
		{
			Name: "an approval withdrawn before it is used", Method: http.MethodPost, URL: declineURL(fixtureRequestId), Headers: user3,
			ExpectedStatus: 200, ExpectedContent: []string{`"status":"withdrawn"`},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				app.addRequest(t, "clients", clientId, records.RequestApproved)
			}),
			AfterTestFunc: expectRequest(records.RequestWithdrawn, "request.withdrawn"),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// usedSessionId is the session of the request usedBy adds.
const usedSessionId = "usedsession0001"

// liveSession is, for usedBy, a session that has not ended.
const liveSession records.EndCause = "live"

// usedBy adds the fixture request of clientId, used by a write session on
// user3: ended with cause, expired a minute ago and not yet marked ended
// (""), or live for ten more minutes (liveSession).
func usedBy(cause records.EndCause) func(testing.TB, *testApp) {
	return func(t testing.TB, app *testApp) {
		expires := app.clock.Now().Add(-time.Minute)
		if cause == liveSession {
			expires = app.clock.Now().Add(10 * time.Minute)
		}
		s := app.addSession(t, usedSessionId, "clients", clientId, "users", user3Id, records.ModeWrite, expires)
		if cause != "" && cause != liveSession {
			s.SetEnded(app.clock.Now().Add(-2*time.Minute), cause)
			if err := app.Save(s); err != nil {
				t.Fatal(err)
			}
		}
		r := app.addRequest(t, "clients", clientId, records.RequestUsed)
		r.SetSession(s.Id)
		if err := app.Save(r); err != nil {
			t.Fatal(err)
		}
	}
}

// nothingWithdrawn checks that the fixture request stays used, with no
// entry written and the actor not emailed.
func nothingWithdrawn(t testing.TB, app *tests.TestApp, res *http.Response) {
	expectRequest(records.RequestUsed)(t, app, res)
	for _, msg := range app.TestMailer.Messages() {
		if strings.Contains(msg.Subject, "was declined") {
			t.Errorf("the actor was emailed: %q", msg.Subject)
		}
	}
}

func TestRequestsList(t *testing.T) {
	t.Parallel()
	scenarios := []tests.ApiScenario{
		{
			Name: "guest", Method: http.MethodGet, URL: requestsURL,
			ExpectedStatus: 401, ExpectedContent: []string{`"code":"auth_required"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks),
		},
		{
			Name: "an impersonation token", Method: http.MethodGet, URL: requestsURL,
			Headers:        map[string]string{"Authorization": liveToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"consent_while_impersonating"`},
			TestAppFactory: factory(plugin.Config{}, clientAsks),
		},
		{
			Name: "the asker sees their request", Method: http.MethodGet, URL: requestsURL,
			Headers:         map[string]string{"Authorization": clientToken},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"asked":[{"id":"` + fixtureRequestId, `"toAnswer":[]`, `"user":{"id":"` + user3Id},
			TestAppFactory:  factory(plugin.Config{}, clientAsks),
		},
		{
			Name: "the user sees what they may answer", Method: http.MethodGet, URL: requestsURL,
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"asked":[]`, `"toAnswer":[{"id":"` + fixtureRequestId, `"role":"user"`, `"actor":{"id":"` + clientId},
			TestAppFactory:  factory(plugin.Config{}, clientAsks),
		},
		{
			Name: "an approver sees what they may answer", Method: http.MethodGet, URL: requestsURL,
			Headers:         map[string]string{"Authorization": user2Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"toAnswer":[{"id":"` + fixtureRequestId, `"role":"approver"`},
			TestAppFactory:  factory(plugin.Config{}, both(approvers(records.ApprovalApprover), clientAsks)),
		},
		{
			Name: "someone outside the approverRule sees nothing", Method: http.MethodGet, URL: requestsURL,
			Headers:            map[string]string{"Authorization": userToken},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"asked":[]`, `"toAnswer":[]`},
			NotExpectedContent: []string{fixtureRequestId},
			TestAppFactory:     factory(plugin.Config{}, both(approvers(records.ApprovalApprover), clientAsks)),
		},
		{
			Name: "the consent view lists the user's pending requests", Method: http.MethodGet, URL: "/api/impersonation/consent",
			Headers:         map[string]string{"Authorization": user3Token},
			ExpectedStatus:  200,
			ExpectedContent: []string{`"requests":[{"id":"` + fixtureRequestId, `"status":"pending"`},
			TestAppFactory:  factory(plugin.Config{}, clientAsks),
		},
		{
			Name: "a lapsed request is expired before it is listed", Method: http.MethodGet, URL: "/api/impersonation/consent",
			Headers:            map[string]string{"Authorization": user3Token},
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"requests":[]`},
			NotExpectedContent: []string{fixtureRequestId},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				clientAsks(t, app)
				app.clock.Advance(25 * time.Hour)
			}),
			AfterTestFunc: expectRequest(records.RequestExpired, "request.expired"),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestRequestsChangeOnlyThroughTheRoutes: a request's state cannot be
// forged through the records API, by its user, its asker or a superuser.
func TestRequestsChangeOnlyThroughTheRoutes(t *testing.T) {
	t.Parallel()
	recordURL := "/api/collections/impersonation_requests/records"
	var scenarios []tests.ApiScenario
	// the asker and the user meet the collection's superusers-only rules
	// first; a superuser, the plugin's refusal
	for _, token := range []struct{ name, token, code string }{
		{"superuser", superuserToken, `"code":"records_by_routes"`}, {"asker", clientToken, `"status":403`}, {"user", user3Token, `"status":403`},
	} {
		for _, c := range []struct{ method, url, body string }{
			{http.MethodPost, recordURL, `{"actor":"` + clientId + `","actorCollection":"clients","target":"` + user3Id + `","targetCollection":"users","minutes":30,"mode":"write","status":"approved","expires":"2100-01-01 00:00:00.000Z","approved":"2100-01-01 00:00:00.000Z"}`},
			{http.MethodPatch, recordURL + "/" + fixtureRequestId, `{"status":"approved","approved":"2100-01-01 00:00:00.000Z"}`},
			{http.MethodDelete, recordURL + "/" + fixtureRequestId, ""},
			{http.MethodPatch, "/api/collections/IMPERSONATION_REQUESTS/records/" + fixtureRequestId, `{"status":"approved"}`},
		} {
			scenarios = append(scenarios, tests.ApiScenario{
				Name: token.name + " " + c.method + " " + c.url, Method: c.method, URL: c.url, Body: strings.NewReader(c.body),
				Headers:        map[string]string{"Authorization": token.token},
				ExpectedStatus: 403, ExpectedContent: []string{token.code},
				TestAppFactory: factory(plugin.Config{}, clientAsks),
				AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
					expectRequest(records.RequestPending)(t, app, res)
					if n, _ := app.CountRecords(records.RequestsCollection); n != 1 {
						t.Errorf("%d requests", n)
					}
				},
			})
		}
	}
	batch := `{"requests":[{"method":"PATCH","url":"/api/collections/impersonation_requests/records/` + fixtureRequestId + `","body":{"status":"approved"}}]}`
	scenarios = append(scenarios, tests.ApiScenario{
		Name: "superuser batch", Method: http.MethodPost, URL: "/api/batch", Body: strings.NewReader(batch),
		Headers:        map[string]string{"Authorization": superuserToken},
		ExpectedStatus: 400, ExpectedContent: []string{`records_by_routes`},
		TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
			clientAsks(t, app)
			app.Settings().Batch.Enabled = true
		}),
		AfterTestFunc: expectRequest(records.RequestPending),
	})
	for _, s := range scenarios {
		s.Test(t)
	}
}

// flow is an app with its HTTP handler, for the tests that walk a request
// through its steps.
type flow struct {
	*testApp
	mux http.Handler
}

func newFlow(t *testing.T, setup func(testing.TB, *testApp)) *flow {
	app := newTestApp(t, plugin.Config{})
	t.Cleanup(app.Cleanup)
	if setup != nil {
		setup(t, app)
	}
	return &flow{app, serveMux(t, app.TestApp)}
}

// do sends a request and returns its status and decoded JSON body.
func (f *flow) do(t testing.TB, method, url, body, token string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, request(method, url, body, token))
	out := map[string]any{}
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// must is do that fails t unless the status is want.
func (f *flow) must(t testing.TB, want int, method, url, body, token string) map[string]any {
	t.Helper()
	code, out := f.do(t, method, url, body, token)
	if code != want {
		t.Fatalf("%s %s: %d %v, want %d", method, url, code, out, want)
	}
	return out
}

// askAndApprove has the client ask about user3 (30 minutes, write) and
// user3 approve with approval, and returns the request's id.
func (f *flow) askAndApprove(t testing.TB, approval string) string {
	t.Helper()
	asked := f.must(t, 200, http.MethodPost, requestsURL, `{"collection":"users","record":"`+user3Id+`","reason":"ticket 77","minutes":30,"mode":"write"}`, clientToken)
	id := asked["id"].(string)
	f.must(t, 200, http.MethodPost, approveURL(id), approval, user3Token)
	return id
}

const startUser3 = `{"collection":"users","record":"` + user3Id + `","reason":"ticket 77"`

func TestApprovedRequestStartsOneSession(t *testing.T) {
	t.Parallel()
	f := newFlow(t, nil)
	// before any answer, a start is refused as without consent
	f.must(t, 403, http.MethodPost, sessionsURL, startUser3+`}`, clientToken)
	id := f.askAndApprove(t, `{"minutes":10,"mode":"read"}`)

	// the approval is for reading: write is refused, and the approval stays
	if _, out := f.do(t, http.MethodPost, sessionsURL, startUser3+`,"mode":"write"}`, clientToken); !strings.Contains(jsonOf(out), "mode_not_allowed") {
		t.Fatalf("a write start on a read approval: %v", out)
	}
	// another actor the rule allows gains nothing from it
	f.must(t, 403, http.MethodPost, sessionsURL, startUser3+`}`, superuserToken)

	started := f.must(t, 200, http.MethodPost, sessionsURL, startUser3+`,"minutes":60}`, clientToken)
	session := started["session"].(map[string]any)
	s := f.session(t, session["id"].(string))
	if s.Request() != id || s.Mode() != records.ModeRead {
		t.Errorf("session request %q mode %s", s.Request(), s.Mode())
	}
	if left := s.Expires().Sub(f.clock.Now()); left > 10*time.Minute || left < 9*time.Minute {
		t.Errorf("the session runs %v, want the approved 10 minutes", left)
	}
	if r, _ := records.FindRequest(f, id); r.Status() != records.RequestUsed || r.Session() != s.Id {
		t.Errorf("request %s session %s", r.Status(), r.Session())
	}
	var request string
	_ = f.RecordQuery(records.AuditCollection).Select("json_extract(data, '$.request')").
		AndWhere(dbx.HashExp{"event": "session.started", "session": s.Id}).Row(&request)
	if request != id {
		t.Errorf("session.started names request %q", request)
	}

	// the session works, and a second start on the same approval is refused
	token := started["token"].(string)
	f.must(t, 200, http.MethodGet, "/api/collections/users/records/"+user3Id, "", token)
	f.must(t, 403, http.MethodPost, sessionsURL, startUser3+`}`, clientToken)

	// the actor's dashboard sees the request used
	list := f.must(t, 200, http.MethodGet, "/api/impersonation/targets?collection=users&search="+user3Id, "", clientToken)
	if got := jsonOf(list); !strings.Contains(got, `"status":"used"`) {
		t.Errorf("targets: %s", got)
	}

	// the user withdraws the approval: the session ends as a withdrawn consent ends it
	f.must(t, 200, http.MethodPost, declineURL(id), "", user3Token)
	f.expectEnded(t, s.Id, records.EndConsentRevoked)
	f.must(t, 401, http.MethodGet, "/api/collections/users/records/"+user3Id, "", token)
}

func TestConcurrentStartsOnOneApprovalGiveOneSession(t *testing.T) {
	t.Parallel()
	f := newFlow(t, func(t testing.TB, app *testApp) {
		app.updatePolicy(t, "users", func(p *records.Policy) { p.SetAttemptsPerMinute(100) })
	})
	f.askAndApprove(t, "")
	const starts = 10
	var wg sync.WaitGroup
	codes := make(chan int, starts)
	for range starts {
		wg.Go(func() {
			code, _ := f.do(t, http.MethodPost, sessionsURL, startUser3+`}`, clientToken)
			codes <- code
		})
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[200] != 1 || got[403] != starts-1 {
		t.Errorf("answers %v, want one 200 and %d 403", got, starts-1)
	}
	if live, _ := records.FindLiveSessions(f, "target = {:t}", dbx.Params{"t": user3Id}); len(live) != 1 {
		t.Errorf("%d sessions on the user", len(live))
	}
}

func TestApprovalLapsesAfterAnHour(t *testing.T) {
	t.Parallel()
	f := newFlow(t, nil)
	id := f.askAndApprove(t, "")
	f.clock.Advance(records.ClaimWindow)
	f.must(t, 403, http.MethodPost, sessionsURL, startUser3+`}`, clientToken)
	runJob(t, f.testApp, ids.ExpireRequestsJobId)
	if r, _ := records.FindRequest(f, id); r.Status() != records.RequestExpired {
		t.Errorf("request %s, want expired by the job", r.Status())
	}
	events := f.auditEvents(t, nil)
	if last := events[len(events)-1]; last != "request.expired" {
		t.Errorf("entries %v", events)
	}
}

func TestWithdrawingConsentWithdrawsApprovals(t *testing.T) {
	t.Parallel()
	f := newFlow(t, nil)
	id := f.askAndApprove(t, "")
	f.must(t, 204, http.MethodDelete, "/api/impersonation/consent", "", user3Token)
	if r, _ := records.FindRequest(f, id); r.Status() != records.RequestWithdrawn {
		t.Errorf("request %s", r.Status())
	}
	f.must(t, 403, http.MethodPost, sessionsURL, startUser3+`}`, clientToken)
}

func TestWithdrawingConsentLeavesEndedSessionsRequests(t *testing.T) {
	t.Parallel()
	f := newFlow(t, usedBy(records.EndStopped))
	f.must(t, 204, http.MethodDelete, "/api/impersonation/consent", "", user3Token)
	if r := requestOf(t, f); r.Status() != records.RequestUsed {
		t.Errorf("request %s, want used: its session had ended", r.Status())
	}
	for _, event := range f.auditEvents(t, nil) {
		if event == audit.RequestWithdrawn {
			t.Errorf("entries %v", f.auditEvents(t, nil))
		}
	}
}

func TestAskThenDecline(t *testing.T) {
	t.Parallel()
	f := newFlow(t, nil)
	asked := f.must(t, 200, http.MethodPost, requestsURL, `{"collection":"users","record":"`+user3Id+`","reason":"ticket 77"}`, clientToken)
	id := asked["id"].(string)
	f.must(t, 200, http.MethodPost, declineURL(id), "", user3Token)
	f.must(t, 409, http.MethodPost, approveURL(id), "", user3Token)
	f.must(t, 403, http.MethodPost, sessionsURL, startUser3+`}`, clientToken)
	f.expectAudit(t, "request.created", "request.declined", "session.denied:consent_required")
}

// jsonOf is v as JSON.
func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestConfigSeedsRequestAndBreakGlassFields: Config.Policies writes the
// policy fields of access by request and break-glass, with their defaults.
func TestConfigSeedsRequestAndBreakGlassFields(t *testing.T) {
	t.Parallel()
	seeded := usersPolicy()
	seeded.Approval = plugin.ApprovalBoth
	seeded.ApproverRule = `@request.auth.collectionName = "users"`
	seeded.BreakGlass = true
	seeded.BreakGlassModes = []plugin.Mode{plugin.ModeRead, plugin.ModeWrite}
	seeded.OversightEmail = "oversight@example.com"
	app := newTestApp(t, plugin.Config{Policies: []plugin.Policy{seeded, {Collection: "clients"}}})
	defer app.Cleanup()
	p := app.policy(t, "users")
	if p.Approval() != records.ApprovalBoth || p.ApproverRule() != seeded.ApproverRule || !p.BreakGlass() ||
		!p.AllowsBreakGlassMode(records.ModeWrite) || p.OversightEmail() != seeded.OversightEmail ||
		p.RequestHours() != 24 || p.BreakGlassMinutes() != 15 {
		t.Errorf("users policy %v", p.PublicExport())
	}
	c := app.policy(t, "clients")
	if c.Approval() != records.ApprovalUser || c.BreakGlass() || c.AllowsBreakGlassMode(records.ModeWrite) ||
		c.GetInt("requestHours") != 24 || c.GetInt("breakGlassMinutes") != 15 {
		t.Errorf("clients policy %v", c.PublicExport())
	}
	if _, err := plugin.Register(app, plugin.Config{Policies: []plugin.Policy{{Collection: "users", OversightEmail: "not an email"}}}); err == nil {
		t.Error("a policy's OversightEmail that is not an email address was accepted")
	}
}

// TestApprovalIsCheckedOnEveryRequest: a session on an approved request
// runs under that approval, as one under consent runs under the consent:
// an approval withdrawn by any path (Go code here, which ends nothing
// itself) ends the session on its next request.
func TestApprovalIsCheckedOnEveryRequest(t *testing.T) {
	t.Parallel()
	f := newFlow(t, nil)
	id := f.askAndApprove(t, "")
	started := f.must(t, 200, http.MethodPost, sessionsURL, startUser3+`}`, clientToken)
	token := started["token"].(string)
	session := started["session"].(map[string]any)["id"].(string)
	f.must(t, 200, http.MethodGet, "/api/collections/users/records/"+user3Id, "", token)

	r, err := records.FindRequest(f, id)
	if err != nil {
		t.Fatal(err)
	}
	r.SetStatus(records.RequestWithdrawn)
	if err := f.Save(r); err != nil {
		t.Fatal(err)
	}
	if _, out := f.do(t, http.MethodGet, "/api/collections/users/records/"+user3Id, "", token); !strings.Contains(jsonOf(out), "no_longer_allowed") {
		t.Errorf("a request after the withdrawal: %v", out)
	}
	f.expectEnded(t, session, records.EndConsentRevoked)
}
