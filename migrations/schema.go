// Package migrations holds the schema of the impersonation plugin: its six
// collections, their fields, indexes and API rules, and the steps that
// brought each database to them. It holds nothing else.
//
// # When the steps run
//
// Each file impersonation_<unix>_<what>.go registers one step as a
// PocketBase system migration (core.SystemMigrations), not as an app
// migration. PocketBase applies the system migrations on every bootstrap,
// before serve, migrate up or a test app applies any of the app's own
// migrations. So on a fresh database the plugin's collections exist before
// the app's first migration, whatever its file name: an app migration may
// refer to them, and an app snapshot (migrate collections) that holds them
// updates them in place instead of failing on a duplicate name. The steps
// are recorded in _migrations under their file names, as they were when
// they ran among the app migrations: a database that applied them then sees
// them applied now, and none runs twice.
//
// Each step is idempotent all the same (a collection is created if missing,
// else brought to the step's shape; a field is added, or its options set,
// by name), so that a database whose _migrations lost the plugin's rows
// (migrate history-sync run without the plugin) starts again.
//
// # What the plugin owns
//
// An app snapshot holds the plugin's collections as they were when it was
// taken. Applied on a fresh database after the plugin's newer steps, it sets
// them back: rules, indexes and field options (it never drops a field, as
// PocketBase imports snapshots without deleting). Ensure, which the plugin
// runs on serve before anything else, after every migration, puts back what
// the plugin owns, and nothing else:
//
//   - the five API rules of each of its collections;
//   - its fields, by name: type and options (hidden, required, values...);
//   - its indexes: those the steps define, and no other index named
//     idx_<collection>_..., which is how the plugin names them.
//
// Whatever an app adds stays: its own fields, and its indexes under other
// names. A change to an owned part made in the dashboard, or by an app
// migration, lasts until the next serve. Ensure saves a collection only
// when something owned differs, and never through an API request, so
// migratecmd's automigrate (which writes a file on collection create,
// update and delete requests only) writes nothing for the plugin.
//
// # Adding a schema change
//
// One new file, impersonation_<unix>_<what>.go, <unix> later than every
// other step's, whose init registers one step:
//
//	func init() {
//		register(step{
//			up: func(s *shape) error {
//				c, err := s.get("impersonation_sessions")
//				if err != nil {
//					return err
//				}
//				c.Fields.Add(&core.TextField{Name: "ticket", Max: 255})
//				c.AddIndex("idx_impersonation_sessions_ticket", false, "`ticket`", "")
//				return nil
//			},
//			// optional: values for the records that exist, set after the
//			// new fields are added and before the new indexes are built
//			fill: func(app core.App, added addedFunc) error {
//				if !added("impersonation_sessions", "ticket") {
//					return nil
//				}
//				_, err := app.DB().NewQuery("UPDATE {{impersonation_sessions}} SET [[ticket]] = 'none'").Execute()
//				return err
//			},
//			down: func(app core.App) error {
//				return apply(app, func(s *shape) error { ... }, nil)
//			},
//		})
//	}
//
// up changes collections as values, and nothing else: applied once to the
// database it is the migration, and replayed with every other step on no
// collection it makes the current schema that Ensure puts back. So the
// change is written once. Names are written out, not taken from the
// plugin's constants, so that a later rename cannot change history. Never
// edit an old step, and never rename or remove a field: an old snapshot
// would bring it back, unowned; add a new field instead.
package migrations

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pocketbase/pocketbase/tools/dbutils"
)

// step is one change of the plugin's schema.
type step struct {
	file string
	// up changes the collections of s (required).
	up func(s *shape) error
	// fill, if set, gives the records that exist values for the new fields
	// of up, before its new indexes are built.
	fill func(app core.App, added addedFunc) error
	// down reverts the step (migrate down).
	down func(app core.App) error
}

// addedFunc reports whether the step being applied added field to the
// existing collection named collection (not to one it created).
type addedFunc func(collection, field string) bool

// steps are the registered steps, in file name order.
var steps []step

// register records st under the name of the file that calls it, and
// registers it as a PocketBase system migration.
func register(st step) {
	_, path, _, _ := runtime.Caller(1)
	st.file = filepath.Base(path)
	steps = append(steps, st)
	slices.SortStableFunc(steps, func(a, b step) int { return strings.Compare(a.file, b.file) })
	core.SystemMigrations.Register(func(app core.App) error {
		return apply(app, st.up, st.fill)
	}, st.down, st.file)
}

// shape is a set of collections, worked on as values.
type shape struct {
	list []*core.Collection
}

// get returns the collection named name.
func (s *shape) get(name string) (*core.Collection, error) {
	for _, c := range s.list {
		if c.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("impersonation: no collection %s", name)
}

// define adds c, or, if a collection of its name is there, gives that one
// c's rules, fields and indexes.
func (s *shape) define(c *core.Collection) {
	if have, err := s.get(c.Name); err == nil {
		own(have, c, false)
		return
	}
	s.list = append(s.list, c)
}

// current returns the plugin's current schema: every step replayed on no
// collection.
func current() (*shape, error) {
	s := &shape{}
	for _, st := range steps {
		if err := st.up(s); err != nil {
			return nil, fmt.Errorf("impersonation: schema step %s: %w", st.file, err)
		}
	}
	return s, nil
}

// load returns the plugin's collections that app holds.
func load(app core.App) (*shape, error) {
	want, err := current()
	if err != nil {
		return nil, err
	}
	s := &shape{}
	for _, w := range want.list {
		c, err := app.FindCollectionByNameOrId(w.Name)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return nil, err
		}
		s.list = append(s.list, c)
	}
	return s, nil
}

