package hooks

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/checkpoints"
	"github.com/pbimpersonation/impersonation/internal/notify"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/sinks"
)

// Route paths of the checkpoints.
const (
	checkpointPath = "/api/impersonation/audit/checkpoint"
	witnessPath    = "/api/impersonation/audit/witness"
)

// validateSink refuses a webhook without an http(s) URL and a file sink
// whose path would write outside its folder or onto the data directory's
// own files.
func validateSink(e *core.RecordEvent) error {
	s := &records.Sink{Record: e.Record}
	errs := validation.Errors{}
	switch s.Type() {
	case records.SinkWebhook:
		u, err := url.Parse(s.URL())
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs["url"] = validation.NewError("validation_sink_url", "A webhook needs an http(s) URL.")
		}
	case records.SinkFile:
		if _, err := sinks.FilePath(e.App.DataDir(), s.Path()); err != nil {
			errs["path"] = validation.NewError("validation_sink_path",
				"Give a path relative to pb_data/"+sinks.Dir+", or an absolute path outside pb_data.")
		}
	}
	if err := e.Next(); err != nil {
		var fieldErrs validation.Errors
		if errors.As(err, &fieldErrs) {
			for k, v := range errs {
				fieldErrs[k] = v
			}
		}
		return err
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// hideSinkSecret leaves a sink's secret out of every record PocketBase
// serves (list, view, the answer of a create or update, expand, realtime):
// its field is hidden, but PocketBase shows hidden fields to superusers,
// unhiding them in the enrichment that runs inside Next (the REST answers)
// or before it (realtime): the secret is hidden after both.
func hideSinkSecret(e *core.RecordEnrichEvent) error {
	err := e.Next()
	e.Record.Hide("secret")
	return err
}

// refuseSinkState refuses a create or update of a sink, through the
// records API (batch included), that sets its delivery state: the cursor,
// the checkpoint offset, the last error and attempt are the delivery's
// word, which a superuser must not be able to forge (a cursor moved past
// entries would skip them, and a retention would prune them).
func refuseSinkState(e *core.RecordRequestEvent) error {
	original := e.Record.Original()
	for _, field := range records.SinkState {
		now := e.Record.GetString(field)
		changed := now != original.GetString(field)
		if e.Record.IsNew() {
			changed = now != "" && now != "0" // a new sink's state is empty
		}
		if changed {
			return refuseWith(http.StatusForbidden, refusals.CodeSinkStateReadOnly, map[string]any{"field": field}, nil)
		}
	}
	return e.Next()
}

// auditSinkChange writes a sink's creation, edit or deletion to the audit,
// without its secret, in the transaction of the change, and gives the
// sink's delivery state its stored values (or, for a new sink, its
// starting point: the oldest entry retained, or, with startFromNow, the
// head), whatever the save carried.
func (p *handlers) auditSinkChange(event string) func(e *core.RecordEvent) error {
	return func(e *core.RecordEvent) error {
		s := &records.Sink{Record: e.Record}
		data := map[string]any{}
		if original := e.Record.Original(); event != audit.SinkCreated && original != nil {
			data["before"] = sinkExport(&records.Sink{Record: original})
		}
		return inTransaction(&e.App, func() error {
			if err := p.setSinkState(e.App, s, event); err != nil {
				return err
			}
			return e.Next()
		}, func(tx core.App) error {
			if event != audit.SinkDeleted {
				data["after"] = sinkExport(s) // once saved: a new sink has its id
			}
			return p.opts.Audit.Write(tx, audit.Entry{Event: event, Data: data})
		})
	}
}

// setSinkState gives s the delivery state it must have when saved.
func (p *handlers) setSinkState(tx core.App, s *records.Sink, event string) error {
	switch event {
	case audit.SinkCreated:
		// from the oldest entry retained (what was pruned before is no
		// gap of this sink's), or from now
		first, err := audit.FirstSeq(tx)
		if err != nil {
			return err
		}
		start, offset := max(first-1, 0), int64(0)
		if s.StartFromNow() {
			head, err := audit.HeadOf(tx)
			if err != nil {
				return err
			}
			start = head.Seq
			if st, err := os.Stat(p.opts.Checkpoints.LogPath()); err == nil {
				offset = st.Size()
			}
		}
		s.SetDeliveredSeq(start)
		s.SetCheckpointOffset(offset)
		s.Set("lastError", "")
		s.Set("lastAttempt", "")
	case audit.SinkUpdated:
		stored, err := tx.FindRecordById(records.SinksCollection, s.Id)
		if err != nil {
			return err
		}
		for _, field := range records.SinkState {
			s.Set(field, stored.Get(field))
		}
	}
	return nil
}

// sinkExport is what the audit keeps of a sink: its settings, never its
// secret (only whether it has one), and its URL without credentials or
// query (a receiver's token is often there).
func sinkExport(s *records.Sink) map[string]any {
	return map[string]any{
		"id": s.Id, "name": s.Name(), "type": s.Type(), "url": redactedURL(s.URL()), "path": s.Path(),
		"format": s.Format(), "enabled": s.Enabled(), "startFromNow": s.StartFromNow(),
		"batchSize": s.BatchSize(), "batchSeconds": s.BatchSeconds(), "hasSecret": s.Secret() != "",
	}
}

// redactedURL returns raw without its password and query.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.Redacted()
}

