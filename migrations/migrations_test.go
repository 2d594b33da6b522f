package migrations_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/plugins/migratecmd"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/pocketbase/pocketbase/tools/types"
	"github.com/spf13/cobra"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

// The apps of these tests are what a deploy runs: PocketBase's own app with
// the jsvm plugin (the app's migrations are JS files in a directory),
// migratecmd (its snapshots and automigrate), and the impersonation plugin.
// serve is emulated as apis.Serve runs it: bootstrap (which applies the
// system migrations), every migration, then the OnServe hooks.

// pluginStep is how the plugin's steps are named in _migrations.
const pluginStep = "impersonation_"

var testKey = []byte("0123456789abcdef0123456789abcdef")

// app is an app of a test, with its migrate command.
type app struct {
	core.App
	root    *cobra.Command
	stopped bool
}

// version is which of the plugin's steps an app has: all of them, none (an
// app without the plugin), or those up to a file (an older release).
type version struct {
	plugin bool
	upTo   string // "" means every step
}

var (
	current = version{plugin: true}
	without = version{}
)

// The migration lists as the imports made them: the plugin's steps among
// PocketBase's system migrations, no app migration.
var (
	baseSystem = slices.Clone(core.SystemMigrations.Items())
	baseApp    = slices.Clone(core.AppMigrations.Items())
)

