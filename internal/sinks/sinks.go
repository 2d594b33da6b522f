// Package sinks delivers the audit to the log stores an app's operators
// run: every committed audit entry, in seq order, at least once, to each
// enabled sink of impersonation_sinks (a webhook that takes batches of
// NDJSON, or a file), with the signed checkpoints of the chain (package
// checkpoints) among them, each as a line of its own.
//
// Each enabled sink has a loop of its own, in its own goroutine. It reads
// the entries the journal's mover has committed to the audit table after
// the sink's cursor (deliveredSeq), a batch at a time, and the checkpoints
// of the checkpoint log after its offset; it sends them, and only once the
// receiver has taken them (a 2xx, or a file synced) moves the cursor, in
// the sink's row. So a restart, a crash or a SIGKILL resumes where the last
// batch taken ended: a receiver sees again, at most, the last batch it took
// before the process died (it deduplicates by seq and hash). A delivery
// that fails is tried again with a backoff, doubling from one second to
// five minutes; nothing else waits for it: requests, starts and the mover
// never touch a sink.
//
// Example usage:
//
//	m := sinks.New(app, clock.System, signer.LogPath())
//	m.Start()      // when the app serves
//	m.Reload()     // after a sink changed
//	defer m.Stop() // on terminate
package sinks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/checkpoints"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// Dir is the folder of the data directory that file sinks with a relative
// path write into; backups leave it out.
const Dir = "impersonation_sinks"

// Defaults of a sink's batching.
const (
	DefaultBatchSize    = 500
	DefaultBatchSeconds = 5
)

// The headers of a webhook's request.
const (
	// SignatureHeader is "sha256=" + hex(HMAC-SHA256(secret, timestamp +
	// "." + body)), set when the sink has a secret.
	SignatureHeader = "X-Impersonation-Signature"
	// TimestampHeader is the Unix time, in seconds, the batch was sent.
	TimestampHeader = "X-Impersonation-Timestamp"
)

// Backoff bounds: a failed delivery is tried again after minBackoff,
// doubling up to maxBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 5 * time.Minute
)

// lagLogged is the lag, in entries, from which a growing lag is logged
// (again each time it doubles).
const lagLogged = 1000

// Manager runs the delivery loop of each enabled sink of an app. It is safe
// for concurrent use.
type Manager struct {
	app     core.App
	clock   clock.Clock
	cpLog   string
	client  *http.Client
	mu      sync.Mutex
	loops   map[string]*loop
	running bool
}

// New returns the manager of app's sinks, timed on c, taking checkpoints
// from the checkpoint log at checkpointLog.
func New(app core.App, c clock.Clock, checkpointLog string) *Manager {
	return &Manager{app: app, clock: c, cpLog: checkpointLog, client: newClient(), loops: map[string]*loop{}}
}

// newClient returns the webhooks' HTTP client. It follows no redirect: a
// batch redirected would be sent again as a GET without its body, and the
// 2xx of that GET taken for a delivery.
func newClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// Start starts a loop for each enabled sink.
func (m *Manager) Start() error {
	m.mu.Lock()
	m.running = true
	m.mu.Unlock()
	return m.Reload()
}

// Reload stops the loop of every sink that changed, was disabled or
// deleted, and starts one for every enabled sink that has none. A loop
// stopped mid-batch leaves its cursor where the last batch taken ended.
func (m *Manager) Reload() error {
	list, err := records.FindSinks(m.app)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		return nil
	}
	want := map[string]*records.Sink{}
	for _, s := range list {
		if s.Enabled() {
			want[s.Id] = s
		}
	}
	for id, l := range m.loops {
		if s, ok := want[id]; !ok || s.GetString("updated") != l.sink.GetString("updated") {
			l.stop()
			delete(m.loops, id)
		}
	}
	for id, s := range want {
		if _, ok := m.loops[id]; !ok {
			m.loops[id] = m.startLoop(s)
		}
	}
	return nil
}

// Stop stops every loop and waits for them to return.
func (m *Manager) Stop() {
	m.mu.Lock()
	m.running = false
	loops := m.loops
	m.loops = map[string]*loop{}
	m.mu.Unlock()
	for _, l := range loops {
		l.stop()
	}
}

// Wake makes every loop deliver now rather than at the end of its wait
// (tests, and the checkpoint made at shutdown).
func (m *Manager) Wake() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.loops {
		l.poke()
	}
}

// loop delivers to one sink.
type loop struct {
	m      *Manager
	sink   *records.Sink
	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	cursor    int   // the seq of the last entry taken
	offset    int64 // how far the checkpoint log was taken
	nextLag   int   // the lag that is logged next
	failing   bool  // the last delivery failed
	batchSize int
	interval  time.Duration
}

func (m *Manager) startLoop(s *records.Sink) *loop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{m: m, sink: s, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		cursor: s.DeliveredSeq(), offset: s.CheckpointOffset(), nextLag: lagLogged,
		batchSize: orDefault(s.BatchSize(), DefaultBatchSize), interval: time.Duration(orDefault(s.BatchSeconds(), DefaultBatchSeconds)) * time.Second}
	go l.run()
	return l
}

