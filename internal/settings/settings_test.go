package settings

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pbimpersonation/impersonation/internal/redact"
)

func TestWeakened(t *testing.T) {
	base := Values{AlertEmail: "sec@example.com", AlertAfterRefusals: 5, AuditRetentionHours: 48, ExtraRedactKeys: []string{"iban"}}
	with := func(f func(v *Values)) Values {
		v := base
		v.ExtraRedactKeys = slices.Clone(base.ExtraRedactKeys)
		f(&v)
		return v
	}
	for _, tc := range []struct {
		name  string
		after Values
		want  []string
	}{
		{"unchanged", base, nil},
		{"longer retention", with(func(v *Values) { v.AuditRetentionHours = 72 }), nil},
		{"for ever", with(func(v *Values) { v.AuditRetentionHours = 0 }), nil},
		{"shorter retention", with(func(v *Values) { v.AuditRetentionHours = 24 }), []string{RetentionShortened}},
		{"address cleared", with(func(v *Values) { v.AlertEmail = "" }), []string{AlertEmailRemoved}},
		{"address changed", with(func(v *Values) { v.AlertEmail = "x@example.com" }), []string{AlertEmailChanged}},
		{"address in another case", with(func(v *Values) { v.AlertEmail = "SEC@example.com" }), nil},
		{"threshold raised", with(func(v *Values) { v.AlertAfterRefusals = 6 }), []string{AlertThresholdRaised}},
		{"threshold lowered", with(func(v *Values) { v.AlertAfterRefusals = 1 }), nil},
		{"key removed", with(func(v *Values) { v.ExtraRedactKeys = nil }), []string{RedactKeysRemoved}},
		{"key respelled", with(func(v *Values) { v.ExtraRedactKeys = []string{"I_BAN"} }), nil},
		{"key added", with(func(v *Values) { v.ExtraRedactKeys = append(v.ExtraRedactKeys, "ssn") }), []string{RedactKeysAdded}},
	} {
		if got := Weakened(base, tc.after); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := Weakened(Values{AlertAfterRefusals: 5}, Values{AlertAfterRefusals: 5, AuditRetentionHours: 1}); !slices.Equal(got, []string{RetentionShortened}) {
		t.Errorf("from for ever to an hour: %v", got)
	}
}

// TestRedactorOnlyAdds: whatever the extra keys, every key the configured
// Redactor redacts stays redacted.
func TestRedactorOnlyAdds(t *testing.T) {
	base := redact.New([]byte("k"), []string{"password", "token"})
	for _, extra := range [][]string{nil, {}, {""}, {"_-"}, {"iban"}, {"-password"}} {
		r := base.With(extra...)
		for _, k := range []string{"password", "newPassword", "accessToken"} {
			if !r.Sensitive(k) {
				t.Errorf("extra %q: %s no longer redacted", extra, k)
			}
		}
	}
	if !base.With("iban").Sensitive("IBAN") || base.Sensitive("iban") {
		t.Error("With adds its keys to a copy only")
	}
}

func ExampleValues_Revoke() {
	for _, v := range []Values{{}, {RevokeURL: "/account/"}, {RevokeURL: "https://example.com/x"}} {
		fmt.Println(v.Revoke("https://app.example.com/"))
	}
	// Output:
	// https://app.example.com/impersonation/
	// https://app.example.com/account/
	// https://example.com/x
}

func TestHoursOf(t *testing.T) {
	for d, want := range map[int64]int{0: 0, -1: 0, 1: 1, 3600e9: 1, 3601e9: 2} {
		if got := HoursOf(time.Duration(d)); got != want {
			t.Errorf("HoursOf(%d) = %d, want %d", d, got, want)
		}
	}
}
