package loaders

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/kommungraf/kommungraf/sources/cache"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/tracing"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// Caching puts the record cache under the loaders: every batch reads its keys
// from the cache first and fetches only the misses. Records are cached before
// authorization, so they carry no caller's rights.
type Caching struct {
	Cache *cache.Cache
	// Policies by built-in system's name (cache.sources.<name>, whose
	// defaults are the declarations'). A source without a policy is not
	// cached.
	Policies map[string]cache.Policy
}

// The built-in systems' names, as their declarations (schema/<name>.yaml)
// give them: the loaders' only mention of them. Each Go loader below is a
// resource of one (goResources), whose declaration says its cache policy,
// its sealing and its data subjects; CheckBuiltins holds the two together.
const (
	SourceRegistry = "folkbokforing"
	SourceErrands  = "etjanst"
	SourceGeodata  = "geodata"
	SourceSchool   = "skoldatabas"
)

type errandsPage struct {
	Errands []*model.Errand
	Total   int
}

type propertiesPage struct {
	Properties []*model.Property
	Total      int
}

type unitsPage struct {
	Units []*model.SchoolUnit
	Total int
}

// stores are the typed cache views, one per source/entity; nil means uncached.
type stores struct {
	person           *cache.Store[*model.Person]
	pnrByParty       *cache.Store[string]
	partyByPnr       *cache.Store[string]
	errand           *cache.Store[*model.Errand]
	errandsByParty   *cache.Store[[]*model.Errand]
	errandsPage      *cache.Store[errandsPage]
	property         *cache.Store[*model.Property]
	propertyByName   *cache.Store[*model.Property]
	propertiesPage   *cache.Store[propertiesPage]
	owners           *cache.Store[[]*model.PropertyOwner]
	unit             *cache.Store[*model.SchoolUnit]
	unitsPage        *cache.Store[unitsPage]
	unitPlacements   *cache.Store[sqldb.PlacementPage]
	personPlacements *cache.Store[[]*model.Placement]
	diets            *cache.Store[[]string]
	absences         *cache.Store[[]model.Absence]
}

// newStore is a Go loader's cache store, as its declaration says: the
// system's configured policy (or the resource's own, when it declares
// one), sealed in Redis when it may hold level-3 data. A loader whose
// resource is not declared caches nothing (and CheckBuiltins stops the
// gateway's start before it gets here).
func newStore[V any](c *Caching, set *declare.Set, source, entity string) *cache.Store[V] {
	r := set.Resource(source + "." + entity)
	if c == nil || c.Cache == nil || r == nil || r.Builtin == nil {
		return nil
	}
	p, ok := c.Policies[source]
	if r.CacheDeclared {
		p, ok = cache.Policy{TTL: r.Cache.TTL, NegativeTTL: r.Cache.NegativeTTL, StaleIfError: r.Cache.StaleIfError}, true
	}
	if !ok || p.TTL <= 0 {
		return nil
	}
	sens := cache.Ordinary
	if r.Level3 {
		sens = cache.Level3
	}
	return cache.NewStore[V](c.Cache, source, entity, p, sens)
}

// goResources are the Go loaders' resources, each declared with a builtin
// part in its system's declaration.
var goResources = [][2]string{
	{SourceRegistry, "person"},
	{SourceErrands, "party-pnr"}, {SourceErrands, "pnr-party"}, {SourceErrands, "errand"},
	{SourceErrands, "errands-by-party"}, {SourceErrands, "errands-page"},
	{SourceGeodata, "property"}, {SourceGeodata, "property-by-designation"},
	{SourceGeodata, "properties-page"}, {SourceGeodata, "owners"},
	{SourceSchool, "unit"}, {SourceSchool, "units-page"}, {SourceSchool, "unit-placements"},
	{SourceSchool, "person-placements"}, {SourceSchool, "diets"}, {SourceSchool, "absences"},
}

// CheckBuiltins holds the Go loaders and the declarations together: every
// Go loader's resource is declared (builtin part), every declared builtin
// resource is a Go loader's, and a resource whose declaration says its Go
// record names its data subjects (subjects: model) has a record in
// sources/model that does. Every problem is reported, located.
func CheckBuiltins(set *declare.Set) error {
	var ps declare.Problems
	goNames := map[string]bool{}
	for _, gr := range goResources {
		name := gr[0] + "." + gr[1]
		goNames[name] = true
		if r := set.Resource(name); r == nil || r.Builtin == nil {
			pos := declare.Pos{File: "schema/" + gr[0] + ".yaml"}
			if sys := set.System(gr[0]); sys != nil {
				pos = sys.Pos
			}
			ps = append(ps, declare.Problem{Pos: pos, Msg: fmt.Sprintf("resource %s (a Go loader) is not declared: add it under resources with a builtin part (form, key, cache, level3, subjects)", name)})
		}
	}
	records := model.Records()
	for _, sys := range set.Systems {
		for _, r := range sys.Resources {
			if r.Builtin == nil {
				continue
			}
			if !goNames[r.FullName()] {
				ps = append(ps, declare.Problem{Pos: r.Pos, Msg: fmt.Sprintf("resource %s has a builtin part, but no Go loader serves it (Go loaders: %s)", r.FullName(), goLoaderNames())})
			}
			if r.SubjectsFromModel {
				if _, ok := records[r.Type].(model.DataSubjects); !ok {
					ps = append(ps, declare.Problem{Pos: r.Pos, Msg: fmt.Sprintf("resource %s: subjects: model, but sources/model has no record of type %s that names its data subjects (model.DataSubjects)", r.FullName(), r.Type)})
				}
			}
		}
	}
	return ps.Err()
}

