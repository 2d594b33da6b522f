// Package notify writes the plugin's emails: to a user when a session on
// them starts and, with its digest, once it has ended; and to an operator
// when an actor's starts are refused again and again. Mails go through
// PocketBase's mailer with the app's sender settings; every string from a
// user is escaped in HTML (the digest also has a plain text body). English
// and Spanish.
package notify

import (
	"bytes"
	"fmt"
	"html/template"
	"net/mail"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/mailer"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Languages of the templates.
const (
	English = "en"
	Spanish = "es"
)

// LanguageOf returns the language to write to user in: Spanish when their
// record has a "language" or "lang" field starting with "es", else English.
func LanguageOf(user *core.Record) string {
	for _, field := range []string{"language", "lang"} {
		if strings.HasPrefix(strings.ToLower(user.GetString(field)), Spanish) {
			return Spanish
		}
	}
	return English
}

// startedMail is what the session-started templates are given.
type startedMail struct {
	App       string
	Actor     string
	Reason    string
	Minutes   int
	Expires   string
	Write     bool
	RevokeURL string
}

var startedTemplates = map[string]struct {
	subject string
	body    *template.Template
}{
	English: {"Support is acting as you on %s", template.Must(template.New("en").Parse(`<p>Hello,</p>
<p><strong>{{.Actor}}</strong> started acting as you on {{.App}}, for {{.Minutes}} minutes (until {{.Expires}}),
{{if .Write}}able to make changes{{else}}read-only{{end}}.</p>
<p>Reason given: {{.Reason}}</p>
<p>Every action is recorded, and you can read them in your account. If you did not expect this, withdraw
your consent and the session ends at once: <a href="{{.RevokeURL}}">{{.RevokeURL}}</a></p>`))},
	Spanish: {"El equipo de soporte está actuando como usted en %s", template.Must(template.New("es").Parse(`<p>Hola:</p>
<p><strong>{{.Actor}}</strong> ha empezado a actuar como usted en {{.App}}, durante {{.Minutes}} minutos (hasta {{.Expires}}),
{{if .Write}}con permiso para hacer cambios{{else}}solo en modo lectura{{end}}.</p>
<p>Motivo indicado: {{.Reason}}</p>
<p>Cada acción queda registrada y puede consultarla en su cuenta. Si no lo esperaba, retire su
consentimiento y la sesión terminará en el acto: <a href="{{.RevokeURL}}">{{.RevokeURL}}</a></p>`))},
}

// SessionStarted emails target that actor started session s, with a link
// to revokeURL to withdraw consent.
func SessionStarted(app core.App, s *records.Session, actor, target *core.Record, revokeURL string) error {
	if target.Email() == "" {
		return fmt.Errorf("notify: the user has no email address")
	}
	lang := LanguageOf(target)
	t := startedTemplates[lang]
	data := startedMail{
		App:       app.Settings().Meta.AppName,
		Actor:     nameOf(actor),
		Reason:    s.Reason(),
		Minutes:   int(s.Expires().Sub(s.GetDateTime("created").Time()).Round(time.Minute) / time.Minute),
		Expires:   s.Expires().UTC().Format(mailTimeLayout),
		Write:     s.Mode() == records.ModeWrite,
		RevokeURL: revokeURL,
	}
	var body bytes.Buffer
	if err := t.body.Execute(&body, data); err != nil {
		return err
	}
	return send(app, target.Email(), fmt.Sprintf(t.subject, data.App), body.String(), "")
}

var refusalsTemplate = template.Must(template.New("refusals").Parse(`<p>{{.Count}} impersonation starts by
<strong>{{.Actor}}</strong> were refused in the last {{.Minutes}} minutes on {{.App}}. The impersonation
audit has them: each one within the attempt limit as a session.denied entry, those over it counted in
session.throttled entries.</p>`))

// Refusals emails to that actor's starts were refused count times within
// the last window.
func Refusals(app core.App, to string, actor *core.Record, count int, window time.Duration) error {
	var body bytes.Buffer
	err := refusalsTemplate.Execute(&body, map[string]any{
		"Count": count, "Actor": nameOf(actor), "Minutes": int(window / time.Minute), "App": app.Settings().Meta.AppName,
	})
	if err != nil {
		return err
	}
	return send(app, to, fmt.Sprintf("Repeated impersonation refusals on %s", app.Settings().Meta.AppName), body.String(), "")
}

var auditLossTemplate = template.Must(template.New("auditLoss").Parse(`<p>The impersonation audit of {{.App}}
no longer reaches the entry it had anchored, #{{.AnchoredSeq}} (hash {{.AnchoredHash}}): its head is now
#{{.HeadSeq}}. Committed audit entries were deleted or rewritten outside the plugin.</p>
<p>GET /api/impersonation/audit/verify reports it until a superuser accepts the loss with
POST /api/impersonation/audit/acknowledge, which records it in the audit.</p>`))

// AuditLoss emails to that the audit chain no longer reaches its anchored
// head (anchoredSeq, anchoredHash); its head is now headSeq.
func AuditLoss(app core.App, to string, anchoredSeq int, anchoredHash string, headSeq int) error {
	var body bytes.Buffer
	err := auditLossTemplate.Execute(&body, map[string]any{
		"App": app.Settings().Meta.AppName, "AnchoredSeq": anchoredSeq, "AnchoredHash": anchoredHash, "HeadSeq": headSeq,
	})
	if err != nil {
		return err
	}
	return send(app, to, fmt.Sprintf("Impersonation audit entries lost on %s", app.Settings().Meta.AppName), body.String(), "")
}

// mailTimeLayout is how the emails write a time.
const mailTimeLayout = "2006-01-02 15:04 UTC"

// send mails subject to to, as html and, when text is not "", as plain
// text too.
func send(app core.App, to, subject, html, text string) error {
	meta := app.Settings().Meta
	return app.NewMailClient().Send(&mailer.Message{
		From:    mail.Address{Name: meta.SenderName, Address: meta.SenderAddress},
		To:      []mail.Address{{Address: to}},
		Subject: subject,
		HTML:    html,
		Text:    text,
	})
}

// nameOf names a record in a mail: "Name <email>", or the email.
func nameOf(r *core.Record) string {
	if name := r.GetString("name"); name != "" {
		return name + " <" + r.Email() + ">"
	}
	return r.Email()
}

var settingsWeakenedTemplate = template.Must(template.New("settingsWeakened").Parse(`<p>A superuser changed the
impersonation settings of {{.App}} in a way that weakens the evidence they keep: {{range $i, $c := .Changes}}{{if $i}}, {{end}}{{$c}}{{end}}.</p>
<table>{{range .Rows}}<tr><td>{{.Field}}</td><td>{{.Before}}</td><td>→ {{.After}}</td></tr>{{end}}</table>
<p>The change is in the impersonation audit as a settings entry (settings.created, settings.updated or
settings.deleted) with the values before and after. If nobody meant it, set the values back in the dashboard
(Impersonation → Settings).</p>`))

// SettingsWeakened emails to that a change of the settings weakened the
// evidence (changes: settings.RetentionShortened...), with the values
// before and after, by field name.
func SettingsWeakened(app core.App, to string, changes []string, before, after map[string]any) error {
	type row struct{ Field, Before, After string }
	var rows []row
	for _, field := range []string{"alertEmail", "alertAfterRefusals", "auditRetentionHours", "revokeURL", "productURL", "extraRedactKeys"} {
		b, a := fmt.Sprint(before[field]), fmt.Sprint(after[field])
		if b != a {
			rows = append(rows, row{field, b, a})
		}
	}
	var body bytes.Buffer
	err := settingsWeakenedTemplate.Execute(&body, map[string]any{
		"App": app.Settings().Meta.AppName, "Changes": changes, "Rows": rows,
	})
	if err != nil {
		return err
	}
	return send(app, to, fmt.Sprintf("Impersonation settings weakened on %s", app.Settings().Meta.AppName), body.String(), "")
}

var sinkBehindTemplate = template.Must(template.New("sinkBehind").Parse(`<p>The impersonation audit of {{.App}}
keeps {{.Held}} entries past their retention because the enabled sink "{{.Sink}}" has not received them yet
(it took entries up to #{{.DeliveredSeq}}; its last error: {{.LastError}}).</p>
<p>Entries are pruned once every enabled sink has them. Fix the sink, or disable it in the dashboard
(Impersonation → Sinks) to let the retention prune again.</p>`))

// SinkBehind emails to that the retention keeps held entries past their
// time because the enabled sink named sink has not received them.
func SinkBehind(app core.App, to, sink string, deliveredSeq, held int, lastError string) error {
	var body bytes.Buffer
	err := sinkBehindTemplate.Execute(&body, map[string]any{
		"App": app.Settings().Meta.AppName, "Sink": sink, "DeliveredSeq": deliveredSeq, "Held": held, "LastError": lastError,
	})
	if err != nil {
		return err
	}
	return send(app, to, fmt.Sprintf("Impersonation audit sink behind on %s", app.Settings().Meta.AppName), body.String(), "")
}
