package plugin

import (
	"fmt"
	"time"

	"github.com/pocketbase/ozzo-validation/v4/is"
	"github.com/spf13/cobra"

	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/redact"
	"github.com/pbimpersonation/impersonation/internal/settings"
)

// Config defines the options of the impersonation plugin.
type Config struct {
	// Policies are written to impersonation_policies when the server
	// starts, one per collection, unless that collection already has a
	// policy record: after the first start the dashboard owns them.
	// Zero: no policy is written, and no one may impersonate anyone until a
	// superuser adds one in the dashboard.
	Policies []Policy

	// StrictPolicies makes the server refuse to start when a policy of
	// Policies cannot be written (an unknown collection, a rule that does
	// not compile against it). False: the error is logged, with what to
	// fix, and the app starts without that policy.
	StrictPolicies bool

	// ReasonMinLength is the shortest reason accepted where a policy
	// requires one. Zero means 3.
	ReasonMinLength int

	// ReasonMaxLength is the longest reason accepted (at most 1000). Zero
	// means 500.
	ReasonMaxLength int

	// DefaultAttemptsPerMinute limits the start attempts of an actor that
	// name a collection with no policy. Zero means 5.
	DefaultAttemptsPerMinute int

	// RedactKeys are the key names whose values the audit of impersonated
	// requests never keeps (a keyed hash of a long value, a marker for a
	// guessable one), matched case-insensitively as
	// parts of a key's name ("token" matches "accessToken"). Nil means the
	// built-in list (password, token, secret, otp and the like: see the
	// README); a list given replaces it. The settings' extra keys
	// (dashboard) are redacted besides these, never instead of them.
	RedactKeys []string

	// AuditKey is the secret that keys the audit chain and the hashes of
	// redacted values. Nil means the key in the file AuditKeyFile of the
	// app's data directory, out of reach of the API, of anyone who has only
	// the database, and of PocketBase's backups: a random one is made on
	// the first start, while the audit is empty. Back it up apart from the
	// data (see the README).
	AuditKey []byte

	// AuditPreviousKeys are audit keys used before AuditKey (or the key
	// file): they write nothing, but the entries written under them still
	// verify. To rotate the key, make the new one the AuditKey (or the key
	// file) and list the old one here; the first entry under the new key
	// says so (an audit.format entry). Nil means none.
	AuditPreviousKeys [][]byte

	// AcceptNewAuditKey lets the app start when the audit holds entries but
	// AuditKeyFile is missing, by making a new key: the entries written
	// under the lost key can then never be verified again. False means such
	// a start is refused with ErrAuditKeyMissing, so that the key is
	// restored from where it was backed up rather than silently replaced.
	AcceptNewAuditKey bool

	// The settings below (RevokeURL, ProductURL, AlertEmail,
	// AlertAfterRefusals, AuditRetention) and the extra redaction keys are
	// written to the impersonation_settings record when the server first
	// starts: after that the dashboard owns them (Impersonation → Settings),
	// where a superuser changes them without a restart, and the record's
	// values are in force, not these. Every change is audited
	// (settings.updated), and one that weakens the evidence (a shorter
	// retention, another or no alert address, a higher threshold, fewer
	// extra redaction keys) is also alerted. With the record deleted, these
	// values are in force again (and written again at the next start).

	// RevokeURL is the page, linked from the email a user gets when a
	// session on them starts, where they withdraw consent: a path of the
	// app (made absolute with the app URL) or an http(s) URL. Empty means
	// the app URL (Settings → Application URL) + "/impersonation/".
	RevokeURL string

	// ProductURL is the product page a new impersonation tab opens, logged
	// in as the user (the dashboard and the support console get it from
	// GET /api/impersonation/policies). It is a path of the app, or a URL
	// of a page on the app's origin: the tab keeps the token in its
	// sessionStorage, which other origins cannot read. Empty means "/".
	ProductURL string

	// AlertEmail gets an email when one actor's session starts are refused
	// AlertAfterRefusals times within ten minutes, once when the audit
	// chain is found not to reach its anchored head (committed entries
	// were deleted), and when a change of the settings weakens the
	// evidence. Empty means no email (the loss is still logged).
	AlertEmail string

	// AlertAfterRefusals is how many refusals alert. Zero means 5.
	AlertAfterRefusals int

	// AuditRetention is how long audit entries are kept, in whole hours
	// (rounded up): every hour, older ones are pruned and a checkpoint
	// entry keeps the rest verifiable. Zero means they are kept for ever.
	AuditRetention time.Duration

	// RootCmd is the command the plugin's "impersonation" command (audit
	// verify, export and acknowledge) is added to, as migratecmd and
	// ghupdate are given theirs: an app that wraps PocketBase passes its
	// root command here. Nil means the RootCmd of app when app is a
	// *pocketbase.PocketBase, and no command otherwise.
	RootCmd *cobra.Command

	// Clock is the time of everything the plugin times itself: sessions'
	// starts, expiries and ends, consents, the audit entries' created,
	// request durations, pruning, the refusal window, and the timers that
	// end realtime clients' sessions; tests set it to control time.
	// PocketBase's own clocks stay its own: it checks a token's exp (minted
	// from the session's expiry on Clock) on the real clock, sets the
	// autodate fields of the plugin's records, and runs cron on real
	// minutes. Nil means the system clock.
	Clock Clock
}

