package logsample

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines parses the JSON lines written so far and forgets them.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	dec := json.NewDecoder(&s.b)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	s.b.Reset()
	return out
}

func newTest(t *testing.T) (*slog.Logger, *Handler, *syncBuffer, *clock) {
	t.Helper()
	buf := &syncBuffer{}
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	// An interval far longer than the test: only the fake clock and Flush
	// end a window.
	h := New(slog.NewJSONHandler(buf, nil), Options{Interval: time.Hour, Now: clk.now})
	t.Cleanup(h.Close)
	return slog.New(h), h, buf, clk
}

// count returns how many lines have msg, and the suppressed count of the
// report for msg (-1 if none).
func count(lines []map[string]any, msg string) (n int, suppressed float64) {
	suppressed = -1
	for _, l := range lines {
		if l["msg"] == msg {
			n++
		}
		if l["msg"] == "repeated log lines suppressed" && l["message"] == msg {
			suppressed = l["suppressed"].(float64)
		}
	}
	return n, suppressed
}

func TestSampling(t *testing.T) {
	t.Parallel()
	log, h, buf, _ := newTest(t)
	for i := range 25 {
		log.Warn("sql query failed", "source", "skoldatabas", "kind", "unavailable", "request_id", i)
	}
	log.Warn("sql query failed", "source", "declared", "kind", "unavailable")
	log.Info("sql query failed", "source", "skoldatabas", "kind", "unavailable")
	h.Flush()
	lines := buf.lines(t)
	if n, sup := count(lines, "sql query failed"); n != DefaultFirst+2 || sup != 25-DefaultFirst {
		t.Errorf("%d lines passed and %v reported suppressed, want %d and %d:\n%v", n, sup, DefaultFirst+2, 25-DefaultFirst, lines)
	}
	for _, l := range lines {
		if l["msg"] == "repeated log lines suppressed" {
			if l["level"] != "WARN" || l["source"] != "skoldatabas" || l["kind"] != "unavailable" || l["passed"] != float64(DefaultFirst) {
				t.Errorf("report %v: want level WARN, the key attributes and passed=%d", l, DefaultFirst)
			}
		}
	}
	// Nothing suppressed since: no report.
	h.Flush()
	if lines := buf.lines(t); len(lines) != 0 {
		t.Errorf("a flush without suppressed lines wrote %v", lines)
	}
}

func TestSamplingWindow(t *testing.T) {
	t.Parallel()
	log, _, buf, clk := newTest(t)
	for range 3 * DefaultFirst {
		log.Error("request timed out")
	}
	clk.add(time.Hour)
	// The next line starts a new window: the old one is reported, and the
	// line passes.
	log.Error("request timed out")
	lines := buf.lines(t)
	if n, sup := count(lines, "request timed out"); n != DefaultFirst+1 || sup != 2*DefaultFirst {
		t.Errorf("%d passed, %v reported; want %d and %d", n, sup, DefaultFirst+1, 2*DefaultFirst)
	}
}

func TestSamplingWithAttrs(t *testing.T) {
	t.Parallel()
	log, h, buf, _ := newTest(t)
	a, b := log.With("component", "cache"), log.With("component", "policy")
	for range 2 * DefaultFirst {
		a.Warn("redis error")
		b.Warn("redis error")
	}
	h.Flush()
	lines := buf.lines(t)
	perComponent := map[any]int{}
	reports := map[any]float64{}
	for _, l := range lines {
		switch l["msg"] {
		case "redis error":
			perComponent[l["component"]]++
		case "repeated log lines suppressed":
			reports[l["component"]] = l["suppressed"].(float64)
		}
	}
	for _, c := range []string{"cache", "policy"} {
		if perComponent[c] != DefaultFirst || reports[c] != DefaultFirst {
			t.Errorf("component %s: %d passed, %v reported; want %d each", c, perComponent[c], reports[c], DefaultFirst)
		}
	}
}

// TestSamplingConcurrent: every line is either written or counted.
func TestSamplingConcurrent(t *testing.T) {
	t.Parallel()
	log, h, buf, _ := newTest(t)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				log.Warn("upstream call failed", "source", "folkbokforing")
			}
		})
	}
	wg.Wait()
	h.Close()
	n, sup := count(buf.lines(t), "upstream call failed")
	if n != DefaultFirst || float64(n)+sup != goroutines*each {
		t.Errorf("%d passed + %v suppressed, want %d passed of %d", n, sup, DefaultFirst, goroutines*each)
	}
}

// TestUnsampled: the messages of a log that is meant to have every line
// (the HTTP request log) all pass.
func TestUnsampled(t *testing.T) {
	t.Parallel()
	buf := &syncBuffer{}
	h := New(slog.NewJSONHandler(buf, nil), Options{Interval: time.Hour, Unsampled: []string{"http request"}})
	t.Cleanup(h.Close)
	log := slog.New(h)
	for range 3 * DefaultFirst {
		log.Info("http request", "status", 200)
		log.Info("other", "status", 200)
	}
	h.Flush()
	lines := buf.lines(t)
	if n, sup := count(lines, "http request"); n != 3*DefaultFirst || sup != -1 {
		t.Errorf("http request: %d passed, report %v; want all %d and no report", n, sup, 3*DefaultFirst)
	}
	if n, sup := count(lines, "other"); n != DefaultFirst || sup != 2*DefaultFirst {
		t.Errorf("other: %d passed, %v suppressed; want %d and %d", n, sup, DefaultFirst, 2*DefaultFirst)
	}
}
