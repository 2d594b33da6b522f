package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// JournalFiles are the two files, in the data directory, of the journal of
// request entries.
var JournalFiles = [2]string{"impersonation_audit.journal.0", "impersonation_audit.journal.1"}

// JournalLockFile is the file, in the data directory, whose lock says that
// a process owns the journal: an open Writer, or MoveLeftovers moving what
// a stopped server left.
const JournalLockFile = "impersonation_audit.journal.lock"

// maxPending is the most journalled entries waiting for the audit table;
// past it Write fails (the audit table is not taking entries), rather than
// holding ever more in memory.
const maxPending = 100_000

// gatherFor is how long the mover lets entries gather before it moves them,
// unless a Flush or Close waits. Each move is a transaction on PocketBase's
// single write connection, and its commit writes every page the move
// changed (the table's and seven indexes'): gathering a quarter of a second
// makes a page written once hold many entries, so the audit keeps the
// connection, which every other write of the app waits for, far less of
// the time than with small moves (BENCHMARKS.md). It bounds how far the
// table lags the journal: by gatherFor and the move itself.
const gatherFor = 250 * time.Millisecond

// ErrWriterClosed is returned by Write after Close.
var ErrWriterClosed = errors.New("audit: the writer is closed")

// Writer writes the high-volume "request" entries. Write returns once the
// entry is in the journal: a file in the data directory that each entry is
// appended to with one write call, so that, like an entry committed to
// SQLite's WAL in PocketBase's synchronous=NORMAL mode, it survives the
// process being killed. A background mover inserts the journalled entries
// into the chained audit table, all that arrived since its last move in one
// transaction; the journal's two files take turns, and the one whose entries
// are all in the table is truncated. An open writer holds the journal's
// lock (JournalLockFile), and opening it moves in whatever a killed process
// left in the journal. Readers of the audit call Flush first; a command run
// without the server calls MoveLeftovers. It is safe for concurrent use.
type Writer struct {
	log  *Log
	app  core.App
	open sync.Once
	// openErr is why the journal could not be opened.
	openErr error

	mu       sync.Mutex
	work     *sync.Cond // signalled when entries are queued or the writer closes
	progress *sync.Cond // broadcast when a move ends, well or not
	files    [len(JournalFiles)]*os.File
	unlock   func() error // releases the journal's lock
	active   int          // the file Write appends to
	queue    []row        // journalled, not yet moved
	moving   string       // created of the oldest entry of the move under way, "" when none
	written  int          // entries journalled since the writer opened
	moved    int          // of which in the audit table
	moveErr  error        // why the last move failed, nil once one succeeds
	closed   bool
	started  bool          // the journal is open and the mover runs
	waiting  int           // Flush calls waiting for the mover
	hurry    chan struct{} // wakes a gathering mover for a Flush or Close
	done     chan struct{} // closed when the mover has stopped
}

// newWriter returns the Writer of l. The journal opens on first use.
func newWriter(l *Log) *Writer {
	w := &Writer{log: l, app: l.app, hurry: make(chan struct{}, 1), done: make(chan struct{})}
	w.work, w.progress = sync.NewCond(&w.mu), sync.NewCond(&w.mu)
	return w
}

// Open takes the journal's lock (waiting a little for a command that
// holds it; another server on the same data directory keeps it, and Open
// fails), moves into the audit table what the journal holds from an
// earlier process, opens the journal and starts the mover. Write opens the
// writer when it is not yet open; the plugin opens it when the app starts
// serving, before any request.
func (w *Writer) Open() error {
	w.open.Do(func() {
		unlock, err := lockJournalWaiting(w.app.DataDir())
		if err != nil {
			w.openErr = err
			return
		}
		if _, w.openErr = w.log.recoverJournal(); w.openErr != nil {
			unlock()
			return
		}
		var files [len(JournalFiles)]*os.File
		for i, name := range JournalFiles {
			f, err := os.OpenFile(filepath.Join(w.app.DataDir(), name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				for _, opened := range files[:i] {
					opened.Close()
				}
				unlock()
				w.openErr = fmt.Errorf("audit: open the journal: %w", err)
				return
			}
			files[i] = f
		}
		w.mu.Lock()
		w.files, w.unlock, w.started = files, unlock, true
		w.mu.Unlock()
		go w.mover()
	})
	return w.openErr
}

// Write journals e and returns once it is durable, or the error that kept
// it from being saved.
func (w *Writer) Write(e Entry) error {
	if err := w.Open(); err != nil {
		return err
	}
	created := e.Created
	if created.IsZero() {
		created = w.log.now()
	}
	r, err := rowOf(e, created.String())
	if err != nil {
		return err
	}
	line := journalLine(make([]byte, 0, 1024), &r)

	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return ErrWriterClosed
	case len(w.queue) >= maxPending:
		return fmt.Errorf("audit: %d entries wait for the audit table: %w", len(w.queue), w.moveErr)
	}
	if _, err := w.files[w.active].Write(line); err != nil {
		return fmt.Errorf("audit: write the journal: %w", err)
	}
	w.queue = append(w.queue, r)
	w.written++
	w.work.Signal()
	return nil
}