// newApp makes an app on dataDir whose own migrations are the JS files of
// migrationsDir, with the plugin's steps of v. It is bootstrapped (system
// migrations applied) and stopped when t ends. PocketBase's migration lists
// are global: newApp sets them for this app (jsvm adds the JS files to
// core.AppMigrations), so an app is migrated before the next is made.
func newApp(t *testing.T, dataDir, migrationsDir string, v version, automigrate bool) *app {
	t.Helper()
	core.SystemMigrations, core.AppMigrations = core.MigrationsList{}, core.MigrationsList{}
	for _, m := range baseSystem {
		if strings.HasPrefix(m.File, pluginStep) && (!v.plugin || (v.upTo != "" && m.File > v.upTo)) {
			continue
		}
		core.SystemMigrations.Add(m)
	}
	for _, m := range baseApp {
		core.AppMigrations.Add(m)
	}
	a := &app{App: core.NewBaseApp(core.BaseAppConfig{DataDir: dataDir}), root: &cobra.Command{Use: "app"}}
	hooksDir := t.TempDir()
	jsvm.MustRegister(a, jsvm.Config{MigrationsDir: migrationsDir, HooksDir: hooksDir, TypesDir: hooksDir})
	migratecmd.MustRegister(a, a.root, migratecmd.Config{TemplateLang: migratecmd.TemplateLangJS, Dir: migrationsDir, Automigrate: automigrate})
	if v.plugin {
		plugin.MustRegister(a, plugin.Config{AuditKey: testKey})
	}
	if err := a.Bootstrap(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	t.Cleanup(func() { a.stop(t) })
	return a
}

// stop ends the app as PocketBase does when its command returns.
func (a *app) stop(t *testing.T) {
	t.Helper()
	if a.stopped {
		return
	}
	a.stopped = true
	err := a.OnTerminate().Trigger(&core.TerminateEvent{App: a}, func(e *core.TerminateEvent) error {
		return e.App.ResetBootstrapState()
	})
	if err != nil {
		t.Error(err)
	}
}

// migrate applies every migration, as serve, migrate up and a test app do.
func (a *app) migrate(t *testing.T) error {
	t.Helper()
	return a.RunAllMigrations()
}

// serve applies every migration and runs the OnServe hooks, as apis.Serve
// does before it listens.
func (a *app) serve(t *testing.T) error {
	t.Helper()
	if err := a.migrate(t); err != nil {
		return err
	}
	e := &core.ServeEvent{App: a, Router: router.NewRouter[*core.RequestEvent](nil)}
	return a.OnServe().Trigger(e, func(*core.ServeEvent) error { return nil })
}

// snapshot runs `migrate collections` and returns the file it wrote.
func (a *app) snapshot(t *testing.T, dir string) string {
	t.Helper()
	before, _ := filepath.Glob(filepath.Join(dir, "*.js"))
	yes := filepath.Join(t.TempDir(), "yes")
	if err := os.WriteFile(yes, []byte("y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdin, err := os.Open(yes)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	saved := os.Stdin
	os.Stdin = stdin // the command asks for a confirmation
	defer func() { os.Stdin = saved }()
	a.root.SetArgs([]string{"migrate", "collections"})
	if err := a.root.Execute(); err != nil {
		t.Fatalf("migrate collections: %v", err)
	}
	after, _ := filepath.Glob(filepath.Join(dir, "*.js"))
	for _, f := range after {
		if !slices.Contains(before, f) {
			return f
		}
	}
	t.Fatal("migrate collections wrote no file")
	return ""
}

// owned is what the plugin owns of its collections in a: the rules, each
// field (without its id) and the indexes named idx_<collection>_...
func owned(t *testing.T, a core.App) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, name := range records.Names {
		c, err := a.FindCollectionByNameOrId(name)
		if err != nil {
			t.Fatalf("collection %s: %v", name, err)
		}
		rules := []any{}
		for _, r := range []*string{c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule} {
			if r == nil {
				rules = append(rules, nil)
			} else {
				rules = append(rules, *r)
			}
		}
		fields := map[string]any{}
		for _, f := range c.Fields {
			raw, _ := json.Marshal(f)
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			delete(m, "id")
			fields[f.GetName()] = m
		}
		var indexes []string
		for _, idx := range c.Indexes {
			if strings.Contains(idx, "`idx_"+name+"_") {
				indexes = append(indexes, idx)
			}
		}
		slices.Sort(indexes)
		out[name] = map[string]any{"rules": rules, "fields": fields, "indexes": indexes}
	}
	return out
}

// reference is what the plugin owns on a database that has only it.
func reference(t *testing.T) map[string]any {
	t.Helper()
	a := newApp(t, t.TempDir(), t.TempDir(), current, false)
	if err := a.serve(t); err != nil {
		t.Fatal(err)
	}
	return owned(t, a)
}

// sameOwned fails t unless a holds the plugin's collections as they are on
// a database that has only the plugin (app fields and indexes aside).
func sameOwned(t *testing.T, a core.App, want map[string]any) {
	t.Helper()
	got := owned(t, a)
	for name, w := range want {
		g := got[name].(map[string]any)
		w := w.(map[string]any)
		if !reflect.DeepEqual(g["rules"], w["rules"]) {
			t.Errorf("%s rules: %v, want %v", name, g["rules"], w["rules"])
		}
		if !reflect.DeepEqual(g["indexes"], w["indexes"]) {
			t.Errorf("%s indexes:\n%v\nwant\n%v", name, g["indexes"], w["indexes"])
		}
		gf := g["fields"].(map[string]any)
		for field, wantField := range w["fields"].(map[string]any) {
			if !reflect.DeepEqual(gf[field], wantField) {
				t.Errorf("%s field %s: %v, want %v", name, field, gf[field], wantField)
			}
		}
	}
}

// TestFreshDeployWithASnapshot is issue 13's deploy: the app's snapshot
// (migrate collections) holds the plugin's collections, and a fresh data
// directory boots with it, its own collections and the plugin's as they are.
func TestFreshDeployWithASnapshot(t *testing.T) {
	want := reference(t)
	dir := t.TempDir()

	dev := newApp(t, t.TempDir(), dir, current, false)
	if err := dev.serve(t); err != nil {
		t.Fatal(err)
	}
	notes := core.NewBaseCollection("notes")
	notes.Fields.Add(&core.TextField{Name: "text"})
	if err := dev.Save(notes); err != nil {
		t.Fatal(err)
	}
	file := dev.snapshot(t, dir)
	raw, _ := os.ReadFile(file)
	if !strings.Contains(string(raw), `"impersonation_audit"`) || !strings.Contains(string(raw), `"notes"`) {
		t.Fatalf("the snapshot does not hold the plugin's and the app's collections:\n%.300s", raw)
	}

	prod := newApp(t, t.TempDir(), dir, current, false)
	if err := prod.serve(t); err != nil {
		t.Fatalf("a fresh deploy does not boot: %v", err)
	}
	if _, err := prod.FindCollectionByNameOrId("notes"); err != nil {
		t.Errorf("the app's collection: %v", err)
	}
	sameOwned(t, prod, want)
	applied := appliedFiles(t, prod)
	if !slices.Contains(applied, filepath.Base(file)) {
		t.Errorf("the snapshot was not applied: %v", applied)
	}
}

// TestAppMigrationRefersToThePlugin: an app migration that sorts before
// every other file names a plugin collection, on a fresh database.
func TestAppMigrationRefersToThePlugin(t *testing.T) {
	dir := t.TempDir()
	js := `migrate((app) => {
  const sessions = app.findCollectionByNameOrId("impersonation_sessions");
  const tickets = new Collection({
    type: "base",
    name: "tickets",
    fields: [{ type: "relation", name: "session", collectionId: sessions.id, maxSelect: 1 }],
  });
  app.save(tickets);
}, (app) => {});
`
	if err := os.WriteFile(filepath.Join(dir, "1000000000_tickets.js"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	a := newApp(t, t.TempDir(), dir, current, false)
	if err := a.serve(t); err != nil {
		t.Fatalf("the app's migration could not refer to the plugin's collection: %v", err)
	}
	tickets, err := a.FindCollectionByNameOrId("tickets")
	if err != nil {
		t.Fatal(err)
	}
	sessions, _ := a.FindCollectionByNameOrId("impersonation_sessions")
	if rel, ok := tickets.Fields.GetByName("session").(*core.RelationField); !ok || rel.CollectionId != sessions.Id {
		t.Errorf("tickets.session: %#v", tickets.Fields.GetByName("session"))
	}
}

// TestPluginAddedAfterTheFirstSnapshot: the app snapshots its collections
// before it adds the plugin. An existing database gets the plugin's
// collections on its next start, and a fresh one boots with the snapshot,
// which does not delete them.
func TestPluginAddedAfterTheFirstSnapshot(t *testing.T) {
	want := reference(t)
	dir := t.TempDir()
	data := t.TempDir()

	before := newApp(t, data, dir, without, false)
	if err := before.serve(t); err != nil {
		t.Fatal(err)
	}
	if _, err := before.FindCollectionByNameOrId(records.AuditCollection); err == nil {
		t.Fatal("the app without the plugin has its collections: the test does not test")
	}
	notes := core.NewBaseCollection("notes")
	if err := before.Save(notes); err != nil {
		t.Fatal(err)
	}
	before.snapshot(t, dir)
	before.stop(t)

	t.Run("existing database", func(t *testing.T) {
		after := newApp(t, data, dir, current, false)
		if err := after.serve(t); err != nil {
			t.Fatal(err)
		}
		sameOwned(t, after, want)
	})
	t.Run("fresh database", func(t *testing.T) {
		fresh := newApp(t, t.TempDir(), dir, current, false)
		if err := fresh.serve(t); err != nil {
			t.Fatal(err)
		}
		sameOwned(t, fresh, want)
		if _, err := fresh.FindCollectionByNameOrId("notes"); err != nil {
			t.Error(err)
		}
	})
}

// TestOldSnapshotNeverRollsBackThePlugin: the app's snapshot was taken
// under an older release of the plugin (before its audit indexes, private
// fields and end causes), with a rule the plugin does not have. Applied
// after the newer steps on a fresh database it sets them back; the plugin
// puts them back on serve. An existing database upgrades in place.
func TestOldSnapshotNeverRollsBackThePlugin(t *testing.T) {
	want := reference(t)
	dir := t.TempDir()
	older := version{plugin: true, upTo: "impersonation_1764057600_notifications.go"}
	data := t.TempDir()

	dev := newApp(t, data, dir, older, false)
	if err := dev.migrate(t); err != nil { // serve would give it the current schema
		t.Fatal(err)
	}
	audit, _ := dev.FindCollectionByNameOrId(records.AuditCollection)
	audit.ListRule = types.Pointer("") // everyone: not the plugin's rule
	if err := dev.Save(audit); err != nil {
		t.Fatal(err)
	}
	dev.snapshot(t, dir)
	dev.stop(t)

	t.Run("fresh database", func(t *testing.T) {
		prod := newApp(t, t.TempDir(), dir, current, false)
		if err := prod.migrate(t); err != nil {
			t.Fatal(err)
		}
		// the snapshot did set the plugin back: what the test is about
		rolled, _ := prod.FindCollectionByNameOrId(records.AuditCollection)
		if rolled.ListRule == nil || *rolled.ListRule != "" || rolled.Fields.GetByName("ip").GetHidden() {
			t.Fatalf("the old snapshot did not set the audit back (rule %v): the test does not test", rolled.ListRule)
		}
		if err := prod.serve(t); err != nil {
			t.Fatal(err)
		}
		sameOwned(t, prod, want)
	})
	t.Run("existing database", func(t *testing.T) {
		upgraded := newApp(t, data, dir, current, false)
		if err := upgraded.serve(t); err != nil {
			t.Fatal(err)
		}
		sameOwned(t, upgraded, want)
	})
}

// TestAutomigrateWritesNothingForThePlugin: with migratecmd's automigrate
// on, as under go run, the plugin's steps and the schema it puts back on
// serve write no migration file into the app's directory; an edit made
// through the collections API does.
func TestAutomigrateWritesNothingForThePlugin(t *testing.T) {
	dir := t.TempDir()
	older := version{plugin: true, upTo: "impersonation_1764057600_notifications.go"}
	dev := newApp(t, t.TempDir(), dir, older, false)
	if err := dev.migrate(t); err != nil {
		t.Fatal(err)
	}
	dev.snapshot(t, dir)

	prod := newApp(t, t.TempDir(), dir, current, true)
	if err := prod.serve(t); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 {
		t.Errorf("automigrate wrote files for the plugin: %v", files)
	}

	// the same directory does get a file from a collection API request
	e := &core.CollectionRequestEvent{RequestEvent: &core.RequestEvent{App: prod}}
	e.Collection = core.NewBaseCollection("notes")
	err := prod.OnCollectionCreateRequest().Trigger(e, func(e *core.CollectionRequestEvent) error {
		return e.App.Save(e.Collection)
	})
	if err != nil {
		t.Fatal(err)
	}
	files, _ = filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 {
		t.Errorf("automigrate is not on: %v", files)
	}
}

// stepFiles is how many steps the package holds: one a file,
// impersonation_<unix>_<what>.go.
func stepFiles(t testing.TB) int {
	t.Helper()
	files, err := filepath.Glob("impersonation_*.go")
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// TestExistingDatabaseRunsNoStepTwice: a database that applied the steps
// (as app migrations, before they were system ones, under the same file
// names) applies none again, and Ensure saves nothing on it.
func TestExistingDatabaseRunsNoStepTwice(t *testing.T) {
	data := t.TempDir()
	a := newApp(t, data, t.TempDir(), current, false)
	if err := a.serve(t); err != nil {
		t.Fatal(err)
	}
	rows := appliedRows(t, a)
	if len(rows) != stepFiles(t) {
		t.Fatalf("%d steps applied, want %d: %v", len(rows), stepFiles(t), rows)
	}
	updated := map[string]types.DateTime{}
	for _, name := range records.Names {
		c, _ := a.FindCollectionByNameOrId(name)
		updated[name] = c.Updated
	}
	a.stop(t)

	again := newApp(t, data, t.TempDir(), current, false)
	if err := again.serve(t); err != nil {
		t.Fatal(err)
	}
	if got := appliedRows(t, again); !reflect.DeepEqual(got, rows) {
		t.Errorf("steps applied again:\n%v\nwant\n%v", got, rows)
	}
	for _, name := range records.Names {
		c, _ := again.FindCollectionByNameOrId(name)
		if !c.Updated.Equal(updated[name]) {
			t.Errorf("%s was saved again on serve", name)
		}
	}
}

// TestStepsRunAgainKeepData: the plugin's rows of _migrations are gone
// (migrate history-sync run by a build without the plugin), so every step
// runs again on collections that hold records: none fails, and no value
// is filled twice.
func TestStepsRunAgainKeepData(t *testing.T) {
	want := reference(t)
	data := t.TempDir()
	a := newApp(t, data, t.TempDir(), current, false)
	if err := a.serve(t); err != nil {
		t.Fatal(err)
	}
	_, err := a.DB().NewQuery("INSERT INTO {{impersonation_audit}} ([[id]], [[event]], [[seq]]) VALUES ('aaaaaaaaaaaaaaa', 'x', 41)").Execute()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := records.NewPolicy(a)
	if err != nil {
		t.Fatal(err)
	}
	pol.SetCollection("users")
	pol.SetConsent(records.ConsentRequired)
	pol.SetMaxMinutes(60)
	pol.SetModes([]records.Mode{records.ModeRead})
	pol.SetAttemptsPerMinute(5)
	pol.SetConsentMaxHours(1)
	pol.SetShowLiveSessions(false)
	pol.SetNotifyTarget(false)
	if err := a.Save(pol); err != nil {
		t.Fatal(err)
	}
	_, err = a.DB().Delete(core.DefaultMigrationsTable, dbx.NewExp("[[file]] LIKE 'impersonation_%'")).Execute()
	if err != nil {
		t.Fatal(err)
	}
	a.stop(t)

	again := newApp(t, data, t.TempDir(), current, false)
	if err := again.serve(t); err != nil {
		t.Fatal(err)
	}
	if n := len(appliedRows(t, again)); n != stepFiles(t) {
		t.Errorf("%d steps recorded, want %d", n, stepFiles(t))
	}
	sameOwned(t, again, want)
	var seq int
	if err := again.DB().NewQuery("SELECT [[seq]] FROM {{impersonation_audit}} WHERE [[id]] = 'aaaaaaaaaaaaaaa'").Row(&seq); err != nil || seq != 41 {
		t.Errorf("seq %d (%v), want 41: filled again", seq, err)
	}
	p, err := records.FindPolicy(again, "users")
	if err != nil {
		t.Fatal(err)
	}
	if p.ShowLiveSessions() || p.NotifyTarget() {
		t.Error("the policy's choices were filled again")
	}
}

// TestEnsureKeepsAppAdditions: an app's own field and index on a plugin
// collection stay; the plugin's rule, field options and indexes come back
// when the app serves. (The changes are made before: once it serves, the
// plugin's hooks refuse them.)
func TestEnsureKeepsAppAdditions(t *testing.T) {
	want := reference(t)
	a := newApp(t, t.TempDir(), t.TempDir(), current, false)
	c, err := a.FindCollectionByNameOrId(records.SessionsCollection)
	if err != nil {
		t.Fatal(err)
	}
	c.Fields.Add(&core.TextField{Name: "ticket"})
	c.AddIndex("idx_ticket", false, "`ticket`", "")
	c.ViewRule = types.Pointer("")
	c.RemoveIndex("idx_impersonation_sessions_actor")
	c.AddIndex("idx_impersonation_sessions_stale", false, "`reason`", "")
	c.Fields.GetByName("ip").SetHidden(false)
	if err := a.Save(c); err != nil {
		t.Fatal(err)
	}
	if err := a.serve(t); err != nil {
		t.Fatal(err)
	}
	sameOwned(t, a, want)
	c, _ = a.FindCollectionByNameOrId(records.SessionsCollection)
	if c.Fields.GetByName("ticket") == nil || c.GetIndex("idx_ticket") == "" {
		t.Errorf("the app's field or index is gone: %v", c.Indexes)
	}
}

func appliedRows(t *testing.T, a core.App) map[string]int64 {
	t.Helper()
	var rows []struct {
		File    string `db:"file"`
		Applied int64  `db:"applied"`
	}
	err := a.DB().Select("file", "applied").From(core.DefaultMigrationsTable).
		Where(dbx.NewExp("[[file]] LIKE 'impersonation_%'")).All(&rows)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.File] = r.Applied
	}
	return out
}

func appliedFiles(t *testing.T, a core.App) []string {
	t.Helper()
	var files []string
	if err := a.DB().Select("file").From(core.DefaultMigrationsTable).Column(&files); err != nil {
		t.Fatal(err)
	}
	return files
}

// TestEnsureRestoresEachOwnedPart: each owned part changed alone (so that
// no other change makes Ensure save the collection) is put back on serve.
func TestEnsureRestoresEachOwnedPart(t *testing.T) {
	want := reference(t)
	for _, tc := range []struct {
		name   string
		change func(c *core.Collection)
	}{
		{"a rule", func(c *core.Collection) { c.ViewRule = types.Pointer("") }},
		{"a rule made superusers-only", func(c *core.Collection) { c.ListRule = nil }},
		{"a field's option", func(c *core.Collection) { c.Fields.GetByName("ip").SetHidden(false) }},
		{"an index removed", func(c *core.Collection) { c.RemoveIndex("idx_impersonation_sessions_actor") }},
		{"an index of the plugin's name added", func(c *core.Collection) {
			c.AddIndex("idx_impersonation_sessions_stale", false, "`reason`", "")
		}},
		{"an index's columns", func(c *core.Collection) {
			c.RemoveIndex("idx_impersonation_sessions_actor")
			c.AddIndex("idx_impersonation_sessions_actor", false, "`reason`", "")
		}},
		{"the name's letter case", func(c *core.Collection) { c.Name = strings.ToUpper(c.Name) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// changed before serve: once served, the plugin refuses it
			a := newApp(t, t.TempDir(), t.TempDir(), current, false)
			c, err := a.FindCollectionByNameOrId(records.SessionsCollection)
			if err != nil {
				t.Fatal(err)
			}
			tc.change(c)
			if err := a.Save(c); err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(owned(t, a), want) && c.Name == records.SessionsCollection {
				t.Fatal("the change changed nothing the plugin owns")
			}
			if err := a.serve(t); err != nil {
				t.Fatal(err)
			}
			sameOwned(t, a, want)
			if c, _ := a.FindCollectionByNameOrId(records.SessionsCollection); c.Name != records.SessionsCollection {
				t.Errorf("the collection is named %q", c.Name)
			}
		})
	}
}
