package audit

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/tools/security"
)

// idAlphabet is the alphabet of PocketBase's own record ids.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// lastIdMicros is the time part of the last entry id made by this process.
var lastIdMicros atomic.Int64

// newEntryId returns the id of a new entry: 15 characters of PocketBase's
// id alphabet, like a record id, but in the order entries are made: 10 of
// the microseconds since the epoch in base 36 (one more than the last id's
// when the clock has not moved on, so no two ids of a process are the
// same), then 5 pseudorandom ones. The id is the table's primary key: a random
// one lands each insert on its own page of the key's index, so a move of 60
// entries rewrote 60 pages of it; ordered ones append to the same page.
func newEntryId() string {
	var micros int64
	for {
		last := lastIdMicros.Load()
		micros = max(time.Now().UnixMicro(), last+1)
		if lastIdMicros.CompareAndSwap(last, micros) {
			break
		}
	}
	stamp := strconv.FormatInt(micros, 36)
	return strings.Repeat("0", max(0, 10-len(stamp))) + stamp + security.PseudorandomStringWithAlphabet(5, idAlphabet)
}
