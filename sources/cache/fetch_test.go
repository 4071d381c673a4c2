package cache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// TestFetch runs the basic cache behaviour on each tier setup.
func TestFetch(t *testing.T) {
	for _, ts := range tierSetups {
		t.Run(ts.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			reg := prometheus.NewRegistry()
			c := cacheFor(t, ts, reg)
			up := newUpstream("a", "b", "c", "d", "e", "f")
			s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute, NegativeTTL: time.Minute}, Ordinary)

			steps := []struct {
				name      string
				keys      []string
				wantCalls [][]string
				wantFound []string
			}{
				{"cold: one call with all misses", []string{"a", "b", "c"}, [][]string{{"a", "b", "c"}}, []string{"a", "b", "c"}},
				{"warm: no call", []string{"c", "a", "b"}, nil, []string{"a", "b", "c"}},
				{"partial: only the misses", []string{"a", "d", "e"}, [][]string{{"d", "e"}}, []string{"a", "d", "e"}},
				{"duplicates fetched once", []string{"f", "f", "a", "f"}, [][]string{{"f"}}, []string{"a", "f"}},
				{"not found", []string{"x", "a"}, [][]string{{"x"}}, []string{"a"}},
				{"not found is cached", []string{"x", "a"}, nil, []string{"a"}},
				{"empty", nil, nil, nil},
			}
			for _, st := range steps {
				n := up.numCalls()
				found, stale, err := s.Fetch(ctx, st.keys, up.fetch)
				if err != nil || stale != nil {
					t.Fatalf("%s: stale=%v err=%v", st.name, stale, err)
				}
				if got := up.callsSince(n); !reflect.DeepEqual(got, st.wantCalls) {
					t.Errorf("%s: upstream calls %v, want %v", st.name, got, st.wantCalls)
				}
				want := make(map[string]person)
				for _, k := range st.wantFound {
					want[k] = person{ID: k, Name: "Namn " + k}
				}
				if !reflect.DeepEqual(found, want) {
					t.Errorf("%s: found %v, want %v", st.name, found, want)
				}
			}

			// Every key was looked up in each tier present: 3+3+3+2+2+2 lookups.
			lookups := func(tier string) float64 {
				var sum float64
				for _, r := range []string{"hit", "miss"} {
					sum += metricValue(t, reg, "kommungraf_cache_requests_total", map[string]string{"source": "navet", "entity": "person", "tier": tier, "result": r})
				}
				return sum
			}
			if ts.local {
				if got := lookups("local"); got != 15 {
					t.Errorf("local tier lookups = %v, want 15", got)
				}
			}
			if ts.redis && !ts.local {
				if got := lookups("redis"); got != 15 {
					t.Errorf("redis tier lookups = %v, want 15", got)
				}
			}
		})
	}
}

func TestFetchNegativeTTLZero(t *testing.T) {
	c := newCache(t, Options{})
	up := newUpstream()
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	for range 2 {
		if found, _, err := s.Fetch(context.Background(), []string{"x"}, up.fetch); err != nil || len(found) != 0 {
			t.Fatalf("found=%v err=%v", found, err)
		}
	}
	if n := up.numCalls(); n != 2 {
		t.Errorf("upstream called %d times, want 2: a not-found must not be cached without NegativeTTL", n)
	}
}

func TestFetchTTLZeroDoesNotCache(t *testing.T) {
	c := newCache(t, Options{})
	up := newUpstream("a")
	s := NewStore[person](c, "navet", "person", Policy{}, Ordinary)
	for range 2 {
		if found, _, err := s.Fetch(context.Background(), []string{"a"}, up.fetch); err != nil || len(found) != 1 {
			t.Fatalf("found=%v err=%v", found, err)
		}
	}
	if n := up.numCalls(); n != 2 {
		t.Errorf("upstream called %d times, want 2 with TTL 0", n)
	}
}

