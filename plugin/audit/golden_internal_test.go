package audit

import "testing"

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
