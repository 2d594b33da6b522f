// Package pbpublic holds the impersonation plugin's web files, embedded in
// the binary so that no file is needed beside it.
//
//   - Impersonation: impersonation/, the user's page, the support console,
//     the hand-off page, the banner script and their shared modules and
//     styles, and the vendored PocketBase JS SDK. The plugin serves it at
//     /impersonation/ in every app that registers it.
//   - Dashboard: dashboard/, the PocketBase dashboard extension (its main.js
//     is loaded by /_/). The plugin registers it.
//   - Product: the demo product of the ready app (index.html and the files
//     beside it, except the two directories above and this file). main.go
//     serves it at /.
//
// Each FS keeps its directory in its paths (Impersonation holds
// "impersonation/banner.js"): use fs.Sub to serve one.
//
// Example usage:
//
//	pages, _ := fs.Sub(pbpublic.Impersonation, "impersonation")
//	se.Router.GET("/impersonation/{path...}", apis.Static(pages, false))
package pbpublic

import (
	"embed"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Impersonation holds impersonation/, the pages served at /impersonation/.
//
//go:embed all:impersonation
var Impersonation embed.FS

// Dashboard holds dashboard/, the PocketBase dashboard extension.
//
//go:embed all:dashboard
var Dashboard embed.FS

// product holds every file of this directory; Product hides what is not the
// product's.
//
//go:embed *
var product embed.FS

// Product holds the demo product: index.html and the files beside it,
// without impersonation/, dashboard/ and this package's Go sources.
var Product fs.FS = hidden{fsys: product}

// hidden is an FS without the top-level entries that are not the
// product's. Every file it opens is an embed.FS file (an io.ReadSeeker).
type hidden struct{ fsys embed.FS }

// notProduct reports whether name (a valid fs path) belongs to another FS
// or is Go source.
func notProduct(name string) bool {
	top, _, _ := strings.Cut(name, "/")
	return top == "impersonation" || top == "dashboard" || path.Ext(name) == ".go"
}

// Open opens the named file unless it is not the product's.
func (h hidden) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if notProduct(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := h.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if name == "." {
		entries, err := h.ReadDir(".")
		if err != nil {
			f.Close()
			return nil, err
		}
		return &hiddenRoot{File: f, entries: entries}, nil
	}
	return f, nil
}

// ReadDir lists the named directory without what is not the product's.
func (h hidden) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	if notProduct(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	entries, err := h.fsys.ReadDir(name)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(entries, func(d fs.DirEntry) bool {
		return notProduct(path.Join(name, d.Name()))
	}), nil
}

// hiddenRoot is the root directory of Product, listing only the product's
// entries.
type hiddenRoot struct {
	fs.File
	entries []fs.DirEntry
}

// ReadDir returns the next n entries (n <= 0: all that are left), as
// fs.ReadDirFile says.
func (r *hiddenRoot) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		out := r.entries
		r.entries = nil
		return out, nil
	}
	if len(r.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(r.entries))
	out := r.entries[:n]
	r.entries = r.entries[n:]
	return out, nil
}
