package audit

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/plugin/records"
)

// Writer writes entries durably with group commit: each Write returns once
// its own entry has been committed (SQLite's WAL in PocketBase's
// synchronous=NORMAL mode: a committed entry survives the process being
// killed), and the entries of concurrent calls are inserted together, with
// one statement. The caller at the head of the queue commits for everyone
// queued behind it (as LevelDB's writers do), so no background goroutine
// holds entries and nothing is left to flush at shutdown. Entries are
// inserted directly, without PocketBase's record hooks: it is the path of
// the high-volume "request" entries. It is safe for concurrent use.
type Writer struct {
	app      core.App
	maxBatch int

	mu    sync.Mutex
	cond  *sync.Cond
	queue []*pending
}

type pending struct {
	entry Entry
	done  bool
	err   error
}

// NewWriter returns a Writer that inserts up to maxBatch (at least 1)
// entries at a time.
func NewWriter(app core.App, maxBatch int) *Writer {
	w := &Writer{app: app, maxBatch: max(maxBatch, 1)}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// Write saves e and returns once it is committed, or the error that kept it
// from being saved.
func (w *Writer) Write(e Entry) error {
	p := &pending{entry: e}
	w.mu.Lock()
	w.queue = append(w.queue, p)
	for !p.done && w.queue[0] != p {
		w.cond.Wait()
	}
	if p.done {
		w.mu.Unlock()
		return p.err
	}

	// p heads the queue: commit it and those queued behind it
	batch := w.queue[:min(len(w.queue), w.maxBatch)]
	w.mu.Unlock()
	errs := w.commit(batch)

	w.mu.Lock()
	for i, q := range batch {
		q.done, q.err = true, errs[i]
	}
	w.queue = w.queue[len(batch):]
	w.cond.Broadcast()
	w.mu.Unlock()
	return p.err
}

// commit inserts a batch in one statement and returns each entry's error.
// If the statement fails, each entry is tried on its own, so one bad entry
// fails only its own request.
func (w *Writer) commit(batch []*pending) []error {
	errs := make([]error, len(batch))
	err := insert(w.app, batch)
	for i, p := range batch {
		errs[i] = err
		if err != nil && len(batch) > 1 {
			errs[i] = insert(w.app, []*pending{p})
		}
	}
	return errs
}

// auditColumns are the columns insert writes, in order.
var auditColumns = []string{"id", "event", "actor", "actorCollection", "target", "targetCollection", "session",
	"reason", "ip", "userAgent", "method", "path", "status", "data", "created"}

// insert writes the entries of batch with one INSERT statement, with the
// same cuts to length as Write.
func insert(app core.App, batch []*pending) error {
	var sql strings.Builder
	sql.WriteString("INSERT INTO {{" + records.AuditCollection + "}} (")
	for i, c := range auditColumns {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString("[[" + c + "]]")
	}
	sql.WriteString(") VALUES ")
	params := dbx.Params{}
	created := types.NowDateTime().String()
	for i, p := range batch {
		e := p.entry
		data := "null"
		if e.Data != nil {
			raw, err := json.Marshal(e.Data)
			if err != nil {
				return err
			}
			data = string(raw)
		}
		values := []any{core.GenerateDefaultRandomId(), e.Event, cut(e.Actor, 255), cut(e.ActorCollection, 255),
			cut(e.Target, 255), cut(e.TargetCollection, 255), cut(e.Session, 255), cut(e.Reason, 1000),
			cut(e.Client.IP, 255), cut(e.Client.UserAgent, 1000), cut(e.Client.Method, 20), cut(e.Client.Path, 3000),
			e.Client.Status, data, created}
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString("(")
		for j, v := range values {
			name := "p" + strconv.Itoa(i) + "_" + strconv.Itoa(j)
			params[name] = v
			if j > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("{:" + name + "}")
		}
		sql.WriteString(")")
	}
	_, err := app.NonconcurrentDB().NewQuery(sql.String()).Bind(params).Execute()
	return err
}
