package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// NewRedisClient builds a client from a URL as written in the config:
//
//	redis://[user:password@]host:port[/db][?options]    one node
//	rediss://...                                         one node over TLS
//	redis://host:port?addr=host2:port&addr=...           Redis Cluster
//	redis://host:port?master_name=m&addr=host2:port      Sentinel
//
// Options are go-redis's URL options (dial_timeout, read_timeout, ...).
// Context deadlines are always honoured, so the cache's per-round-trip
// timeout also ends the socket read, not only the wait for it.
func NewRedisClient(rawURL string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cache: redis URL does not parse")
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		opt, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("cache: redis sentinel URL %s: %w", u.Redacted(), err)
		}
		opt.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(opt), nil
	case q.Has("addr"):
		opt, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("cache: redis cluster URL %s: %w", u.Redacted(), err)
		}
		opt.ContextTimeoutEnabled = true
		return redis.NewClusterClient(opt), nil
	default:
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("cache: redis URL %s: %w", u.Redacted(), err)
		}
		opt.ContextTimeoutEnabled = true
		return redis.NewClient(opt), nil
	}
}

// ErrDegraded is returned (wrapped) by Invalidate while the Redis breaker is
// open: Redis and the other replicas were not reached and the invalidation
// should be retried. Fetch never returns it.
var ErrDegraded = errors.New("cache: redis tier degraded")

// errCallerGone marks a failure caused by the caller's own context, which
// says nothing about Redis and must not trip the breaker.
var errCallerGone = errors.New("cache: caller gone")

// errSlow marks a round trip that ran out of its budget while Redis had
// answered another round trip within the last slowGrace: Redis (or this
// replica, on two busy cores) is slow, not down. It is counted in
// kommungraf_cache_redis_slow_total and does not trip the breaker; a Redis
// that answers nothing for slowGrace turns its timeouts into failures, so a
// hung Redis still opens the breaker.
var errSlow = errors.New("cache: redis round trip over budget")

// Round trips are sized to their budget: a pipeline is cut into round trips
// of at most maxPipelineCmds commands and, for writes, about
// maxPipelineBytes of values, each bounded by Options.RedisTimeout on its
// own. A local Redis answers 64 GETs of a few KiB in well under a
// millisecond; one pipeline of a Q2 page's thousands of keys did not fit
// 50 ms on two busy cores, and its timeouts opened the breaker on a healthy
// Redis.
const (
	maxPipelineCmds  = 64
	maxPipelineBytes = 256 << 10
	slowGrace        = 500 * time.Millisecond
)

