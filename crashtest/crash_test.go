// Package crashtest checks the durability promise of the per-request
// impersonation audit against a real server process: a response to a
// request made with an impersonation token is never delivered before the
// request's audit entry is committed, so a SIGKILL cannot lose the entry of
// a request a client saw answered.
package crashtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbimpersonation/impersonation/internal/jsoncall"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "Admin12345!"
	userEmail     = "alice@example.com"
	userPassword  = "Alice12345!"

	loadWorkers = 8
	minOK       = 300
)

// server is one running `serve` process.
type server struct {
	cmd  *exec.Cmd
	base string        // http://127.0.0.1:PORT
	done chan struct{} // closed once cmd.Wait has returned
	err  error         // cmd.Wait's error, set before done is closed
	log  string        // the file holding the process's stdout and stderr
}

// kill sends SIGKILL (if the process still runs) and waits for it to exit.
func (s *server) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// buildApp builds the ready app and makes a data directory with its
// superuser: the binary's path and the directory.
func buildApp(t *testing.T) (bin, dataDir string) {
	t.Helper()
	bin = filepath.Join(t.TempDir(), "app")
	dataDir = t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "..")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=auto")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	upsert := exec.Command(bin, "superuser", "upsert", adminEmail, adminPassword, "--dir", dataDir)
	if out, err := upsert.CombinedOutput(); err != nil {
		t.Fatalf("superuser upsert: %v\n%s", err, out)
	}
	return bin, dataDir
}

func TestKillUnderImpersonatedLoad(t *testing.T) {
	bin, dataDir := buildApp(t)
	logDir := t.TempDir()

	var (
		serversMu sync.Mutex
		servers   []*server
	)
	t.Cleanup(func() {
		serversMu.Lock()
		defer serversMu.Unlock()
		for _, s := range servers {
			s.kill()
		}
	})
	start := func(name string) *server {
		t.Helper()
		s := startServer(t, bin, dataDir, filepath.Join(logDir, name+".log"))
		serversMu.Lock()
		servers = append(servers, s)
		serversMu.Unlock()
		waitHealthy(t, s)
		return s
	}

	// First run: set up an impersonation session.
	srv := start("first")
	api := &http.Client{Timeout: 10 * time.Second}

	userID, sessionToken := impersonate(t, api, srv, "crash test")

	// Load: every goroutine sends uniquely numbered reads as the user, with
	// the impersonation token, until told to stop.
	var (
		okMu        sync.Mutex
		okSet       = map[string]bool{}
		stop        = make(chan struct{})
		wg          sync.WaitGroup
		sent        atomic.Int64
		failed      atomic.Int64 // transport errors and unreadable bodies
		failedEarly atomic.Int64 // those of requests sent before the kill
		killed      atomic.Bool  // set just before the SIGKILL
		otherMu     sync.Mutex
		otherStatus = map[int]int{}
	)
	okCount := func() int {
		okMu.Lock()
		defer okMu.Unlock()
		return len(okSet)
	}
	load := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: loadWorkers * 2, DisableCompression: true},
	}
	defer load.CloseIdleConnections()
	userURL := srv.base + "/api/collections/users/records/" + userID
	for g := 0; g < loadWorkers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := fmt.Sprintf("g%d-%d", g, i)
				req, err := http.NewRequest(http.MethodGet, userURL+"?n="+url.QueryEscape(n), nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				req.Header.Set("Authorization", sessionToken)
				sent.Add(1)
				early := !killed.Load()
				resp, err := load.Do(req)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					failed.Add(1)
					if early {
						failedEarly.Add(1)
					}
					continue
				}
				if resp.StatusCode != http.StatusOK {
					otherMu.Lock()
					otherStatus[resp.StatusCode]++
					otherMu.Unlock()
					continue
				}
				var rec struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(body, &rec) != nil || rec.ID != userID {
					t.Errorf("request %s: 200 with an unexpected body: %.200s", n, body)
					continue
				}
				okMu.Lock()
				okSet[n] = true
				okMu.Unlock()
			}
		}()
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer stopLoad()

	// no deadline of its own: a load that never reaches minOK runs into go
	// test's -timeout, however slow the machine
	loadStart := time.Now()
	for okCount() < minOK {
		if srv.exited() {
			stopLoad()
			t.Fatalf("the server exited after %d responses with status 200 (of %d sent, %d failed, other statuses %v)\n%s",
				okCount(), sent.Load(), failed.Load(), otherStatus, tail(srv.log))
		}
		time.Sleep(5 * time.Millisecond)
	}

	// SIGKILL while the goroutines are still sending, then stop them.
	atKill := okCount()
	loadTook := time.Since(loadStart)
	killed.Store(true)
	srv.kill()
	stopLoad()
	oks := okCount()
	t.Logf("load: SIGKILL after %v; %d requests sent, %d answered 200 (%d when the kill was decided), %d failed (%d of them sent before the kill), other statuses %v",
		loadTook.Round(time.Millisecond), sent.Load(), oks, atKill, failed.Load(), failedEarly.Load(), otherStatus)

	// Second run on the same data: read back the request entries.
	srv = start("second")
	adminToken := authWithPassword(t, api, srv, "_superusers", adminEmail, adminPassword)

	type auditItem struct {
		Status float64 `json:"status"`
		Data   struct {
			Query map[string][]string `json:"query"`
		} `json:"data"`
	}
	entries := 0
	statuses := map[string][]int{} // n -> statuses of its entries
	noN := 0
	filter := url.QueryEscape("(event='request')")
	for page := 1; ; page++ {
		var list struct {
			Page       int         `json:"page"`
			TotalPages int         `json:"totalPages"`
			TotalItems int         `json:"totalItems"`
			Items      []auditItem `json:"items"`
		}
		path := "/api/collections/impersonation_audit/records?filter=" + filter + "&sort=id&perPage=500&page=" + strconv.Itoa(page)
		mustCall(t, api, srv, http.MethodGet, path, adminToken, nil, &list)
		for _, it := range list.Items {
			entries++
			ns := it.Data.Query["n"]
			if len(ns) == 0 {
				noN++
				continue
			}
			statuses[ns[0]] = append(statuses[ns[0]], int(it.Status))
		}
		if page >= list.TotalPages || page > 1000 {
			break
		}
	}

	var missing, wrongStatus []string
	for n := range okSet {
		st, ok := statuses[n]
		switch {
		case !ok:
			missing = append(missing, n)
		case !contains(st, http.StatusOK):
			wrongStatus = append(wrongStatus, fmt.Sprintf("%s%v", n, st))
		}
	}
	extra, dup := 0, 0
	for n, st := range statuses {
		if !okSet[n] {
			extra++
		}
		if len(st) > 1 {
			dup++
		}
	}
	t.Logf("audit: %d request entries found (%d distinct n, %d without n, %d n with more than one entry); %d entries of requests whose 200 no client received",
		entries, len(statuses), noN, dup, extra)
	t.Logf("checked: %d requests answered 200, %d missing an audit entry, %d whose entries lack status 200",
		len(okSet), len(missing), len(wrongStatus))

	// with the server stopped, the audit's hash chain is whole: the crash
	// left no entry half-linked
	srv.kill()
	verify := exec.Command(bin, "impersonation", "audit", "verify", "--dir", dataDir)
	out, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok: ") {
		t.Errorf("impersonation audit verify: %v\n%s", err, out)
	}

	if len(missing) > 0 || len(wrongStatus) > 0 {
		sort.Strings(missing)
		sort.Strings(wrongStatus)
		t.Errorf("%d of %d requests answered 200 have no audit entry after the crash (e.g. %v); %d have entries without status 200 (e.g. %v)",
			len(missing), len(okSet), firstN(missing, 10), len(wrongStatus), firstN(wrongStatus, 10))
	}
}

