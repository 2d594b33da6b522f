package audit

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// AnchorFile is the file of the data directory that holds the newest head of
// the chain the plugin has committed: "v1 <seq> <hash>" (seq padded to 20
// digits). A chain whose
// newest entries were deleted still links up; the anchor, kept out of the
// database, is how Verify finds that.
//
// The anchor is written after every commit of an append (an event entry,
// once the transaction it is written in commits; a batch of the journal's
// mover), so no committed entry is ever newer than the anchor for longer
// than it takes to write the file. It only moves forward along the chain:
// when the entry it names is no longer in the table with its hash, the
// anchor stays where it is and Verify reports the loss (CodeAnchorNotReached)
// until a superuser accepts it with Acknowledge, which appends an
// Acknowledged entry naming what was lost and anchors that entry.
const AnchorFile = "impersonation_audit.head"

// alertedFile, next to AnchorFile, names the anchored head whose loss was
// last alerted, so that a loss is alerted once, across restarts too.
const alertedFile = AnchorFile + ".alerted"

// AnchorFiles are the files of the data directory that hold the anchor's
// state: the anchor, its temporary file, and the last alerted loss.
var AnchorFiles = []string{AnchorFile, AnchorFile + ".tmp", alertedFile}

// Acknowledged is the event of the entry Acknowledge appends: its data
// records the anchored head the chain no longer reached, the head it
// accepted in its place, and the reason given.
const Acknowledged = "audit.acknowledged"

// ErrAnchorNotReached is returned by WriteAnchor when the chain no longer
// reaches the anchored head: entries that were committed are gone.
var ErrAnchorNotReached = errors.New("audit: the chain no longer reaches its anchored head")

// ErrNothingToAcknowledge is returned by Acknowledge when the chain reaches
// its anchor.
var ErrNothingToAcknowledge = errors.New("audit: the chain reaches its anchor: nothing to acknowledge")

// Head names an entry of the chain: its seq and hash. Seq 0 is the head of
// an empty chain.
type Head struct {
	Seq  int    `json:"seq"`
	Hash string `json:"hash"`
}

// Loss is what the chain lost: the anchored head it no longer reaches, and
// its head now.
type Loss struct {
	Anchored Head `json:"anchored"`
	Head     Head `json:"head"`
}

// anchorer moves the anchor of one app. Its lock makes every read, check and
// write of the anchor file one step, so concurrent commits never move it
// backwards.
type anchorer struct {
	mu sync.Mutex
	// file keeps this process's reads of AnchorFile from seeing a write
	// halfway (mu is held for longer: through Acknowledge's verify)
	file sync.RWMutex
	// app is the Log's app, never a transaction: the anchor of an entry
	// written in a transaction is written after its commit, when that
	// transaction is gone.
	app core.App
	// onLost is called, with mu held, the first time a loss of an anchored
	// head is found; nil: no one is told.
	onLost func(Loss)
}

// OnAnchorLost makes l call fn the first time the chain is found not to
// reach its anchored head (once per anchored head, across restarts): the
// plugin logs and emails the alert. fn must return quickly.
func (l *Log) OnAnchorLost(fn func(Loss)) {
	a := l.anchor
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onLost = fn
}

// WriteAnchor moves the anchor forward to the chain's current head (the
// plugin does it after every commit, every minute and at shutdown). It never
// moves it back: when the chain no longer reaches the anchored head, the
// anchor is left as it is, the loss is alerted once (see OnAnchorLost), and
// the error wraps ErrAnchorNotReached.
func (l *Log) WriteAnchor() error {
	return l.anchor.advance(nil, nil)
}

// advanceAfter moves the anchor forward to head, the last of entries
// chained after prev, once app's transaction, if app is one, has
// committed, and keeps the table's planner statistics in step (see
// statsKeeper); a rollback leaves both alone. Errors are logged: the
// entries are committed, and a loss is alerted and reported by Verify.
func (l *Log) advanceAfter(app core.App, prev, head Head) {
	advance := func() {
		if err := l.anchor.advance(&head, &prev); err != nil && !errors.Is(err, ErrAnchorNotReached) {
			l.app.Logger().Error("impersonation: anchor the audit chain", "error", err)
		}
		l.stats.refresh(l.app, head.Seq)
	}
	if !app.IsTransactional() {
		advance()
		return
	}
	app.TxInfo().OnComplete(func(txErr error) error {
		if txErr == nil {
			advance()
		}
		return nil
	})
}

// advance moves the anchor to head (nil: the table's head) if that is
// further along the chain than the anchored head, which the chain must
// still reach. prev, when not nil, is the head the entries up to head were
// chained after in the transaction that wrote them: when it is the
// anchored head, the chain reached it, and the table is not asked again
// (the anchor follows every commit, so it nearly always is).
func (a *anchorer) advance(head, prev *Head) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	anchored, err := a.read()
	if err != nil {
		return err
	}
	if head == nil {
		h, err := tableHead(a.app)
		if err != nil {
			return err
		}
		head = &h
	}
	if anchored != nil {
		reached := prev != nil && *prev == *anchored
		if !reached {
			reached, err = reaches(a.app, *anchored)
		}
		if err != nil {
			return err
		}
		if !reached {
			now, err := tableHead(a.app)
			if err != nil {
				return err
			}
			loss := Loss{Anchored: *anchored, Head: now}
			a.alert(loss)
			return fmt.Errorf("%w: anchored #%d %s, head #%d", ErrAnchorNotReached, loss.Anchored.Seq, loss.Anchored.Hash, loss.Head.Seq)
		}
		if head.Seq <= anchored.Seq {
			return nil // never backwards
		}
	}
	if head.Seq == 0 {
		return nil
	}
	return a.write(*head)
}

