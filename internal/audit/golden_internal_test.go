package audit

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/testapp"
)

// goldenMaster is the master key of the golden hashes.
var goldenMaster = []byte("golden master key of the audit, 32+ bytes")

// goldenRows are two entries of a chain, as stored (without seq's hash).
func goldenRows() [2]row {
	return [2]row{
		{Seq: 1, Id: "golden000000001", Event: "session.started", Actor: "sywbhecnh46rhm0", ActorCollection: "_superusers",
			Target: "4q1xlclmfloku33", TargetCollection: "_pb_users_auth_", Session: "sessgolden00001", Reason: "ticket #1",
			Data: `{"mode":"read"}`, Created: "2026-11-30 12:00:00.000Z"},
		{Seq: 2, Id: "golden000000002", Event: "request", Actor: "sywbhecnh46rhm0", ActorCollection: "_superusers",
			Target: "4q1xlclmfloku33", TargetCollection: "_pb_users_auth_", Session: "sessgolden00001",
			IP: "127.0.0.1", UserAgent: "curl/8", Method: "GET", Path: "/api/collections/posts/records", Status: 200,
			Data: "null", Created: "2026-11-30 12:00:01.000Z"},
	}
}

// TestGoldenV1 pins the v1 hash format: chains written in it must verify
// for ever, so these hashes never change (they were checked against an
// independent implementation: Python's hmac and json.dumps).
func TestGoldenV1(t *testing.T) {
	rows := goldenRows()
	l := newLinker(goldenMaster)
	h1 := l.link("", rows[0])
	h2 := l.link(h1, rows[1])
	for _, c := range []struct{ name, got, want string }{
		{"entry 1", h1, "ac7b93d0fe2c4826e12b445ffc8b06a88579144315859e1eaa55e3851da5b352"},
		{"entry 2", h2, "7aa820cf10961cc37dc00aa0321c72b745e72e0cfb501d631f30e73abe4c3fc9"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}
}

// TestGoldenV2 pins the v2 format: the derived keys and the hashes, checked
// against an independent implementation (Python's hmac and json.dumps).
func TestGoldenV2(t *testing.T) {
	rows := goldenRows()
	id := KeyId(goldenMaster)
	l := newLinkerV2(id, derive(goldenMaster, labelChain))
	h1 := l.link("", rows[0])
	h2 := l.link(h1, rows[1])
	for _, c := range []struct{ name, got, want string }{
		{"key id", id, "4cb03adc0ae81f36"},
		{"redact key", hex.EncodeToString(RedactKey(goldenMaster)), "b84d2a7bf7b740b638f37e4ec5326511c9e589f93ef885a51975fee7f974a909"},
		{"entry 1", h1, "v2:4cb03adc0ae81f36:79f9de8a75a22a03448e563a894e9d0ddcc7fbd3ffe93cddf9df5edf06d5841d"},
		{"entry 2", h2, "v2:4cb03adc0ae81f36:9c1aca0183dba1aace930ca0fe95fe75fdb7c34c8483fa93eda9804dcba42166"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}
}

// appendV1 appends n entries to app's chain in the v1 format, as the
// plugin wrote them before v2.
func appendV1(t *testing.T, app core.App, master []byte, n int) {
	t.Helper()
	err := app.RunInTransaction(func(tx core.App) error {
		var head row
		if err := tx.DB().NewQuery("SELECT [[seq]], [[hash]] FROM {{" + records.AuditCollection + "}} ORDER BY [[seq]] DESC LIMIT 1").One(&head); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		l, prev := newLinker(master), head.Hash
		rows := make([]row, n)
		for i := range rows {
			r, err := rowOf(Entry{Event: Request, Data: map[string]any{"v1": i}}, types.NowDateTime().String())
			if err != nil {
				return err
			}
			r.Seq = head.Seq + i + 1
			r.Hash = l.link(prev, r)
			rows[i], prev = r, r.Hash
		}
		return insertRows(tx, rows)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// chainOf returns the entries of app's chain (seq, event, data, hash), in
// order.
func chainOf(t *testing.T, app core.App) []row {
	t.Helper()
	var rows []row
	if err := app.DB().NewQuery("SELECT [[seq]], [[event]], [[data]], [[hash]] FROM {{" + records.AuditCollection + "}} ORDER BY [[seq]]").All(&rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestV1ChainGoesOnInV2: a v1 chain still verifies, goes on in v2 from a
// marked entry, and refuses v1 entries after that.
func TestV1ChainGoesOnInV2(t *testing.T) {
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	master := []byte("a v1 install's master key, 32 bytes+")
	l := New(app, clock.System, master)
	appendV1(t, app, master, 3)
	if res, err := l.Verify(nil); err != nil || !res.OK || res.Entries != 3 {
		t.Fatalf("the v1 chain: %+v %v", res, err)
	}

	if err := l.Append(app, []Entry{{Event: Request}, {Event: Request}}); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(nil); err != nil || !res.OK || res.Entries != 6 {
		t.Fatalf("the chain gone on in v2: %+v %v", res, err)
	}
	rows := chainOf(t, app)
	marker := rows[3]
	wantData := `{"format":"v2","keyId":"` + KeyId(master) + `","previous":"v1"}`
	if marker.Event != FormatChanged || marker.Data != wantData {
		t.Errorf("entry #4 is %s %s, want %s %s", marker.Event, marker.Data, FormatChanged, wantData)
	}
	for i, r := range rows {
		if _, v2 := hashKeyId(r.Hash); v2 != (i >= 3) {
			t.Errorf("entry #%d: hash %s", r.Seq, r.Hash)
		}
	}
	if err := l.Append(app, []Entry{{Event: Request}}); err != nil {
		t.Fatal(err)
	}
	if n := len(chainOf(t, app)); n != 7 {
		t.Errorf("a second v2 append marked again: %d entries, want 7", n)
	}

	// a v1 entry after v2 ones is a downgrade, even with a valid v1 hash
	appendV1(t, app, master, 1)
	res, err := l.Verify(nil)
	if err != nil || res.OK || res.Entries != 7 || !strings.Contains(res.Problem, "entry #8 is in the v1 format after v2 entries") {
		t.Errorf("a v1 entry after v2: %+v %v", res, err)
	}
}

// TestKeyRotation: entries written under a previous key verify while it is
// given; without it verify names the cause.
func TestKeyRotation(t *testing.T) {
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	old, current := []byte("the old master key of the audit, 32+"), []byte("the new master key of the audit, 32+")
	l := New(app, clock.System, old)
	if err := l.Append(app, []Entry{{Event: Request}, {Event: Request}}); err != nil {
		t.Fatal(err)
	}
	l = New(app, clock.System, current, old)
	if err := l.Append(app, []Entry{{Event: Request}, {Event: Request}}); err != nil {
		t.Fatal(err)
	}
	rows := chainOf(t, app)
	wantData := `{"format":"v2","keyId":"` + KeyId(current) + `","previous":"v2:` + KeyId(old) + `"}`
	if len(rows) != 5 || rows[2].Event != FormatChanged || rows[2].Data != wantData {
		t.Fatalf("the chain after the rotation: %+v", rows)
	}

	cases := []struct {
		name      string
		previous  [][]byte
		wantOK    bool
		wantCause string
	}{
		{"with the previous key", [][]byte{old}, true, ""},
		{"without it", nil, false, CauseKeyMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l = New(app, clock.System, current, c.previous...)
			res, err := l.Verify(nil)
			if err != nil || res.OK != c.wantOK || res.Cause != c.wantCause {
				t.Errorf("verify: %+v %v", res, err)
			}
			if ok, err := l.KeyMatches(); err != nil || ok != c.wantOK {
				t.Errorf("KeyMatches %v %v, want %v", ok, err, c.wantOK)
			}
		})
	}
}

// goldenChainKeys are the master keys of testdata/golden_chain.*: the
// chain was written under the first (three v1 entries, then v2) and goes
// on under the second.
var goldenChainKeys = [][]byte{
	[]byte("golden chain: the second master key, 32+ bytes"),
	[]byte("golden chain: the first master key, 32+ bytes"),
}

// TestGoldenChain pins the stored, hashed and exported forms of an entry
// with a real chain: testdata/golden_chain.jsonl and .csv are the exports
// of a chain the plugin wrote (v1 entries, the switch to v2, a key
// rotation; quotes, HTML characters, non-ASCII, a tab and a formula in its
// values), before the entry's fields were defined in one table. Stored
// again, that chain must verify under its keys and export to the same
// bytes: a change of a column's order, name or encoding fails here.
func TestGoldenChain(t *testing.T) {
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	l := New(app, clock.System, goldenChainKeys[0], goldenChainKeys[1])

	jsonl, err := os.ReadFile("testdata/golden_chain.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	for line := range bytes.Lines(jsonl) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(line, &fields); err != nil {
			t.Fatal(err)
		}
		var r row
		for _, c := range columns {
			raw := fields[c.name]
			if c.kind == jsonText {
				*c.str(&r) = string(raw)
				continue
			}
			if err := json.Unmarshal(raw, c.field(&r)); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		rows = append(rows, r)
	}
	if err := app.RunInTransaction(func(tx core.App) error { return insertRows(tx, rows) }); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(nil); err != nil || !res.OK || res.Entries != 9 {
		t.Fatalf("the golden chain does not verify: %+v %v", res, err)
	}

	for _, format := range []string{FormatJSONL, FormatCSV} {
		want, err := os.ReadFile("testdata/golden_chain." + format)
		if err != nil {
			t.Fatal(err)
		}
		x, err := NewExport(app, format, "")
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := x.Run(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("the %s export differs from testdata/golden_chain.%s:\n%s", format, format, got.String())
		}
	}
}
