package cache

import (
	"context"
	"errors"
	"fmt"
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

// viaBreaker runs fn through the Redis breaker. While the breaker is open
// (or already probing) fn is not run and the answer is ErrDegraded.
func (c *Cache) viaBreaker(caller context.Context, fn func() error) error {
	_, err := c.breaker.Execute(func() (struct{}, error) {
		err := fn()
		if err != nil && caller.Err() != nil {
			return struct{}{}, fmt.Errorf("%w: %w", errCallerGone, err)
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
	if err != nil && !errors.Is(err, ErrDegraded) && !errors.Is(err, errCallerGone) {
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
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
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

func (c *Cache) redisFailed(op string, err error) {
	c.metrics.redisErrors.WithLabelValues(op).Inc()
	c.log.Debug("redis error", "op", op, "err", err)
}

// redisGet reads cache keys with one pipeline of GETs: one round trip per
// node (MGET would fail across Redis Cluster slots). A nil slice element is
// an absent key.
func (c *Cache) redisGet(ctx context.Context, cks []string) ([][]byte, error) {
	var out [][]byte
	err := c.redisCall(ctx, "get", func(ctx context.Context) error {
		pipe := c.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(cks))
		for i, ck := range cks {
			cmds[i] = pipe.Get(ctx, ck)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		vals := make([][]byte, len(cks))
		for i, cmd := range cmds {
			b, err := cmd.Bytes()
			switch {
			case err == nil:
				vals[i] = b
			case errors.Is(err, redis.Nil):
			default:
				return err
			}
		}
		out = vals // read by the caller only when fn returned in time
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type redisItem struct {
	ck  string
	val []byte
	ttl time.Duration
}

// redisSet writes entries with one pipeline of SETs with expiry.
func (c *Cache) redisSet(ctx context.Context, items []redisItem) error {
	return c.redisCall(ctx, "set", func(ctx context.Context) error {
		pipe := c.rdb.Pipeline()
		for _, it := range items {
			pipe.Set(ctx, it.ck, it.val, it.ttl)
		}
		_, err := pipe.Exec(ctx)
		return err
	})
}

// redisDelete deletes cache keys with one pipeline of single-key UNLINKs
// (a multi-key DEL fails across Redis Cluster slots).
func (c *Cache) redisDelete(ctx context.Context, cks []string) error {
	pipe := c.rdb.Pipeline()
	for _, ck := range cks {
		pipe.Unlink(ctx, ck)
	}
	_, err := pipe.Exec(ctx)
	return err
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
