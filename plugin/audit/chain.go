package audit

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"crypto/hmac"
	"crypto/sha256"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/plugin/records"
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
// both.
const chainVersion = "v1"

// keyStoreKey is where the app's store keeps the audit key.
const keyStoreKey = "impersonation.auditKey"

// SetKey gives app the key of its audit chain (the plugin does it when it
// registers).
func SetKey(app core.App, key []byte) { app.Store().Set(keyStoreKey, key) }

func keyOf(app core.App) ([]byte, error) {
	key, _ := app.Store().Get(keyStoreKey).([]byte)
	if len(key) == 0 {
		return nil, errors.New("audit: no chain key (is the plugin registered?)")
	}
	return key, nil
}

// row is an audit entry as stored.
type row struct {
	Seq              int    `db:"seq"`
	Id               string `db:"id"`
	Event            string `db:"event"`
	Actor            string `db:"actor"`
	ActorCollection  string `db:"actorCollection"`
	Target           string `db:"target"`
	TargetCollection string `db:"targetCollection"`
	Session          string `db:"session"`
	Reason           string `db:"reason"`
	IP               string `db:"ip"`
	UserAgent        string `db:"userAgent"`
	Method           string `db:"method"`
	Path             string `db:"path"`
	Status           int    `db:"status"`
	Data             string `db:"data"`
	Created          string `db:"created"`
	Hash             string `db:"hash"`
}

// link returns the hash of r chained after prev.
func link(key []byte, prev string, r row) string {
	canonical, _ := json.Marshal([]any{r.Seq, r.Id, r.Event, r.Actor, r.ActorCollection, r.Target, r.TargetCollection,
		r.Session, r.Reason, r.IP, r.UserAgent, r.Method, r.Path, r.Status, r.Data, r.Created})
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(chainVersion + "\n" + prev + "\n"))
	mac.Write(canonical)
	return hex.EncodeToString(mac.Sum(nil))
}

// columns are the stored columns, in the order of row.
var columns = []string{"seq", "id", "event", "actor", "actorCollection", "target", "targetCollection", "session",
	"reason", "ip", "userAgent", "method", "path", "status", "data", "created", "hash"}

func (r row) values() []any {
	return []any{r.Seq, r.Id, r.Event, r.Actor, r.ActorCollection, r.Target, r.TargetCollection, r.Session,
		r.Reason, r.IP, r.UserAgent, r.Method, r.Path, r.Status, r.Data, r.Created, r.Hash}
}

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
		Id: core.GenerateDefaultRandomId(), Event: cut(e.Event, 100),
		Actor: cut(e.Actor, 255), ActorCollection: cut(e.ActorCollection, 255),
		Target: cut(e.Target, 255), TargetCollection: cut(e.TargetCollection, 255),
		Session: cut(e.Session, 255), Reason: cut(e.Reason, 1000),
		IP: cut(e.Client.IP, 255), UserAgent: cut(e.Client.UserAgent, 1000),
		Method: cut(e.Client.Method, 20), Path: cut(e.Client.Path, 3000),
		Status: e.Client.Status, Data: data, Created: created,
	}, nil
}

// Append chains entries after the head of the chain and inserts them, in
// order, in a transaction of app (app's own when it is one). PocketBase writes through a single connection, so appends never
// interleave: the chain cannot fork.
func Append(app core.App, entries []Entry) error {
	now := types.NowDateTime()
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
	return appendRows(app, rows)
}

// appendRows chains rows (without seq and hash) after the head of the chain
// and inserts them, as Append does.
func appendRows(app core.App, rows []row) error {
	key, err := keyOf(app)
	if err != nil {
		return err
	}
	return app.RunInTransaction(func(tx core.App) error {
		var head row
		err := tx.DB().NewQuery("SELECT [[seq]], [[hash]] FROM {{" + records.AuditCollection + "}} ORDER BY [[seq]] DESC LIMIT 1").One(&head)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		prev := head.Hash
		for i := range rows {
			rows[i].Seq = head.Seq + i + 1
			rows[i].Hash = link(key, prev, rows[i])
			prev = rows[i].Hash
		}
		return insertRows(tx, rows)
	})
}

