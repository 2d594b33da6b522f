package migrations

import (
	"github.com/pocketbase/pocketbase/core"
)

// The audit's indexes serve the dashboard's queries at millions of entries:
// by target, actor, session (a record id, without its collection), event
// and time range, each newest first (sorted by created). New entries go to
// the end of their event's and of the time range's part of the index, so
// those two cost little to keep.
func init() {
	register(step{
		up: func(s *shape) error {
			c, err := s.get("impersonation_audit")
			if err != nil {
				return err
			}
			c.AddIndex("idx_impersonation_audit_target", false, "`target`, `created`", "")
			c.AddIndex("idx_impersonation_audit_actor", false, "`actor`, `created`", "")
			c.AddIndex("idx_impersonation_audit_session", false, "`session`, `created`", "")
			c.AddIndex("idx_impersonation_audit_event", false, "`event`, `created`", "")
			return nil
		},
		down: func(app core.App) error {
			return apply(app, func(s *shape) error {
				c, err := s.get("impersonation_audit")
				if err != nil {
					return err
				}
				c.RemoveIndex("idx_impersonation_audit_event")
				c.AddIndex("idx_impersonation_audit_target", false, "`targetCollection`, `target`, `created`", "")
				c.AddIndex("idx_impersonation_audit_actor", false, "`actorCollection`, `actor`, `created`", "")
				c.AddIndex("idx_impersonation_audit_session", false, "`session`", "")
				return nil
			}, nil)
		},
	})
}
