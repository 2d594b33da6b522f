// Package limits decides which requests an impersonation session may make.
//
// Three layers, checked in order:
//
//  1. Always refused, whatever the policy says: changing an auth record's
//     password, email, tokenKey or verified flag; deleting an auth record;
//     every auth-with-*, request-* and confirm-* route; PocketBase's own
//     impersonate route; the consent routes; and the superuser-only routes
//     (settings, collections, backups, logs, crons). Starting a session is
//     let through to its route, which refuses it (no chaining).
//  2. The policy's deniedRoutes: refused in any mode.
//  3. Read mode: only GET, HEAD and OPTIONS pass, and the few POSTs that
//     change nothing of the user's (realtime subscriptions, auth-refresh,
//     file tokens, ending the session), plus the policy's allowedRoutes.
//
// A route rule is "METHOD PATH": METHOD is an HTTP method or "*", PATH is
// a URL path that may end with "*" to match every path it starts. For
// example "POST /api/billing/*" or "* /api/collections/payments/records*".
package limits

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Sentinel errors of a refused request.
var (
	ErrNeverAllowed = errors.New("never allowed while impersonating")
	ErrDenied       = errors.New("denied by the policy while impersonating")
	ErrReadOnly     = errors.New("the impersonation session is read-only")
)

// Call is one request, or one request of a batch, as the limits see it.
type Call struct {
	Method string
	Path   string
	// AuthRecord tells whether Path names the records of an auth collection.
	AuthRecord bool
	// Fields are the names of the body's fields (modifiers such as
	// "email:autogenerate" or "verified+" are allowed).
	Fields []string
}

// Rule is a parsed route rule.
type Rule struct {
	Method string
	Path   string
	Prefix bool
}

// ParseRule parses "METHOD PATH" (see the package doc). It refuses a rule
// that could never match a request: a method PocketBase does not route, a
// path that is not absolute, or a "*" anywhere but at the end.
func ParseRule(s string) (Rule, error) {
	method, path, ok := strings.Cut(strings.TrimSpace(s), " ")
	path = strings.TrimSpace(path)
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return Rule{}, fmt.Errorf("route rule %q: want \"METHOD /path\" or \"METHOD /path/*\"", s)
	}
	r := Rule{Method: strings.ToUpper(method), Path: path}
	if !slices.Contains(ruleMethods, r.Method) {
		return Rule{}, fmt.Errorf("route rule %q: the method is not one of %s", s, strings.Join(ruleMethods, ", "))
	}
	if strings.HasSuffix(path, "*") {
		r.Path, r.Prefix = strings.TrimSuffix(path, "*"), true
	}
	if strings.Contains(r.Path, "*") {
		return Rule{}, fmt.Errorf("route rule %q: \"*\" may only end the path", s)
	}
	return r, nil
}

// ruleMethods are the methods a route rule may name ("*": any).
var ruleMethods = []string{"*", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"}

// Matches reports whether the rule matches a request.
func (r Rule) Matches(method, path string) bool {
	if r.Method != "*" && r.Method != method {
		return false
	}
	if r.Prefix {
		return strings.HasPrefix(path, r.Path)
	}
	return path == r.Path
}

// Policy is the part of an impersonation policy the limits read.
type Policy struct {
	Denied  []Rule
	Allowed []Rule
}

// FromPolicy returns the route rules of policy record p, parsed. The
// sessions cache hands every request the same record of a policy until the
// policy changes, so the rules parsed from a record are kept with it (by
// the policy's id, one record each) and not parsed again.
func FromPolicy(p *records.Policy) (Policy, error) {
	if kept, ok := parsedPolicies.Load(p.Id); ok && kept.(*parsedPolicy).record == p {
		return kept.(*parsedPolicy).limits, kept.(*parsedPolicy).err
	}
	lim, err := parsePolicy(p)
	parsedPolicies.Store(p.Id, &parsedPolicy{record: p, limits: lim, err: err})
	return lim, err
}

// parsedPolicies holds, by policy id, a *parsedPolicy: the route rules of
// the record of the policy last parsed.
var parsedPolicies sync.Map

// parsedPolicy is a policy record and what its route rules parse to.
type parsedPolicy struct {
	record *records.Policy
	limits Policy
	err    error
}

// parsePolicy parses the route rules of policy record p.
func parsePolicy(p *records.Policy) (Policy, error) {
	var out Policy
	denied, err := p.DeniedRoutes()
	if err != nil {
		return out, err
	}
	allowed, err := p.AllowedRoutes()
	if err != nil {
		return out, err
	}
	if out.Denied, err = parseRules(denied); err != nil {
		return out, err
	}
	out.Allowed, err = parseRules(allowed)
	return out, err
}

func parseRules(rules []string) ([]Rule, error) {
	parsed := make([]Rule, 0, len(rules))
	for _, s := range rules {
		r, err := ParseRule(s)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, r)
	}
	return parsed, nil
}

