package config

import (
	"fmt"
	"runtime"
	"time"
)

// WriteTimeoutMargin is how much longer than the request timeout (plus the
// admission queue's wait) the server's write timeout must be at least: the
// request's own deadline answers REQUEST_TIMEOUT first, and the write
// timeout, which cuts the connection without an answer, is only the net
// under a handler that did not stop.
const WriteTimeoutMargin = 2 * time.Second

// Admission bounds the GraphQL requests one replica works on at once
// (server.admission). Requests over MaxInFlight wait in a short queue,
// shared fairly between client applications; a request that finds the
// queue full or waits longer than MaxQueueWait is refused at once with 503,
// Retry-After and extensions.code OVERLOADED.
type Admission struct {
	// MaxInFlight is how many GraphQL requests run at once (default 4 per
	// CPU the Go runtime may use, at least 4: 8 on two cores). Q1 and Q2
	// are CPU-bound once their upstreams answer in tens of milliseconds, so
	// more slots add latency and memory (a request holds its whole
	// response tree and a goroutine per pending field), not throughput.
	MaxInFlight int `yaml:"maxInFlight"`
	// MaxQueue is how many requests may wait for a slot (default twice
	// MaxInFlight). When it is full, a client with fewer waiting requests
	// than the busiest client takes the busiest client's newest place.
	MaxQueue int `yaml:"maxQueue"`
	// MaxQueueWait is the longest a request waits for a slot (default 500ms).
	MaxQueueWait time.Duration `yaml:"maxQueueWait"`
	// RetryAfter is what a refused request's Retry-After header says
	// (default 1s; whole seconds, at least 1).
	RetryAfter time.Duration `yaml:"retryAfter"`
	// Disabled turns admission control off (for comparisons only).
	Disabled bool `yaml:"disabled"`
}

// Readiness configures /readyz's upstream checks (server.readiness). The
// checks run in the background when /readyz is asked and their results are
// older than Interval, and /readyz answers from the last results at once:
// an upstream's health is reported, never a reason by itself to take the
// replica out of the load balancer.
type Readiness struct {
	// Interval is how old the checks' results may be before /readyz
	// starts a new round (default 5s); without probes no check runs.
	Interval time.Duration `yaml:"interval"`
	// CheckTimeout bounds one check (default 2s); a slower one counts as
	// failing until it answers in time.
	CheckTimeout time.Duration `yaml:"checkTimeout"`
}

func (a *Admission) defaults() {
	if a.MaxInFlight == 0 {
		a.MaxInFlight = max(4, 4*runtime.GOMAXPROCS(0))
	}
	if a.MaxQueue == 0 {
		a.MaxQueue = 2 * a.MaxInFlight
	}
	if a.MaxQueueWait == 0 {
		a.MaxQueueWait = 500 * time.Millisecond
	}
	if a.RetryAfter == 0 {
		a.RetryAfter = time.Second
	}
}

func (r *Readiness) defaults() {
	if r.Interval == 0 {
		r.Interval = 5 * time.Second
	}
	if r.CheckTimeout == 0 {
		r.CheckTimeout = 2 * time.Second
	}
}

// operationsDefaults fills in the server's timing, admission, drain and
// readiness settings. The write timeout follows the request timeout and
// the admission queue's wait, so their order holds whatever the file sets.
func (s *Server) operationsDefaults() {
	s.Admission.defaults()
	s.Readiness.defaults()
	if s.WriteTimeout == 0 {
		s.WriteTimeout = s.RequestTimeout + s.Admission.MaxQueueWait + 5*time.Second
	}
	if s.DrainDelay == nil {
		d := 5 * time.Second
		s.DrainDelay = &d
	}
}

// validateOperations checks that the timeouts are ordered: request (and
// queue wait) < write, with WriteTimeoutMargin between them.
func (s *Server) validateOperations() []error {
	var p []error
	bad := func(format string, args ...any) { p = append(p, fmt.Errorf(format, args...)) }
	a := s.Admission
	if a.MaxInFlight < 0 || a.MaxQueue < 0 || a.MaxQueueWait < 0 || a.RetryAfter < 0 {
		bad("server.admission: maxInFlight, maxQueue, maxQueueWait and retryAfter must not be negative (0 means the default)")
	}
	if s.WriteTimeout < 0 || (s.DrainDelay != nil && *s.DrainDelay < 0) || s.Readiness.Interval < 0 || s.Readiness.CheckTimeout < 0 {
		bad("server.writeTimeout, drainDelay and readiness durations must not be negative")
	}
	if need := s.RequestTimeout + a.MaxQueueWait + WriteTimeoutMargin; s.WriteTimeout > 0 && s.WriteTimeout < need {
		bad("server.writeTimeout %s must be at least requestTimeout %s + admission.maxQueueWait %s + %s, so that a request's own deadline answers before the connection is cut",
			s.WriteTimeout, s.RequestTimeout, a.MaxQueueWait, WriteTimeoutMargin)
	}
	return p
}
