package gateway_test

// The gateway's CPU time per request (issue 10, item 5): what one query
// costs the process, not how long it takes. A warm Q1 makes no upstream
// call at all (every record comes from the in-process cache tier), so the
// process's CPU time is the gateway's: authentication, the dispatcher,
// authorization field by field, the access log entry, marshalling and the
// garbage they leave. docs/BENCHMARKS.md, "CPU per request", has the
// commands and the figures.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/testenv"
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
	work := make(chan struct{})
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
// of the process on this machine's cores. sims=in-process is the demo
// gateway with its simulators in the process (idle once the cache is warm);
// sims=external has them in a process of their own, as for the cold query
// below, so that their goroutines and heap are not the gateway's either.
//
//	go test -run '^$' -bench 'BenchmarkCPUWarmQ1' -benchtime 400x -count 5 ./cmd/kommungraf/internal/gateway/
func BenchmarkCPUWarmQ1(b *testing.B) {
	for _, sims := range []string{"in-process", "external"} {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("sims=%s/clients=%d", sims, clients), func(b *testing.B) {
				setup := benchSetup{cache: true, persona: "case-officer"}
				var g *benchGateway
				var calls func() int64
				if sims == "external" {
					driver, dsn := schoolDatabase(b, "sqlite")
					s := startSimulators(b, driver, dsn)
					g = newExternalGateway(b, s, driver, dsn, setup)
					calls = func() int64 { return s.calls(b, false) }
				} else {
					g = newBenchGateway(b, setup)
					calls = func() int64 { return countCalls(g.gw.Sim().Stats.Snapshot()).total }
				}
				c := newLeanClient(b, g, benchQ1)
				before := calls()
				r := measureCPU(b, c, clients)
				if n := calls() - before; n != 0 {
					b.Fatalf("warm Q1s made %d upstream calls; the CPU time would include fetching", n)
				}
				r.report(b)
			})
		}
	}
}

// The simulators in a process of their own. In process, their CPU time (the
// registry's XML, the REST simulators' JSON) is the process's too, and
// their goroutines and heap change how the runtime paces the garbage
// collector and sizes goroutine stacks. So for the cold query the test
// binary starts itself again as the simulators' process
// (TestCPUBenchSimulators), and the gateway runs outside demo mode against
// it, exactly as `kommungraf serve --config deploy/sim.yaml` against
// `kommungraf sim`: its process's CPU time is then the gateway's alone, and
// the simulators' is read from /proc for comparison.

// envBenchSimulators makes TestCPUBenchSimulators the simulators' process:
// its value is the school database to seed, "driver dsn".
const envBenchSimulators = "KOMMUNGRAF_BENCH_SIMULATORS"

// simulatorsReady starts the line in which the simulators' process tells its
// parent where they listen.
const simulatorsReady = "kommungraf-bench-simulators "

