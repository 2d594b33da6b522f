package policy_test

import (
	"errors"
	"testing"
	"time"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/policy"
	"github.com/pbimpersonation/impersonation/internal/records"

	"github.com/pbimpersonation/impersonation/internal/testapp"
)

func TestMain(m *testing.M) { testapp.Main(m) }

// now is the controlled clock of every decision.
var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// ref names a record of PocketBase's test data (tests/data).
type ref struct{ collection, id string }

var (
	none          = ref{}
	superuser     = ref{core.CollectionNameSuperusers, "sywbhecnh46rhm0"}
	userUnverif   = ref{"users", "4q1xlclmfloku33"}   // verified = false
	userVerified  = ref{"users", "oap640cot4yru2s"}   // verified = true
	userVerified2 = ref{"users", "bgs820n361vj1qd"}   // verified = true
	clientVerif   = ref{"clients", "gk390qegs4y47wn"} // verified = true
	clientUnverif = ref{"clients", "o1y0dd0spd786md"} // verified = false
)

// verifiedClientsRule lets verified clients act as verified users.
const verifiedClientsRule = `@request.auth.collectionName = "clients" && @request.auth.verified = true && verified = true`

// anyAuthRule would let any authenticated record act as anyone.
const anyAuthRule = `@request.auth.id != ""`

func newTestApp(t *testing.T) *tests.TestApp {
	t.Helper()
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatalf("NewTestApp: %v", err)
	}
	t.Cleanup(app.Cleanup)
	return app
}

func find(t *testing.T, app core.App, r ref) *core.Record {
	t.Helper()
	if r == none {
		return nil
	}
	rec, err := app.FindRecordById(r.collection, r.id)
	if err != nil {
		t.Fatalf("find %s/%s: %v", r.collection, r.id, err)
	}
	return rec
}

// newPolicy returns an enabled, consent-required read+write policy of the
// users collection with the given rule, changed by edit.
func newPolicy(t *testing.T, app core.App, rule string, edit func(p *records.Policy)) *records.Policy {
	t.Helper()
	p, err := records.NewPolicy(app)
	if err != nil {
		t.Fatalf("NewPolicy: %v", err)
	}
	p.SetCollection("users")
	p.SetEnabled(true)
	p.SetConsent(records.ConsentRequired)
	p.SetModes([]records.Mode{records.ModeRead, records.ModeWrite})
	p.SetMaxMinutes(60)
	p.SetAttemptsPerMinute(5)
	p.SetConsentMaxHours(168)
	p.SetImpersonatorRule(rule)
	if edit != nil {
		edit(p)
	}
	return p
}

// consentSpec describes a consent relative to now.
type consentSpec struct {
	expiresIn time.Duration
	revoked   bool
}

var (
	liveConsent = &consentSpec{expiresIn: 24 * time.Hour}
	noConsent   *consentSpec
)

// newConsent makes an unsaved consent of user.
func newConsent(t *testing.T, app core.App, user *core.Record, spec *consentSpec) *records.Consent {
	t.Helper()
	if spec == nil {
		return nil
	}
	c, err := records.FindOrNewConsent(app, user)
	if err != nil {
		t.Fatalf("FindOrNewConsent: %v", err)
	}
	c.SetExpires(now.Add(spec.expiresIn))
	c.SetRevoked(spec.revoked)
	return c
}

var sentinels = []error{
	policy.ErrNotAllowed,
	policy.ErrModeNotAllowed,
	policy.ErrConsentRequired,
	policy.ErrActorUnavailable,
	policy.ErrBreakGlassOff,
}