func TestFetchTTLExpiry(t *testing.T) {
	for _, ts := range tierSetups {
		t.Run(ts.name, func(t *testing.T) {
			t.Parallel()
			c := cacheFor(t, ts, nil)
			up := newUpstream("a")
			s := NewStore[person](c, "navet", "person", Policy{TTL: 50 * time.Millisecond}, Ordinary)
			ctx := context.Background()
			if _, _, err := s.Fetch(ctx, []string{"a"}, up.fetch); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			up.set(person{ID: "a", Name: "Nytt namn"})
			var got person
			eventually(t, 2*time.Second, "refetch after TTL", func() bool {
				found, _, err := s.Fetch(ctx, []string{"a"}, up.fetch)
				if err != nil {
					t.Fatal(err)
				}
				got = found["a"]
				return up.numCalls() == 2
			})
			if elapsed := time.Since(start); elapsed < 40*time.Millisecond {
				t.Errorf("refetched after %s, before the 50ms TTL", elapsed)
			}
			if got.Name != "Nytt namn" {
				t.Errorf("after expiry got %+v, want the new record", got)
			}
		})
	}
}

// TestRedisRoundTrips checks that a batch reads Redis with one pipeline of
// GETs and writes with one pipeline of SETs.
func TestRedisRoundTrips(t *testing.T) {
	version := testVersion(t)
	rawRedis(t, version)
	rdb := newRedis(t, redisURL(t))
	h := &countHook{}
	rdb.AddHook(h)
	c := newCache(t, Options{Redis: rdb, Version: version, LocalMaxEntries: -1})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	up := newUpstream("a", "b", "c", "d")
	ctx := context.Background()

	h.reset()
	if _, _, err := s.Fetch(ctx, []string{"a", "b", "c", "d"}, up.fetch); err != nil {
		t.Fatal(err)
	}
	if got, want := h.snapshot(), []string{"pipeline get get get get", "pipeline set set set set"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cold batch: redis trips %q, want %q", got, want)
	}
	h.reset()
	if _, _, err := s.Fetch(ctx, []string{"a", "b", "c", "d"}, up.fetch); err != nil {
		t.Fatal(err)
	}
	if got, want := h.snapshot(), []string{"pipeline get get get get"}; !reflect.DeepEqual(got, want) {
		t.Errorf("warm batch: redis trips %q, want %q", got, want)
	}
}

// countHook records the commands sent, one string per round trip.
type countHook struct {
	mu    sync.Mutex
	trips []string
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !maintenance(cmd) {
			h.add(cmd.Name())
		}
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		trip := "pipeline"
		for _, c := range cmds {
			trip += " " + c.Name()
		}
		h.add(trip)
		return next(ctx, cmds)
	}
}

// maintenance reports the cache's own background commands (the sentinel
// and run_id checks of refill.go), which run on a timer, not per Fetch.
func maintenance(cmd redis.Cmder) bool {
	args := cmd.Args()
	if cmd.Name() == "info" {
		return true
	}
	return len(args) > 1 && strings.HasPrefix(fmt.Sprint(args[1]), SentinelPrefix)
}

// connection set-up, which a new pooled connection sends once
var setup = map[string]bool{"hello": true, "client": true, "auth": true, "select": true, "ping": true}

func (h *countHook) add(trip string) {
	names := strings.Fields(strings.TrimPrefix(trip, "pipeline"))
	if !slices.ContainsFunc(names, func(n string) bool { return !setup[n] }) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trips = append(h.trips, trip)
}

func (h *countHook) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trips = nil
}

func (h *countHook) snapshot() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.trips...)
}

