package masks_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/search"

	"github.com/pbimpersonation/impersonation/internal/masks"
	"github.com/pbimpersonation/impersonation/internal/testapp"
)

func TestMain(m *testing.M) { testapp.Main(m) }

// policyMasks are the masks of the tests: a payment's card number, IBAN
// and account (a relation), and a user's phone.
var policyMasks = masks.New(map[string][]string{"payments": {"cardNumber", "iban", "account", " ", ""}, "users": {"phone", "phone"}})

func TestNew(t *testing.T) {
	if !masks.New(nil).Empty() || !(masks.Masks{}).Empty() || !masks.New(map[string][]string{"x": {""}}).Empty() {
		t.Error("no names: want empty masks")
	}
	if policyMasks.Empty() {
		t.Error("masks with names: empty")
	}
	if got := policyMasks.ByCollection(); fmt.Sprint(got) != "map[payments:[account cardNumber iban] users:[phone]]" {
		t.Errorf("ByCollection: %v", got)
	}
	if got := policyMasks.Fields("users"); !slices.Equal(got, []string{"phone"}) {
		t.Errorf("Fields(users): %v", got)
	}
	if got := policyMasks.Fields("orders"); got != nil {
		t.Errorf("Fields(orders): %v", got)
	}
}

func TestFilterReads(t *testing.T) {
	cases := []struct {
		filter string
		want   string // "" for no masked read
	}{
		{`cardNumber ~ "4111"`, "cardNumber"},
		{`CardNumber = "4111"`, "CardNumber"},
		{`iban:lower = "de89"`, "iban"},
		{`owner.phone ~ "555"`, "phone"},
		{`owner.phone:lower ?~ "555"`, "phone"},
		{`owner.rel.phone:each ?= "5"`, "phone"},
		{`payments_via_owner.cardNumber ?= "4111"`, "cardNumber"},
		{`payments_via_account.title != ""`, "account"},
		{`account.name = "x"`, "account"},
		{`@collection.payments.cardNumber ~ "4"`, "cardNumber"},
		{`@collection.payments:alias.iban:lower ~ "de"`, "iban"},
		{`@request.auth.phone ~ "555"`, "phone"},
		{`@request.auth.owner.cardNumber != ""`, "cardNumber"},
		{`strftime('%Y', cardNumber) = "2025"`, "cardNumber"},
		{`geoDistance(iban, 1, 2, 3) < 5`, "iban"},
		{`title = "a" && (created > @now || (owner.phone = "1"))`, "phone"},
		{"// cardNumber in a comment only\ntitle = 1", ""},
		{"title = 1\n// owner.phone", ""},
		{`json.cardNumber = 1`, "cardNumber"},
		{`cardNumber:length > 0`, "cardNumber"},
		{`cardNumber ~ "4111" &&`, "cardNumber"}, // does not parse: any word counts
		{`title = "cardNumber"`, "" /* a literal */},
		{`title = 'owner.phone' || title = "iban \" phone"`, ""},
		{`title ~ "Rent" && owner.name != ""`, ""},
		{`@request.body.cardNumber = "x"`, "" /* the caller's own value */},
		{`@request.query.phone = "1" && @request.headers.iban = ""`, ""},
		{`@collection.phone.title = "x"`, "" /* a collection named like a masked field */},
		{"", ""},
	}
	for _, c := range cases {
		got, ok := policyMasks.FilterReads(c.filter)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("FilterReads(%q) = %q, %v; want %q", c.filter, got, ok, c.want)
		}
	}
	if _, ok := (masks.Masks{}).FilterReads(`cardNumber ~ "4"`); ok {
		t.Error("empty masks read something")
	}
}