// assertDecision checks that err is nil when wantCode is empty, and
// otherwise a *policy.Refusal of wantCode that wraps wantErr and no other
// sentinel.
func assertDecision(t *testing.T, err error, wantCode policy.Code, wantErr error) {
	t.Helper()
	if wantCode == "" {
		if err != nil {
			t.Fatalf("Check = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Check = nil, want refusal %s", wantCode)
	}
	var refusal *policy.Refusal
	if !errors.As(err, &refusal) {
		t.Fatalf("Check = %T %v, want *policy.Refusal", err, err)
	}
	if refusal.Code != wantCode {
		t.Errorf("Check refusal code = %q, want %q", refusal.Code, wantCode)
	}
	for _, s := range sentinels {
		if got, want := errors.Is(err, s), s == wantErr; got != want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	scenarios := []struct {
		name     string
		noPolicy bool
		rule     string
		edit     func(p *records.Policy)
		actor    ref
		target   ref
		consent  *consentSpec
		mode     records.Mode
		wantCode policy.Code
		wantErr  error
	}{
		// the checks that hide whether the target exists
		{
			name: "nil policy", noPolicy: true,
			actor: superuser, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeNoPolicy, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "disabled policy", edit: func(p *records.Policy) { p.SetEnabled(false) },
			actor: superuser, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodePolicyDisabled, wantErr: policy.ErrNotAllowed,
		},
		{
			name:  "nil target",
			actor: superuser, target: none, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeTargetNotFound, wantErr: policy.ErrNotAllowed,
		},
		{
			name:  "target of another collection than the policy's",
			actor: superuser, target: clientVerif, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeTargetNotFound, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "policy naming a collection that does not exist", edit: func(p *records.Policy) { p.SetCollection("nosuchcollection") },
			actor: superuser, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeTargetNotFound, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "superuser target", rule: anyAuthRule,
			edit:  func(p *records.Policy) { p.SetCollection(core.CollectionNameSuperusers) },
			actor: userVerified, target: superuser, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeSuperuserTarget, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "superuser target of a superuser actor",
			edit: func(p *records.Policy) {
				p.SetCollection(core.CollectionNameSuperusers)
				p.SetConsent(records.ConsentNone)
			},
			actor: superuser, target: superuser, consent: noConsent, mode: records.ModeRead,
			wantCode: policy.CodeSuperuserTarget, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "self impersonation under a rule that would allow it", rule: anyAuthRule,
			actor: userUnverif, target: userUnverif, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeSelf, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "self impersonation of a verified user", rule: verifiedClientsRule + ` || @request.auth.id != ""`,
			actor: userVerified, target: userVerified, consent: liveConsent, mode: records.ModeWrite,
			wantCode: policy.CodeSelf, wantErr: policy.ErrNotAllowed,
		},
		{
			name:  "nil actor",
			rule:  anyAuthRule,
			actor: none, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeActorNotFound, wantErr: policy.ErrActorUnavailable,
		},

		// the impersonatorRule
		{
			name:  "superuser actor with empty rule",
			actor: superuser, target: userVerified, consent: liveConsent, mode: records.ModeRead,
		},
		{
			name:  "superuser actor with empty rule as an unverified user",
			actor: superuser, target: userUnverif, consent: liveConsent, mode: records.ModeWrite,
		},
		{
			name: "superuser actor with a rule no one satisfies", rule: `@request.auth.id = "nobody"`,
			actor: superuser, target: userVerified, consent: liveConsent, mode: records.ModeRead,
		},
		{
			name:  "non-superuser actor with empty rule",
			actor: userVerified2, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name:  "client actor with empty rule",
			actor: clientVerif, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "verified client as verified user", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified, consent: liveConsent, mode: records.ModeRead,
		},
		{
			name: "verified client as another verified user", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified2, consent: liveConsent, mode: records.ModeWrite,
		},
		{
			name: "verified client as unverified user", rule: verifiedClientsRule,
			actor: clientVerif, target: userUnverif, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "unverified client as verified user", rule: verifiedClientsRule,
			actor: clientUnverif, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "unverified client as unverified user", rule: verifiedClientsRule,
			actor: clientUnverif, target: userUnverif, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "verified user as verified user under a clients-only rule", rule: verifiedClientsRule,
			actor: userVerified2, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "rule naming the target by id", rule: `@request.auth.collectionName = "clients" && id = "oap640cot4yru2s"`,
			actor: clientUnverif, target: userVerified, consent: liveConsent, mode: records.ModeRead,
		},
		{
			name: "rule naming another target by id", rule: `@request.auth.collectionName = "clients" && id = "oap640cot4yru2s"`,
			actor: clientUnverif, target: userVerified2, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "rule referencing a field that does not exist", rule: `nosuchfield = true`,
			actor: clientVerif, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "rule referencing a field that does not exist after a passing part", rule: anyAuthRule + ` && nosuchfield = true`,
			actor: clientVerif, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "rule with a syntax error", rule: `verified = `,
			actor: clientVerif, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "rule referencing a collection that does not exist", rule: `@collection.nosuchcollection.id ?= "x"`,
			actor: clientVerif, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "superuser actor with a rule that does not evaluate", rule: `nosuchfield = true`,
			actor: superuser, target: userVerified, consent: liveConsent, mode: records.ModeRead,
		},
		{
			name: "same id in another collection is not self impersonation", rule: `@request.auth.collectionName = "clients"`,
			actor: ref{"clients", "oap640cot4yru2s"}, target: userVerified, consent: liveConsent, mode: records.ModeRead,
		},

		// the mode
		{
			name: "write mode under a read-only policy", rule: verifiedClientsRule,
			edit:  func(p *records.Policy) { p.SetModes([]records.Mode{records.ModeRead}) },
			actor: clientVerif, target: userVerified, consent: liveConsent, mode: records.ModeWrite,
			wantCode: policy.CodeModeNotAllowed, wantErr: policy.ErrModeNotAllowed,
		},
		{
			name: "read mode under a read-only policy", rule: verifiedClientsRule,
			edit:  func(p *records.Policy) { p.SetModes([]records.Mode{records.ModeRead}) },
			actor: clientVerif, target: userVerified, consent: liveConsent, mode: records.ModeRead,
		},
		{
			name:  "read mode under a write-only policy",
			edit:  func(p *records.Policy) { p.SetModes([]records.Mode{records.ModeWrite}) },
			actor: superuser, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeModeNotAllowed, wantErr: policy.ErrModeNotAllowed,
		},
		{
			name:  "empty mode",
			actor: superuser, target: userVerified, consent: liveConsent, mode: "",
			wantCode: policy.CodeModeNotAllowed, wantErr: policy.ErrModeNotAllowed,
		},
		{
			name:  "unknown mode",
			actor: superuser, target: userVerified, consent: liveConsent, mode: "admin",
			wantCode: policy.CodeModeNotAllowed, wantErr: policy.ErrModeNotAllowed,
		},
		{
			name:  "policy without modes",
			edit:  func(p *records.Policy) { p.SetModes(nil) },
			actor: superuser, target: userVerified, consent: liveConsent, mode: records.ModeRead,
			wantCode: policy.CodeModeNotAllowed, wantErr: policy.ErrModeNotAllowed,
		},

		// the consent
		{
			name: "consent required and missing", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified, consent: noConsent, mode: records.ModeRead,
			wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name:  "consent required and missing for a superuser actor",
			actor: superuser, target: userVerified, consent: noConsent, mode: records.ModeRead,
			wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name: "consent revoked", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified, consent: &consentSpec{expiresIn: 24 * time.Hour, revoked: true}, mode: records.ModeRead,
			wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name: "consent expiring exactly now", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified, consent: &consentSpec{expiresIn: 0}, mode: records.ModeRead,
			wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name: "consent expired a second ago", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified, consent: &consentSpec{expiresIn: -time.Second}, mode: records.ModeRead,
			wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name: "consent expired long ago", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified, consent: &consentSpec{expiresIn: -365 * 24 * time.Hour}, mode: records.ModeRead,
			wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name: "consent live for one more second", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified, consent: &consentSpec{expiresIn: time.Second}, mode: records.ModeRead,
		},
		{
			name: "consent live for one more millisecond", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified, consent: &consentSpec{expiresIn: time.Millisecond}, mode: records.ModeRead,
		},
		{
			name: "consent live but revoked expiring exactly now", rule: verifiedClientsRule,
			actor: clientVerif, target: userVerified, consent: &consentSpec{expiresIn: 0, revoked: true}, mode: records.ModeRead,
			wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name: "no consent needed and none given", rule: verifiedClientsRule,
			edit:  func(p *records.Policy) { p.SetConsent(records.ConsentNone) },
			actor: clientVerif, target: userVerified, consent: noConsent, mode: records.ModeRead,
		},
		{
			name: "no consent needed and the consent revoked", rule: verifiedClientsRule,
			edit:  func(p *records.Policy) { p.SetConsent(records.ConsentNone) },
			actor: clientVerif, target: userVerified, consent: &consentSpec{expiresIn: time.Hour, revoked: true}, mode: records.ModeWrite,
		},
		{
			name: "no consent needed and the consent expired", rule: verifiedClientsRule,
			edit:  func(p *records.Policy) { p.SetConsent(records.ConsentNone) },
			actor: clientVerif, target: userVerified, consent: &consentSpec{expiresIn: -time.Hour}, mode: records.ModeRead,
		},

		// the order of the checks
		{
			name: "order: disabled policy before a missing actor", edit: func(p *records.Policy) { p.SetEnabled(false) },
			actor: none, target: none, consent: noConsent, mode: "",
			wantCode: policy.CodePolicyDisabled, wantErr: policy.ErrNotAllowed,
		},
		{
			name:  "order: nil target before missing consent",
			actor: superuser, target: none, consent: noConsent, mode: records.ModeRead,
			wantCode: policy.CodeTargetNotFound, wantErr: policy.ErrNotAllowed,
		},
		{
			name:  "order: target of another collection before missing actor and consent",
			actor: none, target: clientVerif, consent: noConsent, mode: records.ModeRead,
			wantCode: policy.CodeTargetNotFound, wantErr: policy.ErrNotAllowed,
		},
		{
			name:  "order: superuser target before a missing actor",
			edit:  func(p *records.Policy) { p.SetCollection(core.CollectionNameSuperusers) },
			actor: none, target: superuser, consent: noConsent, mode: records.ModeRead,
			wantCode: policy.CodeSuperuserTarget, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "order: missing actor before missing consent", rule: anyAuthRule,
			actor: none, target: userVerified, consent: noConsent, mode: records.ModeRead,
			wantCode: policy.CodeActorNotFound, wantErr: policy.ErrActorUnavailable,
		},
		{
			name: "order: actor failing the rule before missing consent", rule: verifiedClientsRule,
			actor: clientUnverif, target: userVerified, consent: noConsent, mode: records.ModeRead,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "order: actor failing the rule before a mode not allowed", rule: verifiedClientsRule,
			edit:  func(p *records.Policy) { p.SetModes([]records.Mode{records.ModeRead}) },
			actor: clientUnverif, target: userVerified, consent: noConsent, mode: records.ModeWrite,
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
		{
			name: "order: mode not allowed before missing consent", rule: verifiedClientsRule,
			edit:  func(p *records.Policy) { p.SetModes([]records.Mode{records.ModeRead}) },
			actor: clientVerif, target: userVerified, consent: noConsent, mode: records.ModeWrite,
			wantCode: policy.CodeModeNotAllowed, wantErr: policy.ErrModeNotAllowed,
		},
	}

	app := newTestApp(t)
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			var p *records.Policy
			if !s.noPolicy {
				p = newPolicy(t, app, s.rule, s.edit)
			}

			var actor *core.Record
			if s.actor.id == "oap640cot4yru2s" && s.actor.collection == "clients" {
				// an unsaved client that shares its id with a user
				clients, err := app.FindCollectionByNameOrId("clients")
				if err != nil {
					t.Fatalf("find clients: %v", err)
				}
				actor = core.NewRecord(clients)
				actor.Id = s.actor.id
				actor.SetVerified(true)
			} else {
				actor = find(t, app, s.actor)
			}
			target := find(t, app, s.target)

			consentOf := target
			if consentOf == nil {
				consentOf = find(t, app, userVerified)
			}
			req := policy.Request{
				Policy:  p,
				Actor:   actor,
				Target:  target,
				Consent: newConsent(t, app, consentOf, s.consent),
				Mode:    s.mode,
				Now:     now,
			}
			assertDecision(t, policy.Check(app, req), s.wantCode, s.wantErr)
		})
	}
}

