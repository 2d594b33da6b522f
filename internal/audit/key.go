package audit

import (
	"strconv"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// CauseKeyMismatch is the Cause of a Verify result whose chain was written
// under another key than app's: none of its first entries matches its hash
// (an edit breaks one entry, not every one), as after a restore onto a
// machine whose key is not the one the data was written with.
const CauseKeyMismatch = "key_mismatch"

// keyProbe is how many of the chain's first entries KeyMatches checks.
const keyProbe = 3

// Count returns how many entries app's audit holds: 0 when its table does
// not exist yet (a fresh install, before the migrations).
func Count(app core.App) (int, error) {
	if !app.HasTable(records.AuditCollection) {
		return 0, nil
	}
	var n int
	err := app.DB().NewQuery("SELECT count(*) FROM {{" + records.AuditCollection + "}}").Row(&n)
	return n, err
}

// KeyMatches reports whether app's keys are the ones its chain was written
// with: whether the chain's first v2 entry names a key app has, or, in v1,
// whether any of the chain's first entries matches its hash, each chained
// after the hash stored in the entry before it. An empty chain, or one
// whose first entries cannot be linked (numbering gaps), matches: then
// Verify names what is wrong.
func (l *Log) KeyMatches() (bool, error) {
	app, ring := l.app, l.keys
	if !app.HasTable(records.AuditCollection) {
		return true, nil
	}
	firstSeq, err := FirstSeq(app)
	if err != nil {
		return false, err
	}
	prevSeq, prev, err := chainStart(app, firstSeq)
	if err != nil {
		return false, err
	}
	keys := ring.verifiers()
	checked, matched := 0, false
	first := app.DB().NewQuery("SELECT " + selectColumns(records.AuditCollection) + " FROM {{" + records.AuditCollection + "}} WHERE [[seq]] > {:seq} ORDER BY [[seq]] LIMIT " + strconv.Itoa(keyProbe)).
		Bind(dbx.Params{"seq": prevSeq})
	err = scanRows(first, func(r row) bool {
		if id, v2 := hashKeyId(r.Hash); v2 {
			checked++
			matched = keys.v2[id] != nil
			return false
		}
		if r.Seq == prevSeq+1 {
			checked++
			for _, l := range keys.v1 {
				if l.matches(prev, r) {
					matched = true
					return false
				}
			}
		}
		prevSeq, prev = r.Seq, r.Hash
		return true
	})
	if err != nil {
		return false, err
	}
	return matched || checked == 0, nil
}

// withCause names the cause of res, a failed Verify, when it is the key:
// the first entry does not match its hash, and neither do the next ones.
func (l *Log) withCause(res Result) (Result, error) {
	if res.OK || res.Entries > 0 || res.FirstBadId == "" || res.Cause != "" {
		return res, nil
	}
	ok, err := l.KeyMatches()
	if err != nil || ok {
		return res, err
	}
	res.Cause = CauseKeyMismatch
	res.Problem = "no entry matches its hash under this install's audit key: the chain was written under another key " +
		"(" + CauseKeyMismatch + "; was the data restored without its key?). Restore the key the data was written with"
	return res, nil
}
