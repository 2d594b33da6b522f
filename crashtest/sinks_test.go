package crashtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// sinkReceiver is a webhook receiver that keeps every line it takes, and
// holds the answer to its heldBatch-th batch until release is closed.
type sinkReceiver struct {
	mu        sync.Mutex
	lines     []sinkLine
	batches   int
	heldBatch int
	held      chan []sinkLine // gets the lines of the held batch
	release   chan struct{}
}

type sinkLine struct {
	Type string `json:"type"`
	Seq  int    `json:"seq"`
	Hash string `json:"hash"`
}

func (r *sinkReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var batch []sinkLine
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l sinkLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			batch = append(batch, l)
		}
	}
	r.mu.Lock()
	r.lines = append(r.lines, batch...)
	r.batches++
	hold := r.batches == r.heldBatch
	r.mu.Unlock()
	if hold {
		r.held <- batch
		<-r.release // the server is killed meanwhile: it never sees this answer
	}
}

// entries returns, by seq, the hashes of the entries taken (checkpoints
// left out), each as often as it was taken.
func (r *sinkReceiver) entries() map[int][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int][]string{}
	for _, l := range r.lines {
		if l.Type != "checkpoint" {
			out[l.Seq] = append(out[l.Seq], l.Hash)
		}
	}
	return out
}

// TestSinkSurvivesKill: a server SIGKILLed while a webhook sink's batch is
// at the receiver, unanswered, resumes after a restart where the last batch
// taken ended: the receiver gets every entry, and the only entries it gets
// twice are those of the batch that was in flight (all of them: it was never
// answered), with the same hash.
func TestSinkSurvivesKill(t *testing.T) {
	bin, dataDir := buildApp(t)
	logDir := t.TempDir()

	rcv := &sinkReceiver{heldBatch: 3, held: make(chan []sinkLine, 1), release: make(chan struct{})}
	receiver := httptest.NewServer(rcv)
	defer receiver.Close()
	defer func() {
		select {
		case <-rcv.release:
		default:
			close(rcv.release)
		}
	}()

	srv := startServer(t, bin, dataDir, filepath.Join(logDir, "first.log"))
	defer srv.kill()
	waitHealthy(t, srv)
	api := &http.Client{Timeout: 10 * time.Second}
	adminToken := authWithPassword(t, api, srv, "_superusers", adminEmail, adminPassword)

	// entries first, then the sink, which starts from the oldest
	userID, sessionToken := impersonate(t, api, srv, "sink crash test")
	for i := range 150 {
		mustCall(t, api, srv, http.MethodGet, fmt.Sprintf("/api/collections/users/records/%s?n=%d", userID, i), sessionToken, nil, nil)
	}
	mustCall(t, api, srv, http.MethodPost, "/api/collections/impersonation_sinks/records", adminToken, map[string]any{
		"name": "crash", "type": "webhook", "url": receiver.URL, "format": "jsonl", "enabled": true, "batchSize": 40, "batchSeconds": 1,
	}, nil)

	inFlight := <-rcv.held
	srv.kill()
	close(rcv.release)
	t.Logf("SIGKILL while the receiver held a batch of %d lines (#%d..#%d)", len(inFlight), inFlight[0].Seq, inFlight[len(inFlight)-1].Seq)

	srv = startServer(t, bin, dataDir, filepath.Join(logDir, "second.log"))
	defer srv.kill()
	waitHealthy(t, srv)
	adminToken = authWithPassword(t, api, srv, "_superusers", adminEmail, adminPassword)
	var health struct {
		Head struct {
			Seq int `json:"seq"`
		} `json:"head"`
	}
	mustCall(t, api, srv, http.MethodGet, "/api/impersonation/health", adminToken, nil, &health)
	head := health.Head.Seq
	if head < 150 {
		t.Fatalf("the audit's head is #%d, want 150 entries or more", head)
	}
	// no deadline of its own: go test's -timeout is one
	for len(rcv.entries()) < head {
		if srv.exited() {
			t.Fatalf("the server exited: %s", tail(srv.log))
		}
		time.Sleep(20 * time.Millisecond)
	}

	inBatch := map[int]bool{}
	for _, l := range inFlight {
		inBatch[l.Seq] = true
	}
	got := rcv.entries()
	for seq := 1; seq <= head; seq++ {
		hashes := got[seq]
		switch {
		case len(hashes) == 0:
			t.Errorf("entry #%d never arrived", seq)
		case len(hashes) > 1 && !inBatch[seq]:
			t.Errorf("entry #%d arrived %d times, outside the batch in flight at the kill", seq, len(hashes))
		case len(hashes) > 2 || (len(hashes) == 2 && hashes[0] != hashes[1]):
			t.Errorf("entry #%d arrived as %v", seq, hashes)
		case inBatch[seq] && len(hashes) != 2:
			// the cursor moves only once the receiver answered
			t.Errorf("entry #%d of the batch in flight arrived %d times, want twice", seq, len(hashes))
		}
	}
}
