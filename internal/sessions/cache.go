package sessions

import (
	"database/sql"
	"errors"
	"sync"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/masks"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// Reader finds the records the per-request decision reads.
type Reader interface {
	Session(id string) (*records.Session, error)
	Record(collectionId, id string) (*core.Record, error)
	Policy(collectionName string) (*records.Policy, error)
	Consent(user *core.Record) (*records.Consent, error)
	// Request returns the request for access with the given id.
	Request(id string) (*records.Request, error)
}

// errNotFound is what the Cache remembers of a record that does not exist.
var errNotFound = errors.New("record not found")

// Cache is a Reader that keeps what it has read until the record changes.
// The plugin calls the Forget methods from PocketBase's after-save and
// after-delete record hooks, so a cached record is never older than the
// last change committed through the app; a change made with raw SQL, which
// bypasses every hook, is not seen until the process restarts. Records it
// returns are shared: callers must not modify them. It is safe for
// concurrent use.
type Cache struct {
	app     core.App
	mu      sync.RWMutex
	entries map[string]cached
}

type cached struct {
	value any
	err   error
}

// NewCache returns an empty Cache reading from app.
func NewCache(app core.App) *Cache {
	return &Cache{app: app, entries: map[string]cached{}}
}

func (c *Cache) get(key string, load func() (any, error)) (any, error) {
	c.mu.RLock()
	hit, ok := c.entries[key]
	c.mu.RUnlock()
	if ok {
		return hit.value, hit.err
	}
	value, err := load()
	if err != nil && !errors.Is(err, errNotFound) {
		return nil, err // a failed read is not remembered
	}
	c.mu.Lock()
	c.entries[key] = cached{value, err}
	c.mu.Unlock()
	return value, err
}

// notFound turns a finder's error into errNotFound when nothing matched;
// any other error (the database's) is returned as it is, and not
// remembered.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errors.Join(errNotFound, err)
	}
	return err
}

func sessionKey(id string) string                   { return "session/" + id }
func masksKey(collectionName string) string         { return "masks/" + collectionName }
func recordKey(collectionId, id string) string      { return "record/" + collectionId + "/" + id }
func policyKey(collectionName string) string        { return "policy/" + collectionName }
func consentKey(collectionId, userId string) string { return "consent/" + collectionId + "/" + userId }
func accessRequestKey(id string) string             { return "request/" + id }

// Session returns the session with the given id. A missing session is not
// remembered: the id comes from a token not yet verified, and remembering
// every id a client makes up would let it fill the memory.
func (c *Cache) Session(id string) (*records.Session, error) {
	v, err := c.get(sessionKey(id), func() (any, error) {
		return records.FindSession(c.app, id)
	})
	s, _ := v.(*records.Session)
	return s, err
}

// Record returns the record of the given collection and id.
func (c *Cache) Record(collectionId, id string) (*core.Record, error) {
	v, err := c.get(recordKey(collectionId, id), func() (any, error) {
		r, err := c.app.FindRecordById(collectionId, id)
		return r, notFound(err)
	})
	r, _ := v.(*core.Record)
	return r, err
}

// Policy returns the policy of the named collection.
func (c *Cache) Policy(collectionName string) (*records.Policy, error) {
	v, err := c.get(policyKey(collectionName), func() (any, error) {
		p, err := records.FindPolicy(c.app, collectionName)
		return p, notFound(err)
	})
	p, _ := v.(*records.Policy)
	return p, err
}

// EnabledPolicies returns the enabled policies, cached until a policy
// changes: a hook that runs on every record write reads them.
func (c *Cache) EnabledPolicies() ([]*records.Policy, error) {
	v, err := c.get(enabledPoliciesKey, func() (any, error) { return records.FindEnabledPolicies(c.app) })
	pols, _ := v.([]*records.Policy)
	return pols, err
}

// enabledPoliciesKey is the cache key of EnabledPolicies.
const enabledPoliciesKey = "policies:enabled"

// policyMasks are the masks read from one policy record.
type policyMasks struct {
	policy *records.Policy
	masks  masks.Masks
}

// Masks returns the masks of policy p, read from its maskedFields once per
// policy record (the records Policy returns are shared until the policy
// changes), or an error when its maskedFields are not a JSON object of
// arrays of field names.
func (c *Cache) Masks(p *records.Policy) (masks.Masks, error) {
	key := masksKey(p.Collection())
	c.mu.RLock()
	hit, ok := c.entries[key]
	c.mu.RUnlock()
	if m, _ := hit.value.(policyMasks); ok && m.policy == p {
		return m.masks, hit.err
	}
	byCollection, err := p.MaskedFields()
	m := policyMasks{policy: p, masks: masks.New(byCollection)}
	c.mu.Lock()
	c.entries[key] = cached{m, err}
	c.mu.Unlock()
	return m.masks, err
}

// Consent returns the consent record of user.
func (c *Cache) Consent(user *core.Record) (*records.Consent, error) {
	v, err := c.get(consentKey(user.Collection().Id, user.Id), func() (any, error) {
		consent, err := records.FindConsent(c.app, user)
		return consent, notFound(err)
	})
	consent, _ := v.(*records.Consent)
	return consent, err
}

// Request returns the request for access with the given id.
func (c *Cache) Request(id string) (*records.Request, error) {
	v, err := c.get(accessRequestKey(id), func() (any, error) {
		r, err := records.FindRequest(c.app, id)
		return r, notFound(err)
	})
	r, _ := v.(*records.Request)
	return r, err
}

// Forget drops what the cache holds of record r: the session, the policy,
// the consent or the auth record it is.
func (c *Cache) Forget(r *core.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.Collection().Name {
	case records.SessionsCollection:
		delete(c.entries, sessionKey(r.Id))
	case records.ConsentsCollection:
		delete(c.entries, consentKey(r.GetString("userCollection"), r.GetString("user")))
	case records.RequestsCollection:
		delete(c.entries, accessRequestKey(r.Id))
	case records.PoliciesCollection:
		for _, name := range []string{r.GetString("collection"), originalOf(r).GetString("collection")} {
			delete(c.entries, policyKey(name))
			delete(c.entries, masksKey(name))
		}
		delete(c.entries, enabledPoliciesKey)
	default:
		delete(c.entries, recordKey(r.Collection().Id, r.Id))
	}
}

func originalOf(r *core.Record) *core.Record {
	if o := r.Original(); o != nil {
		return o
	}
	return r
}

// dbReader is a Reader that always reads the database.
type dbReader struct{ app core.App }

// NewDBReader returns a Reader that reads app's database every time.
func NewDBReader(app core.App) Reader { return dbReader{app} }

func (r dbReader) Session(id string) (*records.Session, error) { return records.FindSession(r.app, id) }
func (r dbReader) Record(collectionId, id string) (*core.Record, error) {
	return r.app.FindRecordById(collectionId, id)
}
func (r dbReader) Policy(name string) (*records.Policy, error) {
	return records.FindPolicy(r.app, name)
}
func (r dbReader) Consent(user *core.Record) (*records.Consent, error) {
	return records.FindConsent(r.app, user)
}
func (r dbReader) Request(id string) (*records.Request, error) { return records.FindRequest(r.app, id) }