// TestCheckSavedRecords runs Check on a saved policy and a saved consent, as
// the plugin does, to show that saving changes nothing of the decision.
func TestCheckSavedRecords(t *testing.T) {
	scenarios := []struct {
		name     string
		consent  consentSpec
		wantCode policy.Code
		wantErr  error
	}{
		{"live consent", consentSpec{expiresIn: time.Hour}, "", nil},
		{"consent expiring exactly now", consentSpec{expiresIn: 0}, policy.CodeConsentRequired, policy.ErrConsentRequired},
		{"revoked consent", consentSpec{expiresIn: time.Hour, revoked: true}, policy.CodeConsentRequired, policy.ErrConsentRequired},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			app := newTestApp(t)
			p := newPolicy(t, app, verifiedClientsRule, nil)
			if err := app.Save(p); err != nil {
				t.Fatalf("save policy: %v", err)
			}
			target := find(t, app, userVerified)
			c := newConsent(t, app, target, &s.consent)
			if err := app.Save(c); err != nil {
				t.Fatalf("save consent: %v", err)
			}

			saved, err := records.FindPolicy(app, "users")
			if err != nil {
				t.Fatalf("FindPolicy: %v", err)
			}
			consent, err := records.FindConsent(app, target)
			if err != nil {
				t.Fatalf("FindConsent: %v", err)
			}
			err = policy.Check(app, policy.Request{
				Policy:  saved,
				Actor:   find(t, app, clientVerif),
				Target:  target,
				Consent: consent,
				Mode:    records.ModeRead,
				Now:     now,
			})
			assertDecision(t, err, s.wantCode, s.wantErr)
		})
	}
}