// Clock is a time source: Now tells the time, and AfterFunc calls f in its
// own goroutine once d has passed, unless the stop function it returns is
// called first.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Policy is the first policy of one auth collection. Each field's zero value
// is the strict choice.
type Policy struct {
	// Collection is the name of the auth collection (required; not _superusers).
	Collection string

	// ImpersonatorRule is a PocketBase filter the actor must satisfy:
	// @request.auth is the actor, and plain field names are the target's
	// (e.g. `@request.auth.role = "support" && role != "admin"`).
	// Superusers always satisfy it. Empty means superusers only.
	ImpersonatorRule string

	// Disabled turns impersonation off for the collection. Zero: enabled.
	Disabled bool

	// Consent says whether the target must have consented. Zero means
	// ConsentRequired.
	Consent Consent

	// ReasonOptional lets a session start with no reason. Zero: a reason
	// is required.
	ReasonOptional bool

	// MaxMinutes is the longest session. Zero means 60.
	MaxMinutes int

	// Modes are the session modes allowed. Nil means both read and write
	// (read is the default mode of a start that asks for none).
	Modes []Mode

	// AttemptsPerMinute limits the start attempts of one actor. Zero means 5.
	AttemptsPerMinute int

	// ConsentMaxHours is the longest consent a user may grant. Zero means 168.
	ConsentMaxHours int

	// NoStartEmail stops emailing users when a session on them starts.
	// Zero: they are emailed.
	NoStartEmail bool

	// NoDigestEmail stops emailing users the digest of a session on them
	// once it has ended (their page, /impersonation/, always shows it).
	// Zero: they are emailed.
	NoDigestEmail bool

	// HideLiveSessions stops telling users, through
	// /api/impersonation/current, while a session on them is live. Zero:
	// they are told.
	HideLiveSessions bool

	// MaskedFields are the fields hidden while impersonating under the
	// policy, by collection name: {"payments": {"cardNumber", "iban"},
	// "users": {"phone"}}. A masked field is left out of every record
	// served while impersonating, and cannot be written, nor read through
	// a filter, sort, expand or API rule (see the README's Masked fields).
	// Each collection and field must exist, by its exact name. Nil: nothing
	// is masked.
	MaskedFields map[string][]string

	// RequestHours is how long a request for access (POST
	// /api/impersonation/requests) waits for its answer. Zero means 24.
	RequestHours int

	// Approval says whose answer approves a request for access. Zero means
	// ApprovalUser.
	Approval Approval

	// ApproverRule is a PocketBase filter an approver must satisfy, as
	// ImpersonatorRule: @request.auth is the approver, plain field names
	// are the user's (e.g. `@request.auth.role = "owner" && @request.auth.org = org`).
	// Superusers always satisfy it. Empty means superusers only.
	ApproverRule string

	// BreakGlass lets staff start a session without consent in an
	// emergency ("breakGlass": true and a reason of 20 characters); the
	// user and OversightEmail are told at once. Zero: off.
	BreakGlass bool

	// BreakGlassModes are the modes a break-glass session may run in. Nil
	// means read only.
	BreakGlassModes []Mode

	// BreakGlassMinutes is the longest break-glass session. Zero means 15.
	BreakGlassMinutes int

	// OversightEmail is emailed when a break-glass session starts. Empty
	// means no one but the user.
	OversightEmail string
}

// Approval is whose answer approves a request for access: ApprovalUser,
// ApprovalApprover or ApprovalBoth.
type Approval string

// The approvals of a policy.
const (
	// ApprovalUser: the user's answer.
	ApprovalUser Approval = "user"
	// ApprovalApprover: an approver's (ApproverRule); the user may decline.
	ApprovalApprover Approval = "approver"
	// ApprovalBoth: the user's and an approver's, two people.
	ApprovalBoth Approval = "both"
)

