package audit

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"crypto/hmac"
	"crypto/sha256"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/redact"
)

// The audit is a keyed hash chain. Entries are numbered 1, 2, 3... in the
// field seq, and each one's hash is
//
//	hex(HMAC-SHA256(key, "v1\n" + previous hash + "\n" + canonical))
//
// where the previous hash is that of the entry numbered seq-1 ("" for the
// first), key is the install's audit key (never in the database, so whoever
// has only the database cannot recompute the chain), and canonical is the
// JSON array of the entry's stored values in this order:
//
//	[seq, id, event, actor, actorCollection, target, targetCollection,
//	 session, reason, ip, userAgent, method, path, status, data, created]
//
// with data as its stored JSON text ("null" when empty) and created as
// stored ("2006-01-02 15:04:05.000Z"). This encoding must never change
// silently: a new one needs a new version prefix and a Verify that knows
// both. That is v1; new entries are written in v2 (see keys.go), which
// keys the chain with a key derived from the audit key and names the key;
// v1 entries, before the first v2 one, still verify.
const chainVersion = "v1"

// linker computes the hashes of the chain with one key, in one format. It
// is not safe for concurrent use.
type linker struct {
	mac hash.Hash
	id  string // the key's id, in v2; "" in v1
	buf []byte
	out []byte // the stored hash: in v2, "v2:" + id + ":" + hex
	hex [2 * sha256.Size]byte
}

// newLinker returns the v1 linker of master key key.
func newLinker(key []byte) *linker { return &linker{mac: hmac.New(sha256.New, key)} }

// newLinkerV2 returns the v2 linker of the key whose id is id and whose
// derived chain key is chainKey.
func newLinkerV2(id string, chainKey []byte) *linker {
	return &linker{mac: hmac.New(sha256.New, chainKey), id: id}
}

// sum returns the hash of r chained after prev, as stored, in l's own
// buffer: it holds until the next call.
func (l *linker) sum(prev string, r row) []byte {
	l.buf = canonical(l.prefix(prev), r)
	return l.seal()
}

// sumCanonical returns, as sum does, the hash chained after prev of the
// entry whose canonical encoding is canon.
func (l *linker) sumCanonical(prev string, canon []byte) []byte {
	l.buf = append(l.prefix(prev), canon...)
	return l.seal()
}

// prefix returns l's buffer holding what the hashed bytes start with: the
// format (and in v2 the key's id), then prev.
func (l *linker) prefix(prev string) []byte {
	if l.id == "" {
		l.buf = append(l.buf[:0], chainVersion+"\n"...)
	} else {
		l.buf = append(append(append(l.buf[:0], hashV2+"\n"...), l.id...), '\n')
	}
	return append(append(l.buf, prev...), '\n')
}

// seal returns the hash of the bytes in l's buffer, as stored.
func (l *linker) seal() []byte {
	l.mac.Reset()
	l.mac.Write(l.buf)
	hex.Encode(l.hex[:], l.mac.Sum(l.buf[:0]))
	if l.id == "" {
		return l.hex[:]
	}
	l.out = append(append(append(append(l.out[:0], hashV2+":"...), l.id...), ':'), l.hex[:]...)
	return l.out
}

// link returns the hash of r chained after prev.
func (l *linker) link(prev string, r row) string { return string(l.sum(prev, r)) }

// matches reports, in constant time, whether r's stored hash is the hash of
// r chained after prev.
func (l *linker) matches(prev string, r row) bool { return sameHash(r.Hash, l.sum(prev, r)) }

// matchesCanonical reports, as matches does, whether hash is the hash
// chained after prev of the entry whose canonical encoding is canon.
func (l *linker) matchesCanonical(prev, hash string, canon []byte) bool {
	return sameHash(hash, l.sumCanonical(prev, canon))
}

// sameHash reports, in constant time, whether stored is want.
func sameHash(stored string, want []byte) bool {
	if len(stored) != len(want) {
		return false
	}
	var diff byte
	for i := range want {
		diff |= want[i] ^ stored[i]
	}
	return diff == 0
}

// appendJSONString appends s as json.Marshal quotes it. Printable ASCII is
// quoted here, in one pass that copies runs of plain bytes (only '"' and
// '\\' take a backslash); a string with any other byte (control characters,
// non-ASCII, and '<', '>', '&', which json.Marshal escapes for HTML) is left
// to json.Marshal itself.
func appendJSONString(buf []byte, s string) []byte {
	start := len(buf)
	buf = append(buf, '"')
	copied := 0 // s[:copied] is in buf
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case jsonPlain[c]:
		case c == '"' || c == '\\':
			buf = append(append(append(buf, s[copied:i]...), '\\'), c)
			copied = i + 1
		default:
			quoted, _ := json.Marshal(s)
			return append(buf[:start], quoted...)
		}
	}
	return append(append(buf, s[copied:]...), '"')
}

