// Package ratelimit limits the request rate of each client application and
// of each user within it, with GCRA buckets in Redis (go-redis/redis_rate)
// shared by every replica. When Redis is not configured, fails, or its
// breaker is open, an in-process token bucket (golang.org/x/time/rate, the
// same rate and burst) decides instead: a limit is never lifted.
package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// Limit is a GCRA limit: Rate requests per Period sustained, Burst at once.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// Result is one decision.
type Result struct {
	// Allowed says the request may proceed.
	Allowed bool
	// Remaining is how many more requests the bucket allows at once.
	Remaining int
	// RetryAfter is when the next request will be allowed (0 when allowed).
	RetryAfter time.Duration
	// ResetAfter is when the bucket is full again.
	ResetAfter time.Duration
	// Backend is "redis" or "local": which limiter decided.
	Backend string
}

// Options configure a Limiter.
type Options struct {
	// Redis keeps the buckets every replica shares; nil decides in process.
	Redis redis.UniversalClient
	// RedisTimeout bounds one Redis round trip (default 50ms).
	RedisTimeout time.Duration
	// KeyPrefix is put before every Redis key (default "kommungraf:").
	KeyPrefix string
	// LocalMaxKeys bounds the in-process buckets (default 100000); the
	// least recently used are dropped beyond it.
	LocalMaxKeys int
	// Registerer receives the limiter's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger gets the breaker's state changes; nil discards.
	Logger *slog.Logger
	// Now is the in-process limiter's clock (default time.Now).
	Now func() time.Time
}

// The Redis breaker opens after breakerFailures consecutive failed round
// trips and lets one probe through after breakerOpenFor, like the cache's.
const (
	breakerFailures = 3
	breakerOpenFor  = time.Second
)

// Limiter decides whether a key may spend one request of its limit.
type Limiter struct {
	opts    Options
	redis   *redis_rate.Limiter
	breaker *gobreaker.CircuitBreaker[*redis_rate.Result]
	local   *otter.Cache[string, *rate.Limiter]
	m       *metrics
}

// New builds a Limiter.
func New(opts Options) (*Limiter, error) {
	if opts.RedisTimeout <= 0 {
		opts.RedisTimeout = 50 * time.Millisecond
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "kommungraf:"
	}
	if opts.LocalMaxKeys <= 0 {
		opts.LocalMaxKeys = 100000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	local, err := otter.New(&otter.Options[string, *rate.Limiter]{
		MaximumSize:      opts.LocalMaxKeys,
		ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](10 * time.Minute),
	})
	if err != nil {
		return nil, err
	}
	l := &Limiter{opts: opts, local: local, m: newMetrics(opts.Registerer)}
	if opts.Redis != nil {
		l.redis = redis_rate.NewLimiter(opts.Redis)
		log := opts.Logger
		l.breaker = gobreaker.NewCircuitBreaker[*redis_rate.Result](gobreaker.Settings{
			Name:    "ratelimit-redis",
			Timeout: breakerOpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				return c.ConsecutiveFailures >= breakerFailures
			},
			OnStateChange: func(_ string, from, to gobreaker.State) {
				switch to {
				case gobreaker.StateOpen:
					l.m.degraded.Set(1)
					log.Warn("rate limiter: Redis failing, limits kept in process", "from", from.String(), "retry_after", breakerOpenFor)
				case gobreaker.StateClosed:
					l.m.degraded.Set(0)
					log.Info("rate limiter: Redis answers again, limits shared")
				}
			},
		})
	}
	return l, nil
}

// Allow spends one request of key's limit. policy names the limit in the
// metrics ("client" or "user"). It never fails: when Redis cannot decide,
// the in-process bucket does.
func (l *Limiter) Allow(ctx context.Context, policy, key string, lim Limit) Result {
	if l.redis != nil {
		res, err := l.breaker.Execute(func() (*redis_rate.Result, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.RedisTimeout)
			defer cancel()
			return l.redis.Allow(ctx, l.opts.KeyPrefix+key, redis_rate.Limit{Rate: lim.Rate, Period: lim.Period, Burst: lim.Burst})
		})
		if err == nil {
			out := Result{Allowed: res.Allowed > 0, Remaining: res.Remaining, ResetAfter: max(res.ResetAfter, 0), Backend: "redis"}
			if !out.Allowed {
				out.RetryAfter = max(res.RetryAfter, 0)
			}
			l.m.count(policy, out)
			return out
		}
		reason := "error"
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			reason = "breaker_open"
		}
		l.m.fallbacks.WithLabelValues(reason).Inc()
	}
	out := l.allowLocal(key, lim)
	l.m.count(policy, out)
	return out
}

// allowLocal is the in-process token bucket: rate/period tokens a second,
// burst deep, which admits what GCRA with the same rate and burst admits.
func (l *Limiter) allowLocal(key string, lim Limit) Result {
	every := rate.Limit(float64(lim.Rate) / lim.Period.Seconds())
	b, _ := l.local.Compute(key, func(old *rate.Limiter, found bool) (*rate.Limiter, otter.ComputeOp) {
		if found && old.Limit() == every && old.Burst() == lim.Burst {
			return old, otter.CancelOp
		}
		return rate.NewLimiter(every, lim.Burst), otter.WriteOp
	})
	now := l.opts.Now()
	r := b.ReserveN(now, 1)
	out := Result{Backend: "local"}
	if d := r.DelayFrom(now); d > 0 || !r.OK() {
		r.CancelAt(now)
		out.RetryAfter = d
	} else {
		out.Allowed = true
	}
	tokens := b.TokensAt(now)
	out.Remaining = max(int(math.Floor(tokens)), 0)
	if missing := float64(lim.Burst) - tokens; missing > 0 {
		out.ResetAfter = time.Duration(missing / float64(every) * float64(time.Second))
	}
	return out
}

// Degraded reports whether the shared limits are being kept in process
// because Redis fails.
func (l *Limiter) Degraded() bool {
	return l.breaker != nil && l.breaker.State() == gobreaker.StateOpen
}

type metrics struct {
	decisions *prometheus.CounterVec
	fallbacks *prometheus.CounterVec
	degraded  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_ratelimit_decisions_total",
			Help: "Rate limit decisions by limit (client, user), limiter (redis, local) and result (allowed, limited).",
		}, []string{"policy", "backend", "result"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_ratelimit_redis_fallbacks_total",
			Help: "Rate limit decisions taken by the in-process limiter because Redis failed (error) or its breaker was open (breaker_open).",
		}, []string{"reason"}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kommungraf_ratelimit_redis_degraded",
			Help: "1 while the rate limiter's Redis breaker is open and each replica limits in process.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.fallbacks, m.degraded)
	}
	return m
}

func (m *metrics) count(policy string, r Result) {
	result := "allowed"
	if !r.Allowed {
		result = "limited"
	}
	m.decisions.WithLabelValues(policy, r.Backend, result).Inc()
}
