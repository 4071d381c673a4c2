package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// Refilling the shared tier.
//
// Redis keeps nothing on disk here: a restarted (or flushed) Redis is empty
// while every replica's in-process tier still holds what it fetched, and a
// replica without those records (a new one, or one whose tier was dropped)
// would be cold again. Records a replica fetched while the breaker was open
// never reached Redis either. So every in-process entry remembers the epoch
// in which it was last known to be in Redis, and the cache writes back
//
//   - on next read: an in-process hit of an entry not known to be in Redis
//     in the current epoch is queued and written back in the background;
//   - when it detects the loss: each second the maintainer refreshes this
//     replica's sentinel key (SET ... GET) and reads every master's run_id;
//     a missing sentinel or a new run_id is a Redis that lost its data. The
//     epoch moves on and the whole in-process tier is written back (a
//     sweep). A sweep also follows the breaker closing again.
//
// Write-back never resurrects an invalidated record: an entry is written
// only while it is still the one in the in-process tier, and after the
// write the cache publishes a barrier on InvalidationChannel and waits for
// its own subscriber to receive it. Every invalidation announced before the
// write has then been applied here; a written entry that is no longer in
// the in-process tier is deleted from Redis again. Without the barrier (the
// subscriber is not connected) everything written is deleted again.
// Level-3 stores write back only what they may write at all: sealed, and
// only with seal keys (Store.encode, Store.redis).

// writeBacker is a Store as the refill sees it.
type writeBacker interface {
	// redis reports whether the store uses the Redis tier.
	redis() bool
	// encode returns the entry's Redis value (sealed for Level3 stores).
	encode(ck string, e *entry) ([]byte, bool)
}

var _ writeBacker = (*Store[struct{}])(nil)

type wbItem struct {
	ck string
	e  *entry
}

const (
	// writeBackQueue bounds the local hits waiting for write-back; a hit
	// that finds the queue full is written back on a later hit.
	writeBackQueue = 4096
	// writeBackBatch is the most entries one write-back handles (it is
	// chunked into round trips like any pipeline).
	writeBackBatch = 1024
	// monitorEvery is how often the maintainer checks whether Redis lost
	// its data; sentinelTTL is how long a sentinel outlives its replica.
	monitorEvery = time.Second
	sentinelTTL  = time.Minute
	// barrierTimeout bounds the wait for a write-back's barrier.
	barrierTimeout = 2 * time.Second
	// writeBackTimeout bounds one write-back (its chunks, barrier and
	// clean-up).
	writeBackTimeout = 10 * time.Second
)

// Write-back results, the label of kommungraf_cache_redis_writeback_total.
const (
	wbWritten = "written" // written back and kept
	wbUndone  = "undone"  // written back, then deleted again (invalidated meanwhile, or no barrier)
	wbFailed  = "failed"  // not written: Redis failed or the breaker is open
)

// localHit is told of every in-process hit of the store: an entry not known
// to be in Redis in the current epoch is queued for write-back.
func (s *Store[V]) localHit(key string, e *entry) {
	c := s.c
	epoch := c.epoch.Load()
	old := e.stored.Load()
	if old == epoch || !s.redis() || c.breaker.State() != gobreaker.StateClosed {
		return
	}
	if !e.stored.CompareAndSwap(old, epoch) { // another hit queued it
		return
	}
	select {
	case c.wbq <- wbItem{ck: s.prefix + key, e: e}:
	default:
		e.stored.CompareAndSwap(epoch, old)
	}
}

// requestSweep asks the maintainer for a sweep, without waiting.
func (c *Cache) requestSweep() {
	select {
	case c.sweepReq <- struct{}{}:
	default:
	}
}

// maintain runs the refill for a Cache with Redis until Close.
func (c *Cache) maintain() {
	defer close(c.maintDone)
	tick := time.NewTicker(monitorEvery)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case it := <-c.wbq:
			batch := []wbItem{it}
		drain:
			for len(batch) < writeBackBatch {
				select {
				case it := <-c.wbq:
					batch = append(batch, it)
				default:
					break drain
				}
			}
			c.writeBack(batch)
		case <-c.sweepReq:
			c.sweep()
		case <-tick.C:
			c.checkLoss(false)
			if c.sweepAgain {
				c.sweepAgain = false
				c.sweep()
			}
		}
	}
}

// stopCtx is a background context that ends after d or when Close is
// called.
func (c *Cache) stopCtx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithValue(c.life, backgroundKey{}, true), d)
}

