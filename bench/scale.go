package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/clock"
	"github.com/pbimpersonation/impersonation/plugin"
)

// Shape of the scale data: entries as impersonated requests would leave
// them, spread over seededDays, in sessions of entriesPerSession, about
// seededTargets users and seededActors staff.
const (
	seededDays        = 100
	entriesPerSession = 20
	seededTargets     = 1000
	seededActors      = 20
	seedBatch         = 1000 // entries per insert statement
)

// seeder appends scale data to a project data directory, with the plugin's
// own chained append, while the server is stopped.
type seeder struct {
	app     *pocketbase.PocketBase
	audit   *audit.Log
	written int
	first   time.Time // created of the first seeded entry
}

func newSeeder(dataDir string) (*seeder, error) {
	app := pocketbase.NewWithConfig(pocketbase.Config{DefaultDataDir: dataDir})
	if _, err := plugin.Register(app, plugin.Config{}); err != nil {
		return nil, err
	}
	if err := app.Bootstrap(); err != nil {
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(dataDir, plugin.AuditKeyFile))
	if err != nil {
		return nil, err
	}
	first := time.Now().UTC().Add(-seededDays * 24 * time.Hour).Truncate(24 * time.Hour)
	return &seeder{app: app, audit: audit.New(app, clock.System, key), first: first}, nil
}

// gap is the time between two seeded entries when total entries span
// seededDays.
func gap(total int) time.Duration { return seededDays * 24 * time.Hour / time.Duration(total) }

// seedTo appends entries until total have been written, timed as if total
// entries spanned seededDays.
func (s *seeder) seedTo(n, total int) error {
	for s.written < n {
		size := min(seedBatch, n-s.written)
		batch := make([]audit.Entry, size)
		for i := range batch {
			k := s.written + i
			created, err := types.ParseDateTime(s.first.Add(time.Duration(k) * gap(total)))
			if err != nil {
				return err
			}
			event := audit.Request
			if k%entriesPerSession == 0 {
				event = audit.SessionStarted
			}
			batch[i] = audit.Entry{
				Event:            event,
				Actor:            seededId("actor", k%seededActors),
				ActorCollection:  "pbc_3142635823",
				Target:           seededId("user", k%seededTargets),
				TargetCollection: "_pb_users_auth_",
				Session:          seededId("sess", k/entriesPerSession),
				Reason:           "ticket " + strconv.Itoa(k/entriesPerSession),
				Client: audit.Client{
					IP: "127.0.0.1", UserAgent: "bench", Method: http.MethodGet,
					Path: "/api/collections/notes/records", Status: http.StatusOK,
				},
				Data:    map[string]any{"route": "GET /api/collections/{collection}/records", "query": "page=1&perPage=30", "ms": 1},
				Created: created,
			}
		}
		if err := s.audit.Append(s.app, batch); err != nil {
			return err
		}
		s.written += size
	}
	return nil
}

func (s *seeder) close() error { return s.app.ResetBootstrapState() }

// seededId is the 15-character id of the i-th seeded record of a kind.
func seededId(kind string, i int) string { return fmt.Sprintf("%s%011d", kind, i) }

// scaleStep is what the audit measured at one size.
type scaleStep struct {
	Entries        int                `json:"entries"`
	Queries        map[string]latency `json:"queries"`
	VerifySeconds  float64            `json:"verifySeconds"`
	ExportPerSec   float64            `json:"exportEntriesPerSecond"`
	ExportMBPerSec float64            `json:"exportMBPerSecond"`
	DBBytes        int64              `json:"dbBytes"`
	BytesPerEntry  float64            `json:"bytesPerEntry"`
}

// latency is the spread of one query's answer times.
type latency struct {
	P50ms float64 `json:"p50ms"`
	P99ms float64 `json:"p99ms"`
}

