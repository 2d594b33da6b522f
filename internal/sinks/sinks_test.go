package sinks_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/checkpoints"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sinks"
	"github.com/pbimpersonation/impersonation/internal/testapp"
)

func TestMain(m *testing.M) { testapp.Main(m) }

var testKey = []byte("sinks test key, at least 32 bytes")

// receiver is a webhook receiver: it keeps the lines of every batch it
// takes, in order, and answers 503 while down.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	lines   []map[string]any
	batches int
	down    atomic.Bool
	badSig  int
	secret  string
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{secret: secret}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Header.Get("Content-Type") != "application/x-ndjson" ||
			(secret != "" && req.Header.Get(sinks.SignatureHeader) != sinks.Signature(secret, req.Header.Get(sinks.TimestampHeader), body)) {
			r.badSig++
		}
		r.batches++
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Errorf("a line that is not JSON: %q", sc.Text())
			}
			r.lines = append(r.lines, line)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// seqs returns the seq of each line taken, a checkpoint as -seq.
func (r *receiver) seqs() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, len(r.lines))
	for i, l := range r.lines {
		out[i] = int(l["seq"].(float64))
		if l["type"] == checkpoints.Type {
			out[i] = -out[i]
		}
	}
	return out
}

// eventually advances c until cond holds (the loops wait on c), failing
// after ten seconds of real time.
func eventually(t *testing.T, c *clock.Manual, m *sinks.Manager, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the condition never held")
		}
		c.Advance(time.Minute)
		m.Wake()
		time.Sleep(2 * time.Millisecond)
	}
}

type fixture struct {
	app   core.App
	log   *audit.Log
	clock *clock.Manual
	cps   *checkpoints.Signer
}

