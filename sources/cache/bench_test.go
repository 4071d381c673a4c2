package cache

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkFetchWarm measures a warm batch of 50 keys (a Q1 page) per tier
// setup: the in-process tier answers without I/O, Redis alone with one
// pipelined round trip.
func BenchmarkFetchWarm(b *testing.B) {
	for _, ts := range []tierSetup{{"local", true, false}, {"redis", false, true}} {
		b.Run(ts.name, func(b *testing.B) {
			c := benchCache(b, ts)
			keys := make([]string, 50)
			up := newUpstream()
			for i := range keys {
				keys[i] = fmt.Sprintf("1990%08d", i)
				up.set(person{ID: keys[i], Name: "Namn"})
			}
			s := NewStore[person](c, "navet", "person", Policy{TTL: time.Hour}, Ordinary)
			ctx := context.Background()
			if _, _, err := s.Fetch(ctx, keys, up.fetch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Fetch(ctx, keys, up.fetch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(up.numCalls()-1)/float64(b.N), "upstream-calls/op")
		})
	}
}

func benchCache(b *testing.B, ts tierSetup) *Cache {
	b.Helper()
	opts := Options{Version: "bench-" + randomHex(6)}
	if !ts.local {
		opts.LocalMaxEntries = -1
	}
	if ts.redis {
		rdb, err := NewRedisClient(redisURL(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { rdb.Close() })
		opts.Redis = rdb
		opts.RedisTimeout = time.Second
	}
	c, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if ts.redis {
			_ = c.Invalidate(context.Background(), "navet", "")
		}
		c.Close()
	})
	return c
}
