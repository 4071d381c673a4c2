package gateway_test

import (
	"sort"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// BenchmarkCacheQ1 compares Q1 straight from the upstreams (20 ms simulated
// latency on every call) with Q1 from a warm cache, in-process and Redis-only.
// It reports the median latency and the upstream calls per query; with
// -cpu and RunParallel off, throughput is 1/median per client.
//
//	go test -run '^$' -bench 'BenchmarkCache' -benchtime 30x -count 3 ./cmd/kommungraf/internal/gateway/
func BenchmarkCacheQ1(b *testing.B) {
	redisURL := testenv.RedisURL(b)
	setSealKey(b)
	for _, c := range []struct {
		name string
		mod  func(*config.Config)
	}{
		{"direct", func(c *config.Config) { c.Cache.Disabled = true }},
		{"warm-in-process", nil},
		{"warm-redis-only", withRedis(redisURL, "bench"+time.Now().Format("150405.000000"), false)},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := newDemoWith(b, benchConfig(c.mod), 20*time.Millisecond)
			mustNoErrors(b, d.query(b, q1)) // warm up (and fill the cache)
			d.gw.Sim().Stats.Reset()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				r := d.query(b, q1)
				lat = append(lat, time.Since(start))
				if len(r.Errors) > 0 {
					b.Fatal(r.raw)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			med := lat[len(lat)/2]
			b.ReportMetric(float64(med.Microseconds())/1000, "median-ms")
			b.ReportMetric(1/med.Seconds(), "req/s-per-client")
			b.ReportMetric(float64(d.totalCalls())/float64(b.N), "upstream-calls/op")
		})
	}
}

// benchConfig measures with the production batching configuration (tests
// widen the safety net's wait).
func benchConfig(mod func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.Batching.Wait = loaders.DefaultWait
		if mod != nil {
			mod(c)
		}
	}
}

// BenchmarkCacheWarmThroughput drives warm Q1 from parallel clients, in-process
// tier vs Redis only, and reports requests per second.
func BenchmarkCacheWarmThroughput(b *testing.B) {
	redisURL := testenv.RedisURL(b)
	setSealKey(b)
	for _, c := range []struct {
		name string
		mod  func(*config.Config)
	}{
		{"in-process", nil},
		{"redis-only", withRedis(redisURL, "bench"+time.Now().Format("150405.000000"), false)},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := newDemoWith(b, benchConfig(c.mod), 20*time.Millisecond)
			mustNoErrors(b, d.query(b, q1))
			b.SetParallelism(4)
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if r := d.query(b, q1); len(r.Errors) > 0 {
						b.Error(r.raw)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