func newFixture(t *testing.T) *fixture {
	app := testapp.New(t)
	c := clock.NewManual(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	return &fixture{app: app, log: audit.New(app, c, testKey), clock: c, cps: checkpoints.NewSigner(app.DataDir(), c)}
}

func (f *fixture) write(t *testing.T, n int, event string) {
	t.Helper()
	for range n {
		if err := f.log.Write(f.app, audit.Entry{Event: event, Actor: "actor1", Target: "target1", Session: "s1",
			Client: audit.Client{IP: "10.0.0.1", Method: http.MethodGet, Path: "/api/x", Status: 200}}); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) checkpoint(t *testing.T) {
	t.Helper()
	head, _ := audit.HeadOf(f.app)
	if _, err := f.cps.Sign(head); err != nil {
		t.Fatal(err)
	}
}

// addSink saves a sink with change applied, without the plugin's hooks.
func (f *fixture) addSink(t *testing.T, change func(s *records.Sink)) *records.Sink {
	t.Helper()
	s, err := records.NewSink(f.app)
	if err != nil {
		t.Fatal(err)
	}
	s.SetName("test")
	s.SetFormat(records.FormatJSONL)
	s.SetEnabled(true)
	change(s)
	if err := f.app.Save(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) manager(t *testing.T) *sinks.Manager {
	m := sinks.New(f.app, f.clock, f.cps.LogPath())
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

func upTo(n int, checkpointAfter ...int) []int {
	var out []int
	for i := 1; i <= n; i++ {
		out = append(out, i)
		if slices.Contains(checkpointAfter, i) {
			out = append(out, -i)
		}
	}
	return out
}

// TestWebhookDeliversInOrder: every entry, in seq order, in batches of the
// sink's size, each signed with its secret; each checkpoint right after
// the entry it names; the cursor saved.
func TestWebhookDeliversInOrder(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, "s3cret")
	f.write(t, 10, audit.Request)
	f.checkpoint(t)
	f.write(t, 15, audit.SessionStarted)
	s := f.addSink(t, func(s *records.Sink) {
		s.SetType(records.SinkWebhook)
		s.SetURL(r.URL)
		s.SetSecret("s3cret")
		s.SetBatchSize(7)
	})
	m := f.manager(t)
	want := upTo(25, 10)
	eventually(t, f.clock, m, func() bool { return len(r.seqs()) >= len(want) })
	if got := r.seqs(); !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	if r.badSig != 0 || r.batches != 4 {
		t.Errorf("%d batches (want 4: 7 entries each), %d badly signed", r.batches, r.badSig)
	}
	// the cursor is saved once the receiver has answered
	var stored *core.Record
	eventually(t, f.clock, m, func() bool {
		stored, _ = f.app.FindRecordById(records.SinksCollection, s.Id)
		return stored.GetInt("deliveredSeq") == 25
	})
	if stored.GetString("lastError") != "" || stored.GetString("lastAttempt") == "" {
		t.Errorf("stored state %v", stored.PublicExport())
	}
	// what is appended later, with a checkpoint, follows
	f.write(t, 3, audit.Request)
	f.checkpoint(t)
	want = upTo(28, 10, 28)
	eventually(t, f.clock, m, func() bool { return len(r.seqs()) >= len(want) })
	if got := r.seqs(); !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
}

// TestReceiverDownAndBack: while the receiver is down nothing is lost and
// the error is recorded; once it is back, everything arrives once, in
// order, and the error is cleared. A restart resumes from the cursor.
func TestReceiverDownAndBack(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, "")
	r.down.Store(true)
	f.write(t, 5, audit.Request)
	s := f.addSink(t, func(s *records.Sink) {
		s.SetType(records.SinkWebhook)
		s.SetURL(r.URL)
		s.SetBatchSize(4)
	})
	m := f.manager(t)
	stored := func() *core.Record {
		stored, _ := f.app.FindRecordById(records.SinksCollection, s.Id)
		return stored
	}
	eventually(t, f.clock, m, func() bool { return stored().GetString("lastError") != "" })
	f.write(t, 5, audit.Request)
	r.down.Store(false)
	eventually(t, f.clock, m, func() bool { return len(r.seqs()) >= 10 })
	if got := r.seqs(); !slices.Equal(got, upTo(10)) {
		t.Fatalf("received %v, want 1..10 once each", got)
	}
	// The cursor is saved after the receiver answers: stopping before it is
	// saved would send the last batch again, which the contract allows.
	eventually(t, f.clock, m, func() bool {
		got := stored()
		return got.GetString("lastError") == "" && got.GetInt("deliveredSeq") == 10
	})

	m.Stop()
	f.write(t, 2, audit.Request)
	m2 := f.manager(t)
	eventually(t, f.clock, m2, func() bool { return len(r.seqs()) >= 12 })
	if got := r.seqs(); !slices.Equal(got, upTo(12)) {
		t.Fatalf("after a restart, received %v, want 1..12 once each", got)
	}
}

// TestFileSinkInOCSF: a file sink writes under its own folder, each entry
// as an OCSF event of its class, the checkpoints as they are.
func TestFileSinkInOCSF(t *testing.T) {
	f := newFixture(t)
	f.write(t, 1, audit.SessionStarted)
	f.write(t, 1, audit.Request)
	f.write(t, 1, audit.SessionEnded)
	f.write(t, 1, audit.ConsentGranted)
	f.write(t, 1, audit.PolicyUpdated)
	f.checkpoint(t)
	f.addSink(t, func(s *records.Sink) {
		s.SetType(records.SinkFile)
		s.SetPath("siem/audit.ocsf")
		s.SetFormat(records.FormatOCSF)
	})
	path := filepath.Join(f.app.DataDir(), sinks.Dir, "siem", "audit.ocsf")
	m := f.manager(t)
	var lines []map[string]any
	eventually(t, f.clock, m, func() bool {
		raw, _ := os.ReadFile(path)
		lines = nil
		for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			var v map[string]any
			if json.Unmarshal(l, &v) == nil {
				lines = append(lines, v)
			}
		}
		return len(lines) >= 6
	})
	want := []struct{ class, activity float64 }{{3002, 7}, {6003, 2}, {3002, 2}, {3005, 1}, {3004, 3}}
	for i, w := range want {
		l := lines[i]
		if l["class_uid"] != w.class || l["activity_id"] != w.activity || l["type_uid"] != w.class*100+w.activity {
			t.Errorf("line %d: class %v activity %v, want %v %v", i, l["class_uid"], l["activity_id"], w.class, w.activity)
		}
		meta := l["metadata"].(map[string]any)
		if meta["version"] != sinks.OCSFVersion || meta["sequence"] != float64(i+1) {
			t.Errorf("line %d: metadata %v", i, meta)
		}
		if l["unmapped"].(map[string]any)["hash"] == "" {
			t.Errorf("line %d has no hash", i)
		}
	}
	if lines[5]["type"] != checkpoints.Type || lines[5]["seq"] != float64(5) {
		t.Errorf("the last line is not the checkpoint: %v", lines[5])
	}
}

// TestFilePath: a file sink writes under its folder of the data directory,
// or at an absolute path outside it, never onto the data directory's own
// files.
func TestFilePath(t *testing.T) {
	data := t.TempDir()
	outside := filepath.Join(t.TempDir(), "audit.jsonl")
	for path, want := range map[string]string{
		"audit.jsonl":                       filepath.Join(data, sinks.Dir, "audit.jsonl"),
		"a/b.jsonl":                         filepath.Join(data, sinks.Dir, "a", "b.jsonl"),
		outside:                             outside,
		filepath.Join(data, sinks.Dir, "x"): filepath.Join(data, sinks.Dir, "x"),
		"":                                  "",
		".":                                 "",
		"../data.db":                        "",
		"a/../../impersonation_audit.key":   "",
		filepath.Join(data, "data.db"):      "",
		filepath.Join(data, sinks.Dir):      "",
		filepath.Join(data, sinks.Dir, "..", "data.db"): "",
	} {
		got, err := sinks.FilePath(data, path)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("FilePath(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
}

// TestFilePathThroughSymlinks: a path that reads as outside the data
// directory, or inside the sinks folder, but resolves onto the data
// directory's own files (through /proc/self/root, a symlinked folder, a
// symlinked sinks folder or data directory, a symlink as the file) is
// refused, as is a path to a file that is not a regular one.
func TestFilePathThroughSymlinks(t *testing.T) {
	real := t.TempDir()
	if err := os.MkdirAll(filepath.Join(real, sinks.Dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "data.db"), []byte("db"), 0o600); err != nil {
		t.Fatal(err)
	}
	// the data directory as the app names it: a symlink to real
	data := filepath.Join(t.TempDir(), "pb_data")
	outside := t.TempDir()
	for _, l := range [][2]string{
		{real, data},
		{real, filepath.Join(outside, "to_data")},
		{real, filepath.Join(real, sinks.Dir, "up")},
		{filepath.Join(real, "data.db"), filepath.Join(real, sinks.Dir, "db.jsonl")},
		{filepath.Join(real, "data.db"), filepath.Join(outside, "db.jsonl")},
	} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	fifo := filepath.Join(outside, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"/proc/self/root" + filepath.Join(real, "impersonation_audit.checkpoints"),
		"/proc/self/root" + filepath.Join(real, "data.db"),
		filepath.Join(real, "data.db"),
		filepath.Join(outside, "to_data", "data.db"),
		filepath.Join(outside, "to_data", "new", "x.jsonl"),
		"up/data.db",
		"up/impersonation_audit.key",
		"db.jsonl",
		filepath.Join(outside, "db.jsonl"),
		fifo,
		"/dev/null",
	} {
		if got, err := sinks.FilePath(data, path); !errors.Is(err, sinks.ErrBadPath) {
			t.Errorf("FilePath(%q) = %q, %v; want ErrBadPath", path, got, err)
		}
	}
	for _, path := range []string{"audit.jsonl", "a/b.jsonl", filepath.Join(outside, "new", "audit.jsonl"), filepath.Join(real, sinks.Dir, "x.jsonl")} {
		if _, err := sinks.FilePath(data, path); err != nil {
			t.Errorf("FilePath(%q): %v", path, err)
		}
	}

	// the sinks folder itself a symlink to the data directory
	if err := os.RemoveAll(filepath.Join(real, sinks.Dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(real, sinks.Dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := sinks.FilePath(data, "data.db"); !errors.Is(err, sinks.ErrBadPath) {
		t.Errorf("a sinks folder linked to the data directory: %v, want ErrBadPath", err)
	}
}

// TestFileSinkRefusesAtOpen: a sink saved with a good path whose folder
// becomes a symlink into the data directory afterwards writes nothing
// there, and records why.
func TestFileSinkRefusesAtOpen(t *testing.T) {
	f := newFixture(t)
	f.write(t, 3, audit.Request)
	dir := filepath.Join(f.app.DataDir(), sinks.Dir)
	if err := os.MkdirAll(filepath.Join(dir, "siem"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := f.addSink(t, func(s *records.Sink) {
		s.SetType(records.SinkFile)
		s.SetPath("siem/victim")
	})
	if err := os.Remove(filepath.Join(dir, "siem")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(f.app.DataDir(), filepath.Join(dir, "siem")); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(f.app.DataDir(), "victim")
	if err := os.WriteFile(victim, []byte("the plugin's own file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := f.manager(t)
	lastError := func() string {
		stored, _ := f.app.FindRecordById(records.SinksCollection, s.Id)
		return stored.GetString("lastError")
	}
	eventually(t, f.clock, m, func() bool { return lastError() != "" })
	m.Stop()
	if after, _ := os.ReadFile(victim); string(after) != "the plugin's own file\n" {
		t.Errorf("the sink wrote into the data directory's file: %q", after)
	}
	if !strings.Contains(lastError(), "no symlink into the data directory") {
		t.Errorf("lastError %q does not say why", lastError())
	}
}

// TestWebhookRedirectNotFollowed: a receiver that redirects does not take
// the batch (the redirect would resend it as a GET without a body): the
// cursor stays, lastError names the redirect, and once the receiver takes
// batches itself, every entry arrives.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			f := newFixture(t)
			r := newReceiver(t, "")
			var redirect atomic.Bool
			redirect.Store(true)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if redirect.Load() {
					http.Redirect(w, req, r.URL+"/elsewhere", status)
					return
				}
				r.Config.Handler.ServeHTTP(w, req)
			}))
			t.Cleanup(front.Close)
			f.write(t, 3, audit.Request)
			s := f.addSink(t, func(s *records.Sink) {
				s.SetType(records.SinkWebhook)
				s.SetURL(front.URL)
			})
			m := f.manager(t)
			stored := func() *core.Record {
				rec, _ := f.app.FindRecordById(records.SinksCollection, s.Id)
				return rec
			}
			eventually(t, f.clock, m, func() bool { return stored().GetString("lastError") != "" })
			if got := stored(); got.GetInt("deliveredSeq") != 0 || !strings.Contains(got.GetString("lastError"), "redirect to \""+r.URL+"/elsewhere\" is not followed") {
				t.Errorf("after a %d: deliveredSeq %d, lastError %q", status, got.GetInt("deliveredSeq"), got.GetString("lastError"))
			}
			if n := len(r.seqs()); n != 0 {
				t.Errorf("the redirect's target took %d lines", n)
			}
			redirect.Store(false)
			eventually(t, f.clock, m, func() bool { return len(r.seqs()) >= 3 })
			if got := r.seqs(); !slices.Equal(got, upTo(3)) {
				t.Errorf("received %v, want 1..3", got)
			}
		})
	}
}

// TestSinkEnabledAgainAfterAPrune: a sink that was disabled while the
// retention pruned entries it had not received goes on from the oldest
// entry left, and says, in lastError, which entries it never received.
func TestSinkEnabledAgainAfterAPrune(t *testing.T) {
	f := newFixture(t)
	r := newReceiver(t, "")
	f.write(t, 3, audit.Request)
	s := f.addSink(t, func(s *records.Sink) {
		s.SetType(records.SinkWebhook)
		s.SetURL(r.URL)
	})
	m := f.manager(t)
	// the cursor is saved once the receiver has answered
	eventually(t, f.clock, m, func() bool {
		stored, _ := f.app.FindRecordById(records.SinksCollection, s.Id)
		return stored.GetInt("deliveredSeq") == 3
	})
	m.Stop()
	stored, _ := f.app.FindRecordById(records.SinksCollection, s.Id)
	stored.Set("enabled", false)
	if err := f.app.Save(stored); err != nil {
		t.Fatal(err)
	}
	f.write(t, 4, audit.Request) // #4..#7, never received
	f.clock.Advance(48 * time.Hour)
	f.write(t, 1, audit.Request) // #8
	if n, err := f.log.Prune(f.clock.Now().Add(-24 * time.Hour)); err != nil || n != 7 {
		t.Fatalf("pruned %d: %v", n, err)
	} // the retention's checkpoint is #9
	stored, _ = f.app.FindRecordById(records.SinksCollection, s.Id)
	stored.Set("enabled", true)
	if err := f.app.Save(stored); err != nil {
		t.Fatal(err)
	}
	m2 := f.manager(t)
	// the cursor (and its note) is saved once the receiver has answered
	eventually(t, f.clock, m2, func() bool {
		stored, _ := f.app.FindRecordById(records.SinksCollection, s.Id)
		return len(r.seqs()) >= 5 && stored.GetInt("deliveredSeq") == 9
	})
	if got := r.seqs(); !slices.Equal(got, []int{1, 2, 3, 8, 9}) {
		t.Errorf("received %v, want 1..3, then 8 and 9", got)
	}
	stored, _ = f.app.FindRecordById(records.SinksCollection, s.Id)
	if note := stored.GetString("lastError"); !strings.Contains(note, "entries #4 to #7") || stored.GetInt("deliveredSeq") != 9 {
		t.Errorf("deliveredSeq %d, lastError %q", stored.GetInt("deliveredSeq"), note)
	}
}

// TestFileSinkRefusesAHardLink: a file sink's file that is a hard link
// (another name of, say, the audit key) is not written.
func TestFileSinkRefusesAHardLink(t *testing.T) {
	f := newFixture(t)
	f.write(t, 2, audit.Request)
	victim := filepath.Join(f.app.DataDir(), "victim")
	if err := os.WriteFile(victim, []byte("the plugin's own file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.app.DataDir(), sinks.Dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, filepath.Join(dir, "linked.jsonl")); err != nil {
		t.Fatal(err)
	}
	s := f.addSink(t, func(s *records.Sink) {
		s.SetType(records.SinkFile)
		s.SetPath("linked.jsonl")
	})
	m := f.manager(t)
	eventually(t, f.clock, m, func() bool {
		stored, _ := f.app.FindRecordById(records.SinksCollection, s.Id)
		return strings.Contains(stored.GetString("lastError"), "not a regular file of one name")
	})
	m.Stop()
	if after, _ := os.ReadFile(victim); string(after) != "the plugin's own file\n" {
		t.Errorf("the sink wrote through a hard link: %q", after)
	}
}
