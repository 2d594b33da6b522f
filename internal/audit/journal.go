package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// ErrJournalInUse is returned by MoveLeftovers when a server owns the
// journal (or when the system cannot tell that none does).
var ErrJournalInUse = errors.New("audit: the journal is in use by a running server")

// errNoLock is returned by lockJournal on a system where it cannot lock.
var errNoLock = errors.New("audit: no file locks on this system")

// Leftovers is what MoveLeftovers found in the journal.
type Leftovers struct {
	// Moved is how many entries a stopped server had left in the journal,
	// now in the audit table.
	Moved int
	// Owned says that a server owns the journal: nothing was moved.
	Owned bool
	// Pending is, when Owned, how many journalled entries were not in the
	// audit table yet: its mover puts them there within moments.
	Pending int
}

// MoveLeftovers lets a command run beside (or instead of) the server read
// every entry answered so far. When no server owns the journal of app's data
// directory, it moves into the audit table what the journal holds that the
// table does not, as a server's start would (the entries of a server that
// was killed). When one does, the journal is that server's and nothing is
// moved: it counts the journalled entries not in the table yet.
func (l *Log) MoveLeftovers() (Leftovers, error) {
	app := l.app
	unlock, err := lockJournal(app.DataDir())
	if errors.Is(err, ErrJournalInUse) || errors.Is(err, errNoLock) {
		rows, err := readJournals(app)
		if err != nil {
			return Leftovers{Owned: true}, err
		}
		missing, err := notInTable(app, rows)
		return Leftovers{Owned: true, Pending: len(missing)}, err
	}
	if err != nil {
		return Leftovers{}, err
	}
	defer unlock()
	moved, err := l.recoverJournal()
	return Leftovers{Moved: moved}, err
}

// lockWait is how long a Writer waits for the journal's lock, which a
// command moving a stopped server's leftovers holds for moments, before it
// gives up: then another server owns the journal.
const lockWait = 30 * time.Second

// lockJournalWaiting takes the journal's lock, waiting up to lockWait for
// it. On a system without locks it returns a no-op unlock.
func lockJournalWaiting(dir string) (func() error, error) {
	deadline := time.Now().Add(lockWait)
	for {
		unlock, err := lockJournal(dir)
		switch {
		case errors.Is(err, errNoLock):
			return func() error { return nil }, nil
		case errors.Is(err, ErrJournalInUse) && time.Now().Before(deadline):
			time.Sleep(50 * time.Millisecond)
		case errors.Is(err, ErrJournalInUse):
			return nil, fmt.Errorf("%w: is another server running on %s?", err, dir)
		default:
			return unlock, err
		}
	}
}

// recoverJournal moves into the audit table the journalled entries that
// are not in it yet (a process killed before its mover had moved them),
// oldest first, empties the journal and returns how many it moved. The
// caller holds the journal's lock.
func (l *Log) recoverJournal() (int, error) {
	app := l.app
	rows, err := readJournals(app)
	if err != nil {
		return 0, err
	}
	var missing []row
	if len(rows) > 0 {
		if missing, err = notInTable(app, rows); err != nil {
			return 0, err
		}
		// a file's entries are in order; the two files' turns interleave
		slices.SortStableFunc(missing, func(a, b row) int { return strings.Compare(a.Created, b.Created) })
		if len(missing) > 0 {
			if err := l.appendRows(app, missing); err != nil {
				return 0, fmt.Errorf("audit: move the journal left by the last run: %w", err)
			}
			app.Logger().Info("impersonation: moved journalled audit entries into the audit table", "entries", len(missing))
		}
	}
	for _, name := range JournalFiles {
		if err := os.Truncate(filepath.Join(app.DataDir(), name), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("audit: empty the journal: %w", err)
		}
	}
	return len(missing), nil
}

// readJournals returns the entries of every journal file of app.
func readJournals(app core.App) ([]row, error) {
	var rows []row
	for _, name := range JournalFiles {
		found, err := readJournal(filepath.Join(app.DataDir(), name))
		if err != nil {
			return nil, err
		}
		rows = append(rows, found...)
	}
	return rows, nil
}

// readJournal returns the entries of a journal file. A last line without
// its newline is a write the process was killed in: its request was never
// answered, and it is skipped.
func readJournal(path string) ([]row, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: read the journal: %w", err)
	}
	lines := bytes.Split(raw, []byte{'\n'})
	lines = lines[:len(lines)-1] // "" after the last newline, or the torn write
	rows := make([]row, len(lines))
	for i, line := range lines {
		if err := json.Unmarshal(line, &rows[i]); err != nil {
			return nil, fmt.Errorf("audit: %s line %d: %w", path, i+1, err)
		}
	}
	return rows, nil
}

// idsPerQuery is the most ids one query of notInTable looks up.
const idsPerQuery = 500

// notInTable returns those of rows whose id is not in the audit table.
func notInTable(app core.App, rows []row) ([]row, error) {
	present := map[string]bool{}
	for start := 0; start < len(rows); start += idsPerQuery {
		ids := make([]any, 0, idsPerQuery)
		for _, r := range rows[start:min(start+idsPerQuery, len(rows))] {
			ids = append(ids, r.Id)
		}
		var found []string
		err := app.DB().Select("id").From(records.AuditCollection).Where(dbx.In("id", ids...)).Column(&found)
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			present[id] = true
		}
	}
	var missing []row
	for _, r := range rows {
		if !present[r.Id] {
			missing = append(missing, r)
		}
	}
	return missing, nil
}