func TestSortAndExpandReads(t *testing.T) {
	cases := []struct {
		reads       func(string) (string, bool)
		value, want string
	}{
		{policyMasks.SortReads, "-cardNumber", "cardNumber"},
		{policyMasks.SortReads, "title, +owner.phone:lower", "phone"},
		{policyMasks.SortReads, "@random,-created", ""},
		{policyMasks.SortReads, "", ""},
		{policyMasks.ExpandReads, "account", "account"},
		{policyMasks.ExpandReads, "owner, payments_via_account", "account"},
		{policyMasks.ExpandReads, "payment.account", "account"},
		{policyMasks.ExpandReads, "payment,payment.owner", ""},
		{policyMasks.ExpandReads, "", ""},
	}
	for _, c := range cases {
		got, ok := c.reads(c.value)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%q: %q, %v; want %q", c.value, got, ok, c.want)
		}
	}
}

func TestQueryReads(t *testing.T) {
	err := policyMasks.QueryReads(`title = "x"`, "-title", "owner,account")
	var me *masks.Error
	if !errors.As(err, &me) || !errors.Is(err, masks.ErrRead) || me.Field != "account" || me.Where != "expand" {
		t.Errorf("QueryReads: %v", err)
	}
	if err := policyMasks.QueryReads(`title = "x"`, "-title", "owner"); err != nil {
		t.Errorf("QueryReads of nothing masked: %v", err)
	}
}

func TestRuleSteered(t *testing.T) {
	const trusted = "x_impersonation_session"
	cases := []struct {
		rule, want string
		fieldsSent bool // a create rule
	}{
		{rule: `owner = @request.auth.id && cardNumber ~ @request.query.guess`, want: "cardNumber"},
		{rule: `@request.query.guess = "" || iban = @request.query.guess`, want: "iban"},
		{rule: `@request.headers.x_guess != cardNumber`, want: "cardNumber"},
		{rule: `@request.body.confirm = iban`, want: "iban"},
		{rule: `@request.body.cardNumber:changed = false`, want: "cardNumber"},
		{rule: `@request.body.owner.phone = "1"`, want: "phone"},
		{rule: `@request.query.p != @request.auth.phone`, want: "phone"},
		{rule: `@request.query.p != @collection.payments.iban`, want: "iban"},
		{rule: `cardNumber != ""`, want: "" /* nothing the caller sends */},
		{rule: `@request.headers.x_impersonation_session = "" || cardNumber != ""`, want: "" /* set by the server */},
		{rule: `@request.headers.X_Impersonation_Session = "" || cardNumber != ""`, want: ""},
		{rule: `@request.body.cardNumber:isset = false && owner = @request.auth.id`, want: "" /* the body's own value */},
		{rule: `@request.query.guess = title`, want: ""},
		{rule: ``, want: ""},
		// a create rule's own fields are what the caller sends
		{rule: `owner = @request.auth.id && email != @request.auth.phone`, want: "phone", fieldsSent: true},
		{rule: `owner = @request.auth.id && email != @request.auth.phone`, want: "" /* stored values */},
		{rule: `owner = @request.auth.id`, want: "", fieldsSent: true},
		// PocketBase splits a back-relation at its last _via_
		{rule: `@request.query.g = "" || a_via_b_via_phone.x ~ @request.query.g`, want: "phone"},
	}
	for _, c := range cases {
		got, ok := policyMasks.RuleSteered(c.rule, trusted, c.fieldsSent)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("RuleSteered(%q) = %q, %v; want %q", c.rule, got, ok, c.want)
		}
	}
}

func TestWritten(t *testing.T) {
	cases := []struct {
		fields []string
		want   string
	}{
		{[]string{"title", "cardNumber"}, "cardNumber"},
		{[]string{"CARDNUMBER"}, "cardNumber"},
		{[]string{"iban:autogenerate"}, "iban"},
		{[]string{"+account"}, "account"},
		{[]string{"account+"}, "account"},
		{[]string{"account-"}, "account"},
		{[]string{"title", "owner", "phone"}, "" /* phone is masked in users, not payments */},
		{nil, ""},
	}
	for _, c := range cases {
		got, ok := policyMasks.Written("payments", c.fields)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("Written(payments, %v) = %q, %v; want %q", c.fields, got, ok, c.want)
		}
	}
}

