// Package plugin lets the staff of a PocketBase app act as one of its users,
// with the user's consent, under a policy, and with a record of everything
// done.
//
// A support person (a superuser, or a user whom the policy's rule allows)
// starts a session with POST /api/impersonation/sessions and receives a
// short-lived PocketBase auth token of the user. The token works with every
// PocketBase API and SDK like the user's own, but it names the real actor in
// an RFC 8693 "act" claim and its session in "sid", it is never extended
// (auth-refresh answers it with the same token and expiry),
// and it dies the moment its session ends, expires, or the user withdraws
// consent: a request guard checks every request made with it against the
// same policy decision that allowed the start, limits what the session may
// do (read-only by default, account takeover never), and writes a durable,
// redacted audit entry of the request before its response is delivered.
//
// The plugin adds six collections (impersonation_policies, _consents,
// _sessions, _audit, _settings and _sinks), the /api/impersonation routes, and hooks that keep
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
// start and observe an end. The JS hooks of pb_hooks files get the same,
// and FromRequest, through package plugin/pbhooks.
//
// The audit leaves the box through sinks, records of impersonation_sinks
// that superusers add in the dashboard: each gets every audit entry, in
// order, at least once (a webhook of NDJSON batches, or a file), with the
// chain's head signed every minute (GET /api/impersonation/audit/checkpoint);
// "impersonation audit verify --witness FILE" checks what a sink received
// against the chain. See the README's Audit sinks.
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
	"os"
	"path/filepath"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pbimpersonation/impersonation/hooks"
	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/checkpoints"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/redact"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/internal/settings"
	"github.com/pbimpersonation/impersonation/migrations"
)

// AuditKeyFile is the file in the data directory that holds the generated
// AuditKey.
const AuditKeyFile = "impersonation_audit.key"

// ErrAuditKeyMissing is why the plugin refuses to start when the audit
// holds entries but AuditKeyFile is missing (a restore onto a new machine,
// the key left behind) and Config.AcceptNewAuditKey is not set.
var ErrAuditKeyMissing = errors.New("impersonation: the audit holds entries but its key is missing")

// SessionHeader is the request header the guard sets to the session id on
// every impersonated request, and strips from every other request, so an
// API rule can say "not while impersonating":
//
//	@request.headers.x_impersonation_session = ""
const SessionHeader = "X-Impersonation-Session"

// PagesCSP is the Content-Security-Policy the plugin's pages are served
// with; an app may give its product pages the same. It allows scripts,
// styles, fonts and API calls from the app's own origin only (no inline
// script, no eval), inline styles, images also from data: and blob: URLs,
// and no framing.
const PagesCSP = hooks.PagesCSP

// Plugin is a registered instance of the impersonation plugin.
type Plugin struct {
	app     core.App
	config  Config
	audit   *audit.Log
	onStart *hook.Hook[*StartEvent]
	onEnd   *hook.Hook[*EndEvent]
}

// OnSessionStart is triggered before a session starts, once its input is
// valid and before the policy decision. A handler may change the start
// (Mode, Reason, Minutes, and Data added to the session.started entry), or
// refuse it by returning an error without calling e.Next(): a
// *router.ApiError (e.Request.ForbiddenError(...)) is answered as it is,
// any other error as a 403. Either way the refusal is audited.
//
//	imp.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error {
//		if e.Mode == plugin.ModeWrite && !isOnCall(e.Actor) {
//			return e.Request.ForbiddenError("Only the on-call engineer may write.", nil)
//		}
//		e.Data = map[string]any{"ticket": ticketOf(e.Reason)}
//		return e.Next()
//	})
func (p *Plugin) OnSessionStart() *hook.Hook[*StartEvent] { return p.onStart }

