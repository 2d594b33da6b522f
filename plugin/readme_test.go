package plugin_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/testapp"
	"github.com/pbimpersonation/impersonation/plugin"
)

// readmeBlock is a fenced Go block of the README.
var readmeBlock = regexp.MustCompile("(?ms)^```go\n(.*?)^```")

// snippetHarness is what a fragment of the README is compiled in: the body
// of a function that has the app, its config, a serve event, and the app's
// own functions the fragments call.
const snippetHarness = `package main

import (
%s)

func onCall(actor *core.Record) bool { return actor != nil }

func ticketOf(reason string) string { return reason }

func main() {
	app := pocketbase.New()
	cfg := plugin.Config{}
	var se *core.ServeEvent // as in an OnServe handler
	_, _, _ = app, cfg, se
	%s
}
`

// harnessImports are the packages snippetHarness imports.
var harnessImports = []string{
	`"github.com/pocketbase/pocketbase"`,
	`"github.com/pocketbase/pocketbase/core"`,
	`"github.com/pbimpersonation/impersonation/plugin"`,
}

// fragmentImports is the import declaration a fragment may start with.
var fragmentImports = regexp.MustCompile(`(?s)^import (?:\((.*?)\)|("[^"]+"))\n`)

// inHarness returns fragment as the body of snippetHarness's main, the
// packages it imports (an import declaration it starts with) added to the
// harness's.
func inHarness(fragment string) string {
	imports := slices.Clone(harnessImports)
	if m := fragmentImports.FindStringSubmatch(fragment); m != nil {
		for _, spec := range strings.Split(m[1]+"\n"+m[2], "\n") {
			if spec = strings.TrimSpace(spec); spec != "" && !slices.Contains(imports, spec) {
				imports = append(imports, spec)
			}
		}
		fragment = fragment[len(m[0]):]
	}
	var list strings.Builder
	for _, spec := range imports {
		list.WriteString("\t" + spec + "\n")
	}
	return fmt.Sprintf(snippetHarness, list.String(), fragment)
}

// TestTheReadmesGoCompiles compiles every Go block of the README with go
// vet: a block that is a whole file ("package main ...") as it is, and a
// fragment inside snippetHarness. A README example that does not build
// fails here, not in a reader's new app.
func TestTheReadmesGoCompiles(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlock.FindAllSubmatch(readme, -1)
	if len(blocks) < 3 {
		t.Fatalf("the README has %d Go blocks; its embedding section has 3", len(blocks))
	}
	// inside the module, so that the blocks build against this very code
	root, err := os.MkdirTemp("..", "_readme-snippets-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	var dirs []string
	for i, block := range blocks {
		src := string(block[1])
		if !strings.HasPrefix(src, "package ") {
			src = inHarness(src)
		}
		dir := filepath.Join(root, fmt.Sprintf("block%d", i+1))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, "./"+filepath.ToSlash(filepath.Join(filepath.Base(root), filepath.Base(dir))))
	}
	vet := exec.Command("go", append([]string{"vet"}, dirs...)...)
	vet.Dir = ".."
	if out, err := vet.CombinedOutput(); err != nil {
		t.Fatalf("a Go block of the README does not build (blockN is the README's Nth Go block):\n%s", out)
	}
}

// readmePolicy is the policy of the README's new app.
var readmePolicy = regexp.MustCompile("Collection: \"(\\w+)\",\\s*\n(?:\\s*//.*\n)*\\s*ImpersonatorRule: `([^`]*)`")

// TestTheReadmesPolicyIsWrittenInANewApp: the policy of the README's new
// app (its first Go block) is valid on PocketBase's default "users"
// collection, so a reader's first start writes it.
func TestTheReadmesPolicyIsWrittenInANewApp(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	first := readmeBlock.FindSubmatch(readme)
	m := readmePolicy.FindSubmatch(first[1])
	if m == nil {
		t.Fatalf("no policy in the README's first Go block:\n%s", first[1])
	}
	app := testapp.New(t)
	pol := plugin.Policy{Collection: string(m[1]), ImpersonatorRule: string(m[2])}
	plugin.MustRegister(app, plugin.Config{Policies: []plugin.Policy{pol}, StrictPolicies: true})
	e := &core.ServeEvent{App: app, Router: router.NewRouter[*core.RequestEvent](nil)}
	if err := app.OnServe().Trigger(e, func(*core.ServeEvent) error { return nil }); err != nil {
		t.Fatalf("the README's policy %+v: %v", pol, err)
	}
	if _, err := records.FindPolicy(app, pol.Collection); err != nil {
		t.Errorf("the README's policy was not written: %v", err)
	}
}
