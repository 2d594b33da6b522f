// Package settings holds the settings of the impersonation plugin that an
// operator changes after deploy, without a restart: the alert address and
// threshold, the audit's retention, the revoke and product pages, and the
// extra key names the request audit redacts.
//
// They live in one record of impersonation_settings, which superusers edit
// in the dashboard; plugin.Config gives the values written to it when the
// server first starts (Seed), and the values in force while there is no
// record. A Cache reads them at use time and is forgotten on every change.
//
// A change is checked (Validate) and compared with what was in force
// (Weakened): shortening the retention, clearing or changing the alert
// address, raising the threshold or removing extra redaction keys weakens
// the evidence the plugin keeps, and the plugin alerts it. The extra keys
// only ever add to the configured ones: the Redactor in force is the
// configured one With the extra keys.
package settings

import (
	"net/url"
	"slices"
	"strings"
	"time"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/redact"
)

// Limits of the extra redaction keys.
const (
	MaxExtraKeys   = 100
	MaxExtraKeyLen = 100
	// MinExtraKeyLen is the shortest key name, as folded (the shortest
	// built-in ones, "otp" and "key", are 3): a key matches as a part of a
	// name, so a shorter one would redact most of every request
	MinExtraKeyLen = 3
)

// Values are the settings in force.
type Values struct {
	// AlertEmail gets the alerts ("" for none).
	AlertEmail string
	// AlertAfterRefusals is how many refusals of one actor within ten
	// minutes alert (at least 1).
	AlertAfterRefusals int
	// AuditRetentionHours is how long audit entries are kept (0: for ever).
	AuditRetentionHours int
	// RevokeURL is the page where a user withdraws consent ("": the app
	// URL + /impersonation/); ProductURL the page a new impersonation tab
	// opens ("": "/").
	RevokeURL, ProductURL string
	// ExtraRedactKeys are redacted besides the configured names.
	ExtraRedactKeys []string
}

// Retention is AuditRetentionHours as a duration (0: for ever).
func (v Values) Retention() time.Duration {
	return time.Duration(v.AuditRetentionHours) * time.Hour
}

// Product is the page a new impersonation tab opens.
func (v Values) Product() string {
	if v.ProductURL == "" {
		return "/"
	}
	return v.ProductURL
}

// Revoke is the page, linked from emails, where a user withdraws consent:
// RevokeURL, or appURL + "/impersonation/"; a path is made absolute with
// appURL.
func (v Values) Revoke(appURL string) string {
	appURL = strings.TrimRight(appURL, "/")
	switch {
	case v.RevokeURL == "":
		return appURL + "/impersonation/"
	case strings.HasPrefix(v.RevokeURL, "/"):
		return appURL + v.RevokeURL
	}
	return v.RevokeURL
}

// Export is v by the settings record's field names, for the audit.
func (v Values) Export() map[string]any {
	keys := v.ExtraRedactKeys
	if keys == nil {
		keys = []string{}
	}
	return map[string]any{
		"alertEmail": v.AlertEmail, "alertAfterRefusals": v.AlertAfterRefusals,
		"auditRetentionHours": v.AuditRetentionHours, "revokeURL": v.RevokeURL, "productURL": v.ProductURL,
		"extraRedactKeys": keys,
	}
}

// HoursOf is d in whole hours, rounded up: a retention is never shortened
// by the rounding.
func HoursOf(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Hour - 1) / time.Hour)
}

// FromRecord returns the values of a settings record. A value that does
// not validate (written without validation) is read as its safe side: the
// default for a URL, 1 for the threshold, for ever for the retention, and
// the extra keys that are strings.
func FromRecord(s *records.Settings, defaults Values) Values {
	v := Values{
		AlertEmail:          s.AlertEmail(),
		AlertAfterRefusals:  max(1, s.AlertAfterRefusals()),
		AuditRetentionHours: max(0, s.AuditRetentionHours()),
		RevokeURL:           s.RevokeURL(),
		ProductURL:          s.ProductURL(),
	}
	if v.RevokeURL != "" && !ValidURL(v.RevokeURL) {
		v.RevokeURL = defaults.RevokeURL
	}
	if v.ProductURL != "" && !ValidURL(v.ProductURL) {
		v.ProductURL = defaults.ProductURL
	}
	if list, ok := s.ExtraRedactKeysRaw().([]any); ok {
		for _, item := range list {
			if name, ok := item.(string); ok && redact.Fold(name) != "" {
				v.ExtraRedactKeys = append(v.ExtraRedactKeys, name)
			}
		}
	}
	return v
}

// ValidURL reports whether u is a path of the app ("/", "/app/", not
// "//host") or an absolute http(s) URL: never a script or data URL.
func ValidURL(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil {
		return false
	}
	if parsed.Scheme == "" {
		return parsed.Host == "" && strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.HasPrefix(u, "/\\")
	}
	return (parsed.Scheme == "http" || parsed.Scheme == "https") && parsed.Host != ""
}

