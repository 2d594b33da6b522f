package settings

import (
	"sync"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/redact"
)

// Snapshot is the settings in force at one moment, with the request
// audit's Redactor for them. It is shared: callers must not modify it.
type Snapshot struct {
	Values
	// Redactor is the configured Redactor With the extra keys.
	Redactor *redact.Redactor
	// Stored tells whether the values are a record's (false: the defaults).
	Stored bool
}

// Cache reads the settings in force, keeps them until Forget, and is safe
// for concurrent use. The plugin calls Forget from PocketBase's after-save
// and after-delete hooks of the settings record, so what Get returns is
// never older than the last change committed through the app (raw SQL,
// which bypasses every hook, is seen at the next restart).
type Cache struct {
	defaults Values
	base     *redact.Redactor

	mu  sync.Mutex
	gen uint64 // counts Forget calls: a read begun before one is not kept
	cur *Snapshot
}

// NewCache returns a Cache whose values are defaults while there is no
// record, and whose Redactors extend base.
func NewCache(defaults Values, base *redact.Redactor) *Cache {
	return &Cache{defaults: defaults, base: base}
}

// Defaults are the values in force while there is no settings record.
func (c *Cache) Defaults() Values { return c.defaults }

// Get returns the settings in force, reading them from app if they are not
// cached. A failed read is returned, not remembered.
func (c *Cache) Get(app core.App) (*Snapshot, error) {
	c.mu.Lock()
	if s := c.cur; s != nil {
		c.mu.Unlock()
		return s, nil
	}
	gen := c.gen
	c.mu.Unlock()

	s, err := c.read(app)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.cur = s
	}
	c.mu.Unlock()
	return s, nil
}

// Forget drops the cached settings: the next Get reads them again.
func (c *Cache) Forget() {
	c.mu.Lock()
	c.gen++
	c.cur = nil
	c.mu.Unlock()
}

// Of returns the values of a settings record, or the defaults for nil.
func (c *Cache) Of(s *records.Settings) Values {
	if s == nil {
		return c.defaults
	}
	return FromRecord(s, c.defaults)
}

func (c *Cache) read(app core.App) (*Snapshot, error) {
	rec, err := records.FindSettings(app)
	if err != nil {
		return nil, err
	}
	v := c.Of(rec)
	return &Snapshot{Values: v, Redactor: c.base.With(v.ExtraRedactKeys...), Stored: rec != nil}, nil
}
