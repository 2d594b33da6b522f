package hooks

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/pocketbase/dbx"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/digest"
	"github.com/pbimpersonation/impersonation/internal/notify"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/refusals"
	"github.com/pbimpersonation/impersonation/internal/sessions"
)

// digestsPath is the route of the signed-in user's session digests.
const digestsPath = "/api/impersonation/digests"

// digestsPerRun is the most digests one run of the digests job starts.
const digestsPerRun = 100

// pendingEntries counts, by session, the requests made with a session's
// token whose audit entry is not yet journalled: the guard begins one for
// every request that names a session, before it reads the session, and
// ends it once the entry is written (or the request is refused without
// one). A digest waits for the requests begun before the session ended.
// It is safe for concurrent use.
type pendingEntries struct {
	mu   sync.Mutex
	next uint64
	// open holds the tickets of the requests not yet answered, by session
	open map[string]map[uint64]bool
	// waiting are the functions to call once the requests begun before
	// them are answered, by session
	waiting map[string][]pendingWait
}

// pendingWait is a function to call once no request of its session begun
// before ticket next is open.
type pendingWait struct {
	next uint64
	f    func()
}

// begin counts a request of session until the returned function is called
// (once or more: it counts once).
func (p *pendingEntries) begin(session string) (done func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		p.open, p.waiting = map[string]map[uint64]bool{}, map[string][]pendingWait{}
	}
	ticket := p.next
	p.next++
	if p.open[session] == nil {
		p.open[session] = map[uint64]bool{}
	}
	p.open[session][ticket] = true
	var once sync.Once
	return func() { once.Do(func() { p.end(session, ticket) }) }
}

