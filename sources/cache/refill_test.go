package cache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kommungraf/kommungraf/sources/testenv"
)

func TestChunks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		n    int
		size func(int) int
		want [][2]int
	}{
		{"none", 0, nil, nil},
		{"one round trip", 3, nil, [][2]int{{0, 3}}},
		{"by count", 2*maxPipelineCmds + 1, nil, [][2]int{{0, maxPipelineCmds}, {maxPipelineCmds, 2 * maxPipelineCmds}, {2 * maxPipelineCmds, 2*maxPipelineCmds + 1}}},
		{"by bytes", 5, func(int) int { return maxPipelineBytes / 2 }, [][2]int{{0, 2}, {2, 4}, {4, 5}}},
		{"an item over the byte budget goes alone", 3, func(i int) int { return []int{1, 2 * maxPipelineBytes, 1}[i] }, [][2]int{{0, 1}, {1, 2}, {2, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := chunks(tc.n, tc.size)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("chunks(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

// pipeHook records the largest pipeline sent.
type pipeHook struct{ most atomic.Int64 }

func (h *pipeHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *pipeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *pipeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for n := int64(len(cmds)); ; {
			old := h.most.Load()
			if n <= old || h.most.CompareAndSwap(old, n) {
				break
			}
		}
		return next(ctx, cmds)
	}
}

// TestBreakerClosedUnderQ2Load: batches the size of a Q2 page's records
// (1,000 keys of about 1 KiB), from 8 goroutines at once for two seconds,
// against the real Redis with the production round-trip budget: every
// pipeline is cut to maxPipelineCmds, and the breaker never opens.
func TestBreakerClosedUnderQ2Load(t *testing.T) {
	t.Parallel()
	version := testVersion(t)
	rawRedis(t, version)
	rdb := newRedis(t, redisURL(t))
	h := &pipeHook{}
	rdb.AddHook(h)
	reg := prometheus.NewRegistry()
	// No in-process tier: every batch goes to Redis.
	c := newCache(t, Options{Redis: rdb, Version: version, LocalMaxEntries: -1, Registerer: reg})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	filler := strings.Repeat("x", 1000)
	fetch := func(_ context.Context, keys []string) (map[string]person, error) {
		out := make(map[string]person, len(keys))
		for _, k := range keys {
			out[k] = person{ID: k, Name: filler}
		}
		return out, nil
	}
	const workers, batch = 8, 1000
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	var batches atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				keys := make([]string, batch)
				for j := range keys {
					keys[j] = fmt.Sprintf("%d-%d", (w+i)%4, j) // four pages, read and written over and over
				}
				found, _, err := s.Fetch(context.Background(), keys, fetch)
				if err != nil || len(found) != batch {
					t.Errorf("Fetch: %d found, err %v", len(found), err)
					return
				}
				batches.Add(1)
			}
		})
	}
	wg.Wait()
	openings := metricValue(t, reg, "kommungraf_cache_redis_breaker_openings_total", nil)
	slow := metricValue(t, reg, "kommungraf_cache_redis_slow_total", nil)
	failed := metricValue(t, reg, "kommungraf_cache_redis_errors_total", nil)
	hits := metricValue(t, reg, "kommungraf_cache_requests_total", map[string]string{"tier": "redis", "result": "hit"})
	t.Logf("%d batches of %d keys: %v redis hits, %v slow round trips, %v failed, %v breaker openings, largest pipeline %d",
		batches.Load(), batch, hits, slow, failed, openings, h.most.Load())
	if openings != 0 {
		t.Errorf("the breaker opened %v times on a healthy Redis", openings)
	}
	if most := h.most.Load(); most > maxPipelineCmds {
		t.Errorf("a pipeline of %d commands was sent, want at most %d", most, maxPipelineCmds)
	}
	if lookups := metricValue(t, reg, "kommungraf_cache_requests_total", map[string]string{"tier": "redis"}); lookups == 0 {
		t.Error("no Redis lookups: the load did not exercise Redis")
	}
}

