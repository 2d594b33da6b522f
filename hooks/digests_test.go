package hooks

import "testing"

// TestPendingEntries: whenAnswered calls its function once the requests of
// its session begun before it are answered, not before, and never waits for
// those begun after it or for another session's; a request's done counts
// once however often it is called.
func TestPendingEntries(t *testing.T) {
	var p pendingEntries
	calls := 0
	called := func() { calls++ }

	p.whenAnswered("a", called)
	if calls != 1 {
		t.Fatalf("nothing in flight: %d calls, want 1 at once", calls)
	}

	first, second := p.begin("a"), p.begin("a")
	other := p.begin("b")
	p.whenAnswered("a", called)
	later := p.begin("a")
	first()
	first() // once only
	other()
	later()
	if calls != 1 {
		t.Fatalf("a request begun before is in flight: %d calls, want 1", calls)
	}
	second()
	if calls != 2 {
		t.Fatalf("every request begun before is answered: %d calls, want 2", calls)
	}
	second()
	if calls != 2 || len(p.open) != 0 || len(p.waiting) != 0 {
		t.Errorf("calls %d, open %v, waiting %v: want 2 and nothing kept", calls, p.open, p.waiting)
	}
}