// sinkChanged restarts the delivery of a sink once its change is committed.
func (p *handlers) sinkChanged(e *core.RecordEvent) error {
	if err := p.sinks.Reload(); err != nil {
		e.App.Logger().Error("impersonation: restart the audit sinks after a change", "error", err)
	}
	return e.Next()
}

// checkpoint signs the chain's head, when it grew since the last
// checkpoint, and wakes the sinks to send it.
func (p *handlers) checkpoint() {
	if !p.app.IsBootstrapped() || p.restoring.Load() {
		return
	}
	head, err := audit.HeadOf(p.app)
	if err != nil {
		p.app.Logger().Error("impersonation: read the audit head for a checkpoint", "error", err)
		return
	}
	made, err := p.opts.Checkpoints.Sign(head)
	if err != nil {
		p.app.Logger().Error("impersonation: sign a checkpoint of the audit", "error", err)
		return
	}
	if made != nil {
		p.sinks.Wake()
	}
}

// pruneCeiling returns the highest seq a prune of the entries created
// before before may delete: the lowest cursor of the enabled sinks (every
// seq when there is none). When that holds back entries past their
// retention, it alerts (the log, and an email to alertEmail), naming the
// sink furthest behind.
func (p *handlers) pruneCeiling(before time.Time, alertEmail string) (int, error) {
	minSeq, anyEnabled, err := records.MinUndeliveredSeq(p.app)
	if err != nil || !anyEnabled {
		return math.MaxInt, err
	}
	held, err := p.opts.Audit.CountBefore(before, minSeq)
	if err != nil || held == 0 {
		return minSeq, err
	}
	list, err := records.FindSinks(p.app)
	if err != nil {
		return minSeq, err
	}
	var behind *records.Sink
	for _, s := range list {
		if s.Enabled() && (behind == nil || s.DeliveredSeq() < behind.DeliveredSeq()) {
			behind = s
		}
	}
	name, seq, lastError := behind.Name(), behind.DeliveredSeq(), behind.LastError()
	p.app.Logger().Error("impersonation: the retention keeps audit entries an enabled sink has not received",
		"sink", name, "deliveredSeq", seq, "held", held, "lastError", lastError)
	if alertEmail != "" {
		app := p.app
		p.inBackground(func() {
			if err := notify.SinkBehind(app, alertEmail, name, seq, held, lastError); err != nil {
				app.Logger().Error("impersonation: email the sink alert", "error", err)
			}
		})
	}
	return minSeq, nil
}

// latestCheckpoint answers the newest signed checkpoint of the chain.
func (p *handlers) latestCheckpoint(e *core.RequestEvent) error {
	c, err := p.opts.Checkpoints.Latest()
	if err != nil {
		return e.InternalServerError("", err)
	}
	if c == nil {
		return refuse(http.StatusNotFound, refusals.CodeNotFound, nil)
	}
	out := *c
	out.Type = ""
	return e.JSON(http.StatusOK, out)
}

// maxWitness is the largest witness file the route reads.
const maxWitness = 256 << 20

// checkWitness checks a witness file a superuser uploads (the body, or the
// multipart file field "witness") against the chain (checkpoints.Witness),
// and verifies the chain itself: the answer is never OK when it does not.
func (p *handlers) checkWitness(e *core.RequestEvent) error {
	var body io.Reader = e.Request.Body
	if strings.HasPrefix(e.Request.Header.Get("Content-Type"), "multipart/") {
		f, _, err := e.Request.FormFile("witness")
		if err != nil {
			return refuseFields(validation.Errors{"witness": validation.ErrRequired})
		}
		defer f.Close()
		body = f
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxWitness+1))
	switch {
	case err != nil:
		return refuse(http.StatusBadRequest, refusals.CodeInvalidBody, err)
	case len(bytes.TrimSpace(raw)) == 0:
		return refuseFields(validation.Errors{"witness": validation.ErrRequired})
	case len(raw) > maxWitness:
		return refuseFields(validation.Errors{"witness": validation.ErrLengthTooLong.SetParams(map[string]any{"max": maxWitness})})
	}
	if err := p.opts.Audit.Flush(); err != nil {
		return e.InternalServerError("", err)
	}
	pub, err := p.opts.Checkpoints.PublicKey()
	if errors.Is(err, checkpoints.ErrNoKey) {
		return refuse(http.StatusNotFound, refusals.CodeNotFound, err)
	}
	if err != nil {
		return e.InternalServerError("", err)
	}
	chain, err := p.opts.Audit.Verify(nil)
	if err != nil {
		return e.InternalServerError("", err)
	}
	res, err := checkpoints.Witness(bytes.NewReader(raw), pub, func(h audit.Head) (audit.Hold, error) { return audit.Holds(e.App, h) })
	if err != nil {
		return e.InternalServerError("", err)
	}
	return e.JSON(http.StatusOK, checkpoints.Fold(res, chain))
}
