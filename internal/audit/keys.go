package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// The v2 hash format keys the chain with a key derived from the install's
// master key (the audit key), never with the master key itself, and
// redaction with another one: a value's redacted hash, which a client can
// have computed for any value it sends, is never a chain hash. Each key is
// HMAC-SHA256(master, label):
//
//	chain key  "impersonation audit v2 chain"
//	redact key "impersonation audit v2 redact"
//	key id     "impersonation audit v2 key id" (hex, first 8 bytes)
//
// A v2 hash is stored as "v2:" + key id + ":" + hex(HMAC-SHA256(chain key,
// "v2\n" + key id + "\n" + previous hash + "\n" + canonical)), so Verify
// knows the key of each entry: entries written under an earlier key verify
// while that key is among the install's previous keys (SetKeys).
const (
	hashV2      = "v2"
	labelChain  = "impersonation audit v2 chain"
	labelRedact = "impersonation audit v2 redact"
	labelKeyId  = "impersonation audit v2 key id"
)

// FormatChanged is the event of the entry that starts the chain's entries
// under a new format or key: the first v2 entry after v1 ones, or the
// first under a new key. Its data says {"format": "v2", "keyId": the new
// key's id, "previous": the previous head's format and key id}.
const FormatChanged = "audit.format"

func derive(master []byte, label string) []byte {
	mac := hmac.New(sha256.New, master)
	mac.Write([]byte(label))
	return mac.Sum(nil)
}

// RedactKey returns the key that redacted values are hashed with under
// master (the v2 derivation): never the chain's key.
func RedactKey(master []byte) []byte { return derive(master, labelRedact) }

// KeyId returns the public id of master, which v2 hashes name.
func KeyId(master []byte) string { return hex.EncodeToString(derive(master, labelKeyId)[:8]) }

// keyring is the audit's keys: the current one, which writes, and the
// previous ones, which only verify.
type keyring struct {
	masters [][]byte          // current first
	chain   map[string][]byte // key id → v2 chain key
	current string            // the current key's id
}

func newKeyring(current []byte, previous ...[]byte) *keyring {
	k := &keyring{chain: map[string][]byte{}, current: KeyId(current)}
	for _, m := range append([][]byte{current}, previous...) {
		if len(m) == 0 {
			continue
		}
		k.masters = append(k.masters, m)
		k.chain[KeyId(m)] = derive(m, labelChain)
	}
	return k
}

// hashKeyId returns the key id a stored hash names, and whether the hash
// is in the v2 format.
func hashKeyId(hash string) (string, bool) {
	rest, ok := strings.CutPrefix(hash, hashV2+":")
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, ":")
	return id, true
}
