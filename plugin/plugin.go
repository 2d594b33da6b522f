// Package plugin lets the staff of a PocketBase app act as one of its users,
// with the user's consent, under a policy, and with a record of everything
// done.
//
// A support person (a superuser, or a user whom the policy's rule allows)
// starts a session with POST /api/impersonation/sessions and receives a
// short-lived PocketBase auth token of the user. The token works with every
// PocketBase API and SDK like the user's own, but it names the real actor in
// an RFC 8693 "act" claim and its session in "sid", it cannot be refreshed,
// and it dies the moment its session ends, expires, or the user withdraws
// consent: a request guard checks every request made with it against the
// same policy decision that allowed the start, limits what the session may
// do (read-only by default, account takeover never), and writes a durable,
// redacted audit entry of the request before its response is delivered.
//
// The plugin adds four collections (impersonation_policies, _consents,
// _sessions and _audit), the /api/impersonation routes, and hooks that keep
// sessions, consents and audit entries out of reach of the records API and
// close PocketBase's own impersonate route for collections under a policy.
// It serves its pages, embedded in the binary, at /impersonation/ (the
// user's consent page, the support console, the hand-off page and the
// banner script a product page includes), and adds an Impersonation
// section to the dashboard (/_/).
//
// Example usage:
//
//	app := pocketbase.New()
//	plugin.MustRegister(app, plugin.Config{
//		Policies: []plugin.Policy{{
//			Collection:       "users",
//			ImpersonatorRule: `@request.auth.role = "support" && role != "admin"`,
//		}},
//	})
//	if err := app.Start(); err != nil {
//		log.Fatal(err)
//	}
//
// From any route or hook, FromRequest tells whether a request is made while
// impersonating, and by whom:
//
//	if imp := plugin.FromRequest(e); imp != nil {
//		return e.ForbiddenError("Payments cannot be made while impersonating.", nil)
//	}
//
// API rules can say the same with the SessionHeader the guard sets (and
// strips from every other request):
//
//	@request.headers.x_impersonation_session = ""
//
// OnSessionStart and OnSessionEnd of the registered Plugin veto or enrich a
// start and observe an end.
//
// The audit key (AuditKeyFile in the data directory, or Config.AuditKey)
// never travels with the data: PocketBase's backups leave it out, with the
// chain's anchor and the audit journal, and a restore keeps the current
// ones. Back it up apart from the data. An audit that holds entries is
// never given a new key silently: without its key the start is refused
// (ErrAuditKeyMissing).
package plugin

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/spf13/cobra"

	"github.com/pbimpersonation/impersonation/hooks"
	"github.com/pbimpersonation/impersonation/internal/attempts"
	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/redact"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/migrations"
	pbpublic "github.com/pbimpersonation/impersonation/pb_public"
)

// Config defines the options of the impersonation plugin.
type Config struct {
	// Policies are written to impersonation_policies when the server
	// starts, one per collection, unless that collection already has a
	// policy record: after the first start the dashboard owns them.
	// Zero: no policy is written, and no one may impersonate anyone until a
	// superuser adds one in the dashboard.
	Policies []Policy

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
	// guessable one: see package redact), matched case-insensitively as
	// parts of a key's name ("token" matches "accessToken"). Nil means
	// redact.DefaultNames().
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

	// RevokeURL is the page, linked from the email a user gets when a
	// session on them starts, where they withdraw consent. Empty means the
	// app URL (Settings → Application URL) + "/impersonation/".
	RevokeURL string

	// ProductURL is the product page a new impersonation tab opens, logged
	// in as the user (the dashboard and the support console get it from
	// GET /api/impersonation/policies). It is a path of the app, or a URL
	// of a page on the app's origin: the tab keeps the token in its
	// sessionStorage, which other origins cannot read. Empty means "/".
	ProductURL string

	// AlertEmail gets an email when one actor's session starts are refused
	// AlertAfterRefusals times within ten minutes, and once when the audit
	// chain is found not to reach its anchored head (committed entries
	// were deleted). Empty means no email (the loss is still logged).
	AlertEmail string

	// AlertAfterRefusals is how many refusals alert. Zero means 5.
	AlertAfterRefusals int

	// AuditRetention is how long audit entries are kept: every hour, older
	// ones are pruned and a checkpoint entry keeps the rest verifiable.
	// Zero means they are kept for ever.
	AuditRetention time.Duration

	// RootCmd is the command the plugin's "impersonation" command (audit
	// verify, export and acknowledge) is added to, as migratecmd and
	// ghupdate are given theirs: an app that wraps PocketBase passes its
	// root command here. Nil means the RootCmd of app when app is a
	// *pocketbase.PocketBase, and no command otherwise.
	RootCmd *cobra.Command

	// Clock is the time of everything the plugin times itself (sessions,
	// consents, pruning, the refusal window, the timers that end realtime
	// clients' sessions); tests set it to control time. Nil means the
	// system clock.
	Clock Clock
}