// Flush returns once every entry journalled before the call is in the audit
// table, or the error of the move that failed to put it there (the entries
// stay in the journal, and the mover tries again). A writer that has not
// opened has nothing to flush: Flush does not open it, so a command run
// beside the server never moves the server's journal.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.written
	if w.moved < target {
		w.waiting++
		defer func() { w.waiting-- }()
		w.wake()
	}
	for w.moved < target && !w.closed {
		w.progress.Wait()
		if w.moveErr != nil {
			return w.moveErr
		}
	}
	if w.moved < target {
		return ErrWriterClosed
	}
	return nil
}

// Close moves the journalled entries into the audit table and stops the
// writer; what cannot be moved stays in the journal for the next start.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.work.Broadcast()
	w.wake()
	started := w.started
	w.mu.Unlock()
	if !started {
		return nil
	}
	<-w.done
	var errs []error
	for _, f := range w.files {
		errs = append(errs, f.Close())
	}
	errs = append(errs, w.unlock())
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(append(errs, w.moveErr)...)
}

// Backlog is what the journal holds that the audit table does not yet.
type Backlog struct {
	// Entries are journalled and not yet in the table.
	Entries int `json:"entries"`
	// Oldest is when the oldest of them was written ("" when none): the
	// mover's lag.
	Oldest string `json:"oldest"`
	// JournalBytes is the size of the journal's files.
	JournalBytes int64 `json:"journalBytes"`
	// MoveError is why the last move failed, "" once one succeeds.
	MoveError string `json:"moveError"`
}

// Backlog reports what the journal holds that the audit table does not
// yet. A writer that has not opened reports its files' size only.
func (w *Writer) Backlog() (Backlog, error) {
	w.mu.Lock()
	b := Backlog{Entries: w.written - w.moved, Oldest: w.moving}
	if b.Oldest == "" && len(w.queue) > 0 {
		b.Oldest = w.queue[0].Created
	}
	if w.moveErr != nil {
		b.MoveError = w.moveErr.Error()
	}
	w.mu.Unlock()
	for _, name := range JournalFiles {
		st, err := os.Stat(filepath.Join(w.app.DataDir(), name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return b, err
		}
		b.JournalBytes += st.Size()
	}
	return b, nil
}

// wake ends the mover's gathering early.
func (w *Writer) wake() {
	select {
	case w.hurry <- struct{}{}:
	default:
	}
}

// mover moves journalled entries into the audit table until the writer
// closes. Each turn lets entries gather for gatherFor, then takes every
// queued entry and switches Write to the other journal file, so once the
// entries are in the table the file they were in holds nothing else and is
// truncated.
func (w *Writer) mover() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.work.Wait()
		}
		if !w.closed && w.waiting == 0 {
			w.mu.Unlock()
			select {
			case <-time.After(gatherFor):
			case <-w.hurry:
			}
			w.mu.Lock()
		}
		batch, full := w.queue, w.active
		if len(batch) == 0 {
			w.mu.Unlock()
			return
		}
		w.queue, w.active = nil, 1-w.active
		w.moving = batch[0].Created
		w.mu.Unlock()

		retry := 10 * time.Millisecond
		for len(batch) > 0 {
			n := min(moveChunk, len(batch))
			err := w.insert(batch[:n])
			w.mu.Lock()
			if err == nil {
				w.moved += n
				batch = batch[n:]
				w.moving = ""
				if len(batch) > 0 {
					w.moving = batch[0].Created
				}
			}
			w.moveErr = err
			closed := w.closed
			w.progress.Broadcast()
			w.mu.Unlock()
			if err == nil {
				retry = 10 * time.Millisecond
				continue
			}
			w.app.Logger().Error("impersonation: move journalled audit entries into the audit table", "entries", len(batch), "error", err)
			if closed {
				return // the entries stay in the journal for the next start
			}
			time.Sleep(retry)
			retry = min(2*retry, 5*time.Second)
		}
		if err := w.files[full].Truncate(0); err != nil {
			w.app.Logger().Error("impersonation: truncate the audit journal", "error", err)
		}
	}
}

// moveChunk is the most entries one transaction of the mover inserts, so
// that a move that fell behind holds PocketBase's write connection for tens
// of milliseconds at a time, not seconds, and the writes waiting meanwhile
// go in between two chunks.
const moveChunk = 1000

// insert appends rows to the chain in one transaction.
func (w *Writer) insert(rows []row) error { return w.log.appendRows(w.app, rows) }
