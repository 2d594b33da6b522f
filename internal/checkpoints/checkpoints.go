// Package checkpoints signs the head of the audit chain, so that whoever
// holds a copy of the checkpoints (a sink's receiver: a log store, a SIEM)
// can later prove that the chain still holds what it held then.
//
// A checkpoint names the chain's head (seq, hash) at a time, signed with
// an Ed25519 key kept in KeyFile, in the data directory beside the audit
// key: outside the database and outside PocketBase's backups. The signed
// bytes are the ASCII text
//
//	impersonation-checkpoint:v1\n<seq>\n<hash>\n<created>
//
// (no newline at the end; seq in decimal, created as RFC 3339 in UTC with
// milliseconds, e.g. 2026-12-01T10:00:00.000Z), and a checkpoint is the
// JSON object
//
//	{"type":"checkpoint","seq":42,"hash":"v2:…","created":"…",
//	 "signature":"<base64 of the 64-byte signature>",
//	 "publicKey":"<base64 of the 32-byte Ed25519 public key>"}
//
// Every checkpoint made is appended to LogFile, from which the sinks take
// them in order. Checkpoints are not audit entries.
//
// Example usage:
//
//	signer := checkpoints.NewSigner(app.DataDir(), clock.System)
//	if _, err := signer.Sign(head); err != nil { ... }
//	pub, _ := signer.PublicKey()
//	res, err := checkpoints.Witness(file, pub, func(h audit.Head) (audit.Hold, error) { return audit.Holds(app, h) })
//	chain, err := log.Verify(nil)
//	res = checkpoints.Fold(res, chain) // never OK on a chain that does not verify
package checkpoints

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/clock"
)

// KeyFile is the file, in the data directory, of the Ed25519 key that
// signs checkpoints: a PEM "PRIVATE KEY" (PKCS #8), which
// `openssl pkey -in impersonation_audit.checkpoint.key -pubout` reads. It
// is made on the first checkpoint, and backups leave it out.
const KeyFile = "impersonation_audit.checkpoint.key"

// LogFile is the file, in the data directory, that every checkpoint made
// is appended to, one JSON line each; backups leave it out.
const LogFile = "impersonation_audit.checkpoints"

// Type is the "type" of a checkpoint line.
const Type = "checkpoint"

// signedPrefix starts the signed bytes of a checkpoint.
const signedPrefix = "impersonation-checkpoint:v1"

// createdLayout is how a checkpoint's time is written.
const createdLayout = "2006-01-02T15:04:05.000Z"

// Checkpoint is a signed head of the audit chain.
type Checkpoint struct {
	Type      string `json:"type,omitempty"`
	Seq       int    `json:"seq"`
	Hash      string `json:"hash"`
	Created   string `json:"created"`
	Signature string `json:"signature"`
	PublicKey string `json:"publicKey"`
}

// SignedBytes returns the bytes a checkpoint of seq, hash and created
// signs.
func SignedBytes(seq int, hash, created string) []byte {
	return []byte(signedPrefix + "\n" + strconv.Itoa(seq) + "\n" + hash + "\n" + created)
}

// Valid reports whether c's signature is right under its own public key;
// Witness also checks that the key is the install's.
func (c Checkpoint) Valid() bool {
	pub, err := base64.StdEncoding.DecodeString(c.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil {
		return false
	}
	return ed25519.Verify(pub, SignedBytes(c.Seq, c.Hash, c.Created), sig)
}

// Signer makes the checkpoints of one data directory. It is safe for
// concurrent use.
type Signer struct {
	dir   string
	clock clock.Clock

	mu     sync.Mutex
	key    ed25519.PrivateKey // nil until loaded
	latest *Checkpoint        // nil until read or made
	read   bool               // latest was read from LogFile
}

// NewSigner returns the signer of dataDir, dated on c. The key is read, or
// made, on first use.
func NewSigner(dataDir string, c clock.Clock) *Signer {
	return &Signer{dir: dataDir, clock: c}
}

// LogPath is the path of the checkpoint log.
func (s *Signer) LogPath() string { return filepath.Join(s.dir, LogFile) }

// ErrNoKey is returned by PublicKey when no checkpoint was ever made in the
// data directory: there is no key yet.
var ErrNoKey = errors.New("checkpoints: no checkpoint key in the data directory (" + KeyFile + ")")

// PublicKey returns the base64 of the install's checkpoint public key. It
// never makes a key: without one, it returns ErrNoKey.
func (s *Signer) PublicKey() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadKey(false); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(s.key.Public().(ed25519.PublicKey)), nil
}

