package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// InvalidationChannel is the Redis pub/sub channel on which replicas announce
// invalidations to each other.
const InvalidationChannel = "kommungraf:cache:invalidate"

// SentinelPrefix starts the key each replica keeps in Redis (its id follows)
// to notice that Redis lost its data (refill.go). It lives outside the
// record keys (kg:...), expires a minute after its replica stops, and
// holds nothing but the replica's random id.
const SentinelPrefix = "kommungraf:cache:alive:"

// Defaults for zero Options fields.
const (
	DefaultLocalMaxEntries = 100_000
	DefaultVersion         = "v1"
	DefaultRedisTimeout    = 50 * time.Millisecond
)

// The Redis breaker opens after breakerFailures consecutive failed round
// trips and lets one probe through after breakerOpenFor.
const (
	breakerFailures = 3
	breakerOpenFor  = time.Second
)

// invalidateTimeout bounds the Redis work of one Invalidate when the caller's
// context has no earlier deadline (a source-wide SCAN takes several trips).
const invalidateTimeout = 30 * time.Second

// Options configure a Cache. The zero value is an in-process cache with the
// defaults.
type Options struct {
	// Redis is the shared tier; nil keeps the in-process tier only. The
	// client belongs to the caller: Close does not close it. Build it with
	// NewRedisClient, or set ContextTimeoutEnabled, so that a timed-out round
	// trip also releases its connection promptly.
	Redis redis.UniversalClient
	// LocalMaxEntries bounds the in-process tier: 0 means
	// DefaultLocalMaxEntries, a negative value disables the tier.
	LocalMaxEntries int
	// Version names the schema/mapping version and is part of every key, so
	// a deploy that changes a record's shape does not read the old shape.
	// Letters, digits, '.', '_' and '-' only. Default DefaultVersion.
	Version string
	// SealKeys are AES-256 keys (32 bytes each, see ParseKeys): the first
	// seals, all open, so a rotation puts the new key first and keeps the
	// old one until its records have expired. Level3 stores seal every
	// value they write and accept only values that open; without keys they
	// keep to the in-process tier and neither write to nor read from Redis.
	SealKeys [][]byte
	// RedisTimeout bounds each Redis round trip of a Fetch. Default
	// DefaultRedisTimeout.
	RedisTimeout time.Duration
	// Registerer receives the metrics; nil registers none (they are still
	// counted). Registering twice with one Registerer shares the collectors.
	Registerer prometheus.Registerer
	// Logger receives breaker state changes and invalidations; nil discards.
	Logger *slog.Logger
}

// Cache holds the tiers shared by the Stores built on it. It is safe for
// concurrent use.
type Cache struct {
	rdb     redis.UniversalClient
	version string
	timeout time.Duration
	local   *otter.Cache[string, *entry] // nil: disabled
	seal    *sealer                      // nil: no seal keys
	breaker *gobreaker.CircuitBreaker[struct{}]
	metrics *metrics
	log     *slog.Logger
	id      string // this replica, in invalidation messages

	mu       sync.Mutex
	inflight map[string]*call

	// invMu orders in-process writes against invalidations: an invalidation
	// bumps gen under the write lock, and a Fetch writes its entries under
	// the read lock only if gen has not moved since it began reading, so a
	// fetch that raced an invalidation cannot bring the old record back.
	invMu sync.RWMutex
	gen   atomic.Uint64

	// shapes holds each shaped store's "shape:", by "source:entity".
	shapes sync.Map

	probing atomic.Bool    // a Degraded probe is under way
	probes  sync.WaitGroup // Degraded probes, waited for by Close

	lastOK         atomic.Int64 // Unix nanoseconds of the last Redis round trip that succeeded
	lastDialFailed atomic.Int64 // Unix nanoseconds of the last failed dial to Redis

	// The refill of the Redis tier (refill.go): epoch counts the times
	// Redis was found to have lost data; an entry remembers the epoch in
	// which it was last known to be in Redis.
	epoch      atomic.Uint64
	wbq        chan wbItem     // local hits to write back
	sweepReq   chan struct{}   // a sweep of the whole in-process tier is wanted
	stop       chan struct{}   // closed by Close: the maintainer stops
	life       context.Context // ends at Close
	endLife    context.CancelFunc
	maintDone  chan struct{}
	barriers   sync.Map          // nonce -> chan struct{}: write-back barriers awaited
	redisIDs   map[string]string // node address -> run_id, maintainer only
	sweepAgain bool              // a write-back failed: sweep at the next tick; maintainer only
	sentinel   string            // this replica's sentinel key

	ps        *redis.PubSub
	subDone   chan struct{}
	closeOnce sync.Once

	// onWait, set by tests only, runs when a Fetch starts waiting for
	// another caller's in-flight fetch of key.
	onWait func(key string)
	// afterDrop, set by tests only, runs between an invalidation's first
	// delete in Redis and its announcement.
	afterDrop func()
}

