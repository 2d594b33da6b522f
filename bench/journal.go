package main

import (
	"slices"
	"sync"
	"time"
)

// journalWatch samples the project's audit journal (GET
// /api/impersonation/health) while impersonated rounds run: how far the
// audit table lags the journal, and how large the journal grows.
type journalWatch struct {
	srv *server

	mu      sync.Mutex
	lags    []time.Duration // the age of the oldest entry not yet in the table, per sample
	maxSize int64           // the largest journal seen, in bytes
	stop    chan struct{}
	done    chan struct{}
}

// watchEvery is how often a journalWatch samples.
const watchEvery = 50 * time.Millisecond

// start samples until end is called.
func (w *journalWatch) start() {
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		tick := time.NewTicker(watchEvery)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				w.sample()
			}
		}
	}()
}

// end stops the sampling that start began.
func (w *journalWatch) end() {
	close(w.stop)
	<-w.done
}

// sample reads the journal's backlog once.
func (w *journalWatch) sample() {
	var health struct {
		Journal struct {
			Oldest       string `json:"oldest"`
			JournalBytes int64  `json:"journalBytes"`
		} `json:"journal"`
	}
	asked := time.Now()
	if err := w.srv.call("GET", "/api/impersonation/health", w.srv.superuser, nil, &health); err != nil {
		return
	}
	lag := time.Duration(0)
	if oldest, err := time.Parse("2006-01-02 15:04:05.000Z", health.Journal.Oldest); err == nil {
		lag = max(0, asked.Sub(oldest))
	}
	w.mu.Lock()
	w.lags = append(w.lags, lag)
	w.maxSize = max(w.maxSize, health.Journal.JournalBytes)
	w.mu.Unlock()
}

// mover is what a journalWatch saw.
type mover struct {
	Samples         int     `json:"samples"`
	LagP50ms        float64 `json:"lagP50ms"`
	LagP99ms        float64 `json:"lagP99ms"`
	LagMaxms        float64 `json:"lagMaxms"`
	MaxJournalBytes int64   `json:"maxJournalBytes"`
}

// report returns what w saw.
func (w *journalWatch) report() mover {
	w.mu.Lock()
	defer w.mu.Unlock()
	lags := slices.Sorted(slices.Values(w.lags))
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	m := mover{Samples: len(lags), MaxJournalBytes: w.maxSize}
	if len(lags) > 0 {
		m.LagP50ms, m.LagP99ms, m.LagMaxms = ms(percentile(lags, 50)), ms(percentile(lags, 99)), ms(lags[len(lags)-1])
	}
	return m
}
