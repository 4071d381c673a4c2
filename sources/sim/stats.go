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
}

// NewStats returns empty counters.
func NewStats() *Stats { return &Stats{m: map[string]map[string]*Counter{}} }

// Record counts one call of system/operation that asked for keys keys.
func (s *Stats) Record(system, operation string, keys int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ops := s.m[system]
	if ops == nil {
		ops = map[string]*Counter{}
		s.m[system] = ops
	}
	c := ops[operation]
	if c == nil {
		c = &Counter{}
		ops[operation] = c
	}
	c.Calls++
	c.Keys += int64(keys)
}

// Snapshot returns a copy of the counters: system -> operation -> counter.
func (s *Stats) Snapshot() map[string]map[string]Counter {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]Counter, len(s.m))
	for sys, ops := range s.m {
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

// Reset sets every counter to zero.
func (s *Stats) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = map[string]map[string]*Counter{}
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
