// Package pbpublic holds the impersonation plugin's web files, embedded in
// the binary so that no file is needed beside it.
//
//   - Impersonation: impersonation/, the user's page, the support console,
//     the hand-off page, the banner script, the shared UI core (lib/) and
//     its styles, and the vendored PocketBase JS SDK. The plugin serves it
//     at /impersonation/ in every app that registers it.
//   - Dashboard: dashboard/, the PocketBase dashboard extension (its main.js
//     is loaded by /_/). The plugin registers it.
//
// Each FS keeps its directory in its paths (Impersonation holds
// "impersonation/banner.js"): use fs.Sub to serve one. An app's own pages
// (the ready app's demo product, for one) live with the app, not here.
//
// Example usage:
//
//	pages, _ := fs.Sub(pbpublic.Impersonation, "impersonation")
//	se.Router.GET("/impersonation/{path...}", apis.Static(pages, false))
package pbpublic

import "embed"

// Impersonation holds impersonation/, the pages served at /impersonation/.
//
//go:embed all:impersonation
var Impersonation embed.FS

// Dashboard holds dashboard/, the PocketBase dashboard extension.
//
//go:embed all:dashboard
var Dashboard embed.FS
