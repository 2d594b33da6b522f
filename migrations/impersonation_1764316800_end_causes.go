package migrations

import (
	"github.com/pocketbase/pocketbase/core"
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
	register(step{
		up: func(s *shape) error {
			return setEndCauses(s, endCausesAfter)
		},
		down: func(app core.App) error {
			return apply(app, func(s *shape) error {
				return setEndCauses(s, endCausesBefore)
			}, nil)
		},
	})
}

// setEndCauses sets the values of the sessions' endCause field.
func setEndCauses(s *shape, values []string) error {
	c, err := s.get("impersonation_sessions")
	if err != nil {
		return err
	}
	if f, ok := c.Fields.GetByName("endCause").(*core.SelectField); ok {
		f.Values = values
	}
	return nil
}
