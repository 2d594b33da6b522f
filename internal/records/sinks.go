package records

import (
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Sink types and formats.
const (
	SinkWebhook = "webhook"
	SinkFile    = "file"
	FormatJSONL = "jsonl"
	FormatOCSF  = "ocsf"
)

// SinkState are the fields of a sink that only the delivery writes: a
// superuser's create or update must leave them as they are.
var SinkState = []string{"deliveredSeq", "checkpointOffset", "lastError", "lastAttempt"}

// Sink is a record of impersonation_sinks: a log store that gets every
// audit entry and checkpoint.
type Sink struct{ *core.Record }

var _ core.RecordProxy = (*Sink)(nil)

// ProxyRecord returns the proxied record.
func (s *Sink) ProxyRecord() *core.Record { return s.Record }

// SetProxyRecord loads record into the proxy.
func (s *Sink) SetProxyRecord(record *core.Record) { s.Record = record }

// NewSink returns a blank sink record.
func NewSink(app core.App) (*Sink, error) {
	r, err := newRecord(app, SinksCollection)
	if err != nil {
		return nil, err
	}
	return &Sink{r}, nil
}

// FindSinks returns every sink, enabled or not, oldest first.
func FindSinks(app core.App) ([]*Sink, error) {
	var rs []*core.Record
	if err := app.RecordQuery(SinksCollection).OrderBy("created ASC", "id ASC").All(&rs); err != nil {
		return nil, err
	}
	out := make([]*Sink, len(rs))
	for i, r := range rs {
		out[i] = &Sink{r}
	}
	return out, nil
}

// Name is what the sink is called.
func (s *Sink) Name() string { return s.GetString("name") }

// SetName sets the name.
func (s *Sink) SetName(v string) { s.Set("name", v) }

// Type is SinkWebhook or SinkFile.
func (s *Sink) Type() string { return s.GetString("type") }

// SetType sets the type.
func (s *Sink) SetType(v string) { s.Set("type", v) }

// URL is a webhook's URL.
func (s *Sink) URL() string { return s.GetString("url") }

// SetURL sets the webhook's URL.
func (s *Sink) SetURL(v string) { s.Set("url", v) }

// Path is a file sink's path, as given.
func (s *Sink) Path() string { return s.GetString("path") }

// SetPath sets the file's path.
func (s *Sink) SetPath(v string) { s.Set("path", v) }

// Format is FormatJSONL or FormatOCSF.
func (s *Sink) Format() string { return s.GetString("format") }

// SetFormat sets the format.
func (s *Sink) SetFormat(v string) { s.Set("format", v) }

// Secret keys the HMAC of a webhook's batches ("" for none).
func (s *Sink) Secret() string { return s.GetString("secret") }

// SetSecret sets the secret.
func (s *Sink) SetSecret(v string) { s.Set("secret", v) }

// Enabled reports whether entries are delivered to the sink.
func (s *Sink) Enabled() bool { return s.GetBool("enabled") }

// SetEnabled turns delivery on or off.
func (s *Sink) SetEnabled(v bool) { s.Set("enabled", v) }

// StartFromNow, at creation, skips the entries written before.
func (s *Sink) StartFromNow() bool { return s.GetBool("startFromNow") }

// BatchSize is the most entries of a batch (0: the default).
func (s *Sink) BatchSize() int { return s.GetInt("batchSize") }

// SetBatchSize sets the batch size.
func (s *Sink) SetBatchSize(v int) { s.Set("batchSize", v) }

// BatchSeconds is how long entries gather (0: the default).
func (s *Sink) BatchSeconds() int { return s.GetInt("batchSeconds") }

// SetBatchSeconds sets how long entries gather.
func (s *Sink) SetBatchSeconds(v int) { s.Set("batchSeconds", v) }

// DeliveredSeq is the seq of the last entry the sink took.
func (s *Sink) DeliveredSeq() int { return s.GetInt("deliveredSeq") }

// SetDeliveredSeq sets where delivery starts, before the sink is saved.
func (s *Sink) SetDeliveredSeq(v int) { s.Set("deliveredSeq", v) }

// CheckpointOffset is how far, in bytes, the sink took the checkpoint log.
func (s *Sink) CheckpointOffset() int64 { return int64(s.GetInt("checkpointOffset")) }

// SetCheckpointOffset sets how far the sink took the checkpoint log.
func (s *Sink) SetCheckpointOffset(v int64) { s.Set("checkpointOffset", v) }

// LastError is why the last delivery failed.
func (s *Sink) LastError() string { return s.GetString("lastError") }

// SaveSinkProgress records a delivery's outcome in the sink's row directly
// (no record hooks, no audit entry: the cursor moves with every batch):
// once delivered, the cursor and the checkpoint log's offset move forward;
// in every case lastError is written (after a delivery, empty or what the
// sink must be told of, such as entries it never got) with the attempt's
// time.
func SaveSinkProgress(app core.App, id string, delivered bool, deliveredSeq int, checkpointOffset int64, attempt types.DateTime, lastError string) error {
	set := dbx.Params{"lastError": lastError, "lastAttempt": attempt.String()}
	if delivered {
		set["deliveredSeq"], set["checkpointOffset"] = deliveredSeq, checkpointOffset
	}
	_, err := app.DB().Update(SinksCollection, set, dbx.HashExp{"id": id}).Execute()
	return err
}

// MinUndeliveredSeq returns the lowest deliveredSeq of the enabled sinks,
// and whether there is an enabled sink: the audit must keep every entry
// after it.
func MinUndeliveredSeq(app core.App) (int, bool, error) {
	if !app.HasTable(SinksCollection) {
		return 0, false, nil
	}
	var row struct {
		Min   int `db:"min"`
		Count int `db:"n"`
	}
	err := app.DB().NewQuery("SELECT COALESCE(min([[deliveredSeq]]), 0) AS [[min]], count(*) AS [[n]] FROM {{" + SinksCollection + "}} WHERE [[enabled]] = 1").One(&row)
	if err != nil {
		return 0, false, err
	}
	return row.Min, row.Count > 0, nil
}
