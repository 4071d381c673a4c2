package gateway_test

// The gateway's CPU time per request (issue 10, item 5): what one query
// costs the process, not how long it takes. A warm Q1 makes no upstream
// call at all (every record comes from the in-process cache tier), so the
// process's CPU time is the gateway's: authentication, the dispatcher,
// authorization field by field, the access log entry, marshalling and the
// garbage they leave. docs/BENCHMARKS.md, "CPU per request", has the
// commands and the figures.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user and system) the process has used so far,
// every goroutine included: the garbage collector's and the access log
// writer's too.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// leanClient posts one query to a gateway's handler in process with as
// little work of its own as possible, so that the process's CPU time is the
// gateway's: the request body is encoded once, and an answer is checked
// without decoding it (status 200, a data object, and every error code
// FORBIDDEN, which the caller's persona gets for protected persons).
type leanClient struct {
	g    *benchGateway
	body []byte
}

func newLeanClient(b *testing.B, g *benchGateway, q string) *leanClient {
	b.Helper()
	g.query(b, q) // the full check once, and the cache filled
	body, err := json.Marshal(map[string]string{"query": q})
	if err != nil {
		b.Fatal(err)
	}
	return &leanClient{g: g, body: body}
}

var (
	codeAny       = []byte(`"code":"`)
	codeForbidden = []byte(`"code":"FORBIDDEN"`)
	dataObject    = []byte(`"data":{`)
)

func (c *leanClient) post() error {
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(c.body))
	req.Header.Set("Content-Type", "application/json")
	if c.g.auth != "" {
		req.Header.Set("Authorization", c.g.auth)
	}
	rec := httptest.NewRecorder()
	c.g.handler.ServeHTTP(rec, req)
	out := rec.Body.Bytes()
	if rec.Code != http.StatusOK || !bytes.Contains(out, dataObject) ||
		bytes.Count(out, codeAny) != bytes.Count(out, codeForbidden) {
		return fmt.Errorf("query failed: HTTP %d: %.500s", rec.Code, out)
	}
	return nil
}

// cpuRun is what one CPU benchmark measured.
type cpuRun struct {
	cpu       time.Duration // the process's CPU time over the loop
	wall      time.Duration
	queries   int
	latencies []time.Duration
}

func (r *cpuRun) report(b *testing.B) {
	b.Helper()
	n := float64(max(r.queries, 1))
	b.ReportMetric(ms(r.cpu)/n, "cpu-ms/op")
	b.ReportMetric(n/r.wall.Seconds(), "req/s")
	slices.Sort(r.latencies)
	b.ReportMetric(ms(percentile(r.latencies, 0.5)), "median-ms")
}

// measureCPU posts the client's query b.N times from clients goroutines at
// once and measures the process's CPU time and the wall time over the loop.
func measureCPU(b *testing.B, c *leanClient, clients int) *cpuRun {
	b.Helper()
	r := &cpuRun{latencies: make([]time.Duration, 0, b.N)}
	var mu sync.Mutex
	work := make(chan struct{}, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range work {
				start := time.Now()
				if err := c.post(); err != nil {
					b.Error(err)
				}
				d := time.Since(start)
				mu.Lock()
				r.latencies = append(r.latencies, d)
				mu.Unlock()
			}
		})
	}
	runtime.GC() // the set-up's garbage is not the loop's
	cpu0, start := processCPU(b), time.Now()
	for b.Loop() {
		work <- struct{}{}
		r.queries++
	}
	close(work)
	wg.Wait()
	r.wall, r.cpu = time.Since(start), processCPU(b)-cpu0
	return r
}

// BenchmarkCPUWarmQ1 is a warm Q1 as the bygglov case officer, in the
// production configuration: config.Demo()'s batching wait, authorization on
// with the demo's policy and contracts, the access log written, every record
// from the in-process cache tier. cpu-ms/op is the process's CPU time per
// query; with one client, req/s is 1/latency, with 16 it is the throughput
// of the process on this machine's cores.
//
//	go test -run '^$' -bench 'BenchmarkCPUWarmQ1' -benchtime 400x -count 5 ./cmd/kommungraf/internal/gateway/
func BenchmarkCPUWarmQ1(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			g := newBenchGateway(b, benchSetup{cache: true, persona: "case-officer"})
			c := newLeanClient(b, g, benchQ1)
			stats := g.gw.Sim().Stats
			stats.Reset()
			r := measureCPU(b, c, clients)
			if calls := countCalls(stats.Snapshot()).total; calls != 0 {
				b.Fatalf("a warm Q1 made %d upstream calls; its CPU time would include the simulators'", calls)
			}
			r.report(b)
		})
	}
}
