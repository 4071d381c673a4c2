package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"
)

// Policy is the freshness policy of one source/entity.
type Policy struct {
	// TTL is how long a record is fresh; 0 disables caching for the store.
	TTL time.Duration
	// NegativeTTL is how long a "not found" is remembered; 0 does not cache
	// not-found.
	NegativeTTL time.Duration
	// StaleIfError is how long after its TTL a record may still be served
	// when the upstream fails. Records live in Redis for TTL+StaleIfError.
	StaleIfError time.Duration
	// Shape, when set, is part of every key of the store after the entity:
	// a fingerprint of what the records hold (declare.Resource.Shape), so a
	// record of another shape, cached before a deployment changed it, is
	// never read. Invalidating the entity drops every shape.
	Shape string
}

// Stale reports a record served past its TTL because the upstream failed.
type Stale struct {
	Source, Entity, Key string
	// Age is the time since the record was fetched from the upstream.
	Age time.Duration
}

// FetchError reports the keys of a Fetch that could be answered neither by
// the upstream nor by a stale record. Unwrap gives the distinct causes, so
// errors.Is and errors.As see the upstream's errors.
type FetchError struct {
	Source, Entity string
	// Keys maps each failed key to its cause.
	Keys map[string]error
}

// Error names the source/entity, the number of failed keys and the causes.
func (e *FetchError) Error() string {
	return fmt.Sprintf("cache: %s/%s: %d key(s) failed: %v", e.Source, e.Entity, len(e.Keys), errors.Join(e.Unwrap()...))
}

// Unwrap returns the distinct causes, in key order.
func (e *FetchError) Unwrap() []error {
	keys := make([]string, 0, len(e.Keys))
	for k := range e.Keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range keys {
		if err := e.Keys[k]; !slices.Contains(errs, err) {
			errs = append(errs, err)
		}
	}
	return errs
}

// Sensitivity says whether the records of a store may hold level-3 data. It
// is a property of the store, not of a record: whether one record is
// sensitive (a person with protected identity) is itself level-3 data, so a
// store cannot seal some records and not others without telling.
type Sensitivity uint8

const (
	// Ordinary records are written to Redis as plain JSON and read back
	// from it as they are.
	Ordinary Sensitivity = iota
	// Level3 records may hold level-3 data. With seal keys, every value
	// the store writes to Redis is sealed (not-found entries too) and a
	// value it reads is served only if it opens under the store's cache
	// key with one of the keys; anything else is rejected, counted and
	// fetched again. Without seal keys the store does not use Redis at
	// all, in either direction: it could not tell its own values from
	// forged ones.
	Level3
)

// Store is the typed view of one source/entity of a Cache. Values are JSON
// encoded in Redis; in the in-process tier they are shared between callers
// as they are, so callers must treat returned values as read-only.
type Store[V any] struct {
	c              *Cache
	source, entity string
	prefix         string
	p              Policy
	sealed         bool // Level3: Redis only with seal keys, and sealed only
	m              storeMetrics
}

// NewStore returns the store of source/entity on c. sensitivity says
// whether its records may hold level-3 data (see Sensitivity and the
// package documentation).
// Source and entity are names in code, not input: an invalid one (empty, or
// with characters other than letters, digits, '.', '_', '-') panics, and so
// does an unknown sensitivity.
func NewStore[V any](c *Cache, source, entity string, p Policy, sensitivity Sensitivity) *Store[V] {
	if c == nil {
		panic("cache: NewStore with a nil *Cache")
	}
	for _, err := range []error{validName("source", source), validName("entity", entity)} {
		if err != nil {
			panic(err)
		}
	}
	prefix := c.prefix(source, entity)
	if p.Shape != "" {
		if err := validName("shape", p.Shape); err != nil {
			panic(err)
		}
		prefix += p.Shape + ":"
		c.shapes.Store(source+":"+entity, p.Shape+":")
	}
	if sensitivity != Ordinary && sensitivity != Level3 {
		panic(fmt.Sprintf("cache: NewStore %s/%s: unknown sensitivity %d", source, entity, sensitivity))
	}
	p.TTL, p.NegativeTTL, p.StaleIfError = max(p.TTL, 0), max(p.NegativeTTL, 0), max(p.StaleIfError, 0)
	return &Store[V]{
		c:      c,
		source: source,
		entity: entity,
		prefix: prefix,
		p:      p,
		sealed: sensitivity == Level3,
		m:      c.metrics.forStore(source, entity),
	}
}

