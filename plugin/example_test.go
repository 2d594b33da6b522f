package plugin_test

import (
	"log"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/plugin"
)

// An app refuses a sensitive route of its own while impersonating, vetoes
// write sessions outside office hours, and learns when a session ends.
func Example_appRules() {
	app := pocketbase.New()
	imp := plugin.MustRegister(app, plugin.Config{
		Policies: []plugin.Policy{{Collection: "users"}},
	})

	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.POST("/api/billing/charge", func(e *core.RequestEvent) error {
			if imp := plugin.FromRequest(e); imp != nil {
				return e.ForbiddenError("Payments cannot be made while impersonating.", nil)
			}
			return e.NoContent(204)
		})
		return se.Next()
	})

	imp.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error {
		if e.Mode == plugin.ModeWrite && e.Now.Hour() < 8 {
			return e.Request.ForbiddenError("Write sessions start at 8:00.", nil)
		}
		return e.Next()
	})
	imp.OnSessionEnd().BindFunc(func(e *plugin.EndEvent) error {
		log.Printf("session %s ended: %s", e.Session.Id, e.Session.EndCause)
		return e.Next()
	})
}