// New builds a Cache. With Redis set it subscribes to InvalidationChannel;
// an unreachable Redis does not fail New: the cache starts degraded and
// recovers when Redis answers.
func New(opts Options) (*Cache, error) {
	c := &Cache{
		rdb:      opts.Redis,
		version:  opts.Version,
		timeout:  opts.RedisTimeout,
		log:      opts.Logger,
		inflight: make(map[string]*call),
		id:       newID(),
		wbq:      make(chan wbItem, writeBackQueue),
		sweepReq: make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	c.epoch.Store(1)
	c.life, c.endLife = context.WithCancel(context.Background())
	if c.version == "" {
		c.version = DefaultVersion
	}
	if err := validName("version", c.version); err != nil {
		return nil, err
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRedisTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "cache")
	var err error
	if c.seal, err = newSealer(opts.SealKeys); err != nil {
		return nil, err
	}
	if c.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	if size := opts.LocalMaxEntries; size >= 0 {
		if size == 0 {
			size = DefaultLocalMaxEntries
		}
		c.local, err = otter.New(&otter.Options[string, *entry]{
			MaximumSize: size,
			// An entry lives until its stale-until time, which is also its
			// Redis expiry; the fresh-until time is checked on read.
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *entry]) time.Duration {
				return time.Until(e.Value.staleUntil)
			}),
		})
		if err != nil {
			return nil, fmt.Errorf("cache: in-process tier: %w", err)
		}
	}
	c.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1,
		Timeout:     breakerOpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= breakerFailures
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) || errors.Is(err, errSlow) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			switch to {
			case gobreaker.StateOpen:
				c.metrics.breakerOpenings.Inc()
				c.log.Warn("redis tier degraded: skipping Redis", "from", from.String(), "retry_after", breakerOpenFor)
			case gobreaker.StateHalfOpen:
				c.log.Debug("redis tier: probing")
			case gobreaker.StateClosed:
				c.log.Info("redis tier recovered: writing back what this replica fetched meanwhile")
				c.requestSweep()
			}
		},
	})
	if c.rdb != nil {
		c.sentinel = SentinelPrefix + c.id
		c.watchDials()
		c.subscribe()
		c.checkLoss(true) // plants the sentinel: a loss from now on is noticed
		c.maintDone = make(chan struct{})
		go c.maintain()
	}
	return c, nil
}

// Close stops the invalidation subscriber and the in-process tier's
// maintenance. It does not close the Redis client.
func (c *Cache) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.stop)
		c.endLife()
		if c.maintDone != nil {
			<-c.maintDone
		}
		if c.ps != nil {
			err = c.ps.Close()
			select {
			case <-c.subDone:
			case <-time.After(5 * time.Second):
				err = errors.Join(err, errors.New("subscriber did not stop within 5s"))
			}
		}
		c.probes.Wait()
		if c.local != nil {
			c.local.StopAllGoroutines()
		}
	})
	if err != nil {
		return fmt.Errorf("cache: close subscriber: %w", err)
	}
	return nil
}

// Degraded reports whether the Redis tier is being skipped after failures:
// true from the breaker's opening until a probe succeeds. Probes are the
// Fetches after the open period; so that a replica without traffic still
// recovers (and /readyz with it), a call of Degraded in that state also
// starts a probe of its own (a PING). A cache without Redis is never degraded.
func (c *Cache) Degraded() bool {
	if c.rdb == nil {
		return false
	}
	switch c.breaker.State() {
	case gobreaker.StateClosed:
		return false
	case gobreaker.StateHalfOpen:
		if c.probing.CompareAndSwap(false, true) {
			c.probes.Go(func() {
				defer c.probing.Store(false)
				_ = c.redisCall(context.Background(), "ping", func(ctx context.Context) error {
					return c.rdb.Ping(ctx).Err()
				})
			})
		}
	}
	return true
}

