package admission_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/admission"
)

// result is what an Acquire in a goroutine came back with.
type result struct {
	key     string
	release func()
	err     error
}

// acquireAsync starts Acquire for key and returns where its result arrives.
func acquireAsync(c *admission.Controller, ctx context.Context, key string, out chan<- result) {
	go func() {
		rel, err := c.Acquire(ctx, key)
		out <- result{key, rel, err}
	}()
}

// waitQueued returns once n requests wait in c.
func waitQueued(t *testing.T, c *admission.Controller, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Queued != n {
		if time.Now().After(deadline) {
			t.Fatalf("queued = %d, want %d", c.Stats().Queued, n)
		}
		runtime.Gosched()
	}
}

func reason(err error) string {
	var r *admission.Refusal
	if !errors.As(err, &r) {
		return ""
	}
	return r.Reason
}

func mustAcquire(t *testing.T, c *admission.Controller, key string) func() {
	t.Helper()
	rel, err := c.Acquire(context.Background(), key)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", key, err)
	}
	return rel
}

func TestAdmitsThenQueuesThenRefuses(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := admission.New(admission.Options{MaxInFlight: 2, MaxQueue: 2, MaxQueueWait: time.Minute, Registerer: reg})
	r1, r2 := mustAcquire(t, c, "a"), mustAcquire(t, c, "a")
	out := make(chan result, 4)
	acquireAsync(c, context.Background(), "a", out)
	acquireAsync(c, context.Background(), "a", out)
	waitQueued(t, c, 2)
	// Full, and client a already holds every place: refused at once.
	if _, err := c.Acquire(context.Background(), "a"); reason(err) != admission.ReasonQueueFull || !errors.Is(err, admission.ErrRefused) {
		t.Fatalf("third queued request: %v, want %s", err, admission.ReasonQueueFull)
	}
	r1()
	got := <-out
	if got.err != nil {
		t.Fatalf("queued request after a release: %v", got.err)
	}
	if s := c.Stats(); s.InFlight != 2 || s.Queued != 1 {
		t.Fatalf("stats %+v, want 2 in flight and 1 queued", s)
	}
	r2()
	got2 := <-out
	if got2.err != nil {
		t.Fatal(got2.err)
	}
	got.release()
	got2.release()
	if s := c.Stats(); s != (admission.Stats{}) {
		t.Fatalf("stats after every release %+v, want zero", s)
	}
	for outcome, want := range map[string]float64{"admitted": 2, "queued": 2, "refused": 1} {
		if v := counter(t, reg, "kommungraf_admission_requests_total", "outcome", outcome); v != want {
			t.Errorf("requests{outcome=%s} = %v, want %v", outcome, v, want)
		}
	}
}

// TestFloodingClientCannotStarveAnother: client a floods (every slot and
// the whole queue); client b's request takes a's newest place and is served
// after one of a's, not after all of them.
func TestFloodingClientCannotStarveAnother(t *testing.T) {
	c := admission.New(admission.Options{MaxInFlight: 1, MaxQueue: 3, MaxQueueWait: time.Minute})
	rel := mustAcquire(t, c, "flood")
	out := make(chan result, 8)
	for i := range 3 {
		acquireAsync(c, context.Background(), "flood", out)
		waitQueued(t, c, i+1) // one after the other, so their order is known
	}
	acquireAsync(c, context.Background(), "other", out)
	// The flood's newest waiter makes room for the other client.
	displaced := <-out
	if displaced.key != "flood" || reason(displaced.err) != admission.ReasonDisplaced {
		t.Fatalf("first result %s %v, want the flood's newest request displaced", displaced.key, displaced.err)
	}
	waitQueued(t, c, 3)
	// A fourth flood request finds the queue full and cannot displace
	// anyone: the flood holds 2 places, other 1.
	if _, err := c.Acquire(context.Background(), "flood"); reason(err) != admission.ReasonQueueFull {
		t.Fatalf("flood while full: %v, want %s", err, admission.ReasonQueueFull)
	}
	// Slots alternate between clients: the flood's oldest, then other,
	// though the flood's second request waited longer.
	var order []string
	for range 3 {
		rel()
		got := <-out
		if got.err != nil {
			t.Fatal(got.err)
		}
		order = append(order, got.key)
		rel = got.release
	}
	rel()
	if want := []string{"flood", "other", "flood"}; !equal(order, want) {
		t.Fatalf("admission order %v, want %v", order, want)
	}
}

func TestQueueWaitIsBounded(t *testing.T) {
	c := admission.New(admission.Options{MaxInFlight: 1, MaxQueue: 10, MaxQueueWait: 20 * time.Millisecond})
	rel := mustAcquire(t, c, "a")
	defer rel()
	start := time.Now()
	_, err := c.Acquire(context.Background(), "b")
	if reason(err) != admission.ReasonQueueTimeout {
		t.Fatalf("err %v, want %s", err, admission.ReasonQueueTimeout)
	}
	if d := time.Since(start); d < 20*time.Millisecond || d > 5*time.Second {
		t.Fatalf("refused after %s, want about 20ms", d)
	}
	if s := c.Stats(); s.Queued != 0 || s.Clients != 0 {
		t.Fatalf("stats %+v: the timed-out request is still queued", s)
	}
}

func TestCanceledWhileQueued(t *testing.T) {
	c := admission.New(admission.Options{MaxInFlight: 1, MaxQueue: 10, MaxQueueWait: time.Minute})
	rel := mustAcquire(t, c, "a")
	defer rel()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan result, 1)
	acquireAsync(c, ctx, "b", out)
	waitQueued(t, c, 1)
	cancel()
	if got := <-out; reason(got.err) != admission.ReasonCanceled {
		t.Fatalf("err %v, want %s", got.err, admission.ReasonCanceled)
	}
	if s := c.Stats(); s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestMiddlewareRefusesWithRetryAfter(t *testing.T) {
	c := admission.New(admission.Options{MaxInFlight: 1, MaxQueue: 0, MaxQueueWait: time.Minute})
	rel := mustAcquire(t, c, "a")
	defer rel()
	h := c.Middleware(admission.MiddlewareOptions{
		Key:        func(*http.Request) string { return "a" },
		RetryAfter: 1500 * time.Millisecond,
		Refuse: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		},
	}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("a refused request ran") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/graphql", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("status %d, Retry-After %q; want 503 and 2 (rounded up)", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// counter is the value of the counter name{label=value} in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}
