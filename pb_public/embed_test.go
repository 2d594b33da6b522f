package pbpublic_test

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	pbpublic "github.com/pbimpersonation/impersonation/pb_public"
)

// TestEmbed: each FS is a well-behaved fs.FS holding its own directory
// only: no Go source, and nothing of an app's (the demo product's
// index.html lives beside main.go).
func TestEmbed(t *testing.T) {
	cases := []struct {
		name  string
		fsys  fs.FS
		top   string
		files []string
	}{
		{"Impersonation", pbpublic.Impersonation, "impersonation", []string{"impersonation/vendor/pocketbase.es.mjs", "impersonation/banner.js"}},
		{"Dashboard", pbpublic.Dashboard, "dashboard", []string{"dashboard/main.js"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := fstest.TestFS(c.fsys, c.files...); err != nil {
				t.Fatal(err)
			}
			root, err := fs.ReadDir(c.fsys, ".")
			if err != nil {
				t.Fatal(err)
			}
			if len(root) != 1 || root[0].Name() != c.top {
				t.Errorf("%s's root lists %v, want only %s", c.name, root, c.top)
			}
			err = fs.WalkDir(c.fsys, ".", func(name string, d fs.DirEntry, err error) error {
				if err == nil && (strings.HasSuffix(name, ".go") || name == "index.html" || strings.HasPrefix(name, "app/")) {
					t.Errorf("%s holds %s", c.name, name)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