func goLoaderNames() string {
	names := make([]string, len(goResources))
	for i, gr := range goResources {
		names[i] = gr[0] + "." + gr[1]
	}
	return strings.Join(names, ", ")
}

// newStores builds the Go loaders' stores from their declarations.
func newStores(c *Caching, set *declare.Set) stores {
	return stores{
		person:           newStore[*model.Person](c, set, SourceRegistry, "person"),
		pnrByParty:       newStore[string](c, set, SourceErrands, "party-pnr"),
		partyByPnr:       newStore[string](c, set, SourceErrands, "pnr-party"),
		errand:           newStore[*model.Errand](c, set, SourceErrands, "errand"),
		errandsByParty:   newStore[[]*model.Errand](c, set, SourceErrands, "errands-by-party"),
		errandsPage:      newStore[errandsPage](c, set, SourceErrands, "errands-page"),
		property:         newStore[*model.Property](c, set, SourceGeodata, "property"),
		propertyByName:   newStore[*model.Property](c, set, SourceGeodata, "property-by-designation"),
		propertiesPage:   newStore[propertiesPage](c, set, SourceGeodata, "properties-page"),
		owners:           newStore[[]*model.PropertyOwner](c, set, SourceGeodata, "owners"),
		unit:             newStore[*model.SchoolUnit](c, set, SourceSchool, "unit"),
		unitsPage:        newStore[unitsPage](c, set, SourceSchool, "units-page"),
		unitPlacements:   newStore[sqldb.PlacementPage](c, set, SourceSchool, "unit-placements"),
		personPlacements: newStore[[]*model.Placement](c, set, SourceSchool, "person-placements"),
		diets:            newStore[[]string](c, set, SourceSchool, "diets"),
		absences:         newStore[[]model.Absence](c, set, SourceSchool, "absences"),
	}
}

// through reads keys from the store and fetches only the misses; a nil store
// fetches directly.
func through[V any](s *cache.Store[V], fetch func(context.Context, []string) (map[string]V, error)) func(context.Context, []string) (map[string]V, error) {
	if s == nil {
		return fetch
	}
	return func(ctx context.Context, keys []string) (map[string]V, error) {
		var misses atomic.Int64
		found, stale, err := s.Fetch(ctx, keys, func(ctx context.Context, m []string) (map[string]V, error) {
			misses.Add(int64(len(m)))
			return fetch(ctx, m)
		})
		trace.SpanFromContext(ctx).SetAttributes(tracing.CacheHits.Int64(int64(len(keys)) - misses.Load()))
		if len(stale) > 0 {
			if l, ok := Lookup(ctx); ok {
				l.noteStale(stale)
			}
		}
		return found, err
	}
}

// one reads a single record through a store; found is false for not-found.
func one[V any](ctx context.Context, s *cache.Store[V], key string, fetch func(context.Context) (V, bool, error)) (V, error) {
	m, err := through(s, func(ctx context.Context, _ []string) (map[string]V, error) {
		v, ok, err := fetch(ctx)
		if err != nil || !ok {
			return nil, err
		}
		return map[string]V{key: v}, nil
	})(ctx, []string{key})
	if err != nil {
		var zero V
		return zero, keyError(err, key)
	}
	return m[key], nil
}

// split asks a Go batch call for at most size keys per call (its declared
// maxKeys), the calls of one batch issued together so that a level stays
// one batch; a failed call fails its own keys only. The Go client may cap
// a call lower still (the upstream's own limit). size 0 (no cap) or a
// batch within it is the call itself.
func split[V any](size int, fetch func(context.Context, []string) (map[string]V, error)) func(context.Context, []string) (map[string]V, error) {
	if size <= 0 {
		return fetch
	}
	return func(ctx context.Context, keys []string) (map[string]V, error) {
		if len(keys) <= size {
			return fetch(ctx, keys)
		}
		var mu sync.Mutex
		out := make(map[string]V, len(keys))
		failed := keyErrors{}
		var g errgroup.Group
		for start := 0; start < len(keys); start += size {
			chunk := keys[start:min(start+size, len(keys))]
			g.Go(func() error {
				m, err := fetch(ctx, chunk)
				mu.Lock()
				defer mu.Unlock()
				maps.Copy(out, m)
				if err != nil {
					for _, k := range chunk {
						if kerr := keyError(err, k); kerr != nil {
							failed[k] = kerr
						}
					}
				}
				return nil
			})
		}
		_ = g.Wait()
		if len(failed) > 0 {
			return out, failed
		}
		return out, nil
	}
}

