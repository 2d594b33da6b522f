// Package consent grants and withdraws a user's consent to be impersonated.
package consent

import (
	"database/sql"
	"errors"
	"time"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// ValidateHours returns a validation error unless hours is from 1 to the
// ChangesPerMinute is how many times a minute a user may grant
// consent, or withdraw it when nothing is in force. Each change is an audit
// entry; past the limit a change is refused (429) and, changing nothing,
// writes none, so what one user can make the audit store is bounded. A
// withdrawal that stops a consent in force or a live session is never
// refused (nor counted): there are no more of those than grants and
// sessions.
const ChangesPerMinute = 10

// policy's consentMaxHours.
func ValidateHours(p *records.Policy, hours int) error {
	if hours < 1 || hours > p.ConsentMaxHours() {
		return validation.NewError("validation_out_of_range", "Must be from 1 to {{.max}} hours.").
			SetParams(map[string]any{"max": p.ConsentMaxHours()})
	}
	return nil
}

// Grant sets user's consent to run for hours from now and writes its
// consent.granted entry, in one transaction. A consent already in force is
// replaced, not extended.
func Grant(log *audit.Log, app core.App, user *core.Record, hours int, now time.Time, client audit.Client) (*records.Consent, error) {
	var granted *records.Consent
	err := app.RunInTransaction(func(tx core.App) error {
		c, err := records.FindOrNewConsent(tx, user)
		if err != nil {
			return err
		}
		c.SetExpires(now.Add(time.Duration(hours) * time.Hour).Truncate(time.Second))
		c.SetRevoked(false)
		if err := tx.Save(c); err != nil {
			return err
		}
		entry := audit.ForUser(audit.ConsentGranted, user)
		entry.Client = client
		entry.Data = map[string]any{"hours": hours, "expires": c.GetDateTime("expires").String()}
		if err := log.Write(tx, entry); err != nil {
			return err
		}
		granted = c
		return EndOutliving(log, tx, user, c, now, client)
	})
	return granted, err
}

// EndOutliving ends, with consent_shortened, the live sessions on user that
// run under consent and would outlive c, when user's policy requires
// consent: a session never outlives the consent it runs under, so a consent
// replaced by a shorter one ends the longer sessions rather than capping
// them (their tokens carry the old expiry). A session on an approved
// request or a break-glass one does not run under consent.
func EndOutliving(log *audit.Log, tx core.App, user *core.Record, c *records.Consent, now time.Time, client audit.Client) error {
	p, err := records.FindPolicy(tx, user.Collection().Name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case p.Consent() == records.ConsentNone:
		return nil
	}
	params := records.RecordParams(user)
	params["consentExpires"] = c.GetDateTime("expires").String()
	_, err = sessions.EndWhere(log, tx, records.OnTargetFilter+" && expires > {:consentExpires} && request = '' && breakGlass = false", params,
		records.EndConsentShortened, now, client)
	return err
}

// Revoke withdraws user's consent and ends every live session on them with
// cause consent_revoked, writing consent.revoked and a session.ended entry
// per session, in one transaction. It is safe to call with no consent.
func Revoke(log *audit.Log, app core.App, user *core.Record, now time.Time, client audit.Client) error {
	return app.RunInTransaction(func(tx core.App) error {
		if c, err := records.FindConsent(tx, user); err == nil && !c.Revoked() {
			c.SetRevoked(true)
			if err := tx.Save(c); err != nil {
				return err
			}
		}
		entry := audit.ForUser(audit.ConsentRevoked, user)
		entry.Client = client
		if err := log.Write(tx, entry); err != nil {
			return err
		}
		_, err := sessions.EndWhere(log, tx, records.OnTargetFilter, records.RecordParams(user),
			records.EndConsentRevoked, now, client)
		return err
	})
}
