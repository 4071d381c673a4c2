package authz_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// Two replicas share a PostgreSQL store: a change applied on one is live on
// the other within a second through the Redis announcement, or through the
// periodic reload when there is no Redis.
func TestPolicySyncAcrossReplicas(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	ctx := context.Background()
	replica := func(t *testing.T, notifier authz.PolicyNotifier) *pfFixture {
		t.Helper()
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		store, err := authz.NewPostgresPolicyStore(ctx, pool, pgaAdapter(t, pool))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return newPolicyFlowOn(t, store, false, notifier)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	tests := []struct {
		name     string
		redis    bool
		cluster  bool
		interval time.Duration
	}{
		{"redis announcement", true, false, time.Hour},
		{"periodic reload", false, false, 100 * time.Millisecond},
		{"redis cluster announcement", true, true, time.Hour},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, 4)
			_, _ = rand.Read(b)
			channel := "kommungraf:policy:test:" + hex.EncodeToString(b)
			var notifier authz.PolicyNotifier
			sync := authz.PolicySyncOptions{Interval: tt.interval, Logger: quiet, Channel: channel}
			if tt.redis {
				var client redis.UniversalClient = rdb
				if tt.cluster {
					// KOMMUNGRAF_TEST_REDIS_CLUSTER: CI starts a three-master cluster.
					copt, err := redis.ParseClusterURL(testenv.RedisClusterURL(t))
					if err != nil {
						t.Fatal(err)
					}
					cc := redis.NewClusterClient(copt)
					t.Cleanup(func() { cc.Close() })
					client = cc
				}
				notifier = authz.NewRedisPolicyNotifier(client, channel)
				sync.Redis = client
			}
			a, other := replica(t, notifier), replica(t, nil)
			sync.Reloader = other.flow
			s, err := authz.StartPolicySync(sync)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })

			base := uint64(1 + i) // the subtests share the store: each adds a version
			text := without(t, authz.DefaultPolicy(), pfAddressLine)
			if i%2 == 1 {
				text = authz.DefaultPolicy()
			}
			res, err := a.flow.Propose(ctx, "demo-security-officer", base, text, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			applied := time.Now()
			for other.a.Version() != res.Version {
				if time.Since(applied) > time.Second {
					t.Fatalf("the other replica is at version %d a second after version %d was applied", other.a.Version(), res.Version)
				}
				time.Sleep(10 * time.Millisecond) // polling the other replica, not waiting for a goroutine
			}
			if got, want := other.decide(t, "case-officer", "Address.city"), i%2 == 1; got != want {
				t.Fatalf("the other replica decides %v for the case officer's Address.city, want %v", got, want)
			}
		})
	}
}

// TestPolicySyncCountsFailedReloads: when the policy store stops answering,
// each periodic reload fails, the failures are counted (the metric that
// alerts on it) and the last success stays where it was, while the
// replica keeps deciding on its last policy.
func TestPolicySyncCountsFailedReloads(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	store, err := authz.NewPostgresPolicyStore(ctx, pool, pgaAdapter(t, pool))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := newPolicyFlowOn(t, store, false, nil)
	s, err := authz.StartPolicySync(authz.PolicySyncOptions{Reloader: f.flow, Interval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for s.LastSuccess().IsZero() || s.Failures() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("healthy store: %d failures, last success %v", s.Failures(), s.LastSuccess())
		}
		time.Sleep(10 * time.Millisecond)
	}
	version := f.a.Version()
	pool.Close() // the store is gone
	lastOK := s.LastSuccess()
	for s.Failures() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("store gone: %d failures counted", s.Failures())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.LastSuccess(); !got.Equal(lastOK) {
		t.Errorf("last success moved to %v while every reload failed", got)
	}
	if f.a.Version() != version {
		t.Errorf("the live policy changed from version %d to %d", version, f.a.Version())
	}
}
