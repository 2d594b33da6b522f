package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Policies say whether the target is emailed when a session on them starts;
// sessions record whether that email went out. Existing policies email.
func init() {
	m.Register(func(app core.App) error {
		policies, err := app.FindCollectionByNameOrId("impersonation_policies")
		if err != nil {
			return err
		}
		policies.Fields.Add(&core.BoolField{Name: "notifyTarget",
			Help: "Email the user when a session on them starts."})
		if err := app.Save(policies); err != nil {
			return err
		}
		if _, err := app.DB().NewQuery("UPDATE {{impersonation_policies}} SET [[notifyTarget]] = TRUE").Execute(); err != nil {
			return err
		}
		sessions, err := app.FindCollectionByNameOrId("impersonation_sessions")
		if err != nil {
			return err
		}
		sessions.Fields.Add(
			&core.DateField{Name: "notified"},
			&core.TextField{Name: "notifyError", Max: 1000},
		)
		return app.Save(sessions)
	}, func(app core.App) error {
		for name, fields := range map[string][]string{
			"impersonation_policies": {"notifyTarget"},
			"impersonation_sessions": {"notified", "notifyError"},
		} {
			c, err := app.FindCollectionByNameOrId(name)
			if err != nil {
				return err
			}
			for _, f := range fields {
				c.Fields.RemoveByName(f)
			}
			if err := app.Save(c); err != nil {
				return err
			}
		}
		return nil
	})
}
