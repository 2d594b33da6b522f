package migrations

import (
	"context"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Sinks: the log stores (a webhook, a file) that get every audit entry, in
// seq order, with the signed checkpoints of the chain (see internal/sinks).
// Superusers edit them in the dashboard; deliveredSeq, checkpointOffset,
// lastError and lastAttempt are the delivery's state, which only the
// plugin writes, and the secret is hidden from every API answer.
func init() {
	register(step{
		up: func(s *shape) error {
			s.define(sinksCollection())
			return nil
		},
		down: func(app core.App) error {
			c, err := app.FindCollectionByNameOrId("impersonation_sinks")
			if err != nil {
				return nil
			}
			return app.DeleteWithContext(records.SchemaChange(context.Background()), c)
		},
	})
}

func sinksCollection() *core.Collection {
	c := core.NewBaseCollection("impersonation_sinks")
	// superusers only: sinks are edited in the dashboard
	c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil, nil, nil
	c.Fields.Add(
		&core.TextField{Name: "name", Required: true, Max: 100, Help: "What the sink is called in the dashboard and the log."},
		&core.SelectField{Name: "type", Required: true, MaxSelect: 1, Values: []string{"webhook", "file"},
			Help: "webhook: NDJSON batches POSTed to url. file: lines appended to path."},
		&core.URLField{Name: "url", Help: "The webhook's http(s) URL."},
		&core.TextField{Name: "path", Max: 1000,
			Help: "The file's path: relative to pb_data/impersonation_sinks, or absolute (outside pb_data)."},
		&core.SelectField{Name: "format", Required: true, MaxSelect: 1, Values: []string{"jsonl", "ocsf"},
			Help: "jsonl: each entry as the export writes it (with seq and hash). ocsf: each entry as an OCSF 1.3.0 event."},
		&core.TextField{Name: "secret", Hidden: true, Max: 500,
			Help: "Signs each webhook batch (X-Impersonation-Signature). Never returned by the API."},
		&core.BoolField{Name: "enabled"},
		&core.BoolField{Name: "startFromNow",
			Help: "At creation: deliver from the newest entry on, instead of from the oldest one retained."},
		&core.NumberField{Name: "batchSize", OnlyInt: true, Min: types.Pointer(0.0), Max: types.Pointer(10000.0),
			Help: "The most entries a batch holds. 0: 500."},
		&core.NumberField{Name: "batchSeconds", OnlyInt: true, Min: types.Pointer(0.0), Max: types.Pointer(3600.0),
			Help: "How long entries gather before a batch is sent. 0: 5."},
		&core.NumberField{Name: "deliveredSeq", OnlyInt: true, Help: "Read-only: the seq of the last entry the sink took."},
		&core.NumberField{Name: "checkpointOffset", OnlyInt: true, Help: "Read-only: how far the sink took the checkpoint log."},
		&core.TextField{Name: "lastError", Max: 2000, Help: "Read-only: why the last delivery failed (empty once one succeeds)."},
		&core.DateField{Name: "lastAttempt", Help: "Read-only: when a delivery was last tried."},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_impersonation_sinks_name", true, "`name`", "")
	return c
}
