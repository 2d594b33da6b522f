package audit

import (
	"regexp"
	"sync"
	"testing"
)

// TestEntryIdsAreOrderedRecordIds holds newEntryId to its two promises:
// an id PocketBase accepts as a record id, and ids in the order they were
// made, never twice the same, however many goroutines make them at once.
func TestEntryIdsAreOrderedRecordIds(t *testing.T) {
	recordId := regexp.MustCompile(`^[a-z0-9]{15}$`)
	const goroutines, each = 8, 2000
	made := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				made[g] = append(made[g], newEntryId())
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ids := range made {
		for i, id := range ids {
			if !recordId.MatchString(id) {
				t.Fatalf("%q is not a record id", id)
			}
			if i > 0 && id[:10] <= ids[i-1][:10] {
				t.Fatalf("%q was made after %q", id, ids[i-1])
			}
			if seen[id] {
				t.Fatalf("%q made twice", id)
			}
			seen[id] = true
		}
	}
}
