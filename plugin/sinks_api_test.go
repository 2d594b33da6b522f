package plugin_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/hooks"
	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/plugin"
)

const (
	sinksURL       = "/api/collections/impersonation_sinks/records"
	sinkId         = "sinkwebhook0001"
	sinkRecordURL  = sinksURL + "/" + sinkId
	sinkSecret     = "hunter2-sink-secret"
	checkpointURL  = "/api/impersonation/audit/checkpoint"
	witnessURL     = "/api/impersonation/audit/witness"
	closedReceiver = "http://127.0.0.1:1/never"
)

// withSink saves, in Go, a webhook sink with id sinkId and a secret,
// pointing at url, enabled or not.
func withSink(url string, enabled bool) func(testing.TB, *testApp) {
	return func(t testing.TB, app *testApp) {
		s, err := records.NewSink(app)
		if err != nil {
			t.Fatal(err)
		}
		s.Id = sinkId
		s.SetName("siem")
		s.SetType(records.SinkWebhook)
		s.SetURL(url)
		s.SetFormat(records.FormatJSONL)
		s.SetSecret(sinkSecret)
		s.SetEnabled(enabled)
		if err := app.Save(s); err != nil {
			t.Fatal(err)
		}
	}
}

// withRouteToSink saves the sink of withSink and a collection of the app's,
// routes, whose one record relates to it: a superuser may make one.
func withRouteToSink(t testing.TB, app *testApp) {
	withSink(closedReceiver, false)(t, app)
	sinksCollection, err := app.FindCollectionByNameOrId(records.SinksCollection)
	if err != nil {
		t.Fatal(err)
	}
	routes := core.NewBaseCollection("routes")
	routes.Fields.Add(&core.RelationField{Name: "sink", CollectionId: sinksCollection.Id, MaxSelect: 1})
	mustSave(t, app, routes)
	r := core.NewRecord(routes)
	r.Set("sink", sinkId)
	mustSave(t, app, r)
}

// sinkEntries returns the data of the sink.* audit entries, each with its
// event under "event", and fails if any holds the secret.
func sinkEntries(t testing.TB, app core.App) []map[string]any {
	t.Helper()
	var entries []*core.Record
	err := app.RecordQuery(records.AuditCollection).AndWhere(dbx.Like("event", "sink.").Match(false, true)).OrderBy("seq").All(&entries)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, len(entries))
	for i, e := range entries {
		if strings.Contains(e.GetString("data"), sinkSecret) {
			t.Errorf("the %s entry holds the secret: %s", e.GetString("event"), e.GetString("data"))
		}
		data := map[string]any{}
		if err := e.UnmarshalJSONField("data", &data); err != nil {
			t.Fatal(err)
		}
		data["event"] = e.GetString("event")
		out[i] = data
	}
	return out
}

// expectSinkEntries returns an AfterTestFunc that checks the sink.*
// entries' events, that none holds the secret, and that the audit's
// export does not either.
func expectSinkEntries(events ...string) func(testing.TB, *tests.TestApp, *http.Response) {
	return func(t testing.TB, app *tests.TestApp, _ *http.Response) {
		var got []string
		for _, e := range sinkEntries(t, app) {
			got = append(got, e["event"].(string))
		}
		if !slices.Equal(got, events) {
			t.Errorf("sink entries %v, want %v", got, events)
		}
		x, err := audit.NewExport(app, audit.FormatJSONL, "")
		if err != nil {
			t.Fatal(err)
		}
		var export bytes.Buffer
		if _, err := x.Run(&export); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(export.String(), sinkSecret) {
			t.Error("the audit export holds the sink's secret")
		}
	}
}