// end closes ticket of session and calls the functions it was the last
// request of session to wait for.
func (p *pendingEntries) end(session string, ticket uint64) {
	p.mu.Lock()
	delete(p.open[session], ticket)
	if len(p.open[session]) == 0 {
		delete(p.open, session)
	}
	var due []func()
	kept := p.waiting[session][:0]
	for _, w := range p.waiting[session] {
		if p.openBefore(session, w.next) {
			kept = append(kept, w)
		} else {
			due = append(due, w.f)
		}
	}
	if len(kept) == 0 {
		delete(p.waiting, session)
	} else {
		p.waiting[session] = kept
	}
	p.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// openBefore reports whether a request of session begun before ticket
// next is open; p.mu is held.
func (p *pendingEntries) openBefore(session string, next uint64) bool {
	for ticket := range p.open[session] {
		if ticket < next {
			return true
		}
	}
	return false
}

// whenAnswered calls f once every request of session begun so far has its
// audit entry journalled: at once when none is open, else from the end of
// the last of them.
func (p *pendingEntries) whenAnswered(session string, f func()) {
	p.mu.Lock()
	if !p.openBefore(session, p.next) {
		p.mu.Unlock()
		f()
		return
	}
	p.waiting[session] = append(p.waiting[session], pendingWait{next: p.next, f: f})
	p.mu.Unlock()
}

// digestWhenAnswered builds the digest of session id, which has ended, in
// the background once every request made with its token before now has
// its entry journalled (see buildDigest). A digest already being waited
// for or built is not started twice.
func (p *handlers) digestWhenAnswered(id string) {
	if _, busy := p.digesting.LoadOrStore(id, true); busy {
		return
	}
	p.pending.whenAnswered(id, func() {
		p.inBackground(func() {
			defer p.digesting.Delete(id)
			p.buildDigest(id)
		})
	})
}

// errDigested is returned inside the digest's transaction when another
// run saved the session's digest first.
var errDigested = errors.New("impersonation: the session's digest is built already")

// buildDigest builds the digest of session id, which has ended, from its
// request entries, once the journal has moved every entry answered so far
// into the audit table; it saves the digest on the session and emails it
// to the user unless their policy turns that off. While the journal cannot
// be moved, nothing is built: the digests job tries again every minute.
func (p *handlers) buildDigest(id string) {
	app := p.app
	upTo := p.opts.Clock.Now()
	if err := p.opts.Audit.Flush(); err != nil {
		app.Logger().Warn("impersonation: a session's digest waits for the audit journal to be moved", "session", id, "error", err)
		return
	}
	s, err := records.FindSession(app, id)
	if err != nil || !s.IsEnded() || s.IsDigested() {
		return
	}
	d, err := digest.Build(app, s, upTo)
	if err != nil {
		app.Logger().Error("impersonation: build a session's digest", "session", id, "error", err)
		return
	}
	err = app.RunInTransaction(func(tx core.App) error {
		fresh, err := records.FindSession(tx, id)
		if err != nil {
			return err
		}
		if fresh.IsDigested() {
			return errDigested
		}
		fresh.SetDigest(d, p.opts.Clock.Now())
		s = fresh
		return tx.Save(fresh)
	})
	switch {
	case errors.Is(err, errDigested):
		return
	case err != nil:
		app.Logger().Error("impersonation: save a session's digest", "session", id, "error", err)
		return
	}
	p.emailDigest(app, s, d)
}

// emailDigest emails digest d of session s to its user, unless the policy
// of their collection turns it off or they no longer exist, and records
// the outcome on the session (digestEmailed, or digestEmailError).
func (p *handlers) emailDigest(app core.App, s *records.Session, d *digest.Digest) {
	target, err := app.FindRecordById(s.TargetCollection(), s.Target())
	if err != nil {
		return // deleted: nobody to tell
	}
	if pol, err := records.FindPolicy(app, target.Collection().Name); err == nil && !pol.DigestEmail() {
		return
	}
	current, err := p.settings.Get(app)
	if err == nil {
		err = notify.SessionDigest(app, d, target, current.Revoke(app.Settings().Meta.AppURL))
	}
	if err != nil {
		app.Logger().Error("impersonation: email the user a session's digest", "session", s.Id, "error", err)
	}
	recordMailOutcome(app, s.Id, func(fresh *records.Session) { fresh.SetDigestEmailed(p.opts.Clock.Now(), err) })
}

// buildMissingDigests starts the digests of the ended sessions that have
// none yet, the earliest ended first: those that ended while the server
// was down or before their digest was built, and those whose journal could
// not be moved.
func (p *handlers) buildMissingDigests() {
	if !p.app.IsBootstrapped() {
		return
	}
	missing, err := records.FindUndigested(p.app, digestsPerRun)
	if err != nil {
		p.app.Logger().Error("impersonation: find the sessions without a digest", "error", err)
		return
	}
	for _, s := range missing {
		p.digestWhenAnswered(s.Id)
	}
}

// digestsResponse is the answer of GET digestsPath: a page of the
// signed-in user's digests, the latest session first.
type digestsResponse struct {
	Page       int              `json:"page"`
	PerPage    int              `json:"perPage"`
	TotalItems int              `json:"totalItems"`
	Items      []*digest.Digest `json:"items"`
}

// The page sizes of GET digestsPath.
const (
	digestsPerPage    = 30
	maxDigestsPerPage = 200
	maxDigestsPage    = 1_000_000
)

// digestsList answers the signed-in user's session digests, a page at a
// time (?page=, ?perPage=), the latest session first: only their own,
// never while impersonating (the actor reads no user's digests).
func (p *handlers) digestsList(e *core.RequestEvent) error {
	if e.Auth == nil {
		return refuse(http.StatusUnauthorized, refusals.CodeAuthRequired, nil)
	}
	if sessions.FromRequest(e) != nil {
		return refuse(http.StatusForbidden, refusals.CodeDigestsWhileImpersonating, nil)
	}
	query := e.Request.URL.Query()
	page, pageErr := pageNumber(query.Get("page"), 1, maxDigestsPage)
	perPage, perPageErr := pageNumber(query.Get("perPage"), digestsPerPage, maxDigestsPerPage)
	if errs := (validation.Errors{"page": pageErr, "perPage": perPageErr}).Filter(); errs != nil {
		return refuseFields(errs.(validation.Errors))
	}

	mine := dbx.And(
		dbx.HashExp{"target": e.Auth.Id, "targetCollection": e.Auth.Collection().Id},
		dbx.NewExp("json_type([[digest]]) = 'object'"),
	)
	res := digestsResponse{Page: page, PerPage: perPage, Items: []*digest.Digest{}}
	err := e.App.RecordQuery(records.SessionsCollection).Select("COUNT(*)").AndWhere(mine).Row(&res.TotalItems)
	if err != nil {
		return e.InternalServerError("", err)
	}
	var rows []struct {
		Digest string `db:"digest"`
	}
	err = e.App.RecordQuery(records.SessionsCollection).
		Select("digest").
		AndWhere(mine).
		OrderBy("created DESC", "id DESC").
		Offset(int64((page - 1) * perPage)).
		Limit(int64(perPage)).
		All(&rows)
	if err != nil {
		return e.InternalServerError("", err)
	}
	for _, r := range rows {
		d := &digest.Digest{}
		if err := json.Unmarshal([]byte(r.Digest), d); err != nil {
			return e.InternalServerError("", err)
		}
		res.Items = append(res.Items, d)
	}
	return e.JSON(http.StatusOK, res)
}

// pageNumber reads a page number or size: fallback when raw is empty, else
// a whole number from 1 to limit.
func pageNumber(raw string, fallback, limit int) (int, error) {
	if raw == "" {
		return fallback, nil
	}
	n, err := strconv.Atoi(raw)
	switch {
	case err != nil || n < 1:
		return 0, validation.NewError("validation_not_page_number", "Must be a whole number, at least 1.")
	case n > limit:
		return 0, validation.ErrMaxLessEqualThanRequired.SetParams(map[string]any{"threshold": limit})
	}
	return n, nil
}
