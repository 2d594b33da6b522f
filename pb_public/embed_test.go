package pbpublic_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	pbpublic "github.com/pbimpersonation/impersonation/pb_public"
)

// TestProduct: the product FS is a well-behaved fs.FS that holds index.html
// and none of the plugin's pages, the dashboard extension or Go sources.
func TestProduct(t *testing.T) {
	if err := fstest.TestFS(pbpublic.Product, "index.html"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"embed.go", "embed_test.go", "impersonation", "impersonation/vendor/pocketbase.es.mjs",
		"dashboard", "dashboard/main.js",
	} {
		if _, err := pbpublic.Product.Open(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want fs.ErrNotExist", name, err)
		}
		if _, err := fs.Stat(pbpublic.Product, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) = %v, want fs.ErrNotExist", name, err)
		}
	}
	for _, name := range []string{"../embed.go", "/embed.go", "./embed.go", "app/../embed.go"} {
		if _, err := pbpublic.Product.Open(name); err == nil {
			t.Errorf("Open(%q) opened a file", name)
		}
	}
	err := fs.WalkDir(pbpublic.Product, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		top, _, _ := strings.Cut(name, "/")
		if strings.HasSuffix(name, ".go") || top == "impersonation" || top == "dashboard" {
			t.Errorf("Product lists %s", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestImpersonationAndDashboard(t *testing.T) {
	cases := []struct {
		name  string
		fsys  fs.FS
		files []string
	}{
		{"Impersonation", pbpublic.Impersonation, []string{"impersonation/vendor/pocketbase.es.mjs"}},
		{"Dashboard", pbpublic.Dashboard, []string{"dashboard/main.js"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := fstest.TestFS(c.fsys, c.files...); err != nil {
				t.Fatal(err)
			}
			err := fs.WalkDir(c.fsys, ".", func(name string, d fs.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(name, ".go") {
					t.Errorf("%s holds Go source %s", c.name, name)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
