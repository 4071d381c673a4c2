package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// totalCalls sums every upstream call the demo's simulators and database saw.
func (d *demo) totalCalls() int64 {
	var n int64
	for _, ops := range d.gw.Sim().Stats.Snapshot() {
		for _, c := range ops {
			n += c.Calls
		}
	}
	return n
}

func uniqueVersion(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// withRedis points a demo at Redis with its own key space and seal key.
func withRedis(redisURL, version string, localTier bool) func(*config.Config) {
	return func(c *config.Config) {
		c.Redis.URL = redisURL
		c.Cache.Version = version
		// Under -race a pipeline of hundreds of sealed records can take longer
		// than the production round-trip budget.
		c.Cache.RedisTimeout = 2 * time.Second
		if !localTier {
			c.Cache.LocalMaxEntries = -1
		}
	}
}

func TestWarmCacheMakesNoUpstreamCalls(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	tiers := []struct {
		name string
		mod  func(*config.Config)
	}{
		{"in-process tier", nil},
		{"redis only", withRedis(redisURL, uniqueVersion(t), false)},
	}
	for _, tier := range tiers {
		for _, q := range []struct{ name, query string }{{"Q1", q1}, {"Q2", q2}} {
			t.Run(tier.name+"/"+q.name, func(t *testing.T) {
				d := newDemo(t, tier.mod)
				cold := d.query(t, q.query)
				mustNoErrors(t, cold)
				if d.totalCalls() == 0 {
					t.Fatal("the cold query made no upstream calls")
				}
				d.gw.Sim().Stats.Reset()
				warm := d.query(t, q.query)
				mustNoErrors(t, warm)
				if n := d.totalCalls(); n != 0 {
					t.Fatalf("warm %s made %d upstream calls: %v", q.name, n, d.gw.Sim().Stats.Snapshot())
				}
				if string(warm.Data) != string(cold.Data) {
					t.Fatal("warm answer differs from the cold one")
				}
			})
		}
	}
}

func TestReplicasShareRedis(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	version := uniqueVersion(t)
	setSealKey(t) // replicas share their seal keys, or they cannot read each other's sealed records
	a := newDemo(t, withRedis(redisURL, version, true))
	b := newDemo(t, withRedis(redisURL, version, true))
	p := someAdult(t)
	q := `{ person(personalNumber: "` + p.PersonalNumber + `") { givenName surname } }`

	mustNoErrors(t, a.query(t, q))
	if a.calls("folkbokforing", "PersonpostXML") != 1 {
		t.Fatal("replica A did not fetch the person")
	}
	r := b.query(t, q)
	mustNoErrors(t, r)
	if n := b.totalCalls(); n != 0 || !strings.Contains(string(r.Data), p.GivenName) {
		t.Fatalf("replica B made %d upstream calls for a record A cached: %s", n, r.raw)
	}

	// An invalidation on A reaches B: its in-process copy is dropped and
	// Redis no longer has the record, so B fetches it again.
	resp, err := a.post(t, "security-officer", "/admin/cache/invalidate",
		`{"source":"folkbokforing","entity":"person","keys":["`+p.PersonalNumber+`"]}`)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("invalidate: %v %v", err, resp)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		b.gw.Sim().Stats.Reset()
		mustNoErrors(t, b.query(t, q))
		if b.calls("folkbokforing", "PersonpostXML") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica B still serves the invalidated record")
		}
	}
}

func TestInvalidateRejectsBadRequests(t *testing.T) {
	d := newDemo(t, nil)
	for _, persona := range []string{"", "case-officer", "social-secretary"} {
		resp, err := d.post(t, persona, "/admin/cache/invalidate", `{"source":"geodata"}`)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("invalidation as %q: %d, want 403", persona, resp.StatusCode)
		}
	}
	for _, body := range []string{`{}`, `{"source":"nope"}`, `{"source":"geodata","keys":["x"]}`, `{"source":"geodata","extra":1}`, `not json`} {
		resp, err := d.post(t, "security-officer", "/admin/cache/invalidate", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", body, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestRedisOutageNeverFailsRequests(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	proxy := newTCPProxy(t, redisURL)
	d := newDemo(t, withRedis(proxy.url(redisURL), uniqueVersion(t), false))
	query := `{ schoolUnits(first: 3) { edges { node { name property { designation } } } } }`
	mustNoErrors(t, d.query(t, query))

	proxy.cut()
	for i := 0; i < 5; i++ {
		d.gw.Sim().Stats.Reset()
		mustNoErrors(t, d.query(t, query))
		if d.totalCalls() == 0 {
			t.Fatal("with Redis down the answer must come from the upstreams")
		}
	}
	if code, body := getBody(t, d.srv.URL+"/readyz"); code != 200 || !strings.Contains(body, `"status":"degraded"`) {
		t.Fatalf("readyz with Redis down: %d %s", code, body)
	}
	if _, metrics := getBody(t, d.srv.URL+"/metrics"); !strings.Contains(metrics, "kommungraf_cache_redis_errors_total") {
		t.Fatal("Redis errors not counted")
	}

	proxy.restore()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mustNoErrors(t, d.query(t, query))
		d.gw.Sim().Stats.Reset()
		mustNoErrors(t, d.query(t, query))
		if d.totalCalls() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("caching did not resume after Redis came back")
		}
		time.Sleep(100 * time.Millisecond) // the breaker's half-open probe is time-based
	}
	if code, body := getBody(t, d.srv.URL+"/readyz"); code != 200 || !strings.Contains(body, `"status":"ready"`) {
		t.Fatalf("readyz after recovery: %d %s", code, body)
	}
}