// TestCheckRuleSeesStoredTarget shows that the rule's plain fields are the
// target's as stored: a change not yet saved does not count.
func TestCheckRuleSeesStoredTarget(t *testing.T) {
	scenarios := []struct {
		name     string
		target   ref
		verified bool
		save     bool
		wantCode policy.Code
	}{
		{"verified user unverified and saved", userVerified, false, true, policy.CodeRuleFailed},
		{"unverified user verified and saved", userUnverif, true, true, ""},
		{"verified user unverified but not saved", userVerified, false, false, ""},
		{"unverified user verified but not saved", userUnverif, true, false, policy.CodeRuleFailed},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			app := newTestApp(t)
			target := find(t, app, s.target)
			target.SetVerified(s.verified)
			if s.save {
				if err := app.Save(target); err != nil {
					t.Fatalf("save target: %v", err)
				}
			}
			wantErr := error(nil)
			if s.wantCode != "" {
				wantErr = policy.ErrNotAllowed
			}
			err := policy.Check(app, policy.Request{
				Policy:  newPolicy(t, app, verifiedClientsRule, nil),
				Actor:   find(t, app, clientVerif),
				Target:  target,
				Consent: newConsent(t, app, target, liveConsent),
				Mode:    records.ModeRead,
				Now:     now,
			})
			assertDecision(t, err, s.wantCode, wantErr)
		})
	}
}

