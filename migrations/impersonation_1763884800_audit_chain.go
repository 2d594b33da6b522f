package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Audit entries form a keyed hash chain: each has a sequence number and a
// hash over its content and the previous entry's hash.
func init() {
	m.Register(func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("impersonation_audit")
		if err != nil {
			return err
		}
		c.Fields.Add(
			&core.NumberField{Name: "seq", OnlyInt: true, Min: types.Pointer(0.0)},
			&core.TextField{Name: "hash", Max: 100},
		)
		if err := app.Save(c); err != nil {
			return err
		}
		// entries written before the chain keep their order, unhashed
		if _, err := app.DB().NewQuery("UPDATE {{impersonation_audit}} SET [[seq]] = [[rowid]]").Execute(); err != nil {
			return err
		}
		c.AddIndex("idx_impersonation_audit_seq", true, "`seq`", "")
		return app.Save(c)
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("impersonation_audit")
		if err != nil {
			return err
		}
		c.RemoveIndex("idx_impersonation_audit_seq")
		c.Fields.RemoveByName("seq")
		c.Fields.RemoveByName("hash")
		return app.Save(c)
	})
}
