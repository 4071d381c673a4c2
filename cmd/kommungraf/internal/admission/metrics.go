package admission

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the admission metrics; with no Registerer they are kept but
// not exported.
type metrics struct {
	requests *prometheus.CounterVec
	refusals *prometheus.CounterVec
	wait     prometheus.Histogram
	inFlight prometheus.Gauge
	queued   prometheus.Gauge
}

func newMetrics(opts Options) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_admission_requests_total",
			Help: "GraphQL requests by admission outcome: admitted (at once), queued (admitted after waiting) or refused (503 OVERLOADED).",
		}, []string{"outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_admission_refused_total",
			Help: "GraphQL requests refused by admission control, by reason: queue_full, displaced, queue_timeout, canceled.",
		}, []string{"reason"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kommungraf_admission_queue_seconds",
			Help:    "Time GraphQL requests waited in the admission queue, admitted or not (requests admitted at once are not observed).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kommungraf_admission_in_flight",
			Help: "GraphQL requests running now.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kommungraf_admission_queued",
			Help: "GraphQL requests waiting for a slot now.",
		}),
	}
	limit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kommungraf_admission_in_flight_limit",
		Help: "Configured bound of GraphQL requests running at once (server.admission.maxInFlight).",
	}, func() float64 { return float64(opts.MaxInFlight) })
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kommungraf_admission_queue_limit",
		Help: "Configured length of the admission queue (server.admission.maxQueue).",
	}, func() float64 { return float64(opts.MaxQueue) })
	for _, o := range []string{"admitted", "queued", "refused"} {
		m.requests.WithLabelValues(o)
	}
	for _, r := range []string{ReasonQueueFull, ReasonDisplaced, ReasonQueueTimeout, ReasonCanceled} {
		m.refusals.WithLabelValues(r)
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(m.requests, m.refusals, m.wait, m.inFlight, m.queued, limit, queue)
	}
	return m
}

func (m *metrics) admitted(queued bool, waited time.Duration) {
	if !queued {
		m.requests.WithLabelValues("admitted").Inc()
		return
	}
	m.requests.WithLabelValues("queued").Inc()
	m.wait.Observe(waited.Seconds())
}

func (m *metrics) refused(reason string, waited time.Duration) {
	m.requests.WithLabelValues("refused").Inc()
	m.refusals.WithLabelValues(reason).Inc()
	if reason != ReasonQueueFull {
		m.wait.Observe(waited.Seconds())
	}
}