// redis reports whether the store uses the Redis tier: a Level3 store only
// when it can seal and authenticate what it writes and reads.
func (s *Store[V]) redis() bool {
	return s.c.rdb != nil && (!s.sealed || s.c.seal != nil)
}

// entry is a record or a "not found" in the in-process tier, and decoded
// from Redis.
type entry struct {
	val        any // a V; nil when notFound
	notFound   bool
	fetchedAt  time.Time
	freshUntil time.Time
	staleUntil time.Time // also the Redis expiry

	// wb is the store that made the entry, for writing it back to Redis.
	wb writeBacker
	// stored is the Cache epoch in which the entry was last known to be
	// in Redis; 0: never (its write failed or was skipped).
	stored atomic.Uint64
}

// envelope is an entry as JSON in Redis (sealed or not).
type envelope struct {
	FetchedAt  int64           `json:"t"` // Unix milliseconds
	FreshUntil int64           `json:"f"`
	StaleUntil int64           `json:"s"`
	NotFound   bool            `json:"n,omitempty"`
	Value      json.RawMessage `json:"v,omitempty"`
}

// candidate is an entry past its TTL, kept in case the upstream fails.
type candidate struct {
	e    *entry
	tier string
}

// Fetch answers keys from the cache and fetches the misses (deduplicated)
// with one call of fetch, writes them back and returns them. A key absent
// from fetch's map is "not found": it is cached for NegativeTTL and absent
// from found. Concurrent Fetch calls in this process that miss the same key
// share one upstream fetch.
//
// If fetch fails, keys with a record within StaleIfError are served from it
// and listed in stale; the others are absent from found and err is a
// *FetchError naming them. A fetch that returns values and an error is
// taken at its word for the values it returned. Redis errors never fail
// Fetch.
func (s *Store[V]) Fetch(ctx context.Context, keys []string, fetch func(ctx context.Context, misses []string) (map[string]V, error)) (found map[string]V, stale []Stale, err error) {
	keys = dedupe(keys)
	found = make(map[string]V, len(keys))
	if len(keys) == 0 {
		return found, nil, nil
	}
	gen := s.c.gen.Load()
	misses := keys
	var cands map[string]candidate
	if s.p.TTL > 0 {
		misses, cands = s.read(ctx, gen, keys, found)
	}
	if len(misses) == 0 {
		return found, nil, nil
	}
	failed := make(map[string]error)
	s.load(ctx, gen, misses, fetch, found, failed)
	if len(failed) == 0 {
		return found, nil, nil
	}
	now := time.Now()
	for _, k := range misses {
		if _, ok := failed[k]; !ok {
			continue
		}
		cand, ok := cands[k]
		if !ok || !now.Before(cand.e.staleUntil) {
			continue
		}
		v, ok := cand.e.val.(V)
		if !ok {
			continue
		}
		found[k] = v
		delete(failed, k)
		stale = append(stale, Stale{Source: s.source, Entity: s.entity, Key: k, Age: now.Sub(cand.e.fetchedAt)})
		if cand.tier == tierLocal {
			s.m.localStale.Inc()
		} else {
			s.m.redisStale.Inc()
		}
	}
	if len(failed) == 0 {
		return found, stale, nil
	}
	return found, stale, &FetchError{Source: s.source, Entity: s.entity, Keys: failed}
}

