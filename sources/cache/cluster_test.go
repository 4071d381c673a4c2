package cache

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kommungraf/kommungraf/sources/testenv"
)

// clusterKeys lists the record keys of version on every master.
func clusterKeys(t *testing.T, rdb *redis.ClusterClient, version string) map[string]bool {
	t.Helper()
	keys := make(map[string]bool)
	ch := make(chan []string, 8)
	err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
		ks, err := scanKeys(ctx, node, "kg:"+version+":*")
		ch <- ks
		return err
	})
	close(ch)
	if err != nil {
		t.Fatal(err)
	}
	for ks := range ch {
		for _, k := range ks {
			keys[k] = true
		}
	}
	return keys
}

// TestCluster runs the shared tier on a three-master Redis Cluster
// (KOMMUNGRAF_TEST_REDIS_CLUSTER; CI starts one): records spread over the
// masters are shared between replicas, invalidations of keys and of whole
// entities (SCAN on every master) reach the other replica through pub/sub,
// and records Redis lost are written back, confirmed by a barrier on the
// channel's master.
func TestCluster(t *testing.T) {
	t.Parallel()
	url := testenv.RedisClusterURL(t)
	version := testVersion(t)
	ctx := context.Background()
	raw := newRedis(t, url).(*redis.ClusterClient)
	t.Cleanup(func() {
		for k := range clusterKeys(t, raw, version) {
			raw.Unlink(context.Background(), k)
		}
	})
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	// A second per round trip, not the production 50 ms: under load a write-back past 50 ms
	// would wait for a next read this test does not make.
	a := newCache(t, Options{Redis: newRedis(t, url), Version: version, Registerer: regA, RedisTimeout: time.Second})
	b := newCache(t, Options{Redis: newRedis(t, url), Version: version, Registerer: regB, RedisTimeout: time.Second})
	pol := Policy{TTL: time.Minute}
	keys := pageKeys(300) // more than one pipeline chunk, on every master
	up := newUpstream(keys...)
	sa := NewStore[person](a, "navet", "person", pol, Ordinary)
	sb := NewStore[person](b, "navet", "person", pol, Ordinary)
	if _, _, err := sa.Fetch(ctx, keys, up.fetch); err != nil {
		t.Fatal(err)
	}
	if got := len(clusterKeys(t, raw, version)); got != len(keys) {
		t.Fatalf("the cluster holds %d records, want %d", got, len(keys))
	}
	var masters atomic.Int32
	if err := raw.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		ks, err := scanKeys(ctx, node, "kg:"+version+":*")
		if err == nil && len(ks) > 0 {
			masters.Add(1)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if masters.Load() < 3 {
		t.Errorf("the records are on %d masters, want them spread over all three", masters.Load())
	}
	found, _, err := sb.Fetch(ctx, keys, up.fetch)
	if err != nil || len(found) != len(keys) || up.numCalls() != 1 {
		t.Fatalf("replica b: %d found, err %v, %d upstream calls (want all from Redis, 1 call)", len(found), err, up.numCalls())
	}
	if hits := metricValue(t, regB, "kommungraf_cache_requests_total", map[string]string{"tier": "redis", "result": "hit"}); hits != float64(len(keys)) {
		t.Errorf("replica b: %v Redis hits, want %d", hits, len(keys))
	}

	// One key, then the whole entity, invalidated on b: gone from a's
	// in-process tier and from every master.
	ck := a.key("navet", "person", keys[0])
	if err := b.Invalidate(ctx, "navet", "person", keys[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "replica a drops the invalidated key", func() bool { return a.localGet(ck) == nil })
	if clusterKeys(t, raw, version)[ck] {
		t.Error("the invalidated key is still in the cluster")
	}
	if err := b.Invalidate(ctx, "navet", "person"); err != nil {
		t.Fatal(err)
	}
	// Every key, not just one: a drops the entity's entries one by one, and
	// a Fetch while it is at it would answer the rest from the in-process
	// tier, entries the invalidation then drops with no copy anywhere.
	eventually(t, 5*time.Second, "replica a drops the invalidated entity", func() bool {
		for _, k := range keys {
			if a.localGet(a.key("navet", "person", k)) != nil {
				return false
			}
		}
		return true
	})
	if n := len(clusterKeys(t, raw, version)); n != 0 {
		t.Errorf("%d records left in the cluster after invalidating the entity", n)
	}

	// Refill: a fetches again, the records vanish from the cluster (as on
	// a master's restart), a's in-process tier writes them back.
	calls := up.numCalls()
	if _, _, err := sa.Fetch(ctx, keys, up.fetch); err != nil {
		t.Fatal(err)
	}
	// All from the upstream: an in-process hit here would be an entry the
	// invalidation was yet to drop.
	if got := up.callsSince(calls); len(got) != 1 || len(got[0]) != len(keys) {
		n := 0
		for _, c := range got {
			n += len(c)
		}
		t.Fatalf("replica a fetched %d keys in %d upstream calls after the invalidation, want all %d in one", n, len(got), len(keys))
	}
	if got := len(clusterKeys(t, raw, version)); got != len(keys) {
		t.Fatalf("the cluster holds %d records after the fetch, want %d", got, len(keys))
	}
	for k := range clusterKeys(t, raw, version) {
		if err := raw.Unlink(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(clusterKeys(t, raw, version)); n != 0 {
		t.Fatalf("%d records left in the cluster after unlinking them", n)
	}
	a.epoch.Add(1)
	a.requestSweep()
	// A write-back is kept only once its barrier came back through the
	// channel's master; one whose barrier timed out (a loaded machine) is
	// undone and swept again at the next tick, so allow for a few rounds.
	// The records are in the cluster before their barrier comes back (and
	// are deleted again if it does not): wait for the kept count, not for
	// the keys.
	eventually(t, 30*time.Second, "replica a's write-backs kept, their barrier back through the cluster", func() bool {
		return metricValue(t, regA, "kommungraf_cache_redis_writeback_total", map[string]string{"result": wbWritten}) >= float64(len(keys))
	})
	if n := len(clusterKeys(t, raw, version)); n != len(keys) {
		t.Errorf("the cluster holds %d records after the write-back, want %d", n, len(keys))
	}
	if openings := metricValue(t, regA, "kommungraf_cache_redis_breaker_openings_total", nil) + metricValue(t, regB, "kommungraf_cache_redis_breaker_openings_total", nil); openings != 0 {
		t.Errorf("the breaker opened %v times on a healthy cluster", openings)
	}
}