// TestBreakerOpensOnHungRedis: a Redis that answered and then stops
// answering (connections accepted, nothing returned) still opens the
// breaker, once no answer came for slowGrace.
func TestBreakerOpensOnHungRedis(t *testing.T) {
	t.Parallel()
	px, url := newProxy(t)
	version := testVersion(t)
	rawRedis(t, version)
	reg := prometheus.NewRegistry()
	c := newCache(t, Options{Redis: newRedis(t, url), Version: version, LocalMaxEntries: -1, Registerer: reg})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	up := newUpstream("k")
	if _, _, err := s.Fetch(context.Background(), []string{"k"}, up.fetch); err != nil {
		t.Fatal(err)
	}
	px.stall()
	t.Cleanup(px.cut) // before the cache closes: a hung subscriber would hold Close
	start := time.Now()
	eventually(t, 5*time.Second, "the breaker opens on a hung Redis", func() bool {
		if _, _, err := s.Fetch(context.Background(), []string{"k"}, up.fetch); err != nil {
			t.Fatal(err)
		}
		return metricValue(t, reg, "kommungraf_cache_redis_breaker_openings_total", nil) >= 1
	})
	if d := time.Since(start); d < slowGrace {
		t.Errorf("opened after %s: timeouts within slowGrace (%s) of an answer must not count", d, slowGrace)
	}
	if !c.Degraded() {
		t.Error("Degraded() = false with the breaker open")
	}
}

// redisKeys counts the record keys of version on rdb.
func redisKeys(t *testing.T, rdb *redis.Client, version string) []string {
	t.Helper()
	keys, err := scanKeys(context.Background(), rdb, "kg:"+version+":*")
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// ownRedis starts a redis-server of the test's own (so it may be flushed
// and restarted) and returns its URL and a plain client.
func ownRedis(t *testing.T) (*testenv.RedisServer, *redis.Client) {
	t.Helper()
	srv := testenv.StartRedisServer(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(opt)
	t.Cleanup(func() { raw.Close() })
	return srv, raw
}

func pageKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%03d", i)
	}
	return keys
}

