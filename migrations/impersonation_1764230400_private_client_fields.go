package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
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
	m.Register(func(app core.App) error {
		return setHidden(app, privateFields, true)
	}, func(app core.App) error {
		return setHidden(app, privateFields, false)
	})
}

// setHidden sets the hidden option of the named fields of each collection.
func setHidden(app core.App, fields map[string][]string, hidden bool) error {
	for name, names := range fields {
		c, err := app.FindCollectionByNameOrId(name)
		if err != nil {
			return err
		}
		for _, f := range names {
			field := c.Fields.GetByName(f)
			if field == nil {
				continue
			}
			field.SetHidden(hidden)
		}
		if err := app.Save(c); err != nil {
			return err
		}
	}
	return nil
}
