package hooks

import (
	"io"
	"net/http"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/redact"
)

// maxAuditedBody is the most of a request body the audit reads; a longer
// body is recorded by its size only.
const maxAuditedBody = 1 << 20

// audited runs next with the response held back until the request's audit
// entry is durable: the entry is written, with the status, when the handler
// first writes its response (or, for a handler that returns an error, before
// PocketBase writes that error). If the entry cannot be written, the client
// gets a 500 and nothing of the handler's response. answered is called
// once the entry is written (or could not be).
func (p *handlers) audited(e *core.RequestEvent, s *records.Session, answered func(), next func() error) error {
	started := p.opts.Clock.Now()
	// the redaction in force when the request came: fail closed without it
	current, err := p.settings.Get(e.App)
	if err != nil {
		e.App.Logger().Error("impersonation: read the settings for the request's audit entry", "error", err)
		return e.InternalServerError("", nil)
	}
	r := current.Redactor
	gate := &responseGate{real: e.Response, header: http.Header{}}
	gate.commit = func(status int) error {
		defer answered()
		return p.opts.Audit.Writer.Write(p.requestEntry(e, r, s, status, started, p.opts.Clock.Now()))
	}

	e.Response = gate
	err = next()
	e.Response = gate.real

	if gate.err == nil && !gate.committed {
		status := http.StatusOK
		if err != nil {
			status = router.ToApiError(err).Status
		}
		gate.err = gate.commit(status)
	}
	if gate.err != nil {
		e.App.Logger().Error("impersonation: write the request's audit entry", "error", gate.err)
		return e.InternalServerError("", nil)
	}
	return err
}

// requestEntry is the audit entry of a request made with s's token, begun
// at started and answered at answered: the entry is dated answered, so its
// date less its durationMs is when the request began (the session timeline
// orders an end after the requests under way when it came).
func (p *handlers) requestEntry(e *core.RequestEvent, r *redact.Redactor, s *records.Session, status int, started, answered time.Time) audit.Entry {
	entry := audit.ForSession(audit.Request, s)
	entry.Created, _ = types.ParseDateTime(answered)
	entry.Reason = ""
	entry.Client = audit.ClientOf(e, status)
	entry.Data["route"] = e.Request.Pattern
	entry.Data["query"] = r.Values(e.Request.URL.Query())
	entry.Data["body"] = auditedBody(e, r)
	entry.Data["durationMs"] = float64(answered.Sub(started).Microseconds()) / 1000
	return entry
}

// auditedBody returns a redacted copy of the request body, read as
// PocketBase reads it (see redact.Body): the multipart form PocketBase has
// parsed, if it has, else the body itself, read to its end (PocketBase's
// request body can be read again, so the handler, or anyone after it, still
// sees the body unchanged). A body over maxAuditedBody, or one that cannot
// be read, is kept by its size and media type only.
func auditedBody(e *core.RequestEvent, r *redact.Redactor) any {
	if form := e.Request.MultipartForm; form != nil {
		return r.Multipart(form)
	}
	if e.Request.ContentLength == 0 {
		return nil // no body (most requests): spare io.Copy's buffer
	}
	if rr, ok := e.Request.Body.(router.Rereader); ok {
		rr.Reread()
	}
	capped := &cappedBuffer{max: maxAuditedBody}
	n, err := io.Copy(capped, e.Request.Body)
	if rr, ok := e.Request.Body.(router.Rereader); ok {
		rr.Reread()
	}
	contentType := e.Request.Header.Get("Content-Type")
	switch {
	case err != nil:
		return map[string]any{"unreadable": true, "type": redact.MediaType(contentType)}
	case n > maxAuditedBody:
		return map[string]any{"size": n, "type": redact.MediaType(contentType), "truncated": true}
	default:
		return r.Body(contentType, capped.data)
	}
}

// cappedBuffer keeps the first max bytes written to it and counts the rest.
type cappedBuffer struct {
	max  int
	data []byte
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max + 1 - len(b.data); room > 0 {
		b.data = append(b.data, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// responseGate is the response writer of an audited request: headers are
// kept aside and nothing reaches the client until commit has written the
// request's audit entry.
type responseGate struct {
	real      http.ResponseWriter
	header    http.Header
	commit    func(status int) error
	status    int
	committed bool
	err       error
}

// Header returns the headers to send, kept aside until the entry is written.
func (g *responseGate) Header() http.Header { return g.header }

// WriteHeader writes the audit entry with status and then, only if that
// succeeded, the status and headers to the client.
func (g *responseGate) WriteHeader(status int) {
	if g.status != 0 {
		return
	}
	g.status = status
	if g.err = g.commit(status); g.err != nil {
		return
	}
	for k, v := range g.header {
		g.real.Header()[k] = v
	}
	g.real.WriteHeader(status)
	g.committed = true
}

// Write writes to the client once the entry is written.
func (g *responseGate) Write(b []byte) (int, error) {
	if g.status == 0 {
		g.WriteHeader(http.StatusOK)
	}
	if g.err != nil {
		return 0, g.err
	}
	return g.real.Write(b)
}

// Flush flushes the client's response once the entry is written.
func (g *responseGate) Flush() {
	if g.status == 0 {
		g.WriteHeader(http.StatusOK)
	}
	if g.committed {
		_ = http.NewResponseController(g.real).Flush()
	}
}

// Written reports whether the handler has written its response (so that
// PocketBase does not write an error over it).
func (g *responseGate) Written() bool { return g.status != 0 }

// Status returns the status the handler wrote.
func (g *responseGate) Status() int { return g.status }
