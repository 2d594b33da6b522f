package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/filesystem"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/testapp"
	"github.com/pbimpersonation/impersonation/plugin"
)

// The data the masks of these tests hide: the user's phone, and their
// payment's card number, IBAN, receipt (a protected file) and account (a
// relation).
const (
	paymentId  = "payment00000001"
	orderId    = "order0000000001"
	accountId  = "account00000001"
	cardNumber = "4111111111111111"
	iban       = "DE89370400440532013000"
	phone      = "555-0100"
	receipt    = "the receipt of the rent"
)

// maskedFields are the masks withPayments puts on the users policy.
func maskedFields() map[string][]string {
	return map[string][]string{"payments": {"cardNumber", "iban", "receipt", "account"}, "users": {"phone"}}
}

// maskedJSON is maskedFields as the plugin's answers give it.
const maskedJSON = `"maskedFields":{"payments":["account","cardNumber","iban","receipt"],"users":["phone"]}`

// hiddenValues are the masked values, which no answer made while
// impersonating may hold.
var hiddenValues = []string{cardNumber, iban, phone, receipt}

// hidden is what no record served while impersonating may hold: the masked
// values and fields (a refusal names the field it refuses).
var hidden = append([]string{`"cardNumber"`, `"iban"`, `"phone"`, `"receipt"`, `"account"`}, hiddenValues...)

// withPayments gives app a phone on users (the user's is phone), an
// accounts collection, a payments collection of the user's own payments
// (owner = @request.auth.id) with a card number, an IBAN, an account and a
// protected receipt, and an orders collection whose records point to a
// payment; the user's payment and order; batch requests; and masks the
// users policy's maskedFields.
func withPayments(t testing.TB, app *testApp) {
	t.Helper()
	enableBatch(t, app)
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	users.Fields.Add(&core.TextField{Name: "phone"})
	mustSave(t, app, users)

	anyone := `@request.auth.id != ""`
	accounts := core.NewBaseCollection("accounts")
	accounts.ListRule, accounts.ViewRule = &anyone, &anyone
	accounts.Fields.Add(&core.TextField{Name: "name"})
	mustSave(t, app, accounts)

	own := "owner = @request.auth.id"
	payments := core.NewBaseCollection("payments")
	payments.ListRule, payments.ViewRule, payments.CreateRule, payments.UpdateRule, payments.DeleteRule = &own, &own, &own, &own, &own
	payments.Fields.Add(
		&core.TextField{Name: "title"},
		&core.TextField{Name: "cardNumber"},
		&core.TextField{Name: "iban", AutogeneratePattern: "[A-Z]{2}[0-9]{20}"},
		&core.RelationField{Name: "owner", CollectionId: users.Id, MaxSelect: 1},
		&core.RelationField{Name: "account", CollectionId: accounts.Id, MaxSelect: 1},
		&core.FileField{Name: "receipt", Protected: true, MaxSelect: 1, MaxSize: 1 << 20},
	)
	mustSave(t, app, payments)

	ownOrder := "payment.owner = @request.auth.id"
	orders := core.NewBaseCollection("orders")
	orders.ListRule, orders.ViewRule = &ownOrder, &ownOrder
	orders.Fields.Add(
		&core.RelationField{Name: "payment", CollectionId: payments.Id, MaxSelect: 1},
		&core.TextField{Name: "note"},
	)
	mustSave(t, app, orders)

	user := mustFind(app, "users", userId)
	user.Set("phone", phone)
	mustSave(t, app, user)

	account := core.NewRecord(accounts)
	account.Id = accountId
	account.Set("name", "Main")
	mustSave(t, app, account)

	file, err := filesystem.NewFileFromBytes([]byte(receipt), "receipt.txt")
	if err != nil {
		t.Fatal(err)
	}
	payment := core.NewRecord(payments)
	payment.Id = paymentId
	payment.Load(map[string]any{"title": "Rent", "cardNumber": cardNumber, "iban": iban, "owner": userId, "account": accountId})
	payment.Set("receipt", file)
	mustSave(t, app, payment)

	order := core.NewRecord(orders)
	order.Id = orderId
	order.Load(map[string]any{"payment": paymentId, "note": "March"})
	mustSave(t, app, order)

	app.updatePolicy(t, "users", func(p *records.Policy) { p.SetMaskedFields(maskedFields()) })
}

func mustSave(t testing.TB, app core.App, m core.Model) {
	t.Helper()
	if err := app.Save(m); err != nil {
		t.Fatal(err)
	}
}

// withPaymentsAnd is withPayments followed by change.
func withPaymentsAnd(change func(testing.TB, *testApp)) func(testing.TB, *testApp) {
	return func(t testing.TB, app *testApp) {
		withPayments(t, app)
		change(t, app)
	}
}

// setRule sets the API rule name ("listRule"...) of collection.
func setRule(collection, name, rule string) func(testing.TB, *testApp) {
	return func(t testing.TB, app *testApp) {
		c, err := app.FindCollectionByNameOrId(collection)
		if err != nil {
			t.Fatal(err)
		}
		rules := map[string]**string{
			"listRule": &c.ListRule, "viewRule": &c.ViewRule, "createRule": &c.CreateRule,
			"updateRule": &c.UpdateRule, "deleteRule": &c.DeleteRule, "manageRule": &c.ManageRule,
		}
		*rules[name] = types.Pointer(rule)
		mustSave(t, app, c)
	}
}

// query returns path with the query parameters of pairs (name, value...).
func query(path string, pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Add(pairs[i], pairs[i+1])
	}
	return path + "?" + q.Encode()
}