func TestRefusalError(t *testing.T) {
	scenarios := []struct {
		name    string
		refusal *policy.Refusal
		want    string
	}{
		{"rule failed", &policy.Refusal{Code: policy.CodeRuleFailed, Err: policy.ErrNotAllowed}, "impersonation not allowed: rule_failed"},
		{"consent required", &policy.Refusal{Code: policy.CodeConsentRequired, Err: policy.ErrConsentRequired}, "target consent required: consent_required"},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			if got := s.refusal.Error(); got != s.want {
				t.Errorf("Error() = %q, want %q", got, s.want)
			}
			if !errors.Is(s.refusal, s.refusal.Err) {
				t.Errorf("errors.Is(refusal, %v) = false, want true", s.refusal.Err)
			}
		})
	}
}

func TestValidateRule(t *testing.T) {
	scenarios := []struct {
		name       string
		collection string
		rule       string
		wantErr    bool
	}{
		{"empty rule", "users", "", false},
		{"target field", "users", `verified = true`, false},
		{"actor and target fields", "users", verifiedClientsRule, false},
		{"actor id", "users", anyAuthRule, false},
		{"target field on clients", "clients", `verified = true && @request.auth.collectionName = "_superusers"`, false},
		{"syntax error", "users", `verified = `, true},
		{"dangling operator", "users", `verified = true &&`, true},
		{"unbalanced parenthesis", "users", `(verified = true`, true},
		{"unknown field", "users", `nosuchfield = true`, true},
		{"unknown field after a valid one", "users", `verified = true && nosuchfield = 1`, true},
		{"unknown collection", "users", `@collection.nosuchcollection.id ?= "x"`, true},
	}
	app := newTestApp(t)
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			collection, err := app.FindCollectionByNameOrId(s.collection)
			if err != nil {
				t.Fatalf("find collection %s: %v", s.collection, err)
			}
			err = policy.ValidateRule(app, collection, s.rule)
			if !s.wantErr {
				if err != nil {
					t.Fatalf("ValidateRule(%q) = %v, want nil", s.rule, err)
				}
				return
			}
			var verr validation.Error
			if !errors.As(err, &verr) {
				t.Fatalf("ValidateRule(%q) = %T %v, want a validation.Error", s.rule, err, err)
			}
			if verr.Code() != "validation_invalid_rule" {
				t.Errorf("ValidateRule(%q) code = %q, want validation_invalid_rule", s.rule, verr.Code())
			}
		})
	}
}

