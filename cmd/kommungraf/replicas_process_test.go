package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// Two replicas as two processes: the kommungraf binary, built by the test,
// runs twice outside demo mode against one `kommungraf sim` process, the
// real PostgreSQL (school database, shared policy store, access log) and
// the real Redis (or the Redis Cluster of KOMMUNGRAF_TEST_REDIS_CLUSTER).

// pair is the shared environment of the two gateways.
type pair struct {
	bin, config string
	env         []string
	secKey      string // a security officer's API key
}

// gatewayProc is one running gateway process.
type gatewayProc struct {
	name string
	cmd  *exec.Cmd
	url  string
	log  *testenv.LogBuffer
	exit *procExit
}

// procExit is a process's end: done is closed once err is set.
type procExit struct {
	done chan struct{}
	err  error
}

// buildBinary builds ./cmd/kommungraf into the test's temp directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if _, serr := os.Stat("/usr/local/go/bin/go"); serr != nil {
			t.Skip("no go tool to build the gateway binary")
		}
		goBin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(t.TempDir(), "kommungraf")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess starts bin with args and waits until a line of its stderr
// matches ready; it returns the process, the submatches and its log. The
// process is killed at cleanup if still running.
func startProcess(t *testing.T, name string, env []string, ready *regexp.Regexp, bin string, args ...string) (*exec.Cmd, []string, *testenv.LogBuffer, *procExit) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &testenv.LogBuffer{}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exit := &procExit{done: make(chan struct{})}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if m := ready.FindStringSubmatch(line); m != nil {
				once.Do(func() { found <- m })
			}
		}
		exit.err = cmd.Wait()
		close(exit.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exit.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not exit", name)
		}
	})
	select {
	case m := <-found:
		return cmd, m, log, exit
	case <-exit.done:
		t.Fatalf("%s exited before it was ready: %v\n%s", name, exit.err, log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not ready within 60s:\n%s", name, log.String())
	}
	return nil, nil, nil, nil
}

func newPair(t *testing.T) *pair {
	t.Helper()
	// The load of the tests below is one client's, as fast as it goes;
	// TestTwoGatewayProcessesShareTheRateLimit runs the limits.
	return newPairLimited(t, "  disabled: true\n")
}

