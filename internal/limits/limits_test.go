package limits_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/pbimpersonation/impersonation/internal/limits"
	"github.com/pbimpersonation/impersonation/internal/records"

	"github.com/pbimpersonation/impersonation/internal/testapp"
)

func TestMain(m *testing.M) { testapp.Main(m) }

func TestParseRule(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    limits.Rule
		wantErr bool
	}{
		{name: "prefix rule", in: "POST /api/billing/*", want: limits.Rule{Method: "POST", Path: "/api/billing/", Prefix: true}},
		{name: "exact rule", in: "GET /api/search", want: limits.Rule{Method: "GET", Path: "/api/search"}},
		{name: "any method", in: "* /x", want: limits.Rule{Method: "*", Path: "/x"}},
		{name: "method upper-cased", in: "get /a", want: limits.Rule{Method: "GET", Path: "/a"}},
		{name: "surrounding spaces trimmed", in: "  delete   /api/x*  ", want: limits.Rule{Method: "DELETE", Path: "/api/x", Prefix: true}},
		{name: "any method prefix", in: "* /api/collections/payments/records*", want: limits.Rule{Method: "*", Path: "/api/collections/payments/records", Prefix: true}},
		{name: "empty", in: "", wantErr: true},
		{name: "blank", in: "   ", wantErr: true},
		{name: "method only", in: "POST", wantErr: true},
		{name: "method and space only", in: "POST ", wantErr: true},
		{name: "no leading slash", in: "POST api/x", wantErr: true},
		{name: "path only", in: "/api/x", wantErr: true},
		{name: "star path", in: "POST *", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := limits.ParseRule(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseRule(%q) = %+v, nil; want an error", tc.in, got)
				}
				if got != (limits.Rule{}) {
					t.Errorf("ParseRule(%q) returned rule %+v with its error; want the zero Rule", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRule(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseRule(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestRuleMatches(t *testing.T) {
	exactPost := limits.Rule{Method: "POST", Path: "/api/search"}
	prefixPost := limits.Rule{Method: "POST", Path: "/api/billing/", Prefix: true}
	exactAny := limits.Rule{Method: "*", Path: "/api/search"}
	prefixAny := limits.Rule{Method: "*", Path: "/api/collections/payments/records", Prefix: true}

	cases := []struct {
		name   string
		rule   limits.Rule
		method string
		path   string
		want   bool
	}{
		{name: "exact same path and method", rule: exactPost, method: "POST", path: "/api/search", want: true},
		{name: "exact longer path", rule: exactPost, method: "POST", path: "/api/search/more", want: false},
		{name: "exact trailing slash", rule: exactPost, method: "POST", path: "/api/search/", want: false},
		{name: "exact shorter path", rule: exactPost, method: "POST", path: "/api/sear", want: false},
		{name: "exact other method", rule: exactPost, method: "GET", path: "/api/search", want: false},
		{name: "prefix path itself", rule: prefixPost, method: "POST", path: "/api/billing/", want: true},
		{name: "prefix longer path", rule: prefixPost, method: "POST", path: "/api/billing/charge", want: true},
		{name: "prefix deeper path", rule: prefixPost, method: "POST", path: "/api/billing/a/b", want: true},
		{name: "prefix without its trailing slash", rule: prefixPost, method: "POST", path: "/api/billing", want: false},
		{name: "prefix other path", rule: prefixPost, method: "POST", path: "/api/bill", want: false},
		{name: "prefix other method", rule: prefixPost, method: "GET", path: "/api/billing/charge", want: false},
		{name: "any method exact GET", rule: exactAny, method: "GET", path: "/api/search", want: true},
		{name: "any method exact DELETE", rule: exactAny, method: "DELETE", path: "/api/search", want: true},
		{name: "any method exact other path", rule: exactAny, method: "GET", path: "/api/searches", want: false},
		{name: "any method prefix list", rule: prefixAny, method: "GET", path: "/api/collections/payments/records", want: true},
		{name: "any method prefix record", rule: prefixAny, method: "PATCH", path: "/api/collections/payments/records/abc", want: true},
		{name: "any method prefix other collection", rule: prefixAny, method: "GET", path: "/api/collections/users/records", want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule.Matches(tc.method, tc.path); got != tc.want {
				t.Errorf("%+v.Matches(%q, %q) = %v, want %v", tc.rule, tc.method, tc.path, got, tc.want)
			}
		})
	}
}

// mustRules parses route rules or fails the test.
func mustRules(t *testing.T, rules ...string) []limits.Rule {
	t.Helper()
	out := make([]limits.Rule, 0, len(rules))
	for _, s := range rules {
		r, err := limits.ParseRule(s)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", s, err)
		}
		out = append(out, r)
	}
	return out
}

type checkCase struct {
	name   string
	mode   records.Mode
	policy limits.Policy
	call   limits.Call
	want   error // nil, ErrNeverAllowed, ErrDenied or ErrReadOnly
}

func runCheckCases(t *testing.T, cases []checkCase) {
	t.Helper()
	sentinels := []error{limits.ErrNeverAllowed, limits.ErrDenied, limits.ErrReadOnly}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := limits.Check(tc.mode, tc.policy, tc.call)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Check(%s, %+v) = %v, want nil", tc.mode, tc.call, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check(%s, %+v) = %v, want an error wrapping %q", tc.mode, tc.call, err, tc.want)
			}
			for _, s := range sentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("Check(%s, %+v) = %v also wraps %q", tc.mode, tc.call, err, s)
				}
			}
		})
	}
}

