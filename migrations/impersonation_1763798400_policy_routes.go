package migrations

import (
	"github.com/pocketbase/pocketbase/core"
)

// Policies name the routes an impersonator may never call (deniedRoutes)
// and those a read-only session may call all the same (allowedRoutes).
func init() {
	register(step{
		up: func(s *shape) error {
			c, err := s.get("impersonation_policies")
			if err != nil {
				return err
			}
			c.Fields.Add(
				&core.JSONField{Name: "deniedRoutes", MaxSize: 64 << 10,
					Help: `Routes refused while impersonating, in any mode: ["POST /api/billing/*", "* /api/collections/payments/records*"].`},
				&core.JSONField{Name: "allowedRoutes", MaxSize: 64 << 10,
					Help: `Routes a read-only session may call all the same: ["POST /api/search"].`},
			)
			return nil
		},
		down: func(app core.App) error {
			return apply(app, func(s *shape) error {
				c, err := s.get("impersonation_policies")
				if err != nil {
					return err
				}
				c.Fields.RemoveByName("deniedRoutes")
				c.Fields.RemoveByName("allowedRoutes")
				return nil
			}, nil)
		},
	})
}