// storedSink returns the stored sink sinkId.
func storedSink(t testing.TB, app core.App) *core.Record {
	t.Helper()
	r, err := app.FindRecordById(records.SinksCollection, sinkId)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSinksRecords: superusers add, change and remove sinks through the
// records API; each change is audited without the secret, which no answer
// holds; the delivery's state cannot be set through the API, batch
// included; a sink that could not deliver is refused.
func TestSinksRecords(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	noSecret := []string{sinkSecret, `"secret"`}
	scenarios := []tests.ApiScenario{
		{
			Name: "a superuser adds a webhook: audited, the secret kept and never answered", Method: http.MethodPost, URL: sinksURL,
			Body: jsonBody(map[string]any{"name": "siem", "type": "webhook", "url": "https://logs.example.com/ingest?token=abc",
				"format": "jsonl", "secret": sinkSecret, "enabled": true}),
			Headers: superuser, ExpectedStatus: 200, ExpectedContent: []string{`"name":"siem"`, `"deliveredSeq":0`},
			NotExpectedContent: noSecret,
			TestAppFactory:     factory(plugin.Config{}, nil),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectSinkEntries("sink.created")(t, app, res)
				after := sinkEntries(t, app)[0]["after"].(map[string]any)
				if after["hasSecret"] != true || after["url"] != "https://logs.example.com/ingest?redacted" || after["id"] == "" {
					t.Errorf("the entry's sink: %v", after)
				}
				var stored string
				if err := app.DB().NewQuery("SELECT secret FROM impersonation_sinks").Row(&stored); err != nil || stored != sinkSecret {
					t.Errorf("stored secret %q, %v", stored, err)
				}
			},
		},
		{
			Name: "a sink that starts from now starts at the head", Method: http.MethodPost, URL: sinksURL,
			Body:    jsonBody(map[string]any{"name": "new", "type": "file", "path": "new.jsonl", "format": "ocsf", "startFromNow": true}),
			Headers: superuser, ExpectedStatus: 200, ExpectedContent: []string{`"deliveredSeq":7`},
			TestAppFactory: factory(plugin.Config{}, withRequestsAndStarts),
			AfterTestFunc:  expectSinkEntries("sink.created"),
		},
		{
			Name: "a cursor set at creation is refused", Method: http.MethodPost, URL: sinksURL,
			Body:    jsonBody(map[string]any{"name": "x", "type": "file", "path": "x.jsonl", "format": "jsonl", "deliveredSeq": 99}),
			Headers: superuser, ExpectedStatus: 403,
			ExpectedContent: []string{`"code":"sink_state_read_only"`, `"field":"deliveredSeq"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
			AfterTestFunc:   expectSinkEntries(),
		},
		{
			Name: "a last error set at creation is refused", Method: http.MethodPost, URL: sinksURL,
			Body:    jsonBody(map[string]any{"name": "x", "type": "file", "path": "x.jsonl", "format": "jsonl", "lastError": "fine"}),
			Headers: superuser, ExpectedStatus: 403, ExpectedContent: []string{`"code":"sink_state_read_only"`},
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc:  expectSinkEntries(),
		},
		{
			Name: "a webhook without an http(s) URL is refused", Method: http.MethodPost, URL: sinksURL,
			Body:    jsonBody(map[string]any{"name": "x", "type": "webhook", "url": "ftp://logs.example.com/", "format": "jsonl"}),
			Headers: superuser, ExpectedStatus: 400, ExpectedContent: []string{`"code":"validation_sink_url"`},
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc:  expectSinkEntries(),
		},
		{
			Name: "a file sink cannot write onto the data directory's files", Method: http.MethodPost, URL: sinksURL,
			Body:    jsonBody(map[string]any{"name": "x", "type": "file", "path": "../impersonation_audit.key", "format": "jsonl"}),
			Headers: superuser, ExpectedStatus: 400, ExpectedContent: []string{`"code":"validation_sink_path"`},
			TestAppFactory: factory(plugin.Config{}, nil),
			AfterTestFunc:  expectSinkEntries(),
		},
		{
			Name: "a user cannot list the sinks", Method: http.MethodGet, URL: sinksURL,
			Headers: map[string]string{"Authorization": userToken}, ExpectedStatus: 403, NotExpectedContent: []string{"siem"},
			TestAppFactory: factory(plugin.Config{}, withSink(closedReceiver, false)),
		},
		{
			Name: "a superuser's list holds no secret", Method: http.MethodGet, URL: sinksURL,
			Headers: superuser, ExpectedStatus: 200, ExpectedContent: []string{`"name":"siem"`, `"totalItems":1`},
			NotExpectedContent: noSecret,
			TestAppFactory:     factory(plugin.Config{}, withSink(closedReceiver, false)),
		},
		{
			Name: "nor a superuser's view, asking for every field", Method: http.MethodGet, URL: sinkRecordURL + "?fields=*",
			Headers: superuser, ExpectedStatus: 200, ExpectedContent: []string{`"name":"siem"`},
			NotExpectedContent: noSecret,
			TestAppFactory:     factory(plugin.Config{}, withSink(closedReceiver, false)),
		},
		{
			Name: "nor a record that expands a sink", Method: http.MethodGet, URL: "/api/collections/routes/records?expand=sink",
			Headers: superuser, ExpectedStatus: 200, ExpectedContent: []string{`"expand":{"sink":{`, `"name":"siem"`},
			NotExpectedContent: noSecret,
			TestAppFactory:     factory(plugin.Config{}, withRouteToSink),
		},
		{
			Name: "a change is audited, its answer holds no secret", Method: http.MethodPatch, URL: sinkRecordURL,
			Body: jsonBody(map[string]any{"name": "siem 2", "enabled": true}), Headers: superuser, ExpectedStatus: 200,
			ExpectedContent: []string{`"name":"siem 2"`}, NotExpectedContent: noSecret,
			TestAppFactory: factory(plugin.Config{}, withSink(closedReceiver, false)),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectSinkEntries("sink.created", "sink.updated")(t, app, res)
				updated := sinkEntries(t, app)[1]
				before, _ := updated["before"].(map[string]any)
				after, _ := updated["after"].(map[string]any)
				if before["name"] != "siem" || after["name"] != "siem 2" || after["enabled"] != true {
					t.Errorf("the entry's sink before %v, after %v", before, after)
				}
			},
		},
		{
			Name: "the cursor cannot be moved", Method: http.MethodPatch, URL: sinkRecordURL,
			Body: jsonBody(map[string]any{"deliveredSeq": 1000000}), Headers: superuser, ExpectedStatus: 403,
			ExpectedContent: []string{`"code":"sink_state_read_only"`, `"field":"deliveredSeq"`},
			TestAppFactory:  factory(plugin.Config{}, withSink(closedReceiver, false)),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, res *http.Response) {
				expectSinkEntries("sink.created")(t, app, res)
				if s := storedSink(t, app); s.GetInt("deliveredSeq") != 0 {
					t.Errorf("deliveredSeq %d", s.GetInt("deliveredSeq"))
				}
			},
		},
		{
			Name: "nor the last attempt", Method: http.MethodPatch, URL: sinkRecordURL,
			Body: jsonBody(map[string]any{"lastAttempt": "2030-01-01 00:00:00.000Z"}), Headers: superuser, ExpectedStatus: 403,
			ExpectedContent: []string{`"field":"lastAttempt"`},
			TestAppFactory:  factory(plugin.Config{}, withSink(closedReceiver, false)),
		},
		{
			Name: "nor through a batch", Method: http.MethodPost, URL: "/api/batch",
			Body: jsonBody(map[string]any{"requests": []map[string]any{{
				"method": "PATCH", "url": sinkRecordURL, "body": map[string]any{"checkpointOffset": 99},
			}}}),
			Headers: superuser, ExpectedStatus: 400, ExpectedContent: []string{`sink_state_read_only`},
			TestAppFactory: factory(plugin.Config{}, withSink(closedReceiver, false)),
			AfterTestFunc: func(t testing.TB, app *tests.TestApp, _ *http.Response) {
				if s := storedSink(t, app); s.GetInt("checkpointOffset") != 0 {
					t.Errorf("checkpointOffset %d", s.GetInt("checkpointOffset"))
				}
			},
		},
		{
			Name: "a removal is audited", Method: http.MethodDelete, URL: sinkRecordURL, Headers: superuser, ExpectedStatus: 204,
			TestAppFactory: factory(plugin.Config{}, withSink(closedReceiver, false)),
			AfterTestFunc:  expectSinkEntries("sink.created", "sink.deleted"),
		},
		{
			Name: "the collection cannot be opened", Method: http.MethodPatch, URL: "/api/collections/impersonation_sinks",
			Body: jsonBody(map[string]any{"listRule": ""}), Headers: superuser, ExpectedStatus: 403,
			ExpectedContent: []string{`"code":"no_collection_change"`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// TestSinkSecretNotInRealtime: a superuser's realtime client, subscribed
// to the sinks as the dashboard may be, gets a sink's change without its
// secret, and cannot subscribe with options that read the secret.
func TestSinkSecretNotInRealtime(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	withSink(closedReceiver, false)(t, app)
	server := httptest.NewServer(serveMux(t, app.TestApp))
	defer server.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id, events := connectRealtime(t, ctx, server.URL)
	if res := post(t, server.URL+"/api/realtime", `{"clientId":"`+id+`","subscriptions":["impersonation_sinks/*"]}`, superuserToken); res.StatusCode != http.StatusNoContent {
		t.Fatalf("subscribe: %d", res.StatusCode)
	}
	s := storedSink(t, app)
	s.Set("name", "renamed")
	if err := app.Save(s); err != nil {
		t.Fatal(err)
	}
	event := <-events
	if !strings.Contains(event, `"name":"renamed"`) || strings.Contains(event, sinkSecret) || strings.Contains(event, `"secret"`) {
		t.Errorf("the realtime event: %s", event)
	}

	// nor can it filter the events by the secret, one guess at a time
	sub := func(options string) *http.Response {
		topic, _ := json.Marshal("impersonation_sinks/*?options=" + options)
		return post(t, server.URL+"/api/realtime", `{"clientId":"`+id+`","subscriptions":[`+string(topic)+`]}`, superuserToken)
	}
	for _, options := range []string{`{"query":{"filter":"secret~'hunter2'"}}`, `{"query":{"sort":"secret"}}`} {
		if res := sub(options); res.StatusCode != http.StatusBadRequest {
			t.Errorf("options %s: %d", options, res.StatusCode)
		}
	}
	if res := sub(`{"query":{"filter":"name='renamed'"}}`); res.StatusCode != http.StatusNoContent {
		t.Errorf("a filter on the name: %d", res.StatusCode)
	}
}

// TestCheckpointRoute: the latest signed checkpoint, to superusers only,
// once one was made.
func TestCheckpointRoute(t *testing.T) {
	t.Parallel()
	signed := func(t testing.TB, app *testApp) {
		withRequestsAndStarts(t, app)
		runJob(t, app, ids.CheckpointJobId)
	}
	scenarios := []tests.ApiScenario{
		{
			Name: "a guest", Method: http.MethodGet, URL: checkpointURL, ExpectedStatus: 401, ExpectedContent: []string{`"status":401`},
			TestAppFactory: factory(plugin.Config{}, signed),
		},
		{
			Name: "a user", Method: http.MethodGet, URL: checkpointURL, Headers: map[string]string{"Authorization": userToken},
			ExpectedStatus: 403, ExpectedContent: []string{`"status":403`},
			TestAppFactory: factory(plugin.Config{}, signed),
		},
		{
			Name: "none made yet", Method: http.MethodGet, URL: checkpointURL, Headers: map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 404, ExpectedContent: []string{`"code":"not_found"`},
			TestAppFactory: factory(plugin.Config{}, nil),
		},
		{
			Name: "the latest", Method: http.MethodGet, URL: checkpointURL, Headers: map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 200, ExpectedContent: []string{`"seq":7`, `"hash":"v2:`, `"created":"`, `"signature":"`, `"publicKey":"`},
			NotExpectedContent: []string{`"type"`},
			TestAppFactory:     factory(plugin.Config{}, signed),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}

// receiver is a webhook receiver started by a test: it keeps every line it
// took, in order.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	lines [][]byte
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			r.lines = append(r.lines, slices.Clone(sc.Bytes()))
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// witness returns what r took, as a file would hold it, once it holds a
// checkpoint of seq.
func (r *receiver) witness(t testing.TB, app *testApp, seq int) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		out := bytes.Join(r.lines, []byte("\n"))
		r.mu.Unlock()
		if bytes.Contains(out, []byte(`"type":"checkpoint","seq":`+strconvItoa(seq)+`,`)) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver never got the checkpoint of #%d: %s", seq, out)
		}
		app.clock.Advance(time.Minute) // the sinks' loops wait on the plugin's clock
		time.Sleep(5 * time.Millisecond)
	}
}

func strconvItoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// multipartWitness is a multipart body with the witness as its file field
// field.
func multipartWitness(t testing.TB, field string, witness []byte) (*bytes.Buffer, string) {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile(field, "witness.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	part.Write(witness)
	w.Close()
	return &body, w.FormDataContentType()
}

// TestWitness: a webhook sink added through the API gets the entries and
// the checkpoints; what it received, uploaded by a superuser or given to
// audit verify --witness, holds against the chain, fails once the chain
// does not verify (a prune faked), and once the chain is rolled back,
// naming the checkpoint it contradicts.
func TestWitness(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	r := newReceiver(t)
	mux := serveMux(t, app.TestApp)
	create := httptest.NewRequest(http.MethodPost, sinksURL, jsonBody(map[string]any{
		"name": "siem", "type": "webhook", "url": r.URL, "format": "jsonl", "enabled": true, "batchSeconds": 1}))
	create.Header.Set("Authorization", superuserToken)
	create.Header.Set("Content-Type", "application/json")
	if rec := httptest.NewRecorder(); func() int { mux.ServeHTTP(rec, create); return rec.Code }() != 200 {
		t.Fatal("the sink was not created")
	}
	withRequestsAndStarts(t, app) // seq 2..8, after sink.created
	runJob(t, app, ids.CheckpointJobId)
	witness := r.witness(t, app, 8)

	upload := func(body io.Reader, contentType, token string) (int, map[string]any) {
		req := httptest.NewRequest(http.MethodPost, witnessURL, body)
		req.Header.Set("Authorization", token)
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		var out map[string]any
		json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	verify := func() error {
		path := filepath.Join(t.TempDir(), "witness.jsonl")
		if err := os.WriteFile(path, witness, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := hooks.NewCommand(app, logOf(app))
		var stdout, stderr bytes.Buffer
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		cmd.SetArgs([]string{"audit", "verify", "--witness", path})
		err := cmd.Execute()
		if err == nil && !strings.Contains(stdout.String(), "witness ok: 1 checkpoints") {
			t.Errorf("verify --witness said %q", stdout.String())
		}
		return err
	}

	body, contentType := multipartWitness(t, "witness", witness)
	if code, out := upload(body, contentType, superuserToken); code != 200 || out["ok"] != true || out["checkpoints"] != 1.0 {
		t.Errorf("a whole chain: %d %v", code, out)
	}
	if code, out := upload(bytes.NewReader(witness), "application/x-ndjson", superuserToken); code != 200 || out["ok"] != true {
		t.Errorf("as the raw body: %d %v", code, out)
	}
	if err := verify(); err != nil {
		t.Errorf("verify --witness of a whole chain: %v", err)
	}
	if code, _ := upload(bytes.NewReader(witness), "application/x-ndjson", ""); code != 401 {
		t.Errorf("a guest: %d", code)
	}
	if code, _ := upload(bytes.NewReader(witness), "application/x-ndjson", userToken); code != 403 {
		t.Errorf("a user: %d", code)
	}
	if code, out := upload(strings.NewReader(" \n"), "application/x-ndjson", superuserToken); code != 400 || !strings.Contains(strings.Join(keys(out["data"]), ","), "witness") {
		t.Errorf("an empty witness: %d %v", code, out)
	}
	body, contentType = multipartWitness(t, "other", witness)
	if code, _ := upload(body, contentType, superuserToken); code != 400 {
		t.Errorf("no witness field: %d", code)
	}

	// the oldest entries deleted and a prune faked: the witness's
	// checkpoint is still held, but the chain does not verify
	if _, err := app.DB().Delete(records.AuditCollection, dbx.NewExp("seq <= 2")).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB().Update(records.AuditCollection, dbx.Params{"event": "audit.checkpoint",
		"data": `{"prunedThroughSeq":2,"prunedThroughHash":"forged"}`}, dbx.NewExp("seq = 3")).Execute(); err != nil {
		t.Fatal(err)
	}
	if code, out := upload(bytes.NewReader(witness), "application/x-ndjson", superuserToken); code != 200 || out["ok"] != false || out["code"] != "chain_not_verified" {
		t.Errorf("a faked prune: %d %v", code, out)
	}
	if err := verify(); err == nil || !strings.Contains(err.Error(), "chain_not_verified") {
		t.Errorf("verify --witness of a faked prune: %v", err)
	}

	// a restore of older data: the chain is rolled back to #5
	if _, err := app.DB().Delete(records.AuditCollection, dbx.NewExp("seq > 5")).Execute(); err != nil {
		t.Fatal(err)
	}
	code, out := upload(bytes.NewReader(witness), "application/x-ndjson", superuserToken)
	cp, _ := out["checkpoint"].(map[string]any)
	if code != 200 || out["ok"] != false || out["code"] != "not_held" || cp["seq"] != 8.0 {
		t.Errorf("a rolled-back chain: %d %v", code, out)
	}
	if err := verify(); err == nil || !strings.Contains(err.Error(), "entry #8") {
		t.Errorf("verify --witness of a rolled-back chain: %v", err)
	}
}

// TestWitnessWithoutKey: an install that never made a checkpoint has no
// key to check a witness with.
func TestWitnessWithoutKey(t *testing.T) {
	t.Parallel()
	(&tests.ApiScenario{
		Name: "no checkpoint key", Method: http.MethodPost, URL: witnessURL, Body: strings.NewReader(`{"type":"checkpoint"}`),
		Headers: map[string]string{"Authorization": superuserToken}, ExpectedStatus: 404, ExpectedContent: []string{`"code":"not_found"`},
		TestAppFactory: factory(plugin.Config{}, nil),
	}).Test(t)
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRetentionWaitsForSinks: the retention prunes no entry an enabled
// sink has not received, and alerts instead; a disabled sink holds
// nothing back; a sink made after a prune starts at the oldest entry left.
func TestRetentionWaitsForSinks(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{AuditRetention: 24 * time.Hour, AlertEmail: "security@example.com"})
	defer app.Cleanup()
	withSink(closedReceiver, true)(t, app) // sink.created: seq 1
	for range 3 {
		if err := logOf(app).Write(app, audit.Entry{Event: audit.SessionStarted}); err != nil {
			t.Fatal(err)
		}
	}
	app.clock.Advance(25 * time.Hour)
	runJob(t, app, ids.PruneAuditJobId)
	app.expectAudit(t, "sink.created", "session.started", "session.started", "session.started")
	waitForEmails(t, app.TestApp)
	alerts := 0
	for _, m := range app.TestMailer.Messages() {
		if strings.Contains(m.Subject, "sink behind") && strings.Contains(m.HTML, "siem") && strings.Contains(m.HTML, "4 entries") {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("%d sink alerts, want 1", alerts)
	}

	s := storedSink(t, app)
	s.Set("enabled", false)
	if err := app.Save(s); err != nil {
		t.Fatal(err)
	}
	app.clock.Advance(25 * time.Hour)
	runJob(t, app, ids.PruneAuditJobId)
	app.expectAudit(t, "audit.checkpoint")

	// a sink made now starts at the oldest entry left: what was pruned
	// before it existed is no gap of its own
	first, err := audit.FirstSeq(app)
	if err != nil || first < 2 {
		t.Fatalf("the oldest entry left: #%d, %v", first, err)
	}
	fresh, err := records.NewSink(app)
	if err != nil {
		t.Fatal(err)
	}
	fresh.SetName("fresh")
	fresh.SetType(records.SinkFile)
	fresh.SetPath("fresh.jsonl")
	fresh.SetFormat(records.FormatJSONL)
	if err := app.Save(fresh); err != nil {
		t.Fatal(err)
	}
	if fresh.DeliveredSeq() != first-1 {
		t.Errorf("a new sink's deliveredSeq is %d, want %d", fresh.DeliveredSeq(), first-1)
	}
}

// TestHangingReceiverHoldsNothingUp: while a webhook's receiver holds a
// batch without answering, impersonated requests are answered and audited,
// the mover moves their entries, and a superuser changes the sink; once it
// answers, the sink gets every entry, none missing.
func TestHangingReceiverHoldsNothingUp(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	var mu sync.Mutex
	var seqs []int
	got, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mu.Lock()
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			var l struct {
				Type string `json:"type"`
				Seq  int    `json:"seq"`
			}
			if json.Unmarshal(line, &l) == nil && l.Type == "" {
				seqs = append(seqs, l.Seq)
			}
		}
		mu.Unlock()
		once.Do(func() { close(got) })
		<-release
	}))
	defer hanging.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	withRequestsAndStarts(t, app)
	withSink(hanging.URL, true)(t, app)
	mux := serveMux(t, app.TestApp)

	// the loop waits on the plugin's clock; the receiver hangs on its first batch
	for waiting := true; waiting; {
		select {
		case <-got:
			waiting = false
		case <-time.After(10 * time.Millisecond):
			app.clock.Advance(time.Minute)
		}
	}
	for i := range 20 {
		if rec := send(mux, http.MethodGet, "/api/collections/users/records/"+userId+"?n="+strconvItoa(i), liveToken); rec.Code != 200 {
			t.Fatalf("an impersonated request while the receiver hangs: %d %s", rec.Code, rec.Body)
		}
	}
	if err := logOf(app).Flush(); err != nil {
		t.Fatalf("the mover, while the receiver hangs: %v", err)
	}
	rename := httptest.NewRequest(http.MethodPatch, sinkRecordURL, jsonBody(map[string]any{"name": "siem, renamed"}))
	rename.Header.Set("Authorization", superuserToken)
	rename.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, rename) // restarts the sink's loop: its hanging delivery is abandoned
	if rec.Code != 200 {
		t.Fatalf("a sink change while its receiver hangs: %d %s", rec.Code, rec.Body)
	}
	close(release)

	head, err := audit.HeadOf(app)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		have := map[int]bool{}
		for _, s := range seqs {
			have[s] = true
		}
		mu.Unlock()
		missing := 0
		for s := 1; s <= head.Seq; s++ {
			if !have[s] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d entries never reached the receiver", missing, head.Seq)
		}
		app.clock.Advance(time.Minute)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSinkSecretNotQueried: a superuser cannot read a sink's secret one
// guess at a time through a query that reads it, on the sinks (any
// spelling of the collection), through a relation or an @collection of
// another collection's filter, in a batch's sub-request or a realtime
// subscription's options; a query that does not read it is answered.
func TestSinkSecretNotQueried(t *testing.T) {
	t.Parallel()
	superuser := map[string]string{"Authorization": superuserToken}
	refused := []string{`"code":"sink_secret_read"`, `"field":"secret"`}
	guess := url.QueryEscape("secret~'hunter2'")
	scenarios := []tests.ApiScenario{
		{Name: "a filter on the secret", URL: sinksURL + "?filter=" + guess, ExpectedContent: append(refused, `"in":"filter"`)},
		{Name: "with a modifier, in another case", URL: sinksURL + "?filter=" + url.QueryEscape("SECRET:lower ?~ 'h'"), ExpectedContent: []string{`"code":"sink_secret_read"`}},
		{Name: "a sort on the secret", URL: sinksURL + "?sort=-secret", ExpectedContent: append(refused, `"in":"sort"`)},
		{Name: "the collection spelled otherwise", URL: "/api/collections/IMPERSONATION_SINKS/records?sort=secret", ExpectedContent: refused},
		{Name: "fields on a view", URL: sinkRecordURL + "?fields=id,secret", ExpectedContent: append(refused, `"in":"fields"`)},
		{Name: "through a relation", URL: "/api/collections/routes/records?filter=" + url.QueryEscape("sink.secret~'hunter2'"), ExpectedContent: refused},
		{Name: "through an expand's fields", URL: "/api/collections/routes/records?expand=sink&fields=" + url.QueryEscape("expand.sink.secret"), ExpectedContent: refused},
		{Name: "through @collection", URL: "/api/collections/users/records?filter=" + url.QueryEscape("@collection.impersonation_sinks.secret~'hunter2'"), ExpectedContent: refused},
		{Name: "through @collection in another case", URL: "/api/collections/users/records?filter=" + url.QueryEscape("@collection.Impersonation_Sinks.secret~'hunter2'"), ExpectedContent: refused},
		{Name: "in a batch's sub-request", Method: http.MethodPost, URL: "/api/batch",
			Body: jsonBody(map[string]any{"requests": []map[string]any{{
				"method": "PATCH", "url": sinkRecordURL + "?fields=secret", "body": map[string]any{"name": "renamed"},
			}}}), ExpectedContent: refused},
		{Name: "a string that says secret is not a read", URL: sinksURL + "?filter=" + url.QueryEscape("name!='secret'"), ExpectedStatus: 200,
			ExpectedContent: []string{`"totalItems":1`}},
		{Name: "another collection's query is answered", URL: "/api/collections/routes/records?expand=sink&sort=-id", ExpectedStatus: 200,
			ExpectedContent: []string{`"name":"siem"`}, NotExpectedContent: []string{sinkSecret}},
	}
	for _, s := range scenarios {
		if s.Method == "" {
			s.Method = http.MethodGet
		}
		if s.ExpectedStatus == 0 {
			s.ExpectedStatus = 400
			s.NotExpectedContent = []string{`"items"`}
		}
		s.Headers = superuser
		s.TestAppFactory = factory(plugin.Config{}, withRouteToSink)
		s.Test(t)
	}
}

// TestSinkPathThroughSymlinks: a file sink whose path reaches the data
// directory's files through a symlink (/proc/self/root, the tester's
// attack) is refused when saved, and nothing is written there.
func TestSinkPathThroughSymlinks(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, plugin.Config{})
	defer app.Cleanup()
	mux := serveMux(t, app.TestApp)
	data, err := filepath.Abs(app.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"/proc/self/root" + filepath.Join(data, "impersonation_audit.checkpoints"),
		"/proc/self/root" + filepath.Join(data, "data.db"),
		"/proc/self/root" + filepath.Join(data, "impersonation_audit.key"),
	} {
		rec := sendJSON(mux, http.MethodPost, sinksURL, fmt.Sprintf(`{"name":"x","type":"file","format":"jsonl","enabled":true,"path":%q}`, path), superuserToken)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"code":"validation_sink_path"`) {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	if n, err := app.CountRecords(records.SinksCollection); err != nil || n != 0 {
		t.Errorf("%d sinks saved, %v", n, err)
	}
}
