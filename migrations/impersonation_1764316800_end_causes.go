package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// endCausesBefore are the sessions' end causes before a session could end
// because its actor or target stopped matching, its actor's token key
// changed, its consent was shortened, or the rule stopped matching for a
// reason outside those records.
var endCausesBefore = []string{
	"stopped", "expired", "consent_revoked", "target_deleted", "actor_deleted", "policy_changed", "token_revoked",
}

// endCausesAfter is endCausesBefore and the new causes.
var endCausesAfter = append(append([]string{}, endCausesBefore...),
	"actor_token_revoked", "actor_not_allowed", "target_not_allowed", "no_longer_allowed", "consent_shortened",
)

func init() {
	m.Register(func(app core.App) error {
		return setEndCauses(app, endCausesAfter)
	}, func(app core.App) error {
		return setEndCauses(app, endCausesBefore)
	})
}

// setEndCauses sets the values of the sessions' endCause field.
func setEndCauses(app core.App, values []string) error {
	c, err := app.FindCollectionByNameOrId("impersonation_sessions")
	if err != nil {
		return err
	}
	f, ok := c.Fields.GetByName("endCause").(*core.SelectField)
	if !ok {
		return nil
	}
	f.Values = values
	return app.Save(c)
}
