package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kommungraf/kommungraf/sources/testenv"
)

// person stands in for a source record.
type person struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Protected bool   `json:"protected,omitempty"`
}

// upstream is a fake batch source that records its calls.
type upstream struct {
	mu    sync.Mutex
	data  map[string]person
	err   error
	calls [][]string
}

func newUpstream(ids ...string) *upstream {
	u := &upstream{data: make(map[string]person)}
	for _, id := range ids {
		u.data[id] = person{ID: id, Name: "Namn " + id}
	}
	return u
}

func (u *upstream) fetch(_ context.Context, keys []string) (map[string]person, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls = append(u.calls, slices.Clone(keys))
	if u.err != nil {
		return nil, u.err
	}
	out := make(map[string]person)
	for _, k := range keys {
		if p, ok := u.data[k]; ok {
			out[k] = p
		}
	}
	return out, nil
}

func (u *upstream) setErr(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.err = err
}

func (u *upstream) set(p person) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data[p.ID] = p
}

// numCalls returns how many times fetch was called.
func (u *upstream) numCalls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.calls)
}

// callsSince returns the calls after the first n, each sorted.
func (u *upstream) callsSince(n int) [][]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out [][]string
	for _, c := range u.calls[n:] {
		c = slices.Clone(c)
		slices.Sort(c)
		out = append(out, c)
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testVersion is a version no other test uses, so tests sharing one Redis do
// not see each other's keys.
func testVersion(t *testing.T) string {
	t.Helper()
	return "test-" + randomHex(6)
}

// redisURL is the test Redis (skips without it, fails under CI=true).
func redisURL(t testing.TB) string {
	t.Helper()
	return testenv.RedisURL(t)
}

// newRedis returns a client of the cache's kind for rawURL, closed at cleanup.
func newRedis(t *testing.T, rawURL string) redis.UniversalClient {
	t.Helper()
	rdb, err := NewRedisClient(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// rawRedis is a plain client for looking at what the cache wrote. At cleanup
// it deletes every key of version.
func rawRedis(t *testing.T, version string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := scanKeys(ctx, rdb, "kg:"+version+":*")
		if err == nil && len(keys) > 0 {
			err = rdb.Unlink(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("clean up keys of version %s: %v", version, err)
		}
	})
	return rdb
}

func scanKeys(ctx context.Context, rdb *redis.Client, pattern string) ([]string, error) {
	var keys []string
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	slices.Sort(keys)
	return keys, iter.Err()
}

// newCache builds a Cache closed at cleanup.
func newCache(t *testing.T, opts Options) *Cache {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// metricValue sums the samples of a counter whose labels include want.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			labels := make(map[string]string)
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// eventually polls cond until it holds or the deadline passes. The pause
// between polls only paces the loop; correctness never depends on it.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proxy is a TCP proxy in front of the test Redis that can be cut (every
// connection closed, new ones refused as by a stopped server) and restored,
// to stop "Redis" without touching the shared server.
type proxy struct {
	addr   string
	target string

	mu      sync.Mutex
	ln      net.Listener // nil while cut
	stalled bool         // accept, then never answer
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// newProxy starts a proxy to the test Redis and returns it with the Redis URL
// that goes through it.
func newProxy(t *testing.T) (*proxy, string) {
	t.Helper()
	return newProxyTo(t, redisURL(t))
}

// newProxyTo starts a proxy to the Redis of rawURL.
func newProxyTo(t *testing.T, rawURL string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "6379")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, addr: ln.Addr().String(), target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept(ln)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	u.Host = p.addr
	return p, u.String()
}

func (p *proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.stalled {
			p.conns[client] = struct{}{}
			p.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		server, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln {
			p.mu.Unlock()
			client.Close()
			server.Close()
			continue
		}
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Add(2)
		go pipe(server, client)
		go pipe(client, server)
	}
}

// cut closes every connection and the listener: new connections are
// refused until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// stall closes every connection; new ones are accepted and then never
// answered, as by a hung server.
func (p *proxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
	for c := range p.conns {
		c.Close()
	}
}

// restore listens again on the same address.
func (p *proxy) restore(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
}

// tiers are the configurations the fetch tests run on.
type tierSetup struct {
	name  string
	local bool
	redis bool
}

var tierSetups = []tierSetup{
	{"local", true, false},
	{"redis", false, true},
	{"local+redis", true, true},
}

// cacheFor builds a cache for a tier setup with its own version.
func cacheFor(t *testing.T, ts tierSetup, reg prometheus.Registerer) *Cache {
	t.Helper()
	opts := Options{Version: testVersion(t), Registerer: reg}
	if !ts.local {
		opts.LocalMaxEntries = -1
	}
	if ts.redis {
		opts.Redis = newRedis(t, redisURL(t))
		rawRedis(t, opts.Version) // cleans up the version's keys
	}
	return newCache(t, opts)
}

var errUpstream = errors.New("upstream: 503 Service Unavailable")

// containsAny reports whether s holds any of the markers.
func containsAny(s string, markers ...string) bool {
	for _, m := range markers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
