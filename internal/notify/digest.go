package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/digest"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// mailWrites is the most writes a digest's email lists; the user's page
// lists them all.
const mailWrites = 50

// digestMail is what the digest templates are given.
type digestMail struct {
	App         string
	Actor       string
	Reason      string
	Started     string
	Ended       string
	Length      string
	Write       bool
	Requests    int
	Collections []digest.Count
	Other       int
	Writes      []digest.Write
	// More counts the writes the email leaves out
	More    int
	PageURL string
}

// digestTemplate is one language's digest email: its subject (with the
// app's name), its HTML body (every value escaped) and its plain text body,
// and how it says a length of time.
type digestTemplate struct {
	subject string
	html    *htmltemplate.Template
	text    *texttemplate.Template
	seconds string
	minutes string
}

// digestTemplates are the digest emails by language. The HTML and the text
// body say the same; the text is built by text/template, so nothing in it
// is markup.
var digestTemplates = map[string]digestTemplate{
	English: {
		subject: "What support did while acting as you on %s",
		html: htmltemplate.Must(htmltemplate.New("en").Parse(`<p>Hello,</p>
<p><strong>{{.Actor}}</strong> acted as you on {{.App}} from {{.Started}} to {{.Ended}} ({{.Length}}),
{{if .Write}}able to make changes{{else}}read-only{{end}}.</p>
<p>Reason given: {{.Reason}}</p>
<p>Requests: {{.Requests}}{{range $i, $c := .Collections}}{{if $i}},{{else}}:{{end}} {{$c.Collection}} ({{$c.Requests}}){{end}}{{if .Other}}{{if .Collections}},{{else}}:{{end}} other ({{.Other}}){{end}}.</p>
{{if .Writes}}<p>Changes asked for (method, path, status):</p>
<ul>{{range .Writes}}<li>{{.Method}} {{.Path}} → {{.Status}}</li>{{end}}</ul>
{{if .More}}<p>and {{.More}} more.</p>{{end}}{{else}}<p>No changes were asked for.</p>{{end}}
<p>Every request is recorded. The full digest is on your page: <a href="{{.PageURL}}">{{.PageURL}}</a></p>`)),
		text: texttemplate.Must(texttemplate.New("en").Parse(`Hello,

{{.Actor}} acted as you on {{.App}} from {{.Started}} to {{.Ended}} ({{.Length}}), {{if .Write}}able to make changes{{else}}read-only{{end}}.

Reason given: {{.Reason}}

Requests: {{.Requests}}{{range $i, $c := .Collections}}{{if $i}},{{else}}:{{end}} {{$c.Collection}} ({{$c.Requests}}){{end}}{{if .Other}}{{if .Collections}},{{else}}:{{end}} other ({{.Other}}){{end}}.

{{if .Writes}}Changes asked for (method, path, status):
{{range .Writes}}- {{.Method}} {{.Path}} -> {{.Status}}
{{end}}{{if .More}}and {{.More}} more.
{{end}}{{else}}No changes were asked for.
{{end}}
Every request is recorded. The full digest is on your page: {{.PageURL}}
`)),
		seconds: "%d seconds",
		minutes: "%d minutes",
	},
	Spanish: {
		subject: "Lo que hizo el equipo de soporte al actuar como usted en %s",
		html: htmltemplate.Must(htmltemplate.New("es").Parse(`<p>Hola:</p>
<p><strong>{{.Actor}}</strong> actuó como usted en {{.App}} desde {{.Started}} hasta {{.Ended}} ({{.Length}}),
{{if .Write}}con permiso para hacer cambios{{else}}solo en modo lectura{{end}}.</p>
<p>Motivo indicado: {{.Reason}}</p>
<p>Peticiones: {{.Requests}}{{range $i, $c := .Collections}}{{if $i}},{{else}}:{{end}} {{$c.Collection}} ({{$c.Requests}}){{end}}{{if .Other}}{{if .Collections}},{{else}}:{{end}} otras ({{.Other}}){{end}}.</p>
{{if .Writes}}<p>Cambios solicitados (método, ruta, estado):</p>
<ul>{{range .Writes}}<li>{{.Method}} {{.Path}} → {{.Status}}</li>{{end}}</ul>
{{if .More}}<p>y {{.More}} más.</p>{{end}}{{else}}<p>No se solicitó ningún cambio.</p>{{end}}
<p>Cada petición queda registrada. El resumen completo está en su página: <a href="{{.PageURL}}">{{.PageURL}}</a></p>`)),
		text: texttemplate.Must(texttemplate.New("es").Parse(`Hola:

{{.Actor}} actuó como usted en {{.App}} desde {{.Started}} hasta {{.Ended}} ({{.Length}}), {{if .Write}}con permiso para hacer cambios{{else}}solo en modo lectura{{end}}.

Motivo indicado: {{.Reason}}

Peticiones: {{.Requests}}{{range $i, $c := .Collections}}{{if $i}},{{else}}:{{end}} {{$c.Collection}} ({{$c.Requests}}){{end}}{{if .Other}}{{if .Collections}},{{else}}:{{end}} otras ({{.Other}}){{end}}.

{{if .Writes}}Cambios solicitados (método, ruta, estado):
{{range .Writes}}- {{.Method}} {{.Path}} -> {{.Status}}
{{end}}{{if .More}}y {{.More}} más.
{{end}}{{else}}No se solicitó ningún cambio.
{{end}}
Cada petición queda registrada. El resumen completo está en su página: {{.PageURL}}
`)),
		seconds: "%d segundos",
		minutes: "%d minutos",
	},
}

// SessionDigest emails target the digest d of a session on them, with a
// link to pageURL, their page, where the whole digest is.
func SessionDigest(app core.App, d *digest.Digest, target *core.Record, pageURL string) error {
	if target.Email() == "" {
		return fmt.Errorf("notify: the user has no email address")
	}
	t := digestTemplates[LanguageOf(target)]
	data := digestMail{
		App:         app.Settings().Meta.AppName,
		Actor:       actorName(d.Actor),
		Reason:      d.Reason,
		Started:     mailTime(d.Started),
		Ended:       mailTime(d.Ended),
		Length:      t.length(d.Seconds),
		Write:       d.Mode == records.ModeWrite,
		Requests:    d.Requests,
		Collections: d.Collections,
		Other:       d.OtherRequests,
		Writes:      d.Writes[:min(len(d.Writes), mailWrites)],
		More:        max(0, len(d.Writes)-mailWrites) + d.WritesLeftOut,
		PageURL:     pageURL,
	}
	var html, text bytes.Buffer
	if err := t.html.Execute(&html, data); err != nil {
		return err
	}
	if err := t.text.Execute(&text, data); err != nil {
		return err
	}
	return send(app, target.Email(), fmt.Sprintf(t.subject, data.App), html.String(), text.String())
}

// length says a number of seconds in words: seconds under a minute,
// whole minutes (rounded) from then on.
func (t digestTemplate) length(seconds int) string {
	if seconds < 60 {
		return fmt.Sprintf(t.seconds, seconds)
	}
	return fmt.Sprintf(t.minutes, (seconds+30)/60)
}

// mailTime writes a stored date as the emails write times.
func mailTime(stored string) string {
	d, err := types.ParseDateTime(stored)
	if err != nil {
		return stored
	}
	return d.Time().UTC().Format(mailTimeLayout)
}

// actorName names a digest's actor as nameOf names a record.
func actorName(a digest.Actor) string {
	switch {
	case a.Name != "" && a.Email != "":
		return a.Name + " <" + a.Email + ">"
	case a.Email != "":
		return a.Email
	default:
		return a.Id
	}
}