// OnSessionEnd is triggered after a session has ended, whatever ended it
// (e.Session.EndCause says why).
func (p *Plugin) OnSessionEnd() *hook.Hook[*EndEvent] { return p.onEnd }

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
	p := &Plugin{app: app, config: config, onStart: &hook.Hook[*StartEvent]{}, onEnd: &hook.Hook[*EndEvent]{}}
	if err := p.config.fillDefaults(); err != nil {
		return nil, err
	}
	key, err := p.auditKey()
	if err != nil {
		return nil, err
	}
	p.audit = audit.New(app, p.config.Clock, key, p.config.AuditPreviousKeys...)
	coreHooks := sessions.NewHooks()
	p.bridge(coreHooks)
	c := p.config
	err = hooks.Bind(app, hooks.Options{
		ReasonMinLength: c.ReasonMinLength, ReasonMaxLength: c.ReasonMaxLength,
		DefaultAttemptsPerMinute: c.DefaultAttemptsPerMinute,
		Settings:                 c.settings(),
		KeyFile:                  AuditKeyFile,
		Clock:                    c.Clock,
		Audit:                    p.audit,
		Redactor:                 redact.New(audit.RedactKey(key), c.RedactKeys),
		Hooks:                    coreHooks,
		Checkpoints:              checkpoints.NewSigner(app.DataDir(), c.Clock),
	})
	if err != nil {
		return nil, err
	}
	root := p.config.RootCmd
	if pb, ok := app.(*pocketbase.PocketBase); ok && root == nil {
		root = pb.RootCmd
	}
	if root != nil {
		hooks.AttachCommand(app, p.audit, root)
	}
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Id:       ids.EnsureSchemaId,
		Priority: -99,
		Func: func(e *core.ServeEvent) error {
			if err := migrations.Ensure(e.App); err != nil {
				return err
			}
			return e.Next()
		},
	})
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{Id: ids.AuditKeyCheckId, Func: p.checkKey})
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Id: ids.SeedPoliciesId,
		Func: func(e *core.ServeEvent) error {
			if err := seedPolicies(e.App, p.config.Policies, p.config.StrictPolicies); err != nil {
				return err
			}
			return e.Next()
		},
	})
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Id: ids.SeedSettingsId,
		Func: func(e *core.ServeEvent) error {
			if _, err := settings.Seed(e.App, p.config.settings()); err != nil {
				return fmt.Errorf("impersonation: write Config's settings to the settings record: %w", err)
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
		Id: ids.AuditKeyCheckId,
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
	ok, err := p.audit.KeyMatches()
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

// seedPolicies writes each policy whose collection has no policy record
// yet. The policies have their defaults filled. A policy that does not
// validate (an unknown collection, a rule that does not compile against
// it) is logged with what to fix, and skipped, unless strict: then its
// error stops the start.
func seedPolicies(app core.App, policies []Policy, strict bool) error {
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
		pol.SetConsent(records.ConsentRule(seed.Consent))
		pol.SetReasonRequired(!seed.ReasonOptional)
		pol.SetMaxMinutes(seed.MaxMinutes)
		pol.SetModes(recordModes(seed.Modes))
		pol.SetBreakGlassModes(recordModes(seed.BreakGlassModes))
		pol.SetRequestHours(seed.RequestHours)
		pol.SetApproval(records.Approval(seed.Approval))
		pol.SetApproverRule(seed.ApproverRule)
		pol.SetBreakGlass(seed.BreakGlass)
		pol.SetBreakGlassMinutes(seed.BreakGlassMinutes)
		pol.SetOversightEmail(seed.OversightEmail)
		pol.SetAttemptsPerMinute(seed.AttemptsPerMinute)
		pol.SetConsentMaxHours(seed.ConsentMaxHours)
		pol.SetShowLiveSessions(!seed.HideLiveSessions)
		pol.SetNotifyTarget(!seed.NoStartEmail)
		pol.SetDigestEmail(!seed.NoDigestEmail)
		pol.SetMaskedFields(seed.MaskedFields)
		err = app.Save(pol)
		var invalid validation.Errors
		switch {
		case err == nil:
		case errors.As(err, &invalid) && !strict:
			app.Logger().Error(unseedable(seed.Collection, err).Error())
		case errors.As(err, &invalid):
			return unseedable(seed.Collection, err)
		default:
			return fmt.Errorf("impersonation: seed the policy of %q: %w", seed.Collection, err)
		}
	}
	return nil
}

// recordModes converts modes to the records' type.
func recordModes(modes []Mode) []records.Mode {
	out := make([]records.Mode, len(modes))
	for i, m := range modes {
		out[i] = records.Mode(m)
	}
	return out
}

// unseedable is the error of a policy of Config.Policies that does not
// validate, with what to do about it.
func unseedable(collection string, err error) error {
	return fmt.Errorf("impersonation: the policy of %q in Config.Policies cannot be written (%w); until it is, "+
		"only the policy records a superuser adds in the dashboard (Impersonation → Policies) let anyone impersonate "+
		"these records. Fix it in Config.Policies and restart: Collection must name an auth collection other than "+
		"_superusers, ImpersonatorRule and ApproverRule must compile against it (each plain field name is the target's, and must "+
		"be one of its fields), and MaskedFields must name existing collections and their fields",
		collection, err)
}
