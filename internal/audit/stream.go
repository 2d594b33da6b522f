package audit

import (
	"strconv"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Line is one committed entry as the JSON lines export writes it, with its
// seq and hash: what a sink receives.
type Line struct {
	Seq  int
	Hash string
	// JSON is the export's line of the entry, ending with a newline.
	JSON []byte
}

// After returns up to limit committed entries of app's audit whose seq is
// greater than seq, in seq order, each in the export's JSON lines form.
// It reads the table only: the journal's entries come once the mover has
// moved them.
func After(app core.App, seq, limit int) ([]Line, error) {
	if !app.HasTable(records.AuditCollection) {
		return nil, nil
	}
	q := app.DB().NewQuery("SELECT " + selectColumns(records.AuditCollection) + " FROM {{" + records.AuditCollection +
		"}} WHERE [[seq]] > {:seq} ORDER BY [[seq]] LIMIT " + strconv.Itoa(limit)).Bind(dbx.Params{"seq": seq})
	var out []Line
	var lineErr error
	err := scanRows(q, func(r row) bool {
		var line []byte
		if line, lineErr = exportLine(nil, &r); lineErr != nil {
			return false
		}
		out = append(out, Line{Seq: r.Seq, Hash: r.Hash, JSON: line})
		return true
	})
	if err == nil {
		err = lineErr
	}
	return out, err
}

// HeadOf returns the newest committed entry of app's audit (seq 0 when it
// is empty).
func HeadOf(app core.App) (Head, error) {
	if !app.HasTable(records.AuditCollection) {
		return Head{}, nil
	}
	return tableHead(app)
}

// Holds reports whether app's chain still holds h: the entry h.Seq with
// hash h.Hash, or, when it was pruned, a retention checkpoint that names it
// or an entry after it.
func Holds(app core.App, h Head) (bool, error) { return reaches(app, h) }