// protectedFields are the auth record fields an impersonator never changes.
var protectedFields = []string{"password", "passwordConfirm", "oldPassword", "email", "tokenKey", "verified"}

// neverPaths are the routes refused in any mode, whatever the method. The
// path is matched with its collection spelled by name (the guard resolves
// ids and other letter cases first).
var neverPaths = regexp.MustCompile(`^/api/(` +
	`collections/[^/]+/(auth-with-password|auth-with-otp|auth-with-oauth2|request-otp|request-password-reset|confirm-password-reset|request-verification|confirm-verification|request-email-change|confirm-email-change|impersonate/[^/]+)` +
	`|impersonation/consent` +
	`|settings(/.*)?|backups(/.*)?|logs(/.*)?|crons(/.*)?` +
	`|collections/?|collections/import|collections/meta/.*|collections/[^/]+/?|collections/[^/]+/truncate` +
	// PocketBase's system auth collections: OAuth2 links, login origins,
	// MFA and OTP records are the account's keys, in every mode
	`|collections/(_externalAuths|_authOrigins|_mfas|_otps)/.*|files/(_externalAuths|_authOrigins|_mfas|_otps)/.*` +
	`)$`)

// filePath matches a file download and names its collection and record.
var filePath = regexp.MustCompile(`^/api/files/([^/]+)/([^/]+)/[^/]+$`)

// recordOfFile returns the records API path of the record whose file path
// serves, or "" when path is no file download.
func recordOfFile(path string) string {
	m := filePath.FindStringSubmatch(path)
	if m == nil {
		return ""
	}
	return "/api/collections/" + m[1] + "/records/" + m[2]
}

// recordPath matches the records routes of a collection.
var recordPath = regexp.MustCompile(`^/api/collections/[^/]+/records(/[^/]+)?$`)

// readOnlyPosts are the POST routes a read-only session may call: those
// that change nothing of the user's, and the start of a session, which its
// route refuses itself (no chaining) so the refusal is audited as one.
var readOnlyPosts = regexp.MustCompile(`^/api/(realtime|files/token|collections/[^/]+/auth-refresh|impersonation/sessions(/[^/]+/end)?)$`)

// Check returns nil when a session in mode may make call under policy p,
// and otherwise an error wrapping ErrNeverAllowed, ErrDenied or ErrReadOnly.
func Check(mode records.Mode, p Policy, call Call) error {
	method := strings.ToUpper(call.Method)
	if neverAllowed(method, call) {
		return fmt.Errorf("%w: %s %s", ErrNeverAllowed, method, call.Path)
	}
	for _, r := range p.Denied {
		if r.Matches(method, call.Path) {
			return fmt.Errorf("%w: %s %s", ErrDenied, method, call.Path)
		}
		// a record's file is served from its record: a rule that denies the
		// record denies its files
		if view := recordOfFile(call.Path); view != "" && r.Matches(method, view) {
			return fmt.Errorf("%w: %s %s", ErrDenied, method, call.Path)
		}
	}
	if mode == records.ModeWrite || SafeMethod(method) {
		return nil
	}
	if method == "POST" && readOnlyPosts.MatchString(call.Path) {
		return nil
	}
	for _, r := range p.Allowed {
		if r.Matches(method, call.Path) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s %s", ErrReadOnly, method, call.Path)
}

func neverAllowed(method string, call Call) bool {
	if neverPaths.MatchString(call.Path) {
		return true
	}
	if !call.AuthRecord || !recordPath.MatchString(call.Path) {
		return false
	}
	if method == "DELETE" {
		return true
	}
	if method == "PATCH" || method == "PUT" || method == "POST" {
		for _, f := range call.Fields {
			if isProtected(f) {
				return true
			}
		}
	}
	return false
}

// isProtected reports whether a body field names a protected auth field,
// with or without a modifier ("email:autogenerate", "verified+").
func isProtected(field string) bool {
	name := field
	if i := strings.IndexAny(name, ":+-"); i >= 0 {
		name = name[:i]
	}
	for _, f := range protectedFields {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// SafeMethod reports whether method (upper case) only reads: GET, HEAD
// or OPTIONS. Every other request is a write.
func SafeMethod(method string) bool {
	return method == "GET" || method == "HEAD" || method == "OPTIONS"
}