// TestSingleflight: 20 concurrent Fetches of one missing key make one
// upstream call. The in-process tier is off, so only the in-flight table
// can dedupe.
func TestSingleflight(t *testing.T) {
	c := newCache(t, Options{LocalMaxEntries: -1})
	const callers = 20
	var waiting atomic.Int32
	allWaiting := make(chan struct{})
	c.onWait = func(string) {
		if waiting.Add(1) == callers-1 {
			close(allWaiting)
		}
	}
	var calls atomic.Int32
	fetch := func(ctx context.Context, keys []string) (map[string]person, error) {
		calls.Add(1)
		select {
		case <-allWaiting:
		case <-time.After(10 * time.Second):
			return nil, errors.New("the other callers never joined")
		}
		return map[string]person{"k": {ID: "k", Name: "Delad"}}, nil
	}
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			found, _, err := s.Fetch(context.Background(), []string{"k"}, fetch)
			if err == nil && found["k"].Name != "Delad" {
				err = fmt.Errorf("found %v", found)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
}

// TestSingleflightBatch: a batch that overlaps a batch in flight fetches only
// its own misses, in one call, and waits for the shared key.
func TestSingleflightBatch(t *testing.T) {
	c := newCache(t, Options{LocalMaxEntries: -1})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	waitingOnB := make(chan struct{})
	c.onWait = func(key string) {
		if key == "b" {
			close(waitingOnB)
		}
	}
	up := newUpstream("a", "b", "c")
	started := make(chan struct{})
	slow := func(ctx context.Context, keys []string) (map[string]person, error) {
		close(started)
		<-waitingOnB
		return up.fetch(ctx, keys)
	}
	ctx := context.Background()
	type result struct {
		found map[string]person
		err   error
	}
	first := make(chan result, 1)
	go func() {
		found, _, err := s.Fetch(ctx, []string{"a", "b"}, slow)
		first <- result{found, err}
	}()
	<-started
	found, _, err := s.Fetch(ctx, []string{"b", "c"}, up.fetch)
	if err != nil || len(found) != 2 {
		t.Fatalf("second batch: found=%v err=%v", found, err)
	}
	r := <-first
	if r.err != nil || len(r.found) != 2 {
		t.Fatalf("first batch: found=%v err=%v", r.found, r.err)
	}
	if got, want := up.callsSince(0), [][]string{{"c"}, {"a", "b"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("upstream calls %v, want %v", got, want)
	}
}

// TestSingleflightLeaderCancelled: when the caller leading a fetch gives up,
// a caller waiting for the same key fetches it itself instead of failing.
func TestSingleflightLeaderCancelled(t *testing.T) {
	c := newCache(t, Options{LocalMaxEntries: -1})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	waiting := make(chan struct{})
	c.onWait = func(string) { close(waiting) }
	leaderCtx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	leaderDone := make(chan error, 1)
	go func() {
		_, _, err := s.Fetch(leaderCtx, []string{"k"}, func(ctx context.Context, _ []string) (map[string]person, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		leaderDone <- err
	}()
	<-started
	go func() { <-waiting; cancel() }()
	up := newUpstream("k")
	found, _, err := s.Fetch(context.Background(), []string{"k"}, up.fetch)
	if err != nil || found["k"].ID != "k" {
		t.Fatalf("waiter: found=%v err=%v", found, err)
	}
	if n := up.numCalls(); n != 1 {
		t.Errorf("waiter fetched %d times, want 1", n)
	}
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: err=%v, want context.Canceled", err)
	}
}

// TestFetchPanic: a panicking fetch panics its caller, and leaves nothing
// in flight behind it.
func TestFetchPanic(t *testing.T) {
	c := newCache(t, Options{})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the fetch's panic", r)
			}
		}()
		_, _, _ = s.Fetch(context.Background(), []string{"k"}, func(context.Context, []string) (map[string]person, error) { panic("boom") })
	}()
	up := newUpstream("k")
	if found, _, err := s.Fetch(context.Background(), []string{"k"}, up.fetch); err != nil || len(found) != 1 {
		t.Fatalf("after a panic: found=%v err=%v", found, err)
	}
}

