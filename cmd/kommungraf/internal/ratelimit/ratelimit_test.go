package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/ratelimit"
	"github.com/kommungraf/kommungraf/sources/cache"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// redisClient is a client of the test Redis; the test is skipped without
// one (fails under CI=true).
func redisClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	rdb, err := cache.NewRedisClient(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// prefix keeps each test's buckets apart on the shared Redis.
func prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "kgtest:" + hex.EncodeToString(b[:]) + ":"
}

// perMinute is 1 request a minute, 5 at once: no token comes back while a
// test runs, so the counts are exact.
var perMinute = ratelimit.Limit{Rate: 1, Period: time.Minute, Burst: 5}

// TestReplicasShareTheBudget: two limiters, each with its own Redis
// client as two gateway processes have, spend one budget.
func TestReplicasShareTheBudget(t *testing.T) {
	p := prefix()
	a, err := ratelimit.New(ratelimit.Options{Redis: redisClient(t), KeyPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ratelimit.New(ratelimit.Options{Redis: redisClient(t), KeyPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		res := l.Allow(context.Background(), "client", "rl:client:x", perMinute)
		if res.Backend != "redis" {
			t.Fatalf("request %d decided by %s, want redis", i, res.Backend)
		}
		if res.Allowed {
			allowed++
		} else if res.RetryAfter <= 0 || res.RetryAfter > time.Minute {
			t.Fatalf("request %d refused with RetryAfter %v, want (0, 1m]", i, res.RetryAfter)
		}
	}
	if allowed != perMinute.Burst {
		t.Fatalf("two replicas allowed %d requests together, want the one burst of %d", allowed, perMinute.Burst)
	}
	// Another key has its own budget.
	if res := b.Allow(context.Background(), "client", "rl:client:y", perMinute); !res.Allowed || res.Remaining != perMinute.Burst-1 {
		t.Fatalf("another client: %+v, want allowed with %d remaining", res, perMinute.Burst-1)
	}
}

// TestRedisDownLocalLimiterEnforces: with Redis unreachable the in-process
// limiter decides, with the same burst, and the fallbacks are counted; once
// the breaker opens Redis is not asked at all.
func TestRedisDownLocalLimiterEnforces(t *testing.T) {
	// A port nothing listens on: what a stopped Redis looks like.
	ln := httptest.NewServer(http.NotFoundHandler())
	addr := ln.Listener.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewRegistry()
	l, err := ratelimit.New(ratelimit.Options{Redis: rdb, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for range 10 {
		res := l.Allow(context.Background(), "client", "rl:client:x", perMinute)
		if res.Backend != "local" {
			t.Fatalf("decided by %s with Redis down, want local", res.Backend)
		}
		if res.Allowed {
			allowed++
		}
	}
	if allowed != perMinute.Burst {
		t.Fatalf("local limiter allowed %d, want the burst of %d", allowed, perMinute.Burst)
	}
	if !l.Degraded() {
		t.Fatal("breaker not open after 10 failed round trips")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range m.GetLabel() {
				key += "," + lp.GetName() + "=" + lp.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[key] = c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				got[key] = g.GetValue()
			}
		}
	}
	want := map[string]float64{
		"kommungraf_ratelimit_decisions_total,backend=local,policy=client,result=allowed": 5,
		"kommungraf_ratelimit_decisions_total,backend=local,policy=client,result=limited": 5,
		"kommungraf_ratelimit_redis_fallbacks_total,reason=error":                         3,
		"kommungraf_ratelimit_redis_fallbacks_total,reason=breaker_open":                  7,
		"kommungraf_ratelimit_redis_degraded":                                             1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// frozen is a clock that stands still unless moved.
type frozen struct {
	mu sync.Mutex
	t  time.Time
}

func (f *frozen) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *frozen) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// TestLocalLimiterRefills: the in-process bucket gives a request back every
// period/rate, as GCRA does.
func TestLocalLimiterRefills(t *testing.T) {
	clock := &frozen{t: time.Unix(1_700_000_000, 0)}
	l, err := ratelimit.New(ratelimit.Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	lim := ratelimit.Limit{Rate: 20, Period: time.Second, Burst: 40}
	for i := range 40 {
		if res := l.Allow(context.Background(), "client", "k", lim); !res.Allowed || res.Remaining != 39-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i, res, 39-i)
		}
	}
	res := l.Allow(context.Background(), "client", "k", lim)
	if res.Allowed || res.RetryAfter != 50*time.Millisecond || res.ResetAfter != 2*time.Second {
		t.Fatalf("41st: %+v, want refused, retry after 50ms, reset after 2s", res)
	}
	clock.add(50 * time.Millisecond)
	if res := l.Allow(context.Background(), "client", "k", lim); !res.Allowed || res.Remaining != 0 {
		t.Fatalf("after 50ms: %+v, want allowed with 0 remaining", res)
	}
}

// gatewayLimits are the production defaults with small user and role
// limits per minute, so that counts are exact against the real Redis.
func gatewayLimits() config.RateLimit {
	cfg := config.Demo()
	rl := cfg.RateLimit
	min := func(burst int) config.Rate { return config.Rate{Rate: 1, Period: time.Minute, Burst: burst} }
	rl.Clients = map[string]config.ClientLimits{
		"anonymous":   {Client: min(3), User: min(2)},
		"bygglov-app": {Client: min(6), User: min(2)},
	}
	rl.Roles = map[string]config.Rate{"senior-officer": min(4)}
	return rl
}

type reply struct {
	status                     int
	policy, state, retry, code string
}

// addr is an anonymous caller from a network address of its own.
func addr(remote string) *authz.Principal {
	p := authz.AnonymousPrincipal()
	p.Subject = "remote:" + remote // read back by send
	return p
}

func send(t *testing.T, h http.Handler, p *authz.Principal) reply {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil) // from 192.0.2.1:1234
	if p != nil {
		if remote, ok := strings.CutPrefix(p.Subject, "remote:"); ok {
			req.RemoteAddr = remote
			p = authz.AnonymousPrincipal()
		}
		req = req.WithContext(authz.NewContext(req.Context(), p))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out := reply{status: rec.Code, policy: rec.Header().Get("RateLimit-Policy"), state: rec.Header().Get("RateLimit"), retry: rec.Header().Get("Retry-After")}
	if rec.Code == http.StatusTooManyRequests {
		var body struct {
			Errors []struct {
				Message    string
				Extensions map[string]any
			}
			Data any
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || body.Data != nil {
			t.Fatalf("429 body %q: want one GraphQL error and data null", rec.Body.String())
		}
		out.code, _ = body.Errors[0].Extensions["code"].(string)
	}
	return out
}

func officer(subject string, roles ...string) *authz.Principal {
	return authz.NewPrincipal(subject, "bygglov-app", roles, "Bygg- och miljönämnden", "oidc", nil)
}

// TestMiddlewareLimits, one line per request in order, against the real
// Redis: users of one client have their own budgets within the client's
// shared one, a role raises a user's, an anonymous caller has the client's
// only, and every answer carries the headers.
func TestMiddlewareLimits(t *testing.T) {
	l, err := ratelimit.New(ratelimit.Options{Redis: redisClient(t), KeyPrefix: prefix()})
	if err != nil {
		t.Fatal(err)
	}
	h := ratelimit.NewMiddleware(gatewayLimits(), l, nil).Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	const (
		both   = `"client";q=6;w=360, "user";q=2;w=120`
		senior = `"client";q=6;w=360, "user";q=4;w=240`
		user   = `"user";q=2;w=120`
		anon   = `"client";q=3;w=180, "user";q=2;w=120`
	)
	for i, tc := range []struct {
		who  *authz.Principal
		want reply
	}{
		{officer("anna"), reply{200, both, `"client";r=5;t=60, "user";r=1;t=60`, "", ""}},
		{officer("anna"), reply{200, both, `"client";r=4;t=120, "user";r=0;t=120`, "", ""}},
		// Anna's own budget is spent; the client's is not touched.
		{officer("anna"), reply{429, user, `"user";r=0;t=60`, "60", ratelimit.CodeRateLimited}},
		{officer("bertil"), reply{200, both, `"client";r=3;t=180, "user";r=1;t=60`, "", ""}},
		{officer("cecilia", "senior-officer"), reply{200, senior, `"client";r=2;t=240, "user";r=3;t=60`, "", ""}},
		{officer("cecilia", "senior-officer"), reply{200, senior, `"client";r=1;t=300, "user";r=2;t=120`, "", ""}},
		{officer("cecilia", "senior-officer"), reply{200, senior, `"client";r=0;t=360, "user";r=1;t=180`, "", ""}},
		// The client's shared budget is spent: David has his own left.
		{officer("david"), reply{429, both, `"client";r=0;t=60, "user";r=1;t=60`, "60", ratelimit.CodeRateLimited}},
		// Anonymous, not affected by bygglov-app: each network address has
		// its own budget within the public's shared one.
		{nil, reply{200, anon, `"client";r=2;t=60, "user";r=1;t=60`, "", ""}},
		{nil, reply{200, anon, `"client";r=1;t=120, "user";r=0;t=120`, "", ""}},
		// This address's budget is spent; the public's is not touched.
		{nil, reply{429, user, `"user";r=0;t=60`, "60", ratelimit.CodeRateLimited}},
		// Another address has its own, until the public's is spent.
		{addr("198.51.100.7:4321"), reply{200, anon, `"client";r=0;t=180, "user";r=1;t=60`, "", ""}},
		{addr("198.51.100.7:4321"), reply{429, anon, `"client";r=0;t=60, "user";r=0;t=120`, "60", ratelimit.CodeRateLimited}},
	} {
		if got := send(t, h, tc.who); got != tc.want {
			t.Fatalf("request %d: got %+v\n want %+v", i, got, tc.want)
		}
	}
}

// TestAddressKey: one key per IPv4 address and per IPv6 /64, whatever the
// port, zone or IPv4-mapped form.
func TestAddressKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:4000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:4000", "192.0.2.7"},
		{"[2001:db8:1:2::1]:4000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:4000", "fe80::/64"},
		{"[2001:db8:1:3::1]:4000", "2001:db8:1:3::/64"},
		{"not an address", "not an address"},
	} {
		if got := ratelimit.AddressKey(tc.addr); got != tc.want {
			t.Errorf("AddressKey(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