var modes = []records.Mode{records.ModeRead, records.ModeWrite}

func TestCheckReadAndWriteModes(t *testing.T) {
	none := limits.Policy{}
	var cases []checkCase

	// safe methods pass in both modes
	for _, m := range modes {
		for _, method := range []string{"GET", "HEAD", "OPTIONS", "get", "head", "options"} {
			cases = append(cases,
				checkCase{name: string(m) + " " + method + " records list", mode: m, call: limits.Call{Method: method, Path: "/api/collections/posts/records"}},
				checkCase{name: string(m) + " " + method + " record", mode: m, call: limits.Call{Method: method, Path: "/api/collections/posts/records/abc"}},
				checkCase{name: string(m) + " " + method + " auth record list", mode: m, call: limits.Call{Method: method, Path: "/api/collections/users/records", AuthRecord: true}},
				checkCase{name: string(m) + " " + method + " auth record", mode: m, call: limits.Call{Method: method, Path: "/api/collections/users/records/abc", AuthRecord: true}},
				checkCase{name: string(m) + " " + method + " custom route", mode: m, call: limits.Call{Method: method, Path: "/api/hello"}},
			)
		}
	}

	// writes to records: read-only in read mode, allowed in write mode
	for _, method := range []string{"PATCH", "POST", "PUT", "DELETE", "patch", "post", "put", "delete"} {
		path := "/api/collections/posts/records/abc"
		if method == "POST" || method == "post" {
			path = "/api/collections/posts/records"
		}
		cases = append(cases,
			checkCase{name: "read " + method + " record", mode: records.ModeRead, call: limits.Call{Method: method, Path: path, Fields: []string{"title"}}, want: limits.ErrReadOnly},
			checkCase{name: "write " + method + " record", mode: records.ModeWrite, call: limits.Call{Method: method, Path: path, Fields: []string{"title"}}},
		)
	}
	cases = append(cases,
		checkCase{name: "read PATCH auth record harmless field", mode: records.ModeRead, call: limits.Call{Method: "PATCH", Path: "/api/collections/users/records/abc", AuthRecord: true, Fields: []string{"name"}}, want: limits.ErrReadOnly},
		checkCase{name: "write PATCH auth record harmless field", mode: records.ModeWrite, call: limits.Call{Method: "PATCH", Path: "/api/collections/users/records/abc", AuthRecord: true, Fields: []string{"name"}}},
		checkCase{name: "write POST auth record harmless fields", mode: records.ModeWrite, call: limits.Call{Method: "POST", Path: "/api/collections/users/records", AuthRecord: true, Fields: []string{"name", "emailVisibility"}}},
		checkCase{name: "read POST custom route", mode: records.ModeRead, call: limits.Call{Method: "POST", Path: "/api/hello"}, want: limits.ErrReadOnly},
		checkCase{name: "write POST custom route", mode: records.ModeWrite, call: limits.Call{Method: "POST", Path: "/api/hello"}},
		checkCase{name: "read POST batch", mode: records.ModeRead, call: limits.Call{Method: "POST", Path: "/api/batch"}, want: limits.ErrReadOnly},
	)

	// the POSTs a read-only session may make
	for _, path := range []string{
		"/api/realtime",
		"/api/files/token",
		"/api/collections/users/auth-refresh",
		"/api/collections/_superusers/auth-refresh",
		"/api/impersonation/sessions/abc/end",
		"/api/impersonation/sessions",
	} {
		for _, m := range modes {
			cases = append(cases, checkCase{name: string(m) + " POST " + path, mode: m, call: limits.Call{Method: "POST", Path: path}})
		}
	}
	// ... and only those: near misses and other methods stay read-only
	for _, call := range []limits.Call{
		{Method: "POST", Path: "/api/realtime/x"},
		{Method: "POST", Path: "/api/files/token/x"},
		{Method: "POST", Path: "/api/impersonation/sessions/abc"},
		{Method: "POST", Path: "/api/impersonation/sessions/abc/end/x"},
		{Method: "POST", Path: "/api/impersonation/sessions/a/b/end"},
		{Method: "POST", Path: "/api/impersonation/sessions/"},
		{Method: "DELETE", Path: "/api/impersonation/sessions/abc/end"},
		{Method: "PATCH", Path: "/api/realtime"},
		{Method: "PUT", Path: "/api/files/token"},
	} {
		cases = append(cases, checkCase{name: "read " + call.Method + " " + call.Path, mode: records.ModeRead, call: call, want: limits.ErrReadOnly})
	}

	for i := range cases {
		cases[i].policy = none
	}
	runCheckCases(t, cases)
}

