package audit

import (
	"database/sql"
	"errors"
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

// FirstSeq returns the seq of the oldest entry of app's audit, 0 when it is
// empty (entries before it were pruned, when it is not 1).
func FirstSeq(app core.App) (int, error) {
	var seq int
	err := app.DB().NewQuery("SELECT COALESCE(min([[seq]]), 0) FROM {{" + records.AuditCollection + "}}").Row(&seq)
	return seq, err
}

// Hold is what app's chain holds of a head a witness names (Holds).
type Hold struct {
	// Held: the entry h.Seq is in the chain with hash h.Hash, or it was
	// pruned (PrunedBy) by a retention checkpoint that does not contradict
	// it.
	Held bool
	// PrunedBy is the seq of the retention checkpoint that pruned the
	// entry, 0 when it is in the table. A pruned entry's hash can only be
	// compared when the checkpoint names that very entry; otherwise what
	// the chain holds is the checkpoint's word, which a holder of the audit
	// key can forge: it is only worth something once a signed checkpoint
	// after it is held (checkpoints.Witness).
	PrunedBy int
}

// Holds reports what app's chain holds of h: the entry h.Seq with hash
// h.Hash, or, when it was pruned, the retention checkpoint that pruned it
// (which names it, with its hash, or an entry after it).
func Holds(app core.App, h Head) (Hold, error) {
	var hash string
	err := app.DB().NewQuery("SELECT [[hash]] FROM {{" + records.AuditCollection + "}} WHERE [[seq]] = {:seq}").
		Bind(dbx.Params{"seq": h.Seq}).Row(&hash)
	if err == nil {
		return Hold{Held: hash == h.Hash}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Hold{}, err
	}
	firstSeq, err := FirstSeq(app)
	if err != nil {
		return Hold{}, err
	}
	if firstSeq <= h.Seq {
		return Hold{}, nil
	}
	at, seq, hash, err := pruneCheckpoint(app, firstSeq)
	if err != nil || at == 0 {
		return Hold{}, err
	}
	return Hold{Held: seq > h.Seq || (seq == h.Seq && hash == h.Hash), PrunedBy: at}, nil
}