// TestRefillAfterFlush: Redis loses everything (FLUSHALL, no reconnect);
// without any traffic, replica a notices within a few seconds and writes its
// in-process tier back, sealed for the level-3 store; a new replica's first
// read is then warm. A level-3 store without seal keys writes nothing.
func TestRefillAfterFlush(t *testing.T) {
	t.Parallel()
	srv, raw := ownRedis(t)
	version := testVersion(t)
	sealKeys := [][]byte{[]byte(strings.Repeat("k", KeySize))}
	regA := prometheus.NewRegistry()
	// Round trips get a second, not the production 50 ms: under -race on
	// two loaded cores the first Fetch's write could run past 50 ms and
	// leave Redis short before the flush (seen in CI); the refill is what
	// this test proves, not the timing.
	a := newCache(t, Options{Redis: newRedis(t, srv.URL()), Version: version, SealKeys: sealKeys, Registerer: regA, RedisTimeout: time.Second})
	keys := pageKeys(100)
	up := newUpstream(keys...)
	ctx := context.Background()
	pol := Policy{TTL: time.Minute}
	plain := NewStore[person](a, "navet", "person", pol, Ordinary)
	sealed := NewStore[person](a, "navet", "protected", pol, Level3)
	for _, s := range []*Store[person]{plain, sealed} {
		if _, _, err := s.Fetch(ctx, keys, up.fetch); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(redisKeys(t, raw, version)); n != 2*len(keys) {
		t.Fatalf("before the flush Redis holds %d records, want %d", n, 2*len(keys))
	}
	if err := raw.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	eventually(t, 10*time.Second, "replica a writes its in-process tier back", func() bool {
		return len(redisKeys(t, raw, version)) == 2*len(keys)
	})
	t.Logf("refilled %d records %s after the flush, without traffic", 2*len(keys), time.Since(flushed).Round(time.Millisecond))
	for _, k := range redisKeys(t, raw, version) {
		v, err := raw.Get(ctx, k).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(k, ":protected:") != (v[0] == formatSealed) {
			t.Errorf("%s written back as %q..., want sealed exactly for the level-3 store", k, v[:1])
		}
	}
	if got := metricValue(t, regA, "kommungraf_cache_redis_loss_detected_total", nil); got != 1 {
		t.Errorf("losses detected %v, want 1", got)
	}
	if got := metricValue(t, regA, "kommungraf_cache_redis_writeback_total", map[string]string{"result": wbWritten}); got != float64(2*len(keys)) {
		t.Errorf("written back %v, want %d", got, 2*len(keys))
	}

	// A new replica's first read is warm. Its round trips get a second,
	// not the production 50 ms: under -race on two loaded cores one may
	// take longer, and a miss here would say nothing about the refill.
	b := newCache(t, Options{Redis: newRedis(t, srv.URL()), Version: version, SealKeys: sealKeys, RedisTimeout: time.Second})
	n := up.numCalls()
	for _, s := range []*Store[person]{NewStore[person](b, "navet", "person", pol, Ordinary), NewStore[person](b, "navet", "protected", pol, Level3)} {
		found, _, err := s.Fetch(ctx, keys, up.fetch)
		if err != nil || len(found) != len(keys) {
			t.Fatalf("replica b: %d found, err %v", len(found), err)
		}
	}
	if got := up.numCalls() - n; got != 0 {
		t.Errorf("replica b's first read made %d upstream calls, want 0", got)
	}

	// Without seal keys a level-3 store's records never reach Redis, not
	// even by write-back.
	version2 := testVersion(t)
	c := newCache(t, Options{Redis: newRedis(t, srv.URL()), Version: version2})
	unsealed := NewStore[person](c, "navet", "protected", pol, Level3)
	if _, _, err := unsealed.Fetch(ctx, keys, up.fetch); err != nil {
		t.Fatal(err)
	}
	c.epoch.Add(1)
	c.sweep()
	if _, _, err := unsealed.Fetch(ctx, keys, up.fetch); err != nil {
		t.Fatal(err)
	}
	c.sweep()
	if got := redisKeys(t, raw, version2); len(got) != 0 {
		t.Errorf("a level-3 store without seal keys wrote %d records to Redis", len(got))
	}
}

// TestRefillAfterRestart: Redis is killed and started again, empty. Replica
// a drops its in-process tier when its subscriber reconnects (it may have
// missed invalidations); one pass of its traffic then refills Redis, even if
// the breaker was still open during the pass, and replica b's next read is
// warm.
func TestRefillAfterRestart(t *testing.T) {
	t.Parallel()
	srv, raw := ownRedis(t)
	version := testVersion(t)
	// Round trips get a second, not the production 50 ms: under -race on
	// two loaded cores a write of the pass could run past 50 ms and be
	// left for the next read, and this test has no next read of a's.
	a := newCache(t, Options{Redis: newRedis(t, srv.URL()), Version: version, RedisTimeout: time.Second})
	b := newCache(t, Options{Redis: newRedis(t, srv.URL()), Version: version, LocalMaxEntries: -1, RedisTimeout: time.Second})
	keys := pageKeys(200)
	up := newUpstream(keys...)
	ctx := context.Background()
	pol := Policy{TTL: time.Minute}
	sa := NewStore[person](a, "navet", "person", pol, Ordinary)
	sb := NewStore[person](b, "navet", "person", pol, Ordinary)
	pass := func(s *Store[person]) {
		t.Helper()
		found, _, err := s.Fetch(ctx, keys, up.fetch)
		if err != nil || len(found) != len(keys) {
			t.Fatalf("%d found, err %v", len(found), err)
		}
	}
	pass(sa)
	srv.Restart()
	// The restart is seen by a's subscriber, which drops the tier.
	eventually(t, 10*time.Second, "replica a drops its in-process tier on reconnect", func() bool {
		return a.localGet(a.key("navet", "person", keys[0])) == nil
	})
	passed := time.Now()
	pass(sa) // one pass of a's traffic
	eventually(t, 10*time.Second, "Redis refilled by replica a", func() bool {
		return len(redisKeys(t, raw, version)) == len(keys)
	})
	t.Logf("refilled %d records %s after the start of replica a's first pass after the restart", len(keys), time.Since(passed).Round(time.Millisecond))
	n := up.numCalls()
	pass(sb)
	if got := up.numCalls() - n; got != 0 {
		t.Errorf("replica b's first read after the restart made %d upstream calls, want 0", got)
	}
}

// TestWriteBackOnLocalHit: an in-process hit of a record that Redis lost is
// written back (for the next replica), for Fetch and Peek alike.
func TestWriteBackOnLocalHit(t *testing.T) {
	t.Parallel()
	version := testVersion(t)
	raw := rawRedis(t, version)
	// A second per round trip, as the refill tests: one write-back each,
	// which a 50 ms budget under -race could lose.
	c := newCache(t, Options{Redis: newRedis(t, redisURL(t)), Version: version, RedisTimeout: time.Second})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	up := newUpstream("a", "b")
	ctx := context.Background()
	if _, _, err := s.Fetch(ctx, []string{"a", "b"}, up.fetch); err != nil {
		t.Fatal(err)
	}
	for _, read := range []struct {
		name string
		key  string
		read func()
	}{
		{"Fetch", "a", func() { _, _, _ = s.Fetch(ctx, []string{"a"}, up.fetch) }},
		{"Peek", "b", func() { _, _ = s.Peek("b") }},
	} {
		ck := c.key("navet", "person", read.key)
		if err := raw.Unlink(ctx, ck).Err(); err != nil {
			t.Fatal(err)
		}
		c.epoch.Add(1) // Redis lost it, as the maintainer would have found
		read.read()
		eventually(t, 5*time.Second, read.name+": the record is back in Redis", func() bool {
			n, err := raw.Exists(ctx, ck).Result()
			return err == nil && n == 1
		})
	}
	if n := up.numCalls(); n != 1 {
		t.Errorf("%d upstream calls, want 1", n)
	}
}

// cachedOnA is two replicas on one Redis, and record k fetched through a,
// with its key and a's in-process entry.
func cachedOnA(t *testing.T) (a, b *Cache, raw *redis.Client, ck string, e *entry) {
	t.Helper()
	a, b, _, version := replicas(t)
	raw = rawRedis(t, version)
	s := NewStore[person](a, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	if _, _, err := s.Fetch(context.Background(), []string{"k"}, newUpstream("k").fetch); err != nil {
		t.Fatal(err)
	}
	ck = a.key("navet", "person", "k")
	if e = a.localGet(ck); e == nil {
		t.Fatal("not in the in-process tier")
	}
	return a, b, raw, ck, e
}

// TestWriteBackSkipsInvalidated: an entry invalidated (here by another
// replica) before its write-back is not written back.
func TestWriteBackSkipsInvalidated(t *testing.T) {
	t.Parallel()
	a, b, raw, ck, e := cachedOnA(t)
	ctx := context.Background()
	if err := b.Invalidate(ctx, "navet", "person", "k"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "replica a drops the record", func() bool { return a.localGet(ck) == nil })
	a.writeBack([]wbItem{{ck: ck, e: e}})
	if n, err := raw.Exists(ctx, ck).Result(); err != nil || n != 0 {
		t.Errorf("invalidated record written back (exists=%d, err=%v)", n, err)
	}
}

// TestWriteBackBetweenDeleteAndAnnouncement: replica a writes its copy
// back to Redis after b deleted the key but before b announced the
// invalidation (a's barrier passes: nothing was announced yet). b deletes
// again after announcing, so the invalidated record does not stay in
// Redis until its TTL.
func TestWriteBackBetweenDeleteAndAnnouncement(t *testing.T) {
	t.Parallel()
	a, b, raw, ck, e := cachedOnA(t)
	ctx := context.Background()
	b.afterDrop = func() {
		a.writeBack([]wbItem{{ck: ck, e: e}})
		if n, _ := raw.Exists(ctx, ck).Result(); n != 1 {
			t.Error("the write-back between delete and announcement did not happen; the test proves nothing")
		}
	}
	if err := b.Invalidate(ctx, "navet", "person", "k"); err != nil {
		t.Fatal(err)
	}
	if n, err := raw.Exists(ctx, ck).Result(); err != nil || n != 0 {
		t.Errorf("the invalidated record is in Redis again (exists=%d, err=%v)", n, err)
	}
}
