package hooks

import (
	"net/http"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/pbimpersonation/impersonation/internal/refusals"
)

// refuse is the answer to a refusal: status, c's message, and c under
// data.impersonation. cause (nil for none) is not shown to the client; it
// is the error's raw data, which PocketBase's request log keeps.
func refuse(status int, c refusals.Code, cause error) *router.ApiError {
	return router.NewApiError(status, c.Message(), refusal{code: c, cause: cause})
}

// refuseWith is refuse with params, which the client sees beside the code
// (data.impersonation.params), as PocketBase shows a field error's.
func refuseWith(status int, c refusals.Code, params map[string]any, cause error) *router.ApiError {
	return router.NewApiError(status, c.Message(), refusal{code: c, params: params, cause: cause})
}

// refuseFields is the answer to a request with invalid fields: 400 with
// their errors in PocketBase's shape (data.<field>) and no other code, the
// message being refusals.CodeInvalidData's.
func refuseFields(errs validation.Errors) *router.ApiError {
	return router.NewBadRequestError(refusals.CodeInvalidData.Message(), errs)
}

// refuseBody is the answer to a body that cannot be read (400).
func refuseBody(cause error) *router.ApiError {
	return refuse(http.StatusBadRequest, refusals.CodeInvalidBody, cause)
}

// refusal is the raw data of a refusal's error. PocketBase renders the data
// of an error from the validation.Errors it finds in it with errors.As,
// which As answers with the code under refusals.Key; Unwrap keeps the cause
// for errors.Is and the logs.
type refusal struct {
	code   refusals.Code
	params map[string]any
	cause  error
}

func (r refusal) Error() string {
	if r.cause != nil {
		return string(r.code) + ": " + r.cause.Error()
	}
	return string(r.code)
}

func (r refusal) Unwrap() error { return r.cause }

// As sets a *validation.Errors target to the client's view of r.
func (r refusal) As(target any) bool {
	errs, ok := target.(*validation.Errors)
	if !ok {
		return false
	}
	err := validation.NewError(string(r.code), r.code.Message())
	if len(r.params) > 0 {
		err = err.SetParams(r.params)
	}
	*errs = validation.Errors{refusals.Key: err}
	return true
}