// jsonPlain marks the bytes json.Marshal writes into a string as they are.
var jsonPlain = func() (plain [256]bool) {
	for c := byte(0x20); c <= 0x7e; c++ {
		plain[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return plain
}()

// rowOf returns e as it will be stored, without seq and hash.
func rowOf(e Entry, created string) (row, error) {
	data := "null"
	if e.Data != nil {
		raw, err := json.Marshal(e.Data)
		if err != nil {
			return row{}, fmt.Errorf("audit: encode data: %w", err)
		}
		data = string(raw)
	}
	return row{
		Id: newEntryId(), Event: cut(e.Event, 100),
		Actor: cut(e.Actor, 255), ActorCollection: cut(e.ActorCollection, 255),
		Target: cut(e.Target, 255), TargetCollection: cut(e.TargetCollection, 255),
		Session: cut(e.Session, 255), Reason: cut(e.Reason, 1000),
		IP: cut(e.Client.IP, 255), UserAgent: cut(e.Client.UserAgent, 1000),
		Method: cut(e.Client.Method, 20), Path: cut(redact.Path(e.Client.Path), 3000),
		Status: e.Client.Status, Data: data, Created: created,
	}, nil
}

// Append chains entries after the head of the chain and inserts them, in
// order, in a transaction of app (l's app or a transaction of it; its own
// when it is one). PocketBase writes through a single connection, so
// appends never interleave: the chain cannot fork. Once the entries are
// committed (with app's transaction, when app is one), the anchor moves to
// the last of them (see AnchorFile). An entry without Created is dated now,
// on l's clock.
func (l *Log) Append(app core.App, entries []Entry) error {
	now := l.now()
	rows := make([]row, len(entries))
	for i, e := range entries {
		created := e.Created
		if created.IsZero() {
			created = now
		}
		var err error
		if rows[i], err = rowOf(e, created.String()); err != nil {
			return err
		}
	}
	return l.appendRows(app, rows)
}

// appendRows chains rows (without seq and hash) after the head of the chain
// and inserts them, as Append does.
func (l *Log) appendRows(app core.App, rows []row) error {
	if len(rows) == 0 {
		return nil
	}
	var prev Head
	err := app.RunInTransaction(func(tx core.App) error {
		var err error
		if prev, err = tableHead(tx); err != nil {
			return err
		}
		if rows, err = l.chainAfter(prev, rows); err != nil {
			return err
		}
		return insertRows(tx, rows)
	})
	if err != nil {
		return err
	}
	last := rows[len(rows)-1]
	l.advanceAfter(app, prev, Head{Seq: last.Seq, Hash: last.Hash})
	return nil
}

// chainAfter numbers and links rows (without seq and hash) after head, with
// l's current key. The first entry in a new format or under a new key says
// so: a marker entry goes first.
func (l *Log) chainAfter(head Head, rows []row) ([]row, error) {
	ring := l.keys
	if id, v2 := hashKeyId(head.Hash); head.Hash != "" && (!v2 || id != ring.current) {
		previous := chainVersion
		if v2 {
			previous = hashV2 + ":" + id
		}
		marker, err := rowOf(Entry{Event: FormatChanged, Data: map[string]any{
			"format": hashV2, "keyId": ring.current, "previous": previous,
		}}, l.now().String())
		if err != nil {
			return nil, err
		}
		rows = append([]row{marker}, rows...)
	}
	prev, lk := head.Hash, newLinkerV2(ring.current, ring.chain[ring.current])
	for i := range rows {
		rows[i].Seq = head.Seq + i + 1
		rows[i].Hash = lk.link(prev, rows[i])
		prev = rows[i].Hash
	}
	return rows, nil
}

// insertAuditSQL inserts an entry.
var insertAuditSQL = insertSQL(records.AuditCollection)

// insertRows inserts rows with one prepared statement, a row at a time:
// the driver binds a statement's parameters in time quadratic in their
// number, so one statement of many rows costs more than many of one.
func insertRows(tx core.App, rows []row) error {
	q := tx.DB().NewQuery(insertAuditSQL)
	if len(rows) > 1 {
		q = q.Prepare()
		defer q.Close()
	}
	params := make(dbx.Params, len(columns))
	for i := range rows {
		for _, c := range columns {
			params[c.name] = c.value(&rows[i])
		}
		if _, err := q.Bind(params).Execute(); err != nil {
			return err
		}
	}
	return nil
}

// Result is what Verify found.
type Result struct {
	OK         bool   `json:"ok"`
	Entries    int    `json:"entries"`
	FirstBadId string `json:"firstBadId,omitempty"`
	Problem    string `json:"problem,omitempty"`
	// Code names the kind of problem: CodeChainBroken or
	// CodeAnchorNotReached; empty when OK.
	Code string `json:"code,omitempty"`
	// Anchored and Head, with CodeAnchorNotReached, are the anchored head
	// the chain no longer reaches and the chain's head now: what an
	// Acknowledge would accept.
	Anchored *Head `json:"anchored,omitempty"`
	Head     *Head `json:"head,omitempty"`
	// Cause names the cause of a failure when it is known: CauseKeyMismatch.
	Cause string `json:"cause,omitempty"`
}

// Codes of Result.
const (
	// CodeChainBroken: an entry was edited, deleted, inserted or
	// reordered; FirstBadId names the first bad one, if any is left.
	CodeChainBroken = "chain_broken"
	// CodeAnchorNotReached: the chain links up but no longer reaches the
	// head that was anchored (the newest entries were deleted, or the
	// chain rewritten from the anchored entry on). It is reported until a
	// superuser accepts the loss with Acknowledge.
	CodeAnchorNotReached = "anchor_not_reached"
)

// verifyPage is how many entries Verify's ordered walk reads at a time.
const verifyPage = 2000

// Verify walks the chain in seq order and reports the first entry whose
// number or hash is not what the entries before it imply: an edited,
// deleted, inserted or reordered entry, or, against AnchorFile, the newest
// entries deleted (then no entry is named). A chain whose oldest entries
// Prune removed starts after the entry its Checkpoint names. A chain
// written under another key fails from its first entry, with the Cause
// CauseKeyMismatch. progress, when
// not nil, is called as it goes and once at the end, with the entries
// checked and the total.
//
// It first reads the entries in storage order, one sequential scan, which
// is the order they were appended in unless something rewrote the table:
// if the chain checks out in that order, it is whole. Otherwise it walks
// the seq index to name the first bad entry.
//
// A chain that no longer reaches the anchored head is reported with
// CodeAnchorNotReached, the anchored head and the head now.
func (l *Log) Verify(progress func(done, total int)) (Result, error) {
	res, err := l.verify(progress)
	if err == nil && res.Code == CodeAnchorNotReached {
		var head Head
		if head, err = tableHead(l.app); err == nil {
			res.Head = &head
		}
	}
	if err != nil {
		return Result{}, err
	}
	l.lastVerify.Store(&Verified{At: l.now().String(), Result: res})
	return res, nil
}

func (l *Log) verify(progress func(done, total int)) (Result, error) {
	app, ring := l.app, l.keys
	anchored, err := l.anchor.read()
	if err != nil {
		return Result{}, err
	}
	var total int
	if err := app.DB().NewQuery("SELECT count(*) FROM {{" + records.AuditCollection + "}}").Row(&total); err != nil {
		return Result{}, err
	}
	firstSeq, err := FirstSeq(app)
	if err != nil {
		return Result{}, err
	}
	startSeq, startHash, err := chainStart(app, firstSeq)
	if err != nil {
		return Result{}, err
	}
	if anchored != nil && startSeq > 0 && anchored.Seq == startSeq && anchored.Hash != startHash {
		return Result{Code: CodeAnchorNotReached, Anchored: anchored, Problem: fmt.Sprintf(
			"the chain starts after #%d but not after the entry the anchor recorded: it was rewritten from there", startSeq)}, nil
	}
	newCheck := func() *chainCheck {
		_, v2 := hashKeyId(startHash)
		return &chainCheck{keys: ring.verifiers(), anchored: anchored, lastSeq: startSeq, prev: startHash, v2: v2, res: Result{OK: true}}
	}
	report := func(done int) {
		if progress != nil {
			progress(done, total)
		}
	}

	// storage order, in parts checked at once
	var done atomic.Int64
	res, inOrder, err := verifyStored(app, newCheck, total, func(n int) { report(int(done.Add(int64(n)))) })
	if err != nil {
		return Result{}, err
	}
	if inOrder && res.OK {
		report(res.Entries)
		return res, nil
	}

	// seq order, page by page, to name the first bad entry
	check := newCheck()
	defer func() { report(check.res.Entries) }()
	for {
		read, ok := 0, true
		page := app.DB().NewQuery("SELECT " + selectColumns(records.AuditCollection) + " FROM {{" + records.AuditCollection + "}} WHERE [[seq]] > {:seq} ORDER BY [[seq]] LIMIT " + strconv.Itoa(verifyPage)).
			Bind(dbx.Params{"seq": check.lastSeq})
		err := scanRows(page, func(r row) bool {
			read++
			ok = check.add(r)
			return ok
		})
		if err != nil {
			return Result{}, err
		}
		if !ok {
			return l.withCause(check.res)
		}
		report(check.res.Entries)
		if read < verifyPage {
			return check.end(total), nil
		}
	}
}

// chainCheck checks entries one after another against the chain.
type chainCheck struct {
	keys     *verifiers
	anchored *Head
	lastSeq  int    // of the last good entry
	prev     string // its hash
	v2       bool   // a v2 entry came before: no v1 entry may follow
	res      Result
	buf      []byte // the canonical encoding of the entry being checked
}

// verifiers are the linkers of a keyring: one per master key in v1, one
// per key id in v2. They are not safe for concurrent use.
type verifiers struct {
	v1 []*linker
	v2 map[string]*linker
}

func (k *keyring) verifiers() *verifiers {
	v := &verifiers{v2: map[string]*linker{}}
	for _, m := range k.masters {
		v.v1 = append(v.v1, newLinker(m))
	}
	for id, chainKey := range k.chain {
		v.v2[id] = newLinkerV2(id, chainKey)
	}
	return v
}

// add checks r, the entry after the last good one, and reports whether it
// is good; when not, res says why.
func (c *chainCheck) add(r row) bool {
	c.buf = canonical(c.buf[:0], r)
	return c.addCanonical(r.Seq, r.Id, r.Hash, c.buf)
}

// addCanonical checks, as add does, the entry numbered seq whose id is id,
// stored hash hash and canonical encoding canon.
func (c *chainCheck) addCanonical(seq int, id, hash string, canon []byte) bool {
	if seq != c.lastSeq+1 {
		c.res = broken(c.res, id, fmt.Sprintf("entry #%d follows #%d: entries were deleted, inserted or reordered", seq, c.lastSeq))
		return false
	}
	matched := false
	if keyId, v2 := hashKeyId(hash); v2 {
		l := c.keys.v2[keyId]
		if l == nil {
			c.res = broken(c.res, id, fmt.Sprintf("entry #%d was written under the audit key %s, which this install does not have (%s): "+
				"restore that key, or give it as a previous key", seq, keyId, CauseKeyMismatch))
			c.res.Cause = CauseKeyMismatch
			return false
		}
		matched, c.v2 = l.matchesCanonical(c.prev, hash, canon), true
	} else {
		if c.v2 {
			c.res = broken(c.res, id, fmt.Sprintf("entry #%d is in the v1 format after v2 entries: the chain was rewritten from there", seq))
			return false
		}
		for _, l := range c.keys.v1 {
			if matched = l.matchesCanonical(c.prev, hash, canon); matched {
				break
			}
		}
	}
	switch {
	case !matched:
		c.res = broken(c.res, id, fmt.Sprintf("entry #%d does not match its hash: it, or the entry before it, was changed", seq))
		return false
	case c.anchored != nil && seq == c.anchored.Seq && hash != c.anchored.Hash:
		c.res = broken(c.res, id, fmt.Sprintf("entry #%d is not the one the anchor recorded: the chain was rewritten from there", seq))
		c.res.Code, c.res.Anchored = CodeAnchorNotReached, c.anchored
		return false
	}
	c.prev, c.lastSeq = hash, seq
	c.res.Entries++
	return true
}

// end returns the result once every entry was added, total being how many
// the table holds.
func (c *chainCheck) end(total int) Result {
	switch {
	case c.anchored != nil && c.lastSeq < c.anchored.Seq:
		return Result{Entries: c.res.Entries, Code: CodeAnchorNotReached, Anchored: c.anchored, Problem: fmt.Sprintf(
			"the chain ends at #%d but reached #%d: the newest entries were deleted", c.lastSeq, c.anchored.Seq)}
	case c.res.Entries != total:
		// entries outside the numbering (seq below 1, or repeated)
		return Result{Entries: c.res.Entries, Code: CodeChainBroken, Problem: fmt.Sprintf("%d entries are outside the chain's numbering", total-c.res.Entries)}
	}
	return c.res
}

// scanRows runs query, which selects selectColumns(records.AuditCollection), and calls fn with
// each row until it returns false. It scans into the row's fields directly:
// a million rows through reflection would cost seconds.
func scanRows(query interface{ Rows() (*dbx.Rows, error) }, fn func(r row) bool) error {
	rows, err := query.Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	var r row
	dest := scanFields(&r)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if !fn(r) {
			return nil
		}
	}
	return rows.Err()
}

// scanCanonical runs query, which selects canonicalSQLSelect, and calls fn
// with each entry's seq, id, hash and canonical encoding until it returns
// false. An entry whose encoding fromSQLiteJSON cannot make is read again,
// by its rowid, and encoded by canonical.
func scanCanonical(app core.App, query *dbx.Query, fn func(seq int, id, hash string, canon []byte) bool) error {
	rows, err := query.Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		rowid    int64
		seq      int
		id, hash string
		array    string
		buf      []byte
	)
	for rows.Next() {
		if err := rows.Scan(&rowid, &seq, &id, &hash, &array); err != nil {
			return err
		}
		var made bool
		if buf, made = fromSQLiteJSON(buf[:0], array); !made {
			var r row
			err := scanRows(app.DB().NewQuery("SELECT "+selectColumns(records.AuditCollection)+" FROM {{"+records.AuditCollection+"}} WHERE [[rowid]] = {:rowid}").
				Bind(dbx.Params{"rowid": rowid}), func(found row) bool { r = found; return false })
			if err != nil {
				return err
			}
			buf = canonical(buf[:0], r)
		}
		if !fn(seq, id, hash, buf) {
			return nil
		}
	}
	return rows.Err()
}

