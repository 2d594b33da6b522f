package hooks

import (
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"os"
	"strings"
	"testing"
)

// TestEveryCodeIsTranslated: the UI's catalogue has a text for each code,
// in every language (the English and Spanish blocks).
func TestEveryCodeIsTranslated(t *testing.T) {
	raw, err := os.ReadFile("../pb_public/impersonation/lib/messages.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range refusals.Codes() {
		if n := strings.Count(string(raw), `"error.`+string(c)+`":`); n != 2 {
			t.Errorf("error.%s: %d texts, want 2 (en, es)", c, n)
		}
	}
}