// Clock is a time source: Now tells the time, and AfterFunc calls f in its
// own goroutine once d has passed, unless the stop function it returns is
// called first.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// AuditKeyFile is the file in the data directory that holds the generated
// AuditKey.
const AuditKeyFile = "impersonation_audit.key"

// ErrAuditKeyMissing is why the plugin refuses to start when the audit
// holds entries but AuditKeyFile is missing (a restore onto a new machine,
// the key left behind) and Config.AcceptNewAuditKey is not set.
var ErrAuditKeyMissing = errors.New("impersonation: the audit holds entries but its key is missing")

// AuditKeyCheckId is the id of the OnBootstrap handler that makes the
// audit key of a fresh install, or refuses to start without a lost one,
// and of the OnServe handler that logs an error when the chain was not
// written with the key.
const AuditKeyCheckId = "impersonationAuditKeyCheck"

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
	// records.ConsentRequired.
	Consent records.ConsentRule

	// ReasonOptional lets a session start with no reason. Zero: a reason
	// is required.
	ReasonOptional bool

	// MaxMinutes is the longest session. Zero means 60.
	MaxMinutes int

	// Modes are the session modes allowed. Nil means both read and write
	// (read is the default mode of a start that asks for none).
	Modes []records.Mode

	// AttemptsPerMinute limits the start attempts of one actor. Zero means 5.
	AttemptsPerMinute int

	// ConsentMaxHours is the longest consent a user may grant. Zero means 168.
	ConsentMaxHours int

	// NoStartEmail stops emailing users when a session on them starts.
	// Zero: they are emailed.
	NoStartEmail bool

	// HideLiveSessions stops telling users, through
	// /api/impersonation/current, while a session on them is live. Zero:
	// they are told.
	HideLiveSessions bool
}

// Impersonation is the impersonation a request is made under: its live
// session (actor, target, mode, expiry) and the actor's record.
type Impersonation = sessions.Current

// FromRequest returns the impersonation e is made under, or nil when e does
// not carry a valid impersonation token.
func FromRequest(e *core.RequestEvent) *Impersonation { return sessions.FromRequest(e) }

// SessionHeader is the request header the guard sets to the session id on
// every impersonated request, and strips from every other request.
const SessionHeader = hooks.SessionHeader

// PagesCSP is the Content-Security-Policy the plugin's pages are served
// with; an app may give its product pages the same.
const PagesCSP = hooks.PagesCSP

// SeedPoliciesId is the id of the OnServe handler that writes Config.Policies.
const SeedPoliciesId = "impersonationSeedPolicies"

// EnsureSchemaId is the id of the OnServe handler, run before the plugin's
// others, that gives the plugin's collections back the rules, fields and
// indexes of its current schema after every migration has run: an app
// snapshot taken before a plugin upgrade may have set them back. What the
// plugin owns of its collections, and what an app may add, is in the doc
// of package migrations.
const EnsureSchemaId = "impersonationEnsureSchema"

// Plugin is a registered instance of the impersonation plugin.
type Plugin struct {
	app    core.App
	config Config
	hooks  sessions.Hooks
}

// StartEvent is the event of OnSessionStart.
type StartEvent = sessions.StartEvent

// EndEvent is the event of OnSessionEnd.
type EndEvent = sessions.EndEvent

// OnSessionStart is triggered before a session starts, once its input is
// valid and before the policy decision. A handler may change e.Start
// (Reason, Minutes, Mode, and Data added to the session.started entry), or
// refuse the start by returning an error without calling e.Next():
//
//	imp.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error {
//		if e.Start.Mode == records.ModeWrite && !isOnCall(e.Start.Actor) {
//			return e.Request.ForbiddenError("Only the on-call engineer may write.", nil)
//		}
//		e.Start.Data = map[string]any{"ticket": ticketOf(e.Start.Reason)}
//		return e.Next()
//	})
func (p *Plugin) OnSessionStart() *hook.Hook[*StartEvent] { return p.hooks.Start }

// OnSessionEnd is triggered after a session has ended, whatever ended it
// (e.Session.EndCause() says why).
func (p *Plugin) OnSessionEnd() *hook.Hook[*EndEvent] { return p.hooks.End }

// MustRegister registers the impersonation plugin on app and panics on error.
func MustRegister(app core.App, config Config) *Plugin {
	p, err := Register(app, config)
	if err != nil {
		panic(err)
	}
	return p
}

