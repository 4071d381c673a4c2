package upstream

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/kommungraf/kommungraf/sources/tracing"
)

// Metrics are the upstream call metrics. A nil *Metrics records nothing.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	breaker  *prometheus.GaugeVec
	queue    *prometheus.HistogramVec
	sqlFail  *prometheus.CounterVec
}

// NewMetrics registers the upstream metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_upstream_calls_total",
			Help: "Upstream calls by source, operation and outcome (ok or the error code).",
		}, []string{"source", "operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kommungraf_upstream_call_duration_seconds",
			Help:    "Upstream call latency, retries included, by source and operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"source", "operation"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kommungraf_upstream_breaker_open",
			Help: "1 while the upstream's circuit breaker is open, 0.5 half-open, 0 closed.",
		}, []string{"source"}),
		queue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kommungraf_upstream_queue_seconds",
			Help:    "How long an upstream call attempt waited for one of the upstream's slots (its maxConcurrent), by source.",
			Buckets: []float64{.0001, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"source"}),
		sqlFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_sql_failures_total",
			Help: "Failed SQL queries by source (the SQL system) and kind (the error code in lower case: upstream_timeout, upstream_unavailable, upstream_bad_response, upstream_rejected). The log has a sampled line per failure with the SQLSTATE, never the statement or its parameters.",
		}, []string{"source", "kind"}),
	}
	reg.MustRegister(m.calls, m.duration, m.breaker, m.queue, m.sqlFail)
	return m
}

// Observe records one call that did not go through a Client (the SQL
// source); ctx's span, if sampled, is the duration's exemplar.
func (m *Metrics) Observe(ctx context.Context, source, operation string, err error, d time.Duration) {
	m.observe(ctx, source, operation, err, d)
}

func (m *Metrics) observe(ctx context.Context, source, operation string, err error, d time.Duration) {
	if m == nil {
		return
	}
	// "The upstream answered" is one outcome whether or not it knew the key:
	// a not-found of its own would tell whoever reads /metrics that a
	// personnummer the GraphQL answer hid (a protected person) exists.
	outcome := "ok"
	if err != nil && KindOf(err) != NotFound {
		outcome = strings.ToLower(KindOf(err).Code())
	}
	m.calls.WithLabelValues(source, operation, outcome).Inc()
	tracing.Observe(ctx, m.duration.WithLabelValues(source, operation), d.Seconds())
}

// SQLFailed counts one failed SQL query of source.
func (m *Metrics) SQLFailed(source string, err error) {
	if m == nil {
		return
	}
	m.sqlFail.WithLabelValues(source, strings.ToLower(KindOf(err).Code())).Inc()
}

func (m *Metrics) queued(source string, d time.Duration) {
	if m == nil {
		return
	}
	m.queue.WithLabelValues(source).Observe(d.Seconds())
}

func (m *Metrics) breakerState(source string, s gobreaker.State) {
	if m == nil {
		return
	}
	v := 0.0
	switch s {
	case gobreaker.StateOpen:
		v = 1
	case gobreaker.StateHalfOpen:
		v = 0.5
	}
	m.breaker.WithLabelValues(source).Set(v)
}
