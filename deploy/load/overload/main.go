// Command overload drives a running Kommungraf past its capacity and says
// whether it degrades on purpose: a flood of keep-alive clients sending
// one query as fast as they are answered (each waiting Retry-After after a
// refusal, as a well-behaved client does), and a second client sending
// another query at its normal rate. It samples the gateway's /metrics
// (resident memory, goroutines, admission) throughout, and prints the
// figures docs/BENCHMARKS.md records. It exits 1 when a bound is missed:
// p99 of accepted flood requests, refusals that are not fast OVERLOADED
// answers, resident memory, connections closed mid-response, or the second
// client not served. deploy/load/overload.sh starts a gateway and runs it.
//
//	go run ./deploy/load/overload -url http://127.0.0.1:18480 -token ... -second-token ...
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	q1 = `{ errands(first: 50, caseType: "BYGGLOV") { edges { node { errandNumber status property { designation areaM2 owners { name } } stakeholders { role person { givenName surname address { city } } } } } } }`
	q2 = `{ schoolUnits(first: 20) { edges { node { name property { designation } placements(first: 30) { edges { node { group specialDiet child { givenName guardians { givenName address { city } } } } } } } } } }`
)

func main() {
	url := flag.String("url", "http://127.0.0.1:18480", "the gateway")
	clients := flag.Int("clients", 500, "concurrent keep-alive flood clients")
	duration := flag.Duration("duration", 2*time.Minute, "how long the flood runs")
	token := flag.String("token", "", "the flood client's bearer token (its client application is one fairness share)")
	query := flag.String("query", "q1", "the flood's query: q1 or q2")
	secondToken := flag.String("second-token", "", "the second client's bearer token (another client application)")
	secondQuery := flag.String("second-query", "q2", "the second client's query: q1 or q2")
	secondRate := flag.Float64("second-rate", 2, "the second client's requests per second")
	timeout := flag.Duration("timeout", 30*time.Second, "client timeout per request")
	maxP99 := flag.Duration("max-p99", 2*time.Second, "bound: p99 of accepted flood requests")
	maxRefusal := flag.Duration("max-refusal-p99", 1500*time.Millisecond, "bound: p99 of refusals (queue wait and a margin)")
	maxRSS := flag.Float64("max-rss-mb", 300, "bound: the gateway's peak resident memory")
	minSecond := flag.Float64("min-second-served", 0.95, "bound: share of the second client's requests served")
	flag.Parse()

	queries := map[string]string{"q1": q1, "q2": q2}
	fq, sq := queries[*query], queries[*secondQuery]
	if fq == "" || sq == "" {
		fmt.Fprintln(os.Stderr, "overload: -query and -second-query must be q1 or q2")
		os.Exit(2)
	}
	tr := &http.Transport{MaxIdleConns: *clients + 16, MaxIdleConnsPerHost: *clients + 16, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: *timeout}

	base := sample(client, *url)
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var flood, second stats
	var wg sync.WaitGroup
	for range *clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				o := send(client, *url, *token, fq)
				flood.add(o)
				if o.retryAfter > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(o.retryAfter):
					}
				}
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(time.Duration(float64(time.Second) / *secondRate))
		defer t.Stop()
		var inner sync.WaitGroup
		defer inner.Wait()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				inner.Go(func() { second.add(send(client, *url, *secondToken, sq)) })
			}
		}
	})
	var peak metrics
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				peak.max(sample(client, *url))
			}
		}
	})
	wg.Wait()
	tr.CloseIdleConnections()
	time.Sleep(3 * time.Second) // let the gateway's goroutines of closed connections end
	after := sample(client, *url)

	fmt.Printf("overload: %d flood clients (%s) for %s, second client %s at %.1f/s, %s\n", *clients, *query, *duration, *secondQuery, *secondRate, *url)
	flood.print("flood", *duration)
	second.print("second", *duration)
	fmt.Printf("gateway: RSS %.0f MB before, %.0f MB peak, %.0f MB after; goroutines %.0f before, %.0f peak, %.0f after; admission peak %.0f in flight, %.0f queued\n",
		base.rss/1e6, peak.rss/1e6, after.rss/1e6, base.goroutines, peak.goroutines, after.goroutines, peak.inFlight, peak.queued)

	var failed []string
	acc := flood.accepted()
	if p := pct(acc, 99); p > *maxP99 {
		failed = append(failed, fmt.Sprintf("p99 of accepted flood requests %s > %s", p, *maxP99))
	}
	if p := pct(flood.refusedLat, 99); p > *maxRefusal {
		failed = append(failed, fmt.Sprintf("p99 of refusals %s > %s", p, *maxRefusal))
	}
	if peak.rss/1e6 > *maxRSS {
		failed = append(failed, fmt.Sprintf("peak RSS %.0f MB > %.0f MB", peak.rss/1e6, *maxRSS))
	}
	if n := flood.closed + second.closed; n > 0 {
		failed = append(failed, fmt.Sprintf("%d connections closed mid-response", n))
	}
	if n := flood.other + second.other; n > 0 {
		failed = append(failed, fmt.Sprintf("%d answers neither served nor OVERLOADED", n))
	}
	if share := float64(len(second.ok)) / float64(max(1, second.total)); share < *minSecond {
		failed = append(failed, fmt.Sprintf("second client served %.1f %% < %.1f %%", 100*share, 100**minSecond))
	}
	if len(acc) == 0 {
		failed = append(failed, "no flood request was accepted")
	}
	if len(failed) > 0 {
		fmt.Println("FAILED:\n  " + strings.Join(failed, "\n  "))
		os.Exit(1)
	}
	fmt.Println("PASS: every bound held")
}

