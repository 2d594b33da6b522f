package reasons

import (
	"fmt"
	"strings"
	"testing"
)

func TestLength(t *testing.T) {
	cases := []struct {
		name, in string
		want     int
	}{
		{"empty", "", 0},
		{"spaces", " \t\n\u00a0\u3000 ", 0},
		{"plain", "ticket 77", 9},
		{"a run of spaces counts once", "ticket \t\n  77", 9},
		{"spaces at the ends count nothing", "  ticket 77\n", 9},
		{"zero-width spaces", strings.Repeat("\u200b", 20), 0},
		{"one letter and zero-width spaces", "a" + strings.Repeat("\u200b", 19), 1},
		{"word joiners", strings.Repeat("\u2060", 20), 0},
		{"byte-order marks", strings.Repeat("\ufeff", 20), 0},
		{"soft hyphens", strings.Repeat("\u00ad", 20), 0},
		{"bidi controls", strings.Repeat("\u202e\u202a\u2066\u2069\u200e\u200f\u061c", 5), 0},
		{"combining marks alone", strings.Repeat("\u0301\u0308\u20dd", 10), 0},
		{"a letter with its marks is one", "e\u0301\u0308", 1},
		{"zero-width joiners between letters", "a\u200db\u200cc", 3},
		{"Hangul fillers", strings.Repeat("\u3164\u115f\uffa0", 10), 0},
		{"variation selectors", strings.Repeat("\ufe0f\U000e0100", 10), 0},
		{"tags", strings.Repeat("\U000e0041", 20), 0},
		{"braille blanks", strings.Repeat("\u2800", 20), 0},
		{"controls", strings.Repeat("\x00\x07\x1b\u0085", 5), 0},
		{"zero-width spaces between words count nothing", "a\u200b \u200bb", 3},
		{"symbols and punctuation count", "¡ñ! 😀 ✓", 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Length(c.in); got != c.want {
				t.Errorf("Length(%q) = %d, want %d", c.in, got, c.want)
			}
		})
	}
}

func TestClean(t *testing.T) {
	cases := []struct{ in, want string }{
		{"  ticket 77 \n", "ticket 77"},
		{"\u200b\ufeffticket 77\u2060\u00ad\u202e", "ticket 77"},
		{"ticket\u200b77", "ticket\u200b77"},
		{"caf\u0065\u0301", "caf\u0065\u0301"},
		{strings.Repeat("\u200b", 20), ""},
	}
	for _, c := range cases {
		if got := Clean(c.in); got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func ExampleLength() {
	fmt.Println(Length("ticket  77"), Length("\u200b\u200b\u200b"), Length("e\u0301"))
	// Output: 9 0 1
}

func FuzzLength(f *testing.F) {
	f.Add("ticket 77")
	f.Add("a\u200b\u0301 \u202e")
	f.Fuzz(func(t *testing.T, s string) {
		n := Length(s)
		if n < 0 || n > len([]rune(s)) {
			t.Fatalf("Length(%q) = %d", s, n)
		}
		if c := Clean(s); Length(c) != n {
			t.Fatalf("Length(Clean(%q)) = %d, want %d", s, Length(c), n)
		}
	})
}
