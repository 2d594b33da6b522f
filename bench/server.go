package main

import (
	"errors"
	"fmt"
	"github.com/pbimpersonation/impersonation/internal/jsoncall"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// build compiles the Go package pkg of this module into dir and returns the
// binary's path.
func build(dir, pkg, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=auto")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return out, nil
}

// server is one PocketBase binary serving a data directory on loopback.
type server struct {
	name, bin, dataDir, base string
	cmd                      *exec.Cmd
	client                   *http.Client
	superuser                string // the superuser's auth token
}

const (
	superuserEmail    = "bench@example.com"
	superuserPassword = "Bench12345!"
)

// newServer prepares a server of bin on a free port, with a superuser.
func newServer(name, bin, dataDir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{
		name: name, bin: bin, dataDir: dataDir,
		base: "http://127.0.0.1:" + strconv.Itoa(port),
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256,
		}, Timeout: 5 * time.Minute},
	}
	cmd := exec.Command(bin, "superuser", "upsert", superuserEmail, superuserPassword, "--dir", dataDir, "--dev=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: superuser upsert: %w: %s", name, err, out)
	}
	return s, nil
}

// start runs the server and waits until it answers, then logs the
// superuser in.
func (s *server) start() error {
	// PocketBase takes a binary in the temp directory for `go run` and
	// turns dev mode on, which prints every SQL statement: not a production
	// server
	s.cmd = exec.Command(s.bin, "serve", "--http", s.base[len("http://"):], "--dir", s.dataDir, "--dev=false")
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := s.client.Get(s.base + "/api/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("%s did not start", s.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var auth struct{ Token string }
	err := s.call("POST", "/api/collections/_superusers/auth-with-password", "",
		map[string]any{"identity": superuserEmail, "password": superuserPassword}, &auth)
	s.superuser = auth.Token
	return err
}

// stop ends the server gracefully and waits for it.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// call sends a JSON request with token and decodes a 2xx answer into out
// (when not nil); any other status is an error carrying the body.
func (s *server) call(method, path, token string, body, out any) error {
	if err := jsoncall.Do(s.client, method, s.base+path, token, body, out); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// dbBytes is the size of the server's main database with its WAL.
func (s *server) dbBytes() int64 {
	var n int64
	for _, f := range []string{"data.db", "data.db-wal"} {
		if st, err := os.Stat(filepath.Join(s.dataDir, f)); err == nil {
			n += st.Size()
		}
	}
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}