// auditQueries are the records API lists the dashboard's audit page asks
// for (newest first, 30 a page, without a total: a count of a million rows
// is slow whatever the index), about the middle of the seeded entries.
func auditQueries(s *seeder, total int) map[string]string {
	middle := s.written / 2
	day := s.first.Add(time.Duration(middle) * gap(total))
	dt := func(t time.Time) string { return t.Format("2006-01-02 15:04:05.000Z") }
	return map[string]string{
		"latest page":          "",
		"by event":             fmt.Sprintf("event = %q", audit.SessionStarted),
		"by session":           fmt.Sprintf("session = %q", seededId("sess", middle/entriesPerSession)),
		"by target":            fmt.Sprintf("target = %q", seededId("user", middle%seededTargets)),
		"by actor, 1 day":      fmt.Sprintf("actor = %q && created >= %q && created < %q", seededId("actor", middle%seededActors), dt(day), dt(day.Add(24*time.Hour))),
		"by time range, 1 h":   fmt.Sprintf("created >= %q && created < %q", dt(day), dt(day.Add(time.Hour))),
		"by time range, 1 day": fmt.Sprintf("created >= %q && created < %q", dt(day), dt(day.Add(24*time.Hour))),
	}
}

// measureScale times the dashboard's audit queries, the chain's verify
// and the export on srv, which serves the seeded data.
func measureScale(srv *server, s *seeder, total, samples int) (scaleStep, error) {
	step := scaleStep{Entries: s.written, Queries: map[string]latency{}}
	for name, filter := range auditQueries(s, total) {
		q := url.Values{"sort": {"-created,-seq"}, "perPage": {"30"}, "skipTotal": {"1"}}
		if filter != "" {
			q.Set("filter", filter)
		}
		path := "/api/collections/impersonation_audit/records?" + q.Encode()
		var times []time.Duration
		for range samples {
			began := time.Now()
			var page struct{ Items []struct{ Id string } }
			if err := srv.call(http.MethodGet, path, srv.superuser, nil, &page); err != nil {
				return step, err
			}
			times = append(times, time.Since(began))
			if len(page.Items) == 0 {
				return step, fmt.Errorf("audit query %q found nothing", name)
			}
		}
		slices.Sort(times)
		step.Queries[name] = latency{P50ms: ms(percentile(times, 50)), P99ms: ms(percentile(times, 99))}
	}

	began := time.Now()
	var verified struct {
		OK      bool
		Entries int
	}
	if err := srv.call(http.MethodGet, "/api/impersonation/audit/verify", srv.superuser, nil, &verified); err != nil {
		return step, err
	}
	step.VerifySeconds = time.Since(began).Seconds()
	if !verified.OK || verified.Entries < s.written {
		return step, fmt.Errorf("verify: %+v with %d seeded", verified, s.written)
	}

	lines, bytes, took, err := exportAll(srv)
	if err != nil {
		return step, err
	}
	if lines < s.written {
		return step, fmt.Errorf("export gave %d entries, %d seeded", lines, s.written)
	}
	step.ExportPerSec = float64(lines) / took.Seconds()
	step.ExportMBPerSec = float64(bytes) / 1e6 / took.Seconds()
	return step, nil
}

// exportAll downloads the whole audit as JSON lines.
func exportAll(srv *server) (lines int, n int64, took time.Duration, err error) {
	req, err := http.NewRequest(http.MethodGet, srv.base+"/api/impersonation/audit/export?format=jsonl", nil)
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Authorization", srv.superuser)
	began := time.Now()
	res, err := srv.client.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, 0, 0, fmt.Errorf("export: %d", res.StatusCode)
	}
	r := bufio.NewReaderSize(res.Body, 1<<20)
	for {
		line, err := r.ReadSlice('\n')
		n += int64(len(line))
		if len(line) > 0 && line[len(line)-1] == '\n' {
			lines++
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return lines, n, 0, err
		}
	}
	return lines, n, time.Since(began), nil
}

// checkpoint folds the WAL into the database file, so that its size is
// the data's.
func checkpoint(app core.App) error {
	_, err := app.NonconcurrentDB().NewQuery("PRAGMA wal_checkpoint(TRUNCATE)").Execute()
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
