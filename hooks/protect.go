package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/limits"
	"github.com/pbimpersonation/impersonation/internal/policy"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
)

// refuseRecordChange refuses every API create, update and delete of audit
// entries, sessions and consents, superusers and the dashboard included:
// they change only through the plugin's rules.
func refuseRecordChange(e *core.RecordRequestEvent) error {
	if e.Collection.Name == records.AuditCollection {
		return refuse(http.StatusForbidden, refusals.CodeAuditAppendOnly, nil)
	}
	return refuse(http.StatusForbidden, refusals.CodeRecordsByRoutes, nil)
}

// truncatePattern is the route pattern of PocketBase's truncate endpoint.
const truncatePattern = "DELETE /api/collections/{collection}/truncate"

// refuseTruncate refuses to empty one of the plugin's collections (PocketBase
// has no request hook for truncation, so this is a router middleware).
func refuseTruncate(e *core.RequestEvent) error {
	if e.Request.Pattern == truncatePattern && isPluginCollection(e.App, e.Request.PathValue("collection")) {
		return refuse(http.StatusForbidden, refusals.CodeNoTruncate, nil)
	}
	return e.Next()
}

func refuseCollectionDelete(e *core.CollectionRequestEvent) error {
	if slices.Contains(records.Names, e.Collection.Name) {
		return refuse(http.StatusForbidden, refusals.CodeNoCollectionDelete, nil)
	}
	return e.Next()
}

// refuseCollectionUpdate answers, with its code, an update that
// keepPluginShape would refuse: a change of the collections whose records
// only the plugin writes, or of what the plugin owns of the policies
// collection (its API rules: an opened rule would let others read, create
// or change the policies that decide who may impersonate whom; its fields
// and indexes, which its checks read).
// Which collection it is, is read from the stored one (by id): the
// request's body, which may rename it, is already bound to e.Collection.
func refuseCollectionUpdate(e *core.CollectionRequestEvent) error {
	stored, err := e.App.FindCollectionByNameOrId(e.Collection.Id)
	if err != nil {
		return e.InternalServerError("", err)
	}
	if !slices.Contains(records.Names, stored.Name) {
		return e.Next()
	}
	if stored.Name != records.PoliciesCollection {
		return refuse(http.StatusForbidden, refusals.CodeNoCollectionChange, nil)
	}
	if reshapes(stored, e.Collection) {
		return refuse(http.StatusForbidden, refusals.CodeNoCollectionChange, nil)
	}
	return e.Next()
}

// keepPluginShape refuses, however a collection is saved or deleted (the
// collections API, an import, which saves without validating, Go code), to
// delete one of the plugin's collections or to reshape it: to rename it
// (in letter case too: its hooks, refusals and checks name it exactly), to
// change the rules, fields or indexes of the sessions, consents, audit and
// settings collections, or to change the rules, or an existing field or
// index, of the policies collection (an app may add its own fields and
// indexes there). Only the plugin's own schema saves, marked with
// records.SchemaChange, reshape them. It holds once the app serves: the
// app's migrations and snapshots, applied before, may hold older shapes of
// the plugin's collections, which the plugin puts back on serve.
func (p *handlers) keepPluginShape(app core.App, c *core.Collection, ctx context.Context, deleting bool) error {
	if !p.serving.Load() || c.IsNew() || records.IsSchemaChange(ctx) {
		return nil
	}
	stored, err := app.FindCollectionByNameOrId(c.Id)
	if err != nil || !slices.Contains(records.Names, stored.Name) {
		return err
	}
	if deleting || reshapes(stored, c) {
		return errors.New("impersonation: the impersonation collections keep their name, rules, fields and indexes while the plugin is registered")
	}
	return nil
}

