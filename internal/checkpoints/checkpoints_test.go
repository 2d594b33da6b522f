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
	holds := func(h audit.Head) (audit.Hold, error) { return audit.Holds(app, h) }

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

// pruneScenario is an audit of 12 entries with checkpoints signed at #8,
// #10 and #12, before a prune.
type pruneScenario struct {
	app          core.App
	log          *audit.Log
	signer       *checkpoints.Signer
	pub          string
	c8, c10, c12 *checkpoints.Checkpoint
}

func newPruneScenario(t *testing.T, c *clock.Manual) *pruneScenario {
	t.Helper()
	app := testapp.New(t)
	p := &pruneScenario{app: app, log: audit.New(app, c, testKey), signer: checkpoints.NewSigner(app.DataDir(), c)}
	sign := func() *checkpoints.Checkpoint {
		head, _ := audit.HeadOf(app)
		cp, err := p.signer.Sign(head)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	appendEntries(t, p.log, app, 8, "a")
	p.c8 = sign()
	appendEntries(t, p.log, app, 2, "a")
	p.c10 = sign()
	c.Advance(48 * time.Hour)
	appendEntries(t, p.log, app, 2, "a")
	p.c12 = sign()
	p.pub, _ = p.signer.PublicKey()
	return p
}

// check runs the witness of cs against the chain, the chain's verify
// folded in.
func (p *pruneScenario) check(t *testing.T, name string, ok bool, code string, pruned int, cs ...*checkpoints.Checkpoint) {
	t.Helper()
	res, err := checkpoints.Witness(witnessOf(t, cs...), p.pub, func(h audit.Head) (audit.Hold, error) { return audit.Holds(p.app, h) })
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	chain, err := p.log.Verify(nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	res = checkpoints.Fold(res, chain)
	if res.OK != ok || res.Code != code || res.Pruned != pruned {
		t.Errorf("%s: %+v, want ok %v, code %q, %d pruned", name, res, ok, code, pruned)
	}
}

// TestWitnessAfterAGenuinePrune: the checkpoints of pruned entries hold
// once a later checkpoint of the witness, held by the chain, signs the
// retention that pruned them; without one, they cannot be checked.
func TestWitnessAfterAGenuinePrune(t *testing.T) {
	c := clock.NewManual(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	p := newPruneScenario(t, c)
	if n, err := p.log.Prune(c.Now().Add(-24 * time.Hour)); err != nil || n != 10 {
		t.Fatalf("pruned %d: %v", n, err)
	}
	p.check(t, "no later checkpoint", false, checkpoints.CodeNotCheckable, 0, p.c8, p.c10, p.c12)
	head, _ := audit.HeadOf(p.app)
	c13, err := p.signer.Sign(head)
	if err != nil {
		t.Fatal(err)
	}
	p.check(t, "signed after the prune", true, "", 2, p.c8, p.c10, p.c12, c13)
	p.check(t, "only the pruned and the later", true, "", 1, p.c8, c13)
}

// TestWitnessAfterAForgedPrune: the oldest entries deleted and a prune
// faked (the tester's attack), with or without the audit key, never
// passes: a forged retention row breaks the chain, or, rechained with the
// key, changes the hash of every later checkpoint; a witness with no
// checkpoint after the fake cannot be checked.
func TestWitnessAfterAForgedPrune(t *testing.T) {
	c := clock.NewManual(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))

	t.Run("edited in the database", func(t *testing.T) {
		p := newPruneScenario(t, c)
		if _, err := p.app.DB().Delete("impersonation_audit", dbx.NewExp("seq <= 10")).Execute(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.app.DB().Update("impersonation_audit", dbx.Params{"event": audit.Checkpoint,
			"data": `{"prunedThroughSeq":10,"prunedThroughHash":"forged"}`}, dbx.NewExp("seq = 11")).Execute(); err != nil {
			t.Fatal(err)
		}
		p.check(t, "forged hash of #10", false, checkpoints.CodeNotHeld, 0, p.c8, p.c10, p.c12)
		p.check(t, "a checkpoint before it", false, checkpoints.CodeChainNotVerified, 0, p.c8, p.c12)
		p.check(t, "nothing after it", false, checkpoints.CodeNotCheckable, 0, p.c8)
	})

	t.Run("rechained with the audit key", func(t *testing.T) {
		p := newPruneScenario(t, c)
		if _, err := p.app.DB().Delete("impersonation_audit", dbx.NewExp("seq > 10")).Execute(); err != nil {
			t.Fatal(err)
		}
		if err := p.log.Write(p.app, audit.Entry{Event: audit.Checkpoint, Data: map[string]any{
			"prunedThroughSeq": p.c10.Seq, "prunedThroughHash": p.c10.Hash}}); err != nil {
			t.Fatal(err)
		}
		appendEntries(t, p.log, p.app, 1, "rewritten")
		if _, err := p.app.DB().Delete("impersonation_audit", dbx.NewExp("seq <= 10")).Execute(); err != nil {
			t.Fatal(err)
		}
		if res, err := p.log.Verify(nil); err != nil || res.Code == audit.CodeChainBroken {
			t.Fatalf("the forged chain links up: %+v %v", res, err)
		}
		p.check(t, "a later checkpoint", false, checkpoints.CodeNotHeld, 0, p.c8, p.c10, p.c12)
		p.check(t, "none later", false, checkpoints.CodeNotCheckable, 0, p.c8, p.c10)
	})
}
