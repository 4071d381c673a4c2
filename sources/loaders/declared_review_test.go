package loaders

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/cache"
	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// scriptedConnector answers key "k" with the next answer of its script
// (the last one repeats) and counts its calls.
type scriptedConnector struct {
	mu      sync.Mutex
	calls   int
	answers [][]connect.Record
}

func (s *scriptedConnector) MaxKeys() int { return 0 }

func (s *scriptedConnector) Fetch(_ context.Context, keys []string) (map[string][]connect.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	out := map[string][]connect.Record{}
	for _, k := range keys {
		if k == "k" {
			out[k] = a
		}
	}
	return out, nil
}

func (s *scriptedConnector) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

var (
	goodThing = []connect.Record{{"n": "k", "size": json.Number("3")}}
	// badThing does not fit the schema's type: its size is not a number.
	badThing = []connect.Record{{"n": "k", "size": "three"}}
)

func cachedFactory(t *testing.T, c connect.Connector, p cache.Policy) *Factory {
	t.Helper()
	ch, err := cache.New(cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return NewFactory(Sources{}, Options{
		Caching:   &Caching{Cache: ch},
		Resources: []Resource{{System: "fake", Name: "things", Connector: c, Cache: p}},
	})
}

// TestReviewARecordThatDoesNotFitIsNotCached: an upstream answer whose
// record does not fit the schema's type is a bad response, like a
// hand-written connector's undecodable answer. It must not be cached as
// the key's fresh answer: the next request asks the upstream again
// instead of failing from the cache for the whole TTL (and across the
// replicas through Redis).
func TestReviewARecordThatDoesNotFitIsNotCached(t *testing.T) {
	c := &scriptedConnector{answers: [][]connect.Record{badThing, goodThing}}
	f := cachedFactory(t, c, cache.Policy{TTL: time.Hour, NegativeTTL: time.Minute})

	_, err := List[thing](NewContext(context.Background(), f.New()), "fake.things", "k")
	if upstream.KindOf(err) != upstream.BadResponse {
		t.Fatalf("first request: error %v, want a bad response", err)
	}
	got, err := List[thing](NewContext(context.Background(), f.New()), "fake.things", "k")
	if err != nil || len(got) != 1 || got[0].Size != 3 {
		t.Fatalf("second request: %v, %v; want the upstream's good answer (upstream calls: %d), not the cached bad one", got, err, c.n())
	}
	if c.n() != 2 {
		t.Fatalf("%d upstream calls, want 2", c.n())
	}
}

// TestReviewABadAnswerServesTheStaleRecord: with staleIfError, an answer
// that does not fit the schema is a failure of the upstream like any other,
// so the last good record is served stale instead of being overwritten by
// the bad one.
func TestReviewABadAnswerServesTheStaleRecord(t *testing.T) {
	c := &scriptedConnector{answers: [][]connect.Record{goodThing, badThing}}
	f := cachedFactory(t, c, cache.Policy{TTL: 20 * time.Millisecond, StaleIfError: time.Hour})
	if _, err := List[thing](NewContext(context.Background(), f.New()), "fake.things", "k"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // past the TTL, within staleIfError
	got, err := List[thing](NewContext(context.Background(), f.New()), "fake.things", "k")
	if err != nil || len(got) != 1 || got[0].Size != 3 {
		t.Fatalf("after a bad answer: %v, %v; want the last good record, stale", got, err)
	}
	if c.n() != 2 {
		t.Fatalf("%d upstream calls, want 2", c.n())
	}
}