// apply runs up on the plugin's collections of app and saves those it
// changed. With fill, the collections that existed are first saved with
// their new fields and old indexes, then fill runs, then the new indexes
// are built.
func apply(app core.App, up func(s *shape) error, fill func(core.App, addedFunc) error) error {
	s, err := load(app)
	if err != nil {
		return err
	}
	saved := map[*core.Collection]string{}
	fields := map[string]map[string]bool{}
	indexes := map[*core.Collection][]string{}
	for _, c := range s.list {
		saved[c] = marshal(c)
		fields[c.Name] = map[string]bool{}
		for _, f := range c.Fields {
			fields[c.Name][f.GetName()] = true
		}
		indexes[c] = slices.Clone(c.Indexes)
	}
	if err := up(s); err != nil {
		return err
	}
	save := func(c *core.Collection) error {
		now := marshal(c)
		if old, ok := saved[c]; ok && old == now {
			return nil
		}
		if err := app.SaveWithContext(records.SchemaChange(context.Background()), c); err != nil {
			return fmt.Errorf("impersonation: save collection %s: %w", c.Name, err)
		}
		saved[c] = marshal(c)
		return nil
	}
	if fill != nil {
		for _, c := range s.list {
			old, existed := indexes[c]
			if !existed {
				continue
			}
			built := c.Indexes
			c.Indexes = old
			if err := save(c); err != nil {
				return err
			}
			c.Indexes = built
		}
		added := func(collection, field string) bool {
			had, existed := fields[collection]
			if !existed {
				return false
			}
			c, err := s.get(collection)
			return err == nil && !had[field] && c.Fields.GetByName(field) != nil
		}
		if err := fill(app, added); err != nil {
			return err
		}
	}
	for _, c := range s.list {
		if err := save(c); err != nil {
			return err
		}
	}
	return nil
}

// Ensure gives the plugin's collections in app what the plugin owns of
// them (see the package doc), creating any that is missing, and saves only
// those in which something owned differs. The plugin runs it on serve,
// after every migration.
func Ensure(app core.App) error {
	want, err := current()
	if err != nil {
		return err
	}
	return app.RunInTransaction(func(tx core.App) error {
		for _, w := range want.list {
			have, err := tx.FindCollectionByNameOrId(w.Name)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if err := tx.SaveWithContext(records.SchemaChange(context.Background()), w); err != nil {
					return fmt.Errorf("impersonation: create collection %s: %w", w.Name, err)
				}
				continue
			case err != nil:
				return err
			}
			renamed := have.Name != w.Name // found in any letter case: the plugin names them exactly
			have.Name = w.Name
			if changed := own(have, w, true); !changed && !renamed {
				continue
			}
			if err := tx.SaveWithContext(records.SchemaChange(context.Background()), have); err != nil {
				return fmt.Errorf("impersonation: restore the schema of collection %s: %w", w.Name, err)
			}
		}
		return nil
	})
}

// own gives have the rules, fields (by name) and indexes (by name) of
// want, and reports whether that changed anything. With prune, it also
// drops the indexes named as the plugin names its own (idx_<collection>_...)
// that want does not have.
func own(have, want *core.Collection, prune bool) (changed bool) {
	for _, rule := range []struct{ have, want **string }{
		{&have.ListRule, &want.ListRule}, {&have.ViewRule, &want.ViewRule},
		{&have.CreateRule, &want.CreateRule}, {&have.UpdateRule, &want.UpdateRule},
		{&have.DeleteRule, &want.DeleteRule},
	} {
		if !sameRule(*rule.have, *rule.want) {
			*rule.have = *rule.want
			changed = true
		}
	}

	for _, f := range want.Fields {
		if f.GetSystem() {
			continue
		}
		if existing := have.Fields.GetByName(f.GetName()); existing != nil {
			f.SetId(existing.GetId()) // the same column
			if sameField(existing, f) {
				continue
			}
		}
		have.Fields.Add(f)
		changed = true
	}

	wanted := map[string]bool{}
	for _, idx := range want.Indexes {
		parsed := dbutils.ParseIndex(idx)
		wanted[strings.ToLower(parsed.IndexName)] = true
		i := slices.IndexFunc(have.Indexes, func(h string) bool {
			return strings.EqualFold(dbutils.ParseIndex(h).IndexName, parsed.IndexName)
		})
		switch {
		case i < 0:
			have.Indexes = append(have.Indexes, idx)
			changed = true
		case dbutils.ParseIndex(have.Indexes[i]).Build() != parsed.Build():
			have.Indexes[i] = idx
			changed = true
		}
	}
	if prune {
		prefix := strings.ToLower("idx_" + have.Name + "_")
		before := len(have.Indexes)
		have.Indexes = slices.DeleteFunc(have.Indexes, func(h string) bool {
			name := strings.ToLower(dbutils.ParseIndex(h).IndexName)
			return strings.HasPrefix(name, prefix) && !wanted[name]
		})
		changed = changed || len(have.Indexes) != before
	}
	return changed
}

// sameRule tells whether two API rules are the same: both nil (superusers
// only), or the same text.
func sameRule(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// sameField tells whether two fields are the same, as PocketBase stores
// them (their JSON in a collection's fields). reflect.DeepEqual answers
// most pairs without encoding them; it only says "different" where the
// stored form may still agree (a nil slice, stored as an empty one).
func sameField(a, b core.Field) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, errA := core.FieldsList{a}.MarshalJSON()
	jb, errB := core.FieldsList{b}.MarshalJSON()
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// marshal is the JSON of c, to tell whether a change changed anything.
func marshal(c *core.Collection) string {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprintf("unmarshalable %p", c) // never equal: saved
	}
	return string(b)
}