// read answers what it can from the tiers into found and returns the keys
// still to fetch, with any stale entries of theirs.
func (s *Store[V]) read(ctx context.Context, gen uint64, keys []string, found map[string]V) ([]string, map[string]candidate) {
	c := s.c
	now := time.Now()
	var misses []string
	var cands map[string]candidate // most batches have none: made on demand
	addCand := func(k string, cand candidate) {
		if cands == nil {
			cands = make(map[string]candidate)
		}
		cands[k] = cand
	}
	for _, k := range keys {
		if e := c.localGet(s.prefix + k); e != nil {
			if now.Before(e.freshUntil) && s.take(k, e, found) {
				s.localHit(k, e)
				continue
			}
			if !e.notFound && now.Before(e.staleUntil) {
				addCand(k, candidate{e, tierLocal})
			}
		}
		misses = append(misses, k)
	}
	if c.local != nil {
		add(s.m.localHit, len(keys)-len(misses))
		add(s.m.localMiss, len(misses))
	}
	if len(misses) == 0 || !s.redis() {
		return misses, cands
	}
	cks := make([]string, len(misses))
	for i, k := range misses {
		cks[i] = s.prefix + k
	}
	raws, err := c.redisGet(ctx, cks)
	if err != nil {
		add(s.m.redisError, len(misses))
		return misses, cands
	}
	var remaining []string
	var toLocal []localItem
	epoch := c.epoch.Load()
	for i, k := range misses {
		e, rejected := s.decode(cks[i], raws[i], now)
		if e != nil {
			e.wb = s
			e.stored.Store(epoch)
		}
		if rejected != "" {
			s.reject(rejected)
		}
		switch {
		case e == nil:
		case now.Before(e.freshUntil):
			if s.take(k, e, found) {
				toLocal = append(toLocal, localItem{cks[i], e})
				continue
			}
		case !e.notFound:
			if old, ok := cands[k]; !ok || e.fetchedAt.After(old.e.fetchedAt) {
				addCand(k, candidate{e, tierRedis})
			}
		}
		remaining = append(remaining, k)
	}
	add(s.m.redisHit, len(misses)-len(remaining))
	add(s.m.redisMiss, len(remaining))
	c.localSet(gen, toLocal)
	return remaining, cands
}

// take puts a fresh entry's answer into found; it reports false if the entry
// holds another type (a Store of the same source/entity with another V).
func (s *Store[V]) take(k string, e *entry, found map[string]V) bool {
	if e.notFound {
		return true
	}
	v, ok := e.val.(V)
	if ok {
		found[k] = v
	}
	return ok
}

// call is one key's in-flight upstream fetch.
type call struct {
	done     chan struct{}
	val      any
	notFound bool
	err      error
}

type pending struct {
	key    string
	call   *call
	leader bool
}

// maxRetries bounds how often a Fetch takes over keys whose in-flight fetch
// failed only because its leader's context ended.
const maxRetries = 2

// load fetches misses: keys no one is fetching are fetched by this caller in
// one call of fetch; keys in flight are awaited.
func (s *Store[V]) load(ctx context.Context, gen uint64, misses []string, fetch func(context.Context, []string) (map[string]V, error), found map[string]V, failed map[string]error) {
	for attempt := 0; len(misses) > 0; attempt++ {
		ps, leading := s.join(misses)
		if len(leading) > 0 {
			s.lead(ctx, gen, ps, leading, fetch)
		}
		var retry []string
		for _, p := range ps {
			if !p.leader {
				if s.c.onWait != nil {
					s.c.onWait(p.key)
				}
				select {
				case <-p.call.done:
				case <-ctx.Done():
					failed[p.key] = ctx.Err()
					continue
				}
			}
			switch cl := p.call; {
			case cl.err != nil:
				if !p.leader && ctx.Err() == nil && attempt < maxRetries &&
					(errors.Is(cl.err, context.Canceled) || errors.Is(cl.err, context.DeadlineExceeded)) {
					retry = append(retry, p.key) // the leader's caller gave up; we have not
					continue
				}
				failed[p.key] = cl.err
			case cl.notFound:
			default:
				if v, ok := cl.val.(V); ok {
					found[p.key] = v
				} else {
					failed[p.key] = fmt.Errorf("cache: %s/%s %q: in-flight value is %T, not %T", s.source, s.entity, p.key, cl.val, *new(V))
				}
			}
		}
		misses = retry
	}
}

// join registers this caller as the leader of the keys no one is fetching
// and returns every key with its call, and the keys it leads.
func (s *Store[V]) join(keys []string) ([]pending, []string) {
	c := s.c
	ps := make([]pending, len(keys))
	var leading []string
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range keys {
		ck := s.prefix + k
		if cl, ok := c.inflight[ck]; ok {
			ps[i] = pending{key: k, call: cl}
			continue
		}
		cl := &call{done: make(chan struct{})}
		c.inflight[ck] = cl
		ps[i] = pending{key: k, call: cl, leader: true}
		leading = append(leading, k)
	}
	return ps, leading
}