// Invalidate drops records: the given keys of source/entity; with no keys the
// whole entity; with entity "" (and no keys) the whole source. It drops them
// from the in-process tier, deletes them from Redis (a pattern is deleted
// with SCAN and UNLINK on every master) and announces the invalidation to the
// other replicas. Any Redis failure is returned, so the caller can retry;
// while the Redis breaker is open the error wraps ErrDegraded at once.
func (c *Cache) Invalidate(ctx context.Context, source, entity string, keys ...string) error {
	if err := validName("source", source); err != nil {
		return err
	}
	if entity != "" {
		if err := validName("entity", entity); err != nil {
			return err
		}
	} else if len(keys) > 0 {
		return fmt.Errorf("cache: invalidate keys of source %s: entity is required", source)
	}
	c.dropLocal(source, entity, keys)
	c.log.Info("invalidate", "source", source, "entity", entity, "keys", len(keys))
	if c.rdb == nil {
		return nil
	}
	// Through the breaker: while Redis is known to be down the caller learns
	// at once (ErrDegraded) instead of after the client's dial retries, and
	// a success here also closes a half-open breaker.
	var errs []error
	err := c.viaBreaker(ctx, func() error {
		ctx, cancel := context.WithTimeout(ctx, invalidateTimeout)
		defer cancel()
		errs = c.invalidateRedis(ctx, source, entity, keys)
		return errors.Join(errs...)
	})
	if errors.Is(err, ErrDegraded) {
		return fmt.Errorf("cache: invalidate %s/%s: dropped in this replica only: %w", source, entity, err)
	}
	return errors.Join(errs...)
}

// invalidateRedis deletes the records from Redis and announces the
// invalidation; it returns what failed.
//
// Delete, announce, delete again: another replica that had not heard of
// the invalidation yet may write its in-process copy back to Redis
// (refill.go) between the first delete and the announcement, and its
// barrier, sent before the announcement, would not catch it; the second
// delete does. A write-back after the announcement is caught by that
// replica's barrier.
func (c *Cache) invalidateRedis(ctx context.Context, source, entity string, keys []string) []error {
	var errs []error
	drop := func() {
		if len(keys) > 0 {
			cks := make([]string, len(keys))
			for i, k := range keys {
				cks[i] = c.key(source, entity, k)
			}
			if err := c.redisDelete(ctx, cks); err != nil {
				c.redisFailed("del", err)
				errs = append(errs, fmt.Errorf("cache: invalidate %s/%s in redis: %w", source, entity, err))
			}
			return
		}
		pattern := globEscape(c.prefix(source, entity)) + "*"
		if err := c.redisDeletePattern(ctx, pattern); err != nil {
			c.redisFailed("scan", err)
			errs = append(errs, fmt.Errorf("cache: invalidate %s in redis: %w", pattern, err))
		}
	}
	drop()
	if c.afterDrop != nil {
		c.afterDrop()
	}
	msg, err := json.Marshal(invalidation{Origin: c.id, Version: c.version, Source: source, Entity: entity, Keys: keys})
	if err == nil {
		err = c.publish(ctx, msg)
	}
	if err != nil {
		c.redisFailed("publish", err)
		errs = append(errs, fmt.Errorf("cache: announce invalidation of %s/%s: %w", source, entity, err))
	}
	if len(errs) == 0 {
		drop()
	}
	return errs
}

