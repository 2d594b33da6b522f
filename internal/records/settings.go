package records

import (
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/pocketbase/pocketbase/core"
)

// Settings is the record of impersonation_settings: the settings an
// operator changes after deploy. There is at most one.
type Settings struct{ *core.Record }

var _ core.RecordProxy = (*Settings)(nil)

// ProxyRecord returns the proxied record.
func (s *Settings) ProxyRecord() *core.Record { return s.Record }

// SetProxyRecord loads record into the proxy.
func (s *Settings) SetProxyRecord(record *core.Record) { s.Record = record }

// NewSettings returns a blank settings record.
func NewSettings(app core.App) (*Settings, error) {
	r, err := newRecord(app, SettingsCollection)
	if err != nil {
		return nil, err
	}
	return &Settings{r}, nil
}

// FindSettings returns the settings record (the oldest, should raw SQL
// have added another), or nil and no error when there is none.
func FindSettings(app core.App) (*Settings, error) {
	r := &core.Record{}
	err := app.RecordQuery(SettingsCollection).OrderBy("created ASC", "id ASC").Limit(1).One(r)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &Settings{r}, nil
}

// CountSettings returns how many settings records there are.
func CountSettings(app core.App) (int, error) {
	n, err := app.CountRecords(SettingsCollection)
	return int(n), err
}

// AlertEmail is the address alerts go to ("" for none).
func (s *Settings) AlertEmail() string { return s.GetString("alertEmail") }

// SetAlertEmail sets the alert address.
func (s *Settings) SetAlertEmail(v string) { s.Set("alertEmail", v) }

// AlertAfterRefusals is how many refusals of one actor alert.
func (s *Settings) AlertAfterRefusals() int { return s.GetInt("alertAfterRefusals") }

// SetAlertAfterRefusals sets the refusals threshold.
func (s *Settings) SetAlertAfterRefusals(v int) { s.Set("alertAfterRefusals", v) }

// AuditRetentionHours is how long audit entries are kept (0: for ever).
func (s *Settings) AuditRetentionHours() int { return s.GetInt("auditRetentionHours") }

// SetAuditRetentionHours sets the retention.
func (s *Settings) SetAuditRetentionHours(v int) { s.Set("auditRetentionHours", v) }

// RevokeURL is the page where a user withdraws consent ("" for the default).
func (s *Settings) RevokeURL() string { return s.GetString("revokeURL") }

// SetRevokeURL sets the revoke page.
func (s *Settings) SetRevokeURL(v string) { s.Set("revokeURL", v) }

// ProductURL is the page a new impersonation tab opens ("" for "/").
func (s *Settings) ProductURL() string { return s.GetString("productURL") }

// SetProductURL sets the product page.
func (s *Settings) SetProductURL(v string) { s.Set("productURL", v) }

// ExtraRedactKeysRaw is the stored JSON of the extra redaction keys, as
// given (validated on save, not here).
func (s *Settings) ExtraRedactKeysRaw() any {
	var v any
	raw, _ := json.Marshal(s.Get("extraRedactKeys"))
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	return v
}

// SetExtraRedactKeys sets the extra redaction keys.
func (s *Settings) SetExtraRedactKeys(keys []string) {
	if keys == nil {
		keys = []string{}
	}
	s.Set("extraRedactKeys", keys)
}