// lead calls fetch for the keys this caller leads, completes their calls and
// writes the results back: in-process before waking the waiters, Redis after.
func (s *Store[V]) lead(ctx context.Context, gen uint64, ps []pending, leading []string, fetch func(context.Context, []string) (map[string]V, error)) {
	completed := false
	complete := func() {
		completed = true
		s.c.mu.Lock()
		for _, p := range ps {
			// An invalidation may have detached the call already.
			if ck := s.prefix + p.key; p.leader && s.c.inflight[ck] == p.call {
				delete(s.c.inflight, ck)
			}
		}
		s.c.mu.Unlock()
		for _, p := range ps {
			if p.leader {
				close(p.call.done)
			}
		}
	}
	defer func() {
		if completed {
			return
		}
		// fetch panicked (or called runtime.Goexit): release the waiters,
		// then let the panic go on.
		r := recover()
		err := fmt.Errorf("cache: %s/%s: fetch panicked: %v", s.source, s.entity, r)
		if r == nil {
			err = fmt.Errorf("cache: %s/%s: fetch did not return", s.source, s.entity)
		}
		for _, p := range ps {
			if p.leader {
				p.call.err = err
			}
		}
		complete()
		if r != nil {
			panic(r)
		}
	}()

	res, err := fetch(ctx, leading)
	now := time.Now()
	var toLocal []localItem
	for _, p := range ps {
		if !p.leader {
			continue
		}
		var e *entry
		if v, ok := res[p.key]; ok {
			p.call.val = v
			if s.p.TTL > 0 {
				e = &entry{val: v, fetchedAt: now, freshUntil: now.Add(s.p.TTL), staleUntil: now.Add(s.p.TTL + s.p.StaleIfError), wb: s}
			}
		} else if err != nil {
			p.call.err = err
		} else {
			p.call.notFound = true
			if s.p.TTL > 0 && s.p.NegativeTTL > 0 {
				e = &entry{notFound: true, fetchedAt: now, freshUntil: now.Add(s.p.NegativeTTL), staleUntil: now.Add(s.p.NegativeTTL), wb: s}
			}
		}
		if e != nil {
			toLocal = append(toLocal, localItem{s.prefix + p.key, e})
		}
	}
	s.c.localSet(gen, toLocal)
	complete()
	if !s.redis() || len(toLocal) == 0 {
		return
	}
	items := make([]redisItem, 0, len(toLocal))
	written := make([]*entry, 0, len(toLocal))
	for _, it := range toLocal {
		if val, ok := s.encode(it.ck, it.e); ok {
			items = append(items, redisItem{ck: it.ck, val: val, ttl: it.e.staleUntil.Sub(now)})
			written = append(written, it.e)
		}
	}
	// Written even if the caller leaves now: the record is good for others.
	// What is not written (the breaker is open, a round trip failed) stays
	// marked as not in Redis, and is written back later (refill.go).
	if len(items) > 0 && s.c.gen.Load() == gen {
		epoch := s.c.epoch.Load()
		n, _ := s.c.redisSet(context.WithoutCancel(ctx), items)
		for _, e := range written[:n] {
			e.stored.Store(epoch)
		}
	}
}

// encode returns an entry's Redis value: sealed for a Level3 store (the
// caller has checked that it can seal), plain JSON otherwise. It reports
// false for a value that does not encode.
func (s *Store[V]) encode(ck string, e *entry) ([]byte, bool) {
	env := envelope{FetchedAt: e.fetchedAt.UnixMilli(), FreshUntil: e.freshUntil.UnixMilli(), StaleUntil: e.staleUntil.UnixMilli(), NotFound: e.notFound}
	if !e.notFound {
		raw, err := json.Marshal(e.val.(V))
		if err != nil {
			s.c.log.Warn("record does not encode: not written to redis", "source", s.source, "entity", s.entity, "err", err)
			return nil, false
		}
		env.Value = raw
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, false
	}
	if s.sealed {
		if s.c.seal == nil { // redis() keeps this from happening; fail closed if it does
			return nil, false
		}
		return s.c.seal.seal(ck, body), true
	}
	return append([]byte{formatPlain}, body...), true
}

