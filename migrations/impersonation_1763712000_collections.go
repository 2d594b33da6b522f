package migrations

import (
	"context"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pocketbase/pocketbase/tools/types"
)

// The four collections.
func init() {
	register(step{
		up: func(s *shape) error {
			s.define(policiesCollection())
			s.define(consentsCollection())
			s.define(sessionsCollection())
			s.define(auditCollection())
			return nil
		},
		down: func(app core.App) error {
			for _, name := range []string{
				"impersonation_audit",
				"impersonation_sessions",
				"impersonation_consents",
				"impersonation_policies",
			} {
				c, err := app.FindCollectionByNameOrId(name)
				if err != nil {
					continue
				}
				if err := app.DeleteWithContext(records.SchemaChange(context.Background()), c); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

// ownsAsUser is the rule "the caller is the user named by the given pair of
// fields" (record id and collection id).
func ownsAsUser(idField, collectionField string) string {
	return "(" + idField + " = @request.auth.id && " + collectionField + " = @request.auth.collectionId)"
}

func policiesCollection() *core.Collection {
	c := core.NewBaseCollection("impersonation_policies")
	// superusers only: a policy is edited in the dashboard
	c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil, nil, nil

	c.Fields.Add(
		&core.TextField{Name: "collection", Required: true, Max: 255,
			Help: "Name of the auth collection whose records may be impersonated."},
		&core.BoolField{Name: "enabled"},
		&core.TextField{Name: "impersonatorRule", Max: 5000,
			Help: "Filter that an actor must satisfy (@request.auth is the actor; plain field names are the target's). Empty: superusers only."},
		&core.SelectField{Name: "consent", Required: true, MaxSelect: 1, Values: []string{"required", "none"}},
		&core.BoolField{Name: "reasonRequired"},
		&core.NumberField{Name: "maxMinutes", Required: true, OnlyInt: true, Min: types.Pointer(1.0), Max: types.Pointer(10080.0)},
		&core.SelectField{Name: "modes", Required: true, MaxSelect: 2, Values: []string{"read", "write"}},
		&core.NumberField{Name: "attemptsPerMinute", Required: true, OnlyInt: true, Min: types.Pointer(1.0), Max: types.Pointer(10000.0)},
		&core.NumberField{Name: "consentMaxHours", Required: true, OnlyInt: true, Min: types.Pointer(1.0), Max: types.Pointer(8760.0)},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_impersonation_policies_collection", true, "`collection`", "")
	return c
}

func consentsCollection() *core.Collection {
	c := core.NewBaseCollection("impersonation_consents")
	own := ownsAsUser("user", "userCollection")
	c.ListRule, c.ViewRule = types.Pointer(own), types.Pointer(own)
	// changed only through the plugin's routes (request hooks refuse superusers too)
	c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil

	c.Fields.Add(
		&core.TextField{Name: "user", Required: true, Max: 255},
		&core.TextField{Name: "userCollection", Required: true, Max: 255},
		&core.DateField{Name: "expires", Required: true},
		&core.BoolField{Name: "revoked"},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_impersonation_consents_user", true, "`userCollection`, `user`", "")
	return c
}

func sessionsCollection() *core.Collection {
	c := core.NewBaseCollection("impersonation_sessions")
	rule := "@request.auth.id != \"\" && (" + ownsAsUser("target", "targetCollection") + " || " + ownsAsUser("actor", "actorCollection") + ")"
	c.ListRule, c.ViewRule = types.Pointer(rule), types.Pointer(rule)
	c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil

	c.Fields.Add(
		&core.TextField{Name: "actor", Required: true, Max: 255},
		&core.TextField{Name: "actorCollection", Required: true, Max: 255},
		&core.TextField{Name: "target", Required: true, Max: 255},
		&core.TextField{Name: "targetCollection", Required: true, Max: 255},
		&core.TextField{Name: "reason", Max: 1000},
		&core.SelectField{Name: "mode", Required: true, MaxSelect: 1, Values: []string{"read", "write"}},
		&core.DateField{Name: "expires", Required: true},
		&core.DateField{Name: "ended"},
		&core.SelectField{Name: "endCause", MaxSelect: 1, Values: []string{
			"stopped", "expired", "consent_revoked", "target_deleted", "actor_deleted", "policy_changed", "token_revoked",
		}},
		&core.TextField{Name: "ip", Max: 255},
		&core.TextField{Name: "userAgent", Max: 1000},
		&core.AutodateField{Name: "created", OnCreate: true},
	)
	c.AddIndex("idx_impersonation_sessions_target", false, "`targetCollection`, `target`, `ended`", "")
	c.AddIndex("idx_impersonation_sessions_actor", false, "`actorCollection`, `actor`, `ended`", "")
	c.AddIndex("idx_impersonation_sessions_expires", false, "`ended`, `expires`", "")
	return c
}

func auditCollection() *core.Collection {
	c := core.NewBaseCollection("impersonation_audit")
	rule := "@request.auth.id != \"\" && " + ownsAsUser("target", "targetCollection")
	c.ListRule, c.ViewRule = types.Pointer(rule), types.Pointer(rule)
	// append-only: request hooks refuse every API create, update and delete
	c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil

	c.Fields.Add(
		&core.TextField{Name: "event", Required: true, Max: 100},
		&core.TextField{Name: "actor", Max: 255},
		&core.TextField{Name: "actorCollection", Max: 255},
		&core.TextField{Name: "target", Max: 255},
		&core.TextField{Name: "targetCollection", Max: 255},
		&core.TextField{Name: "session", Max: 255},
		&core.TextField{Name: "reason", Max: 1000},
		&core.TextField{Name: "ip", Max: 255},
		&core.TextField{Name: "userAgent", Max: 1000},
		&core.TextField{Name: "method", Max: 20},
		&core.TextField{Name: "path", Max: 3000},
		&core.NumberField{Name: "status", OnlyInt: true},
		&core.JSONField{Name: "data"},
		&core.AutodateField{Name: "created", OnCreate: true},
	)
	c.AddIndex("idx_impersonation_audit_target", false, "`targetCollection`, `target`, `created`", "")
	c.AddIndex("idx_impersonation_audit_actor", false, "`actorCollection`, `actor`, `created`", "")
	c.AddIndex("idx_impersonation_audit_session", false, "`session`", "")
	c.AddIndex("idx_impersonation_audit_created", false, "`created`", "")
	return c
}
