package audit

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/search"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// ErrBadExport wraps the errors of an export's format or filter.
var ErrBadExport = errors.New("invalid export request")

// exportPage is how many entries Export reads at a time.
const exportPage = 1000

// Export is a validated export of the audit entries that match a filter.
type Export struct {
	app        core.App
	format     string
	collection *core.Collection
	resolver   *core.RecordFieldResolver
	where      dbx.Expression
}

// NewExport checks an export's format (FormatJSONL or FormatCSV) and filter
// (the records API's filter syntax, e.g.
// `event = "request" && created >= "2026-11-01"`; empty: every entry). Its
// errors wrap ErrBadExport.
func NewExport(app core.App, format, filter string) (*Export, error) {
	if format != FormatJSONL && format != FormatCSV {
		return nil, fmt.Errorf("%w: format %q, want %s or %s", ErrBadExport, format, FormatJSONL, FormatCSV)
	}
	collection, err := app.FindCachedCollectionByNameOrId(records.AuditCollection)
	if err != nil {
		return nil, err
	}
	x := &Export{app: app, format: format, collection: collection,
		resolver: core.NewRecordFieldResolver(app, collection, &core.RequestInfo{}, true)}
	if filter != "" {
		if x.where, err = search.FilterData(filter).BuildExpr(x.resolver); err != nil {
			return nil, fmt.Errorf("%w: filter: %v", ErrBadExport, err)
		}
	}
	return x, nil
}

// ContentType is the media type of the export's output.
func (x *Export) ContentType() string {
	if x.format == FormatCSV {
		return "text/csv; charset=utf-8"
	}
	return "application/x-ndjson"
}

// Run writes the entries to w in seq order, one line per entry: JSON
// objects for FormatJSONL, a header and one row per entry for FormatCSV.
// It reads and writes a page at a time, so it streams logs of any size,
// and returns how many entries it wrote.
func (x *Export) Run(w io.Writer) (int, error) {
	app, collection, resolver, where := x.app, x.collection, x.resolver, x.where
	out := newExportWriter(w, x.format)
	written, lastSeq := 0, 0
	for {
		q := app.RecordQuery(collection).
			Select(selectColumns(records.AuditCollection)).
			AndWhere(dbx.NewExp("[["+records.AuditCollection+".seq]] > {:seq}", dbx.Params{"seq": lastSeq})).
			OrderBy(records.AuditCollection + ".seq").Limit(exportPage)
		if where != nil {
			q.AndWhere(where)
		}
		if err := resolver.UpdateQuery(q); err != nil {
			return written, err
		}
		read := 0
		var writeErr error
		err := scanRows(q, func(r row) bool {
			read++
			if writeErr = out.write(r); writeErr != nil {
				return false
			}
			written++
			lastSeq = r.Seq
			return true
		})
		if err = errors.Join(err, writeErr, out.flush()); err != nil {
			return written, err
		}
		if f, ok := w.(interface{ Flush() }); ok {
			f.Flush() // an HTTP response streams page by page
		}
		if read < exportPage {
			return written, nil
		}
	}
}

type exportWriter struct {
	w      io.Writer
	line   []byte // the JSON line being written
	csv    *csv.Writer
	header bool
}

func newExportWriter(w io.Writer, format string) *exportWriter {
	e := &exportWriter{w: w}
	if format == FormatCSV {
		e.csv = csv.NewWriter(w)
	}
	return e
}

func (e *exportWriter) write(r row) error {
	if e.csv == nil {
		var err error
		if e.line, err = exportLine(e.line[:0], &r); err != nil {
			return err
		}
		_, err = e.w.Write(e.line)
		return err
	}
	if !e.header {
		e.header = true
		if err := e.csv.Write(csvHeader()); err != nil {
			return err
		}
	}
	return e.csv.Write(csvCells(&r))
}

// inertCell returns a CSV cell a spreadsheet shows as text: one that starts
// with a character that makes it a formula (=, +, -, @, a tab or a carriage
// return) gets a leading single quote, as OWASP's advice on CSV injection
// says. Many cells hold what a client sent (a reason, a path, a user
// agent, a record id of a refused start); the JSON lines export keeps
// every value as stored.
func inertCell(c string) string {
	if c != "" && strings.IndexByte(formulaStarts, c[0]) >= 0 {
		return "'" + c
	}
	return c
}

// formulaStarts are the first characters that make a spreadsheet cell a
// formula.
const formulaStarts = "=+-@\t\r"

// flush sends what is buffered; a CSV export with no entry still gets its
// header, so its rows always number entries + 1.
func (e *exportWriter) flush() error {
	if e.csv == nil {
		return nil
	}
	if !e.header {
		e.header = true
		if err := e.csv.Write(csvHeader()); err != nil {
			return err
		}
	}
	e.csv.Flush()
	return e.csv.Error()
}
