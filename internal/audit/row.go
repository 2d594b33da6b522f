package audit

import (
	"encoding/json"
	"strconv"
	"strings"
)

// row is an audit entry as stored. Its fields are described once, in
// columns: the insert, the scan, the canonical encoding the chain hashes,
// the export and the CSV are all derived from that table. (The journal
// stores a row as journalLine writes it.)
type row struct {
	Seq              int
	Id               string
	Event            string
	Actor            string
	ActorCollection  string
	Target           string
	TargetCollection string
	Session          string
	Reason           string
	IP               string
	UserAgent        string
	Method           string
	Path             string
	Status           int
	Data             string
	Created          string
	Hash             string
}

// kind is how a column is stored and encoded.
type kind int

const (
	// text is a string.
	text kind = iota
	// number is an integer.
	number
	// jsonText is a string of JSON, an object or null: an export writes it
	// as JSON, not as a string.
	jsonText
)

// column is one stored field of an entry.
type column struct {
	name string
	kind kind
	// str and num return the address of the row's field: str for text and
	// jsonText, num for number
	str func(r *row) *string
	num func(r *row) *int
}

// columns are the stored fields of an entry, in the order of the canonical
// encoding that the chain hashes (see chainVersion), which is every column
// but the last, the hash itself. This order must never change.
var columns = []column{
	{name: "seq", kind: number, num: func(r *row) *int { return &r.Seq }},
	{name: "id", str: func(r *row) *string { return &r.Id }},
	{name: "event", str: func(r *row) *string { return &r.Event }},
	{name: "actor", str: func(r *row) *string { return &r.Actor }},
	{name: "actorCollection", str: func(r *row) *string { return &r.ActorCollection }},
	{name: "target", str: func(r *row) *string { return &r.Target }},
	{name: "targetCollection", str: func(r *row) *string { return &r.TargetCollection }},
	{name: "session", str: func(r *row) *string { return &r.Session }},
	{name: "reason", str: func(r *row) *string { return &r.Reason }},
	{name: "ip", str: func(r *row) *string { return &r.IP }},
	{name: "userAgent", str: func(r *row) *string { return &r.UserAgent }},
	{name: "method", str: func(r *row) *string { return &r.Method }},
	{name: "path", str: func(r *row) *string { return &r.Path }},
	{name: "status", kind: number, num: func(r *row) *int { return &r.Status }},
	{name: "data", kind: jsonText, str: func(r *row) *string { return &r.Data }},
	{name: "created", str: func(r *row) *string { return &r.Created }},
	{name: "hash", str: func(r *row) *string { return &r.Hash }},
}

// hashed are the columns the canonical encoding holds.
var hashed = columns[:len(columns)-1]

// exported are the columns in the order of an export: a JSON line's keys
// and the CSV header. This order is part of the export format.
var exported = columnsNamed("id", "seq", "hash", "created", "event", "actor", "actorCollection", "target",
	"targetCollection", "session", "reason", "ip", "userAgent", "method", "path", "status", "data")

// columnsNamed returns the columns of names, in that order; every column
// must be named once.
func columnsNamed(names ...string) []column {
	out := make([]column, len(names))
	for i, name := range names {
		out[i] = columnNamed(name)
	}
	if len(out) != len(columns) {
		panic("audit: the export does not name each column once")
	}
	return out
}

// columnNamed returns the column of that name.
func columnNamed(name string) column {
	for _, c := range columns {
		if c.name == name {
			return c
		}
	}
	panic("audit: no column " + name)
}

// value returns r's value of c.
func (c column) value(r *row) any {
	if c.kind == number {
		return *c.num(r)
	}
	return *c.str(r)
}

// field returns the address of r's field of c, to scan into.
func (c column) field(r *row) any {
	if c.kind == number {
		return c.num(r)
	}
	return c.str(r)
}

// readSQL is the SQL that reads c of an entry of table: a NULL reads as
// the zero value, a text column as text, and a number column holding
// anything but an integer as -1, which no entry holds (all these only a
// write from outside the plugin leaves: each reads, and fails its hash).
func (c column) readSQL(table string) string {
	v := "[[" + table + "." + c.name + "]]"
	if c.kind == number {
		return "CASE WHEN typeof(" + v + ") = 'integer' THEN " + v + " WHEN " + v + " IS NULL THEN 0 ELSE -1 END"
	}
	return "CAST(COALESCE(" + v + ", '') AS TEXT)"
}

// cell returns r's value of c as CSV text, as stored.
func (c column) cell(r *row) string {
	if c.kind == number {
		return strconv.Itoa(*c.num(r))
	}
	return *c.str(r)
}

// appendJSON appends r's value of c as an export's JSON writes it: a
// jsonText column as its JSON (compacted; a string when it does not parse,
// which only a write from outside the plugin leaves).
func (c column) appendJSON(buf []byte, r *row) ([]byte, error) {
	switch c.kind {
	case number:
		return strconv.AppendInt(buf, int64(*c.num(r)), 10), nil
	case jsonText:
		raw := json.RawMessage(*c.str(r))
		if !json.Valid(raw) {
			quoted, err := json.Marshal(*c.str(r))
			return append(buf, quoted...), err
		}
		compact, err := json.Marshal(raw)
		return append(buf, compact...), err
	}
	return appendJSONString(buf, *c.str(r)), nil
}

