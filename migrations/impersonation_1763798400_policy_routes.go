package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Policies name the routes an impersonator may never call (deniedRoutes)
// and those a read-only session may call all the same (allowedRoutes).
func init() {
	m.Register(func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("impersonation_policies")
		if err != nil {
			return err
		}
		c.Fields.Add(
			&core.JSONField{Name: "deniedRoutes", MaxSize: 64 << 10,
				Help: `Routes refused while impersonating, in any mode: ["POST /api/billing/*", "* /api/collections/payments/records*"].`},
			&core.JSONField{Name: "allowedRoutes", MaxSize: 64 << 10,
				Help: `Routes a read-only session may call all the same: ["POST /api/search"].`},
		)
		return app.Save(c)
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("impersonation_policies")
		if err != nil {
			return err
		}
		c.Fields.RemoveByName("deniedRoutes")
		c.Fields.RemoveByName("allowedRoutes")
		return app.Save(c)
	})
}