// Field error codes of Validate (the fields' own limits, email format and
// numbers, are PocketBase's).
const (
	CodeInvalidURL        = "validation_invalid_url"
	CodeInvalidRedactKeys = "validation_invalid_redact_keys"
)

// Validate returns the errors of a settings record's fields that
// PocketBase's field options do not check: the URLs and the extra
// redaction keys (a list of at most MaxExtraKeys names, each a string of at
// most MaxExtraKeyLen characters, of at least MinExtraKeyLen once '_' and
// '-' are left out).
func Validate(s *records.Settings) validation.Errors {
	errs := validation.Errors{}
	for field, u := range map[string]string{"revokeURL": s.RevokeURL(), "productURL": s.ProductURL()} {
		if u != "" && !ValidURL(u) {
			errs[field] = validation.NewError(CodeInvalidURL, "Must be a path of the app (\"/app/\") or an http(s) URL.")
		}
	}
	if err := validateKeys(s.ExtraRedactKeysRaw()); err != nil {
		errs["extraRedactKeys"] = err
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func validateKeys(raw any) error {
	invalid := validation.NewError(CodeInvalidRedactKeys,
		"Must be a list of at most {{.max}} key names, each of {{.min}} to {{.len}} characters.").
		SetParams(map[string]any{"max": MaxExtraKeys, "min": MinExtraKeyLen, "len": MaxExtraKeyLen})
	if raw == nil {
		return nil
	}
	list, ok := raw.([]any)
	if !ok || len(list) > MaxExtraKeys {
		return invalid
	}
	for _, item := range list {
		name, ok := item.(string)
		if !ok || len([]rune(redact.Fold(name))) < MinExtraKeyLen || len([]rune(name)) > MaxExtraKeyLen {
			return invalid
		}
	}
	return nil
}

// Weakening changes: what a change did to the evidence the plugin keeps.
const (
	RetentionShortened   = "retention_shortened"
	AlertEmailRemoved    = "alert_email_removed"
	AlertEmailChanged    = "alert_email_changed"
	AlertThresholdRaised = "alert_threshold_raised"
	RedactKeysRemoved    = "redact_keys_removed"
	// RedactKeysAdded: more of every request is hidden from the audit
	RedactKeysAdded = "redact_keys_added"
)

// Weakened lists how going from before to after weakens the evidence: the
// audit kept for less time (or no longer for ever), the alerts sent to no
// one or someone else, sent later, fewer keys redacted (secrets kept), or
// more (evidence hidden). Nil: it does not.
func Weakened(before, after Values) []string {
	var out []string
	if after.AuditRetentionHours > 0 && (before.AuditRetentionHours == 0 || after.AuditRetentionHours < before.AuditRetentionHours) {
		out = append(out, RetentionShortened)
	}
	switch {
	case before.AlertEmail != "" && after.AlertEmail == "":
		out = append(out, AlertEmailRemoved)
	case before.AlertEmail != "" && !strings.EqualFold(before.AlertEmail, after.AlertEmail):
		out = append(out, AlertEmailChanged)
	}
	if after.AlertAfterRefusals > before.AlertAfterRefusals {
		out = append(out, AlertThresholdRaised)
	}
	kept := make([]string, 0, len(after.ExtraRedactKeys))
	for _, k := range after.ExtraRedactKeys {
		kept = append(kept, redact.Fold(k))
	}
	had := make([]string, 0, len(before.ExtraRedactKeys))
	for _, k := range before.ExtraRedactKeys {
		had = append(had, redact.Fold(k))
	}
	if slices.ContainsFunc(had, func(k string) bool { return !slices.Contains(kept, k) }) {
		out = append(out, RedactKeysRemoved)
	}
	if slices.ContainsFunc(kept, func(k string) bool { return !slices.Contains(had, k) }) {
		out = append(out, RedactKeysAdded)
	}
	return out
}

// AlertTo is who is told of a weakening change: the address in force
// before it (the one that was trusted), or, if there was none, the new one.
func AlertTo(before, after Values) string {
	if before.AlertEmail != "" {
		return before.AlertEmail
	}
	return after.AlertEmail
}

// Seed writes a settings record of values when there is none (the first
// start), and reports whether it did.
func Seed(app core.App, v Values) (bool, error) {
	have, err := records.FindSettings(app)
	if err != nil || have != nil {
		return false, err
	}
	s, err := records.NewSettings(app)
	if err != nil {
		return false, err
	}
	s.SetAlertEmail(v.AlertEmail)
	s.SetAlertAfterRefusals(v.AlertAfterRefusals)
	s.SetAuditRetentionHours(v.AuditRetentionHours)
	s.SetRevokeURL(v.RevokeURL)
	s.SetProductURL(v.ProductURL)
	s.SetExtraRedactKeys(v.ExtraRedactKeys)
	return true, app.Save(s)
}
