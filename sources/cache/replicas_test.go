package cache

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// replicas are two caches ("gateway processes") sharing one Redis and one
// version, each with its own client and in-process tier.
func replicas(t *testing.T) (a, b *Cache, regB *prometheus.Registry, version string) {
	t.Helper()
	version = testVersion(t)
	rawRedis(t, version)
	url := redisURL(t)
	regB = prometheus.NewRegistry()
	a = newCache(t, Options{Redis: newRedis(t, url), Version: version})
	b = newCache(t, Options{Redis: newRedis(t, url), Version: version, Registerer: regB})
	return a, b, regB, version
}

func TestReplicasShareRedis(t *testing.T) {
	t.Parallel()
	a, b, regB, _ := replicas(t)
	ctx := context.Background()
	policy := Policy{TTL: time.Minute}
	up := newUpstream("k1", "k2")
	sa := NewStore[person](a, "navet", "person", policy, Ordinary)
	sb := NewStore[person](b, "navet", "person", policy, Ordinary)

	if _, _, err := sa.Fetch(ctx, []string{"k1", "k2"}, up.fetch); err != nil {
		t.Fatal(err)
	}
	found, _, err := sb.Fetch(ctx, []string{"k1", "k2"}, up.fetch)
	if err != nil || len(found) != 2 || found["k1"].Name != "Namn k1" {
		t.Fatalf("replica b: found=%v err=%v", found, err)
	}
	if n := up.numCalls(); n != 1 {
		t.Errorf("upstream called %d times, want 1: replica b must be served from Redis", n)
	}
	hits := metricValue(t, regB, "kommungraf_cache_requests_total", map[string]string{"tier": "redis", "result": "hit"})
	if hits != 2 {
		t.Errorf("replica b redis hits = %v, want 2", hits)
	}
}

func TestReplicasInvalidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	policy := Policy{TTL: time.Minute}

	type key struct{ source, entity, key string }
	all := []key{
		{"navet", "person", "k1"},
		{"navet", "person", "k2"},
		{"navet", "relation", "k1"},
		{"geodata", "property", "k1"},
	}
	for _, tc := range []struct {
		name          string
		source        string
		entity        string
		keys          []string
		wantDropped   []key
		wantUntouched []key
	}{
		{"one key", "navet", "person", []string{"k1"}, all[:1], all[1:]},
		{"entity", "navet", "person", nil, all[:2], all[2:]},
		{"source", "navet", "", nil, all[:3], all[3:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b, _, version := replicas(t)
			raw := rawRedis(t, version)
			up := newUpstream("k1", "k2")
			fetchBoth := func(k key) {
				t.Helper()
				for _, c := range []*Cache{a, b} {
					s := NewStore[person](c, k.source, k.entity, policy, Ordinary)
					if _, _, err := s.Fetch(ctx, []string{k.key}, up.fetch); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, k := range all {
				fetchBoth(k)
			}
			ck := func(k key) string { return b.key(k.source, k.entity, k.key) }
			for _, k := range all {
				if b.localGet(ck(k)) == nil {
					t.Fatalf("%v is not in replica b's in-process tier before the invalidation", k)
				}
			}

			if err := a.Invalidate(ctx, tc.source, tc.entity, tc.keys...); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.wantDropped {
				if n, err := raw.Exists(ctx, ck(k)).Result(); err != nil || n != 0 {
					t.Errorf("%v still in Redis (exists=%d, err=%v)", k, n, err)
				}
				if a.localGet(ck(k)) != nil {
					t.Errorf("%v still in replica a's in-process tier", k)
				}
				eventually(t, 5*time.Second, "replica b drops "+ck(k), func() bool { return b.localGet(ck(k)) == nil })
			}
			for _, k := range tc.wantUntouched {
				if n, err := raw.Exists(ctx, ck(k)).Result(); err != nil || n != 1 {
					t.Errorf("%v gone from Redis (exists=%d, err=%v)", k, n, err)
				}
				if b.localGet(ck(k)) == nil {
					t.Errorf("%v gone from replica b's in-process tier", k)
				}
			}
			// Replica b fetches the dropped records again.
			n := up.numCalls()
			for _, k := range tc.wantDropped {
				s := NewStore[person](b, k.source, k.entity, policy, Ordinary)
				if _, _, err := s.Fetch(ctx, []string{k.key}, up.fetch); err != nil {
					t.Fatal(err)
				}
			}
			if got := up.numCalls() - n; got != len(tc.wantDropped) {
				t.Errorf("replica b fetched %d times after the invalidation, want %d", got, len(tc.wantDropped))
			}
		})
	}
}

// TestInvalidateFencesInflight: a fetch that began before an invalidation
// does not write its (possibly old) record back.
func TestInvalidateFencesInflight(t *testing.T) {
	c := newCache(t, Options{})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	ctx := context.Background()
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Fetch(ctx, []string{"k"}, func(context.Context, []string) (map[string]person, error) {
			close(started)
			<-release
			return map[string]person{"k": {ID: "k", Name: "Gammalt"}}, nil
		})
		done <- err
	}()
	<-started
	if err := c.Invalidate(ctx, "navet", "person", "k"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	up := newUpstream()
	up.set(person{ID: "k", Name: "Nytt"})
	found, _, err := s.Fetch(ctx, []string{"k"}, up.fetch)
	if err != nil || found["k"].Name != "Nytt" {
		t.Errorf("after invalidation: found=%v err=%v, want the new record", found, err)
	}
}

// TestResubscribeDropsLocal: a replica whose subscription comes back may have
// missed invalidations and drops its in-process tier.
func TestResubscribeDropsLocal(t *testing.T) {
	px, url := newProxy(t)
	version := testVersion(t)
	rawRedis(t, version)
	c := newCache(t, Options{Redis: newRedis(t, url), Version: version})
	s := NewStore[person](c, "navet", "person", Policy{TTL: time.Minute}, Ordinary)
	if _, _, err := s.Fetch(context.Background(), []string{"k"}, newUpstream("k").fetch); err != nil {
		t.Fatal(err)
	}
	ck := c.key("navet", "person", "k")
	if c.localGet(ck) == nil {
		t.Fatal("record not in the in-process tier")
	}
	px.cut()
	px.restore(t)
	eventually(t, 10*time.Second, "in-process tier dropped on resubscribe", func() bool { return c.localGet(ck) == nil })
}

// TestHandleInvalidation covers the messages a replica may receive.
func TestHandleInvalidation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload func(c *Cache) string
		dropped []string // keys of navet/person and navet/relation, "*" all
	}{
		{"one key", func(c *Cache) string {
			return `{"origin":"other","version":"` + c.version + `","source":"navet","entity":"person","keys":["k1"]}`
		}, []string{"person/k1"}},
		{"entity", func(c *Cache) string {
			return `{"origin":"other","version":"` + c.version + `","source":"navet","entity":"person"}`
		}, []string{"person/k1", "person/k2"}},
		{"source", func(c *Cache) string {
			return `{"origin":"other","version":"` + c.version + `","source":"navet"}`
		}, []string{"person/k1", "person/k2", "relation/k1"}},
		{"own message", func(c *Cache) string {
			return `{"origin":"` + c.id + `","version":"` + c.version + `","source":"navet"}`
		}, nil},
		{"other version", func(c *Cache) string {
			return `{"origin":"other","version":"v0","source":"navet"}`
		}, nil},
		{"unreadable drops everything", func(*Cache) string { return `{"source":` }, []string{"person/k1", "person/k2", "relation/k1"}},
		{"invalid name drops everything", func(*Cache) string { return `{"source":"a:b"}` }, []string{"person/k1", "person/k2", "relation/k1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t, Options{})
			up := newUpstream("k1", "k2")
			all := []string{"person/k1", "person/k2", "relation/k1"}
			for _, k := range all {
				entity, key, _ := strings.Cut(k, "/")
				s := NewStore[person](c, "navet", entity, Policy{TTL: time.Minute}, Ordinary)
				if _, _, err := s.Fetch(context.Background(), []string{key}, up.fetch); err != nil {
					t.Fatal(err)
				}
			}
			c.handleInvalidation(tc.payload(c))
			for _, k := range all {
				entity, key, _ := strings.Cut(k, "/")
				gone := c.localGet(c.key("navet", entity, key)) == nil
				if want := slices.Contains(tc.dropped, k); gone != want {
					t.Errorf("%s dropped=%v, want %v", k, gone, want)
				}
			}
		})
	}
}