// Reasons for rejecting a value found in Redis, the label of
// kommungraf_cache_rejected_total.
const (
	// rejectUnsealed: a Level3 store found a value that is not sealed.
	rejectUnsealed = "unsealed"
	// rejectUnauthenticated: a sealed value that no seal key opens under
	// this cache key (sealed with another key, moved from another cache
	// key, tampered with, or sealed with a key since retired).
	rejectUnauthenticated = "unauthenticated"
	// rejectMalformed: a value of an unknown format, or whose envelope or
	// record does not decode (a bug, or a foreign writer).
	rejectMalformed = "malformed"
)

// decode reads a Redis value. A nil entry is a miss: an absent or expired
// value, or one that is rejected, then with the reason. A rejected value is
// fetched again from the upstream and overwritten like any miss; it is never
// served, not even as stale.
func (s *Store[V]) decode(ck string, raw []byte, now time.Time) (*entry, string) {
	if raw == nil {
		return nil, ""
	}
	var format byte
	if len(raw) > 0 {
		format = raw[0]
	}
	var body []byte
	switch {
	case format == formatSealed:
		if s.c.seal == nil {
			return nil, rejectUnauthenticated
		}
		var ok bool
		if body, ok = s.c.seal.open(ck, raw); !ok {
			return nil, rejectUnauthenticated
		}
	case s.sealed:
		// Whatever it holds, a Level3 store did not write it.
		return nil, rejectUnsealed
	case format == formatPlain:
		body = raw[1:]
	default:
		return nil, rejectMalformed
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, rejectMalformed
	}
	e := &entry{
		notFound:   env.NotFound,
		fetchedAt:  time.UnixMilli(env.FetchedAt),
		freshUntil: time.UnixMilli(env.FreshUntil),
		staleUntil: time.UnixMilli(env.StaleUntil),
	}
	if !now.Before(e.staleUntil) {
		return nil, ""
	}
	if !e.notFound {
		v, err := decodeValue[V](env.Value)
		if err != nil {
			return nil, rejectMalformed
		}
		e.val = v
	}
	return e, ""
}

// decodeValue reads a cached value as json.Unmarshal does, but with its
// numbers as written (json.Number where V holds an any): a declared
// record's numbers are the upstream's own, and a float64 would round an ID
// or a count beyond 2^53 on every replica that reads it from Redis
// (TestNumbersSurviveRedis).
func decodeValue[V any](raw []byte) (V, error) {
	var v V
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return v, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return v, errors.New("cache: data after the value")
	}
	return v, nil
}

// reject counts and logs a value decode rejected. The log names the store
// and the reason only: neither the value nor the record's key (a
// personnummer, for people) belongs in a log.
func (s *Store[V]) reject(reason string) {
	s.m.rejected(reason).Inc()
	s.c.log.Warn("redis value rejected: treated as a miss, fetched from the upstream and overwritten",
		"source", s.source, "entity", s.entity, "reason", reason)
}

// dedupe returns keys without repeats, in first-seen order.
func dedupe(keys []string) []string {
	seen := make(map[string]struct{}, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// Peek answers one key from the in-process tier alone, without any wait or
// round trip: ok is true for a fresh record, or a fresh not-found (then v is
// the zero value). Loaders use it to skip the batch wait for warm keys.
func (s *Store[V]) Peek(key string) (v V, ok bool) {
	if s == nil {
		return v, false
	}
	e := s.c.localGet(s.prefix + key) // one concatenation: loaders peek for every field
	if e == nil || !time.Now().Before(e.freshUntil) {
		return v, false
	}
	if e.notFound {
		s.m.localHit.Inc()
		s.localHit(key, e)
		return v, true
	}
	v, ok = e.val.(V)
	if ok {
		s.m.localHit.Inc()
		s.localHit(key, e)
	}
	return v, ok
}

// Name returns the store's source and entity.
func (s *Store[V]) Name() (source, entity string) { return s.source, s.entity }