// insertRows inserts rows with one prepared statement, a row at a time:
// the driver binds a statement's parameters in time quadratic in their
// number, so one statement of many rows costs more than many of one.
func insertRows(tx core.App, rows []row) error {
	var names, values strings.Builder
	for i, c := range columns {
		if i > 0 {
			names.WriteString(", ")
			values.WriteString(", ")
		}
		names.WriteString("[[" + c + "]]")
		values.WriteString("{:" + c + "}")
	}
	q := tx.DB().NewQuery("INSERT INTO {{" + records.AuditCollection + "}} (" + names.String() + ") VALUES (" + values.String() + ")").Prepare()
	defer q.Close()
	params := make(dbx.Params, len(columns))
	for _, r := range rows {
		for i, v := range r.values() {
			params[columns[i]] = v
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
}

// verifyPage is how many entries Verify reads at a time.
const verifyPage = 2000

// Verify walks the chain in seq order and reports the first entry whose
// number or hash is not what the entries before it imply: an edited,
// deleted, inserted or reordered entry, or, against AnchorFile, the newest
// entries deleted (then no entry is named). A chain whose oldest entries
// Prune removed starts after the entry its Checkpoint names. progress, when not nil, is called
// as it goes and once at the end, with the entries checked and the total.
func Verify(app core.App, progress func(done, total int)) (Result, error) {
	key, err := keyOf(app)
	if err != nil {
		return Result{}, err
	}
	anchored, err := readAnchor(app)
	if err != nil {
		return Result{}, err
	}
	var total int
	if err := app.DB().NewQuery("SELECT count(*) FROM {{" + records.AuditCollection + "}}").Row(&total); err != nil {
		return Result{}, err
	}
	var firstSeq int
	if err := app.DB().NewQuery("SELECT COALESCE(min([[seq]]), 0) FROM {{" + records.AuditCollection + "}}").Row(&firstSeq); err != nil {
		return Result{}, err
	}
	lastSeq, prev, err := chainStart(app, firstSeq)
	if err != nil {
		return Result{}, err
	}
	res := Result{OK: true}
	report := func() {
		if progress != nil {
			progress(res.Entries, total)
		}
	}
	defer report()
	for {
		var page []row
		err := app.DB().NewQuery("SELECT " + selectColumns() + " FROM {{" + records.AuditCollection + "}} WHERE [[seq]] > {:seq} ORDER BY [[seq]] LIMIT " + strconv.Itoa(verifyPage)).
			Bind(dbx.Params{"seq": lastSeq}).All(&page)
		if err != nil {
			return Result{}, err
		}
		if len(page) == verifyPage {
			report()
		}
		for _, r := range page {
			switch {
			case r.Seq != lastSeq+1:
				return broken(res, r, fmt.Sprintf("entry #%d follows #%d: entries were deleted, inserted or reordered", r.Seq, lastSeq)), nil
			case !hmac.Equal([]byte(r.Hash), []byte(link(key, prev, r))):
				return broken(res, r, fmt.Sprintf("entry #%d does not match its hash: it, or the entry before it, was changed", r.Seq)), nil
			}
			if anchored != nil && r.Seq == anchored.Seq && r.Hash != anchored.Hash {
				return broken(res, r, fmt.Sprintf("entry #%d is not the one the anchor recorded: the chain was rewritten from there", r.Seq)), nil
			}
			prev, lastSeq = r.Hash, r.Seq
			res.Entries++
		}
		if len(page) < verifyPage {
			break
		}
	}
	if anchored != nil && lastSeq < anchored.Seq {
		return Result{Entries: res.Entries, Problem: fmt.Sprintf(
			"the chain ends at #%d but reached #%d: the newest entries were deleted", lastSeq, anchored.Seq)}, nil
	}
	if res.Entries != total {
		// entries outside the numbering (seq below 1, or repeated)
		return Result{Entries: res.Entries, Problem: fmt.Sprintf("%d entries are outside the chain's numbering", total-res.Entries)}, nil
	}
	return res, nil
}

func broken(res Result, r row, problem string) Result {
	return Result{Entries: res.Entries, FirstBadId: r.Id, Problem: problem}
}

// selectColumns selects the columns of row; a NULL (which only a write
// from outside the plugin leaves) reads as the zero value.
func selectColumns() string {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		zero := "''"
		if c == "seq" || c == "status" {
			zero = "0"
		}
		quoted[i] = "COALESCE([[" + c + "]], " + zero + ") AS [[" + c + "]]"
	}
	return strings.Join(quoted, ", ")
}

func unmarshalJSON(raw string, v any) error { return json.Unmarshal([]byte(raw), v) }
