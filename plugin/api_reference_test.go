package plugin_test

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/pbimpersonation/impersonation/plugin"
)

// apiReference is the reference of the plugin's routes.
const apiReference = "../docs/API.md"

// answers are the statuses the tests of this package got from each of the
// plugin's routes (by route pattern, "POST /api/impersonation/sessions"),
// recorded by the test apps of newTestApp.
var answers = struct {
	sync.Mutex
	got map[string]map[int]bool
}{got: map[string]map[int]bool{}}

// recordAnswer notes the status that re, done with err, was answered with,
// when its route is one of the plugin's.
func recordAnswer(re *core.RequestEvent, err error) {
	if !strings.Contains(re.Request.Pattern, " /api/impersonation/") {
		return
	}
	status := 0
	if st, ok := re.Response.(router.StatusTracker); ok {
		status = st.Status()
	}
	if err != nil && status == 0 {
		status = router.ToApiError(err).Status
	}
	if status == 0 {
		status = 200
	}
	answers.Lock()
	defer answers.Unlock()
	if answers.got[re.Request.Pattern] == nil {
		answers.got[re.Request.Pattern] = map[int]bool{}
	}
	answers.got[re.Request.Pattern][status] = true
}

// documented is a route of the reference and the statuses it lists.
type documented struct {
	pattern  string
	statuses []int
}

var (
	routeHeading = regexp.MustCompile("^### `((?:GET|POST|PUT|PATCH|DELETE) /api/impersonation/\\S*)`$")
	statusRow    = regexp.MustCompile(`^\| (\d{3}) \|`)
)

// readReference returns the routes of docs/API.md: a "### `METHOD path`"
// heading each, with the statuses of its table's rows ("| 200 | ...").
func readReference() ([]documented, error) {
	f, err := os.Open(apiReference)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var routes []documented
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := lines.Text()
		if m := routeHeading.FindStringSubmatch(line); m != nil {
			routes = append(routes, documented{pattern: m[1]})
		} else if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "### ") {
			routes = append(routes, documented{}) // another section: its rows are no route's
		}
		if m := statusRow.FindStringSubmatch(line); m != nil && len(routes) > 0 && routes[len(routes)-1].pattern != "" {
			n, _ := strconv.Atoi(m[1])
			routes[len(routes)-1].statuses = append(routes[len(routes)-1].statuses, n)
		}
	}
	return slices.DeleteFunc(routes, func(r documented) bool { return r.pattern == "" }), lines.Err()
}

// registeredRoutes returns the patterns of the plugin's routes, as its
// OnServe handlers register them on a router.
func registeredRoutes(t testing.TB) []string {
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	e := new(core.ServeEvent)
	e.App = app
	e.Router = router.NewRouter[*core.RequestEvent](nil)
	if err := app.OnServe().Trigger(e, func(*core.ServeEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var patterns []string
	var walk func(group reflect.Value, prefix string)
	walk = func(group reflect.Value, prefix string) {
		prefix += group.FieldByName("Prefix").String()
		children := group.FieldByName("children")
		for i := range children.Len() {
			child := children.Index(i).Elem().Elem()
			if child.FieldByName("Method").IsValid() {
				path := prefix + child.FieldByName("Path").String()
				if strings.HasPrefix(path, "/api/impersonation/") {
					patterns = append(patterns, child.FieldByName("Method").String()+" "+path)
				}
				continue
			}
			walk(child, prefix)
		}
	}
	walk(reflect.ValueOf(e.Router.RouterGroup).Elem(), "")
	slices.Sort(patterns)
	return patterns
}

// TestTheAPIReferenceNamesEveryRoute: docs/API.md has a section for each
// route the plugin registers under /api/impersonation/, and for no other.
func TestTheAPIReferenceNamesEveryRoute(t *testing.T) {
	t.Parallel()
	reference, err := readReference()
	if err != nil {
		t.Fatal(err)
	}
	var inReference []string
	for _, r := range reference {
		inReference = append(inReference, r.pattern)
		if len(r.statuses) == 0 {
			t.Errorf("%s: the reference lists no answer", r.pattern)
		}
	}
	slices.Sort(inReference)
	if got := registeredRoutes(t); !slices.Equal(got, inReference) {
		t.Errorf("registered routes:\n  %s\nthe reference's:\n  %s", strings.Join(got, "\n  "), strings.Join(inReference, "\n  "))
	}
}

// ranEverything reports whether this run ran every test of the package
// (no -run, -skip or -short), so that the answers recorded are all the
// tests exercise.
func ranEverything() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return !testing.Short()
}

// checkAnswersDocumented compares the statuses the tests got from each
// route with the ones docs/API.md lists: every status a test got is
// documented, and every documented one but 500 (a failing database) is
// exercised by a test. It prints what differs and returns the exit code.
func checkAnswersDocumented() int {
	reference, err := readReference()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := 0
	for _, r := range reference {
		answers.Lock()
		got := answers.got[r.pattern]
		answers.Unlock()
		for status := range got {
			if !slices.Contains(r.statuses, status) {
				fmt.Fprintf(os.Stderr, "docs/API.md: %s answers %d in the tests, which the reference does not list\n", r.pattern, status)
				code = 1
			}
		}
		for _, status := range r.statuses {
			if status != 500 && !got[status] {
				fmt.Fprintf(os.Stderr, "docs/API.md: %s lists %d, which no test of ./plugin exercises\n", r.pattern, status)
				code = 1
			}
		}
	}
	return code
}
