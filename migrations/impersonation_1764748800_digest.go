package migrations

import (
	"github.com/pocketbase/pocketbase/core"
)

// Sessions keep a digest of what was done in them, built once every entry
// of an ended session has reached the audit: the user reads it on their
// page (GET /api/impersonation/digests), and policies say whether it is
// also emailed. The digest and its email's error are hidden fields: the
// actor, who may read the session, does not read the digest, and no
// filter reads it. Existing policies email it; sessions that ended before
// this step are marked digested with no digest (their audit may be pruned
// already, and a digest emailed now would tell of something long past).
func init() {
	register(step{
		up: func(s *shape) error {
			policies, err := s.get("impersonation_policies")
			if err != nil {
				return err
			}
			policies.Fields.Add(&core.BoolField{Name: "digestEmail",
				Help: "Email the user a digest of a session on them once it has ended (their page always shows it)."})
			sessions, err := s.get("impersonation_sessions")
			if err != nil {
				return err
			}
			sessions.Fields.Add(
				&core.JSONField{Name: "digest", Hidden: true, MaxSize: digestMaxSize},
				&core.DateField{Name: "digested"},
				&core.DateField{Name: "digestEmailed"},
				&core.TextField{Name: "digestEmailError", Hidden: true, Max: 1000},
			)
			sessions.AddIndex("idx_impersonation_sessions_digested", false, "`digested`, `ended`", "")
			return nil
		},
		fill: func(app core.App, added addedFunc) error {
			if added("impersonation_policies", "digestEmail") {
				if _, err := app.DB().NewQuery("UPDATE {{impersonation_policies}} SET [[digestEmail]] = TRUE").Execute(); err != nil {
					return err
				}
			}
			if !added("impersonation_sessions", "digested") {
				return nil
			}
			_, err := app.DB().NewQuery("UPDATE {{impersonation_sessions}} SET [[digested]] = [[ended]] WHERE [[ended]] != ''").Execute()
			return err
		},
		down: func(app core.App) error {
			return apply(app, func(s *shape) error {
				for name, fields := range map[string][]string{
					"impersonation_policies": {"digestEmail"},
					"impersonation_sessions": {"digest", "digested", "digestEmailed", "digestEmailError"},
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
				c.RemoveIndex("idx_impersonation_sessions_digested")
				return nil
			}, nil)
		},
	})
}

// digestMaxSize is the most bytes a session's digest holds: a thousand
// writes of the longest path the audit keeps, and the rest.
const digestMaxSize = 4 << 20