// outcome is one request's result.
type outcome struct {
	latency    time.Duration
	served     bool          // 200 with data, no error but FORBIDDEN
	overloaded bool          // 503 OVERLOADED with Retry-After
	closed     bool          // the connection broke after the request was sent
	timeout    bool          // the client's own timeout
	retryAfter time.Duration // to wait before the next request
	code       string        // the first error code, if any
}

func send(c *http.Client, url, token, query string) outcome {
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		o := outcome{latency: time.Since(start)}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			o.timeout = true
		} else {
			o.closed = true // EOF, reset: the server closed the connection under the request
		}
		return o
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	o := outcome{latency: time.Since(start)}
	if err != nil {
		o.closed = true
		return o
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Extensions struct{ Code string } `json:"extensions"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(raw, &r)
	if len(r.Errors) > 0 {
		o.code = r.Errors[0].Extensions.Code
	}
	switch {
	case resp.StatusCode == http.StatusOK && len(r.Data) > 0 && string(r.Data) != "null" && servedCode(o.code):
		// Served: FORBIDDEN fields are the policy's answer, not the load's.
		o.served = true
	case resp.StatusCode == http.StatusServiceUnavailable && o.code == "OVERLOADED":
		o.overloaded = true
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			o.retryAfter = time.Duration(s) * time.Second
		}
	}
	return o
}

// servedCode: a response with this first error code still served the
// request (the policy's FORBIDDEN), unlike a timeout or a failure.
func servedCode(code string) bool { return code == "" || code == "FORBIDDEN" }

// stats collect one client's outcomes.
type stats struct {
	mu                               sync.Mutex
	total, refused, closed, timeouts int
	other                            int
	ok, refusedLat                   []time.Duration
	codes                            map[string]int
}

func (s *stats) add(o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	switch {
	case o.served:
		s.ok = append(s.ok, o.latency)
	case o.overloaded:
		s.refused++
		s.refusedLat = append(s.refusedLat, o.latency)
	case o.closed:
		s.closed++
	case o.timeout:
		s.timeouts++
		s.other++
	default:
		s.other++
		if s.codes == nil {
			s.codes = map[string]int{}
		}
		s.codes[o.code]++
	}
}

func (s *stats) accepted() []time.Duration { return s.ok }

func (s *stats) print(name string, d time.Duration) {
	fmt.Printf("%-7s %7d requests (%.1f/s): %d served (%.1f/s), %d refused OVERLOADED, %d closed mid-response, %d client timeouts, %d other %v\n",
		name, s.total, float64(s.total)/d.Seconds(), len(s.ok), float64(len(s.ok))/d.Seconds(), s.refused, s.closed, s.timeouts, s.other-s.timeouts, s.codes)
	fmt.Printf("%-7s served   p50 %s  p90 %s  p99 %s  max %s\n", "", pct(s.ok, 50), pct(s.ok, 90), pct(s.ok, 99), pct(s.ok, 100))
	if s.refused > 0 {
		fmt.Printf("%-7s refused  p50 %s  p99 %s  max %s\n", "", pct(s.refusedLat, 50), pct(s.refusedLat, 99), pct(s.refusedLat, 100))
	}
}

func pct(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i].Round(time.Millisecond)
}

// metrics are the gauges read from the gateway's /metrics.
type metrics struct{ rss, goroutines, inFlight, queued float64 }

func (m *metrics) max(o metrics) {
	m.rss = max(m.rss, o.rss)
	m.goroutines = max(m.goroutines, o.goroutines)
	m.inFlight = max(m.inFlight, o.inFlight)
	m.queued = max(m.queued, o.queued)
}

// sample reads the gauges; metrics are not behind admission control, so
// this answers during the overload too.
func sample(c *http.Client, url string) metrics {
	var m metrics
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			m.rss = f
		case "go_goroutines":
			m.goroutines = f
		case "kommungraf_admission_in_flight":
			m.inFlight = f
		case "kommungraf_admission_queued":
			m.queued = f
		}
	}
	return m
}
