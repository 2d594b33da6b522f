package audit

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Checkpoint is the event of the entry Prune leaves: its data records the
// last pruned entry's seq and hash, where the rest of the chain starts.
const Checkpoint = "audit.checkpoint"

// checkpointData is the data of a Checkpoint entry.
type checkpointData struct {
	PrunedThroughSeq  int    `json:"prunedThroughSeq"`
	PrunedThroughHash string `json:"prunedThroughHash"`
	Pruned            int    `json:"pruned"`
	Before            string `json:"before"`
}

// ErrChainBroken is returned by Prune when the chain does not verify: it
// prunes nothing rather than erase the evidence.
var ErrChainBroken = errors.New("the audit chain does not verify")

// Prune deletes the oldest entries, up to the newest one created before
// before, and appends a Checkpoint entry that lets the rest of the chain
// verify, in one transaction. It verifies the whole chain first and prunes
// nothing if it is broken. It returns how many entries it deleted.
func (l *Log) Prune(before time.Time) (int, error) { return l.PruneThrough(before, math.MaxInt) }

// PruneThrough prunes as Prune does, but never an entry whose seq is
// greater than maxSeq: the entries a sink has not received yet stay.
func (l *Log) PruneThrough(before time.Time, maxSeq int) (int, error) {
	app := l.app
	if res, err := l.Verify(nil); err != nil {
		return 0, err
	} else if !res.OK {
		return 0, fmt.Errorf("%w: %s", ErrChainBroken, res.Problem)
	}
	cutoff, _ := types.ParseDateTime(before)
	pruned := 0
	err := app.RunInTransaction(func(tx core.App) error {
		var last row
		err := tx.DB().NewQuery("SELECT [[seq]], [[hash]] FROM {{" + records.AuditCollection + "}} WHERE [[created]] < {:cutoff} AND [[seq]] <= {:max} ORDER BY [[seq]] DESC LIMIT 1").
			Bind(dbx.Params{"cutoff": cutoff.String(), "max": maxSeq}).One(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.DB().NewQuery("SELECT count(*) FROM {{" + records.AuditCollection + "}} WHERE [[seq]] <= {:seq}").
			Bind(dbx.Params{"seq": last.Seq}).Row(&pruned); err != nil {
			return err
		}
		checkpoint := Entry{Event: Checkpoint, Data: map[string]any{
			"prunedThroughSeq": last.Seq, "prunedThroughHash": last.Hash, "pruned": pruned, "before": cutoff.String(),
		}}
		if err := l.Append(tx, []Entry{checkpoint}); err != nil {
			return err
		}
		_, err = tx.DB().NewQuery("DELETE FROM {{" + records.AuditCollection + "}} WHERE [[seq]] <= {:seq}").
			Bind(dbx.Params{"seq": last.Seq}).Execute()
		return err
	})
	if err != nil {
		return 0, err
	}
	return pruned, nil
}

// chainStart returns where the chain of app starts: after seq 0 with no
// previous hash, or, when its oldest entries were pruned, after the entry
// the newest Checkpoint names. firstSeq is the lowest seq left.
func chainStart(app core.App, firstSeq int) (seq int, hash string, err error) {
	_, seq, hash, err = pruneCheckpoint(app, firstSeq)
	return seq, hash, err
}

// pruneCheckpoint returns the newest Checkpoint that pruned the entries
// before firstSeq, the lowest seq left: its own seq (0 when there is none)
// and the seq and hash of the last entry it pruned.
func pruneCheckpoint(app core.App, firstSeq int) (at, seq int, hash string, err error) {
	if firstSeq <= 1 {
		return 0, 0, "", nil
	}
	var raw string
	err = app.DB().NewQuery("SELECT [[seq]], [[data]] FROM {{"+records.AuditCollection+"}} WHERE [[event]] = {:checkpoint} AND json_extract([[data]], '$.prunedThroughSeq') = {:seq} ORDER BY [[seq]] DESC LIMIT 1").
		Bind(dbx.Params{"checkpoint": Checkpoint, "seq": firstSeq - 1}).Row(&at, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, "", nil // no checkpoint: Verify reports the missing entries
	}
	if err != nil {
		return 0, 0, "", err
	}
	var data checkpointData
	if err := unmarshalJSON(raw, &data); err != nil {
		return 0, 0, "", nil
	}
	return at, data.PrunedThroughSeq, data.PrunedThroughHash, nil
}

// CountBefore returns how many entries were created before before and
// have a seq greater than afterSeq: what a retention held back by a sink
// keeps past its time.
func (l *Log) CountBefore(before time.Time, afterSeq int) (int, error) {
	cutoff, _ := types.ParseDateTime(before)
	var n int
	err := l.app.DB().NewQuery("SELECT count(*) FROM {{" + records.AuditCollection + "}} WHERE [[created]] < {:cutoff} AND [[seq]] > {:seq}").
		Bind(dbx.Params{"cutoff": cutoff.String(), "seq": afterSeq}).Row(&n)
	return n, err
}
