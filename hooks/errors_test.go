package hooks

import (
	"encoding/json"
	"errors"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"net/http"
	"regexp"
	"testing"

	validation "github.com/pocketbase/ozzo-validation/v4"
)

// TestRefuse: a refusal is PocketBase's error shape with the code's fixed
// message and {code, message} under data.impersonation; its cause stays
// out of the answer but is found by errors.Is.
func TestRefuse(t *testing.T) {
	cause := errors.New("the cause's own detail, 7f3a")
	for _, c := range refusals.Codes() {
		t.Run(string(c), func(t *testing.T) {
			if !regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`).MatchString(string(c)) {
				t.Errorf("code %q is not snake_case", c)
			}
			if c.Message() == "" {
				t.Fatalf("code %q has no message", c)
			}
			apiErr := refuse(http.StatusForbidden, c, cause)
			raw, err := json.Marshal(apiErr)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Status  int                          `json:"status"`
				Message string                       `json:"message"`
				Data    map[string]map[string]string `json:"data"`
			}
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if got.Status != http.StatusForbidden || got.Message != c.Message() {
				t.Errorf("got %s", raw)
			}
			if len(got.Data) != 1 || got.Data[refusals.Key]["code"] != string(c) || got.Data[refusals.Key]["message"] != c.Message() {
				t.Errorf("data = %s", raw)
			}
			if regexp.MustCompile("7f3a").Match(raw) {
				t.Errorf("the cause leaks: %s", raw)
			}
			if !errors.Is(apiErr, cause) {
				t.Error("errors.Is does not find the cause")
			}
		})
	}
}

// TestRefuseFields: field errors keep PocketBase's shape, with no refusal code.
func TestRefuseFields(t *testing.T) {
	raw, _ := json.Marshal(refuseFields(validation.Errors{"reason": validation.ErrRequired}))
	want := `{"data":{"reason":{"code":"validation_required","message":"Cannot be blank."}},"message":"An error occurred while validating the submitted data.","status":400}`
	if string(raw) != want {
		t.Errorf("got  %s\nwant %s", raw, want)
	}
}
