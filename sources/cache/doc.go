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
// Records a Store's sensitive function marks (level 3: special diets,
// anything about a person with protected identity) are never written to
// Redis in plain text. Without seal keys they are kept in the in-process
// tier only. With seal keys (KOMMUNGRAF_CACHE_KEYS, parsed by [ParseKeys])
// they are sealed with AES-256-GCM: a random nonce, a key id byte so that
// older keys still open what they sealed (rotation: put the new key first),
// and the cache key as additional authenticated data, so a sealed value moved
// to another key does not open. A value that no configured key opens is a
// miss, never an error.
//
// When seal keys are set, a Store that has a sensitive function seals every
// record it writes, sensitive or not: if only sensitive records were sealed,
// the format of a value in Redis would itself reveal the protected-identity
// flag (level 3) of the person under that key. Stores without a sensitive
// function (school units, properties) write plain JSON.
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
// Redis never fails a Fetch. Each round trip is bounded by
// Options.RedisTimeout; a circuit breaker skips Redis after a few consecutive
// failures and tries again after about a second; [Cache.Degraded] reports the
// state for /readyz; errors are counted in kommungraf_cache_redis_errors_total.
// Recovery is automatic.
//
// # Metrics
//
//	kommungraf_cache_requests_total{source,entity,tier,result}
//	    tier: local | redis; result: hit | miss | stale | error
//	kommungraf_cache_redis_errors_total{op}
//	    op: get | set | ping | del | scan | publish
package cache
