package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// syncBuffer is a log sink tests read while the gateway writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines are the log lines containing s.
func (b *syncBuffer) lines(s string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// grepLines are the lines of s matching the regular expression re.
func grepLines(s, re string) string {
	rx := regexp.MustCompile(re)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if rx.MatchString(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// startLogged starts a demo gateway (authorization on) whose log goes to
// the returned buffer, with every simulated upstream call delayed by latency.
func startLogged(t *testing.T, mod func(*config.Config), latency time.Duration) (*demo, *syncBuffer) {
	t.Helper()
	cfg := config.Demo()
	cfg.Sources.Skoldatabas.QueryTimeout = 15 * time.Second
	if mod != nil {
		mod(cfg)
	}
	logs := &syncBuffer{}
	d := serve(t, cfg, gateway.Options{
		Demo: true, World: testWorld(), DemoLatency: latency,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return d, logs
}

// postGraphQL posts a query with auth ("" for none) and returns the status,
// the headers and the decoded body.
func postGraphQL(t *testing.T, client *http.Client, url, auth, query string) (int, http.Header, response) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("status %d, body not JSON: %s", resp.StatusCode, raw)
	}
	r.raw = string(raw)
	return resp.StatusCode, resp.Header, r
}

// waitMetric polls /metrics until it has the line want.
func waitMetric(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, m := getBody(t, url+"/metrics")
		if strings.Contains(m, want+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never had %q:\n%s", want, grepLines(m, "admission"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOverloadIsRefusedFastWithRetryAfter: with every slot busy and no
// queue, a request is answered at once with 503, Retry-After and
// OVERLOADED, while health, readiness and metrics still answer.
func TestOverloadIsRefusedFastWithRetryAfter(t *testing.T) {
	d, _ := startLogged(t, func(c *config.Config) {
		c.Server.Admission = config.Admission{MaxInFlight: 1, MaxQueue: 1, MaxQueueWait: 50 * time.Millisecond, RetryAfter: 2 * time.Second}
	}, 0)
	// Hold the one slot: the registry answers only after its deadline.
	d.gw.Sim().NavetFaults.Set(sim.FaultConfig{Latency: time.Hour})
	t.Cleanup(func() { d.gw.Sim().NavetFaults.Set(sim.FaultConfig{}) })
	officer := "Bearer " + d.token(t, "case-officer")
	done := make(chan int, 1)
	go func() {
		status, _, _ := postGraphQL(t, http.DefaultClient, d.srv.URL, officer, q1)
		done <- status
	}()
	waitMetric(t, d.srv.URL, "kommungraf_admission_in_flight 1")

	start := time.Now()
	status, h, r := postGraphQL(t, http.DefaultClient, d.srv.URL, officer, `{ schoolUnits(first: 1) { totalCount } }`)
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") != "2" || len(r.Errors) != 1 ||
		r.Errors[0].Extensions["code"] != "OVERLOADED" || string(r.Data) != "null" {
		t.Fatalf("over capacity: status %d, Retry-After %q, body %s; want 503, 2, one OVERLOADED", status, h.Get("Retry-After"), r.raw)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusal took %s; it should come after the queue wait (50ms)", d)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := getBody(t, d.srv.URL+path); code != http.StatusOK {
			t.Errorf("%s answered %d while GraphQL is at capacity", path, code)
		}
	}
	_, m := getBody(t, d.srv.URL+"/metrics")
	for _, want := range []string{
		`kommungraf_admission_requests_total{outcome="refused"} 1`,
		`kommungraf_admission_refused_total{reason="queue_timeout"} 1`,
		`kommungraf_admission_in_flight_limit 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "admission"))
		}
	}
	// The held request ends with its upstream's deadline; it was admitted,
	// so it is not refused.
	select {
	case s := <-done:
		if s == http.StatusServiceUnavailable {
			t.Errorf("the admitted request answered 503")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the admitted request did not finish")
	}
}

// TestClientsShareTheQueueFairly: one client application floods the
// gateway (more concurrent requests than slots and queue together); another
// client sending one request at a time is still served, every time.
func TestClientsShareTheQueueFairly(t *testing.T) {
	d, _ := startLogged(t, func(c *config.Config) {
		c.Server.Admission = config.Admission{MaxInFlight: 2, MaxQueue: 4, MaxQueueWait: 10 * time.Second}
	}, 30*time.Millisecond)
	flood := "Bearer " + d.token(t, "case-officer")    // client bygglov-app
	other := "Bearer " + d.token(t, "preschool-admin") // another client application
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var refused atomic.Int64
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				status, _, _ := postGraphQL(t, http.DefaultClient, d.srv.URL, flood, `{ errands(first: 5) { edges { node { errandNumber status } } } }`)
				if status == http.StatusServiceUnavailable {
					refused.Add(1)
				}
			}
		})
	}
	waitMetric(t, d.srv.URL, "kommungraf_admission_queued 4")
	for i := range 5 {
		status, _, r := postGraphQL(t, http.DefaultClient, d.srv.URL, other, `{ schoolUnits(first: 2) { totalCount } }`)
		if status != http.StatusOK || len(r.Errors) > 0 {
			t.Errorf("request %d of the other client during the flood: %d %s", i, status, r.raw)
		}
	}
	stop()
	wg.Wait()
	if refused.Load() == 0 {
		t.Error("the flood was never refused: the test did not overload the gateway")
	}
}

// TestRequestTimeoutIsOneCodedErrorAndOneLogLine: a request that runs past
// server.requestTimeout answers one REQUEST_TIMEOUT with 504, logs one
// line for itself (not one per field), and the HTTP log records 504.
func TestRequestTimeoutIsOneCodedErrorAndOneLogLine(t *testing.T) {
	d, logs := startLogged(t, func(c *config.Config) { c.Server.RequestTimeout = 300 * time.Millisecond }, 0)
	d.gw.Sim().NavetFaults.Set(sim.FaultConfig{Latency: 5 * time.Second})
	status, _, r := postGraphQL(t, http.DefaultClient, d.srv.URL, "Bearer "+d.token(t, "case-officer"), q1)
	if status != http.StatusGatewayTimeout || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "REQUEST_TIMEOUT" || string(r.Data) != "null" {
		t.Fatalf("status %d, body %s; want 504 and one REQUEST_TIMEOUT", status, r.raw)
	}
	d.gw.Sim().NavetFaults.Set(sim.FaultConfig{})
	if n := len(logs.lines(`msg="request timed out"`)); n != 1 {
		t.Errorf("%d 'request timed out' lines, want 1:\n%s", n, logs)
	}
	if l := logs.lines("level=ERROR"); len(l) != 0 {
		t.Errorf("ERROR lines for a timed-out request:\n%s", strings.Join(l, "\n"))
	}
	var access []string
	for _, l := range logs.lines(`msg="http request"`) {
		if strings.Contains(l, "path=/graphql") {
			access = append(access, l)
		}
	}
	if len(access) != 1 || !strings.Contains(access[0], "status=504") {
		t.Errorf("HTTP log of the request: %q, want one line with status=504", access)
	}
}

// TestBodyOverTheLimitIs413 for /graphql (a coded GraphQL error), declared
// or chunked, and for the admin API (problem+json).
func TestBodyOverTheLimitIs413(t *testing.T) {
	d, _ := startLogged(t, func(c *config.Config) { c.Server.MaxBodyBytes = 4096 }, 0)
	big := `{"query":"{ schoolUnits(first: 1) { totalCount } }","variables":{"pad":"` + strings.Repeat("x", 8192) + `"}}`
	cases := []struct {
		name, path, ctype string
		chunked           bool
	}{
		{"graphql with Content-Length", "/graphql", "application/json", false},
		{"graphql chunked", "/graphql", "application/json", true},
		{"admin API", "/admin/api/explain", "application/problem+json", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if c.chunked {
				body = io.MultiReader(strings.NewReader(big)) // no length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, d.srv.URL+c.path, body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+d.token(t, "security-officer"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) ||
				!strings.Contains(string(raw), `"PAYLOAD_TOO_LARGE"`) {
				t.Fatalf("status %d, %s, body %s; want 413 PAYLOAD_TOO_LARGE as %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw, c.ctype)
			}
		})
	}
	// Under the limit the same request is served.
	status, _, r := postGraphQL(t, http.DefaultClient, d.srv.URL, "", `{ schoolUnits(first: 1) { totalCount } }`)
	if status != http.StatusOK || len(r.Errors) != 0 {
		t.Fatalf("small request: %d %s", status, r.raw)
	}
}

// TestReadinessIsCachedAndBounded: a check slower than its timeout makes
// /readyz neither slow nor 503; the body names it.
func TestReadinessIsCachedAndBounded(t *testing.T) {
	d, _ := startLogged(t, func(c *config.Config) {
		c.Server.Readiness = config.Readiness{Interval: time.Hour, CheckTimeout: 200 * time.Millisecond}
	}, 0)
	d.gw.Sim().GeodataFaults.Set(sim.FaultConfig{Latency: 10 * time.Second})
	t.Cleanup(func() { d.gw.Sim().GeodataFaults.Set(sim.FaultConfig{}) })
	d.gw.RefreshReadiness()
	for range 3 {
		start := time.Now()
		code, body := getBody(t, d.srv.URL+"/readyz")
		if code != http.StatusOK || !strings.Contains(body, `"geodata":{"status":"failing","error":"timeout"`) || !strings.Contains(body, `"status":"degraded"`) {
			t.Fatalf("readyz with a slow geodata: %d %s", code, body)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("readyz took %s: it must answer from the cached results", el)
		}
	}
}

// TestDrainUnderLoad: on SIGTERM (ctx) /readyz answers 503 at once, the
// requests in flight finish, new requests during server.drainDelay are
// still served, then the listener closes and Serve returns; the demo's
// simulators answer until then (Close stops them after Serve). The
// clients behave like a load balancer: they send until shortly before the
// drain delay ends (it has seen /readyz fail by then), so requests are in
// flight when the listener closes, and none is sent to a closed one.
func TestDrainUnderLoad(t *testing.T) {
	cfg := config.Demo()
	delay := time.Second
	cfg.Server.DrainDelay = &delay
	cfg.Server.ShutdownTimeout = 20 * time.Second
	cfg.Sources.Skoldatabas.QueryTimeout = 15 * time.Second
	cfg.RateLimit.Disabled = true // one persona's load, as fast as it goes: not what this test is about
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{
		Demo: true, World: testWorld(), DemoLatency: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, sigterm := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, ln) }()

	token, _ := gw.DevIssuer().Token("case-officer")
	auth := "Bearer " + token
	// Uncached keys would make every request a full round trip; the
	// errand listing is cached briefly, the people and titles are not
	// needed: each request takes one or more 100 ms upstream rounds.
	const query = `{ errands(first: 10, caseType: "BYGGLOV") { edges { node { errandNumber stakeholders { person { givenName } } } } } }`
	var ok, afterTerm, inFlightAtClose atomic.Int64
	var failures sync.Map
	var termAt atomic.Pointer[time.Time]
	lbStops := delay - 250*time.Millisecond // when the "load balancer" stops sending
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for {
				term := termAt.Load()
				if term != nil && time.Since(*term) > lbStops {
					return
				}
				body, _ := json.Marshal(map[string]any{"query": query})
				req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", auth)
				resp, err := client.Do(req)
				if err != nil {
					failures.Store(err.Error(), true)
					continue
				}
				raw, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				var r response
				if rerr != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &r) != nil || len(r.Errors) > 0 {
					failures.Store(resp.Status+" "+string(raw), true)
					continue
				}
				ok.Add(1)
				if term != nil {
					afterTerm.Add(1)
					if time.Since(*term) > delay {
						inFlightAtClose.Add(1) // sent before, answered after the listener closed
					}
				}
			}
		})
	}
	// Load first, then SIGTERM with requests in flight.
	for ok.Load() < 16 {
		time.Sleep(10 * time.Millisecond)
	}
	now := time.Now()
	termAt.Store(&now)
	sigterm()
	// /readyz says 503 at once, while the listener is still open.
	var readyCode int
	var readyBody string
	for time.Since(now) < delay/2 {
		if readyCode, readyBody = getBody(t, url+"/readyz"); readyCode == http.StatusServiceUnavailable {
			break
		}
	}
	if readyCode != http.StatusServiceUnavailable || !strings.Contains(readyBody, `"status":"draining"`) {
		t.Errorf("readyz during the drain: %d %s, want 503 draining", readyCode, readyBody)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Serve did not return")
	}
	if el := time.Since(now); el < delay {
		t.Errorf("Serve returned %s after SIGTERM, before the drain delay %s", el, delay)
	}
	wg.Wait()
	failures.Range(func(k, _ any) bool {
		t.Errorf("a request failed during the drain: %v", k)
		return true
	})
	if afterTerm.Load() == 0 {
		t.Error("no request sent after SIGTERM was served during the drain delay")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener is still open after Serve returned")
	}
	t.Logf("served %d, %d of them sent after SIGTERM, %d answered after the listener closed", ok.Load(), afterTerm.Load(), inFlightAtClose.Load())
}
