package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Audit entries form a keyed hash chain: each has a sequence number and a
// hash over its content and the previous entry's hash.
func init() {
	register(step{
		up: func(s *shape) error {
			c, err := s.get("impersonation_audit")
			if err != nil {
				return err
			}
			c.Fields.Add(
				&core.NumberField{Name: "seq", OnlyInt: true, Min: types.Pointer(0.0)},
				&core.TextField{Name: "hash", Max: 100},
			)
			c.AddIndex("idx_impersonation_audit_seq", true, "`seq`", "")
			return nil
		},
		// entries written before the chain keep their order, unhashed
		fill: func(app core.App, added addedFunc) error {
			if !added("impersonation_audit", "seq") {
				return nil
			}
			_, err := app.DB().NewQuery("UPDATE {{impersonation_audit}} SET [[seq]] = [[rowid]]").Execute()
			return err
		},
		down: func(app core.App) error {
			return apply(app, func(s *shape) error {
				c, err := s.get("impersonation_audit")
				if err != nil {
					return err
				}
				c.RemoveIndex("idx_impersonation_audit_seq")
				c.Fields.RemoveByName("seq")
				c.Fields.RemoveByName("hash")
				return nil
			}, nil)
		},
	})
}
