package notify

import (
	"bytes"
	"fmt"
	"html/template"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Kinds of the emails about requests for access and break-glass sessions.
const (
	// KindAsked tells the user that an actor asks to act as them.
	KindAsked = "asked"
	// KindApproved tells the actor that their request is approved.
	KindApproved = "approved"
	// KindDeclined tells the actor that their request was declined or
	// withdrawn.
	KindDeclined = "declined"
	// KindApprovedByApprover tells the user who approved a request about
	// them.
	KindApprovedByApprover = "approvedByApprover"
	// KindBreakGlass tells the user that a break-glass session on them
	// started.
	KindBreakGlass = "breakGlass"
)

// accessMail is what the templates of the requests' emails are given.
type accessMail struct {
	App, Actor, User, Approver, Reason, Expires, PageURL string
	Minutes                                              int
	Write                                                bool
}

// accessTemplates are the requests' emails, by kind and language: a
// subject (with the app's name) and a body.
var accessTemplates = map[string]map[string]struct {
	subject string
	body    *template.Template
}{
	KindAsked: {
		English: {"Support asks to act as you on %s", template.Must(template.New("asked.en").Parse(`<p>Hello,</p>
<p><strong>{{.Actor}}</strong> asks to act as you on {{.App}} for up to {{.Minutes}} minutes,
{{if .Write}}able to make changes{{else}}read-only{{end}}.</p>
<p>Reason given: {{.Reason}}</p>
<p>Nothing happens unless you approve it, signed in to your account, before {{.Expires}}. You may shorten the time
or allow reading only. Answer on your page: <a href="{{.PageURL}}">{{.PageURL}}</a></p>`))},
		Spanish: {"El equipo de soporte pide actuar como usted en %s", template.Must(template.New("asked.es").Parse(`<p>Hola:</p>
<p><strong>{{.Actor}}</strong> pide actuar como usted en {{.App}} durante un máximo de {{.Minutes}} minutos,
{{if .Write}}con permiso para hacer cambios{{else}}solo en modo lectura{{end}}.</p>
<p>Motivo indicado: {{.Reason}}</p>
<p>No ocurre nada si no lo aprueba, con su sesión iniciada, antes del {{.Expires}}. Puede acortar el tiempo o
permitir solo la lectura. Responda en su página: <a href="{{.PageURL}}">{{.PageURL}}</a></p>`))},
	},
	KindApproved: {
		English: {"Your request to act as a user on %s is approved", template.Must(template.New("approved.en").Parse(`<p>Hello,</p>
<p>Your request to act as <strong>{{.User}}</strong> on {{.App}} is approved, for up to {{.Minutes}} minutes,
{{if .Write}}able to make changes{{else}}read-only{{end}}. Start the session within the hour, until {{.Expires}}.</p>`))},
		Spanish: {"Su solicitud para actuar como un usuario en %s está aprobada", template.Must(template.New("approved.es").Parse(`<p>Hola:</p>
<p>Su solicitud para actuar como <strong>{{.User}}</strong> en {{.App}} está aprobada, durante un máximo de {{.Minutes}} minutos,
{{if .Write}}con permiso para hacer cambios{{else}}solo en modo lectura{{end}}. Inicie la sesión en la próxima hora, hasta el {{.Expires}}.</p>`))},
	},
	KindDeclined: {
		English: {"Your request to act as a user on %s was declined", template.Must(template.New("declined.en").Parse(`<p>Hello,</p>
<p>Your request to act as <strong>{{.User}}</strong> on {{.App}} was declined or withdrawn.</p>`))},
		Spanish: {"Su solicitud para actuar como un usuario en %s fue rechazada", template.Must(template.New("declined.es").Parse(`<p>Hola:</p>
<p>Su solicitud para actuar como <strong>{{.User}}</strong> en {{.App}} fue rechazada o retirada.</p>`))},
	},
	KindApprovedByApprover: {
		English: {"A request to act as you on %s was approved", template.Must(template.New("byApprover.en").Parse(`<p>Hello,</p>
<p><strong>{{.Approver}}</strong> approved the request of <strong>{{.Actor}}</strong> to act as you on {{.App}}, for up to
{{.Minutes}} minutes, {{if .Write}}able to make changes{{else}}read-only{{end}}.</p>
<p>Reason given: {{.Reason}}</p>
<p>You can withdraw it, or end the session, on your page: <a href="{{.PageURL}}">{{.PageURL}}</a></p>`))},
		Spanish: {"Se aprobó una solicitud para actuar como usted en %s", template.Must(template.New("byApprover.es").Parse(`<p>Hola:</p>
<p><strong>{{.Approver}}</strong> aprobó la solicitud de <strong>{{.Actor}}</strong> para actuar como usted en {{.App}}, durante un máximo de
{{.Minutes}} minutos, {{if .Write}}con permiso para hacer cambios{{else}}solo en modo lectura{{end}}.</p>
<p>Motivo indicado: {{.Reason}}</p>
<p>Puede retirarla, o terminar la sesión, en su página: <a href="{{.PageURL}}">{{.PageURL}}</a></p>`))},
	},
	KindBreakGlass: {
		English: {"Emergency access to your account on %s", template.Must(template.New("breakGlass.en").Parse(`<p>Hello,</p>
<p><strong>{{.Actor}}</strong> started acting as you on {{.App}} <strong>without your consent, in an emergency</strong>
(break-glass), until {{.Expires}}, {{if .Write}}able to make changes{{else}}read-only{{end}}.</p>
<p>Reason given: {{.Reason}}</p>
<p>Every action is recorded. You can end the session at once on your page: <a href="{{.PageURL}}">{{.PageURL}}</a></p>`))},
		Spanish: {"Acceso de emergencia a su cuenta en %s", template.Must(template.New("breakGlass.es").Parse(`<p>Hola:</p>
<p><strong>{{.Actor}}</strong> ha empezado a actuar como usted en {{.App}} <strong>sin su consentimiento, por una emergencia</strong>
(acceso de emergencia), hasta el {{.Expires}}, {{if .Write}}con permiso para hacer cambios{{else}}solo en modo lectura{{end}}.</p>
<p>Motivo indicado: {{.Reason}}</p>
<p>Cada acción queda registrada. Puede terminar la sesión en el acto en su página: <a href="{{.PageURL}}">{{.PageURL}}</a></p>`))},
	},
}

// Access emails to, in their language, the email of kind about request r
// (nil for KindBreakGlass) or session s (nil but for KindBreakGlass), whose
// actor and user are named; approver is who approved (nil: none), pageURL
// the user's page.
func Access(app core.App, kind string, to *core.Record, r *records.Request, s *records.Session, actor, user, approver *core.Record, pageURL string) error {
	if to.Email() == "" {
		return fmt.Errorf("notify: the recipient has no email address")
	}
	data := accessMail{App: app.Settings().Meta.AppName, Actor: nameOf(actor), User: nameOf(user), PageURL: pageURL}
	if approver != nil {
		data.Approver = nameOf(approver)
	}
	switch {
	case r != nil:
		data.Reason, data.Minutes, data.Write = r.Reason(), r.Minutes(), r.Mode() == records.ModeWrite
		data.Expires = r.Expires().UTC().Format(mailTimeLayout)
		if kind == KindApproved {
			data.Expires = r.Approved().Add(records.ClaimWindow).UTC().Format(mailTimeLayout)
		}
	case s != nil:
		data.Reason, data.Write = s.Reason(), s.Mode() == records.ModeWrite
		data.Expires = s.Expires().UTC().Format(mailTimeLayout)
	}
	t := accessTemplates[kind][LanguageOf(to)]
	var body bytes.Buffer
	if err := t.body.Execute(&body, data); err != nil {
		return err
	}
	return send(app, to.Email(), fmt.Sprintf(t.subject, data.App), body.String(), "")
}

var oversightTemplate = template.Must(template.New("oversight").Parse(`<p><strong>{{.Actor}}</strong> started a
break-glass session on {{.App}}: acting as <strong>{{.User}}</strong> without their consent, until {{.Expires}},
{{if .Write}}able to make changes{{else}}read-only{{end}}.</p>
<p>Reason given: {{.Reason}}</p>
<p>Session {{.Session}}. Every entry of the session is flagged in the impersonation audit: the filter
<code>data.breakGlass = true</code> lists them, and <code>breakGlass = true</code> the break-glass sessions.</p>`))

// BreakGlassOversight emails to (a policy's oversightEmail) that break-glass
// session s of actor on user started.
func BreakGlassOversight(app core.App, to string, s *records.Session, actor, user *core.Record) error {
	var body bytes.Buffer
	err := oversightTemplate.Execute(&body, map[string]any{
		"App": app.Settings().Meta.AppName, "Actor": nameOf(actor), "User": nameOf(user), "Reason": s.Reason(),
		"Expires": s.Expires().UTC().Format(mailTimeLayout), "Write": s.Mode() == records.ModeWrite, "Session": s.Id,
	})
	if err != nil {
		return err
	}
	return send(app, to, fmt.Sprintf("Break-glass impersonation on %s", app.Settings().Meta.AppName), body.String(), "")
}
