package cache

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric label values.
const (
	tierLocal = "local"
	tierRedis = "redis"

	resultHit   = "hit"
	resultMiss  = "miss"
	resultStale = "stale"
	resultError = "error"
)

type metrics struct {
	requests        *prometheus.CounterVec
	redisErrors     *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	redisSlow       *prometheus.CounterVec
	breakerOpenings prometheus.Counter
	writeBack       *prometheus.CounterVec
	lossDetected    prometheus.Counter
}

// newMetrics builds the collectors and registers them with reg, if any.
// Several caches may share one registry (replicas in a test, a restart of the
// wiring): a collector already registered there is reused.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_cache_requests_total",
			Help: "Record lookups per source, entity and cache tier (local, redis), by result (hit, miss, stale, error).",
		}, []string{"source", "entity", "tier", "result"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_cache_redis_errors_total",
			Help: "Failed or timed-out Redis round trips of the record cache, by operation.",
		}, []string{"op"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_cache_rejected_total",
			Help: "Values found in Redis that the record cache refused and fetched again, by source, entity and reason (unsealed, unauthenticated, malformed). Should stay 0 after a key rotation has settled; an unsealed value in a level-3 store means someone else wrote to Redis.",
		}, []string{"source", "entity", "reason"}),
		redisSlow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_cache_redis_slow_total",
			Help: "Redis round trips of the record cache that ran out of their budget while Redis was answering others: a slow Redis or a busy replica, not counted toward opening the breaker. By operation.",
		}, []string{"op"}),
		breakerOpenings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kommungraf_cache_redis_breaker_openings_total",
			Help: "Times the record cache's Redis breaker opened (Redis skipped for a second after real failures). Stays 0 on a healthy Redis.",
		}),
		writeBack: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_cache_redis_writeback_total",
			Help: "In-process records written back to Redis because Redis did not have them (after a restart or flush, or fetched while the breaker was open), by result (written, undone: deleted again because invalidated meanwhile, failed).",
		}, []string{"result"}),
		lossDetected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kommungraf_cache_redis_loss_detected_total",
			Help: "Times this replica found that Redis had lost its data (a master restarted or was flushed) and wrote back its in-process tier.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.redisSlow, err = register(reg, m.redisSlow); err != nil {
		return nil, err
	}
	if m.writeBack, err = register(reg, m.writeBack); err != nil {
		return nil, err
	}
	if m.breakerOpenings, err = register(reg, m.breakerOpenings); err != nil {
		return nil, err
	}
	if m.lossDetected, err = register(reg, m.lossDetected); err != nil {
		return nil, err
	}
	if m.redisErrors, err = register(reg, m.redisErrors); err != nil {
		return nil, err
	}
	if m.rejected, err = register(reg, m.rejected); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, fmt.Errorf("cache: register metrics: %w", err)
}

// storeMetrics are one Store's counters, resolved once so that a lookup does
// not hash label values; creating them also makes the zero series visible.
type storeMetrics struct {
	localHit, localMiss, localStale             prometheus.Counter
	redisHit, redisMiss, redisStale, redisError prometheus.Counter

	rejectedUnsealed, rejectedUnauthenticated, rejectedMalformed prometheus.Counter
}

// rejected is the counter of a reject* reason.
func (m storeMetrics) rejected(reason string) prometheus.Counter {
	switch reason {
	case rejectUnsealed:
		return m.rejectedUnsealed
	case rejectUnauthenticated:
		return m.rejectedUnauthenticated
	default:
		return m.rejectedMalformed
	}
}

func (m *metrics) forStore(source, entity string) storeMetrics {
	c := func(tier, result string) prometheus.Counter {
		return m.requests.WithLabelValues(source, entity, tier, result)
	}
	return storeMetrics{
		localHit:   c(tierLocal, resultHit),
		localMiss:  c(tierLocal, resultMiss),
		localStale: c(tierLocal, resultStale),
		redisHit:   c(tierRedis, resultHit),
		redisMiss:  c(tierRedis, resultMiss),
		redisStale: c(tierRedis, resultStale),
		redisError: c(tierRedis, resultError),

		rejectedUnsealed:        m.rejected.WithLabelValues(source, entity, rejectUnsealed),
		rejectedUnauthenticated: m.rejected.WithLabelValues(source, entity, rejectUnauthenticated),
		rejectedMalformed:       m.rejected.WithLabelValues(source, entity, rejectMalformed),
	}
}

func add(c prometheus.Counter, n int) {
	if n > 0 {
		c.Add(float64(n))
	}
}