func TestCheckNeverAllowedRoutes(t *testing.T) {
	var paths []string
	for _, c := range []string{"users", "_superusers", "posts"} {
		for _, action := range []string{
			"auth-with-password", "auth-with-otp", "auth-with-oauth2", "request-otp",
			"request-password-reset", "confirm-password-reset", "request-verification",
			"confirm-verification", "request-email-change", "confirm-email-change",
		} {
			paths = append(paths, "/api/collections/"+c+"/"+action)
		}
	}
	paths = append(paths,
		"/api/collections/users/impersonate/abc",
		"/api/collections/_superusers/impersonate/abc",
		"/api/impersonation/consent",
		"/api/settings",
		"/api/settings/",
		"/api/settings/test/email",
		"/api/settings/test/s3",
		"/api/settings/apple/generate-client-secret",
		"/api/backups",
		"/api/backups/upload",
		"/api/backups/x",
		"/api/backups/x/restore",
		"/api/logs",
		"/api/logs/stats",
		"/api/logs/abc",
		"/api/crons",
		"/api/crons/x",
		"/api/collections",
		"/api/collections/",
		"/api/collections/users",
		"/api/collections/users/",
		"/api/collections/posts",
		"/api/collections/users/truncate",
		"/api/collections/import",
		"/api/collections/meta/scaffolds",
	)

	// a policy that allows and denies nothing relevant, and one that allows
	// everything: neither lets a never-allowed route through
	allowAll := limits.Policy{Allowed: mustRules(t, "* /*")}
	var cases []checkCase
	for _, path := range paths {
		for _, m := range modes {
			for _, method := range []string{"GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"} {
				cases = append(cases,
					checkCase{name: string(m) + " " + method + " " + path, mode: m, call: limits.Call{Method: method, Path: path}, want: limits.ErrNeverAllowed},
					checkCase{name: string(m) + " " + method + " " + path + " allow-all policy", mode: m, policy: allowAll, call: limits.Call{Method: method, Path: path}, want: limits.ErrNeverAllowed},
				)
			}
		}
	}
	// the "allowed" neighbours of the never-allowed routes
	for _, m := range modes {
		cases = append(cases,
			checkCase{name: string(m) + " GET auth-methods", mode: m, call: limits.Call{Method: "GET", Path: "/api/collections/users/auth-methods"}},
			checkCase{name: string(m) + " GET impersonation current", mode: m, call: limits.Call{Method: "GET", Path: "/api/impersonation/current"}},
			checkCase{name: string(m) + " GET health", mode: m, call: limits.Call{Method: "GET", Path: "/api/health"}},
			checkCase{name: string(m) + " GET records list of a collection named settings", mode: m, call: limits.Call{Method: "GET", Path: "/api/collections/settings/records"}},
		)
	}
	runCheckCases(t, cases)
}

