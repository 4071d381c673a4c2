package gateway_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

const cheapQuery = `{"query":"{ schoolUnits(first: 1) { totalCount } }"}`

type limited struct {
	status        int
	retry, policy string
	state, code   string
}

// hit sends one cheap query as auth ("" for anonymous).
func (d *demo) hit(t testing.TB, auth string) limited {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", strings.NewReader(cheapQuery))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return limited{}
	}
	defer resp.Body.Close()
	out := limited{status: resp.StatusCode, retry: resp.Header.Get("Retry-After"), policy: resp.Header.Get("RateLimit-Policy"), state: resp.Header.Get("RateLimit")}
	var body struct {
		Errors []struct{ Extensions map[string]any }
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Errorf("not JSON: %s", raw)
	}
	if len(body.Errors) > 0 {
		out.code, _ = body.Errors[0].Extensions["code"].(string)
	}
	return out
}

// burst sends n anonymous queries from 8 clients at once and returns the
// answers and how long they took.
func (d *demo) burst(t testing.TB, n int) ([]limited, time.Duration) {
	t.Helper()
	out := make([]limited, n)
	var wg sync.WaitGroup
	next := make(chan int)
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for i := range next {
				out[i] = d.hit(t, "")
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, time.Since(start)
}

// TestDemoBurstMeetsRateLimit: an anonymous caller (20/s, burst 40 per
// network address within the public's 200/s, the production defaults)
// meets 429s in a burst of 300 requests, each
// with Retry-After and the RateLimit headers, while another client is
// served; the refusals are counted.
func TestDemoBurstMeetsRateLimit(t *testing.T) {
	d := newSecureDemo(t)
	answers, took := d.burst(t, 300)
	ok, refused := 0, 0
	for i, a := range answers {
		switch a.status {
		case http.StatusOK:
			ok++
			if a.code != "" || a.policy != `"client";q=400;w=2, "user";q=40;w=2` || !strings.HasPrefix(a.state, `"client";r=`) {
				t.Fatalf("answer %d: %+v", i, a)
			}
		case http.StatusTooManyRequests:
			refused++
			// The address's own budget: the public's is left to others.
			if a.code != "RATE_LIMITED" || a.retry != "1" || a.policy != `"user";q=40;w=2` || a.state != `"user";r=0;t=1` {
				t.Fatalf("answer %d: %+v, want RATE_LIMITED, Retry-After 1, RateLimit \"user\";r=0;t=1", i, a)
			}
		default:
			t.Fatalf("answer %d: status %d", i, a.status)
		}
	}
	// GCRA: the burst, then 20 a second.
	most := 40 + int(math.Ceil(20*took.Seconds())) + 1
	if ok < 40 || ok > most || refused == 0 {
		t.Fatalf("%d served and %d refused in %v: want at least the burst of 40, at most %d, and some refused", ok, refused, took, most)
	}
	// Another client application has its own budget.
	if a := d.hit(t, "Bearer "+d.token(t, "preschool-admin")); a.status != http.StatusOK || a.policy != `"client";q=400;w=2, "user";q=100;w=2` {
		t.Fatalf("preschool-admin during the anonymous burst: %+v", a)
	}
	_, metrics := d.get(t, "/metrics")
	if !strings.Contains(metrics, `kommungraf_ratelimit_rejections_total{client="anonymous",policy="user"} `+itoa(refused)) {
		t.Fatalf("rejections not counted as %d:\n%s", refused, grepLines(metrics, "kommungraf_ratelimit"))
	}
}

// TestGatewaysShareRateLimit: two gateway processes on one Redis share the
// anonymous client's budget; with Redis gone the local limiter refuses.
func TestGatewaysShareRateLimit(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "kgtest:" + hex.EncodeToString(b[:]) + ":"
	perMinute := func(cfg *config.Config) {
		// 5 at once and 1 a minute: exact counts, whatever the machine's speed.
		cfg.RateLimit.Clients["anonymous"] = config.ClientLimits{
			Client: config.Rate{Rate: 1, Period: time.Minute, Burst: 5},
			User:   config.Rate{Rate: 1, Period: time.Minute, Burst: 5},
		}
		cfg.RateLimit.KeyPrefix = prefix
	}
	a := startDemo(t, func(cfg *config.Config) { cfg.Redis.URL = redisURL; perMinute(cfg) }, 0, false)
	b2 := startDemo(t, func(cfg *config.Config) { cfg.Redis.URL = redisURL; perMinute(cfg) }, 0, false)
	served := 0
	for i := range 10 {
		g := a
		if i%2 == 1 {
			g = b2
		}
		if r := g.hit(t, ""); r.status == http.StatusOK {
			served++
		} else if r.status != http.StatusTooManyRequests || r.retry == "" {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	if served != 5 {
		t.Fatalf("two gateways served %d anonymous requests together, want the one burst of 5", served)
	}

	// Redis stopped: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + ln.Addr().String() + "/0"
	ln.Close()
	cfg := config.Demo()
	perMinute(cfg)
	cfg.Redis.URL = dead
	down := serve(t, cfg, gateway.Options{Demo: true, World: testWorld(), Logger: slog.New(slog.DiscardHandler)})
	served = 0
	for range 10 {
		if r := down.hit(t, ""); r.status == http.StatusOK {
			served++
		}
	}
	if served != 5 {
		t.Fatalf("with Redis down the gateway served %d of 10, want the burst of 5", served)
	}
	_, metrics := down.get(t, "/metrics")
	if !strings.Contains(metrics, `kommungraf_ratelimit_decisions_total{backend="local",policy="user",result="limited"} 5`) {
		t.Fatalf("local decisions not counted:\n%s", grepLines(metrics, "kommungraf_ratelimit"))
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
