package hooks

import (
	"errors"
	"net/http"
	"strings"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/notify"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/settings"
)

// validateSettings refuses a second settings record and values that the
// fields' own options do not check (the URLs, the extra redaction keys).
func validateSettings(e *core.RecordEvent) error {
	s := &records.Settings{Record: e.Record}
	if e.Record.IsNew() {
		if n, err := records.CountSettings(e.App); err != nil {
			return err
		} else if n > 0 {
			return refuse(http.StatusConflict, refusals.CodeSettingsExist, nil)
		}
	}
	// PocketBase's own field checks (email format, numbers) run in Next:
	// their errors and these are answered together
	err := e.Next()
	errs := settings.Validate(s)
	var fieldErrs validation.Errors
	switch {
	case err != nil && errors.As(err, &fieldErrs):
		for field, fieldErr := range errs {
			if _, ok := fieldErrs[field]; !ok {
				fieldErrs[field] = fieldErr
			}
		}
		return fieldErrs
	case err != nil:
		return err
	case errs != nil:
		return errs
	}
	return nil
}

// settingsChange is what a create, update or delete of the settings record
// changes: the values in force before and after it.
func (p *handlers) settingsChange(event string, r *core.Record) (before, after settings.Values) {
	switch event {
	case audit.SettingsCreated:
		return p.settings.Defaults(), p.settings.Of(&records.Settings{Record: r})
	case audit.SettingsDeleted:
		return p.settings.Of(&records.Settings{Record: r}), p.settings.Defaults()
	}
	before = p.settings.Defaults()
	if original := r.Original(); original != nil && !original.IsNew() {
		before = p.settings.Of(&records.Settings{Record: original})
	}
	return before, p.settings.Of(&records.Settings{Record: r})
}

// auditSettingsChange writes a change of the settings record to the audit,
// with the values in force before and after it and how it weakens the
// evidence, in the transaction of the change: a change that cannot be
// audited does not happen. It runs for every save, through the API (batch
// included), the dashboard or Go code. A create that would leave two
// records (two made at once) is refused here, inside the transaction.
func (p *handlers) auditSettingsChange(event string) func(e *core.RecordEvent) error {
	return func(e *core.RecordEvent) error {
		before, after := p.settingsChange(event, e.Record)
		data := map[string]any{"before": before.Export(), "after": after.Export()}
		if weakened := settings.Weakened(before, after); weakened != nil {
			data["weakened"] = weakened
		}
		return inTransaction(&e.App, e.Next, func(tx core.App) error {
			if event == audit.SettingsCreated {
				if n, err := records.CountSettings(tx); err != nil {
					return err
				} else if n > 1 {
					return refuse(http.StatusConflict, refusals.CodeSettingsExist, nil)
				}
			}
			return p.opts.Audit.Write(tx, audit.Entry{Event: event, Data: data})
		})
	}
}

// settingsChanged runs once a change of the settings record is committed:
// the settings in force are read again from then on (no restart), and a
// change that weakens the evidence is alerted: an error in the log and an
// email to the alert address in force before it (settings.AlertTo).
func (p *handlers) settingsChanged(event string) func(e *core.RecordEvent) error {
	return func(e *core.RecordEvent) error {
		p.settings.Forget()
		before, after := p.settingsChange(event, e.Record)
		if weakened := settings.Weakened(before, after); weakened != nil {
			p.alertWeakened(e.App, weakened, before, after)
		}
		return e.Next()
	}
}

// alertWeakened alerts a settings change that weakens the evidence.
func (p *handlers) alertWeakened(app core.App, weakened []string, before, after settings.Values) {
	to := settings.AlertTo(before, after)
	app.Logger().Error("impersonation: a settings change weakens the evidence the plugin keeps",
		"changes", strings.Join(weakened, ","), "before", before.Export(), "after", after.Export(), "alerted", to)
	if to == "" {
		return
	}
	p.inBackground(func() {
		if err := notify.SettingsWeakened(app, to, weakened, before.Export(), after.Export()); err != nil {
			app.Logger().Error("impersonation: email the settings alert", "error", err)
		}
	})
}