func TestCheckAuthRecords(t *testing.T) {
	const record = "/api/collections/users/records/abc"
	const list = "/api/collections/users/records"
	protected := []string{
		"password", "passwordConfirm", "oldPassword", "email", "tokenKey", "verified",
		"email:autogenerate", "tokenKey:autogenerate", "verified+", "verified-",
		"EMAIL", "Password", "TOKENKEY", "Verified",
	}

	var cases []checkCase
	for _, m := range modes {
		cases = append(cases,
			checkCase{name: string(m) + " DELETE auth record", mode: m, call: limits.Call{Method: "DELETE", Path: record, AuthRecord: true}, want: limits.ErrNeverAllowed},
			checkCase{name: string(m) + " delete lower-case auth record", mode: m, call: limits.Call{Method: "delete", Path: record, AuthRecord: true}, want: limits.ErrNeverAllowed},
			checkCase{name: string(m) + " POST create auth record with password", mode: m, call: limits.Call{Method: "POST", Path: list, AuthRecord: true, Fields: []string{"name", "password", "passwordConfirm"}}, want: limits.ErrNeverAllowed},
			checkCase{name: string(m) + " GET auth record list", mode: m, call: limits.Call{Method: "GET", Path: list, AuthRecord: true}},
			checkCase{name: string(m) + " GET auth record", mode: m, call: limits.Call{Method: "GET", Path: record, AuthRecord: true}},
		)
		for _, f := range protected {
			for _, method := range []string{"PATCH", "patch", "PUT"} {
				cases = append(cases, checkCase{
					name: string(m) + " " + method + " auth record field " + f,
					mode: m,
					call: limits.Call{Method: method, Path: record, AuthRecord: true, Fields: []string{"name", f}},
					want: limits.ErrNeverAllowed,
				})
			}
		}
	}
	cases = append(cases,
		checkCase{name: "write PATCH auth record name and avatar", mode: records.ModeWrite, call: limits.Call{Method: "PATCH", Path: record, AuthRecord: true, Fields: []string{"name", "avatar"}}},
		checkCase{name: "write PATCH auth record no fields", mode: records.ModeWrite, call: limits.Call{Method: "PATCH", Path: record, AuthRecord: true}},
		checkCase{name: "write PATCH auth record emailVisibility", mode: records.ModeWrite, call: limits.Call{Method: "PATCH", Path: record, AuthRecord: true, Fields: []string{"emailVisibility"}}},
		checkCase{name: "write PATCH auth record avatar modifier", mode: records.ModeWrite, call: limits.Call{Method: "PATCH", Path: record, AuthRecord: true, Fields: []string{"avatar-", "tags+"}}},
		checkCase{name: "read PATCH auth record name and avatar", mode: records.ModeRead, call: limits.Call{Method: "PATCH", Path: record, AuthRecord: true, Fields: []string{"name", "avatar"}}, want: limits.ErrReadOnly},
	)
	// the same fields on a record of a non-auth collection are ordinary fields
	for _, f := range protected {
		cases = append(cases,
			checkCase{name: "write PATCH non-auth record field " + f, mode: records.ModeWrite, call: limits.Call{Method: "PATCH", Path: "/api/collections/posts/records/abc", Fields: []string{f}}},
			checkCase{name: "write POST non-auth record field " + f, mode: records.ModeWrite, call: limits.Call{Method: "POST", Path: "/api/collections/posts/records", Fields: []string{f}}},
			checkCase{name: "read PATCH non-auth record field " + f, mode: records.ModeRead, call: limits.Call{Method: "PATCH", Path: "/api/collections/posts/records/abc", Fields: []string{f}}, want: limits.ErrReadOnly},
		)
	}
	cases = append(cases,
		checkCase{name: "write DELETE non-auth record", mode: records.ModeWrite, call: limits.Call{Method: "DELETE", Path: "/api/collections/posts/records/abc"}},
	)
	runCheckCases(t, cases)
}