// viaBreaker runs fn through the Redis breaker. While the breaker is open
// (or already probing) fn is not run and the answer is ErrDegraded. Only
// real failures count toward opening it: an error of Redis or the
// connection, or timeouts with no answer from Redis for slowGrace. The
// caller's own cancellation and isolated timeouts do not (errCallerGone,
// errSlow).
func (c *Cache) viaBreaker(caller context.Context, fn func() error) error {
	_, err := c.breaker.Execute(func() (struct{}, error) {
		err := fn()
		switch {
		case err == nil:
			c.lastOK.Store(time.Now().UnixNano())
		case caller.Err() != nil:
			return struct{}{}, fmt.Errorf("%w: %w", errCallerGone, err)
		case isTimeout(err) && c.slow():
			return struct{}{}, fmt.Errorf("%w: %w", errSlow, err)
		}
		return struct{}{}, err
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return ErrDegraded
	}
	return err
}

// redisCall runs one Redis round trip of a Fetch through the breaker,
// bounded by the Redis timeout. Failures are counted and logged here.
func (c *Cache) redisCall(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	err := c.viaBreaker(ctx, func() error { return c.bounded(ctx, fn) })
	switch {
	case err == nil, errors.Is(err, ErrDegraded), errors.Is(err, errCallerGone):
	case errors.Is(err, errSlow):
		c.metrics.redisSlow.WithLabelValues(op).Inc()
	default:
		c.redisFailed(op, err)
	}
	return err
}

// bounded runs fn with the Redis timeout and returns when it ends or when the
// timeout passes, whichever is first: with a client that ignores context
// deadlines (ContextTimeoutEnabled false) a hung Redis would otherwise hold
// the request for the client's read timeout (3 s by default). An abandoned
// fn finishes on its own and its result is dropped.
func (c *Cache) bounded(ctx context.Context, fn func(ctx context.Context) error) error {
	budget := c.timeout
	if ctx.Value(backgroundKey{}) != nil {
		budget = max(backgroundBudget, c.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("redis round trip: %w", ctx.Err())
	}
}

// backgroundKey marks the context of the cache's own background work (the
// refill's checks and write-backs): no request waits for it, so its round
// trips get backgroundBudget rather than the request path's RedisTimeout.
type backgroundKey struct{}

// backgroundBudget bounds one round trip of background work.
const backgroundBudget = time.Second

func (c *Cache) redisFailed(op string, err error) {
	c.metrics.redisErrors.WithLabelValues(op).Inc()
	c.log.Debug("redis error", "op", op, "err", err)
}

// chunks cuts n items into consecutive [from, to) ranges of at most
// maxPipelineCmds items and, when size is not nil, about maxPipelineBytes
// (an item larger than that is a round trip of its own).
func chunks(n int, size func(i int) int) [][2]int {
	var out [][2]int
	for from := 0; from < n; {
		to, bytes := from, 0
		for to < n && to-from < maxPipelineCmds {
			if size != nil {
				if b := size(to); to > from && bytes+b > maxPipelineBytes {
					break
				} else {
					bytes += b
				}
			}
			to++
		}
		out = append(out, [2]int{from, to})
		from = to
	}
	return out
}

// redisGet reads cache keys with pipelines of GETs, maxPipelineCmds per
// round trip (MGET would fail across Redis Cluster slots; a cluster
// pipeline is one round trip per node). A nil slice element is an absent
// key. The first failed round trip ends the read.
func (c *Cache) redisGet(ctx context.Context, cks []string) ([][]byte, error) {
	vals := make([][]byte, len(cks))
	for _, ch := range chunks(len(cks), nil) {
		part := cks[ch[0]:ch[1]]
		var got [][]byte
		err := c.redisCall(ctx, "get", func(ctx context.Context) error {
			pipe := c.rdb.Pipeline()
			cmds := make([]*redis.StringCmd, len(part))
			for i, ck := range part {
				cmds[i] = pipe.Get(ctx, ck)
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			out := make([][]byte, len(part))
			for i, cmd := range cmds {
				b, err := cmd.Bytes()
				switch {
				case err == nil:
					out[i] = b
				case errors.Is(err, redis.Nil):
				default:
					return err
				}
			}
			got = out // read by the caller only when fn returned in time
			return nil
		})
		if err != nil {
			return nil, err
		}
		copy(vals[ch[0]:], got)
	}
	return vals, nil
}

type redisItem struct {
	ck  string
	val []byte
	ttl time.Duration
}

// redisSet writes entries with pipelines of SETs with expiry, sized like
// redisGet's and by bytes. It stops at the first failed round trip and
// returns how many items were written before it.
func (c *Cache) redisSet(ctx context.Context, items []redisItem) (int, error) {
	for _, ch := range chunks(len(items), func(i int) int { return len(items[i].val) }) {
		part := items[ch[0]:ch[1]]
		err := c.redisCall(ctx, "set", func(ctx context.Context) error {
			pipe := c.rdb.Pipeline()
			for _, it := range part {
				pipe.Set(ctx, it.ck, it.val, it.ttl)
			}
			_, err := pipe.Exec(ctx)
			return err
		})
		if err != nil {
			return ch[0], err
		}
	}
	return len(items), nil
}

// redisDelete deletes cache keys with pipelines of single-key UNLINKs
// (a multi-key DEL fails across Redis Cluster slots).
func (c *Cache) redisDelete(ctx context.Context, cks []string) error {
	for _, ch := range chunks(len(cks), nil) {
		pipe := c.rdb.Pipeline()
		for _, ck := range cks[ch[0]:ch[1]] {
			pipe.Unlink(ctx, ck)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// publish sends an announcement on InvalidationChannel. On a cluster it goes
// to the master that serves the channel's slot, where every replica's
// subscriber is connected (go-redis subscribes there), so announcements and
// write-back barriers reach each subscriber in the order they were sent.
// Elsewhere (a single node, Sentinel) there is one server anyway.
func (c *Cache) publish(ctx context.Context, msg []byte) error {
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, InvalidationChannel)
		if err != nil {
			return err
		}
		return node.Publish(ctx, InvalidationChannel, msg).Err()
	}
	return c.rdb.Publish(ctx, InvalidationChannel, msg).Err()
}

// redisDeletePattern deletes every key matching a SCAN pattern, on every
// master of a cluster (or shard of a ring).
func (c *Cache) redisDeletePattern(ctx context.Context, pattern string) error {
	del := func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				pipe := node.Pipeline()
				for _, k := range keys {
					pipe.Unlink(ctx, k)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	switch rdb := c.rdb.(type) {
	case *redis.ClusterClient:
		return rdb.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return del(ctx, node) })
	case *redis.Ring:
		return rdb.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error { return del(ctx, node) })
	default:
		return del(ctx, rdb)
	}
}

// dialWatch records failed dials: a Redis that refuses connections is down,
// and the timeouts of round trips after such a dial are failures at once,
// not errSlow.
type dialWatch struct{ c *Cache }

func (h dialWatch) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil && ctx.Err() == nil {
			h.c.lastDialFailed.Store(time.Now().UnixNano())
		}
		return conn, err
	}
}

func (h dialWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h dialWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// watchDials installs dialWatch on the client, or on every node of a cluster.
func (c *Cache) watchDials() {
	switch rdb := c.rdb.(type) {
	case *redis.ClusterClient:
		rdb.OnNewNode(func(node *redis.Client) { node.AddHook(dialWatch{c}) })
	default:
		rdb.AddHook(dialWatch{c})
	}
}

// isTimeout reports a round trip that ran out of time: the cache's own
// deadline, or the socket deadline go-redis derives from it.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// slow reports whether a timed-out round trip counts as slow rather than
// failed: Redis answered within slowGrace and no dial failed since.
func (c *Cache) slow() bool {
	ok := c.lastOK.Load()
	return time.Since(time.Unix(0, ok)) < slowGrace && c.lastDialFailed.Load() < ok
}
