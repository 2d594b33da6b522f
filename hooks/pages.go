package hooks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"path/filepath"
	"strings"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
)

// pagesPath is where the plugin's pages are served: the user's page, the
// support console, the hand-off page and the banner script.
const pagesPath = "/impersonation/"

// dashboardExtensionName is the name of the plugin's dashboard extension:
// its files are served under /_/extensions/impersonation/ and its main.js
// is part of /_/extensions.js.
const dashboardExtensionName = "impersonation"

// PagesCSP is the Content-Security-Policy of the plugin's pages, modelled on
// the one PocketBase gives its dashboard: scripts, styles, fonts and API
// calls from the app's own origin only (no inline script, no eval), inline
// styles allowed, images also from data: and blob: URLs, and no framing.
const PagesCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// contentTypes are the content types of the pages' files, by extension, so
// that they do not depend on the machine's MIME tables.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".txt":   "text/plain; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".webp":  "image/webp",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
}

// pages serves a file system of pages with their content types, PagesCSP,
// and caching that never serves a stale page: every response must be
// revalidated (Cache-Control: no-cache), and a strong ETag of the file's
// content answers an unchanged file with 304.
type pages struct {
	fsys   fs.FS
	static func(*core.RequestEvent) error
	// etags of every file, by path
	etags map[string]string
}

// newPages returns the server of fsys, whose files never change.
func newPages(fsys fs.FS) (*pages, error) {
	pg := &pages{fsys: fsys, static: apis.Static(fsys, false), etags: map[string]string{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		pg.etags[name] = `"` + hex.EncodeToString(sum[:16]) + `"`
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("impersonation: read the pages: %w", err)
	}
	return pg, nil
}

// serve answers GET pagesPath{path...}.
func (pg *pages) serve(e *core.RequestEvent) error {
	h := e.Response.Header()
	h.Set("Content-Security-Policy", PagesCSP)
	h.Set("Cache-Control", "no-cache")

	// the file apis.Static serves for this path, if any
	name := filepath.ToSlash(filepath.Clean(strings.TrimPrefix(e.Request.PathValue(apis.StaticWildcardParam), "/")))
	if fi, err := fs.Stat(pg.fsys, name); err == nil {
		if fi.IsDir() {
			name = path.Join(name, router.IndexPage)
		}
		if etag, ok := pg.etags[name]; ok {
			h.Set("ETag", etag)
			if ct, ok := contentTypes[path.Ext(name)]; ok {
				h.Set("Content-Type", ct)
			}
		}
	}
	return pg.static(e)
}

// redirectToPages sends pagesPath without its trailing slash to pagesPath.
func redirectToPages(e *core.RequestEvent) error {
	return e.Redirect(http.StatusMovedPermanently, pagesPath)
}

// bindPages serves the pages at pagesPath.
func (p *handlers) bindPages(e *core.ServeEvent) {
	if p.pages == nil {
		return
	}
	e.Router.GET(pagesPath+"{"+apis.StaticWildcardParam+"...}", p.pages.serve)
	e.Router.GET(strings.TrimSuffix(pagesPath, "/"), redirectToPages)
}

// addDashboardExtension adds the plugin's extension to the dashboard.
func (p *handlers) addDashboardExtension(e *core.ServeEvent) error {
	if p.dashboard != nil {
		e.UIExtensions = append(e.UIExtensions, core.UIExtension{Name: dashboardExtensionName, FS: p.dashboard})
	}
	return e.Next()
}
