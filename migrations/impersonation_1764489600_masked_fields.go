package migrations

import (
	"github.com/pocketbase/pocketbase/core"
)

// Policies name, by collection, the fields hidden while impersonating under
// them (maskedFields): {"payments": ["cardNumber", "iban"], "users": ["phone"]}.
func init() {
	register(step{
		up: func(s *shape) error {
			c, err := s.get("impersonation_policies")
			if err != nil {
				return err
			}
			c.Fields.Add(&core.JSONField{Name: "maskedFields", MaxSize: 64 << 10,
				Help: `Fields hidden while impersonating, by collection: {"payments": ["cardNumber", "iban"], "users": ["phone"]}. ` +
					`A masked field is left out of every record served, cannot be written, and cannot be filtered, sorted or expanded on.`})
			return nil
		},
		down: func(app core.App) error {
			return apply(app, func(s *shape) error {
				c, err := s.get("impersonation_policies")
				if err != nil {
					return err
				}
				c.Fields.RemoveByName("maskedFields")
				return nil
			}, nil)
		},
	})
}
