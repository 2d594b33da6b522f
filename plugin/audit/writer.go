package audit

import (
	"sync"

	"github.com/pocketbase/pocketbase/core"
)

// Writer writes entries durably with group commit: the entries of
// concurrent Write calls are saved in one transaction, and each call returns
// once its own entry has been committed (SQLite's WAL in PocketBase's
// synchronous=NORMAL mode: a committed entry survives the process being
// killed). It is safe for concurrent use.
type Writer struct {
	app      core.App
	maxBatch int
	queue    chan pending

	mu      sync.RWMutex // held for reading while sending to queue
	closed  bool
	stop    chan struct{}
	stopped chan struct{}
}

type pending struct {
	entry Entry
	done  chan error
}

// NewWriter starts a Writer that saves up to maxBatch entries a transaction.
func NewWriter(app core.App, maxBatch int) *Writer {
	w := &Writer{
		app:      app,
		maxBatch: maxBatch,
		queue:    make(chan pending, maxBatch),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go w.run()
	return w
}

// Write saves e and returns once it is committed, or the error that kept it
// from being saved. After Close it saves e on its own, at once.
func (w *Writer) Write(e Entry) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return Write(w.app, e)
	}
	p := pending{entry: e, done: make(chan error, 1)}
	w.queue <- p
	w.mu.RUnlock()
	return <-p.done
}

// Close commits every queued entry and stops the group commit; later
// writes are saved one by one.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	<-w.stopped
}

func (w *Writer) run() {
	defer close(w.stopped)
	for {
		select {
		case p := <-w.queue:
			w.commit(w.gather(p))
		case <-w.stop:
			for {
				select {
				case p := <-w.queue:
					w.commit(w.gather(p))
				default:
					return
				}
			}
		}
	}
}

// gather returns first and the entries already queued behind it.
func (w *Writer) gather(first pending) []pending {
	batch := []pending{first}
	for len(batch) < w.maxBatch {
		select {
		case p := <-w.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// commit saves a batch in one transaction. If the transaction fails, each
// entry is tried on its own, so one bad entry fails only its own request.
func (w *Writer) commit(batch []pending) {
	err := w.app.RunInTransaction(func(tx core.App) error {
		for _, p := range batch {
			if err := Write(tx, p.entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, p := range batch {
			p.done <- Write(w.app, p.entry)
		}
		return
	}
	for _, p := range batch {
		p.done <- err
	}
}
