package audit

import (
	"sync"

	"github.com/pocketbase/pocketbase/core"
)

// Writer appends entries durably with group commit: each Write returns once
// its own entry has been committed (SQLite's WAL in PocketBase's
// synchronous=NORMAL mode: a committed entry survives the process being
// killed), and the entries of concurrent calls are inserted together, with
// one statement. The caller at the head of the queue commits for everyone
// queued behind it (as LevelDB's writers do), so no background goroutine
// holds entries and nothing is left to flush at shutdown. It is the path of
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

// commit appends a batch with one statement and returns each entry's
// error. If that fails, each entry is tried on its own, so one bad entry
// fails only its own request.
func (w *Writer) commit(batch []*pending) []error {
	entries := make([]Entry, len(batch))
	for i, p := range batch {
		entries[i] = p.entry
	}
	errs := make([]error, len(batch))
	err := appendEntries(w.app, entries)
	for i := range batch {
		errs[i] = err
		if err != nil && len(batch) > 1 {
			errs[i] = appendEntries(w.app, entries[i:i+1])
		}
	}
	return errs
}
