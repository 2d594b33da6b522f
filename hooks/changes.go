package hooks

import (
	"cmp"
	"strings"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// auditPolicyChange writes a policy's creation, edit or deletion to the
// audit, with the policy before and after, in the transaction of the
// change: a change that cannot be audited does not happen. It runs for
// every save of a policy, through the API, the dashboard or Go code.
func (p *handlers) auditPolicyChange(event string) func(e *core.RecordEvent) error {
	return func(e *core.RecordEvent) error {
		data := map[string]any{"collection": e.Record.GetString("collection")}
		if original := e.Record.Original(); event != audit.PolicyCreated && original != nil {
			data["before"] = original.PublicExport()
		}
		if event != audit.PolicyDeleted {
			data["after"] = e.Record.PublicExport()
		}
		return inTransaction(&e.App, e.Next, func(tx core.App) error {
			return p.opts.Audit.Write(tx, audit.Entry{Event: event, Data: data})
		})
	}
}

// collectionChanged writes to the audit a change of a collection's API
// rules (they decide what an impersonator may do: a rule may read
// @request.headers.x_impersonation_session), and carries a rename of the
// collection or of its fields into the policies that name them (their
// collection, route rules and masked fields), in the transaction of the
// change: a rule denying a collection's records, or a mask hiding a field,
// must not lapse because it got another name. A save that changes neither
// writes nothing.
func (p *handlers) collectionChanged(e *core.CollectionEvent) error {
	if !auditExists(e.App) {
		return e.Next()
	}
	if e.Collection.IsNew() && records.IsSchemaChange(e.Context) {
		// one of the plugin's own collections, made by its schema step
		// (impersonation_requests, whose rules let its users read it): its
		// rules are the plugin's, and a fresh install has no audit key yet
		return e.Next()
	}
	// a collection that did not exist let no one in: as if its rules were
	// all nil (superusers only), so creating one that lets no one in
	// changes nothing (the plugin's own migrations create such collections
	// before the audit key is stored)
	before := nilRules(e.Collection)
	renamedFrom := ""
	var renamedFields map[string]string
	if !e.Collection.IsNew() {
		stored, err := e.App.FindCollectionByNameOrId(e.Collection.Id)
		if err != nil {
			return err
		}
		before = apiRules(stored)
		if stored.Name != e.Collection.Name {
			renamedFrom = stored.Name
		}
		renamedFields = fieldRenames(stored, e.Collection)
	}
	after := apiRules(e.Collection)
	rulesChanged := !rulesEqual(before, after)
	if !rulesChanged && renamedFrom == "" && len(renamedFields) == 0 {
		return e.Next()
	}
	data := map[string]any{"collection": e.Collection.Name, "collectionId": e.Collection.Id, "before": before, "after": after}
	return inTransaction(&e.App, e.Next, func(tx core.App) error {
		if rulesChanged {
			if err := p.opts.Audit.Write(tx, audit.Entry{Event: audit.CollectionRulesChanged, Data: data}); err != nil {
				return err
			}
		}
		if renamedFrom != "" || len(renamedFields) > 0 {
			return renameInPolicies(tx, cmp.Or(renamedFrom, e.Collection.Name), e.Collection.Name, renamedFields)
		}
		return nil
	})
}

// fieldRenames returns the fields of stored that next names otherwise
// (the same field id), old name to new.
func fieldRenames(stored, next *core.Collection) map[string]string {
	renamed := map[string]string{}
	for _, f := range stored.Fields {
		if now := next.Fields.GetById(f.GetId()); now != nil && now.GetName() != f.GetName() {
			renamed[f.GetName()] = now.GetName()
		}
	}
	return renamed
}

// renameInPolicies carries the rename of collection from to to (the same
// when only fields are renamed) and of its fields (old name to new) into
// every policy: its collection, the paths of its route rules that name the
// collection, and its masked fields (each change saved, and so audited, as
// a policy edit). Masks that cannot be read are left as they are: the
// guard refuses every request under them until they are fixed.
func renameInPolicies(tx core.App, from, to string, fields map[string]string) error {
	all, err := tx.FindAllRecords(records.PoliciesCollection)
	if err != nil {
		return err
	}
	for _, r := range all {
		pol := &records.Policy{Record: r}
		changed := false
		if pol.Collection() == from && from != to {
			pol.SetCollection(to)
			changed = true
		}
		for _, field := range []struct {
			get func() ([]string, error)
			set func([]string)
		}{{pol.DeniedRoutes, pol.SetDeniedRoutes}, {pol.AllowedRoutes, pol.SetAllowedRoutes}} {
			rules, err := field.get()
			if err != nil {
				return err
			}
			renamed, n := renameInRules(rules, from, to)
			if n > 0 && from != to {
				field.set(renamed)
				changed = true
			}
		}
		if masked, err := pol.MaskedFields(); err == nil && renameMasks(masked, from, to, fields) {
			pol.SetMaskedFields(masked)
			changed = true
		}
		if changed {
			if err := tx.Save(pol); err != nil {
				return err
			}
		}
	}
	return nil
}

// renameMasks carries into masked (by collection name) the rename of
// collection from to to and of its fields, and reports whether it changed
// anything.
func renameMasks(masked map[string][]string, from, to string, fields map[string]string) bool {
	list, ok := masked[from]
	if !ok {
		return false
	}
	changed := from != to
	renamed := make([]string, len(list))
	for i, f := range list {
		renamed[i] = f
		if now, ok := fields[f]; ok {
			renamed[i], changed = now, true
		}
	}
	if !changed {
		return false
	}
	delete(masked, from)
	masked[to] = append(masked[to], renamed...)
	return true
}

// renameInRules returns rules with the collection from named as to in their
// paths, and how many it changed.
func renameInRules(rules []string, from, to string) ([]string, int) {
	out := make([]string, len(rules))
	n := 0
	for i, rule := range rules {
		out[i] = rule
		method, path, ok := strings.Cut(strings.TrimSpace(rule), " ")
		if !ok {
			continue
		}
		path = strings.TrimSpace(path)
		if m := collectionPath.FindStringSubmatch(strings.TrimSuffix(path, "*")); m != nil && m[2] == from {
			out[i] = method + " /api/" + m[1] + "/" + to + strings.TrimPrefix(path, "/api/"+m[1]+"/"+from)
			n++
		}
	}
	return out, n
}

// auditCollectionDelete writes the deletion of a collection that had API
// rules to the audit, in the transaction of the deletion.
func (p *handlers) auditCollectionDelete(e *core.CollectionEvent) error {
	if !auditExists(e.App) {
		return e.Next()
	}
	data := map[string]any{"collection": e.Collection.Name, "collectionId": e.Collection.Id, "before": apiRules(e.Collection), "after": nil}
	return inTransaction(&e.App, e.Next, func(tx core.App) error {
		return p.opts.Audit.Write(tx, audit.Entry{Event: audit.CollectionRulesChanged, Data: data})
	})
}

// auditExists reports whether the audit collection exists: the migrations
// that create collections before it (a fresh database) have nothing to
// write to.
func auditExists(app core.App) bool {
	_, err := app.FindCachedCollectionByNameOrId(records.AuditCollection)
	return err == nil
}

// inTransaction runs next (the change) and then write (its audit entry) in
// one transaction, with *app set to the transaction meanwhile, as
// PocketBase's own execute hooks do.
func inTransaction(app *core.App, next func() error, write func(tx core.App) error) error {
	original := *app
	defer func() { *app = original }()
	return original.RunInTransaction(func(tx core.App) error {
		*app = tx
		if err := next(); err != nil {
			return err
		}
		return write(tx)
	})
}

// nilRules returns the API rules of c's type by name, all nil (superusers
// only).
func nilRules(c *core.Collection) map[string]any {
	out := apiRules(c)
	for name := range out {
		out[name] = nil
	}
	return out
}

// apiRules returns the API rules of c by name; nil means superusers only.
func apiRules(c *core.Collection) map[string]any {
	rules := map[string]*string{
		"listRule": c.ListRule, "viewRule": c.ViewRule, "createRule": c.CreateRule,
		"updateRule": c.UpdateRule, "deleteRule": c.DeleteRule,
	}
	if c.IsAuth() {
		rules["authRule"], rules["manageRule"] = c.AuthRule, c.ManageRule
	}
	out := make(map[string]any, len(rules))
	for name, rule := range rules {
		if rule == nil {
			out[name] = nil
		} else {
			out[name] = *rule
		}
	}
	return out
}

func rulesEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