func TestCheckPolicyRules(t *testing.T) {
	billing := limits.Policy{Denied: mustRules(t, "POST /api/billing/*")}
	payments := limits.Policy{Denied: mustRules(t, "* /api/collections/payments/records*")}
	search := limits.Policy{Allowed: mustRules(t, "POST /api/search")}
	allowSettings := limits.Policy{Allowed: mustRules(t, "* /api/settings*")}
	deniedAndAllowed := limits.Policy{
		Denied:  mustRules(t, "POST /api/search"),
		Allowed: mustRules(t, "POST /api/search"),
	}
	allowAuthRecords := limits.Policy{Allowed: mustRules(t, "* /api/collections/users/records*")}
	lowerCaseRule := limits.Policy{Denied: mustRules(t, "post /api/billing/*")}

	cases := []checkCase{
		{name: "denied POST billing in write mode", mode: records.ModeWrite, policy: billing, call: limits.Call{Method: "POST", Path: "/api/billing/charge"}, want: limits.ErrDenied},
		{name: "denied POST billing in read mode", mode: records.ModeRead, policy: billing, call: limits.Call{Method: "POST", Path: "/api/billing/charge"}, want: limits.ErrDenied},
		{name: "denied lower-case post billing", mode: records.ModeWrite, policy: billing, call: limits.Call{Method: "post", Path: "/api/billing/charge"}, want: limits.ErrDenied},
		{name: "lower-case rule denies POST billing", mode: records.ModeWrite, policy: lowerCaseRule, call: limits.Call{Method: "POST", Path: "/api/billing/charge"}, want: limits.ErrDenied},
		{name: "GET billing not denied in write mode", mode: records.ModeWrite, policy: billing, call: limits.Call{Method: "GET", Path: "/api/billing/x"}},
		{name: "GET billing not denied in read mode", mode: records.ModeRead, policy: billing, call: limits.Call{Method: "GET", Path: "/api/billing/x"}},
		{name: "POST outside billing prefix", mode: records.ModeWrite, policy: billing, call: limits.Call{Method: "POST", Path: "/api/billing"}},
		{name: "denied any method GET payments list", mode: records.ModeWrite, policy: payments, call: limits.Call{Method: "GET", Path: "/api/collections/payments/records"}, want: limits.ErrDenied},
		{name: "denied any method GET payments record read mode", mode: records.ModeRead, policy: payments, call: limits.Call{Method: "GET", Path: "/api/collections/payments/records/abc"}, want: limits.ErrDenied},
		{name: "denied any method PATCH payments record", mode: records.ModeWrite, policy: payments, call: limits.Call{Method: "PATCH", Path: "/api/collections/payments/records/abc"}, want: limits.ErrDenied},
		{name: "other collection not denied", mode: records.ModeWrite, policy: payments, call: limits.Call{Method: "PATCH", Path: "/api/collections/posts/records/abc"}},
		{name: "allowed POST search in read mode", mode: records.ModeRead, policy: search, call: limits.Call{Method: "POST", Path: "/api/search"}},
		{name: "allowed lower-case post search in read mode", mode: records.ModeRead, policy: search, call: limits.Call{Method: "post", Path: "/api/search"}},
		{name: "allowed rule is exact", mode: records.ModeRead, policy: search, call: limits.Call{Method: "POST", Path: "/api/search/more"}, want: limits.ErrReadOnly},
		{name: "allowed rule is per method", mode: records.ModeRead, policy: search, call: limits.Call{Method: "DELETE", Path: "/api/search"}, want: limits.ErrReadOnly},
		{name: "allowed does not open settings", mode: records.ModeRead, policy: allowSettings, call: limits.Call{Method: "PATCH", Path: "/api/settings"}, want: limits.ErrNeverAllowed},
		{name: "allowed does not open settings test email", mode: records.ModeRead, policy: allowSettings, call: limits.Call{Method: "POST", Path: "/api/settings/test/email"}, want: limits.ErrNeverAllowed},
		{name: "allowed does not open settings GET", mode: records.ModeRead, policy: allowSettings, call: limits.Call{Method: "GET", Path: "/api/settings"}, want: limits.ErrNeverAllowed},
		{name: "denied wins over allowed in read mode", mode: records.ModeRead, policy: deniedAndAllowed, call: limits.Call{Method: "POST", Path: "/api/search"}, want: limits.ErrDenied},
		{name: "denied wins over allowed in write mode", mode: records.ModeWrite, policy: deniedAndAllowed, call: limits.Call{Method: "POST", Path: "/api/search"}, want: limits.ErrDenied},
		{name: "allowed does not open protected auth fields", mode: records.ModeRead, policy: allowAuthRecords, call: limits.Call{Method: "PATCH", Path: "/api/collections/users/records/abc", AuthRecord: true, Fields: []string{"email"}}, want: limits.ErrNeverAllowed},
		{name: "allowed does not open auth record delete", mode: records.ModeRead, policy: allowAuthRecords, call: limits.Call{Method: "DELETE", Path: "/api/collections/users/records/abc", AuthRecord: true}, want: limits.ErrNeverAllowed},
		{name: "allowed opens harmless auth record PATCH in read mode", mode: records.ModeRead, policy: allowAuthRecords, call: limits.Call{Method: "PATCH", Path: "/api/collections/users/records/abc", AuthRecord: true, Fields: []string{"name"}}},
		{name: "denied catch-all does not hide never-allowed", mode: records.ModeWrite, policy: limits.Policy{Denied: mustRules(t, "* /api/*")}, call: limits.Call{Method: "GET", Path: "/api/settings"}, want: limits.ErrNeverAllowed},
		{name: "denied catch-all refuses realtime POST", mode: records.ModeRead, policy: limits.Policy{Denied: mustRules(t, "* /api/*")}, call: limits.Call{Method: "POST", Path: "/api/realtime"}, want: limits.ErrDenied},
	}
	runCheckCases(t, cases)
}

