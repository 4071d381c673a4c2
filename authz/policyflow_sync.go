package authz

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// PolicyChannel is the Redis pub/sub channel on which a replica announces
// the number of a policy version it has just applied.
const PolicyChannel = "kommungraf:policy"

// DefaultPolicyReloadInterval is how often a replica compares its live
// policy with the store's current version, the backstop for a replica that
// missed an announcement.
const DefaultPolicyReloadInterval = 5 * time.Second

// policyReloadTimeout bounds one reload.
const policyReloadTimeout = 5 * time.Second

// RedisPolicyNotifier announces new versions on a Redis channel.
type RedisPolicyNotifier struct {
	rdb     redis.UniversalClient
	channel string
}

// NewRedisPolicyNotifier announces on channel (PolicyChannel if empty).
func NewRedisPolicyNotifier(rdb redis.UniversalClient, channel string) *RedisPolicyNotifier {
	return &RedisPolicyNotifier{rdb: rdb, channel: cmp.Or(channel, PolicyChannel)}
}

// PolicyApplied publishes the version number.
func (n *RedisPolicyNotifier) PolicyApplied(ctx context.Context, version uint64) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return n.rdb.Publish(ctx, n.channel, strconv.FormatUint(version, 10)).Err()
}

// PolicyReloader makes the store's current version live (PolicyFlow.Reload).
type PolicyReloader interface {
	Reload(ctx context.Context) (bool, error)
}

// PolicySyncOptions configure a PolicySync.
type PolicySyncOptions struct {
	// Reloader is told to reload (required).
	Reloader PolicyReloader
	// Redis, when not nil, is subscribed to Channel: an announcement
	// triggers a reload at once.
	Redis   redis.UniversalClient
	Channel string
	// Interval is the periodic reload (default DefaultPolicyReloadInterval).
	Interval time.Duration
	// Logger gets failures (default slog.Default()).
	Logger *slog.Logger
}

// PolicySync keeps a replica's live policy at the store's current version:
// at once when another replica announces a version through Redis, and
// periodically in any case, for announcements missed while Redis was away.
type PolicySync struct {
	// failures counts reloads that failed; lastOK is the Unix time of the
	// last reload that read the store (swapped or not), for the metrics.
	failures atomic.Uint64
	lastOK   atomic.Int64
	cancel   context.CancelFunc
	ps       *redis.PubSub
	done     chan struct{}
	once     sync.Once
}

// StartPolicySync subscribes (if Redis is given) and starts the periodic
// reload. Close stops both.
func StartPolicySync(opts PolicySyncOptions) (*PolicySync, error) {
	if opts.Reloader == nil {
		return nil, errors.New("authz: policy sync needs a reloader")
	}
	opts.Interval = cmp.Or(opts.Interval, DefaultPolicyReloadInterval)
	opts.Channel = cmp.Or(opts.Channel, PolicyChannel)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &PolicySync{cancel: cancel, done: make(chan struct{})}
	s.lastOK.Store(time.Now().Unix()) // the start read the store
	var msgs <-chan any
	if opts.Redis != nil {
		s.ps = opts.Redis.Subscribe(ctx, opts.Channel)
		// Wait for the confirmation, so that the replica is listening once
		// this returns; if Redis does not answer, the periodic reload covers.
		if _, err := s.ps.ReceiveTimeout(ctx, time.Second); err != nil {
			opts.Logger.Warn("policy announcements: not subscribed yet; it keeps trying, the periodic reload covers meanwhile", "error", err)
		}
		msgs = s.ps.ChannelWithSubscriptions()
	}
	go s.run(ctx, opts, msgs)
	return s, nil
}

func (s *PolicySync) run(ctx context.Context, opts PolicySyncOptions, msgs <-chan any) {
	defer close(s.done)
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	reload := func(why string) {
		rctx, cancel := context.WithTimeout(ctx, policyReloadTimeout)
		defer cancel()
		swapped, err := opts.Reloader.Reload(rctx)
		if err == nil {
			s.lastOK.Store(time.Now().Unix())
		}
		switch {
		case err != nil && ctx.Err() == nil:
			s.failures.Add(1)
			opts.Logger.Warn("policy reload failed", "trigger", why, "error", err)
		case swapped:
			opts.Logger.Info("policy version swapped in", "trigger", why)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			reload("periodic")
		case m, ok := <-msgs:
			if !ok {
				msgs = nil // closed by Close; the ticker goes on until ctx ends
				continue
			}
			switch m := m.(type) {
			case *redis.Subscription:
				// A (re)subscription: announcements may have been missed.
				if m.Kind == "subscribe" {
					reload("resubscribed")
				}
			case *redis.Message:
				reload("announcement")
			}
		}
	}
}

// Failures is how many reloads have failed since the start.
func (s *PolicySync) Failures() uint64 { return s.failures.Load() }

// LastSuccess is when a reload last read the store (the zero time before
// the first one).
func (s *PolicySync) LastSuccess() time.Time {
	if u := s.lastOK.Load(); u != 0 {
		return time.Unix(u, 0)
	}
	return time.Time{}
}

// Close stops the subscription and the periodic reload.
func (s *PolicySync) Close() error {
	s.once.Do(func() {
		s.cancel()
		if s.ps != nil {
			// Closing a subscription whose connection is already gone
			// reports that; there is nothing left to release either way.
			_ = s.ps.Close()
		}
		<-s.done
	})
	return nil
}

// Interface guards.
var (
	_ PolicyNotifier = (*RedisPolicyNotifier)(nil)
	_ PolicyReloader = (*PolicyFlow)(nil)
)
