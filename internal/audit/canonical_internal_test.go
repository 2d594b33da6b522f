package audit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pocketbase/dbx"
)

// FuzzCanonical holds canonical to its definition: the bytes json.Marshal
// makes of the array of the hashed values. A difference would make every
// entry with such a value fail to verify (or verify a changed one).
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"", "plain", `{"a":"b\\c"}`, "<img src=x onerror=alert(1)>", "a&b", "tab\there",
		"line\nbreak", "\x00\x01\x1f\x7f", "é ü 漢字", "\u2028\u2029", "\xff\xfe invalid", `quote " back \ slash`} {
		f.Add(s, s+"x", 42, 200)
	}
	f.Fuzz(func(t *testing.T, a, b string, seq, status int) {
		r := row{Seq: seq, Id: a, Event: b, Actor: a, ActorCollection: b, Target: a, TargetCollection: b,
			Session: a, Reason: b, IP: a, UserAgent: b, Method: a, Path: b, Status: status, Data: a, Created: b}
		want, err := json.Marshal([]any{r.Seq, r.Id, r.Event, r.Actor, r.ActorCollection, r.Target, r.TargetCollection,
			r.Session, r.Reason, r.IP, r.UserAgent, r.Method, r.Path, r.Status, r.Data, r.Created})
		if err != nil {
			t.Fatal(err)
		}
		if got := canonical(nil, r); string(got) != string(want) {
			t.Fatalf("canonical = %s\njson.Marshal = %s", got, want)
		}
	})
}

// FuzzInertCell holds inertCell to its promise: no cell it returns starts a
// spreadsheet formula, and it changes nothing but that leading quote.
func FuzzInertCell(f *testing.F) {
	for _, s := range []string{"", "plain", `=HYPERLINK("http://x","y")`, "+1", "-1", "@SUM(A1)", "\tx", "\rx",
		"'=already quoted", " =1", "\n=1", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := inertCell(s)
		if got != "" && strings.IndexByte(formulaStarts, got[0]) >= 0 {
			t.Fatalf("inertCell(%q) = %q starts a formula", s, got)
		}
		formula := s != "" && strings.IndexByte(formulaStarts, s[0]) >= 0
		if formula && got != "'"+s || !formula && got != s {
			t.Fatalf("inertCell(%q) = %q: want a leading quote on a formula only", s, got)
		}
	})
}

// FuzzJournalLine holds the journal's lines to what readJournal reads: a
// line reads back as the row json.Marshal's line of it reads back as (the
// form of earlier versions), which is the row itself for valid UTF-8.
func FuzzJournalLine(f *testing.F) {
	for _, s := range []string{"", "plain", `{"a":"b\\c"}`, "<b>&", "tab\there\nline", "\x00\x1f\x7f", "é 漢字 \u2028",
		"\xff\xfe invalid", `quote " back \ slash`} {
		f.Add(s, s+"x", 42, 200)
	}
	f.Fuzz(func(t *testing.T, a, b string, seq, status int) {
		r := row{Seq: seq, Id: a, Event: b, Actor: a, ActorCollection: b, Target: a, TargetCollection: b,
			Session: a, Reason: b, IP: a, UserAgent: b, Method: a, Path: b, Status: status, Data: a, Created: b, Hash: a}
		line := journalLine(nil, &r)
		if len(line) == 0 || line[len(line)-1] != '\n' || strings.Count(string(line), "\n") != 1 {
			t.Fatalf("not one line: %q", line)
		}
		var got, want row
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		old, _ := json.Marshal(r)
		if err := json.Unmarshal(old, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("read back as %+v, want %+v", got, want)
		}
	})
}

// FuzzSQLiteCanonical holds fromSQLiteJSON to canonical: whenever it makes
// an encoding from SQLite's json_array of an entry's values, that is the
// canonical encoding, byte for byte (Verify's scan of a million entries
// relies on it; an encoding it cannot make is made by canonical).
func FuzzSQLiteCanonical(f *testing.F) {
	db, err := dbx.Open("sqlite", ":memory:")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	for _, s := range []string{"", "plain", `{"a":"b\\c"}`, "<img src=x onerror=alert(1)>", "a&b", "tab\there",
		"/api/x?a=1&b=<2>", "\x00\x1f\x7f", "é 漢字", "\u2028", "\xff invalid", `quote " back \ slash`, "null"} {
		f.Add(s, s+"x", 42, 200)
	}
	f.Fuzz(func(t *testing.T, a, b string, seq, status int) {
		r := row{Seq: seq, Id: a, Event: b, Actor: a, ActorCollection: b, Target: a, TargetCollection: b,
			Session: a, Reason: b, IP: a, UserAgent: b, Method: a, Path: b, Status: status, Data: a, Created: b}
		params := dbx.Params{}
		values := make([]string, len(hashed))
		for i, c := range hashed {
			params[c.name] = c.value(&r)
			values[i] = "{:" + c.name + "}"
		}
		var array string
		if err := db.NewQuery("SELECT json_array(" + strings.Join(values, ", ") + ")").Bind(params).Row(&array); err != nil {
			t.Skip(err) // SQLite refuses some invalid UTF-8 in JSON: nothing to compare
		}
		got, made := fromSQLiteJSON(nil, array)
		if want := canonical(nil, r); made && string(got) != string(want) {
			t.Fatalf("from SQLite's %s\nmade   %s\nwant   %s", array, got, want)
		}
		if plain := strings.IndexFunc(a+b, func(c rune) bool { return c < 0x20 || c > 0x7e }) < 0; plain && !made {
			t.Fatalf("printable ASCII %q %q not made from SQLite's %s", a, b, array)
		}
	})
}
