package migrations

import (
	"context"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pocketbase/pocketbase/tools/types"
)

// The settings an operator changes after deploy, edited by superusers in
// the dashboard: one record, written from Config when the server first
// starts (see plugin.Config).
func init() {
	register(step{
		up: func(s *shape) error {
			s.define(settingsCollection())
			return nil
		},
		down: func(app core.App) error {
			c, err := app.FindCollectionByNameOrId("impersonation_settings")
			if err != nil {
				return nil
			}
			return app.DeleteWithContext(records.SchemaChange(context.Background()), c)
		},
	})
}

func settingsCollection() *core.Collection {
	c := core.NewBaseCollection("impersonation_settings")
	// superusers only: the settings are edited in the dashboard
	c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil, nil, nil

	c.Fields.Add(
		&core.EmailField{Name: "alertEmail",
			Help: "Who is emailed when an actor's starts are refused again and again, when the audit loses entries, and when these settings weaken the evidence. Empty: no email."},
		&core.NumberField{Name: "alertAfterRefusals", Required: true, OnlyInt: true, Min: types.Pointer(1.0), Max: types.Pointer(10000.0),
			Help: "How many refused starts of one actor within ten minutes alert."},
		&core.NumberField{Name: "auditRetentionHours", OnlyInt: true, Min: types.Pointer(0.0), Max: types.Pointer(876000.0),
			Help: "How long audit entries are kept, in hours. 0: for ever."},
		&core.TextField{Name: "revokeURL", Max: 2000,
			Help: "The page, linked from the session-started email, where a user withdraws consent. Empty: the app URL + /impersonation/."},
		&core.TextField{Name: "productURL", Max: 2000,
			Help: "The product page a new impersonation tab opens. Empty: /."},
		&core.JSONField{Name: "extraRedactKeys", MaxSize: 16 << 10,
			Help: `Key names redacted by the request audit besides the configured ones: ["iban", "ssn"].`},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	return c
}