// Mode is what a session may do: ModeRead or ModeWrite.
type Mode string

// The session modes.
const (
	// ModeRead allows reads only, and the routes the policy's
	// allowedRoutes list.
	ModeRead Mode = "read"
	// ModeWrite allows what the user may do, except what the policy's
	// deniedRoutes lists and account takeover (password, email, auth
	// methods), which no session may do.
	ModeWrite Mode = "write"
)

// Consent is whether a policy asks for the target's consent:
// ConsentRequired or ConsentNone.
type Consent string

// The consent rules of a policy.
const (
	// ConsentRequired: a session starts only on a user whose consent is
	// live (granted on /impersonation/, not yet expired or withdrawn).
	ConsentRequired Consent = "required"
	// ConsentNone: no consent is asked for.
	ConsentNone Consent = "none"
)

// fillDefaults fills the zero values of c that mean a default, and checks
// the rest.
func (c *Config) fillDefaults() error {
	if c.Clock == nil {
		c.Clock = clock.System
	}
	if c.ProductURL == "" {
		c.ProductURL = "/"
	}
	if !settings.ValidURL(c.ProductURL) {
		return fmt.Errorf("impersonation: ProductURL %q: want a path (\"/app/\") or an http(s) URL", c.ProductURL)
	}
	if c.RevokeURL != "" && !settings.ValidURL(c.RevokeURL) {
		return fmt.Errorf("impersonation: RevokeURL %q: want a path (\"/account/\") or an http(s) URL", c.RevokeURL)
	}
	if c.AlertEmail != "" && is.EmailFormat.Validate(c.AlertEmail) != nil {
		return fmt.Errorf("impersonation: AlertEmail %q is not an email address", c.AlertEmail)
	}
	if c.AuditRetention < 0 || c.AlertAfterRefusals < 0 {
		return fmt.Errorf("impersonation: AuditRetention and AlertAfterRefusals cannot be negative")
	}
	if c.RedactKeys == nil {
		c.RedactKeys = redact.DefaultNames()
	}
	c.ReasonMinLength = orDefault(c.ReasonMinLength, 3)
	c.ReasonMaxLength = orDefault(c.ReasonMaxLength, 500)
	c.DefaultAttemptsPerMinute = orDefault(c.DefaultAttemptsPerMinute, 5)
	c.AlertAfterRefusals = orDefault(c.AlertAfterRefusals, 5)
	if c.ReasonMaxLength > 1000 || c.ReasonMinLength > c.ReasonMaxLength {
		return fmt.Errorf("impersonation: reason length bounds %d..%d: the maximum is 1000", c.ReasonMinLength, c.ReasonMaxLength)
	}
	for i := range c.Policies {
		pol := &c.Policies[i]
		if pol.Collection == "" {
			return fmt.Errorf("impersonation: policy %d names no collection", i)
		}
		if pol.Consent == "" {
			pol.Consent = ConsentRequired
		}
		if len(pol.Modes) == 0 {
			pol.Modes = []Mode{ModeRead, ModeWrite}
		}
		pol.MaxMinutes = orDefault(pol.MaxMinutes, 60)
		pol.AttemptsPerMinute = orDefault(pol.AttemptsPerMinute, 5)
		pol.ConsentMaxHours = orDefault(pol.ConsentMaxHours, 168)
		pol.RequestHours = orDefault(pol.RequestHours, 24)
		pol.BreakGlassMinutes = orDefault(pol.BreakGlassMinutes, 15)
		if pol.Approval == "" {
			pol.Approval = ApprovalUser
		}
		if len(pol.BreakGlassModes) == 0 {
			pol.BreakGlassModes = []Mode{ModeRead}
		}
		if pol.OversightEmail != "" && is.EmailFormat.Validate(pol.OversightEmail) != nil {
			return fmt.Errorf("impersonation: the OversightEmail %q of the policy of %q is not an email address", pol.OversightEmail, pol.Collection)
		}
	}
	return nil
}

// settings are the values of c written to the settings record on the first
// serve, and in force while there is none.
func (c *Config) settings() settings.Values {
	return settings.Values{
		AlertEmail: c.AlertEmail, AlertAfterRefusals: c.AlertAfterRefusals,
		AuditRetentionHours: settings.HoursOf(c.AuditRetention),
		RevokeURL:           c.RevokeURL, ProductURL: c.ProductURL,
	}
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