// impersonate signs up a user, who consents, and starts a session on them
// as the superuser: the user's id and the session's token.
func impersonate(t *testing.T, api *http.Client, srv *server, reason string) (userID, token string) {
	t.Helper()
	adminToken := authWithPassword(t, api, srv, "_superusers", adminEmail, adminPassword)
	var user struct {
		ID string `json:"id"`
	}
	mustCall(t, api, srv, http.MethodPost, "/api/collections/users/records", "", map[string]any{
		"email": userEmail, "password": userPassword, "passwordConfirm": userPassword, "name": "Alice",
	}, &user)
	if user.ID == "" {
		t.Fatal("user creation returned no id")
	}
	userToken := authWithPassword(t, api, srv, "users", userEmail, userPassword)
	mustCall(t, api, srv, http.MethodPut, "/api/impersonation/consent", userToken, map[string]any{"hours": 2}, nil)
	var session struct {
		Token string `json:"token"`
	}
	mustCall(t, api, srv, http.MethodPost, "/api/impersonation/sessions", adminToken, map[string]any{
		"collection": "users", "record": user.ID, "reason": reason, "minutes": 30,
	}, &session)
	if session.Token == "" {
		t.Fatal("session start returned no token")
	}
	return user.ID, session.Token
}

// startServer starts `bin serve` on a free port of 127.0.0.1.
func startServer(t *testing.T, bin, dataDir, logPath string) *server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--http", addr, "--dir", dataDir)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start serve: %v", err)
	}
	s := &server{cmd: cmd, base: "http://" + addr, done: make(chan struct{}), log: logPath}
	go func() {
		s.err = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	return s
}

// waitHealthy polls GET /api/health until it answers 200, or the server
// exits; it has no deadline of its own (go test's -timeout is one).
func waitHealthy(t *testing.T, s *server) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	for {
		if s.exited() {
			t.Fatalf("server exited before it was healthy: %v\n%s", s.err, tail(s.log))
		}
		resp, err := c.Get(s.base + "/api/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// authWithPassword logs in to an auth collection and returns the token.
func authWithPassword(t *testing.T, c *http.Client, s *server, collection, identity, password string) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	mustCall(t, c, s, http.MethodPost, "/api/collections/"+collection+"/auth-with-password", "",
		map[string]any{"identity": identity, "password": password}, &out)
	if out.Token == "" {
		t.Fatalf("login to %s returned no token", collection)
	}
	return out.Token
}

// mustCall sends a JSON request and decodes a 2xx answer into out (if not
// nil); any other answer fails the test.
func mustCall(t *testing.T, c *http.Client, s *server, method, path, token string, in, out any) {
	t.Helper()
	if err := jsoncall.Do(c, method, s.base+path, token, in, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

// tail returns the last lines of a server's log, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return "server log:\n" + strings.Join(lines, "\n")
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