// verifyStored checks the chain in storage (rowid) order: the table is
// cut into as many rowid ranges as there are CPUs, each checked by a
// goroutine of its own from the entry stored just before it. It reports
// whether every entry followed the one stored before it in the chain, and
// then the result; progress gets the entries checked as they add up.
func verifyStored(app core.App, newCheck func() *chainCheck, total int, progress func(n int)) (Result, bool, error) {
	var bounds struct {
		Lo int64 `db:"lo"`
		Hi int64 `db:"hi"`
	}
	err := app.DB().NewQuery("SELECT COALESCE(min([[rowid]]), 0) AS [[lo]], COALESCE(max([[rowid]]), 0) AS [[hi]] FROM {{" + records.AuditCollection + "}}").One(&bounds)
	if err != nil {
		return Result{}, false, err
	}
	parts := int64(max(1, min(runtime.GOMAXPROCS(0), 8)))
	size := (bounds.Hi-bounds.Lo)/parts + 1
	checks := make([]*chainCheck, parts)
	ok := make([]bool, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := range parts {
		lo, hi := bounds.Lo+i*size, min(bounds.Lo+(i+1)*size-1, bounds.Hi)
		checks[i] = newCheck()
		wg.Go(func() {
			check := checks[i]
			if i > 0 { // the chain goes on from the entry stored before the part, if any
				var before row
				err := app.DB().NewQuery("SELECT [[seq]], [[hash]] FROM {{" + records.AuditCollection + "}} WHERE [[rowid]] < {:lo} ORDER BY [[rowid]] DESC LIMIT 1").
					Bind(dbx.Params{"lo": lo}).One(&before)
				switch {
				case err == nil:
					check.lastSeq, check.prev = before.Seq, before.Hash
					_, check.v2 = hashKeyId(before.Hash)
				case !errors.Is(err, sql.ErrNoRows):
					errs[i] = err
					return
				}
			}
			ok[i] = true
			part := app.DB().NewQuery("SELECT " + canonicalSQLSelect(records.AuditCollection) + " FROM {{" + records.AuditCollection + "}} WHERE [[rowid]] BETWEEN {:lo} AND {:hi} ORDER BY [[rowid]]").
				Bind(dbx.Params{"lo": lo, "hi": hi})
			errs[i] = scanCanonical(app, part, func(seq int, id, hash string, canon []byte) bool {
				if ok[i] = check.addCanonical(seq, id, hash, canon); ok[i] && check.res.Entries%verifyPage == 0 {
					progress(verifyPage)
				}
				return ok[i]
			})
		})
	}
	wg.Wait()
	whole := newCheck()
	for i, check := range checks {
		if errs[i] != nil {
			return Result{}, false, errs[i]
		}
		if !ok[i] {
			return Result{}, false, nil
		}
		whole.res.Entries += check.res.Entries
		if check.res.Entries > 0 {
			whole.lastSeq = check.lastSeq
		}
	}
	return whole.end(total), true, nil
}

func broken(res Result, id, problem string) Result {
	return Result{Entries: res.Entries, FirstBadId: id, Problem: problem, Code: CodeChainBroken}
}

func unmarshalJSON(raw string, v any) error { return json.Unmarshal([]byte(raw), v) }
