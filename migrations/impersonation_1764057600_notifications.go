package migrations

import (
	"github.com/pocketbase/pocketbase/core"
)

// Policies say whether the target is emailed when a session on them starts;
// sessions record whether that email went out. Existing policies email.
func init() {
	register(step{
		up: func(s *shape) error {
			policies, err := s.get("impersonation_policies")
			if err != nil {
				return err
			}
			policies.Fields.Add(&core.BoolField{Name: "notifyTarget",
				Help: "Email the user when a session on them starts."})
			sessions, err := s.get("impersonation_sessions")
			if err != nil {
				return err
			}
			sessions.Fields.Add(
				&core.DateField{Name: "notified"},
				&core.TextField{Name: "notifyError", Max: 1000},
			)
			return nil
		},
		fill: func(app core.App, added addedFunc) error {
			if !added("impersonation_policies", "notifyTarget") {
				return nil
			}
			_, err := app.DB().NewQuery("UPDATE {{impersonation_policies}} SET [[notifyTarget]] = TRUE").Execute()
			return err
		},
		down: func(app core.App) error {
			return apply(app, func(s *shape) error {
				for name, fields := range map[string][]string{
					"impersonation_policies": {"notifyTarget"},
					"impersonation_sessions": {"notified", "notifyError"},
				} {
					c, err := s.get(name)
					if err != nil {
						return err
					}
					for _, f := range fields {
						c.Fields.RemoveByName(f)
					}
				}
				return nil
			}, nil)
		},
	})
}