// keyErrors carries the per-key failures of a fan-out fetch.
type keyErrors map[string]error

func (k keyErrors) Error() string {
	for key, err := range k {
		return fmt.Sprintf("%d key(s) failed, e.g. %s: %v", len(k), model.MaskPersonalNumber(key), err)
	}
	return "no keys failed"
}

// keyError finds the failure of one key in a batch error: a cache FetchError
// or a fan-out's keyErrors name it per key; any other error failed them all.
func keyError(err error, key string) error {
	var fe *cache.FetchError
	if errors.As(err, &fe) {
		cause, failed := fe.Keys[key]
		if !failed {
			return nil
		}
		err = cause
	}
	var ke keyErrors
	if errors.As(err, &ke) {
		return ke[key] // nil: this key was not found rather than failed
	}
	return err
}

// fanOutMap adapts a one-key call (an upstream without a batch form) to a
// map fetch: every distinct key is fetched at once, and the upstream's own
// bound (upstream.Options.MaxConcurrent, shared by every request) decides how
// many calls are in flight; a not-found key is left out, other failures are
// reported per key.
func fanOutMap[V any](fetch func(context.Context, string) (V, error)) func(context.Context, []string) (map[string]V, error) {
	return func(ctx context.Context, keys []string) (map[string]V, error) {
		var mu sync.Mutex
		out := make(map[string]V, len(keys))
		failed := keyErrors{}
		var g errgroup.Group
		for _, k := range dedupe(keys) {
			g.Go(func() error {
				v, err := fetch(ctx, k)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case upstream.IsNotFound(err):
				case err != nil:
					failed[k] = err
				default:
					out[k] = v
				}
				return nil
			})
		}
		_ = g.Wait()
		if len(failed) > 0 {
			return out, failed
		}
		return out, nil
	}
}

func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// pageKey names one window of a placements list in the cache.
func pageKey(k UnitPage) string {
	return k.Code + "@" + strconv.Itoa(k.Offset) + "+" + strconv.Itoa(k.Limit)
}

func errandsKey(f rest.ErrandFilter, offset, n int) string {
	return strings.Join([]string{string(f.Status), strings.Join(f.CaseTypes, ","), strings.Join(f.PartyIDs, ","), strconv.Itoa(offset), strconv.Itoa(n)}, "|")
}

// StaleField is a field answered from a record past its freshness because
// the upstream failed.
type StaleField struct {
	// Path is the field's path in the response; empty for a record that was
	// not asked for by one field (a list page).
	Path           string
	Source, Entity string
	Age            time.Duration
	key            string
}

// Stale lists what this request was served past freshness: one entry per
// field that used a stale record, and one per stale record no single field
// asked for.
func (l *Loaders) Stale() []StaleField {
	l.staleMu.Lock()
	defer l.staleMu.Unlock()
	out := make([]StaleField, 0, len(l.staleFields))
	for _, f := range l.staleFields {
		if !l.staleHidden[staleID(f.Source, f.Entity, f.key)] {
			out = append(out, f)
		}
	}
	for _, s := range l.stale {
		if id := staleID(s.Source, s.Entity, s.Key); !l.staleUsed[id] && !l.staleHidden[id] {
			out = append(out, StaleField{Source: s.Source, Entity: s.Entity, Age: s.Age})
		}
	}
	return out
}

func staleID(source, entity, key string) string { return source + "\x00" + entity + "\x00" + key }

// stalePath records the field path of a value if its record was served stale.
func (l *Loaders) stalePath(source, entity, key, path string) {
	l.staleMu.Lock()
	defer l.staleMu.Unlock()
	for _, s := range l.stale {
		if s.Source == source && s.Entity == entity && s.Key == key {
			if l.staleUsed == nil {
				l.staleUsed = map[string]bool{}
			}
			l.staleUsed[staleID(source, entity, key)] = true
			l.staleFields = append(l.staleFields, StaleField{Path: path, Source: source, Entity: entity, Age: s.Age, key: key})
			return
		}
	}
}

// HidePerson removes every trace of a registry record from the response's
// stale report: the enforcement hid the person, and a caller must not learn
// that the registry knows them.
func (l *Loaders) HidePerson(personalNumber string) {
	l.staleMu.Lock()
	defer l.staleMu.Unlock()
	if l.staleHidden == nil {
		l.staleHidden = map[string]bool{}
	}
	l.staleHidden[staleID(SourceRegistry, "person", personalNumber)] = true
}

func (l *Loaders) noteStale(s []cache.Stale) {
	l.staleMu.Lock()
	defer l.staleMu.Unlock()
	l.stale = append(l.stale, s...)
}
