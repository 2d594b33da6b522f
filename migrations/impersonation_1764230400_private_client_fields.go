package migrations

import (
	"github.com/pocketbase/pocketbase/core"
)

// privateFields are the fields of sessions and audit entries that only
// superusers read: the client of a request (IP, user agent) and the
// outcome of a session's email. The records API (list, view, expand,
// realtime) leaves hidden fields out for everyone else and refuses their
// filters, so a user, the actor, or the holder of an impersonation token
// reading those records learns who acted, how and when, and nothing of
// anyone's address, browser or mail server.
var privateFields = map[string][]string{
	"impersonation_sessions": {"ip", "userAgent", "notifyError"},
	"impersonation_audit":    {"ip", "userAgent"},
}

func init() {
	register(step{
		up: func(s *shape) error {
			return setHidden(s, privateFields, true)
		},
		down: func(app core.App) error {
			return apply(app, func(s *shape) error {
				return setHidden(s, privateFields, false)
			}, nil)
		},
	})
}

// setHidden sets the hidden option of the named fields of each collection.
func setHidden(s *shape, fields map[string][]string, hidden bool) error {
	for name, names := range fields {
		c, err := s.get(name)
		if err != nil {
			return err
		}
		for _, f := range names {
			if field := c.Fields.GetByName(f); field != nil {
				field.SetHidden(hidden)
			}
		}
	}
	return nil
}