// checkLoss refreshes the sentinel and reads the masters' run_ids; a missing
// sentinel (after the first check) or a changed run_id means Redis lost its
// data: the epoch moves on and the in-process tier is swept into Redis.
func (c *Cache) checkLoss(first bool) {
	ctx, cancel := c.stopCtx(3 * backgroundBudget)
	defer cancel()
	var prev string
	err := c.redisCall(ctx, "monitor", func(ctx context.Context) error {
		v, err := c.rdb.SetArgs(ctx, c.sentinel, c.id, redis.SetArgs{TTL: sentinelTTL, Get: true}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		prev = v
		return nil
	})
	if err != nil {
		return
	}
	var mu sync.Mutex // ForEachMaster calls collect concurrently
	ids := make(map[string]string)
	collect := func(ctx context.Context, node *redis.Client) error {
		info, err := node.Info(ctx, "server").Result()
		if err != nil {
			return err
		}
		for line := range strings.Lines(info) {
			if id, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
				mu.Lock()
				ids[node.Options().Addr] = id
				mu.Unlock()
			}
		}
		return nil
	}
	err = c.redisCall(ctx, "monitor", func(ctx context.Context) error {
		switch rdb := c.rdb.(type) {
		case *redis.ClusterClient:
			return rdb.ForEachMaster(ctx, collect)
		case *redis.Client:
			return collect(ctx, rdb)
		default: // Sentinel: the failover client is a *redis.Client too; a Ring has no masters to compare
			return nil
		}
	})
	restarted := ""
	if err == nil {
		for addr, id := range ids {
			if old, ok := c.redisIDs[addr]; ok && old != id {
				restarted = addr
			}
		}
		c.redisIDs = ids
	}
	if first {
		return
	}
	var why string
	switch {
	case restarted != "":
		why = "redis " + restarted + " restarted"
	case prev == "":
		why = "this replica's sentinel key is gone (a flush, a restart, or an eviction)"
	default:
		return
	}
	c.metrics.lossDetected.Inc()
	c.epoch.Add(1)
	c.log.Warn("redis lost its data: writing back the in-process tier", "why", why)
	c.sweep()
}

// sweep writes back every in-process entry not known to be in Redis in the
// current epoch, in batches; it does nothing while the breaker is not closed
// (closing it asks for another sweep).
func (c *Cache) sweep() {
	if c.local == nil {
		return
	}
	epoch := c.epoch.Load()
	var batch []wbItem
	for ck, e := range c.local.All() {
		if c.breaker.State() != gobreaker.StateClosed {
			return
		}
		old := e.stored.Load()
		if old == epoch || e.wb == nil || !e.wb.redis() || !e.stored.CompareAndSwap(old, epoch) {
			continue
		}
		batch = append(batch, wbItem{ck: ck, e: e})
		if len(batch) == writeBackBatch {
			c.writeBack(batch)
			batch = batch[:0]
		}
		select {
		case <-c.stop:
			return
		default:
		}
	}
	if len(batch) > 0 {
		c.writeBack(batch)
	}
}

// writeBack writes entries back to Redis, then makes sure that none of them
// was invalidated meanwhile (see the comment at the top of this file).
func (c *Cache) writeBack(batch []wbItem) {
	gen := c.gen.Load() // before looking at the in-process tier
	now := time.Now()
	var items []redisItem
	var kept []wbItem
	for _, it := range batch {
		if c.localGet(it.ck) != it.e || !now.Before(it.e.staleUntil) {
			continue // dropped, replaced or expired since it was queued
		}
		val, ok := it.e.wb.encode(it.ck, it.e)
		if !ok {
			continue
		}
		items = append(items, redisItem{ck: it.ck, val: val, ttl: it.e.staleUntil.Sub(now)})
		kept = append(kept, it)
	}
	if len(items) == 0 {
		return
	}
	ctx, cancel := c.stopCtx(writeBackTimeout)
	defer cancel()
	n, _ := c.redisSet(ctx, items)
	for _, it := range kept[n:] {
		it.e.stored.Store(0) // try again on a later hit or sweep
	}
	add(c.metrics.writeBack.WithLabelValues(wbFailed), len(kept)-n)
	if n < len(kept) {
		c.sweepAgain = true // no hit may come for them: the next tick tries again
	}
	if n == 0 {
		return
	}
	written := kept[:n]
	var undo []wbItem
	if err := c.barrier(ctx); err != nil {
		c.log.Info("write-back not confirmed by the invalidation subscriber: deleting it again", "entries", n, "err", err)
		undo = written
		// They are still valid in the in-process tier, and no hit may
		// come for them: the next tick tries again.
		c.sweepAgain = true
	} else if c.gen.Load() != gen {
		for _, it := range written {
			if c.localGet(it.ck) != it.e {
				undo = append(undo, it)
			}
		}
	}
	if len(undo) > 0 {
		cks := make([]string, len(undo))
		for i, it := range undo {
			cks[i] = it.ck
			it.e.stored.Store(0)
		}
		if err := c.redisDelete(ctx, cks); err != nil {
			c.redisFailed("del", err)
		}
	}
	add(c.metrics.writeBack.WithLabelValues(wbUndone), len(undo))
	add(c.metrics.writeBack.WithLabelValues(wbWritten), n-len(undo))
}

// barrier publishes a marker on InvalidationChannel and waits until this
// cache's subscriber has received it: every announcement published before
// it has then been applied to the in-process tier.
func (c *Cache) barrier(ctx context.Context) error {
	nonce := newID()
	ch := make(chan struct{})
	c.barriers.Store(nonce, ch)
	defer c.barriers.Delete(nonce)
	msg, err := json.Marshal(invalidation{Origin: c.id, Source: "barrier", Barrier: nonce})
	if err != nil {
		return err
	}
	if err := c.publish(ctx, msg); err != nil {
		return fmt.Errorf("publish barrier: %w", err)
	}
	t := time.NewTimer(barrierTimeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return errors.New("barrier not received within " + barrierTimeout.String())
	case <-ctx.Done():
		return ctx.Err()
	}
}