// reshapes reports whether next changes what the plugin owns of stored,
// one of its collections (see keepPluginShape).
func reshapes(stored, next *core.Collection) bool {
	if next.Name != stored.Name || !slices.EqualFunc(apiRuleValues(stored), apiRuleValues(next), equalRule) {
		return true
	}
	for _, f := range stored.Fields {
		was, _ := json.Marshal(f)
		now, _ := json.Marshal(next.Fields.GetById(f.GetId()))
		if !bytes.Equal(was, now) {
			return true
		}
	}
	for _, index := range stored.Indexes {
		if !slices.Contains(next.Indexes, index) {
			return true
		}
	}
	extended := len(next.Fields) != len(stored.Fields) || len(next.Indexes) != len(stored.Indexes)
	return extended && stored.Name != records.PoliciesCollection
}

// apiRuleValues returns c's five API rules.
func apiRuleValues(c *core.Collection) []*string {
	return []*string{c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule}
}

// equalRule reports whether two API rules are the same: both superusers
// only (nil), or the same filter.
func equalRule(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// refuseCollectionsImport refuses an import that would delete one of the
// plugin's collections or change one of those whose records only it writes.
func refuseCollectionsImport(e *core.CollectionsImportRequestEvent) error {
	imported := map[string]bool{}
	for _, data := range e.CollectionsData {
		for _, key := range []string{"name", "id"} {
			if v, ok := data[key].(string); ok {
				if c, err := e.App.FindCachedCollectionByNameOrId(v); err == nil {
					imported[c.Name] = true
				}
			}
		}
	}
	for _, name := range records.Names {
		if (e.DeleteMissing && !imported[name]) || (imported[name] && name != records.PoliciesCollection) {
			return refuse(http.StatusForbidden, refusals.CodeNoImport, nil)
		}
	}
	if imported[records.PoliciesCollection] && (importOpensPolicies(e) || importRenames(e)) {
		return refuse(http.StatusForbidden, refusals.CodeNoImport, nil)
	}
	return e.Next()
}

// importRenames reports whether e names one of the plugin's collections
// (by id or name, in any letter case) by another name than its own.
func importRenames(e *core.CollectionsImportRequestEvent) bool {
	for _, data := range e.CollectionsData {
		name := fmt.Sprint(data["name"])
		for _, key := range []string{"id", "name"} {
			c, err := e.App.FindCachedCollectionByNameOrId(fmt.Sprint(data[key]))
			if err == nil && slices.Contains(records.Names, c.Name) && name != c.Name {
				return true
			}
		}
	}
	return false
}

// importOpensPolicies reports whether e's data for the policies collection
// sets any of its API rules to something but superusers only (a missing
// rule, as PocketBase imports it, is superusers only).
func importOpensPolicies(e *core.CollectionsImportRequestEvent) bool {
	for _, data := range e.CollectionsData {
		c, err := e.App.FindCachedCollectionByNameOrId(fmt.Sprint(data["name"]))
		if err != nil {
			c, err = e.App.FindCachedCollectionByNameOrId(fmt.Sprint(data["id"]))
		}
		if err != nil || c.Name != records.PoliciesCollection {
			continue
		}
		for _, rule := range []string{"listRule", "viewRule", "createRule", "updateRule", "deleteRule"} {
			if data[rule] != nil {
				return true
			}
		}
	}
	return false
}

func isPluginCollection(app core.App, nameOrId string) bool {
	c, err := app.FindCachedCollectionByNameOrId(nameOrId)
	return err == nil && slices.Contains(records.Names, c.Name)
}

// validatePolicy refuses a policy whose collection is not an auth collection
// that may be impersonated, whose impersonatorRule or approverRule does
// not compile against it, whose route rules could never match, or whose maskedFields
// name what does not exist.
func validatePolicy(e *core.RecordEvent) error {
	pol := &records.Policy{Record: e.Record}
	c, err := e.App.FindCollectionByNameOrId(pol.Collection())
	switch {
	case err != nil || !c.IsAuth():
		return validation.Errors{"collection": validation.NewError("validation_not_auth_collection", "Must be the name of an auth collection.")}
	case c.Name == core.CollectionNameSuperusers:
		return validation.Errors{"collection": validation.NewError("validation_superusers", "Superusers cannot be impersonated through a policy.")}
	case c.Name != pol.Collection():
		return validation.Errors{"collection": validation.NewError("validation_collection_name", "Use the collection's name, not its id.")}
	}
	if err := policy.ValidateRule(e.App, c, pol.ImpersonatorRule()); err != nil {
		return validation.Errors{"impersonatorRule": err}
	}
	if err := policy.ValidateRule(e.App, c, pol.ApproverRule()); err != nil {
		return validation.Errors{"approverRule": err}
	}
	for field, rules := range map[string]func() ([]string, error){"deniedRoutes": pol.DeniedRoutes, "allowedRoutes": pol.AllowedRoutes} {
		if err := validateRouteRules(e.App, rules); err != nil {
			return validation.Errors{field: validation.NewError("validation_invalid_route_rules", err.Error())}
		}
	}
	if err := validateMasks(e.App, pol); err != nil {
		return validation.Errors{"maskedFields": err}
	}
	return e.Next()
}

// validateMasks returns the validation error of a policy's maskedFields:
// not a JSON object of arrays of field names; a collection named otherwise
// than by its exact name, or a field it does not have (a mask that would
// hide nothing: a misspelt name would leave the real field visible); or a
// record's id, which every client needs. A mask the stored policy holds
// already may name what no longer exists (a field deleted since): it stays,
// as the Policies tab reports it, so that the policy can still be saved.
func validateMasks(app core.App, pol *records.Policy) error {
	masked, err := pol.MaskedFields()
	if err != nil {
		return validation.NewError("validation_invalid_masked_fields", "Must be a JSON object of arrays of field names: {\"payments\": [\"cardNumber\"]}.")
	}
	var stored map[string][]string
	if original := pol.Original(); original != nil && !pol.IsNew() {
		stored, _ = (&records.Policy{Record: original}).MaskedFields()
	}
	for _, name := range slices.Sorted(maps.Keys(masked)) {
		// from the database: a rename carried into the policies is saved
		// before the cache knows the new name
		c, err := app.FindCollectionByNameOrId(name)
		for _, field := range masked[name] {
			params := map[string]any{"collection": name, "field": field}
			switch {
			case field == core.FieldNameId:
				return validation.NewError("validation_masked_id", "A record's id cannot be masked.").SetParams(params)
			case slices.Contains(stored[name], field):
				continue
			case err != nil || c.Name != name:
				return validation.NewError("validation_unknown_masked_collection",
					fmt.Sprintf("There is no collection named %q.", name)).SetParams(params)
			case c.Fields.GetByName(field) == nil:
				return validation.NewError("validation_unknown_masked_field",
					fmt.Sprintf("The collection %q has no field %q.", name, field)).SetParams(params)
			}
		}
	}
	return nil
}

// validateRouteRules returns the first error of a policy's route rules:
// one that does not parse, or that names a collection otherwise than by its
// name (the guard compares requests with their collection spelled by name,
// so a rule naming an id, another letter case or no collection would never
// match).
func validateRouteRules(app core.App, rules func() ([]string, error)) error {
	list, err := rules()
	if err != nil {
		return err
	}
	for _, s := range list {
		r, err := limits.ParseRule(s)
		if err != nil {
			return err
		}
		m := collectionPath.FindStringSubmatch(r.Path)
		if m == nil || (r.Prefix && m[3] == "") {
			continue // no collection, or a prefix of collection names
		}
		// from the database: a rename carried into the policies is saved
		// before the cache knows the new name
		c, err := app.FindCollectionByNameOrId(m[2])
		switch {
		case err != nil:
			return fmt.Errorf("route rule %q: there is no collection %q", s, m[2])
		case c.Name != m[2]:
			return fmt.Errorf("route rule %q: name the collection %q as %q", s, m[2], c.Name)
		}
	}
	return nil
}