func TestLevel3RecordsAreNotPlainInRedis(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	version := uniqueVersion(t)
	setSealKey(t)
	d := newDemo(t, withRedis(redisURL, version, false))
	w := testWorld()

	var protected *model.Person
	for _, p := range w.People {
		if p.ProtectedIdentity && len(p.Surname) > 0 {
			protected = p
			break
		}
	}
	var dietChild string
	for pnr := range w.Diets {
		dietChild = pnr
		break
	}
	mustNoErrors(t, d.query(t, `{ person(personalNumber: "`+protected.PersonalNumber+`") { givenName surname address { street } } }`))
	mustNoErrors(t, d.query(t, q2))
	mustNoErrors(t, d.query(t, `{ person(personalNumber: "`+dietChild+`") { placements { specialDiet absences { date } } } }`))

	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*"+version+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), keys...) })
	secrets := []string{protected.PersonalNumber, protected.GivenName + `"`, "Box 2820"}
	secrets = append(secrets, w.Diets[dietChild]...)
	var sawPerson, sawDiet bool
	for _, k := range keys {
		v, err := rdb.Get(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		sawPerson = sawPerson || strings.Contains(k, ":person:"+protected.PersonalNumber)
		sawDiet = sawDiet || strings.Contains(k, ":diets:")
		if strings.Contains(k, ":person:"+protected.PersonalNumber) || strings.Contains(k, ":diets:") ||
			strings.Contains(k, "placements") || strings.Contains(k, ":absences:") {
			for _, s := range secrets {
				if strings.Contains(v, s) {
					t.Fatalf("key %s holds %q in plain text", k, s)
				}
			}
		}
	}
	if !sawPerson || !sawDiet {
		t.Fatalf("the sealed records were not written to Redis at all (person %v, diets %v): the test proves nothing", sawPerson, sawDiet)
	}
}

func TestStaleIfErrorIsServedAndReported(t *testing.T) {
	d := newDemo(t, func(c *config.Config) {
		c.Cache.Sources["geodata"] = config.CachePolicy{TTL: time.Millisecond, StaleIfError: time.Hour}
		c.Sources.Geodata.Retries = -1
	})
	query := `{ property(designation: "` + testWorld().Properties[0].Designation + `") { designation } }`
	mustNoErrors(t, d.query(t, query))
	d.gw.Sim().GeodataFaults.Set(sim.FaultConfig{ErrorRate: 1})
	time.Sleep(5 * time.Millisecond) // let the 1 ms TTL pass
	r := d.query(t, query)
	mustNoErrors(t, r)
	if !strings.Contains(r.raw, `"stale":[{"source":"geodata","entity":"property-by-designation","ageSeconds":`) {
		t.Fatalf("stale record not reported: %s", r.raw)
	}
	if d.calls("geodata", "fault:error") == 0 {
		t.Fatal("the upstream was not asked before the stale record was served")
	}
}

func setSealKey(t testing.TB) {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	t.Setenv(config.EnvCacheKeys, base64.StdEncoding.EncodeToString(key))
}

func someAdult(t *testing.T) *model.Person {
	t.Helper()
	for _, p := range testWorld().People {
		if !p.ProtectedIdentity && len(p.RelatedNumbers(model.RelationChild)) > 0 {
			return p
		}
	}
	t.Fatal("no adult in the world")
	return nil
}

func getBody(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tcpProxy forwards to Redis until cut, so a test can take Redis away and
// give it back without touching the shared server.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, redisURL string) *tcpProxy {
	t.Helper()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: u.Host}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *tcpProxy) url(redisURL string) string {
	u, _ := url.Parse(redisURL)
	u.Host = p.ln.Addr().String()
	return u.String()
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func TestStaleFieldsAreNamedByPath(t *testing.T) {
	d := newDemo(t, func(c *config.Config) {
		c.Cache.Sources["geodata"] = config.CachePolicy{TTL: time.Millisecond, StaleIfError: time.Hour}
		c.Sources.Geodata.Retries = -1
	})
	var number string
	for _, e := range testWorld().Errands {
		if e.PropertyObjectID != "" {
			number = e.ErrandNumber
			break
		}
	}
	query := `{ errand(errandNumber: "` + number + `") { status property { designation } } }`
	mustNoErrors(t, d.query(t, query))
	d.gw.Sim().GeodataFaults.Set(sim.FaultConfig{ErrorRate: 1})
	time.Sleep(5 * time.Millisecond) // let the 1 ms TTL pass
	r := d.query(t, query)
	mustNoErrors(t, r)
	if !strings.Contains(r.raw, `"stale":[{"path":"errand.property","source":"geodata","entity":"property","ageSeconds":`) {
		t.Fatalf("stale field not named: %s", r.raw)
	}
}
