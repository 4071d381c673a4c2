package cache

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestShapeKeepsOldRecordsOut: two deployments of one declared resource
// whose declarations differ (another shape) share Redis: the new one
// never reads what the old one cached, and invalidating a key, or the
// entity, drops it in both shapes' keys as the shape's store wrote them.
func TestShapeKeepsOldRecordsOut(t *testing.T) {
	version := testVersion(t)
	raw := rawRedis(t, version)
	ctx := context.Background()
	oldC := newCache(t, Options{Redis: newRedis(t, redisURL(t)), Version: version})
	newC := newCache(t, Options{Redis: newRedis(t, redisURL(t)), Version: version})
	old := NewStore[person](oldC, "avfall", "pickups", Policy{TTL: time.Minute, Shape: "aaaa"}, Ordinary)
	cur := NewStore[person](newC, "avfall", "pickups", Policy{TTL: time.Minute, Shape: "bbbb"}, Ordinary)
	same := NewStore[person](newCache(t, Options{Redis: newRedis(t, redisURL(t)), Version: version}),
		"avfall", "pickups", Policy{TTL: time.Minute, Shape: "bbbb"}, Ordinary)

	up := newUpstream("p1")
	if _, _, err := old.Fetch(ctx, []string{"p1"}, up.fetch); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cur.Fetch(ctx, []string{"p1"}, up.fetch); err != nil {
		t.Fatal(err)
	}
	if n := up.numCalls(); n != 2 {
		t.Fatalf("%d upstream calls, want 2: the new shape must not read the old shape's record", n)
	}
	if _, _, err := same.Fetch(ctx, []string{"p1"}, up.fetch); err != nil {
		t.Fatal(err)
	}
	if n := up.numCalls(); n != 2 {
		t.Fatalf("%d upstream calls, want 2: a replica of the same shape reads the shared record", n)
	}
	keys, err := scanKeys(ctx, raw, "kg:"+version+":avfall:pickups:*")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !strings.Contains(strings.Join(keys, " "), ":pickups:bbbb:p1") {
		t.Fatalf("keys %v, want one per shape", keys)
	}

	// A key invalidated through the new shape's cache drops its record.
	if err := newC.Invalidate(ctx, "avfall", "pickups", "p1"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := scanKeys(ctx, raw, "kg:"+version+":avfall:pickups:bbbb:*"); len(keys) != 0 {
		t.Fatalf("after a keyed invalidation: %v", keys)
	}
	// The entity invalidated drops every shape.
	if err := newC.Invalidate(ctx, "avfall", "pickups"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := scanKeys(ctx, raw, "kg:"+version+":avfall:pickups:*"); len(keys) != 0 {
		t.Fatalf("after invalidating the entity: %v", keys)
	}
}
