package migrations

import (
	"github.com/pocketbase/pocketbase/core"
)

// Policies say whether users are told, through /api/impersonation/current,
// while a session on them is live. Existing policies tell them.
func init() {
	register(step{
		up: func(s *shape) error {
			c, err := s.get("impersonation_policies")
			if err != nil {
				return err
			}
			c.Fields.Add(&core.BoolField{Name: "showLiveSessions",
				Help: "Tell users, through /api/impersonation/current, while a session on them is live."})
			return nil
		},
		fill: func(app core.App, added addedFunc) error {
			if !added("impersonation_policies", "showLiveSessions") {
				return nil
			}
			_, err := app.DB().NewQuery("UPDATE {{impersonation_policies}} SET [[showLiveSessions]] = TRUE").Execute()
			return err
		},
		down: func(app core.App) error {
			return apply(app, func(s *shape) error {
				c, err := s.get("impersonation_policies")
				if err != nil {
					return err
				}
				c.Fields.RemoveByName("showLiveSessions")
				return nil
			}, nil)
		},
	})
}
