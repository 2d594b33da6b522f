package hooks

import (
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/plugin/audit"
	"github.com/pbimpersonation/impersonation/plugin/notify"
	"github.com/pbimpersonation/impersonation/plugin/records"
)

// notifyStarted emails the target of a session that has just started, in
// the background: a mail that cannot be sent never delays or fails the
// start. The outcome is logged and recorded on the session (notified, or
// notifyError).
func (p *handlers) notifyStarted(app core.App, s *records.Session, actor, target *core.Record) {
	revokeURL := p.opts.RevokeURL
	if revokeURL == "" {
		revokeURL = app.Settings().Meta.AppURL + "/impersonation/"
	}
	p.mails.Add(1)
	go func() {
		defer p.mails.Done()
		err := notify.SessionStarted(app, s, actor, target, revokeURL)
		if err != nil {
			app.Logger().Error("impersonation: email the user about a session", "session", s.Id, "error", err)
		}
		fresh, findErr := records.FindSession(app, s.Id)
		if findErr != nil {
			return
		}
		fresh.SetNotified(p.opts.Clock.Now(), err)
		if err := app.Save(fresh); err != nil {
			app.Logger().Error("impersonation: record a session's email", "session", s.Id, "error", err)
		}
	}()
}

// alertRefusals emails the configured address when actor's starts have
// just been refused AlertAfterRefusals times within RefusalWindow (once
// per such run, not on every refusal after it).
func (p *handlers) alertRefusals(app core.App, actor *core.Record) {
	if p.opts.AlertEmail == "" || actor == nil {
		return
	}
	since, _ := types.ParseDateTime(p.opts.Clock.Now().Add(-RefusalWindow))
	var refused int
	err := app.RecordQuery(records.AuditCollection).Select("count(*)").
		AndWhere(dbx.HashExp{"event": audit.SessionDenied, "actor": actor.Id, "actorCollection": actor.Collection().Id}).
		AndWhere(dbx.NewExp("[[created]] >= {:since}", dbx.Params{"since": since.String()})).Row(&refused)
	if err != nil || refused != p.opts.AlertAfterRefusals {
		return
	}
	p.mails.Add(1)
	go func() {
		defer p.mails.Done()
		if err := notify.Refusals(app, p.opts.AlertEmail, actor, refused, RefusalWindow); err != nil {
			app.Logger().Error("impersonation: email the refusals alert", "error", err)
		}
	}()
}
