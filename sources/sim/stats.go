package sim

import (
	"encoding/json"
	"net/http"
	"sync"
)

// Counter counts the calls of one operation and the keys they asked for.
type Counter struct {
	Calls int64 `json:"calls"`
	Keys  int64 `json:"keys"`
}

// Stats counts calls and keys per system and operation. The simulators record
// every request they answer, and the SQL source records every query, so tests
// and benchmarks can prove batching from outside the gateway.
type Stats struct {
	mu sync.Mutex
	m  map[string]map[string]*Counter
	// byRequest counts the same per gateway request id (X-Request-Id), so
	// that tests with concurrent clients can check every request's calls.
	byRequest map[string]map[string]map[string]*Counter
	// inFlight and maxInFlight are per system: calls being answered now,
	// and the most at once since the last Reset.
	inFlight, maxInFlight map[string]int64
}

// NewStats returns empty counters.
func NewStats() *Stats {
	s := &Stats{}
	s.Reset()
	return s
}

// Record counts one call of system/operation that asked for keys keys.
func (s *Stats) Record(system, operation string, keys int) {
	s.RecordRequest("", system, operation, keys)
}

// RecordRequest is Record for a call made on behalf of the gateway request
// requestID ("" for none: counted in the totals only).
func (s *Stats) RecordRequest(requestID, system, operation string, keys int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	count(s.m, system, operation, keys)
	if requestID != "" {
		m := s.byRequest[requestID]
		if m == nil {
			m = map[string]map[string]*Counter{}
			s.byRequest[requestID] = m
		}
		count(m, system, operation, keys)
	}
}

func count(m map[string]map[string]*Counter, system, operation string, keys int) {
	ops := m[system]
	if ops == nil {
		ops = map[string]*Counter{}
		m[system] = ops
	}
	c := ops[operation]
	if c == nil {
		c = &Counter{}
		ops[operation] = c
	}
	c.Calls++
	c.Keys += int64(keys)
}

// Request returns the calls made on behalf of one gateway request:
// system -> operation -> counter.
func (s *Stats) Request(requestID string) map[string]map[string]Counter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return snapshot(s.byRequest[requestID])
}

// enter counts a call of system in flight until the returned func is called.
func (s *Stats) enter(system string) (leave func()) {
	s.mu.Lock()
	s.inFlight[system]++
	if n := s.inFlight[system]; n > s.maxInFlight[system] {
		s.maxInFlight[system] = n
	}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.inFlight[system]--
		s.mu.Unlock()
	}
}

// MaxInFlight is the most calls of system answered at once since the last
// Reset.
func (s *Stats) MaxInFlight(system string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight[system]
}

// Snapshot returns a copy of the counters: system -> operation -> counter.
func (s *Stats) Snapshot() map[string]map[string]Counter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return snapshot(s.m)
}

func snapshot(m map[string]map[string]*Counter) map[string]map[string]Counter {
	out := make(map[string]map[string]Counter, len(m))
	for sys, ops := range m {
		o := make(map[string]Counter, len(ops))
		for op, c := range ops {
			o[op] = *c
		}
		out[sys] = o
	}
	return out
}

// Calls returns the number of calls of system/operation so far.
func (s *Stats) Calls(system, operation string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.m[system][operation]; c != nil {
		return c.Calls
	}
	return 0
}

// Reset sets every counter to zero. Calls in flight stay counted as such.
func (s *Stats) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = map[string]map[string]*Counter{}
	s.byRequest = map[string]map[string]map[string]*Counter{}
	if s.inFlight == nil {
		s.inFlight = map[string]int64{}
	}
	s.maxInFlight = map[string]int64{}
	for sys, n := range s.inFlight {
		s.maxInFlight[sys] = n
	}
}

// ServeHTTP answers GET with the counters as JSON and DELETE by resetting them.
func (s *Stats) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Snapshot())
	case http.MethodDelete:
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}
