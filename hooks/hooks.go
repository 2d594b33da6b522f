// Package hooks is what PocketBase calls on behalf of the impersonation
// plugin: the request guard middleware, the /api/impersonation routes, and
// the record, collection and auth hooks. Each stays thin and calls into the
// rules in internal/policy, internal/consent, internal/sessions and internal/audit.
//
// Every handler and job is bound with a fixed id (internal/ids lists
// them; each starts with "impersonation"), so an app can find, reorder or
// unbind it by that string.
package hooks

import (
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pbimpersonation/impersonation/internal/attempts"
	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/checkpoints"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/redact"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/internal/settings"
	"github.com/pbimpersonation/impersonation/internal/sinks"
	pbpublic "github.com/pbimpersonation/impersonation/pb_public"
)

// guardPriority runs the guard right after PocketBase has loaded e.Auth and
// before everything else, the rate limiter included.
const guardPriority = apis.DefaultLoadAuthTokenMiddlewarePriority + 1

// Options are what Bind needs: plugin.Config's settings, which it
// documents, with their defaults filled, and the parts the plugin makes
// once from the rest of Config.
type Options struct {
	ReasonMinLength, ReasonMaxLength int
	DefaultAttemptsPerMinute         int
	// Settings are the defaults of the settings record (Config's values):
	// in force while there is no record, and written to it on the first
	// serve (plugin.Register seeds it). The values in force are read at
	// use time from handlers.settings.
	Settings settings.Values
	// KeyFile is the name, in the data directory, of the audit key's
	// file, which backups leave out and restores keep.
	KeyFile string

	// Clock times everything the plugin times itself.
	Clock clock.Clock
	// Audit is the app's audit: every entry the plugin writes goes
	// through it, and the journal of impersonated requests is its Writer.
	Audit *audit.Log
	// Redactor copies request data for the audit, with Config's key
	// names; the one in force adds the settings' extra keys to it.
	Redactor *redact.Redactor
	// Hooks are the hook points that plugin.Plugin bridges to the app's
	// handlers.
	Hooks sessions.Hooks
	// Checkpoints signs the chain's head (every minute while it grows, and
	// at shutdown) for the sinks and GET checkpointPath.
	Checkpoints *checkpoints.Signer
}

// refusalWindow is the span in which AlertAfterRefusals refusals alert.
const refusalWindow = 10 * time.Minute

// handlers holds what the hooks, routes and jobs share.
type handlers struct {
	app  core.App
	opts Options
	// mails are the emails being sent in the background
	mails sync.WaitGroup
	// pages serves the plugin's pages at pagesPath
	pages *pages
	// dashboard is the dashboard extension
	dashboard fs.FS
	// cache holds the records the per-request check reads
	cache *sessions.Cache
	// settings are the settings in force (the record, or opts.Settings)
	settings *settings.Cache
	// attempts counts session start attempts per actor, consentChanges
	// the consent changes per user
	attempts, consentChanges *attempts.Limiter
	// refused gathers the start attempts refused over the limit into
	// runs, each written as one entry with its count
	refused *attempts.Throttle
	// expiries are the timers that end the sessions of realtime clients
	expiries expiryTimers
	// pending counts the requests of each session whose audit entry is not
	// yet journalled, which its digest waits for
	pending pendingEntries
	// digesting holds the ids of the sessions whose digest is being
	// waited for or built
	digesting sync.Map
	// serving is set once the app serves: from then on the plugin's
	// collections keep their shape (keepPluginShape); before, the app's
	// migrations and snapshots may apply theirs, which the serve's restore
	// of the plugin's schema then corrects
	serving atomic.Bool
	// restoring is set while a backup restore replaces the data directory
	// (until the restart), when the anchor must not be written
	restoring atomic.Bool
	// sinks deliver the audit to the impersonation_sinks
	sinks *sinks.Manager
}