// TestMaskedFieldsAreNeverServed holds the promise that a masked field is
// absent from every record served while impersonating: a view, a list, an
// expand at any depth and through a back-relation, a batch, a write's
// answer, the auth record of auth-refresh, and the plugin's own answers
// (the start's record; /current and the user's consent say what is
// masked). The user's own token still sees everything.
func TestMaskedFieldsAreNeverServed(t *testing.T) {
	t.Parallel()
	write := map[string]string{"Authorization": writeToken}
	rent := []string{`"title":"Rent"`}
	masked := factory(plugin.Config{}, withPayments)
	scenarios := []tests.ApiScenario{
		{
			Name: "a view", Method: http.MethodGet, URL: "/api/collections/payments/records/" + paymentId,
			Headers: write, ExpectedStatus: 200, ExpectedContent: rent, NotExpectedContent: hidden, TestAppFactory: masked,
		},
		{
			Name: "a list", Method: http.MethodGet, URL: "/api/collections/payments/records",
			Headers: write, ExpectedStatus: 200, ExpectedContent: append([]string{`"totalItems":1`}, rent...), NotExpectedContent: hidden,
			TestAppFactory: masked,
		},
		{
			Name: "the user's own record", Method: http.MethodGet, URL: "/api/collections/users/records/" + userId,
			Headers: write, ExpectedStatus: 200, ExpectedContent: []string{`"name":"test1"`}, NotExpectedContent: hidden,
			TestAppFactory: masked,
		},
		{
			Name: "an expand two relations deep, as the JS SDK asks for it (getList)", Method: http.MethodGet,
			URL:     query("/api/collections/orders/records", "page", "1", "perPage", "30", "skipTotal", "1", "expand", "payment,payment.owner"),
			Headers: write, ExpectedStatus: 200,
			ExpectedContent:    []string{`"note":"March"`, `"title":"Rent"`, `"name":"test1"`},
			NotExpectedContent: hidden, TestAppFactory: masked,
		},
		{
			Name: "an expand through a back-relation (getOne)", Method: http.MethodGet,
			URL:     query("/api/collections/users/records/"+userId, "expand", "payments_via_owner"),
			Headers: write, ExpectedStatus: 200, ExpectedContent: []string{`"payments_via_owner":[`, `"title":"Rent"`},
			NotExpectedContent: hidden, TestAppFactory: masked,
		},
		{
			Name: "a batch's answers", Method: http.MethodPost, URL: "/api/batch", Headers: write,
			Body: jsonBody(map[string]any{"requests": []map[string]any{
				{"method": "PATCH", "url": "/api/collections/payments/records/" + paymentId, "body": map[string]any{"title": "Rent (paid)"}},
				{"method": "PATCH", "url": "/api/collections/users/records/" + userId, "body": map[string]any{"name": "Ann"}},
			}}),
			ExpectedStatus: 200, ExpectedContent: []string{`"title":"Rent (paid)"`, `"name":"Ann"`}, NotExpectedContent: hidden,
			TestAppFactory: masked,
		},
		{
			Name: "a create's answer", Method: http.MethodPost, URL: "/api/collections/payments/records", Headers: write,
			Body:           jsonBody(map[string]any{"title": "Gym", "owner": userId}),
			ExpectedStatus: 200, ExpectedContent: []string{`"title":"Gym"`},
			// the autogenerated IBAN is not shown either
			NotExpectedContent: hidden, TestAppFactory: masked,
		},
		{
			Name: "the auth record of auth-refresh", Method: http.MethodPost, URL: "/api/collections/users/auth-refresh",
			Headers: map[string]string{"Authorization": liveToken}, ExpectedStatus: 200,
			ExpectedContent: []string{`"token":"` + liveToken + `"`, `"name":"test1"`}, NotExpectedContent: hidden,
			TestAppFactory: masked,
		},
		{
			Name: "the record of a start (handed to the new tab)", Method: http.MethodPost, URL: sessionsURL,
			Headers: map[string]string{"Authorization": superuserToken}, Body: startBody("users", userId, nil),
			ExpectedStatus: 200, ExpectedContent: []string{`"record":{`, `"name":"test1"`}, NotExpectedContent: hidden,
			TestAppFactory: masked,
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				entries, err := app.FindAllRecords(records.AuditCollection, dbx.HashExp{"event": "session.started"})
				if err != nil || len(entries) != 1 {
					t.Fatalf("session.started entries: %v %v", entries, err)
				}
				data := entries[0].GetString("data")
				for _, want := range []string{`"maskedFields":{`, `"payments":["cardNumber","iban","receipt","account"]`, `"users":["phone"]`} {
					if !strings.Contains(data, want) {
						t.Errorf("the session.started entry does not name the masks in force (%s): %s", want, data)
					}
				}
			},
		},
		{
			Name: "/current tells the impersonator what is masked", Method: http.MethodGet, URL: "/api/impersonation/current",
			Headers: map[string]string{"Authorization": liveToken}, ExpectedStatus: 200,
			ExpectedContent: []string{`"impersonating":true`, maskedJSON}, TestAppFactory: masked,
		},
		{
			Name: "/current with nothing masked says nothing of masks", Method: http.MethodGet, URL: "/api/impersonation/current",
			Headers: map[string]string{"Authorization": liveToken}, ExpectedStatus: 200,
			ExpectedContent: []string{`"impersonating":true`}, NotExpectedContent: []string{"maskedFields"},
			TestAppFactory: factory(plugin.Config{}, nil),
		},
		{
			Name: "the user's consent tells them what support cannot see", Method: http.MethodGet, URL: "/api/impersonation/consent",
			Headers: map[string]string{"Authorization": userToken}, ExpectedStatus: 200,
			ExpectedContent: []string{maskedJSON}, TestAppFactory: masked,
		},
		{
			Name: "the user's own token sees everything", Method: http.MethodGet,
			URL:     query("/api/collections/payments/records/"+paymentId, "expand", "owner,account"),
			Headers: map[string]string{"Authorization": userToken}, ExpectedStatus: 200,
			ExpectedContent: []string{cardNumber, iban, phone, `"receipt":"receipt_`, `"name":"Main"`}, TestAppFactory: masked,
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// refusedRead is what a request refused for reading field in param gets.
func refusedRead(field, param string) []string {
	return []string{`"status":400`, `"code":"masked_read"`,
		`"message":"The filter, sort or expand reads a field that is hidden while impersonating."`,
		`"field":"` + field + `"`, `"in":"` + param + `"`}
}

// TestMaskedFieldsAreNoOracle holds the promise that a masked field cannot
// be read one guess at a time: a filter or sort that reads it, directly,
// through a relation, a back-relation or @collection, as @request.auth,
// with any modifier or operator, and an expand of a masked relation, are
// refused with a clear 400, in a request and in a batch sub-request; a
// string literal that spells a masked name is no read.
func TestMaskedFieldsAreNoOracle(t *testing.T) {
	t.Parallel()
	write := map[string]string{"Authorization": writeToken}
	masked := factory(plugin.Config{}, withPayments)
	refusals := []struct {
		collection, param, value, field string
	}{
		{"payments", "filter", `cardNumber ~ "4111"`, "cardNumber"},
		{"payments", "filter", `CARDNUMBER ~ "4111"`, "CARDNUMBER"},
		{"payments", "filter", `iban:lower = "de89370400440532013000"`, "iban"},
		{"payments", "filter", `title = "Rent" && (owner.phone ~ "555" || title = "x")`, "phone"},
		{"payments", "filter", `owner.phone:lower ?~ "555"`, "phone"},
		{"payments", "filter", `@request.auth.phone ~ "555"`, "phone"},
		{"payments", "filter", `account.name = "Main"`, "account"},
		{"payments", "filter", `strftime('%Y', cardNumber) = "4111"`, "cardNumber"},
		{"payments", "filter", "// a comment\ncardNumber:length > 3", "cardNumber"},
		{"users", "filter", `payments_via_owner.cardNumber ?= "4111111111111111"`, "cardNumber"},
		{"users", "filter", `payments_via_owner.iban:each ~ "DE"`, "iban"},
		{"users", "filter", `payments_via_account.title != ""`, "account"},
		{"orders", "filter", `payment.cardNumber ~ "4"`, "cardNumber"},
		{"orders", "filter", `@collection.payments.cardNumber ~ "4111" && @collection.payments.id = payment`, "cardNumber"},
		{"orders", "filter", `@collection.payments:p.iban ~ "DE"`, "iban"},
		{"orders", "filter", `payment.owner.phone != ""`, "phone"},
		{"payments", "filter", `cardNumber ~ "4111" &&`, "cardNumber"}, // does not parse: read word by word
		{"payments", "sort", "-cardNumber", "cardNumber"},
		{"payments", "sort", "title,+owner.phone:lower", "phone"},
		{"orders", "sort", "-payment.iban", "iban"},
		{"payments", "expand", "account", "account"},
		{"orders", "expand", "payment.account", "account"},
		{"users", "expand", "payments_via_owner.account", "account"},
	}
	var scenarios []tests.ApiScenario
	for _, r := range refusals {
		scenarios = append(scenarios, tests.ApiScenario{
			Name:   r.collection + " " + r.param + " " + r.value,
			Method: http.MethodGet, URL: query("/api/collections/"+r.collection+"/records", r.param, r.value),
			Headers: write, ExpectedStatus: 400, ExpectedContent: refusedRead(r.field, r.param), NotExpectedContent: hiddenValues,
			TestAppFactory: masked,
		})
	}
	scenarios = append(scenarios,
		tests.ApiScenario{
			Name: "a view's expand", Method: http.MethodGet, URL: query("/api/collections/payments/records/"+paymentId, "expand", "account"),
			Headers: write, ExpectedStatus: 400, ExpectedContent: refusedRead("account", "expand"), TestAppFactory: masked,
		},
		tests.ApiScenario{
			Name: "auth-refresh's expand", Method: http.MethodPost, URL: query("/api/collections/users/auth-refresh", "expand", "payments_via_owner.account"),
			Headers: write, ExpectedStatus: 400, ExpectedContent: refusedRead("account", "expand"), TestAppFactory: masked,
		},
		tests.ApiScenario{
			Name: "a batch sub-request's query", Method: http.MethodPost, URL: "/api/batch", Headers: write,
			Body: jsonBody(map[string]any{"requests": []map[string]any{{
				"method": "PATCH", "url": query("/api/collections/payments/records/"+paymentId, "expand", "account"),
				"body": map[string]any{"title": "Rent (paid)"},
			}}}),
			ExpectedStatus: 400, ExpectedContent: refusedRead("account", "expand"), NotExpectedContent: hiddenValues,
			TestAppFactory: masked,
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if title := mustFind(app, "payments", paymentId).GetString("title"); title != "Rent" {
					t.Errorf("the refused batch changed the title to %q", title)
				}
			},
		},
		tests.ApiScenario{
			Name: "a batch sub-request's filter", Method: http.MethodPost, URL: "/api/batch", Headers: write,
			Body: jsonBody(map[string]any{"requests": []map[string]any{{
				"method": "POST", "url": query("/api/collections/payments/records", "filter", `owner.phone ~ "5"`),
				"body": map[string]any{"title": "x", "owner": userId},
			}}}),
			ExpectedStatus: 400, ExpectedContent: refusedRead("phone", "filter"), TestAppFactory: masked,
		},
		tests.ApiScenario{
			Name: "a literal that spells a masked name reads nothing", Method: http.MethodGet,
			URL:     query("/api/collections/payments/records", "filter", `title != "cardNumber" && title != 'owner.phone'`, "sort", "-title"),
			Headers: write, ExpectedStatus: 200, ExpectedContent: []string{`"totalItems":1`, `"title":"Rent"`}, NotExpectedContent: hidden,
			TestAppFactory: masked,
		},
		tests.ApiScenario{
			Name: "a filter on what is not masked passes", Method: http.MethodGet,
			URL:     query("/api/collections/orders/records", "filter", `payment.title ~ "Ren" && note = "March"`, "expand", "payment"),
			Headers: write, ExpectedStatus: 200, ExpectedContent: []string{`"totalItems":1`, `"title":"Rent"`}, NotExpectedContent: hidden,
			TestAppFactory: masked,
		},
		tests.ApiScenario{
			Name: "the user's own filter on their card number passes", Method: http.MethodGet,
			URL:     query("/api/collections/payments/records", "filter", `cardNumber ~ "4111" && iban ~ "DE"`),
			Headers: map[string]string{"Authorization": userToken}, ExpectedStatus: 200, ExpectedContent: []string{`"totalItems":1`, cardNumber},
			TestAppFactory: masked,
		},
		tests.ApiScenario{
			Name: "the refusal is audited, with the query as sent and no answer", Method: http.MethodGet,
			URL:     query("/api/collections/payments/records", "filter", `cardNumber ~ "4111"`),
			Headers: write, ExpectedStatus: 400, ExpectedContent: refusedRead("cardNumber", "filter"), TestAppFactory: masked,
			AfterTestFunc: expectRequestAudit(writeSessionId, 400),
		},
	)
	for _, s := range scenarios {
		s.Test(t)
	}
}

// refusedRule is what a request refused for an API rule that compares
// field with its data gets.
func refusedRule(field, in string) []string {
	return []string{`"status":403`, `"code":"masked_rule"`, `"field":"` + field + `"`, `"in":"` + in + `"`}
}

// TestMaskedFieldsAreNoOracleThroughRules holds the promise that an API
// rule that compares a masked field with what the request sends (its query,
// body or headers) is never evaluated for an impersonator: the request is
// refused, whether the rule is the collection's own, that of a collection
// an expand reaches (its view rule) or that a filter joins (its list rule).
// A rule that reads a masked field without such data, or that reads only
// the session header, or a body field as the caller's own value, is
// evaluated as usual.
func TestMaskedFieldsAreNoOracleThroughRules(t *testing.T) {
	t.Parallel()
	write := map[string]string{"Authorization": writeToken}
	guess := setRule("payments", "listRule", `owner = @request.auth.id && (@request.query.guess = "" || cardNumber ~ @request.query.guess)`)
	header := setRule("payments", "viewRule", `owner = @request.auth.id && @request.headers.x_guess != iban`)
	body := setRule("payments", "updateRule", `owner = @request.auth.id && @request.body.confirm = iban`)
	auth := setRule("payments", "listRule", `owner = @request.auth.id && @request.query.p != @request.auth.phone`)
	scenarios := []tests.ApiScenario{
		{
			Name: "a list rule steered by the query", Method: http.MethodGet, URL: query("/api/collections/payments/records", "guess", "4111"),
			Headers: write, ExpectedStatus: 403, ExpectedContent: refusedRule("cardNumber", "payments.listRule"), NotExpectedContent: hiddenValues,
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(guess)),
		},
		{
			Name: "the same rule without the parameter (its absence steers it too)", Method: http.MethodGet, URL: "/api/collections/payments/records",
			Headers: write, ExpectedStatus: 403, ExpectedContent: refusedRule("cardNumber", "payments.listRule"),
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(guess)),
		},
		{
			Name: "a filter that joins the collection of that list rule", Method: http.MethodGet,
			URL:     query("/api/collections/orders/records", "filter", `payment.title = "Rent"`, "guess", "4"),
			Headers: write, ExpectedStatus: 403, ExpectedContent: refusedRule("cardNumber", "payments.listRule"),
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(guess)),
		},
		{
			Name: "an expand reaches the view rule, not that list rule", Method: http.MethodGet,
			URL:     query("/api/collections/orders/records/"+orderId, "expand", "payment"),
			Headers: write, ExpectedStatus: 200, ExpectedContent: []string{`"title":"Rent"`}, NotExpectedContent: hidden,
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(guess)),
		},
		{
			Name: "a view rule steered by a header", Method: http.MethodGet, URL: "/api/collections/payments/records/" + paymentId,
			Headers: map[string]string{"Authorization": writeToken, "X-Guess": iban}, ExpectedStatus: 403,
			ExpectedContent: refusedRule("iban", "payments.viewRule"), TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(header)),
		},
		{
			Name: "an expand that reaches that view rule", Method: http.MethodGet,
			URL:     query("/api/collections/orders/records", "expand", "payment"),
			Headers: write, ExpectedStatus: 403, ExpectedContent: refusedRule("iban", "payments.viewRule"),
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(header)),
		},
		{
			Name: "an update rule steered by the body", Method: http.MethodPatch, URL: "/api/collections/payments/records/" + paymentId,
			Headers: write, Body: jsonBody(map[string]any{"title": "Rent (paid)", "confirm": iban}),
			ExpectedStatus: 403, ExpectedContent: refusedRule("iban", "payments.updateRule"),
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(body)),
		},
		{
			Name: "the same update rule in a batch", Method: http.MethodPost, URL: "/api/batch", Headers: write,
			Body: jsonBody(map[string]any{"requests": []map[string]any{{
				"method": "PATCH", "url": "/api/collections/payments/records/" + paymentId, "body": map[string]any{"title": "x", "confirm": "DE"},
			}}}),
			ExpectedStatus: 403, ExpectedContent: refusedRule("iban", "payments.updateRule"),
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(body)),
		},
		{
			Name: "a rule that compares the user's masked phone (@request.auth) with the query", Method: http.MethodGet,
			URL: query("/api/collections/payments/records", "p", phone), Headers: write, ExpectedStatus: 403,
			ExpectedContent: refusedRule("phone", "payments.listRule"), TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(auth)),
		},
		{
			Name: "a rule that reads a masked field with no request data", Method: http.MethodGet, URL: "/api/collections/payments/records",
			Headers: write, ExpectedStatus: 200, ExpectedContent: []string{`"totalItems":1`}, NotExpectedContent: hidden,
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(setRule("payments", "listRule", `owner = @request.auth.id && cardNumber != ""`))),
		},
		{
			Name: "a rule that reads a masked field and only the session header", Method: http.MethodGet, URL: "/api/collections/payments/records",
			Headers: write, ExpectedStatus: 200, ExpectedContent: []string{`"totalItems":1`}, NotExpectedContent: hidden,
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(setRule("payments", "listRule",
				`owner = @request.auth.id && (@request.headers.x_impersonation_session != "" || cardNumber != "")`))),
		},
		{
			Name: "a rule that reads the body's masked name as the caller's own value", Method: http.MethodPatch,
			URL: "/api/collections/payments/records/" + paymentId, Headers: write, Body: jsonBody(map[string]any{"title": "Rent (paid)"}),
			ExpectedStatus: 200, ExpectedContent: []string{`"title":"Rent (paid)"`}, NotExpectedContent: hidden,
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(setRule("payments", "updateRule",
				`owner = @request.auth.id && @request.body.cardNumber:isset = false`))),
		},
		// found by the adversarial pass: a HEAD request is routed to GET's
		// route, a create rule's own fields are what the caller sends, and
		// PocketBase evaluates an auth collection's manage rule on reads
		{
			// a HEAD answer has no body: its status is the refusal (200 before)
			Name: "a HEAD of the list steered by the query", Method: http.MethodHead, URL: query("/api/collections/payments/records", "guess", "4111"),
			Headers: write, ExpectedStatus: 403,
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(guess)),
		},
		{
			Name: "a HEAD of a record steered by a header", Method: http.MethodHead, URL: "/api/collections/PAYMENTS/records/" + paymentId,
			Headers: map[string]string{"Authorization": writeToken, "X-Guess": iban}, ExpectedStatus: 403,
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(header)),
		},
		{
			Name: "a create rule that compares the record sent with a masked field", Method: http.MethodPost, URL: "/api/collections/payments/records",
			Headers: write, Body: jsonBody(map[string]any{"owner": userId, "title": phone}),
			ExpectedStatus: 403, ExpectedContent: refusedRule("phone", "payments.createRule"),
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(setRule("payments", "createRule", `owner = @request.auth.id && title != @request.auth.phone`))),
		},
		{
			Name: "a list of an auth collection whose manage rule the query steers", Method: http.MethodGet,
			URL: query("/api/collections/users/records", "m", "555"), Headers: write, ExpectedStatus: 403,
			ExpectedContent: refusedRule("phone", "users.manageRule"),
			TestAppFactory:  factory(plugin.Config{}, withPaymentsAnd(setRule("users", "manageRule", `@request.query.m != "" && phone ~ @request.query.m`))),
		},
		{
			Name: "an expand that reaches that manage rule", Method: http.MethodGet,
			URL: query("/api/collections/payments/records/"+paymentId, "expand", "owner", "m", "555"), Headers: write, ExpectedStatus: 403,
			ExpectedContent: refusedRule("phone", "users.manageRule"),
			TestAppFactory:  factory(plugin.Config{}, withPaymentsAnd(setRule("users", "manageRule", `@request.query.m != "" && phone ~ @request.query.m`))),
		},
		{
			Name: "the user's own request under the steered rule", Method: http.MethodGet, URL: query("/api/collections/payments/records", "guess", "4111"),
			Headers: map[string]string{"Authorization": userToken}, ExpectedStatus: 200, ExpectedContent: []string{`"totalItems":1`},
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(guess)),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// multipartBody returns a multipart form with the given fields and one
// file under fileField (none when empty), and its content type.
func multipartBody(fields map[string]string, fileField string) (*bytes.Reader, string) {
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	if fileField != "" {
		fw, _ := mw.CreateFormFile(fileField, "forged.txt")
		_, _ = fw.Write([]byte("forged"))
	}
	_ = mw.Close()
	return bytes.NewReader(form.Bytes()), mw.FormDataContentType()
}