// Register fills the defaults of config and binds the plugin's routes,
// middleware, hooks and jobs to app. The plugin's migrations are registered
// by importing this package, as PocketBase system migrations: they run on
// bootstrap, before any migration of the app (see package migrations).
func Register(app core.App, config Config) (*Plugin, error) {
	p := &Plugin{app: app, config: config, hooks: sessions.NewHooks()}
	if err := p.fillDefaults(); err != nil {
		return nil, err
	}
	key, err := p.auditKey()
	if err != nil {
		return nil, err
	}
	audit.SetKeys(app, key, p.config.AuditPreviousKeys...)

	pages, err := fs.Sub(pbpublic.Impersonation, "impersonation")
	if err != nil {
		return nil, fmt.Errorf("impersonation: embedded pages: %w", err)
	}
	dashboard, err := fs.Sub(pbpublic.Dashboard, "dashboard")
	if err != nil {
		return nil, fmt.Errorf("impersonation: embedded dashboard extension: %w", err)
	}
	err = hooks.Bind(app, hooks.Options{
		Clock:                    p.config.Clock,
		Attempts:                 attempts.New(time.Minute),
		Throttle:                 attempts.NewThrottle(time.Minute),
		ConsentChanges:           attempts.New(time.Minute),
		DefaultAttemptsPerMinute: p.config.DefaultAttemptsPerMinute,
		ReasonMinLength:          p.config.ReasonMinLength,
		ReasonMaxLength:          p.config.ReasonMaxLength,
		Writer:                   audit.NewWriter(app),
		Redactor:                 redact.New(audit.RedactKey(key), p.config.RedactKeys),
		Hooks:                    p.hooks,
		Cache:                    sessions.NewCache(app),
		AuditRetention:           p.config.AuditRetention,
		RevokeURL:                p.config.RevokeURL,
		AlertEmail:               p.config.AlertEmail,
		AlertAfterRefusals:       p.config.AlertAfterRefusals,
		ProductURL:               p.config.ProductURL,
		Pages:                    pages,
		Dashboard:                dashboard,
		KeyFile:                  AuditKeyFile,
	})
	if err != nil {
		return nil, err
	}
	root := p.config.RootCmd
	if pb, ok := app.(*pocketbase.PocketBase); ok && root == nil {
		root = pb.RootCmd
	}
	if root != nil {
		hooks.AttachCommand(app, root)
	}
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Id:       EnsureSchemaId,
		Priority: -99,
		Func: func(e *core.ServeEvent) error {
			if err := migrations.Ensure(e.App); err != nil {
				return err
			}
			return e.Next()
		},
	})
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{Id: AuditKeyCheckId, Func: p.checkKey})
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Id: SeedPoliciesId,
		Func: func(e *core.ServeEvent) error {
			if err := seedPolicies(e.App, p.config.Policies); err != nil {
				return err
			}
			return e.Next()
		},
	})
	return p, nil
}

