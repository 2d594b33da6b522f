// Command impersonation is a ready PocketBase app with the impersonation
// plugin registered: `go run . serve` serves the API, the dashboard and
// pb_public from the embedded SQLite database in pb_data.
//
// Out of the box the default "users" collection is under a policy:
// superusers may impersonate, the user's consent and a reason are required,
// sessions last at most 60 minutes in read (default) or write mode, and an
// actor may attempt 5 starts a minute.
package main

import (
	"embed"
	"io/fs"
	"log"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/plugin"
)

//go:embed all:pb_public
var public embed.FS

func main() {
	app := pocketbase.New()

	plugin.MustRegister(app, plugin.Config{
		Policies: []plugin.Policy{{Collection: "users"}},
	})

	app.OnServe().BindFunc(func(e *core.ServeEvent) error {
		sub, err := fs.Sub(public, "pb_public")
		if err != nil {
			return err
		}
		e.Router.GET("/{path...}", apis.Static(sub, true))
		return e.Next()
	})

	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}
