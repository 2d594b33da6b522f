// Package reasons defines what a reason given to the plugin is worth: the
// text kept (Clean) and the length the policy's minimums are measured in
// (Length). Every route that takes a reason (a start, a break-glass start,
// a request, an audit acknowledgement) uses these two, so a reason that
// looks empty to whoever reads it is empty to the plugin too.
package reasons

import (
	"strings"
	"unicode"
)

// Clean returns s without the invisible characters at its ends (spaces,
// format and control characters, default-ignorable code points): the
// reason as it is stored. What is inside is kept as written.
func Clean(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return !visible(r) && !unicode.IsMark(r) })
}

// Length returns the visible length of s: its letters, digits,
// punctuation and symbols, plus one for each run of spaces between two of
// them. Format characters (zero-width spaces and joiners, bidi controls,
// the soft hyphen, the byte-order mark), control characters,
// default-ignorable code points (the Hangul fillers, variation selectors)
// and combining marks, which only change the character before them, count
// nothing, so a reason made of them alone has length 0.
func Length(s string) int {
	n, gap := 0, false
	for _, r := range s {
		switch {
		case visible(r):
			if gap && n > 0 {
				n++
			}
			n++
			gap = false
		case unicode.IsSpace(r) || unicode.Is(unicode.Z, r):
			gap = true
		}
	}
	return n
}

// visible tells whether r shows as a character of its own.
func visible(r rune) bool {
	switch {
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r),
		unicode.Is(unicode.Variation_Selector, r),
		r == '\u2800': // the braille blank, a symbol that draws nothing
		return false
	}
	return unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S)
}
