package hooks

import (
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/attempts"
	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/notify"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// notifyStarted emails the target of a session that has just started, in
// the background: a mail that cannot be sent never delays or fails the
// start. The outcome is logged and recorded on the session (notified, or
// notifyError).
func (p *handlers) notifyStarted(app core.App, s *records.Session, actor, target *core.Record) {
	p.inBackground(func() {
		current, err := p.settings.Get(app)
		if err == nil {
			err = notify.SessionStarted(app, s, actor, target, current.Revoke(app.Settings().Meta.AppURL))
		}
		if err != nil {
			app.Logger().Error("impersonation: email the user about a session", "session", s.Id, "error", err)
		}
		recordMailOutcome(app, s.Id, func(fresh *records.Session) { fresh.SetNotified(p.opts.Clock.Now(), err) })
	})
}

// recordMailOutcome saves the outcome of a mail about session id, set by
// set on the session read again once the mail has gone: what changed on
// the session while it was sent stays.
func recordMailOutcome(app core.App, id string, set func(*records.Session)) {
	fresh, err := records.FindSession(app, id)
	if err != nil {
		return
	}
	set(fresh)
	if err := app.Save(fresh); err != nil {
		app.Logger().Error("impersonation: record a session's email", "session", id, "error", err)
	}
}

// alertRefusals emails the configured address when the refusals of the
// actor named by key, just added to the audit (added of them: 1 for a
// session.denied entry, its count for a session.throttled one), make the
// actor's refusals within refusalWindow reach AlertAfterRefusals (once per
// such run, not on every refusal after it).
func (p *handlers) alertRefusals(app core.App, key attempts.Key, added int) {
	current, err := p.settings.Get(app)
	if err != nil {
		app.Logger().Error("impersonation: read the settings for the refusals alert", "error", err)
		return
	}
	if current.AlertEmail == "" {
		return
	}
	since, _ := types.ParseDateTime(p.opts.Clock.Now().Add(-refusalWindow))
	var refused int
	err = app.RecordQuery(records.AuditCollection).
		Select("COALESCE(SUM(CASE WHEN [[event]] = {:throttled} THEN CAST(json_extract([[data]], '$.count') AS INTEGER) ELSE 1 END), 0)").
		AndWhere(dbx.In("event", audit.SessionDenied, audit.SessionThrottled)).
		AndWhere(dbx.HashExp{"actor": key.Id, "actorCollection": key.Collection}).
		AndWhere(dbx.NewExp("[[created]] >= {:since}", dbx.Params{"since": since.String(), "throttled": audit.SessionThrottled})).
		Row(&refused)
	threshold := current.AlertAfterRefusals
	if err != nil || refused < threshold || refused-added >= threshold {
		return
	}
	actor, err := app.FindRecordById(key.Collection, key.Id)
	if err != nil {
		app.Logger().Error("impersonation: the refusals alert names no actor", "actor", key.Id, "error", err)
		return
	}
	p.inBackground(func() {
		if err := notify.Refusals(app, current.AlertEmail, actor, refused, refusalWindow); err != nil {
			app.Logger().Error("impersonation: email the refusals alert", "error", err)
		}
	})
}

// inBackground runs f apart from the request that asked for it, through the
// plugin's clock (so a test's clock can wait for it); the app's shutdown
// waits for it.
func (p *handlers) inBackground(f func()) {
	p.mails.Add(1)
	p.opts.Clock.AfterFunc(0, func() {
		defer p.mails.Done()
		f()
	})
}