func TestFromPolicy(t *testing.T) {
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatalf("NewTestApp: %v", err)
	}
	defer app.Cleanup()

	cases := []struct {
		name        string
		edit        func(p *records.Policy)
		wantDenied  []limits.Rule
		wantAllowed []limits.Rule
		wantErr     bool
	}{
		{
			name: "unset fields",
			edit: func(p *records.Policy) {},
		},
		{
			name: "empty arrays",
			edit: func(p *records.Policy) {
				p.SetDeniedRoutes([]string{})
				p.SetAllowedRoutes([]string{})
			},
		},
		{
			name: "null fields",
			edit: func(p *records.Policy) {
				p.Set("deniedRoutes", nil)
				p.Set("allowedRoutes", nil)
			},
		},
		{
			name: "denied and allowed rules",
			edit: func(p *records.Policy) {
				p.SetDeniedRoutes([]string{"POST /api/billing/*", "* /api/collections/payments/records*"})
				p.SetAllowedRoutes([]string{"post /api/search"})
			},
			wantDenied: []limits.Rule{
				{Method: "POST", Path: "/api/billing/", Prefix: true},
				{Method: "*", Path: "/api/collections/payments/records", Prefix: true},
			},
			wantAllowed: []limits.Rule{{Method: "POST", Path: "/api/search"}},
		},
		{
			name:       "denied only",
			edit:       func(p *records.Policy) { p.SetDeniedRoutes([]string{"GET /api/x"}) },
			wantDenied: []limits.Rule{{Method: "GET", Path: "/api/x"}},
		},
		{
			name:        "allowed only",
			edit:        func(p *records.Policy) { p.SetAllowedRoutes([]string{"* /api/y*"}) },
			wantAllowed: []limits.Rule{{Method: "*", Path: "/api/y", Prefix: true}},
		},
		{
			name:    "bad denied rule",
			edit:    func(p *records.Policy) { p.SetDeniedRoutes([]string{"GET /ok", "POST api/x"}) },
			wantErr: true,
		},
		{
			name:    "bad allowed rule",
			edit:    func(p *records.Policy) { p.SetAllowedRoutes([]string{"/api/x"}) },
			wantErr: true,
		},
		{
			name:    "denied object instead of array",
			edit:    func(p *records.Policy) { p.Set("deniedRoutes", map[string]any{"a": 1}) },
			wantErr: true,
		},
		{
			name:    "allowed object instead of array",
			edit:    func(p *records.Policy) { p.Set("allowedRoutes", map[string]any{"a": 1}) },
			wantErr: true,
		},
		{
			name:    "denied array of numbers",
			edit:    func(p *records.Policy) { p.Set("deniedRoutes", []int{1, 2}) },
			wantErr: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := records.NewPolicy(app)
			if err != nil {
				t.Fatalf("NewPolicy: %v", err)
			}
			tc.edit(p)
			got, err := limits.FromPolicy(p)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("FromPolicy = %+v, nil; want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromPolicy: %v", err)
			}
			if len(got.Denied) != len(tc.wantDenied) || (len(got.Denied) > 0 && !reflect.DeepEqual(got.Denied, tc.wantDenied)) {
				t.Errorf("Denied = %+v, want %+v", got.Denied, tc.wantDenied)
			}
			if len(got.Allowed) != len(tc.wantAllowed) || (len(got.Allowed) > 0 && !reflect.DeepEqual(got.Allowed, tc.wantAllowed)) {
				t.Errorf("Allowed = %+v, want %+v", got.Allowed, tc.wantAllowed)
			}
		})
	}
}
