package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
)

// readiness answers /readyz: whether this replica can serve. It can unless
// it is draining (after SIGTERM). Upstream checks (the registry, the
// e-service platform, the databases, the policy store, ...) run in the
// background at most every Interval, when /readyz is asked, each bounded
// by CheckTimeout, and /readyz reports their last results in its body and in metrics without waiting for
// them: a failing or slow upstream makes the replica "degraded", never
// unready, for every replica shares the upstream, and taking them all out of
// the load balancer would turn a partial outage into a whole one.
type readiness struct {
	checks   map[string]func(context.Context) error
	opts     config.Readiness
	log      *slog.Logger
	degraded func() bool // the shared cache tier (Redis), nil without one

	draining atomic.Bool

	mu        sync.Mutex
	results   map[string]checkResult
	running   map[string]chan struct{} // checks still running, closed when they answer (a slow one is not started twice)
	round     bool                     // a round of checks is running
	lastRound time.Time                // when the last round ended

	up       *prometheus.GaugeVec
	duration *prometheus.GaugeVec
	ready    prometheus.Gauge

	stop chan struct{}
	done sync.WaitGroup
}

// checkResult is one check's last outcome, as /readyz shows it.
type checkResult struct {
	Status     string    `json:"status"` // ok, failing or pending
	Error      string    `json:"error,omitempty"`
	CheckedAt  time.Time `json:"checkedAt,omitzero"`
	DurationMs int64     `json:"durationMs"`
}

func newReadiness(checks map[string]func(context.Context) error, opts config.Readiness, degraded func() bool, reg prometheus.Registerer, log *slog.Logger) *readiness {
	r := &readiness{
		checks: checks, opts: opts, log: log, degraded: degraded,
		results: map[string]checkResult{}, running: map[string]chan struct{}{},
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kommungraf_readiness_check_up",
			Help: "1 if the readiness check of an upstream (or store) passed last time, else 0. Reported only: a failing check does not make /readyz fail.",
		}, []string{"check"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kommungraf_readiness_check_duration_seconds",
			Help: "How long the last run of a readiness check took (at most server.readiness.checkTimeout).",
		}, []string{"check"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kommungraf_ready",
			Help: "1 while /readyz answers 200, 0 while the replica drains.",
		}),
		stop: make(chan struct{}),
	}
	for name := range checks {
		r.results[name] = checkResult{Status: "pending"}
	}
	r.ready.Set(1)
	if reg != nil {
		reg.MustRegister(r.up, r.duration, r.ready)
	}
	return r
}

// refresh starts a round of checks in the background when the last one
// is older than Interval and none is running; /readyz and /metrics never
// wait for it. Checks run only as often as someone asks (the load
// balancer's probe), never on their own.
func (r *readiness) refresh() {
	r.mu.Lock()
	due := !r.round && time.Since(r.lastRound) >= r.opts.Interval
	if due {
		r.round = true
	}
	r.mu.Unlock()
	if !due {
		return
	}
	select {
	case <-r.stop:
		return
	default:
	}
	r.done.Go(func() {
		r.runChecks()
		r.mu.Lock()
		r.round, r.lastRound = false, time.Now()
		r.mu.Unlock()
	})
}

// runChecks runs every check that is not still running from an earlier
// round, each in its own goroutine with CheckTimeout, and returns when
// each has answered or timed out. A check that ignores its context keeps
// its goroutine until it returns, but is not started again meanwhile.
func (r *readiness) runChecks() {
	var wg sync.WaitGroup
	for name, check := range r.checks {
		r.mu.Lock()
		answered, busy := r.running[name]
		if !busy {
			answered = make(chan struct{})
			r.running[name] = answered
		}
		r.mu.Unlock()
		if !busy {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), r.opts.CheckTimeout)
				defer cancel()
				start := time.Now()
				err := check(ctx)
				d := time.Since(start)
				res := checkResult{Status: "ok", CheckedAt: start}
				if err != nil {
					res = checkResult{Status: "failing", Error: "unreachable", CheckedAt: start}
					if ctx.Err() != nil {
						res.Error = "timeout"
					}
					r.log.Debug("readiness check failed", "check", name, "error", err.Error())
				}
				r.mu.Lock()
				delete(r.running, name)
				r.mu.Unlock()
				r.record(name, res, d)
				close(answered)
			}()
		}
		// Wait for the check, this round's or a running one's, at most
		// CheckTimeout (and a little): one that ignores its context is
		// recorded as failing meanwhile.
		wg.Go(func() {
			t := time.NewTimer(r.opts.CheckTimeout + 100*time.Millisecond)
			defer t.Stop()
			select {
			case <-answered:
			case <-t.C:
				r.record(name, checkResult{Status: "failing", Error: "timeout", CheckedAt: time.Now()}, r.opts.CheckTimeout)
			case <-r.stop:
			}
		})
	}
	wg.Wait()
}

func (r *readiness) record(name string, res checkResult, d time.Duration) {
	res.DurationMs = d.Milliseconds()
	r.mu.Lock()
	prev := r.results[name]
	r.results[name] = res
	r.mu.Unlock()
	if prev.Status != res.Status && res.Status == "failing" {
		r.log.Warn("readiness check failing (reported, the replica stays ready)", "check", name, "error", res.Error)
	} else if prev.Status == "failing" && res.Status == "ok" {
		r.log.Info("readiness check passes again", "check", name)
	}
	up := 0.0
	if res.Status == "ok" {
		up = 1
	}
	r.up.WithLabelValues(name).Set(up)
	r.duration.WithLabelValues(name).Set(d.Seconds())
}

// drain makes /readyz answer 503 from now on.
func (r *readiness) drain() {
	r.draining.Store(true)
	r.ready.Set(0)
}

// close stops the background checks and waits for a running round.
func (r *readiness) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.done.Wait()
}

// ServeHTTP answers /readyz from the last results, without waiting for any
// check: 200 "ready" or "degraded" (some check failing, named in the body),
// 503 "draining".
func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r.refresh()
	r.mu.Lock()
	checks := make(map[string]checkResult, len(r.results)+1)
	var failing []string
	for name, res := range r.results {
		checks[name] = res
		if res.Status == "failing" {
			failing = append(failing, name)
		}
	}
	r.mu.Unlock()
	if r.degraded != nil {
		res := checkResult{Status: "ok"}
		if r.degraded() {
			res = checkResult{Status: "failing", Error: "unreachable; serving from upstreams"}
			failing = append(failing, "redis")
		}
		checks["redis"] = res
	}
	sort.Strings(failing)
	status, code := "ready", http.StatusOK
	if len(failing) > 0 {
		status = "degraded"
	}
	if r.draining.Load() {
		status, code = "draining", http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	body := map[string]any{"status": status, "checks": checks}
	if len(failing) > 0 {
		body["failing"] = failing
	}
	writeJSON(w, code, body)
}

var _ http.Handler = (*readiness)(nil)

// redisDegraded reports the shared cache tier's state to /readyz, or nil
// without Redis.
func (g *Gateway) redisDegraded() func() bool {
	if g.redis == nil || g.cache == nil {
		return nil
	}
	return g.cache.Degraded
}

// RefreshReadiness runs every readiness check now and returns when each has
// answered or timed out (server.readiness.checkTimeout), so that /readyz
// shows the current state: for tests and drills that change an upstream
// and must not wait for the next interval.
func (g *Gateway) RefreshReadiness() {
	g.readiness.runChecks()
	g.readiness.mu.Lock()
	g.readiness.lastRound = time.Now()
	g.readiness.mu.Unlock()
}