// loadKey reads KeyFile, or, with create, makes it when it does not exist.
func (s *Signer) loadKey(create bool) error {
	if s.key != nil {
		return nil
	}
	path := filepath.Join(s.dir, KeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !create {
		return ErrNoKey
	}
	if errors.Is(err, os.ErrNotExist) {
		_, priv, genErr := ed25519.GenerateKey(rand.Reader)
		if genErr != nil {
			return genErr
		}
		der, _ := x509.MarshalPKCS8PrivateKey(priv)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("checkpoints: store the key: %w", err)
		}
		err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
			return fmt.Errorf("checkpoints: store the key: %w", err)
		}
		s.key = priv
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpoints: read the key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return fmt.Errorf("checkpoints: %s is not a PEM key", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	priv, ok := parsed.(ed25519.PrivateKey)
	if err != nil || !ok {
		return fmt.Errorf("checkpoints: %s is not an Ed25519 private key", path)
	}
	s.key = priv
	return nil
}

// Latest returns the newest checkpoint made, nil when none was.
func (s *Signer) Latest() (*Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latestLocked()
}

func (s *Signer) latestLocked() (*Checkpoint, error) {
	if s.read {
		return s.latest, nil
	}
	var last *Checkpoint
	_, err := ReadLog(s.LogPath(), 0, func(c Checkpoint, _ []byte) bool {
		last = &c
		return true
	})
	if err != nil {
		return nil, err
	}
	s.latest, s.read = last, true
	return last, nil
}

// Sign signs head and appends the checkpoint to LogFile, unless the newest
// checkpoint names head already (the chain has not grown since): then it
// returns nil. Each checkpoint is synced to disk before Sign returns.
func (s *Signer) Sign(head audit.Head) (*Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	latest, err := s.latestLocked()
	if err != nil {
		return nil, err
	}
	if head.Seq == 0 || (latest != nil && latest.Seq == head.Seq && latest.Hash == head.Hash) {
		return nil, nil
	}
	if err := s.loadKey(true); err != nil {
		return nil, err
	}
	created := s.clock.Now().UTC().Format(createdLayout)
	c := Checkpoint{
		Type: Type, Seq: head.Seq, Hash: head.Hash, Created: created,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, SignedBytes(head.Seq, head.Hash, created))),
		PublicKey: base64.StdEncoding.EncodeToString(s.key.Public().(ed25519.PublicKey)),
	}
	line, _ := json.Marshal(c)
	f, err := os.OpenFile(s.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: open the log: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("checkpoints: write the log: %w", err)
	}
	s.latest = &c
	return &c, nil
}

// ReadLog calls fn with each checkpoint of the log at path from byte
// offset on, and its line (with the newline), until fn returns false; it
// returns the offset after the last checkpoint fn took. A log that does not
// exist holds none. A last line without its newline (a write cut short) is
// left for later.
func ReadLog(path string, offset int64, fn func(c Checkpoint, line []byte) bool) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return offset, nil
	}
	if err != nil {
		return offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, err
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return offset, nil
		}
		if err != nil {
			return offset, err
		}
		var c Checkpoint
		if json.Unmarshal(line, &c) != nil {
			offset += int64(len(line)) // not a checkpoint: skipped
			continue
		}
		if !fn(c, line) {
			return offset, nil
		}
		offset += int64(len(line))
	}
}

// Result is what Witness found.
type Result struct {
	OK bool `json:"ok"`
	// Checkpoints is how many checkpoints the chain was found to hold
	// (Pruned included).
	Checkpoints int `json:"checkpoints"`
	// Pruned is how many of them name entries the retention pruned since:
	// the chain holds them as the retention checkpoint that pruned them
	// says, which a later checkpoint of the witness, held by the chain,
	// signs. Their hashes can no longer be compared (the entries are gone).
	Pruned int `json:"pruned,omitempty"`
	// Code names the problem: CodeBadLine, CodeBadSignature, CodeOtherKey,
	// CodeNotHeld, CodeNotCheckable, CodeChainNotVerified or CodeEmpty;
	// empty when OK.
	Code    string `json:"code,omitempty"`
	Problem string `json:"problem,omitempty"`
	// Line is the witness's line (from 1) of the first checkpoint that
	// fails, and Checkpoint that checkpoint.
	Line       int         `json:"line,omitempty"`
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
}

// Codes of Result.
const (
	CodeBadLine      = "bad_line"
	CodeBadSignature = "bad_signature"
	CodeOtherKey     = "other_key"
	CodeNotHeld      = "not_held"
	// CodeNotCheckable: a checkpoint names an entry the retention pruned,
	// and no later checkpoint of the witness that the chain holds signs
	// that retention: the prune may be forged (take a newer copy of the
	// witness, one with a checkpoint made after the prune).
	CodeNotCheckable = "not_checkable"
	// CodeChainNotVerified: the chain itself does not verify (audit.Verify):
	// what it holds proves nothing.
	CodeChainNotVerified = "chain_not_verified"
	CodeEmpty            = "no_checkpoint"
)

