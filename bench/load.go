package main

import (
	"bytes"
	"cmp"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one kind of request a round sends: a path on a server, sent
// by client i with tokens[i % len(tokens)] and paths[i % len(paths)]; a GET,
// unless method is set (then with body, JSON, when not nil).
type target struct {
	srv    *server
	paths  []string
	tokens []string
	method string
	body   []byte
	// watch, when set, samples the audit journal while a round of t runs
	watch *journalWatch
}

// round is what one round of load measured.
type round struct {
	requests  int
	failures  int // answers other than 200
	perSecond float64
	p50, p99  time.Duration
}

// load sends requests of t from clients concurrent clients for d and
// returns what it measured. Every answer is read to its end, so a held-back
// response is counted only once it has arrived.
func load(t target, clients int, d time.Duration) round {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		failures atomic.Int64
	)
	if t.watch != nil {
		t.watch.start()
		defer t.watch.end()
	}
	stop := time.Now().Add(d)
	begin := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := t.srv.base + t.paths[i%len(t.paths)]
			token := t.tokens[i%len(t.tokens)]
			var mine []time.Duration
			method := cmp.Or(t.method, http.MethodGet)
			for time.Now().Before(stop) {
				req, _ := http.NewRequest(method, path, bytes.NewReader(t.body))
				req.Header.Set("Authorization", token)
				if t.body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				sent := time.Now()
				res, err := t.srv.client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mine = append(mine, time.Since(sent))
				if res.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	slices.Sort(all)
	return round{
		requests:  len(all),
		failures:  int(failures.Load()),
		perSecond: float64(len(all)) / elapsed.Seconds(),
		p50:       percentile(all, 50),
		p99:       percentile(all, 99),
	}
}

// percentile returns the p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

// median returns the median of xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// comparison is a ratio of B to A measured in alternating rounds
// (A B A B ...), so that drift of a noisy machine hits both alike.
type comparison struct {
	Name     string  `json:"name"`
	A        string  `json:"a"`
	B        string  `json:"b"`
	AValue   float64 `json:"aValue"`
	BValue   float64 `json:"bValue"`
	Unit     string  `json:"unit"`
	Ratio    float64 `json:"ratio"`
	Goal     string  `json:"goal"`
	Met      bool    `json:"met"`
	Requests int     `json:"requests"`
	Failures int     `json:"failures"`
}

// compareThroughput alternates rounds of a and b and compares their median
// requests per second: ratio = b / a, met when it is at least goal.
func compareThroughput(name, aName, bName string, a, b target, o options, goal float64) (comparison, []round, []round) {
	var as, bs []round
	var aRates, bRates []float64
	for range o.rounds {
		ra := load(a, o.clients, o.roundTime)
		rb := load(b, o.clients, o.roundTime)
		as, bs = append(as, ra), append(bs, rb)
		aRates, bRates = append(aRates, ra.perSecond), append(bRates, rb.perSecond)
	}
	c := comparison{
		Name: name, A: aName, B: bName, Unit: "req/s",
		AValue: median(aRates), BValue: median(bRates),
		Goal: "≥ " + ftoa(goal),
	}
	c.Ratio = c.BValue / c.AValue
	c.Met = c.Ratio >= goal
	for _, r := range slices.Concat(as, bs) {
		c.Requests += r.requests
		c.Failures += r.failures
	}
	return c, as, bs
}

// compareUnderReads alternates rounds in which writes are sent from
// writers clients while o.clients clients send aReads (A) or bReads (B), and
// compares the writes' median rate: ratio = B / A, met when it is at least
// goal. It also returns the rounds of bReads, whose answers the audit
// counts.
func compareUnderReads(name, aName, bName string, writes, aReads, bReads target, writers int, o options, goal float64) (comparison, []round) {
	var aRates, bRates []float64
	var bReadRounds []round
	c := comparison{Name: name, A: aName, B: bName, Unit: "writes/s", Goal: "≥ " + ftoa(goal)}
	for range o.rounds {
		for i, reads := range []target{aReads, bReads} {
			var read round
			var wg sync.WaitGroup
			wg.Go(func() { read = load(reads, o.clients, o.roundTime) })
			w := load(writes, writers, o.roundTime)
			wg.Wait()
			if i == 0 {
				aRates = append(aRates, w.perSecond)
			} else {
				bRates = append(bRates, w.perSecond)
				bReadRounds = append(bReadRounds, read)
			}
			c.Requests += w.requests + read.requests
			c.Failures += w.failures + read.failures
		}
	}
	c.AValue, c.BValue = median(aRates), median(bRates)
	c.Ratio = c.BValue / c.AValue
	c.Met = c.Ratio >= goal
	return c, bReadRounds
}

// compareToggled alternates rounds of requests to views with a setting off
// (A) and on (B), set between rounds, and compares their median requests
// per second: ratio = B / A, met when the setting costs at most 5 % of the
// throughput. It returns the rounds of both; the setting is left on.
func compareToggled(name, a, b string, views target, o options, set func(on bool) error) (comparison, []round, error) {
	var rounds []round
	var aRates, bRates []float64
	for range o.rounds {
		for _, on := range []bool{false, true} {
			if err := set(on); err != nil {
				return comparison{}, rounds, err
			}
			r := load(views, o.clients, o.roundTime)
			rounds = append(rounds, r)
			if on {
				bRates = append(bRates, r.perSecond)
			} else {
				aRates = append(aRates, r.perSecond)
			}
		}
	}
	c := comparison{Name: name, A: a, B: b, Unit: "req/s", AValue: median(aRates), BValue: median(bRates), Goal: "≥ 0.95"}
	c.Ratio = c.BValue / c.AValue
	c.Met = c.Ratio >= 0.95
	for _, r := range rounds {
		c.Requests += r.requests
		c.Failures += r.failures
	}
	return c, rounds, nil
}