func (l *loop) stop() {
	l.cancel()
	<-l.done
}

func (l *loop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// wait returns after d, or earlier when poked, or false once stopped.
func (l *loop) wait(d time.Duration) bool {
	fired := make(chan struct{})
	stop := l.m.clock.AfterFunc(d, func() { close(fired) })
	defer stop()
	select {
	case <-fired:
	case <-l.wake:
	case <-l.ctx.Done():
		return false
	}
	return true
}

func (l *loop) run() {
	defer close(l.done)
	backoff := time.Duration(0)
	for {
		delay := l.interval
		if backoff > 0 {
			delay = backoff
		}
		if !l.wait(delay) {
			return
		}
		for {
			sent, err := l.deliver()
			if l.ctx.Err() != nil {
				return
			}
			if err != nil {
				backoff = min(max(2*backoff, minBackoff), maxBackoff)
				break
			}
			backoff = 0
			if sent < l.batchSize {
				break // caught up: the next batch gathers
			}
		}
	}
}

// deliver sends the next batch, if there is one, and moves the cursor once
// it is taken. It returns how many entries it sent.
func (l *loop) deliver() (int, error) {
	app, s := l.m.app, l.sink
	lines, err := audit.After(app, l.cursor, l.batchSize)
	if err != nil {
		return 0, l.failed(fmt.Errorf("read the audit: %w", err))
	}
	upTo := l.cursor
	if len(lines) > 0 {
		upTo = lines[len(lines)-1].Seq
	}
	// each checkpoint goes right after the entry it names (or first, when
	// the sink took that entry before the checkpoint was made)
	var body bytes.Buffer
	var writeErr error
	next := 0
	offset, err := checkpoints.ReadLog(l.m.cpLog, l.offset, func(c checkpoints.Checkpoint, line []byte) bool {
		if c.Seq > upTo {
			return false // after the entries of this batch: the next one
		}
		for ; next < len(lines) && lines[next].Seq <= c.Seq; next++ {
			if writeErr = l.write(&body, lines[next].JSON); writeErr != nil {
				return false
			}
		}
		body.Write(line)
		return true
	})
	for ; writeErr == nil && next < len(lines); next++ {
		writeErr = l.write(&body, lines[next].JSON)
	}
	if err = errors.Join(err, writeErr); err != nil {
		return 0, l.failed(fmt.Errorf("format the batch: %w", err))
	}
	if body.Len() == 0 {
		l.logLag()
		return 0, nil
	}
	if err := l.send(body.Bytes()); err != nil {
		return 0, l.failed(err)
	}
	note := ""
	if len(lines) > 0 && lines[0].Seq > l.cursor+1 {
		// a sink enabled again after a retention pruned what it had not
		// taken: it goes on from the oldest entry left, and says so
		note = fmt.Sprintf("entries #%d to #%d were no longer in the audit (pruned by the retention, or deleted) when this sink "+
			"reached them: it never received them", l.cursor+1, lines[0].Seq-1)
		app.Logger().Warn("impersonation: an audit sink skips entries it never received", "sink", s.Name(),
			"from", l.cursor+1, "to", lines[0].Seq-1)
	}
	if err := records.SaveSinkProgress(app, s.Id, true, upTo, offset, l.now(), note); err != nil {
		// taken but not recorded: the batch is sent again
		return 0, l.failed(fmt.Errorf("save the cursor: %w", err))
	}
	if l.failing {
		app.Logger().Info("impersonation: audit sink delivers again", "sink", s.Name(), "deliveredSeq", upTo)
	}
	l.cursor, l.offset, l.failing = upTo, offset, false
	l.logLag()
	return len(lines), nil
}

// write appends an entry's export line to body in the sink's format.
func (l *loop) write(body *bytes.Buffer, line []byte) error {
	if l.sink.Format() == records.FormatOCSF {
		out, err := ocsfLine(line)
		body.Write(out)
		return err
	}
	body.Write(line)
	return nil
}

// failed records a failed delivery in the sink's row, and logs the first
// failure of a run.
func (l *loop) failed(err error) error {
	if l.ctx.Err() != nil {
		return err
	}
	msg := err.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	if saveErr := records.SaveSinkProgress(l.m.app, l.sink.Id, false, 0, 0, l.now(), msg); saveErr != nil {
		l.m.app.Logger().Error("impersonation: record an audit sink's error", "sink", l.sink.Name(), "error", saveErr)
	}
	if !l.failing {
		l.m.app.Logger().Warn("impersonation: an audit sink does not take its batch: it is tried again with a backoff",
			"sink", l.sink.Name(), "deliveredSeq", l.cursor, "error", msg)
	}
	l.failing = true
	return err
}

// logLag logs the sink's lag when it has grown past nextLag.
func (l *loop) logLag() {
	head, err := audit.HeadOf(l.m.app)
	if err != nil {
		return
	}
	lag := head.Seq - l.cursor
	switch {
	case lag >= l.nextLag:
		l.m.app.Logger().Warn("impersonation: an audit sink lags behind the audit", "sink", l.sink.Name(), "lag", lag, "deliveredSeq", l.cursor)
		l.nextLag = 2 * lag
	case lag < lagLogged:
		l.nextLag = lagLogged
	}
}

func (l *loop) now() types.DateTime {
	d, _ := types.ParseDateTime(l.m.clock.Now())
	return d
}

// send hands body to the sink's receiver.
func (l *loop) send(body []byte) error {
	if l.sink.Type() == records.SinkFile {
		path, err := FilePath(l.m.app.DataDir(), l.sink.Path())
		if err != nil {
			return err
		}
		return appendFile(l.m.app.DataDir(), path, body)
	}
	req, err := http.NewRequestWithContext(l.ctx, http.MethodPost, l.sink.URL(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	ts := strconv.FormatInt(l.m.clock.Now().Unix(), 10)
	req.Header.Set(TimestampHeader, ts)
	if secret := l.sink.Secret(); secret != "" {
		req.Header.Set(SignatureHeader, Signature(secret, ts, body))
	}
	res, err := l.m.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 && res.StatusCode <= 399 {
		return fmt.Errorf("the webhook answered %d: the redirect to %q is not followed (a batch is only taken by a 2xx)",
			res.StatusCode, res.Header.Get("Location"))
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		answer, _ := io.ReadAll(io.LimitReader(res.Body, 200))
		return fmt.Errorf("the webhook answered %d: %s", res.StatusCode, strings.TrimSpace(string(answer)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	return nil
}

// Signature returns the SignatureHeader of a batch: "sha256=" + hex of
// HMAC-SHA256(secret, timestamp + "." + body).
func Signature(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// appendFile appends body to the file sink's file at path (as FilePath
// returned it), and syncs it. The path is checked again right before it is
// opened (a folder on it may have become a symlink since the sink was
// saved), and opened so that its last component cannot be a symlink and
// must be a regular file of one name (no hard link): never one of the data
// directory's own files, a device or a FIFO.
func appendFile(dataDir, path string, body []byte) error {
	if err := checkResolved(dataDir, path); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := checkResolved(dataDir, path); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|noFollow, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadPath, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || hardLinked(st) {
		f.Close()
		return fmt.Errorf("%w: %s is not a regular file of one name", ErrBadPath, path)
	}
	_, err = f.Write(body)
	return errors.Join(err, f.Sync(), f.Close())
}

// ErrBadPath is why a file sink's path is refused.
var ErrBadPath = errors.New("a relative path within the sinks folder, or an absolute path outside the data directory, " +
	"to a regular file, through no symlink into the data directory")

// FilePath returns where a file sink of path writes: a relative path
// under Dir in dataDir (never outside it), an absolute path as it is,
// unless it lies in dataDir outside Dir (the plugin's and PocketBase's own
// files). The path is checked as text, then with every symlink on it
// resolved (the data directory's own, a folder's, /proc/self/root...):
// where it resolves must be outside the resolved data directory or under
// its Dir, and its last component, if it exists, a regular file, not a
// symlink.
func FilePath(dataDir, path string) (string, error) {
	clean, err := textPath(dataDir, path)
	if err != nil {
		return "", err
	}
	if err := checkResolved(dataDir, clean); err != nil {
		return "", err
	}
	return clean, nil
}

// textPath is FilePath's check of path as text.
func textPath(dataDir, path string) (string, error) {
	dir := filepath.Join(dataDir, Dir)
	if path == "" {
		return "", ErrBadPath
	}
	if !filepath.IsAbs(path) {
		clean := filepath.Clean(path)
		if clean == "." || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return "", ErrBadPath
		}
		return filepath.Join(dir, clean), nil
	}
	clean := filepath.Clean(path)
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	if !allowed(absData, clean) {
		return "", ErrBadPath
	}
	return clean, nil
}

// checkResolved refuses path when, with its symlinks resolved, it lies in
// the resolved data directory outside Dir, or when its last component
// exists and is not a regular file.
func checkResolved(dataDir, path string) error {
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	realData, err := resolve(absData)
	if err != nil {
		return err
	}
	realDir, err := resolve(filepath.Dir(path))
	if err != nil {
		return err
	}
	if !allowed(realData, filepath.Join(realDir, filepath.Base(path))) {
		return ErrBadPath
	}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file", ErrBadPath, path)
	}
	return nil
}

// resolve returns path with every symlink of its longest existing prefix
// resolved, the rest (folders a sink will create) appended as it is.
func resolve(path string) (string, error) {
	rest := ""
	for {
		real, err := filepath.EvalSymlinks(path)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		parent := filepath.Dir(path)
		if !errors.Is(err, fs.ErrNotExist) || parent == path {
			return "", err
		}
		rest = filepath.Join(filepath.Base(path), rest)
		path = parent
	}
}

// allowed reports whether a file sink may write at path, data being the
// data directory: outside it, or under its Dir.
func allowed(data, path string) bool {
	sinks := filepath.Join(data, Dir)
	return !within(data, path) || (within(sinks, path) && path != sinks)
}

// within reports whether path is dir or lies under it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