func TestStaleIfError(t *testing.T) {
	for _, ts := range tierSetups {
		t.Run(ts.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			reg := prometheus.NewRegistry()
			c := cacheFor(t, ts, reg)

			t.Run("within the window", func(t *testing.T) {
				s := NewStore[person](c, "navet", "person", Policy{TTL: 50 * time.Millisecond, StaleIfError: time.Minute}, Ordinary)
				up := newUpstream("a")
				if _, _, err := s.Fetch(ctx, []string{"a"}, up.fetch); err != nil {
					t.Fatal(err)
				}
				up.setErr(errUpstream)
				var (
					found map[string]person
					stale []Stale
					err   error
				)
				eventually(t, 2*time.Second, "stale served after TTL", func() bool {
					found, stale, err = s.Fetch(ctx, []string{"a", "never-cached"}, up.fetch)
					return len(stale) > 0
				})
				if found["a"].ID != "a" {
					t.Errorf("found %v, want the stale record of a", found)
				}
				if len(stale) != 1 || stale[0].Key != "a" || stale[0].Source != "navet" || stale[0].Entity != "person" || stale[0].Age <= 0 {
					t.Errorf("stale = %+v, want a with an age", stale)
				}
				var fe *FetchError
				if !errors.As(err, &fe) || !errors.Is(err, errUpstream) {
					t.Fatalf("err = %v, want a *FetchError wrapping the upstream error", err)
				}
				if _, ok := fe.Keys["never-cached"]; !ok || len(fe.Keys) != 1 {
					t.Errorf("failed keys %v, want only never-cached", fe.Keys)
				}
				tier := "local"
				if !ts.local {
					tier = "redis"
				}
				if got := metricValue(t, reg, "kommungraf_cache_requests_total", map[string]string{"tier": tier, "result": "stale"}); got < 1 {
					t.Errorf("stale count on tier %s = %v, want >= 1", tier, got)
				}
				// The upstream is back: the record is fresh again.
				up.setErr(nil)
				found, stale, err = s.Fetch(ctx, []string{"a"}, up.fetch)
				if err != nil || len(stale) != 0 || found["a"].ID != "a" {
					t.Errorf("after recovery: found=%v stale=%v err=%v", found, stale, err)
				}
			})

			t.Run("beyond the window", func(t *testing.T) {
				s := NewStore[person](c, "navet", "pupil", Policy{TTL: 50 * time.Millisecond, StaleIfError: 100 * time.Millisecond}, Ordinary)
				up := newUpstream("a")
				if _, _, err := s.Fetch(ctx, []string{"a"}, up.fetch); err != nil {
					t.Fatal(err)
				}
				up.setErr(errUpstream)
				start := time.Now()
				var (
					found map[string]person
					stale []Stale
					err   error
				)
				eventually(t, 2*time.Second, "error once the window has passed", func() bool {
					found, stale, err = s.Fetch(ctx, []string{"a"}, up.fetch)
					return err != nil && len(stale) == 0
				})
				if time.Since(start) < 90*time.Millisecond {
					t.Errorf("failed after %s, inside the 150ms window", time.Since(start))
				}
				if len(found) != 0 || !errors.Is(err, errUpstream) {
					t.Errorf("found=%v err=%v, want nothing and the upstream error", found, err)
				}
			})
		})
	}
}

// TestFetchPartialError: values a failing fetch still returned are used.
func TestFetchPartialError(t *testing.T) {
	c := newCache(t, Options{})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	found, _, err := s.Fetch(context.Background(), []string{"a", "b"}, func(context.Context, []string) (map[string]person, error) {
		return map[string]person{"a": {ID: "a"}}, errUpstream
	})
	var fe *FetchError
	if !errors.As(err, &fe) || len(fe.Keys) != 1 || fe.Keys["b"] == nil {
		t.Fatalf("err = %v, want b failed", err)
	}
	if len(found) != 1 || found["a"].ID != "a" {
		t.Errorf("found %v, want a", found)
	}
}

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"version with colon", Options{Version: "v1:x"}},
		{"version with glob", Options{Version: "v*"}},
		{"short seal key", Options{SealKeys: [][]byte{make([]byte, 16)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := New(tc.opts); err == nil {
				c.Close()
				t.Error("New succeeded, want an error")
			}
		})
	}
	c := newCache(t, Options{})
	for _, name := range []string{"", "a:b", "a*", "a b"} {
		t.Run("NewStore entity "+name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewStore with entity %q did not panic", name)
				}
			}()
			NewStore[person](c, "navet", name, Policy{}, Ordinary)
		})
	}
	if err := c.Invalidate(context.Background(), "navet", "", "k"); err == nil {
		t.Error("Invalidate with keys and no entity succeeded")
	}
}

// TestMetricsSharedRegistry: several caches may register with one registry.
func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newCache(t, Options{Registerer: reg})
	b := newCache(t, Options{Registerer: reg})
	up := newUpstream("k")
	for _, c := range []*Cache{a, b} {
		s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
		for range 2 {
			if _, _, err := s.Fetch(context.Background(), []string{"k"}, up.fetch); err != nil {
				t.Fatal(err)
			}
		}
	}
	labels := map[string]string{"source": "navet", "entity": "person", "tier": "local"}
	if got := metricValue(t, reg, "kommungraf_cache_requests_total", labels); got != 4 {
		t.Errorf("lookups counted %v, want 4", got)
	}
}

func TestNewRedisClient(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"redis://127.0.0.1:6379/0", "*redis.Client"},
		{"redis://:pw@127.0.0.1:6379/2?dial_timeout=1s", "*redis.Client"},
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", "*redis.ClusterClient"},
		{"redis://127.0.0.1:26379?master_name=mymaster&addr=127.0.0.1:26380", "*redis.Client"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			rdb, err := NewRedisClient(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			if got := fmt.Sprintf("%T", rdb); got != tc.want {
				t.Errorf("client %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := NewRedisClient("http://127.0.0.1"); err == nil {
		t.Error("http:// URL accepted")
	}
}
