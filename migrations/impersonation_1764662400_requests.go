package migrations

import (
	"context"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Access by request (an actor asks, the user or an approver answers) and
// break-glass: the requests collection, the policies' fields that govern
// both, and the sessions' record of which grant they started on.
func init() {
	register(step{
		up: func(s *shape) error {
			s.define(requestsCollection())
			policies, err := s.get("impersonation_policies")
			if err != nil {
				return err
			}
			policies.Fields.Add(
				&core.NumberField{Name: "requestHours", OnlyInt: true, Min: types.Pointer(0.0), Max: types.Pointer(720.0),
					Help: "How long a request for access waits for its answer, in hours. 0: 24."},
				&core.SelectField{Name: "approval", MaxSelect: 1, Values: []string{"user", "approver", "both"},
					Help: "Whose answer approves a request: the user (empty: the user), an approver (approverRule), or both."},
				&core.TextField{Name: "approverRule", Max: 5000,
					Help: "Filter an approver must satisfy (@request.auth is the approver; plain field names are the user's). Empty: superusers only."},
				&core.BoolField{Name: "breakGlass",
					Help: "Allow a start without consent in an emergency (a reason of at least 20 characters; the user and oversightEmail are told)."},
				&core.SelectField{Name: "breakGlassModes", MaxSelect: 2, Values: []string{"read", "write"},
					Help: "Modes a break-glass session may use. Empty: read."},
				&core.NumberField{Name: "breakGlassMinutes", OnlyInt: true, Min: types.Pointer(0.0), Max: types.Pointer(1440.0),
					Help: "The longest break-glass session, in minutes. 0: 15."},
				&core.EmailField{Name: "oversightEmail",
					Help: "Who is emailed when a break-glass session starts. Empty: no one but the user."},
			)
			sessions, err := s.get("impersonation_sessions")
			if err != nil {
				return err
			}
			sessions.Fields.Add(
				&core.TextField{Name: "request", Max: 255},
				&core.BoolField{Name: "breakGlass"},
			)
			sessions.AddIndex("idx_impersonation_sessions_breakGlass", false, "`breakGlass`, `created`", "")
			return nil
		},
		down: func(app core.App) error {
			if c, err := app.FindCollectionByNameOrId("impersonation_requests"); err == nil {
				if err := app.DeleteWithContext(records.SchemaChange(context.Background()), c); err != nil {
					return err
				}
			}
			return apply(app, func(s *shape) error {
				for name, fields := range map[string][]string{
					"impersonation_policies": {"requestHours", "approval", "approverRule", "breakGlass", "breakGlassModes", "breakGlassMinutes", "oversightEmail"},
					"impersonation_sessions": {"request", "breakGlass"},
				} {
					c, err := s.get(name)
					if err != nil {
						return err
					}
					for _, f := range fields {
						c.Fields.RemoveByName(f)
					}
				}
				c, err := s.get("impersonation_sessions")
				if err != nil {
					return err
				}
				c.RemoveIndex("idx_impersonation_sessions_breakGlass")
				return nil
			}, nil)
		},
	})
}

func requestsCollection() *core.Collection {
	c := core.NewBaseCollection("impersonation_requests")
	rule := "@request.auth.id != \"\" && (" + ownsAsUser("target", "targetCollection") + " || " + ownsAsUser("actor", "actorCollection") + ")"
	c.ListRule, c.ViewRule = types.Pointer(rule), types.Pointer(rule)
	// changed only through the plugin's routes (request hooks refuse superusers too)
	c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil

	c.Fields.Add(
		&core.TextField{Name: "actor", Required: true, Max: 255},
		&core.TextField{Name: "actorCollection", Required: true, Max: 255},
		&core.TextField{Name: "target", Required: true, Max: 255},
		&core.TextField{Name: "targetCollection", Required: true, Max: 255},
		&core.TextField{Name: "reason", Max: 1000},
		&core.NumberField{Name: "minutes", Required: true, OnlyInt: true, Min: types.Pointer(1.0)},
		&core.SelectField{Name: "mode", Required: true, MaxSelect: 1, Values: []string{"read", "write"}},
		&core.SelectField{Name: "status", Required: true, MaxSelect: 1,
			Values: []string{"pending", "approved", "declined", "expired", "used", "withdrawn"}},
		&core.DateField{Name: "expires", Required: true},
		&core.DateField{Name: "userAnswered"},
		&core.TextField{Name: "approver", Max: 255},
		&core.TextField{Name: "approverCollection", Max: 255},
		&core.DateField{Name: "approverAnswered"},
		&core.DateField{Name: "approved"},
		&core.TextField{Name: "session", Max: 255},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_impersonation_requests_target", false, "`targetCollection`, `target`, `status`", "")
	c.AddIndex("idx_impersonation_requests_actor", false, "`actorCollection`, `actor`, `status`", "")
	c.AddIndex("idx_impersonation_requests_status", false, "`status`, `expires`", "")
	return c
}
