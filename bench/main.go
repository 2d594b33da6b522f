// Command bench measures the impersonation plugin against plain PocketBase
// of the same version, both built from this module and served on loopback,
// and the audit at scale:
//
//	GOTOOLCHAIN=auto go run ./bench                 # the full run (~15 minutes)
//	GOTOOLCHAIN=auto go run ./bench -smoke          # seconds, small data: CI runs it so it cannot rot
//
// Rounds of the two sides of each comparison alternate (A B A B ...) in one
// run, and ratios are of medians, so a noisy machine hits both alike. It
// prints a table and writes it as JSON (-out). BENCHMARKS.md explains the
// figures. Nothing here is a pass/fail timing: the command fails only when
// something is wrong (an audit entry missing, a failed request).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// writers are the clients that write while others read, in the write
// contention comparison.
const writers = 2

// options are the command's flags.
type options struct {
	smoke     bool
	clients   int
	rounds    int
	roundTime time.Duration
	starts    int
	sizes     []int
	samples   int
	out       string
	keep      bool
	// only selects the comparisons whose name it matches
	only *regexp.Regexp
}

func parseOptions() (options, error) {
	var o options
	var sizes, only string
	flag.BoolVar(&o.smoke, "smoke", false, "a run of seconds on small data, to check that the command works")
	flag.IntVar(&o.clients, "clients", 8, "concurrent clients of the throughput rounds")
	flag.IntVar(&o.rounds, "rounds", 7, "rounds of each side of a comparison")
	flag.DurationVar(&o.roundTime, "round", 4*time.Second, "length of one throughput round")
	flag.IntVar(&o.starts, "starts", 30, "session starts (and built-in impersonate calls) per round")
	flag.StringVar(&sizes, "sizes", "250000,500000,1000000", "audit sizes measured, in entries, ascending (\"\" for none)")
	flag.StringVar(&only, "only", "", "a regexp: run only the comparisons whose name it matches")
	flag.IntVar(&o.samples, "samples", 50, "answers timed per audit query")
	flag.StringVar(&o.out, "out", "bench-results.json", "where the JSON report goes")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directories (their path is printed)")
	flag.Parse()
	if o.smoke {
		o.clients, o.rounds, o.roundTime, o.starts, sizes, o.samples = 4, 2, 300*time.Millisecond, 3, "2000,4000", 5
	}
	var err error
	if o.only, err = regexp.Compile(only); err != nil {
		return o, fmt.Errorf("-only: %w", err)
	}
	for _, s := range strings.Split(sizes, ",") {
		if sizes == "" {
			break
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < seedBatch || (len(o.sizes) > 0 && n <= o.sizes[len(o.sizes)-1]) {
			return o, fmt.Errorf("-sizes: %q is not an ascending list of sizes of at least %d", sizes, seedBatch)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.clients < 1 || o.rounds < 1 || o.starts < 1 || o.samples < 1 {
		return o, errors.New("-clients, -rounds, -starts and -samples must be positive")
	}
	return o, nil
}

// report is the JSON the command writes.
type report struct {
	When        time.Time    `json:"when"`
	Machine     machine      `json:"machine"`
	Smoke       bool         `json:"smoke"`
	Clients     int          `json:"clients"`
	Rounds      int          `json:"rounds"`
	RoundTime   string       `json:"roundTime"`
	Comparisons []comparison `json:"comparisons"`
	Audit       entryCount   `json:"audit"`
	// Mover is how far the audit table lagged the journal, and how large
	// the journal grew, while impersonated rounds ran.
	Mover mover       `json:"mover"`
	Scale []scaleStep `json:"scale"`
}

// entryCount compares the impersonated responses the clients received with
// the request entries the audit holds: they must be equal.
type entryCount struct {
	Responses int  `json:"impersonatedResponses"`
	Entries   int  `json:"requestEntries"`
	Equal     bool `json:"equal"`
}

type machine struct {
	CPU  string `json:"cpu"`
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Go   string `json:"go"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	o, err := parseOptions()
	if err != nil {
		log.Fatal(err)
	}
	rep, err := run(o)
	if err != nil {
		log.Fatal(err)
	}
	printReport(os.Stdout, rep)
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		err = os.WriteFile(o.out, append(raw, '\n'), 0o644)
	}
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", o.out)
	if !rep.Audit.Equal {
		log.Fatalf("audit entries lost: %d impersonated responses, %d request entries", rep.Audit.Responses, rep.Audit.Entries)
	}
	for _, c := range rep.Comparisons {
		if c.Failures > 0 {
			log.Fatalf("%s: %d of %d requests failed", c.Name, c.Failures, c.Requests)
		}
	}
}

func run(o options) (rep report, err error) {
	rep = report{When: time.Now().UTC(), Machine: describeMachine(), Smoke: o.smoke,
		Clients: o.clients, Rounds: o.rounds, RoundTime: o.roundTime.String()}
	dir, err := os.MkdirTemp("", "impersonation-bench-")
	if err != nil {
		return rep, err
	}
	if o.keep {
		log.Printf("data in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	log.Print("building plain PocketBase and the project")
	plainBin, err := build(dir, "./bench/plainpb", "plain")
	if err != nil {
		return rep, err
	}
	projectBin, err := build(dir, ".", "project")
	if err != nil {
		return rep, err
	}
	plain, err := newServer("plain", plainBin, filepath.Join(dir, "plain_data"))
	if err != nil {
		return rep, err
	}
	project, err := newServer("project", projectBin, filepath.Join(dir, "project_data"))
	if err != nil {
		return rep, err
	}
	for _, s := range []*server{plain, project} {
		if err := s.start(); err != nil {
			return rep, err
		}
		defer s.stop()
	}

	log.Print("seeding users and notes")
	pf, err := newFixtures(plain, o.clients)
	if err != nil {
		return rep, err
	}
	jf, err := newFixtures(project, o.clients)
	if err != nil {
		return rep, err
	}
	impersonated, err := jf.impersonate()
	if err != nil {
		return rep, err
	}

	log.Print("comparisons")
	watch := &journalWatch{srv: project}
	views, impViews := jf.views(), impersonated.views()
	lists, impLists := jf.lists(), impersonated.lists()
	impViews.watch, impLists.watch = watch, watch
	// each returns its comparison and the rounds of impersonated requests,
	// whose answers the audit counts
	comparisons := []struct {
		name string
		run  func(name string) (comparison, []round, error)
	}{
		{"ordinary view", func(name string) (comparison, []round, error) {
			c, _, _ := compareThroughput(name, "plain", "project", pf.views(), jf.views(), o, 0.98)
			return c, nil, nil
		}},
		{"ordinary filtered list", func(name string) (comparison, []round, error) {
			c, _, _ := compareThroughput(name, "plain", "project", pf.lists(), jf.lists(), o, 0.98)
			return c, nil, nil
		}},
		{"impersonated view", func(name string) (comparison, []round, error) {
			c, _, imp := compareThroughput(name, "normal", "impersonated", views, impViews, o, 0.90)
			return c, imp, nil
		}},
		{"impersonated filtered list", func(name string) (comparison, []round, error) {
			c, _, imp := compareThroughput(name, "normal", "impersonated", lists, impLists, o, 0.90)
			return c, imp, nil
		}},
		{"impersonated view, two masked fields", func(name string) (comparison, []round, error) {
			return compareMasked(name, jf, impViews, o)
		}},
		{"impersonated view, one webhook sink", func(name string) (comparison, []round, error) {
			return compareSink(name, jf, impViews, o)
		}},
		{"other users' writes while reading", func(name string) (comparison, []round, error) {
			c, imp := compareUnderReads(name, "own tokens read", "impersonation tokens read",
				jf.noteCreates(), views, impViews, writers, o, 0.95)
			return c, imp, nil
		}},
		{"session start", func(string) (comparison, []round, error) {
			c, err := compareStarts(pf, jf, o)
			return c, nil, err
		}},
	}
	for _, c := range comparisons {
		if !o.only.MatchString(c.name) {
			continue
		}
		log.Print(c.name)
		got, imp, err := c.run(c.name)
		if err != nil {
			return rep, err
		}
		rep.Comparisons = append(rep.Comparisons, got)
		rep.Audit.Responses += responses(imp)
	}

	rep.Mover = watch.report()
	if rep.Audit.Entries, err = countRequestEntries(project); err != nil {
		return rep, err
	}
	rep.Audit.Equal = rep.Audit.Entries == rep.Audit.Responses
	plain.stop()
	project.stop()

	if len(o.sizes) > 0 {
		rep.Scale, err = runScale(project, o)
	}
	return rep, err
}

// runScale seeds the project's audit to each of o.sizes in turn, with the
// server stopped, and measures it served.
func runScale(project *server, o options) ([]scaleStep, error) {
	total := o.sizes[len(o.sizes)-1]
	var steps []scaleStep
	var seeded int
	before := int64(0)
	for _, size := range o.sizes {
		log.Printf("seeding the audit to %d entries", size)
		s, err := newSeeder(project.dataDir)
		if err != nil {
			return steps, err
		}
		if before == 0 {
			if err := checkpoint(s.app); err != nil {
				return steps, err
			}
			before = project.dbBytes()
		}
		s.written = seeded
		if err := s.seedTo(size, total); err != nil {
			return steps, err
		}
		seeded = s.written
		if err := checkpoint(s.app); err != nil {
			return steps, err
		}
		bytes := project.dbBytes()
		if err := s.close(); err != nil {
			return steps, err
		}

		if err := project.start(); err != nil {
			return steps, err
		}
		step, err := measureScale(project, s, total, o.samples)
		project.stop()
		if err != nil {
			return steps, err
		}
		step.DBBytes = bytes
		step.BytesPerEntry = float64(bytes-before) / float64(seeded)
		steps = append(steps, step)
	}
	return steps, nil
}

func responses(rounds []round) int {
	n := 0
	for _, r := range rounds {
		n += r.requests
	}
	return n
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	return m
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