// maxWitnessLine is the longest line of a witness read (an OCSF event
// with a large request's data).
const maxWitnessLine = 16 << 20

// Holds reports what the chain holds of a head (audit.Holds).
type Holds func(h audit.Head) (audit.Hold, error)

// Witness checks a witness, the JSON lines a sink received (entries and
// checkpoints; lines that are not checkpoints are skipped), against the
// chain: every checkpoint's signature must be right under publicKey (the
// install's), and the chain must hold each checkpoint's (seq, hash). It
// stops at the first checkpoint that fails and names it: a chain rewritten
// or rolled back since that checkpoint was made.
//
// A checkpoint whose entry the retention pruned is held only when the
// retention checkpoint that pruned it does not contradict it and is signed:
// a later checkpoint of the witness, whose entry is in the chain with its
// hash, comes at or after that retention checkpoint (so its hash, which
// the install signed, covers it). Otherwise the result is CodeNotCheckable.
// Witness does not verify the chain: a caller folds audit.Verify's result
// in with Fold, without which a held checkpoint proves nothing.
func Witness(r io.Reader, publicKey string, holds Holds) (Result, error) {
	type pruned struct {
		line int
		c    Checkpoint
		by   int
	}
	var waiting []pruned
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64<<10), maxWitnessLine)
	res, n, signedThrough := Result{}, 0, 0
	for scanner.Scan() {
		n++
		line := bytes.TrimSpace(scanner.Bytes())
		if len(line) == 0 {
			continue
		}
		var c Checkpoint
		if err := json.Unmarshal(line, &c); err != nil {
			return fail(res, n, nil, CodeBadLine, fmt.Sprintf("line %d is not a JSON object", n)), nil
		}
		if c.Type != Type {
			continue
		}
		switch {
		case !c.Valid():
			return fail(res, n, &c, CodeBadSignature, fmt.Sprintf("the checkpoint of line %d (#%d) has no valid signature", n, c.Seq)), nil
		case c.PublicKey != publicKey:
			return fail(res, n, &c, CodeOtherKey, fmt.Sprintf("the checkpoint of line %d (#%d) is signed with another key than this install's", n, c.Seq)), nil
		}
		hold, err := holds(audit.Head{Seq: c.Seq, Hash: c.Hash})
		if err != nil {
			return res, err
		}
		switch {
		case !hold.Held:
			return fail(res, n, &c, CodeNotHeld, fmt.Sprintf("the chain does not hold the checkpoint of line %d: entry #%d with hash %s, signed at %s "+
				"(the chain was rewritten or rolled back since)", n, c.Seq, c.Hash, c.Created)), nil
		case hold.PrunedBy > 0:
			waiting = append(waiting, pruned{n, c, hold.PrunedBy})
		default:
			signedThrough = max(signedThrough, c.Seq)
			res.Checkpoints++
		}
	}
	if err := scanner.Err(); err != nil {
		return fail(res, n+1, nil, CodeBadLine, fmt.Sprintf("line %d cannot be read: %v", n+1, err)), nil
	}
	for _, p := range waiting {
		if p.by > signedThrough {
			return fail(res, p.line, &p.c, CodeNotCheckable, fmt.Sprintf("the checkpoint of line %d names entry #%d, which the audit checkpoint #%d says the retention pruned, "+
				"and no later checkpoint of the witness held by the chain signs that: the prune cannot be told from a forged one "+
				"(check a newer copy of the witness, with a checkpoint made after the prune)", p.line, p.c.Seq, p.by)), nil
		}
		res.Checkpoints++
		res.Pruned++
	}
	if res.Checkpoints == 0 {
		res.Code, res.Problem = CodeEmpty, "the witness holds no checkpoint"
		return res, nil
	}
	res.OK = true
	return res, nil
}

// Fold folds chain, the result of verifying the chain (audit.Verify), into
// res: a witness is never OK against a chain that does not verify, which
// holds nothing.
func Fold(res Result, chain audit.Result) Result {
	if chain.OK || !res.OK {
		return res
	}
	res.Checkpoints, res.Pruned = 0, 0
	return fail(res, 0, nil, CodeChainNotVerified, "the audit chain does not verify ("+chain.Code+"): "+chain.Problem)
}

func fail(res Result, line int, c *Checkpoint, code, problem string) Result {
	res.OK, res.Line, res.Checkpoint, res.Code, res.Problem = false, line, c, code, problem
	return res
}