// TestCPUBenchSimulators is not a test: it is the process the CPU
// benchmarks start for the simulators (envBenchSimulators). It seeds the
// school database, serves the benchmarks' world with benchLatency, prints
// the simulators' URLs and serves until its standard input closes.
func TestCPUBenchSimulators(t *testing.T) {
	spec := os.Getenv(envBenchSimulators)
	if spec == "" {
		t.Skip("runs only as the simulators' process of the CPU benchmarks")
	}
	driver, dsn, _ := strings.Cut(spec, " ")
	ctx := context.Background()
	store, err := sqldb.Open(ctx, sqldb.Options{Driver: driver, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	err = sim.SeedSchoolDB(ctx, store, benchWorld())
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	r, err := sim.Start(ctx, sim.Options{World: benchWorld(), Latency: benchLatency()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	urls, _ := json.Marshal([]string{r.NavetURL, r.ETjanstURL, r.GeodataURL, r.AvfallURL})
	fmt.Printf("\n%s%s\n", simulatorsReady, urls)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// externalSimulators is the simulators' process.
type externalSimulators struct {
	cmd                         *exec.Cmd
	navet, etjanst, geo, avfall string
}

// startSimulators starts the simulators' process with the school database
// driver/dsn and stops it when the benchmark ends.
func startSimulators(b *testing.B, driver, dsn string) *externalSimulators {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCPUBenchSimulators$", "-test.count=1")
	cmd.Env = append(os.Environ(), envBenchSimulators+"="+driver+" "+dsn)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	s := &externalSimulators{cmd: cmd}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), simulatorsReady); ok {
			var urls []string
			if err := json.Unmarshal([]byte(rest), &urls); err != nil || len(urls) != 4 {
				b.Fatalf("simulators' process: %q", rest)
			}
			s.navet, s.etjanst, s.geo, s.avfall = urls[0], urls[1], urls[2], urls[3]
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return s
		}
	}
	b.Fatalf("the simulators' process ended before it served: %v", lines.Err())
	return nil
}

// cpu is the CPU time (user and system) the simulators' process has used,
// from /proc/<pid>/stat; 0 where there is no /proc.
func (s *externalSimulators) cpu() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name in parentheses: utime and stime
	// are the 14th and 15th of the line, in clock ticks (100 a second
	// on Linux).
	_, rest, _ := bytes.Cut(raw, []byte(") "))
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// calls are the simulators' calls since the last reset, summed.
func (s *externalSimulators) calls(b *testing.B, reset bool) int64 {
	b.Helper()
	var total int64
	for _, u := range []string{s.navet, s.etjanst, s.geo} {
		method := http.MethodGet
		if reset {
			method = http.MethodDelete
		}
		req, _ := http.NewRequest(method, u+"/__stats", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var m map[string]map[string]sim.Counter
		if !reset {
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				b.Fatal(err)
			}
		}
		resp.Body.Close()
		for _, ops := range m {
			for _, c := range ops {
				total += c.Calls
			}
		}
		if !reset {
			break // one Stats counts all three systems
		}
	}
	return total
}

// newExternalGateway starts a gateway outside demo mode against the
// simulators' process s, with bearer tokens from an identity provider of
// the test's (the demo's token issuer, whose keys it serves as a JWKS), so
// that a request is authenticated as in production.
func newExternalGateway(b *testing.B, s *externalSimulators, driver, dsn string, setup benchSetup) *benchGateway {
	b.Helper()
	dev, err := authz.NewDevIssuer(authz.DevIssuerOptions{Demo: true})
	if err != nil {
		b.Fatal(err)
	}
	idp := httptest.NewServer(dev.Handler())
	b.Cleanup(idp.Close)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b.Setenv(config.EnvAccessLogKey, base64.StdEncoding.EncodeToString(key))
	dir := b.TempDir()
	cfg := config.Demo()
	src := &cfg.Sources
	src.Folkbokforing.URL, src.Folkbokforing.OrgNr, src.Folkbokforing.BestallningsID = s.navet, gateway.DemoOrgNr, gateway.DemoOrder
	src.Etjanst.URL, src.Geodata.URL = s.etjanst, s.geo
	avfall := src.Declared["avfall"] // the declared system, with its declaration's defaults
	avfall.URL = s.avfall
	src.Declared["avfall"] = avfall
	src.Skoldatabas.Driver, src.Skoldatabas.DSN = driver, dsn
	cfg.Auth.OIDC = config.OIDC{Issuer: dev.Issuer(), JWKSURL: idp.URL + "/demo/jwks.json", Audience: dev.Audience(), Algorithms: []string{dev.Algorithm()}}
	cfg.Authz.AccessLog.File = filepath.Join(dir, "access.jsonl")
	cfg.Authz.AccessLog.Spool = filepath.Join(dir, "access.spool.jsonl")
	cfg.Authz.PolicyStoreFile = filepath.Join(dir, "policy.db")
	cfg.Cache.Disabled = !setup.cache
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{
		InsecureSkipAuthorization: setup.persona == "",
		Logger:                    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	return wrapBenchGateway(b, gw, setup.persona, dev.Token)
}

// schoolDatabase is the school database of a benchmark with the simulators
// in their own process: PostgreSQL (a fresh schema, as in the integration
// tests) where it runs, so that the queries run outside the gateway's
// process as in production, else an SQLite file, whose queries the
// gateway's process runs itself.
func schoolDatabase(b *testing.B, driver string) (string, string) {
	b.Helper()
	if driver == "postgres" {
		return driver, testenv.PostgresURL(b)
	}
	return "sqlite", filepath.Join(b.TempDir(), "skola.db")
}

// BenchmarkCPUColdQ2 is a cold Q2 (the record cache off, so every query
// reaches the simulated upstreams with benchLatency) as the preschool
// administrator, with the simulators in their own process (see
// TestCPUBenchSimulators) and the school database in PostgreSQL (db=postgres;
// skipped without it) or an SQLite file (db=sqlite, whose queries the
// gateway's process runs). cpu-ms/op is the gateway process's CPU time per
// query, sim-cpu-ms/op the simulators' process's.
//
//	go test -run '^$' -bench 'BenchmarkCPUColdQ2' -benchtime 20x -count 5 ./cmd/kommungraf/internal/gateway/
func BenchmarkCPUColdQ2(b *testing.B) {
	for _, db := range []string{"postgres", "sqlite"} {
		b.Run("db="+db, func(b *testing.B) {
			driver, dsn := schoolDatabase(b, db)
			s := startSimulators(b, driver, dsn)
			g := newExternalGateway(b, s, driver, dsn, benchSetup{persona: "preschool-admin"})
			c := newLeanClient(b, g, benchQ2)
			s.calls(b, true)
			sim0 := s.cpu()
			r := measureCPU(b, c, 1)
			simCPU := s.cpu() - sim0
			r.report(b)
			n := float64(max(r.queries, 1))
			b.ReportMetric(ms(simCPU)/n, "sim-cpu-ms/op")
			b.ReportMetric(float64(s.calls(b, false))/n, "upstream-calls/op")
		})
	}
}

// BenchmarkCPUAuthorizationOverhead is BenchmarkAuthorizationOverhead/warm
// in CPU time: a warm Q2 as the preschool administrator (authorization on,
// the demo's policy, the access log written) and on a gateway with
// authorization skipped, alternated query by query. cpu-ratio is the CPU
// time of the queries with authorization over the time of those without;
// the garbage one query leaves is collected during a later one, of either
// kind, so the figures are of many queries, not of one.
//
//	go test -run '^$' -bench 'BenchmarkCPUAuthorizationOverhead' -benchtime 100x -count 5 ./cmd/kommungraf/internal/gateway/
func BenchmarkCPUAuthorizationOverhead(b *testing.B) {
	off := newLeanClient(b, newBenchGateway(b, benchSetup{cache: true}), benchQ2)
	on := newLeanClient(b, newBenchGateway(b, benchSetup{cache: true, persona: "preschool-admin"}), benchQ2)
	var cpuOn, cpuOff time.Duration
	i := 0
	runtime.GC()
	for b.Loop() {
		first, second := off, on
		if i%2 == 1 { // alternate the order too
			first, second = on, off
		}
		i++
		for _, c := range []*leanClient{first, second} {
			start := processCPU(b)
			if err := c.post(); err != nil {
				b.Fatal(err)
			}
			if d := processCPU(b) - start; c == on {
				cpuOn += d
			} else {
				cpuOff += d
			}
		}
	}
	n := float64(max(i, 1))
	b.ReportMetric(ms(cpuOn)/n, "on-cpu-ms/op")
	b.ReportMetric(ms(cpuOff)/n, "off-cpu-ms/op")
	b.ReportMetric(float64(cpuOn)/float64(cpuOff), "cpu-ratio")
}

// BenchmarkCPUWarmQ1Parts takes the warm Q1's CPU time apart: the same
// query with authorization skipped, and also with batching off (no
// dispatcher counting the fields), in process. What is left with both off
// is gqlgen's execution of the query and the HTTP and loader plumbing
// around it.
//
//	go test -run '^$' -bench 'BenchmarkCPUWarmQ1Parts' -benchtime 400x -count 5 ./cmd/kommungraf/internal/gateway/
func BenchmarkCPUWarmQ1Parts(b *testing.B) {
	for _, c := range []struct {
		name  string
		setup benchSetup
	}{
		{"authorization=on/batching=on", benchSetup{cache: true, persona: "case-officer"}},
		{"authorization=skipped/batching=on", benchSetup{cache: true}},
		{"authorization=skipped/batching=off", benchSetup{cache: true, disableBatching: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := measureCPU(b, newLeanClient(b, newBenchGateway(b, c.setup), benchQ1), 1)
			r.report(b)
		})
	}
}
