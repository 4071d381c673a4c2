package cache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRedisDown: with Redis cut, every Fetch is answered by the upstream
// and the cache reports degraded; with Redis back, caching resumes without
// a restart.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	px, url := newProxy(t)
	version := testVersion(t)
	rawRedis(t, version)
	reg := prometheus.NewRegistry()
	// In-process tier off: every Fetch must go through Redis or the upstream.
	c := newCache(t, Options{Redis: newRedis(t, url), Version: version, LocalMaxEntries: -1, Registerer: reg})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	up := newUpstream("k")
	ctx := context.Background()
	fetch := func() {
		t.Helper()
		start := time.Now()
		found, _, err := s.Fetch(ctx, []string{"k"}, up.fetch)
		if err != nil || found["k"].ID != "k" {
			t.Fatalf("found=%v err=%v", found, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Fetch took %s", d)
		}
	}

	// cached fetches key until a Fetch is answered without the upstream,
	// for at most 10 s. Round trips keep the production 50 ms, so under
	// -race on two loaded cores (CI runs packages side by side) a write-back
	// or read can run past it; three such in a row open the breaker, and
	// every Fetch skips Redis until it lets one through again. A cache that
	// never serves from Redis fails.
	cached := func(key string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for tries := 1; ; tries++ {
			n := up.numCalls()
			if _, _, err := s.Fetch(ctx, []string{key}, up.fetch); err != nil {
				t.Fatal(err)
			}
			if up.numCalls() == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d Fetches in 10 s all went to the upstream, want one answered from Redis", key, tries)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	fetch()
	cached("k")
	if c.Degraded() {
		t.Fatal("Redis up: degraded")
	}
	calls := up.numCalls()

	tierErrors := func() float64 {
		return metricValue(t, reg, "kommungraf_cache_requests_total", map[string]string{"tier": "redis", "result": "error"})
	}
	before := tierErrors() // a read of the two above may have run past 50 ms on a loaded machine
	px.cut()
	const rounds = 10
	for range rounds {
		fetch()
	}
	if n := up.numCalls() - calls; n != rounds {
		t.Errorf("Redis down: %d upstream calls, want %d (one per Fetch)", n, rounds)
	}
	if !c.Degraded() {
		t.Error("Degraded() = false with Redis down")
	}
	if got := metricValue(t, reg, "kommungraf_cache_redis_errors_total", nil); got < breakerFailures {
		t.Errorf("redis errors counted %v, want at least %d", got, breakerFailures)
	}
	if got := tierErrors() - before; got != rounds {
		t.Errorf("redis tier errors %v while cut, want %d: one failed read per Fetch", got, rounds)
	}

	if err := c.Invalidate(ctx, "navet", "person", "k"); !errors.Is(err, ErrDegraded) {
		t.Errorf("Invalidate with Redis down: err=%v, want ErrDegraded", err)
	}

	px.restore(t)
	// No Fetch needed: asking Degraded probes Redis once the breaker allows.
	eventually(t, 10*time.Second, "Degraded() clears", func() bool { return !c.Degraded() })
	// The record written before the cut is still in Redis.
	cached("k")
	// And new records are written to Redis again.
	up.set(person{ID: "k2", Name: "Ny"})
	n := up.numCalls()
	fetch2 := func() {
		if _, _, err := s.Fetch(ctx, []string{"k2"}, up.fetch); err != nil {
			t.Fatal(err)
		}
	}
	fetch2()
	if got := up.numCalls() - n; got != 1 {
		t.Errorf("Redis back: a new record took %d upstream calls, want 1", got)
	}
	cached("k2")
	if err := c.Invalidate(ctx, "navet", "person", "k"); err != nil {
		t.Errorf("Invalidate with Redis back: %v", err)
	}
}

// TestRedisUnreachableAtStart: New succeeds against a closed port, and the
// cache serves from the upstream.
func TestRedisUnreachableAtStart(t *testing.T) {
	t.Parallel()
	c := newCache(t, Options{Redis: newRedis(t, "redis://127.0.0.1:1/0"), LocalMaxEntries: -1})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	up := newUpstream("k")
	for range breakerFailures + 1 {
		found, _, err := s.Fetch(context.Background(), []string{"k"}, up.fetch)
		if err != nil || len(found) != 1 {
			t.Fatalf("found=%v err=%v", found, err)
		}
	}
	if !c.Degraded() {
		t.Error("Degraded() = false with Redis unreachable")
	}
	start := time.Now()
	if err := c.Invalidate(context.Background(), "navet", "person", "k"); !errors.Is(err, ErrDegraded) {
		t.Errorf("Invalidate with Redis unreachable: err=%v, want ErrDegraded", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Invalidate took %s while degraded, want an immediate answer", d)
	}
}
