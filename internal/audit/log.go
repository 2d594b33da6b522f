package audit

import (
	"sync/atomic"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/clock"
)

// Log is one app's audit: the keys that chain and verify its entries, the
// clock that dates them, the anchor of its head and the journal's Writer.
// The plugin makes one when it registers and passes it to everything that
// writes or reads the audit; nothing finds it through the app. It is safe
// for concurrent use.
type Log struct {
	// app is never a transaction: the anchor is written with it after
	// commits
	app    core.App
	keys   *keyring
	clock  clock.Clock
	anchor *anchorer
	stats  statsKeeper
	// Writer journals the entries of impersonated requests.
	Writer *Writer
	// lastVerify is the outcome of the last Verify of this process
	lastVerify atomic.Pointer[Verified]
}

// Verified is the outcome of a Verify, and when it ended.
type Verified struct {
	At string `json:"at"`
	Result
}

// LastVerify returns the outcome of the last Verify of the chain that this
// process ran (the verify route, a prune, an acknowledgement), nil when
// none has run since it started.
func (l *Log) LastVerify() *Verified { return l.lastVerify.Load() }

// New returns the audit of app, which must not be a transaction, chained
// under the master key current (previous keys only verify: the entries
// written under them before a rotation), dated on c.
func New(app core.App, c clock.Clock, current []byte, previous ...[]byte) *Log {
	l := &Log{app: app, keys: newKeyring(current, previous...), clock: c, anchor: &anchorer{app: app}}
	l.Writer = newWriter(l)
	return l
}

// Flush returns once every entry journalled before the call is in the
// audit table (see Writer.Flush).
func (l *Log) Flush() error { return l.Writer.Flush() }

// now is the time of a new entry, on l's clock, as PocketBase stores it
// (milliseconds, UTC).
func (l *Log) now() types.DateTime {
	now, _ := types.ParseDateTime(l.clock.Now())
	return now
}