// canonical appends to buf the canonical JSON of r: exactly what
// json.Marshal makes of the array of r's hashed values (data as its stored
// text, a string), written directly, since verifying a million entries
// spends most of its time here.
func canonical(buf []byte, r row) []byte {
	buf = append(buf, '[')
	for i, c := range hashed {
		if i > 0 {
			buf = append(buf, ',')
		}
		if c.kind == number {
			buf = strconv.AppendInt(buf, int64(*c.num(&r)), 10)
		} else {
			buf = appendJSONString(buf, *c.str(&r))
		}
	}
	return append(buf, ']')
}

// exportLine appends r as a line of a JSON lines export: an object of the
// exported columns, in order.
func exportLine(buf []byte, r *row) ([]byte, error) {
	buf = append(buf, '{')
	for i, c := range exported {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(appendJSONString(buf, c.name), ':')
		var err error
		if buf, err = c.appendJSON(buf, r); err != nil {
			return nil, err
		}
	}
	return append(buf, '}', '\n'), nil
}

// journalLine appends r as a line of the journal: a JSON object of every
// column, by name, each value as stored (data as its text, a string).
// readJournal reads it back with json.Unmarshal, which matches a name to
// its field whatever its case, as it reads the lines of earlier versions,
// which json.Marshal wrote by field name.
func journalLine(buf []byte, r *row) []byte {
	buf = append(buf, '{')
	for i, c := range columns {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(appendJSONString(buf, c.name), ':')
		if c.kind == number {
			buf = strconv.AppendInt(buf, int64(*c.num(r)), 10)
		} else {
			buf = appendJSONString(buf, *c.str(r))
		}
	}
	return append(buf, '}', '\n')
}

// csvHeader is the first line of a CSV export.
func csvHeader() []string {
	names := make([]string, len(exported))
	for i, c := range exported {
		names[i] = c.name
	}
	return names
}

// csvCells returns r as the cells of a CSV export, each made inert (see
// inertCell).
func csvCells(r *row) []string {
	cells := make([]string, len(exported))
	for i, c := range exported {
		cells[i] = inertCell(c.cell(r))
	}
	return cells
}

// insertSQL is the INSERT of a row, with a {:name} parameter per column.
func insertSQL(table string) string {
	names := make([]string, len(columns))
	params := make([]string, len(columns))
	for i, c := range columns {
		names[i], params[i] = "[["+c.name+"]]", "{:"+c.name+"}"
	}
	return "INSERT INTO {{" + table + "}} (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(params, ", ") + ")"
}

// selectColumns selects the columns of row, named with their table (a
// filter may join others), each as readSQL reads it.
func selectColumns(table string) string {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = c.readSQL(table) + " AS [[" + c.name + "]]"
	}
	return strings.Join(quoted, ", ")
}

// canonicalSQLSelect selects an entry's rowid, seq, id and hash, and
// SQLite's json_array of its hashed values (each as readSQL reads it):
// verifying a million entries reads four columns of each rather than
// seventeen. fromSQLiteJSON makes the canonical encoding of that array.
func canonicalSQLSelect(table string) string {
	values := make([]string, len(hashed))
	for i, c := range hashed {
		values[i] = c.readSQL(table)
	}
	read := func(name string) string { return columnNamed(name).readSQL(table) }
	return "[[" + table + ".rowid]], " + read("seq") + ", " + read("id") + ", " + read("hash") + ", json_array(" + strings.Join(values, ", ") + ")"
}

// fromSQLiteJSON appends to buf the canonical encoding of an entry made
// from SQLite's json_array of its hashed values, and reports whether it
// could. SQLite writes the array as json.Marshal does (no spaces, integers
// as digits, '"' and '\\' escaped by a backslash) except that
// json.Marshal escapes '<', '>' and '&', which SQLite leaves as they are;
// an array with any other escape or byte (a control character, non-ASCII)
// is left to canonical.
func fromSQLiteJSON(buf []byte, array string) ([]byte, bool) {
	copied := 0 // array[:copied] is in buf
	for i := 0; i < len(array); i++ {
		switch c := array[i]; {
		case c == '<' || c == '>' || c == '&':
			buf = append(append(buf, array[copied:i]...), `\u00`...)
			buf = append(buf, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			copied = i + 1
		case c == '\\':
			if i+1 == len(array) || (array[i+1] != '"' && array[i+1] != '\\') {
				return buf, false
			}
			i++
		case c < 0x20 || c > 0x7e:
			return buf, false
		}
	}
	return append(buf, array[copied:]...), true
}

// scanFields returns the addresses of r's fields, in the order of columns.
func scanFields(r *row) []any {
	dest := make([]any, len(columns))
	for i, c := range columns {
		dest[i] = c.field(r)
	}
	return dest
}