// alert tells onLost about loss unless its anchored head was alerted
// already.
func (a *anchorer) alert(loss Loss) {
	path := filepath.Join(a.app.DataDir(), alertedFile)
	line := fmt.Sprintf("%s %d %s\n", chainVersion, loss.Anchored.Seq, loss.Anchored.Hash)
	if raw, err := os.ReadFile(path); err == nil && string(raw) == line {
		return
	}
	if a.onLost == nil {
		return // no one to tell yet: the plugin's hooks will be
	}
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		a.app.Logger().Error("impersonation: record the audit alert", "error", err)
	}
	a.onLost(loss)
}

// reaches reports whether the chain of app still holds the anchored head h:
// the entry h.Seq with hash h.Hash, or, when it was pruned, a checkpoint
// that names it or an entry after it.
func reaches(app core.App, h Head) (bool, error) {
	hold, err := Holds(app, h)
	return hold.Held, err
}

// tableHead returns the entry of app's audit with the highest seq (seq 0
// when there is none).
func tableHead(app core.App) (Head, error) {
	var head Head
	err := app.DB().NewQuery(tableHeadSQL).Row(&head.Seq, &head.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Head{}, err
	}
	return head, nil
}

// tableHeadSQL selects the seq and hash of the newest entry; a NULL (which
// only a write from outside the plugin leaves) reads as the zero value.
const tableHeadSQL = "SELECT COALESCE([[seq]], 0), COALESCE([[hash]], '') FROM {{" + records.AuditCollection + "}} ORDER BY [[seq]] DESC LIMIT 1"

// writeAnchorFile writes h to AnchorFile. Its line has one length (seq is
// padded to 20 digits, a hash is 64 hex digits), so each write after the
// first overwrites the line in place, with one write of fewer bytes than a
// disk sector: replacing the file (a new file, then a rename) costs about
// 2 ms on ext4, which renames over a file only after flushing the new one,
// and the anchor is written after every commit. A file of another length
// (the first, or one of an older version) is replaced atomically.
func (a *anchorer) write(h Head) error {
	a.file.Lock()
	defer a.file.Unlock()
	line := fmt.Appendf(nil, "%s %020d %s\n", chainVersion, h.Seq, h.Hash)
	path := filepath.Join(a.app.DataDir(), AnchorFile)
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		st, err := f.Stat()
		if err == nil && st.Size() == int64(len(line)) {
			_, err = f.WriteAt(line, 0)
			return errors.Join(err, f.Close())
		}
		f.Close()
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, line, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// read returns the anchor of the data directory, if any.
func (a *anchorer) read() (*Head, error) {
	a.file.RLock()
	raw, err := os.ReadFile(filepath.Join(a.app.DataDir(), AnchorFile))
	a.file.RUnlock()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var version string
	var h Head
	if _, err := fmt.Sscanf(string(raw), "%s %d %s", &version, &h.Seq, &h.Hash); err != nil || version != chainVersion {
		return nil, fmt.Errorf("audit: unreadable %s", AnchorFile)
	}
	return &h, nil
}

// Acknowledgement is what Acknowledge recorded: the loss it accepted and
// the Acknowledged entry, now the anchored head.
type Acknowledgement struct {
	Loss
	Entry Head   `json:"entry"`
	Id    string `json:"id"`
}

// Acknowledge accepts that the chain no longer reaches its anchored head:
// it appends an Acknowledged entry (by's actor and client, with reason)
// whose data names the anchored head and the head it is chained after, and
// anchors that entry. The anchor is never just overwritten: the loss stays
// in the chain, and is alerted (see OnAnchorLost) if it was not yet. It refuses (ErrNothingToAcknowledge) when the chain reaches
// its anchor, and (ErrChainBroken) when the chain is broken otherwise,
// which no acknowledgement mends. app must not be a transaction.
func (l *Log) Acknowledge(by Entry, reason string) (Acknowledgement, error) {
	app, a := l.app, l.anchor
	a.mu.Lock()
	defer a.mu.Unlock()
	res, err := l.Verify(nil)
	switch {
	case err != nil:
		return Acknowledgement{}, err
	case res.OK:
		return Acknowledgement{}, ErrNothingToAcknowledge
	case res.Code != CodeAnchorNotReached || res.Anchored == nil:
		return Acknowledgement{}, fmt.Errorf("%w: %s", ErrChainBroken, res.Problem)
	}
	if res.Head != nil {
		// acknowledged before anything else found it: it is alerted all the same
		a.alert(Loss{Anchored: *res.Anchored, Head: *res.Head})
	}
	ack := Acknowledgement{Loss: Loss{Anchored: *res.Anchored}}
	err = app.RunInTransaction(func(tx core.App) error {
		head, err := tableHead(tx)
		if err != nil {
			return err
		}
		ack.Head = head
		by.Event = Acknowledged
		by.Reason = reason
		by.Data = map[string]any{"anchored": ack.Anchored, "head": head, "reason": reason}
		if by.Created.IsZero() {
			by.Created = l.now()
		}
		r, err := rowOf(by, by.Created.String())
		if err != nil {
			return err
		}
		rows, err := l.chainAfter(head, []row{r})
		if err != nil {
			return err
		}
		last := rows[len(rows)-1]
		ack.Entry, ack.Id = Head{Seq: last.Seq, Hash: last.Hash}, last.Id
		return insertRows(tx, rows)
	})
	if err != nil {
		return Acknowledgement{}, err
	}
	return ack, a.write(ack.Entry)
}