// TestCheckDatabaseFailureIsUndecided makes the impersonatorRule's query
// fail: Check makes no decision (an error wrapping ErrUndecided, no
// Refusal), while a rule that does not compile still refuses.
func TestCheckDatabaseFailureIsUndecided(t *testing.T) {
	scenarios := []struct {
		name      string
		rule      string
		breakDB   bool
		wantCode  policy.Code
		undecided bool
	}{
		{"the rule's query fails", verifiedClientsRule, true, "", true},
		{"the rule does not compile", "verified ===", false, policy.CodeRuleFailed, false},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			app := newTestApp(t)
			actor, target := find(t, app, clientVerif), find(t, app, userVerified)
			if s.breakDB {
				// the collection's table is gone, as a failing database would answer
				if _, err := app.DB().NewQuery("ALTER TABLE users RENAME TO users_away").Execute(); err != nil {
					t.Fatal(err)
				}
			}
			err := policy.Check(app, policy.Request{
				Policy:  newPolicy(t, app, s.rule, nil),
				Actor:   actor,
				Target:  target,
				Consent: newConsent(t, app, target, liveConsent),
				Mode:    records.ModeRead,
				Now:     now,
			})
			if s.undecided {
				var refusal *policy.Refusal
				if !errors.Is(err, policy.ErrUndecided) || errors.As(err, &refusal) {
					t.Fatalf("Check = %v, want ErrUndecided and no Refusal", err)
				}
				return
			}
			assertDecision(t, err, s.wantCode, policy.ErrNotAllowed)
		})
	}
}