// Bind binds every hook, route and job of the plugin to app.
func Bind(app core.App, opts Options) error {
	p := &handlers{
		app: app, opts: opts, expiries: expiryTimers{clock: opts.Clock},
		cache:    sessions.NewCache(app),
		settings: settings.NewCache(opts.Settings, opts.Redactor),
		attempts: attempts.New(time.Minute), consentChanges: attempts.New(time.Minute),
		refused: attempts.NewThrottle(time.Minute),
		sinks:   sinks.New(app, opts.Clock, opts.Checkpoints.LogPath()),
	}
	pages, err := fs.Sub(pbpublic.Impersonation, "impersonation")
	if err != nil {
		return fmt.Errorf("impersonation: embedded pages: %w", err)
	}
	if p.pages, err = newPages(pages); err != nil {
		return err
	}
	if p.dashboard, err = fs.Sub(pbpublic.Dashboard, "dashboard"); err != nil {
		return fmt.Errorf("impersonation: embedded dashboard extension: %w", err)
	}

	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{Id: ids.RoutesId, Func: p.bindRoutes})
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{Id: ids.DashboardExtensionId, Func: p.addDashboardExtension})

	// sessions, consents, requests and audit entries change only through the plugin
	changedByPluginOnly := []string{records.ConsentsCollection, records.SessionsCollection, records.AuditCollection, records.RequestsCollection}
	refuse := &hook.Handler[*core.RecordRequestEvent]{Id: ids.ProtectRecordsId, Func: refuseRecordChange}
	app.OnRecordCreateRequest(changedByPluginOnly...).Bind(refuse)
	app.OnRecordUpdateRequest(changedByPluginOnly...).Bind(refuse)
	app.OnRecordDeleteRequest(changedByPluginOnly...).Bind(refuse)
	app.OnCollectionDeleteRequest().Bind(&hook.Handler[*core.CollectionRequestEvent]{Id: ids.ProtectCollectionsId, Func: refuseCollectionDelete})
	app.OnCollectionUpdateRequest().Bind(&hook.Handler[*core.CollectionRequestEvent]{Id: ids.ProtectCollectionsId, Func: refuseCollectionUpdate})
	app.OnCollectionsImportRequest().Bind(&hook.Handler[*core.CollectionsImportRequestEvent]{Id: ids.ProtectCollectionsId, Func: refuseCollectionsImport})
	app.OnCollectionUpdateExecute().Bind(&hook.Handler[*core.CollectionEvent]{Id: ids.ProtectCollectionsId, Func: func(e *core.CollectionEvent) error {
		if err := p.keepPluginShape(e.App, e.Collection, e.Context, false); err != nil {
			return err
		}
		return e.Next()
	}})
	app.OnCollectionDeleteExecute().Bind(&hook.Handler[*core.CollectionEvent]{Id: ids.ProtectCollectionsId, Func: func(e *core.CollectionEvent) error {
		if err := p.keepPluginShape(e.App, e.Collection, e.Context, true); err != nil {
			return err
		}
		return e.Next()
	}})

	// what decides an impersonator's reach changes only with an audit entry
	app.OnRecordCreateExecute(records.PoliciesCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.AuditChangesId, Func: p.auditPolicyChange(audit.PolicyCreated)})
	app.OnRecordUpdateExecute(records.PoliciesCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.AuditChangesId, Func: p.auditPolicyChange(audit.PolicyUpdated)})
	app.OnRecordDeleteExecute(records.PoliciesCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.AuditChangesId, Func: p.auditPolicyChange(audit.PolicyDeleted)})
	app.OnCollectionCreateExecute().Bind(&hook.Handler[*core.CollectionEvent]{Id: ids.AuditChangesId, Func: p.collectionChanged})
	app.OnCollectionUpdateExecute().Bind(&hook.Handler[*core.CollectionEvent]{Id: ids.AuditChangesId, Func: p.collectionChanged})
	app.OnCollectionDeleteExecute().Bind(&hook.Handler[*core.CollectionEvent]{Id: ids.AuditChangesId, Func: p.auditCollectionDelete})

	app.OnRecordValidate(records.PoliciesCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.ValidatePolicyId, Func: validatePolicy})

	// the settings: one record, validated, every change audited in its
	// transaction, read again once committed, a weakening alerted
	app.OnRecordValidate(records.SettingsCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.ValidateSettingsId, Func: validateSettings})
	for event, bind := range map[string]func(...string) *hook.TaggedHook[*core.RecordEvent]{
		audit.SettingsCreated: app.OnRecordCreateExecute, audit.SettingsUpdated: app.OnRecordUpdateExecute, audit.SettingsDeleted: app.OnRecordDeleteExecute,
	} {
		bind(records.SettingsCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.AuditSettingsId, Func: p.auditSettingsChange(event)})
	}
	for event, bind := range map[string]func(...string) *hook.TaggedHook[*core.RecordEvent]{
		audit.SettingsCreated: app.OnRecordAfterCreateSuccess, audit.SettingsUpdated: app.OnRecordAfterUpdateSuccess, audit.SettingsDeleted: app.OnRecordAfterDeleteSuccess,
	} {
		bind(records.SettingsCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.SettingsChangedId, Func: p.settingsChanged(event)})
	}
	// the sinks: checked, their delivery state the plugin's alone, every
	// change audited in its transaction, their delivery restarted once
	// committed
	app.OnRecordValidate(records.SinksCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.ValidateSinkId, Func: validateSink})
	app.OnRecordCreateRequest(records.SinksCollection).Bind(&hook.Handler[*core.RecordRequestEvent]{Id: ids.ProtectSinkStateId, Func: refuseSinkState})
	app.OnRecordUpdateRequest(records.SinksCollection).Bind(&hook.Handler[*core.RecordRequestEvent]{Id: ids.ProtectSinkStateId, Func: refuseSinkState})
	app.OnRecordCreateExecute(records.SinksCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.AuditSinksId, Func: p.auditSinkChange(audit.SinkCreated)})
	app.OnRecordUpdateExecute(records.SinksCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.AuditSinksId, Func: p.auditSinkChange(audit.SinkUpdated)})
	app.OnRecordDeleteExecute(records.SinksCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.AuditSinksId, Func: p.auditSinkChange(audit.SinkDeleted)})
	app.OnRecordEnrich(records.SinksCollection).Bind(&hook.Handler[*core.RecordEnrichEvent]{Id: ids.HideSinkSecretId, Func: hideSinkSecret})
	app.OnBatchRequest().Bind(&hook.Handler[*core.BatchRequestEvent]{Id: ids.SinkSecretQueryId, Func: refuseSinkSecretBatch})
	app.OnRealtimeSubscribeRequest().Bind(&hook.Handler[*core.RealtimeSubscribeRequestEvent]{Id: ids.SinkSecretQueryId, Func: refuseSinkSecretSubscription})
	app.OnRecordAfterCreateSuccess(records.SinksCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.SinkChangedId, Func: p.sinkChanged})
	app.OnRecordAfterUpdateSuccess(records.SinksCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.SinkChangedId, Func: p.sinkChanged})
	app.OnRecordAfterDeleteSuccess(records.SinksCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.SinkChangedId, Func: p.sinkChanged})

	app.OnRecordAfterUpdateSuccess(records.PoliciesCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.PolicyChangedId, Func: p.policyChanged})
	app.OnRecordAfterDeleteSuccess(records.PoliciesCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.PolicyChangedId, Func: p.policyChanged})
	app.OnRecordAfterDeleteSuccess().Bind(&hook.Handler[*core.RecordEvent]{Id: ids.AuthRecordDeletedId, Func: p.authRecordDeleted})
	app.OnRecordAfterUpdateSuccess().Bind(&hook.Handler[*core.RecordEvent]{Id: ids.AuthRecordUpdatedId, Func: p.authRecordUpdated})
	app.OnRecordAfterCreateSuccess(records.ConsentsCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.ConsentChangedId, Func: p.consentChanged(false)})
	app.OnRecordAfterUpdateSuccess(records.ConsentsCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.ConsentChangedId, Func: p.consentChanged(false)})
	app.OnRecordAfterDeleteSuccess(records.ConsentsCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.ConsentChangedId, Func: p.consentChanged(true)})
	app.OnRecordAfterCreateSuccess().Bind(&hook.Handler[*core.RecordEvent]{Id: ids.RuleSourceChangedId, Func: p.ruleSourceWritten})
	app.OnRecordAfterUpdateSuccess().Bind(&hook.Handler[*core.RecordEvent]{Id: ids.RuleSourceChangedId, Func: p.ruleSourceWritten})
	app.OnRecordAfterDeleteSuccess().Bind(&hook.Handler[*core.RecordEvent]{Id: ids.RuleSourceChangedId, Func: p.ruleSourceWritten})

	app.OnRecordAuthRefreshRequest().Bind(&hook.Handler[*core.RecordAuthRefreshRequestEvent]{Id: ids.AuthRefreshId, Func: refuseRefreshable})
	app.OnRecordAuthRequest().Bind(&hook.Handler[*core.RecordAuthRequestEvent]{Id: ids.BuiltinImpersonateId, Func: p.builtinImpersonate})

	app.OnFileTokenRequest().Bind(&hook.Handler[*core.FileTokenRequestEvent]{Id: ids.FileTokenId, Func: p.sessionFileToken})
	// a policy's masked fields, hidden from every record served while impersonating
	app.OnRecordEnrich().Bind(&hook.Handler[*core.RecordEnrichEvent]{Id: ids.HideMaskedId, Func: p.hideMasked})
	app.OnFileDownloadRequest().Bind(&hook.Handler[*core.FileDownloadRequestEvent]{Id: ids.MaskedFileId, Func: p.refuseMaskedFile})
	app.OnBatchRequest().Bind(&hook.Handler[*core.BatchRequestEvent]{Id: ids.LimitBatchId, Func: p.limitBatch})
	app.OnRealtimeMessageSend().Bind(&hook.Handler[*core.RealtimeMessageEvent]{Id: ids.RealtimeRulesId, Func: p.obeyHeaderRules})
	app.OnRealtimeSubscribeRequest().Bind(&hook.Handler[*core.RealtimeSubscribeRequestEvent]{Id: ids.RealtimeId, Func: p.markRealtimeClient})
	app.OnRecordAfterUpdateSuccess(records.SessionsCollection).Bind(&hook.Handler[*core.RecordEvent]{Id: ids.SessionEndedId, Func: p.sessionSaved})

	// every committed change reaches the cache of the per-request check
	forget := func(e *core.RecordEvent) error {
		p.cache.Forget(e.Record)
		return e.Next()
	}
	app.OnRecordAfterCreateSuccess().Bind(&hook.Handler[*core.RecordEvent]{Id: ids.ForgetCachedId, Func: forget, Priority: -1000})
	app.OnRecordAfterUpdateSuccess().Bind(&hook.Handler[*core.RecordEvent]{Id: ids.ForgetCachedId, Func: forget, Priority: -1000})
	app.OnRecordAfterDeleteSuccess().Bind(&hook.Handler[*core.RecordEvent]{Id: ids.ForgetCachedId, Func: forget, Priority: -1000})

	app.Cron().MustAdd(ids.ExpireSessionsJobId, "* * * * *", p.expireSessions)
	app.Cron().MustAdd(ids.RecheckRealtimeJobId, "* * * * *", p.recheckRealtime)
	app.Cron().MustAdd(ids.ExpireRequestsJobId, "* * * * *", p.expireRequests)
	app.Cron().MustAdd(ids.ThrottledJobId, "* * * * *", func() {
		p.writeThrottled(p.app, p.refused.Due(opts.Clock.Now()), countedAttempts())
	})
	app.Cron().MustAdd(ids.AnchorAuditJobId, "* * * * *", p.anchorAudit)
	app.Cron().MustAdd(ids.DigestsJobId, "* * * * *", p.buildMissingDigests)
	app.Cron().MustAdd(ids.CheckpointJobId, "* * * * *", p.checkpoint)
	opts.Audit.OnAnchorLost(p.auditLost)
	// always: the retention in force is read when the job runs
	app.Cron().MustAdd(ids.PruneAuditJobId, "@hourly", p.pruneAudit)
	// the journal's leftovers from a killed process are in the table before
	// the first request
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{Id: ids.AuditWriterId, Func: func(e *core.ServeEvent) error {
		if err := opts.Audit.Writer.Open(); err != nil {
			return err
		}
		return e.Next()
	}})
	// the digests of the sessions that ended while the server was down,
	// or before their digest was built
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{Id: ids.DigestsJobId, Func: func(e *core.ServeEvent) error {
		p.buildMissingDigests()
		return e.Next()
	}})
	// each enabled sink's delivery runs while the app serves
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{Id: ids.SinksId, Func: func(e *core.ServeEvent) error {
		if err := p.sinks.Start(); err != nil {
			return fmt.Errorf("impersonation: start the audit sinks: %w", err)
		}
		return e.Next()
	}})
	// the key, the anchor and the journal never travel with the data
	app.OnBackupCreate().Bind(&hook.Handler[*core.BackupEvent]{Id: ids.BackupCreateId, Func: p.backupCreate})
	app.OnBackupRestore().Bind(&hook.Handler[*core.BackupEvent]{Id: ids.BackupRestoreId, Func: p.backupRestore})
	app.OnTerminate().Bind(&hook.Handler[*core.TerminateEvent]{Id: ids.AnchorAuditJobId, Func: func(e *core.TerminateEvent) error {
		p.expiries.stopAll()
		// the counts of throttled attempts live in memory
		p.writeThrottled(p.app, p.refused.Drain(), countedAttempts())
		p.mails.Wait()
		if err := opts.Audit.Writer.Close(); err != nil {
			app.Logger().Error("impersonation: close the audit journal", "error", err)
		}
		p.anchorAudit()
		if p.serving.Load() { // a server's shutdown, not a command's end
			p.checkpoint()
		}
		p.sinks.Stop()
		return e.Next()
	}})
	return nil
}
