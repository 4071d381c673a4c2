package gateway_test

// The declared leg that replaced hand-written code (issue 11): an errand's
// decisions, now read through schema/etjanst.yaml, must make the calls the
// hand-written leg made and cost within 10 % of its CPU. This file builds on
// bench_test.go's helpers only, so that the same file runs on a tree with
// the hand-written leg (docs/BENCHMARKS.md, "Declared leg vs hand-written
// (issue 11)", says how both figures were taken).

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchDecisions reads the decisions of a page of errands.
const benchDecisions = `{ errands(first: 50) { edges { node { decisions { outcome decidedAt law } } } } }`

// BenchmarkDecisionsLeg runs benchDecisions as the bygglov case officer
// (authorization on; she may read the BYGGLOV errands and their decisions),
// record cache off so that every query reaches the platform. It reports
// calls/query, the platform's listDecisions calls per query (one per
// errand of the page: the platform has no batch form), and cpu-ns/query,
// the process's CPU time (user + system, syscall.Getrusage) over the timed
// loop divided by the queries: the gateway's and the in-process
// simulators' own work. Run it with KOMMUNGRAF_BENCH_LATENCY=0, so that
// nothing but CPU is measured.
func BenchmarkDecisionsLeg(b *testing.B) {
	g := newBenchGateway(b, benchSetup{persona: "case-officer"})
	stats := g.gw.Sim().Stats

	// One query first: it must answer every errand with its decisions in
	// one call per errand, and it warms the connection pools.
	stats.Reset()
	body := benchPost(b, g, benchDecisions)
	var r struct {
		Data struct {
			Errands struct {
				Edges []struct {
					Node struct{ Decisions []json.RawMessage }
				}
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil {
		b.Fatal(err)
	}
	errands := len(r.Data.Errands.Edges)
	decided := 0
	for _, e := range r.Data.Errands.Edges {
		if e.Node.Decisions == nil {
			b.Fatalf("an errand without its decisions list: %.500s", body)
		}
		if len(e.Node.Decisions) > 0 {
			decided++
		}
	}
	if errands < 10 || decided == 0 {
		b.Fatalf("%d errands, %d with decisions: too few to measure", errands, decided)
	}
	if c := stats.Snapshot()["etjanst"]["listDecisions"]; c.Calls != int64(errands) || c.Keys != int64(errands) {
		b.Fatalf("listDecisions %+v for %d errands, want one call per errand", c, errands)
	}

	stats.Reset()
	before := cpuTime(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.query(b, benchDecisions)
	}
	b.StopTimer()
	cpu := cpuTime(b) - before
	c := stats.Snapshot()["etjanst"]["listDecisions"]
	b.ReportMetric(float64(c.Calls)/float64(b.N), "calls/query")
	b.ReportMetric(float64(errands), "errands/query")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/query")
}

// benchPost sends q and returns the answer's body; an answer with an
// error fails.
func benchPost(b *testing.B, g *benchGateway, q string) []byte {
	b.Helper()
	body, _ := json.Marshal(map[string]string{"query": q})
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", g.auth)
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
		b.Fatalf("HTTP %d: %.500s", rec.Code, rec.Body.String())
	}
	return rec.Body.Bytes()
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
