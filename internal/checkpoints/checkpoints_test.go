package checkpoints_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/checkpoints"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/testapp"
)

func TestMain(m *testing.M) { testapp.Main(m) }

var testKey = []byte("checkpoints test key, 32 bytes long")

// appendEntries appends n entries to the audit of app.
func appendEntries(t *testing.T, log *audit.Log, app core.App, n int, target string) {
	t.Helper()
	for range n {
		if err := log.Write(app, audit.Entry{Event: audit.Request, Target: target, Client: audit.Client{Status: 200}}); err != nil {
			t.Fatal(err)
		}
	}
}

// witnessOf returns the JSON lines of checkpoints cs.
func witnessOf(t *testing.T, cs ...*checkpoints.Checkpoint) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`{"seq":1,"hash":"an entry line, skipped"}` + "\n")
	for _, c := range cs {
		line, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	return &b
}

// TestSignAndVerifyWithTheStoredKey: a checkpoint verifies under the
// public key derived from the PEM key file (what openssl reads), and not
// once any signed field changes; the chain's head is signed only when it
// grew; the log holds each checkpoint once.
func TestSignAndVerifyWithTheStoredKey(t *testing.T) {
	app := testapp.New(t)
	log := audit.New(app, clock.System, testKey)
	s := checkpoints.NewSigner(app.DataDir(), clock.NewManual(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)))
	if _, err := s.PublicKey(); !errors.Is(err, checkpoints.ErrNoKey) {
		t.Fatalf("PublicKey before any checkpoint: %v, want ErrNoKey", err)
	}
	appendEntries(t, log, app, 3, "a")
	head, _ := audit.HeadOf(app)
	c, err := s.Sign(head)
	if err != nil || c == nil {
		t.Fatalf("Sign: %v %v", c, err)
	}
	if c.Created != "2026-12-01T10:00:00.000Z" || c.Seq != 3 || c.Type != checkpoints.Type {
		t.Errorf("checkpoint %+v", c)
	}
	if again, err := s.Sign(head); again != nil || err != nil {
		t.Errorf("a second Sign of the same head made %v (%v)", again, err)
	}

	raw, err := os.ReadFile(filepath.Join(app.DataDir(), checkpoints.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.(ed25519.PrivateKey).Public().(ed25519.PublicKey)
	sig, _ := base64.StdEncoding.DecodeString(c.Signature)
	signed := "impersonation-checkpoint:v1\n3\n" + c.Hash + "\n2026-12-01T10:00:00.000Z"
	if !ed25519.Verify(pub, []byte(signed), sig) {
		t.Fatal("the signature does not verify over the documented bytes under the key file's public key")
	}
	if got, _ := s.PublicKey(); got != base64.StdEncoding.EncodeToString(pub) || c.PublicKey != got {
		t.Errorf("publicKey %q, want the key file's", got)
	}
	for name, change := range map[string]func(c *checkpoints.Checkpoint){
		"seq":     func(c *checkpoints.Checkpoint) { c.Seq++ },
		"hash":    func(c *checkpoints.Checkpoint) { c.Hash = strings.ToUpper(c.Hash) },
		"created": func(c *checkpoints.Checkpoint) { c.Created = "2026-12-01T10:00:01.000Z" },
	} {
		altered := *c
		change(&altered)
		if altered.Valid() {
			t.Errorf("a checkpoint with another %s is valid", name)
		}
	}

	appendEntries(t, log, app, 2, "b")
	head, _ = audit.HeadOf(app)
	if c2, err := s.Sign(head); err != nil || c2 == nil || c2.Seq != 5 {
		t.Fatalf("Sign after growth: %v %v", c2, err)
	}
	var seqs []int
	if _, err := checkpoints.ReadLog(s.LogPath(), 0, func(c checkpoints.Checkpoint, _ []byte) bool {
		seqs = append(seqs, c.Seq)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 2 || seqs[0] != 3 || seqs[1] != 5 {
		t.Errorf("the log holds %v, want [3 5]", seqs)
	}
	// a new signer of the same directory reads the latest from the log
	if latest, err := checkpoints.NewSigner(app.DataDir(), clock.System).Latest(); err != nil || latest == nil || latest.Seq != 5 {
		t.Errorf("Latest of a new signer: %v %v", latest, err)
	}
}

// TestWitness: the witness holds against the chain it was made from, and
// fails, naming the first checkpoint it contradicts, against a chain
// rewritten with the audit key (which verifies) and against one rolled
// back; a forged or foreign checkpoint fails too.
func TestWitness(t *testing.T) {
	app := testapp.New(t)
	log := audit.New(app, clock.System, testKey)
	s := checkpoints.NewSigner(app.DataDir(), clock.System)
	appendEntries(t, log, app, 4, "a")
	head, _ := audit.HeadOf(app)
	c4, _ := s.Sign(head)
	appendEntries(t, log, app, 4, "a")
	head, _ = audit.HeadOf(app)
	c8, _ := s.Sign(head)
	pub, _ := s.PublicKey()
	holds := func(h audit.Head) (bool, error) { return audit.Holds(app, h) }

	check := func(name string, w *bytes.Buffer, ok bool, code string, line int) {
		t.Helper()
		res, err := checkpoints.Witness(w, pub, holds)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.OK != ok || res.Code != code || res.Line != line {
			t.Errorf("%s: %+v, want ok %v, code %q, line %d", name, res, ok, code, line)
		}
	}
	check("whole", witnessOf(t, c4, c8), true, "", 0)
	check("empty", witnessOf(t), false, checkpoints.CodeEmpty, 0)
	check("not JSON", bytes.NewBufferString("{\"type\":\"checkpoint\"\n"), false, checkpoints.CodeBadLine, 1)
	forged := *c8
	forged.Hash = c4.Hash
	check("forged", witnessOf(t, c4, &forged), false, checkpoints.CodeBadSignature, 3)
	other := checkpoints.NewSigner(t.TempDir(), clock.System)
	foreign, _ := other.Sign(head)
	check("another key", witnessOf(t, foreign), false, checkpoints.CodeOtherKey, 2)

	// rewritten: entries 5.. replaced by others, chained with the key
	if _, err := app.DB().Delete("impersonation_audit", dbx.NewExp("seq > 4")).Execute(); err != nil {
		t.Fatal(err)
	}
	appendEntries(t, log, app, 5, "rewritten")
	if res, err := log.Verify(nil); err != nil || res.Code == audit.CodeChainBroken {
		t.Fatalf("the rewritten chain links up: %+v %v", res, err)
	}
	check("rewritten", witnessOf(t, c4, c8), false, checkpoints.CodeNotHeld, 3)

	// rolled back: the entries after 3 are gone
	if _, err := app.DB().Delete("impersonation_audit", dbx.NewExp("seq > 3")).Execute(); err != nil {
		t.Fatal(err)
	}
	check("rolled back", witnessOf(t, c4, c8), false, checkpoints.CodeNotHeld, 2)
}
