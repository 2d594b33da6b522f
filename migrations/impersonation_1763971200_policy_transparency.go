package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Policies say whether users are told, through /api/impersonation/current,
// while a session on them is live. Existing policies tell them.
func init() {
	m.Register(func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("impersonation_policies")
		if err != nil {
			return err
		}
		c.Fields.Add(&core.BoolField{Name: "showLiveSessions",
			Help: "Tell users, through /api/impersonation/current, while a session on them is live."})
		if err := app.Save(c); err != nil {
			return err
		}
		_, err = app.DB().NewQuery("UPDATE {{impersonation_policies}} SET [[showLiveSessions]] = TRUE").Execute()
		return err
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("impersonation_policies")
		if err != nil {
			return err
		}
		c.Fields.RemoveByName("showLiveSessions")
		return app.Save(c)
	})
}
