// Command impersonation is a ready PocketBase app with the impersonation
// plugin registered: `go run . serve` serves the API, the dashboard, the
// plugin's pages at /impersonation/ and a demo product at / (the files of
// demo/ beside this one, embedded by this package alone), all from the
// binary, with the embedded SQLite database in pb_data.
//
// Out of the box the default "users" collection is under a policy:
// superusers may impersonate, the user's consent and a reason are required,
// sessions last at most 60 minutes in read (default) or write mode, and an
// actor may attempt 5 starts a minute.
//
// PocketBase's jsvm plugin is registered too, with the impersonation
// plugin's JS bindings: *.pb.js files in pb_hooks (beside pb_data) can bind
// onImpersonationStart and onImpersonationEnd and ask
// $impersonation.fromRequest(e). With no pb_hooks directory it loads
// nothing and makes no runtime.
package main

import (
	"embed"
	"io/fs"
	"log"
	"os"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/tools/osutils"
	"github.com/spf13/cobra"

	"github.com/pbimpersonation/impersonation/plugin"
	"github.com/pbimpersonation/impersonation/plugin/pbhooks"
)

// demoFiles holds demo/: Acme Notes, the demo product served at /. It uses
// the plugin's pages (/impersonation/) like any product would: the banner
// script, the shared UI modules and the vendored SDK.
//
//go:embed all:demo
var demoFiles embed.FS

func main() {
	if err := newApp().Start(); err != nil {
		log.Fatal(err)
	}
}

// newApp returns the app, its plugins registered.
func newApp() *pocketbase.PocketBase {
	app := pocketbase.New()
	// usage lines name the app as it is run: under go run (the README's way)
	// the binary is named after the module, "impersonation", and would read
	// "impersonation impersonation audit verify"
	if osutils.IsProbablyGoRun() {
		app.RootCmd.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "go run ."}
	}

	imp := plugin.MustRegister(app, plugin.Config{
		Policies: []plugin.Policy{{Collection: "users"}},
		// only for an audit whose key is lost for good (see the README)
		AcceptNewAuditKey: os.Getenv("IMPERSONATION_ACCEPT_NEW_AUDIT_KEY") == "1",
	})
	// pb_hooks and pb_migrations beside pb_data, as in PocketBase's own
	// ready app (examples/base)
	jsvm.MustRegister(app, pbhooks.Config(imp, jsvm.Config{HooksPoolSize: 15}))

	demo, err := fs.Sub(demoFiles, "demo")
	if err != nil {
		log.Fatal(err)
	}
	app.OnServe().BindFunc(func(e *core.ServeEvent) error {
		e.Router.GET("/{path...}", apis.Static(demo, false)).
			BindFunc(func(e *core.RequestEvent) error {
				e.Response.Header().Set("Content-Security-Policy", plugin.PagesCSP)
				e.Response.Header().Set("Cache-Control", "no-cache")
				return e.Next()
			})
		return e.Next()
	})

	return app
}
