package hooks

import (
	"errors"
	"net/http"
	"strconv"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/sessions"
	"github.com/pbimpersonation/impersonation/internal/targets"
)

// Paths of the routes that tell staff whom they may impersonate.
const (
	policiesPath = "/api/impersonation/policies"
	targetsPath  = "/api/impersonation/targets"
	signInPath   = "/api/impersonation/sign-in"
)

// staffCaller returns the caller of a route that lists whom it may
// impersonate, or the error to answer with: a guest gets 401, a request made
// while impersonating 403 (a session never leads to another).
func staffCaller(e *core.RequestEvent) (*core.Record, error) {
	if e.Auth == nil {
		return nil, refuse(http.StatusUnauthorized, refusals.CodeAuthRequired, nil)
	}
	if sessions.FromRequest(e) != nil {
		return nil, refuse(http.StatusForbidden, refusals.CodeStaffWhileImpersonating, nil)
	}
	return e.Auth, nil
}

// policiesResponse is the answer of GET policiesPath.
type policiesResponse struct {
	// ProductURL is where the hand-off sends the new tab.
	ProductURL string           `json:"productURL"`
	Policies   []targets.Policy `json:"policies"`
}

func (p *handlers) policiesList(e *core.RequestEvent) error {
	actor, err := staffCaller(e)
	if err != nil {
		return err
	}
	pols, err := targets.Policies(e.App, actor)
	if err != nil {
		return e.InternalServerError("", err)
	}
	current, err := p.settings.Get(e.App)
	if err != nil {
		return e.InternalServerError("", err)
	}
	return e.JSON(http.StatusOK, policiesResponse{ProductURL: current.Product(), Policies: pols})
}

// signInResponse is the answer of GET signInPath.
type signInResponse struct {
	// Collections are the auth collections staff may sign in to
	// (targets.SignInCollections).
	Collections []string `json:"collections"`
}

// signInCollections answers anyone, signed in or not, the same list: no
// email is looked up, so it tells nothing about who has an account where.
func (p *handlers) signInCollections(e *core.RequestEvent) error {
	names, err := targets.SignInCollections(e.App)
	if err != nil {
		return e.InternalServerError("", err)
	}
	return e.JSON(http.StatusOK, signInResponse{Collections: names})
}

func (p *handlers) targetsList(e *core.RequestEvent) error {
	actor, err := staffCaller(e)
	if err != nil {
		return err
	}
	name, q, fieldErrs := targetsQuery(e)
	if len(fieldErrs) > 0 {
		return refuseFields(fieldErrs)
	}

	// one answer for "no such collection" and "no enabled policy for it"
	collection, err := e.App.FindCachedCollectionByNameOrId(name)
	if err != nil {
		return refuse(http.StatusNotFound, refusals.CodeNotFound, nil)
	}
	pol, err := records.FindPolicy(e.App, collection.Name)
	if err != nil || !pol.Enabled() {
		return refuse(http.StatusNotFound, refusals.CodeNotFound, nil)
	}

	page, err := targets.List(e.App, pol, collection, actor, q, p.opts.Clock.Now())
	switch {
	case errors.Is(err, targets.ErrNoTargets):
		return refuse(http.StatusForbidden, refusals.CodeNoTargets, nil)
	case err != nil:
		// a rule that does not compile, or a collection the policy cannot cover
		e.App.Logger().Error("impersonation: list targets", "collection", collection.Name, "error", err)
		return refuse(http.StatusForbidden, refusals.CodeNoTargets, nil)
	}
	return e.JSON(http.StatusOK, page)
}

// targetsQuery reads the query string of GET targetsPath: the collection
// (name or id) and the page asked for, or the errors of its parameters.
func targetsQuery(e *core.RequestEvent) (string, targets.Query, validation.Errors) {
	values := e.Request.URL.Query()
	errs := validation.Errors{}
	q := targets.Query{Search: values.Get("search"), Page: 1, PerPage: targets.DefaultPerPage}

	name := values.Get("collection")
	if name == "" {
		errs["collection"] = validation.ErrRequired
	}
	if len(q.Search) > targets.MaxSearchLength {
		errs["search"] = validation.ErrLengthTooLong.SetParams(map[string]any{"max": targets.MaxSearchLength})
	}
	if raw := values.Get("page"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxPage {
			errs["page"] = validation.NewError("validation_invalid_page", "Must be a whole number from 1 to "+strconv.Itoa(maxPage)+".")
		}
		q.Page = n
	}
	if raw := values.Get("perPage"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > targets.MaxPerPage {
			errs["perPage"] = validation.NewError("validation_invalid_per_page", "Must be a whole number from 1 to "+strconv.Itoa(targets.MaxPerPage)+".")
		}
		q.PerPage = n
	}
	return name, q, errs
}

// maxPage is the highest page number accepted, far beyond any collection's
// records and far from overflowing the query's offset.
const maxPage = 1_000_000
