// Package ids names the handlers and cron jobs that the impersonation
// plugin binds to a PocketBase app. The values are stable: an app finds,
// reorders or unbinds a handler by its string (app.OnServe().Unbind(...)),
// and tests run a job by its id.
package ids

// The ids of the plugin's handlers and jobs.
const (
	GuardId              = "impersonationGuard"
	ProtectTruncateId    = "impersonationProtectTruncate"
	ProtectRecordsId     = "impersonationProtectRecords"
	ProtectCollectionsId = "impersonationProtectCollections"
	ValidatePolicyId     = "impersonationValidatePolicy"
	ValidateSettingsId   = "impersonationValidateSettings"
	SettingsChangedId    = "impersonationSettingsChanged"
	// AuditSettingsId writes a change of the settings record to the audit
	// (one id per underlying hook: AuditChangesId is the policies').
	AuditSettingsId      = "impersonationAuditSettings"
	PolicyChangedId      = "impersonationPolicyChanged"
	AuthRecordDeletedId  = "impersonationAuthRecordDeleted"
	AuthRecordUpdatedId  = "impersonationAuthRecordUpdated"
	RuleSourceChangedId  = "impersonationRuleSourceChanged"
	ConsentChangedId     = "impersonationConsentChanged"
	AuthRefreshId        = "impersonationAuthRefresh"
	LimitBatchId         = "impersonationLimitBatch"
	RealtimeId           = "impersonationRealtime"
	SessionEndedId       = "impersonationSessionEnded"
	ForgetCachedId       = "impersonationForgetCached"
	BuiltinImpersonateId = "impersonationBuiltinImpersonate"
	RoutesId             = "impersonationRoutes"
	DashboardExtensionId = "impersonationDashboardExtension"
	ExpireSessionsJobId  = "impersonationExpireSessions"
	RecheckRealtimeJobId = "impersonationRecheckRealtime"
	// ExpireRequestsJobId expires the requests for access that lapsed,
	// each with its request.expired entry (every minute).
	ExpireRequestsJobId = "impersonationExpireRequests"
	ThrottledJobId      = "impersonationWriteThrottled"
	AnchorAuditJobId    = "impersonationAnchorAudit"
	PruneAuditJobId     = "impersonationPruneAudit"
	AuditWriterId       = "impersonationAuditWriter"
	AuditReadId         = "impersonationAuditRead"
	AuditChangesId      = "impersonationAuditChanges"
	FileTokenId         = "impersonationFileToken"
	RealtimeRulesId     = "impersonationRealtimeRules"
	BackupCreateId      = "impersonationBackupCreate"
	BackupRestoreId     = "impersonationBackupRestore"
	// HideMaskedId hides a policy's masked fields from every record served
	// while impersonating (OnRecordEnrich).
	HideMaskedId = "impersonationHideMasked"
	// MaskedFileId refuses the download of a masked file field's files
	// while impersonating (OnFileDownloadRequest).
	MaskedFileId = "impersonationMaskedFile"
	// AuditKeyCheckId makes the audit key of a fresh install, or refuses to
	// start without a lost one (OnBootstrap), and logs an error when the
	// chain was not written with the key (OnServe).
	AuditKeyCheckId = "impersonationAuditKeyCheck"
	// EnsureSchemaId gives the plugin's collections back the rules, fields
	// and indexes of its current schema after every migration has run, an
	// app's snapshot taken before a plugin upgrade included (OnServe, before
	// the plugin's other handlers; see package migrations).
	EnsureSchemaId = "impersonationEnsureSchema"
	// CommandOutputId keeps stdout for the data of the plugin's command,
	// when it is the one run (OnBootstrap).
	CommandOutputId = "impersonationCommandOutput"
	// SeedPoliciesId writes Config.Policies (OnServe).
	SeedPoliciesId = "impersonationSeedPolicies"
	// ValidateSinkId, ProtectSinkStateId, AuditSinksId and SinkChangedId
	// check a sink, refuse a write of its delivery state through the API,
	// audit its changes and restart its delivery.
	ValidateSinkId     = "impersonationValidateSink"
	ProtectSinkStateId = "impersonationProtectSinkState"
	AuditSinksId       = "impersonationAuditSinks"
	SinkChangedId      = "impersonationSinkChanged"
	// HideSinkSecretId hides a sink's secret from every answer, superusers'
	// included (OnRecordEnrich: PocketBase shows hidden fields to them).
	HideSinkSecretId = "impersonationHideSinkSecret"
	// SinkSecretQueryId refuses a records query (REST, batch, realtime
	// options) whose filter, sort, expand or fields read a sink's secret.
	SinkSecretQueryId = "impersonationSinkSecretQuery"
	// SinksId starts the sinks' delivery (OnServe).
	SinksId = "impersonationSinks"
	// CheckpointJobId signs the chain's head every minute while it grows.
	CheckpointJobId = "impersonationCheckpoint"
	// SeedSettingsId writes Config's settings to the settings record when
	// there is none (OnServe).
	SeedSettingsId = "impersonationSeedSettings"
	// DigestsJobId builds the digests of ended sessions that have none yet
	// (after a restart, or while the audit journal could not be moved),
	// every minute and on serve (OnServe and a cron job).
	DigestsJobId = "impersonationBuildDigests"
)
