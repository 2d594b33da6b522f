package audit

import (
	"encoding/json"
	"strings"
	"testing"
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
