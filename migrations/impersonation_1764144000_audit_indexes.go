package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// The audit's indexes serve the dashboard's queries at millions of entries:
// by target, actor, session (a record id, without its collection), event
// and time range, each newest first (sorted by created). New entries go to
// the end of their event's and of the time range's part of the index, so
// those two cost little to keep.
func init() {
	m.Register(func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("impersonation_audit")
		if err != nil {
			return err
		}
		c.RemoveIndex("idx_impersonation_audit_target")
		c.RemoveIndex("idx_impersonation_audit_actor")
		c.RemoveIndex("idx_impersonation_audit_session")
		c.AddIndex("idx_impersonation_audit_target", false, "`target`, `created`", "")
		c.AddIndex("idx_impersonation_audit_actor", false, "`actor`, `created`", "")
		c.AddIndex("idx_impersonation_audit_session", false, "`session`, `created`", "")
		c.AddIndex("idx_impersonation_audit_event", false, "`event`, `created`", "")
		return app.Save(c)
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("impersonation_audit")
		if err != nil {
			return err
		}
		c.RemoveIndex("idx_impersonation_audit_target")
		c.RemoveIndex("idx_impersonation_audit_actor")
		c.RemoveIndex("idx_impersonation_audit_session")
		c.RemoveIndex("idx_impersonation_audit_event")
		c.AddIndex("idx_impersonation_audit_target", false, "`targetCollection`, `target`, `created`", "")
		c.AddIndex("idx_impersonation_audit_actor", false, "`actorCollection`, `actor`, `created`", "")
		c.AddIndex("idx_impersonation_audit_session", false, "`session`", "")
		return app.Save(c)
	})
}