func ExampleMasks_FilterReads() {
	m := masks.New(map[string][]string{"payments": {"cardNumber"}, "users": {"phone"}})
	for _, filter := range []string{
		`title = "cardNumber"`,
		`cardNumber:lower ~ "4111"`,
		`payments_via_owner.title != "" && owner.phone ?~ "555"`,
	} {
		field, reads := m.FilterReads(filter)
		fmt.Printf("%q %v\n", field, reads)
	}
	// Output:
	// "" false
	// "cardNumber" true
	// "phone" true
}

// fuzzApp is an app with a payments collection whose card number and IBAN
// are masked, its owner (a user whose phone is masked) and the payment.
func fuzzApp(f *testing.F) (core.App, *core.Collection, *core.Record) {
	app := testapp.New(f)
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		f.Fatal(err)
	}
	users.Fields.Add(&core.TextField{Name: "phone"})
	if err := app.Save(users); err != nil {
		f.Fatal(err)
	}
	payments := core.NewBaseCollection("payments")
	anyone := ""
	payments.ListRule = &anyone
	payments.Fields.Add(
		&core.TextField{Name: "title"},
		&core.TextField{Name: "cardNumber"},
		&core.TextField{Name: "iban"},
		&core.RelationField{Name: "owner", CollectionId: users.Id, MaxSelect: 1},
	)
	if err := app.Save(payments); err != nil {
		f.Fatal(err)
	}
	user, err := app.FindAuthRecordByEmail("users", "test@example.com")
	if err != nil {
		f.Fatal(err)
	}
	user.Set("phone", "555-0100")
	if err := app.Save(user); err != nil {
		f.Fatal(err)
	}
	return app, payments, user
}

// FuzzFilterReadsWhatPocketBaseReads checks FilterReads against what
// PocketBase itself does with a client's filter: whenever the query it
// builds reads a masked column (its SQL names it) or a masked value of the
// signed-in user (@request.auth, bound as a parameter), FilterReads says
// the filter reads a masked field.
func FuzzFilterReadsWhatPocketBaseReads(f *testing.F) {
	app, payments, user := fuzzApp(f)
	m := masks.New(map[string][]string{"payments": {"cardNumber", "iban"}, "users": {"phone"}})
	f.Fuzz(func(t *testing.T, filter string) {
		resolver := core.NewRecordFieldResolver(app, payments, &core.RequestInfo{Auth: user}, false)
		expr, err := search.FilterData(filter).BuildExpr(resolver)
		if err != nil {
			return // refused by PocketBase
		}
		query := app.RecordQuery(payments).AndWhere(expr)
		if err := resolver.UpdateQuery(query); err != nil {
			return
		}
		built := query.Build()
		sql := strings.ToLower(built.SQL())
		reads := strings.Contains(sql, "cardnumber") || strings.Contains(sql, "iban") || strings.Contains(sql, "phone")
		for _, v := range built.Params() {
			if s, ok := v.(string); ok && strings.Contains(s, "555-0100") {
				reads = true
			}
		}
		if _, refused := m.FilterReads(filter); reads && !refused {
			t.Errorf("PocketBase reads a masked field with %q (%s), FilterReads lets it through", filter, built.SQL())
		}
	})
}

func TestRuleFields(t *testing.T) {
	cases := []struct{ rule, want string }{
		{``, ``},
		{`@request.auth.id = manager`, `manager`},
		{`@request.auth.id = manager.id || manager.org.owner = @request.auth.id`, `manager`},
		{`@request.auth.role = "approver" && team:lower = "support"`, `role,team`},
		{`@request.auth.id != "" && id = @request.auth.id`, ``},
		{`@collection.staff.user ?= @request.auth.id && @request.headers.x = "1"`, ``},
		{`emailVisibility = true && @request.auth.collectionName = "clients"`, `emailVisibility`},
	}
	for _, c := range cases {
		if got := strings.Join(masks.RuleFields(c.rule), ","); got != c.want {
			t.Errorf("RuleFields(%q) = %q, want %q", c.rule, got, c.want)
		}
	}
}
