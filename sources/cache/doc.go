// Package cache is Kommungraf's two-tier record cache: an in-process tier
// (otter) in front of an optional Redis tier (go-redis UniversalClient, so a
// single node, Sentinel or Redis Cluster is a configuration change).
//
// # What is cached
//
// Source records, never responses. A record is cached before authorization,
// under a key made of the schema/mapping version, the source, the entity and
// the record's key:
//
//	kg:<version>:<source>:<entity>:<key>
//
// Authorization is applied to every request after the cache, so one cached
// record can serve callers with different rights without any of them seeing
// more than they may.
//
// # Fitting the dataloaders
//
// [Store.Fetch] takes all keys of a dataloader batch. It answers what it can
// from the in-process tier, reads the rest from Redis in one round trip (a
// pipeline of GETs: MGET fails across Redis Cluster slots), fetches the
// remaining misses from the upstream with one call of the batch function,
// and writes them back (in-process, then Redis pipelined). Concurrent Fetch
// calls in one process that miss the same key share one upstream fetch: the
// first caller leads, later callers wait for its result, and a batch of
// misses still becomes a single upstream call (golang.org/x/sync/singleflight
// is keyed per call, so it cannot merge a batch; the package keeps its own
// per-key in-flight table instead).
//
// # Freshness
//
// A [Policy] gives each source/entity a TTL, a negative TTL for "not found"
// and a stale-if-error window. A record lives in Redis for TTL+StaleIfError;
// its fresh-until time is stored inside the entry, and the in-process tier
// keeps an entry no longer than its Redis expiry. When the upstream fails, a
// record past its TTL but within the window is served and reported as
// [Stale], so the response can say which data is stale and how old it is.
//
// # Classified data at rest
//
// A Store is created [Ordinary] or [Level3]. Level3 stores hold records that
// may carry level-3 data (special diets; anything about a person who may
// have protected identity). Sensitivity belongs to the store, not to a
// record: if only the protected persons' records were sealed, the format of
// a value in Redis (or its absence) would itself reveal the protected-
// identity flag, which is level 3.
//
// With seal keys (KOMMUNGRAF_CACHE_KEYS, parsed by [ParseKeys]) a Level3
// store seals every value it writes to Redis, not-found entries included,
// with AES-256-GCM: a random nonce, a key id byte so that older keys still
// open what they sealed (rotation: put the new key first), and the cache key
// (version, source, entity and record key) as additional authenticated data,
// so a sealed value moved to another key does not open. On read it accepts
// only what opens: a value that is not sealed, is sealed with a key it does
// not have, was sealed for another cache key or was tampered with is
// rejected. Anyone who can write to Redis could otherwise plant a record
// that says a protected person is not protected, or that they do not exist.
//
// Without seal keys a Level3 store does not use Redis at all: it neither
// writes there (its records never leave the process) nor reads from there,
// since it could not tell its own values from planted ones. Ordinary stores
// (school units, properties, errands) write plain JSON and read it back: for
// them, whoever can write to Redis is trusted.
//
// A rejected value, like a value that does not decode in any store, is a
// miss, never an error and never served, not even as stale: the record is
// fetched from the upstream and overwritten (when the answer is one the
// store caches: a not-found only with a negative TTL). Each rejection is counted in
// kommungraf_cache_rejected_total and logged as a warning with the store and
// the reason only (no value, and no key: a person's key is a personnummer).
// The envelope's times are sealed with the record, so a sealed value is
// never served past its own stale-until time (TTL+StaleIfError). Within that
// time whoever can write to Redis can still put back an older value this
// cache sealed for the same key (a replay); sealing does not prevent that.
//
// # Invalidation
//
// [Cache.Invalidate] drops keys, an entity or a whole source: from the
// in-process tier, from Redis (DEL, or SCAN+UNLINK over every master for a
// pattern), and it announces the invalidation on the Redis channel
// [InvalidationChannel] so the other replicas drop their in-process entries.
// Invalidation is scoped to the cache's version, like its keys: replicas
// running another version (during a rolling deploy) keep their records until
// their TTL.
// A replica whose subscription was interrupted may have missed
// announcements: when it subscribes again it drops its whole in-process tier.
//
// # Redis failures
//
// Redis never fails a Fetch. Pipelines are cut into round trips of at most
// 64 commands (and about 256 KiB of values), each bounded by
// Options.RedisTimeout; a circuit breaker skips Redis after a few consecutive
// real failures (an error, a refused dial, or timeouts with no answer from
// Redis for half a second; not a timeout while Redis answers others, not the
// caller's cancellation) and tries again after about a second;
// [Cache.Degraded] reports the state for /readyz; errors are counted in
// kommungraf_cache_redis_errors_total. Recovery is automatic.
//
// # Refill
//
// A Redis that restarted or was flushed is refilled from the in-process
// tiers: on an in-process hit of a record not known to be in Redis, and by a
// sweep of the whole tier when a replica finds its sentinel key gone or a
// master's run_id changed, or when the breaker closes again. A barrier on
// the invalidation channel keeps write-back from resurrecting an invalidated
// record; level-3 records are written back sealed or not at all (refill.go).
//
// # Metrics
//
//	kommungraf_cache_requests_total{source,entity,tier,result}
//	    tier: local | redis; result: hit | miss | stale | error
//	kommungraf_cache_redis_errors_total{op}
//	    op: get | set | ping | del | scan | publish
//	kommungraf_cache_rejected_total{source,entity,reason}
//	    reason: unsealed | unauthenticated | malformed
//	kommungraf_cache_redis_slow_total{op}
//	kommungraf_cache_redis_breaker_openings_total
//	kommungraf_cache_redis_writeback_total{result}
//	    result: written | undone | failed
//	kommungraf_cache_redis_loss_detected_total
package cache