// TestCheckGrantsBesidesConsent: where consent is required and missing, an
// approved request of this actor about this target stands in for it, up
// to its mode; a break-glass start or session needs the policy's
// breakGlass, in a mode breakGlassModes allows.
func TestCheckGrantsBesidesConsent(t *testing.T) {
	app := newTestApp(t)
	actor, target := find(t, app, clientVerif), find(t, app, userVerified)
	request := func(status records.RequestStatus, mode records.Mode, of, about ref) *records.Request {
		r, err := records.NewRequest(app, find(t, app, of), find(t, app, about))
		if err != nil {
			t.Fatal(err)
		}
		r.SetStatus(status)
		r.SetMode(mode)
		r.SetMinutes(30)
		return r
	}
	scenarios := []struct {
		name       string
		edit       func(*records.Policy)
		approval   *records.Request
		breakGlass bool
		mode       records.Mode
		wantCode   policy.Code
		wantErr    error
	}{
		{name: "approved", approval: request(records.RequestApproved, records.ModeWrite, clientVerif, userVerified), mode: records.ModeWrite},
		{name: "used by its session", approval: request(records.RequestUsed, records.ModeRead, clientVerif, userVerified), mode: records.ModeRead},
		{
			name: "approved for reading, asked to write", approval: request(records.RequestApproved, records.ModeRead, clientVerif, userVerified),
			mode: records.ModeWrite, wantCode: policy.CodeModeNotAllowed, wantErr: policy.ErrModeNotAllowed,
		},
		{
			name: "pending", approval: request(records.RequestPending, records.ModeRead, clientVerif, userVerified),
			mode: records.ModeRead, wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name: "withdrawn", approval: request(records.RequestWithdrawn, records.ModeRead, clientVerif, userVerified),
			mode: records.ModeRead, wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name: "another actor's approval", approval: request(records.RequestApproved, records.ModeRead, superuser, userVerified),
			mode: records.ModeRead, wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{
			name: "an approval about another user", approval: request(records.RequestApproved, records.ModeRead, clientVerif, userVerified2),
			mode: records.ModeRead, wantCode: policy.CodeConsentRequired, wantErr: policy.ErrConsentRequired,
		},
		{name: "break-glass, off by default", breakGlass: true, mode: records.ModeRead, wantCode: policy.CodeBreakGlassOff, wantErr: policy.ErrBreakGlassOff},
		{name: "break-glass allowed", edit: func(p *records.Policy) { p.SetBreakGlass(true) }, breakGlass: true, mode: records.ModeRead},
		{
			name: "break-glass write, not in breakGlassModes", edit: func(p *records.Policy) { p.SetBreakGlass(true) },
			breakGlass: true, mode: records.ModeWrite, wantCode: policy.CodeModeNotAllowed, wantErr: policy.ErrModeNotAllowed,
		},
		{
			name: "break-glass write, listed", breakGlass: true, mode: records.ModeWrite,
			edit: func(p *records.Policy) {
				p.SetBreakGlass(true)
				p.SetBreakGlassModes([]records.Mode{records.ModeRead, records.ModeWrite})
			},
		},
		{
			name: "break-glass keeps the rule", breakGlass: true, mode: records.ModeRead,
			edit: func(p *records.Policy) {
				p.SetBreakGlass(true)
				p.SetImpersonatorRule("")
			},
			wantCode: policy.CodeRuleFailed, wantErr: policy.ErrNotAllowed,
		},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			err := policy.Check(app, policy.Request{
				Policy: newPolicy(t, app, verifiedClientsRule, s.edit), Actor: actor, Target: target,
				Approval: s.approval, BreakGlass: s.breakGlass, Mode: s.mode, Now: now,
			})
			assertDecision(t, err, s.wantCode, s.wantErr)
		})
	}
}

// TestApproverRuleMatches: the approverRule as the impersonatorRule is
// evaluated, with the approver as @request.auth and the user's record.
func TestApproverRuleMatches(t *testing.T) {
	app := newTestApp(t)
	user := find(t, app, userVerified)
	scenarios := []struct {
		name     string
		rule     string
		approver ref
		want     bool
	}{
		{"superuser, empty rule", "", superuser, true},
		{"anyone else, empty rule", "", clientVerif, false},
		{"the rule matches", `@request.auth.collectionName = "clients" && @request.auth.verified = true && verified = true`, clientVerif, true},
		{"the rule does not match", `@request.auth.collectionName = "clients" && @request.auth.verified = true`, clientUnverif, false},
		{"the user is never their own approver", `@request.auth.id != ""`, userVerified, false},
		{"a rule that does not compile", `nosuchfield = 1`, clientVerif, false},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			p := newPolicy(t, app, verifiedClientsRule, func(p *records.Policy) { p.SetApproverRule(s.rule) })
			got, err := policy.ApproverRuleMatches(app, p, find(t, app, s.approver), user)
			if err != nil || got != s.want {
				t.Errorf("ApproverRuleMatches = %v, %v; want %v", got, err, s.want)
			}
		})
	}
}
