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

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/plugin/records"
)

// recover moves into the audit table the journalled entries that are not
// in it yet (a process killed before its mover had moved them), oldest
// first, and empties the journal.
func (w *Writer) recover() error {
	var rows []row
	for _, name := range JournalFiles {
		found, err := readJournal(filepath.Join(w.app.DataDir(), name))
		if err != nil {
			return err
		}
		rows = append(rows, found...)
	}
	if len(rows) > 0 {
		missing, err := notInTable(w.app, rows)
		if err != nil {
			return err
		}
		// a file's entries are in order; the two files' turns interleave
		slices.SortStableFunc(missing, func(a, b row) int { return strings.Compare(a.Created, b.Created) })
		if len(missing) > 0 {
			if err := w.insert(missing); err != nil {
				return fmt.Errorf("audit: move the journal left by the last run: %w", err)
			}
			w.app.Logger().Info("impersonation: moved journalled audit entries into the audit table", "entries", len(missing))
		}
	}
	for _, name := range JournalFiles {
		if err := os.Truncate(filepath.Join(w.app.DataDir(), name), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit: empty the journal: %w", err)
		}
	}
	return nil
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
