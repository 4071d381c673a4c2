package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestNumbersSurviveRedis: a declared record's numbers are the upstream's
// own (the connectors keep them as json.Number); a replica that reads the
// record from Redis gets them as written, beyond 2^53 and in a nested
// part's objects too, not rounded through a float64.
func TestNumbersSurviveRedis(t *testing.T) {
	version := testVersion(t)
	ctx := context.Background()
	type records = []map[string]any
	rec := map[string]any{
		"id":      json.Number("9007199254740993"),
		"weight":  json.Number("12.50"),
		"vehicle": map[string]any{"seats": json.Number("18014398509481985")},
		"fee":     []any{map[string]any{"amount": json.Number("0.1")}},
	}
	fetch := func(_ context.Context, keys []string) (map[string]records, error) {
		return map[string]records{keys[0]: {rec}}, nil
	}
	writer := NewStore[records](newCache(t, Options{Redis: newRedis(t, redisURL(t)), Version: version}), "tomningar", "collections", Policy{TTL: time.Minute, Shape: "n1"}, Ordinary)
	if _, _, err := writer.Fetch(ctx, []string{"k1"}, fetch); err != nil {
		t.Fatal(err)
	}
	replica := NewStore[records](newCache(t, Options{Redis: newRedis(t, redisURL(t)), Version: version}), "tomningar", "collections", Policy{TTL: time.Minute, Shape: "n1"}, Ordinary)
	got, _, err := replica.Fetch(ctx, []string{"k1"}, func(context.Context, []string) (map[string]records, error) {
		t.Fatal("the replica asked the upstream: the record was to come from Redis")
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := fmt.Sprintf("%#v", got["k1"]), fmt.Sprintf("%#v", records{rec}); g != w {
		t.Fatalf("from Redis\n%s\nwant\n%s", g, w)
	}
}