// newPairLimited is newPair with rateLimit's keys as given (YAML lines
// under rateLimit:, indented two spaces).
func newPairLimited(t *testing.T, rateLimit string) *pair {
	t.Helper()
	pg := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	if os.Getenv(testenv.EnvRedisCluster) != "" {
		redisURL = testenv.RedisClusterURL(t)
	}
	bin := buildBinary(t)

	// The simulators, seeding the school database into PostgreSQL.
	urlRe := regexp.MustCompile(`^\s+(folkbokforing|etjanst|geodata|avfall)\s+(http://\S+)`)
	simEnv := []string{}
	sim := map[string]string{}
	_, _, simLog, _ := startProcess(t, "sim", simEnv, regexp.MustCompile(`^counters at /__stats`), bin,
		"sim", "--navet-addr", "127.0.0.1:0", "--etjanst-addr", "127.0.0.1:0", "--geodata-addr", "127.0.0.1:0",
		"--avfall-addr", "127.0.0.1:0", "--people", "2000", "--database-url", pg)
	for _, line := range strings.Split(simLog.String(), "\n") {
		if m := urlRe.FindStringSubmatch(line); m != nil {
			sim[m[1]] = m[2]
		}
	}
	if len(sim) != 4 {
		t.Fatalf("simulator URLs not found in:\n%s", simLog.String())
	}

	secKey, err := authz.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	version := "proc-" + hex.EncodeToString(randomBytes(t, 6))
	dir := t.TempDir()
	config := fmt.Sprintf(`server:
  addr: 127.0.0.1:0
  shutdownTimeout: 5s
sources:
  folkbokforing: { url: %q, orgNr: 212000-0000, bestallningsId: KOMMUNGRAF-DEMO }
  etjanst: { url: %q }
  geodata: { url: %q }
  avfall: { url: %q }
  tomningar: { url: %q }
  skoldatabas: { driver: postgres, dsn: %q }
redis:
  url: %q
cache:
  version: %s
  sources:
    geodata: { ttl: 1h, negativeTtl: 10m, staleIfError: 24h }
    skoldatabas: { ttl: 5m, negativeTtl: 1m, staleIfError: 1h }
auth:
  apiKeys:
    - { name: security, client: graphiql, roles: [security-officer], unit: Informationssäkerhet, sha256: %s }
authz:
  policyDatabaseUrl: %q
  policyStoreFile: ${KG_STATE}/policy.db
  requireApproval: false
  policyReloadInterval: 1h   # only the Redis announcement can carry a change within the test
  accessLog:
    databaseUrl: %q
    file: ${KG_STATE}/access.jsonl
    spool: ${KG_STATE}/access.spool.jsonl
rateLimit:
%slog:
  level: info
  format: json
`, sim["folkbokforing"], sim["etjanst"], sim["geodata"], sim["avfall"], sim["avfall"], pg, redisURL, version,
		authz.HashAPIKey(secKey), pg, pg, rateLimit)
	path := filepath.Join(dir, "kommungraf.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return &pair{bin: bin, config: path, secKey: secKey,
		env: []string{"KOMMUNGRAF_ACCESS_LOG_KEY=" + base64.StdEncoding.EncodeToString(randomBytes(t, 32))}}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// start runs one gateway process of the pair.
func (p *pair) start(t *testing.T, name string) *gatewayProc {
	t.Helper()
	state := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd, m, log, exit := startProcess(t, name, append(p.env, "KG_STATE="+state),
		regexp.MustCompile(`"msg":"kommungraf listening".*"url":"(http://[^"]+)"`), p.bin, "serve", "--config", p.config)
	return &gatewayProc{name: name, cmd: cmd, url: m[1], log: log, exit: exit}
}

// gqlResult is a GraphQL answer.
type gqlResult struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

var procClient = &http.Client{Timeout: 30 * time.Second}

func (g *gatewayProc) do(t *testing.T, method, path, auth string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, g.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := procClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", g.name, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (g *gatewayProc) query(t *testing.T, q string) gqlResult {
	t.Helper()
	status, b := g.do(t, "POST", "/graphql", "", map[string]string{"query": q})
	var r gqlResult
	if err := json.Unmarshal(b, &r); err != nil || status != 200 {
		t.Fatalf("%s: status %d, %v: %s", g.name, status, err, b)
	}
	return r
}

// metric sums the samples of a metric family on the replica's /metrics
// whose label text contains every want fragment.
func (g *gatewayProc) metric(t *testing.T, name string, want ...string) float64 {
	t.Helper()
	status, b := g.do(t, "GET", "/metrics", "", nil)
	if status != 200 {
		t.Fatalf("%s /metrics: %d", g.name, status)
	}
	var sum float64
line:
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, w := range want {
			if !strings.Contains(line, w) {
				continue line
			}
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// unitsQuery reads school units and their properties: the school database
// and the property register, both cached, open data (level 0).
const unitsQuery = `{ schoolUnits(first: 30) { edges { node { code name property { designation areaM2 } } } } }`

func TestTwoGatewayProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	p := newPair(t)
	a, b := p.start(t, "replica-a"), p.start(t, "replica-b")

	t.Run("the cache is shared", func(t *testing.T) {
		want := a.query(t, unitsQuery)
		if len(want.Errors) != 0 || !bytes.Contains(want.Data, []byte(`"designation"`)) {
			t.Fatalf("replica a: %s %v", want.Data, want.Errors)
		}
		if calls := a.metric(t, "kommungraf_upstream_calls_total", `source="geodata"`); calls == 0 {
			t.Fatal("replica a made no property register calls: the query does not exercise the cache")
		}
		geoBefore := b.metric(t, "kommungraf_upstream_calls_total", `source="geodata"`)
		got := b.query(t, unitsQuery)
		if !bytes.Equal(got.Data, want.Data) {
			t.Errorf("replica b answers differently:\n%s\n%s", got.Data, want.Data)
		}
		if calls := b.metric(t, "kommungraf_upstream_calls_total", `source="geodata"`) - geoBefore; calls != 0 {
			t.Errorf("replica b called the property register %v times: its first read was not warm from replica a's", calls)
		}
		if hits := b.metric(t, "kommungraf_cache_requests_total", `tier="redis"`, `result="hit"`); hits == 0 {
			t.Error("replica b has no Redis hits")
		}
	})

	t.Run("a policy change on one reaches the other", func(t *testing.T) {
		status, body := a.do(t, "GET", "/admin/api/policy", p.secKey, nil)
		if status != 200 {
			t.Fatalf("GET /admin/api/policy on a: %d %s", status, body)
		}
		var cur struct {
			Version uint64 `json:"version"`
			Text    string `json:"text"`
		}
		if err := json.Unmarshal(body, &cur); err != nil {
			t.Fatal(err)
		}
		text := cur.Text + "\np, *, SchoolUnit.name, read, *, 0, deny\n"
		status, body = a.do(t, "POST", "/admin/api/proposals", p.secKey, map[string]any{"baseVersion": cur.Version, "text": text, "comment": "two-process test"})
		if status != 201 {
			t.Fatalf("proposal on a: %d %s", status, body)
		}
		var res struct {
			Applied bool   `json:"applied"`
			Version uint64 `json:"version"`
		}
		if err := json.Unmarshal(body, &res); err != nil || !res.Applied {
			t.Fatalf("proposal on a not applied: %s", body)
		}
		applied := time.Now()
		for {
			_, body := b.do(t, "GET", "/admin/api/policy", p.secKey, nil)
			var live struct {
				LiveVersion uint64 `json:"liveVersion"`
			}
			_ = json.Unmarshal(body, &live)
			if live.LiveVersion == res.Version {
				break
			}
			if time.Since(applied) > 3*time.Second {
				t.Fatalf("replica b is at version %d 3s after a applied %d (the reload interval is 1h: only the announcement can carry it)", live.LiveVersion, res.Version)
			}
			time.Sleep(20 * time.Millisecond) // polling the other process
		}
		r := b.query(t, `{ schoolUnits(first: 1) { edges { node { code name } } } }`)
		denied := false
		for _, e := range r.Errors {
			if fmt.Sprint(e.Path) == "[schoolUnits edges 0 node name]" && e.Extensions["code"] == "FORBIDDEN" {
				denied = true
			}
		}
		if !denied || !bytes.Contains(r.Data, []byte(`"name":null`)) || !bytes.Contains(r.Data, []byte(`"code":"`)) {
			t.Errorf("replica b still serves SchoolUnit.name after the deny line: %s %v", r.Data, r.Errors)
		}
	})
}

// TestTwoGatewayProcessesSIGTERM (issue 12): a client that sends to whichever replica
// its readiness probe last found ready (as a load balancer does) loses no
// request when one replica gets SIGTERM under load. It needs the drain of
// issue 12's HTTP part (readiness 503 while the listener stays open for the
// grace): with a listener that closes at once, the requests sent between the
// signal and the next probe are refused.
func TestTwoGatewayProcessesSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	p := newPair(t)
	a, b := p.start(t, "replica-a"), p.start(t, "replica-b")
	replicas := []*gatewayProc{a, b}
	var ready [2]atomic.Bool
	ready[0].Store(true)
	ready[1].Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	// The load balancer's probe, every 50 ms.
	wg.Go(func() {
		probe := &http.Client{Timeout: 200 * time.Millisecond}
		for ctx.Err() == nil {
			for i, g := range replicas {
				resp, err := probe.Get(g.url + "/readyz")
				ok := err == nil && resp.StatusCode == 200
				if resp != nil {
					resp.Body.Close()
				}
				ready[i].Store(ok)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	var sent, lost atomic.Int64
	var lostMu sync.Mutex
	var lostWhy []string
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 8 {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				g := replicas[i%2]
				if !ready[i%2].Load() {
					g = replicas[(i+1)%2]
				}
				body := strings.NewReader(`{"query":"{ schoolUnits(first: 5) { edges { node { code property { designation } } } } }"}`)
				resp, err := client.Post(g.url+"/graphql", "application/json", body)
				sent.Add(1)
				status := 0
				if err == nil {
					status = resp.StatusCode
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || status != 200 {
					lost.Add(1)
					lostMu.Lock()
					lostWhy = append(lostWhy, fmt.Sprintf("%s: status %d err %v", g.name, status, err))
					lostMu.Unlock()
				}
			}
		})
	}
	time.Sleep(time.Second) // load on both before the signal
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exit.done:
		if a.exit.err != nil {
			t.Errorf("replica a exited with %v after SIGTERM", a.exit.err)
		}
	case <-time.After(15 * time.Second):
		t.Error("replica a did not exit within 15s of SIGTERM")
	}
	time.Sleep(500 * time.Millisecond) // load on b alone
	cancel()
	wg.Wait()
	t.Logf("%d requests sent to the pair, %d lost", sent.Load(), lost.Load())
	if lost.Load() != 0 {
		t.Errorf("%d of %d requests lost around the SIGTERM of replica a; first: %v", lost.Load(), sent.Load(), lostWhy[:min(5, len(lostWhy))])
	}
}

// TestTwoGatewayProcessesShareTheRateLimit: two gateway OS processes on
// one Redis share the anonymous callers' budget: of twelve requests from
// one address, sent to the two in turn, exactly the burst of six are
// served, and each process decided on Redis.
func TestTwoGatewayProcessesShareTheRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	p := newPairLimited(t, fmt.Sprintf(`  keyPrefix: "kgtest-%x:"
  clients:
    anonymous: { client: { rate: 1, period: 1m, burst: 6 }, user: { rate: 1, period: 1m, burst: 6 } }
`, randomBytes(t, 6)))
	a, b := p.start(t, "replica-a"), p.start(t, "replica-b")
	served := 0
	for i := range 12 {
		g := []*gatewayProc{a, b}[i%2]
		status, body := g.do(t, "POST", "/graphql", "", map[string]string{"query": "{ schoolUnits(first: 1) { totalCount } }"})
		switch {
		case status == http.StatusOK:
			served++
		case status != http.StatusTooManyRequests || !bytes.Contains(body, []byte(`"RATE_LIMITED"`)):
			t.Fatalf("request %d to %s: HTTP %d %s", i, g.name, status, body)
		}
	}
	if served != 6 {
		t.Errorf("the two processes served %d of 12, want the one burst of 6 between them", served)
	}
	for _, g := range []*gatewayProc{a, b} {
		if n := g.metric(t, "kommungraf_ratelimit_decisions_total", `backend="redis"`); n == 0 {
			t.Errorf("%s decided no request on Redis", g.name)
		}
	}
}