// TestMaskedFieldsCannotBeWritten holds the promise that a masked field is
// never written while impersonating, in any mode: by name in any letter
// case, with any modifier, as JSON, a form, the JS SDK's @jsonPayload, a
// file, the query a multipart body takes in, on a create, an update or a
// batch. The stored values stay as they were.
func TestMaskedFieldsCannotBeWritten(t *testing.T) {
	t.Parallel()
	masked := factory(plugin.Config{}, withPayments)
	paymentURL := "/api/collections/payments/records/" + paymentId
	unchanged := func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		p := mustFind(app, "payments", paymentId)
		if p.GetString("cardNumber") != cardNumber || p.GetString("iban") != iban || p.GetString("title") != "Rent" ||
			p.GetString("account") != accountId || !strings.HasPrefix(p.GetString("receipt"), "receipt_") {
			t.Errorf("the payment changed: %v", p.PublicExport())
		}
		if got := mustFind(app, "users", userId).GetString("phone"); got != phone {
			t.Errorf("the phone changed to %q", got)
		}
		if n, _ := app.CountRecords("payments"); n != 1 {
			t.Errorf("payments: %d, want 1", n)
		}
	}
	refused := func(field string) []string {
		return []string{`"status":403`, `"code":"masked_write"`,
			`"message":"A field that is hidden while impersonating cannot be written."`, `"field":"` + field + `"`}
	}
	jsonWrite := func(name string, method, url string, body map[string]any, field string) tests.ApiScenario {
		return tests.ApiScenario{
			Name: name, Method: method, URL: url, Headers: map[string]string{"Authorization": writeToken},
			Body: jsonBody(body), ExpectedStatus: 403, ExpectedContent: refused(field), NotExpectedContent: hiddenValues,
			TestAppFactory: masked, AfterTestFunc: unchanged,
		}
	}
	formWrite := func(name, url string, fields map[string]string, file, field string) tests.ApiScenario {
		body, contentType := multipartBody(fields, file)
		return tests.ApiScenario{
			Name: name, Method: http.MethodPatch, URL: url, Body: body,
			Headers:        map[string]string{"Authorization": writeToken, "Content-Type": contentType},
			ExpectedStatus: 403, ExpectedContent: refused(field), TestAppFactory: masked, AfterTestFunc: unchanged,
		}
	}
	batch := func(name string, request map[string]any, field string) tests.ApiScenario {
		return jsonWrite(name, http.MethodPost, "/api/batch", map[string]any{"requests": []map[string]any{request}}, field)
	}
	batchFile, batchType := multipartBody(map[string]string{"@jsonPayload": `{"requests":[{"method":"PATCH","url":"` + paymentURL + `"}]}`}, "requests.0.receipt")
	scenarios := []tests.ApiScenario{
		jsonWrite("an update", http.MethodPatch, paymentURL, map[string]any{"cardNumber": "4000000000000002"}, "cardNumber"),
		jsonWrite("another letter case", http.MethodPatch, paymentURL, map[string]any{"CardNumber": "4000000000000002"}, "cardNumber"),
		jsonWrite("a modifier", http.MethodPatch, paymentURL, map[string]any{"iban:autogenerate": ""}, "iban"),
		jsonWrite("a file deleted by name", http.MethodPatch, paymentURL, map[string]any{"receipt-": []string{"receipt.txt"}}, "receipt"),
		jsonWrite("a masked relation", http.MethodPatch, paymentURL, map[string]any{"account": ""}, "account"),
		jsonWrite("a create", http.MethodPost, "/api/collections/payments/records", map[string]any{"title": "Gym", "owner": userId, "iban": "x"}, "iban"),
		jsonWrite("the user's own masked field", http.MethodPatch, "/api/collections/users/records/"+userId, map[string]any{"phone": "0"}, "phone"),
		formWrite("a file appended", paymentURL, map[string]string{"title": "x"}, "receipt+", "receipt"),
		formWrite("the JS SDK's @jsonPayload", paymentURL, map[string]string{"@jsonPayload": `{"title":"x","cardNumber":"0"}`}, "", "cardNumber"),
		formWrite("a field the multipart body takes from the query", paymentURL+"?cardNumber=0", map[string]string{"title": "x"}, "", "cardNumber"),
		batch("a batch update", map[string]any{"method": "PATCH", "url": paymentURL, "body": map[string]any{"iban": "x"}}, "iban"),
		batch("a batch upsert", map[string]any{"method": "PUT", "url": "/api/collections/payments/records", "body": map[string]any{"id": paymentId, "+receipt": []string{}}}, "receipt"),
		batch("a batch sub-request's query", map[string]any{"method": "PATCH", "url": paymentURL + "?cardNumber=0", "body": map[string]any{"title": "x"}}, "cardNumber"),
		{
			Name: "a batch sub-request's file", Method: http.MethodPost, URL: "/api/batch", Body: batchFile,
			Headers:        map[string]string{"Authorization": writeToken, "Content-Type": batchType},
			ExpectedStatus: 403, ExpectedContent: refused("receipt"), TestAppFactory: masked, AfterTestFunc: unchanged,
		},
		{
			Name: "in read mode, as every write", Method: http.MethodPatch, URL: paymentURL,
			Headers: map[string]string{"Authorization": liveToken}, Body: jsonBody(map[string]any{"cardNumber": "0"}),
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"read_only"`}, TestAppFactory: masked, AfterTestFunc: unchanged,
		},
		{
			Name: "a write of what is not masked passes", Method: http.MethodPatch, URL: paymentURL,
			Headers: map[string]string{"Authorization": writeToken}, Body: jsonBody(map[string]any{"title": "Rent (paid)"}),
			ExpectedStatus: 200, ExpectedContent: []string{`"title":"Rent (paid)"`}, NotExpectedContent: hidden, TestAppFactory: masked,
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestMaskedFilesCannotBeDownloaded holds the promise that a masked file
// field's files are not downloaded while impersonating, with the session's
// file token, while the user's own file token still downloads them.
func TestMaskedFilesCannotBeDownloaded(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	withPayments(t, app)
	mux := serveMux(t, app.TestApp)
	fileURL := "/api/files/payments/" + paymentId + "/" + mustFind(app, "payments", paymentId).GetString("receipt")

	if rec := send(mux, http.MethodGet, fileURL+"?token="+fileToken(t, mux, userToken), ""); rec.Code != 200 || rec.Body.String() != receipt {
		t.Fatalf("the user's own download: %d %s", rec.Code, rec.Body)
	}
	for _, token := range []string{liveToken, writeToken} {
		rec := send(mux, http.MethodGet, fileURL+"?token="+fileToken(t, mux, token), "")
		if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), receipt) || !strings.Contains(rec.Body.String(), `"code":"masked_file"`) {
			t.Errorf("a download with the session's file token: %d %s, want 403 masked_file", rec.Code, rec.Body)
		}
		rec = send(mux, http.MethodGet, fileURL+"?thumb=100x100&token="+fileToken(t, mux, token), "")
		if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), receipt) {
			t.Errorf("a thumb with the session's file token: %d %s, want 403", rec.Code, rec.Body)
		}
	}
}

// TestMaskedFieldsInRealtime holds the promise that a realtime client
// subscribed with an impersonation token gets record events without the
// masked fields (the user's own client gets them whole), that a
// subscription whose options read a masked field, or whose rule the
// options steer against one, is refused, and that a mask added while the
// client is subscribed applies to the next event: a subscription whose
// filter now reads a masked field gets nothing more.
func TestMaskedFieldsInRealtime(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	withPayments(t, app)

	// handled counts the payment messages each client's stream has handled
	// (dropped or written); delivered holds those that went through
	var mu sync.Mutex
	handled := map[string]int{}
	delivered := map[string][]string{}
	handledCh := make(chan struct{}, 100)
	app.OnRealtimeMessageSend().Bind(&hook.Handler[*core.RealtimeMessageEvent]{Priority: -1, Func: func(e *core.RealtimeMessageEvent) error {
		err := e.Next()
		if strings.HasPrefix(e.Message.Name, "payments") {
			mu.Lock()
			handled[e.Client.Id()]++
			mu.Unlock()
			handledCh <- struct{}{}
		}
		return err
	}})
	app.OnRealtimeMessageSend().Bind(&hook.Handler[*core.RealtimeMessageEvent]{Priority: 1, Func: func(e *core.RealtimeMessageEvent) error {
		if strings.HasPrefix(e.Message.Name, "payments") {
			mu.Lock()
			delivered[e.Client.Id()] = append(delivered[e.Client.Id()], string(e.Message.Data))
			mu.Unlock()
		}
		return e.Next()
	}})
	server := httptest.NewServer(serveMux(t, app.TestApp))
	defer server.Close()
	// canceled before server.Close, which waits for open streams
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subscribe := func(token, topic string) (string, int) {
		id, _ := connectRealtime(t, ctx, server.URL)
		res := post(t, server.URL+"/api/realtime", `{"clientId":"`+id+`","subscriptions":[`+strconvQuote(topic)+`]}`, token)
		return id, res.StatusCode
	}
	withOptions := func(topic string, options map[string]any) string {
		raw, _ := json.Marshal(options)
		return topic + "?options=" + url.QueryEscape(string(raw))
	}
	for _, refused := range []string{
		withOptions("payments/*", map[string]any{"query": map[string]string{"filter": `cardNumber ~ "4"`}}),
		withOptions("payments/"+paymentId, map[string]any{"query": map[string]string{"filter": `owner.phone:lower ~ "5"`}}),
		withOptions("payments", map[string]any{"query": map[string]string{"sort": "-iban"}}),
		withOptions("users/*", map[string]any{"query": map[string]string{"filter": `payments_via_owner.cardNumber ?~ "4"`}}),
	} {
		if _, status := subscribe(liveToken, refused); status != http.StatusBadRequest {
			t.Errorf("subscription %s: %d, want 400", refused, status)
		}
	}

	own, status := subscribe(userToken, "payments/*")
	plain, status2 := subscribe(liveToken, "payments/*")
	filtered, status3 := subscribe(liveToken, withOptions("payments/*", map[string]any{"query": map[string]string{"filter": `title ~ "Rent"`}}))
	if status != http.StatusNoContent || status2 != http.StatusNoContent || status3 != http.StatusNoContent {
		t.Fatalf("subscriptions: %d %d %d, want 204", status, status2, status3)
	}
	waitFor := func(want map[string]int) {
		t.Helper()
		for {
			mu.Lock()
			done := true
			for id, n := range want {
				done = done && handled[id] >= n
			}
			mu.Unlock()
			if done {
				return
			}
			<-handledCh
		}
	}
	save := func(title string) {
		p := mustFind(app, "payments", paymentId)
		p.Set("title", title)
		mustSave(t, app, p)
	}

	save("Rent (March)")
	waitFor(map[string]int{own: 1, plain: 1, filtered: 1})
	mu.Lock()
	if len(delivered[own]) != 1 || !strings.Contains(delivered[own][0], cardNumber) || !strings.Contains(delivered[own][0], iban) {
		t.Errorf("the user's own client: %v", delivered[own])
	}
	for _, id := range []string{plain, filtered} {
		if len(delivered[id]) != 1 || !strings.Contains(delivered[id][0], `"title":"Rent (March)"`) {
			t.Errorf("an impersonation client's event: %v", delivered[id])
		}
		for _, h := range hidden {
			if len(delivered[id]) > 0 && strings.Contains(delivered[id][0], h) {
				t.Errorf("an impersonation client's event holds %s: %s", h, delivered[id][0])
			}
		}
	}
	mu.Unlock()

	// a mask added while they are subscribed: title is masked from the next event on
	app.updatePolicy(t, "users", func(p *records.Policy) {
		masked := maskedFields()
		masked["payments"] = append(masked["payments"], "title")
		p.SetMaskedFields(masked)
	})
	save("Rent (April)")
	waitFor(map[string]int{own: 2, plain: 2, filtered: 2})
	mu.Lock()
	defer mu.Unlock()
	if len(delivered[own]) != 2 || !strings.Contains(delivered[own][1], "Rent (April)") {
		t.Errorf("the user's own client: %v", delivered[own])
	}
	if len(delivered[plain]) != 2 || strings.Contains(delivered[plain][1], "Rent") || !strings.Contains(delivered[plain][1], `"id":"`+paymentId+`"`) {
		t.Errorf("the plain impersonation subscription's second event: %v", delivered[plain])
	}
	if len(delivered[filtered]) != 1 {
		t.Errorf("the subscription whose filter reads a field masked since got %v, want nothing more", delivered[filtered])
	}
}

func strconvQuote(s string) string {
	raw, _ := json.Marshal(s)
	return string(raw)
}

// TestMasksApplyFromTheNextRequest holds the promise that a change of a
// policy's masks applies to the sessions under it from their next request,
// without ending them.
func TestMasksApplyFromTheNextRequest(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	withPayments(t, app)
	mux := serveMux(t, app.TestApp)
	view := func() string {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, request(http.MethodGet, "/api/collections/payments/records/"+paymentId, "", writeToken))
		if rec.Code != http.StatusOK {
			t.Fatalf("view: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	if body := view(); !strings.Contains(body, `"title":"Rent"`) || strings.Contains(body, cardNumber) {
		t.Fatalf("before: %s", body)
	}
	app.updatePolicy(t, "users", func(p *records.Policy) {
		p.SetMaskedFields(map[string][]string{"payments": {"title"}})
	})
	if body := view(); strings.Contains(body, "Rent") || !strings.Contains(body, cardNumber) {
		t.Errorf("after masking title and unmasking the card number: %s", body)
	}
	app.updatePolicy(t, "users", func(p *records.Policy) { p.SetMaskedFields(nil) })
	if body := view(); !strings.Contains(body, "Rent") || !strings.Contains(body, cardNumber) {
		t.Errorf("with no masks: %s", body)
	}
	app.expectLive(t, writeSessionId)
}

// TestMaskedFieldsAreValidated holds the promise that a policy's masks name
// what exists: a collection by its exact name and its fields, never a
// record's id, as a JSON object of arrays; a mask that exists no longer (a
// field deleted since) is kept on the next save, and a rename of the
// collection or the field is carried into the masks.
func TestMaskedFieldsAreValidated(t *testing.T) {
	t.Parallel()
	policyURL := "/api/collections/impersonation_policies/records/" + usersPolicyId
	superuser := map[string]string{"Authorization": superuserToken}
	invalid := func(name string, masked any, code string) tests.ApiScenario {
		return tests.ApiScenario{
			Name: name, Method: http.MethodPatch, URL: policyURL, Headers: superuser,
			Body:           jsonBody(map[string]any{"maskedFields": masked}),
			ExpectedStatus: 400, ExpectedContent: []string{`"maskedFields":{"code":"` + code + `"`},
			TestAppFactory: factory(plugin.Config{}, withPayments),
		}
	}
	scenarios := []tests.ApiScenario{
		invalid("a field the collection lacks", map[string][]string{"payments": {"cardNumbr"}}, "validation_unknown_masked_field"),
		invalid("a collection that does not exist", map[string][]string{"paymnts": {"cardNumber"}}, "validation_unknown_masked_collection"),
		invalid("a collection in another letter case", map[string][]string{"Payments": {"cardNumber"}}, "validation_unknown_masked_collection"),
		invalid("a record's id", map[string][]string{"payments": {"id"}}, "validation_masked_id"),
		invalid("not an object of arrays", []string{"cardNumber"}, "validation_invalid_masked_fields"),
		invalid("an array of numbers", map[string]any{"payments": []int{1}}, "validation_invalid_masked_fields"),
		{
			Name: "what exists is saved, and audited", Method: http.MethodPatch, URL: policyURL, Headers: superuser,
			Body:           jsonBody(map[string]any{"maskedFields": map[string][]string{"payments": {"title"}, "users": {"phone", "avatar"}}}),
			ExpectedStatus: 200, ExpectedContent: []string{`"maskedFields":{"payments":["title"],"users":["phone","avatar"]}`},
			TestAppFactory: factory(plugin.Config{}, withPayments),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if events := wrap(app).auditEvents(t, dbx.HashExp{"event": "policy.updated"}); len(events) != 2 {
					t.Errorf("policy.updated entries: %v, want 2 (the setup's and this one)", events)
				}
			},
		},
		{
			Name: "a mask of a field deleted since is kept on the next save", Method: http.MethodPatch, URL: policyURL, Headers: superuser,
			Body:           jsonBody(map[string]any{"maxMinutes": 30}),
			ExpectedStatus: 200, ExpectedContent: []string{`"maxMinutes":30`, `"payments":["cardNumber","iban","receipt","account"]`},
			TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(func(t testing.TB, app *testApp) {
				c, err := app.FindCollectionByNameOrId("payments")
				if err != nil {
					t.Fatal(err)
				}
				c.Fields.RemoveByName("iban")
				mustSave(t, app, c)
			})),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}

	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	withPayments(t, app)
	c, err := app.FindCollectionByNameOrId("payments")
	if err != nil {
		t.Fatal(err)
	}
	byId := app.policy(t, "users")
	byId.SetMaskedFields(map[string][]string{c.Id: {"cardNumber"}})
	if err := app.Save(byId); err == nil || !strings.Contains(err.Error(), "no collection named") {
		t.Errorf("a collection named by its id: %v, want refused", err)
	}

	// renames are carried into the masks
	c.Fields.GetByName("cardNumber").SetName("cardNo")
	mustSave(t, app, c)
	c.Name = "bills"
	mustSave(t, app, c)
	masked, err := app.policy(t, "users").MaskedFields()
	if err != nil || strings.Join(masked["bills"], ",") != "cardNo,iban,receipt,account" || masked["payments"] != nil {
		t.Errorf("masks after renaming the field and the collection: %v %v", masked, err)
	}
	mux := serveMux(t, app.TestApp)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, request(http.MethodGet, "/api/collections/bills/records/"+paymentId, "", writeToken))
	if rec.Code != 200 || strings.Contains(rec.Body.String(), cardNumber) || !strings.Contains(rec.Body.String(), "Rent") {
		t.Errorf("the renamed field is still masked: %d %s", rec.Code, rec.Body)
	}
}

// TestTargetsHideMaskedFields holds the promise that staff who are not
// superusers see, in the list of users they may impersonate, what they
// would see while impersonating them: a masked email or name is left out,
// and neither searched nor sorted on. Superusers see everything.
func TestTargetsHideMaskedFields(t *testing.T) {
	t.Parallel()
	maskEmail := func(t testing.TB, app *testApp) {
		app.updatePolicy(t, "users", func(p *records.Policy) {
			p.SetMaskedFields(map[string][]string{"users": {"email", "name"}})
		})
	}
	targetsURL := "/api/impersonation/targets?collection=users"
	scenarios := []tests.ApiScenario{
		{
			Name: "staff see no masked email or name", Method: http.MethodGet, URL: targetsURL,
			Headers: map[string]string{"Authorization": clientToken}, ExpectedStatus: 200,
			ExpectedContent:    []string{`"id":"` + user2Id + `"`, `"email":""`, `"name":""`},
			NotExpectedContent: []string{"test2@example.com", "test3@example.com", `"name":"test3"`},
			TestAppFactory:     factory(plugin.Config{}, maskEmail),
		},
		{
			Name: "nor find users by it", Method: http.MethodGet, URL: targetsURL + "&search=test3",
			Headers: map[string]string{"Authorization": clientToken}, ExpectedStatus: 200,
			ExpectedContent: []string{`"totalItems":0`}, TestAppFactory: factory(plugin.Config{}, maskEmail),
		},
		{
			Name: "but by id", Method: http.MethodGet, URL: targetsURL + "&search=" + user2Id,
			Headers: map[string]string{"Authorization": clientToken}, ExpectedStatus: 200,
			ExpectedContent: []string{`"totalItems":1`}, TestAppFactory: factory(plugin.Config{}, maskEmail),
		},
		{
			Name: "a superuser sees everything", Method: http.MethodGet, URL: targetsURL + "&search=test3",
			Headers: map[string]string{"Authorization": superuserToken}, ExpectedStatus: 200,
			ExpectedContent: []string{`"totalItems":1`, "test3@example.com", `"name":"test3"`},
			TestAppFactory:  factory(plugin.Config{}, maskEmail),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestTheAuditStoresNoAnswer holds the promise that the request audit keeps
// requests, never answers: an impersonated view of a payment leaves a
// request entry that holds none of the payment's values, masked or not.
func TestTheAuditStoresNoAnswer(t *testing.T) {
	t.Parallel()
	(&tests.ApiScenario{
		Name: "a view", Method: http.MethodGet, URL: "/api/collections/payments/records/" + paymentId,
		Headers: map[string]string{"Authorization": writeToken}, ExpectedStatus: 200,
		ExpectedContent: []string{`"title":"Rent"`, cardNumber}, NotExpectedContent: []string{iban},
		TestAppFactory: factory(plugin.Config{}, withPaymentsAnd(func(t testing.TB, app *testApp) {
			app.updatePolicy(t, "users", func(p *records.Policy) { p.SetMaskedFields(map[string][]string{"payments": {"iban"}}) })
		})),
		AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
			entries := requestEntries(t, app)
			if len(entries) != 1 {
				t.Fatalf("request entries: %d, want 1", len(entries))
			}
			raw, err := json.Marshal(entries[0].FieldsData())
			if err != nil {
				t.Fatal(err)
			}
			for _, answered := range []string{"Rent", cardNumber, "receipt_", accountId} {
				if strings.Contains(string(raw), answered) {
					t.Errorf("the request entry holds %q of the answer: %s", answered, raw)
				}
			}
			if !strings.Contains(string(raw), `/api/collections/payments/records/`+paymentId) {
				t.Errorf("the request entry does not name the request: %s", raw)
			}
		},
	}).Test(t)
}

// TestConfigPoliciesSeedTheirMasks: a policy of Config.Policies is written
// with its MaskedFields; one that names a field its collection lacks is
// not written, and StrictPolicies makes that a failed start.
func TestConfigPoliciesSeedTheirMasks(t *testing.T) {
	t.Parallel()
	withMasks := usersPolicy()
	withMasks.MaskedFields = map[string][]string{"users": {"name", "avatar"}}
	app := newTestApp(t, plugin.Config{Policies: []plugin.Policy{withMasks}})
	defer app.Cleanup()
	if masked, err := app.policy(t, "users").MaskedFields(); err != nil || strings.Join(masked["users"], ",") != "name,avatar" {
		t.Errorf("seeded masks: %v %v", masked, err)
	}

	misspelt := usersPolicy()
	misspelt.MaskedFields = map[string][]string{"users": {"nmae"}}
	strict := testapp.New(t)
	register(t, strict, plugin.Config{Policies: []plugin.Policy{misspelt}, StrictPolicies: true})
	e := new(core.ServeEvent)
	e.App = strict
	e.Router = router.NewRouter[*core.RequestEvent](nil)
	err := strict.OnServe().Trigger(e, func(*core.ServeEvent) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `has no field "nmae"`) {
		t.Errorf("a strict start with a misspelt mask: %v, want an error naming the field", err)
	}
	if _, err := records.FindPolicy(strict, "users"); err == nil {
		t.Error("the policy with a misspelt mask was written")
	}
}