// auditKey returns the configured key, or the key of AuditKeyFile. Without
// either it returns a new random key, which the file gets once the app is
// bootstrapped and its audit found empty (storeNewKey): a key is never made
// for an audit that holds entries, unless the config accepts it.
func (p *Plugin) auditKey() ([]byte, error) {
	if len(p.config.AuditKey) > 0 {
		return p.config.AuditKey, nil
	}
	path := filepath.Join(p.app.DataDir(), AuditKeyFile)
	stored, err := os.ReadFile(path)
	switch {
	case err == nil && len(stored) >= 32:
		return stored, nil
	case err == nil:
		return nil, fmt.Errorf("impersonation: the audit key file %s holds %d bytes, not a key of 32 or more: restore it from where it was backed up", path, len(stored))
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("impersonation: read the audit key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("impersonation: make the audit key: %w", err)
	}
	if p.app.IsBootstrapped() {
		return key, p.storeNewKey(key)
	}
	p.app.OnBootstrap().Bind(&hook.Handler[*core.BootstrapEvent]{
		Id: AuditKeyCheckId,
		Func: func(e *core.BootstrapEvent) error {
			if err := e.Next(); err != nil {
				return err
			}
			return p.storeNewKey(key)
		},
	})
	return key, nil
}

// storeNewKey writes key, new, to AuditKeyFile, once the database is open:
// if the audit already holds entries, their key was lost, and the start is
// refused with ErrAuditKeyMissing unless the config accepts a new key.
func (p *Plugin) storeNewKey(key []byte) error {
	path := filepath.Join(p.app.DataDir(), AuditKeyFile)
	if stored, err := os.ReadFile(path); err == nil {
		if bytes.Equal(stored, key) {
			return nil // stored by an earlier bootstrap of this process
		}
		return fmt.Errorf("impersonation: another process made the audit key %s while this one started: start again", path)
	}
	entries, err := audit.Count(p.app)
	if err != nil {
		return err
	}
	if entries > 0 {
		if !p.config.AcceptNewAuditKey {
			err := fmt.Errorf("%w: the audit in %s holds %d entries but there is no %s and no Config.AuditKey. "+
				"Restore %s from where it was backed up (PocketBase's backups never hold it); "+
				"only if it is lost for good, start once with Config.AcceptNewAuditKey set "+
				"(IMPERSONATION_ACCEPT_NEW_AUDIT_KEY=1 for the ready app), "+
				"knowing that the entries written under the lost key can then never be verified",
				ErrAuditKeyMissing, p.app.DataDir(), entries, AuditKeyFile, path)
			p.app.Logger().Error(err.Error())
			return err
		}
		p.app.Logger().Error("impersonation: the audit key was missing: a new one is made, as Config.AcceptNewAuditKey allows; the entries written under the lost key can no longer be verified",
			"entries", entries, "file", path)
	}
	if err := os.MkdirAll(p.app.DataDir(), 0o755); err != nil {
		return fmt.Errorf("impersonation: make the data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("impersonation: store the audit key (another process made one first? start again): %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return fmt.Errorf("impersonation: store the audit key: %w", err)
	}
	return f.Close()
}

// checkKey logs, at error level, that the audit chain was not written with
// the key the plugin has: every entry from the first then fails verify,
// which names the cause (audit.CauseKeyMismatch).
func (p *Plugin) checkKey(e *core.ServeEvent) error {
	ok, err := audit.KeyMatches(e.App)
	switch {
	case err != nil:
		e.App.Logger().Error("impersonation: check the audit key against the audit chain", "error", err)
	case !ok:
		msg := fmt.Sprintf("impersonation: the audit key does not match the audit chain (%s): its entries were written "+
			"under another key, and none of them verifies. Restore the key file %s (or Config.AuditKey) this data was written "+
			"with, from where it was backed up", audit.CauseKeyMismatch, AuditKeyFile)
		e.App.Logger().Error(msg)
		fmt.Fprintln(os.Stderr, msg)
	}
	return e.Next()
}

func (p *Plugin) fillDefaults() error {
	c := &p.config
	if c.Clock == nil {
		c.Clock = clock.System
	}
	if c.ProductURL == "" {
		c.ProductURL = "/"
	}
	if !validProductURL(c.ProductURL) {
		return fmt.Errorf("impersonation: ProductURL %q: want a path (\"/app/\") or an http(s) URL", c.ProductURL)
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
			pol.Consent = records.ConsentRequired
		}
		if len(pol.Modes) == 0 {
			pol.Modes = []records.Mode{records.ModeRead, records.ModeWrite}
		}
		pol.MaxMinutes = orDefault(pol.MaxMinutes, 60)
		pol.AttemptsPerMinute = orDefault(pol.AttemptsPerMinute, 5)
		pol.ConsentMaxHours = orDefault(pol.ConsentMaxHours, 168)
	}
	return nil
}

// validProductURL reports whether u is a path of the app ("/", "/app/",
// not "//host") or an absolute http(s) URL: never a script or data URL.
func validProductURL(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil {
		return false
	}
	if parsed.Scheme == "" {
		return parsed.Host == "" && strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.HasPrefix(u, "/\\")
	}
	return (parsed.Scheme == "http" || parsed.Scheme == "https") && parsed.Host != ""
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// seedPolicies writes each policy whose collection has no policy record
// yet. The policies have their defaults filled.
func seedPolicies(app core.App, policies []Policy) error {
	for _, seed := range policies {
		if _, err := records.FindPolicy(app, seed.Collection); err == nil {
			continue
		}
		pol, err := records.NewPolicy(app)
		if err != nil {
			return err
		}
		pol.SetCollection(seed.Collection)
		pol.SetEnabled(!seed.Disabled)
		pol.SetImpersonatorRule(seed.ImpersonatorRule)
		pol.SetConsent(seed.Consent)
		pol.SetReasonRequired(!seed.ReasonOptional)
		pol.SetMaxMinutes(seed.MaxMinutes)
		pol.SetModes(seed.Modes)
		pol.SetAttemptsPerMinute(seed.AttemptsPerMinute)
		pol.SetConsentMaxHours(seed.ConsentMaxHours)
		pol.SetShowLiveSessions(!seed.HideLiveSessions)
		pol.SetNotifyTarget(!seed.NoStartEmail)
		if err := app.Save(pol); err != nil {
			return fmt.Errorf("impersonation: seed the policy of %q: %w", seed.Collection, err)
		}
	}
	return nil
}