// invalidation is the message on InvalidationChannel.
type invalidation struct {
	Origin  string   `json:"origin"`
	Version string   `json:"version"`
	Source  string   `json:"source"`
	Entity  string   `json:"entity,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	// Barrier, with Origin this replica, marks a write-back barrier
	// (refill.go); it carries no Version, so every cache ignores it as an
	// invalidation of another version, older replicas included.
	Barrier string `json:"barrier,omitempty"`
}

// subscribe starts the subscriber. go-redis reconnects and resubscribes by
// itself; every subscription confirmation after the first means the
// connection was lost and announcements may have been missed, so the whole
// in-process tier is dropped then.
func (c *Cache) subscribe() {
	wait := max(c.timeout, 250*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c.ps = c.rdb.Subscribe(ctx, InvalidationChannel)
	// Wait for the confirmation, so that a Cache is listening once New
	// returns. If Redis does not answer in time, the confirmation (or a
	// later one) arrives through the channel and drops the tier: harmless
	// at start-up.
	if _, err := c.ps.ReceiveTimeout(ctx, wait); err != nil {
		c.log.Warn("invalidation subscriber not connected yet; it keeps trying", "err", err)
	}
	ch := c.ps.ChannelWithSubscriptions()
	c.subDone = make(chan struct{})
	go func() {
		defer close(c.subDone)
		for msg := range ch {
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					c.log.Info("invalidation subscriber (re)connected: dropping the in-process tier, announcements may have been missed")
					c.dropAllLocal()
				}
			case *redis.Message:
				c.handleInvalidation(m.Payload)
			}
		}
	}()
}

func (c *Cache) handleInvalidation(payload string) {
	var m invalidation
	err := json.Unmarshal([]byte(payload), &m)
	if err == nil && m.Barrier != "" && m.Origin == c.id {
		if ch, ok := c.barriers.LoadAndDelete(m.Barrier); ok {
			close(ch.(chan struct{}))
		}
		return
	}
	if err == nil {
		err = validName("source", m.Source)
	}
	if err == nil && m.Entity != "" {
		err = validName("entity", m.Entity)
	}
	if err == nil && m.Entity == "" && len(m.Keys) > 0 {
		err = errors.New("keys without entity")
	}
	if err != nil {
		// Whatever it meant to drop, dropping everything is safe.
		c.log.Warn("unreadable invalidation message: dropping the in-process tier", "err", err)
		c.dropAllLocal()
		return
	}
	// A version is a cache of its own: Invalidate deletes only its own
	// version's Redis keys, so a replica of another version (a rolling
	// deploy, a parallel test) would read the old record back from Redis
	// anyway. Its records age out by TTL.
	if m.Origin == c.id || m.Version != c.version {
		return
	}
	c.dropLocal(m.Source, m.Entity, m.Keys)
}

// dropLocal drops keys, or everything under source/entity (entity "" = the
// whole source), from the in-process tier. It also fences writes of fetches
// already under way, and detaches their in-flight calls so that a Fetch
// after the invalidation does not join a fetch that began before it.
func (c *Cache) dropLocal(source, entity string, keys []string) {
	match := func(ck string) bool { return strings.HasPrefix(ck, c.prefix(source, entity)) }
	if len(keys) > 0 {
		set := make(map[string]struct{}, len(keys))
		for _, k := range keys {
			set[c.key(source, entity, k)] = struct{}{}
		}
		match = func(ck string) bool { _, ok := set[ck]; return ok }
	}
	c.invMu.Lock()
	defer c.invMu.Unlock()
	c.gen.Add(1)
	c.detach(match)
	if c.local == nil {
		return
	}
	if len(keys) > 0 {
		for _, k := range keys {
			c.local.Invalidate(c.key(source, entity, k))
		}
		return
	}
	for ck := range c.local.Keys() {
		if match(ck) {
			c.local.Invalidate(ck)
		}
	}
}

func (c *Cache) dropAllLocal() {
	c.invMu.Lock()
	defer c.invMu.Unlock()
	c.gen.Add(1)
	c.detach(func(string) bool { return true })
	if c.local != nil {
		c.local.InvalidateAll()
	}
}

// detach forgets the in-flight calls of matching cache keys; their leaders
// still complete them for the callers already waiting.
func (c *Cache) detach(match func(ck string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ck := range c.inflight {
		if match(ck) {
			delete(c.inflight, ck)
		}
	}
}

// localGet returns the in-process entry for a cache key, or nil.
func (c *Cache) localGet(ck string) *entry {
	if c.local == nil {
		return nil
	}
	e, _ := c.local.GetIfPresent(ck)
	return e
}

type localItem struct {
	ck string
	e  *entry
}

// localSet stores entries unless an invalidation happened since gen was read.
func (c *Cache) localSet(gen uint64, items []localItem) {
	if c.local == nil || len(items) == 0 {
		return
	}
	c.invMu.RLock()
	defer c.invMu.RUnlock()
	if c.gen.Load() != gen {
		return
	}
	now := time.Now()
	for _, it := range items {
		if now.Before(it.e.staleUntil) {
			c.local.Set(it.ck, it.e)
		}
	}
}

// key is the cache key of one record, with its store's shape.
func (c *Cache) key(source, entity, key string) string {
	shape, _ := c.shapes.Load(source + ":" + entity)
	s, _ := shape.(string)
	return c.prefix(source, entity) + s + key
}

// prefix is the common start of the keys of source/entity, or of the whole
// source when entity is "". Names cannot hold ':' (validName), so one
// source's prefix never matches another's keys.
func (c *Cache) prefix(source, entity string) string {
	if entity == "" {
		return "kg:" + c.version + ":" + source + ":"
	}
	return "kg:" + c.version + ":" + source + ":" + entity + ":"
}

// validName admits the characters a version, source or entity may have:
// none of them is ':' (the key separator) or a glob metacharacter.
func validName(what, s string) error {
	if s == "" {
		return fmt.Errorf("cache: %s is empty", what)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("cache: %s %q: only letters, digits, '.', '_' and '-' are allowed", what, s)
		}
	}
	return nil
}

// globEscape quotes the characters SCAN MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
