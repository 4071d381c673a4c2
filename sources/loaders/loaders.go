// Package loaders holds the per-request dataloaders (graph-gophers/dataloader/v7)
// that turn the GraphQL layer's one-key-at-a-time reads into batched upstream
// calls: one call per batch where the upstream has a batch form, and deduped,
// bounded fan-out where it has none (PersonpostXML, decisions, lagfart).
package loaders

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/kommungraf/kommungraf/sources/cache"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
	"github.com/kommungraf/kommungraf/sources/soap"
	"github.com/kommungraf/kommungraf/sources/sqldb"
)

// Sources are the connectors the loaders read from.
type Sources struct {
	Registry *soap.Navet
	Errands  *rest.ETjanst
	Geodata  *rest.Geodata
	School   *sqldb.Store
}

// Options tune batching.
type Options struct {
	// Wait is how long a loader collects keys before it calls the upstream
	// (default 2ms; the library's 16ms default would add 16ms per level of
	// the query). See docs/BENCHMARKS.md for the measurement behind it.
	Wait time.Duration
	// MaxBatch caps the keys of one batch (default 100, the upstreams' page cap).
	MaxBatch int
	// FanOut bounds concurrent calls to upstreams without a batch form (default 64: Q1 has about 100 distinct people, and each round of a narrower bound adds a registry round trip; see docs/BENCHMARKS.md).
	FanOut int
	// Disabled turns batching off: every key is its own call. For benchmarks only.
	Disabled bool
	// Caching puts the record cache under the loaders; nil caches nothing.
	Caching *Caching
	// Rows says which values of a @row type's attribute the request may
	// read (authz.Enforcement.RowValues), so that a listing asks the
	// upstream for those rows only. Required: nil reads no rows.
	Rows RowScope
	// ProtectionMaxAge caps the freshness of the registry's records in the
	// cache: their protection flags must be no older when a decision reads
	// them (authz.protectionMaxAge). 0 leaves the cache policy as it is.
	ProtectionMaxAge time.Duration
	// Now is the clock that stamps registry records; nil means time.Now.
	Now func() time.Time
}

// RowScope answers, for one request, which values of a @row type's
// attribute (an errand's case type) the caller may read. The loaders only
// push the answer down; the decision is authz's.
type RowScope func(ctx context.Context, typ string) []string

// DefaultWait is the batch wait chosen for production.
const DefaultWait = 2 * time.Millisecond

func (o *Options) defaults() {
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 100
	}
	if o.FanOut <= 0 {
		o.FanOut = 64
	}
	if o.Rows == nil {
		o.Rows = func(context.Context, string) []string { return nil } // fail closed
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if c := o.Caching; c != nil && o.ProtectionMaxAge > 0 {
		if p, ok := c.Policies[SourceRegistry]; ok && p.TTL > o.ProtectionMaxAge {
			policies := maps.Clone(c.Policies)
			p.TTL = o.ProtectionMaxAge
			policies[SourceRegistry] = p
			o.Caching = &Caching{Cache: c.Cache, Policies: policies}
		}
	}
}

// Factory makes fresh loaders for each request.
type Factory struct {
	src    Sources
	opts   Options
	stores stores
}

// NewFactory returns a factory of per-request loaders.
func NewFactory(src Sources, opts Options) *Factory {
	opts.defaults()
	return &Factory{src: src, opts: opts, stores: newStores(opts.Caching)}
}

// Loaders are one request's loaders. They cache what they loaded for the
// request's lifetime only, so one caller never sees another caller's data here.
type Loaders struct {
	src    Sources
	opts   Options
	stores stores

	staleMu     sync.Mutex
	stale       []cache.Stale
	staleFields []StaleField
	staleUsed   map[string]bool
	staleHidden map[string]bool

	Person           *Loader[*model.Person]
	PersonFresh      *Loader[*model.Person] // past every cache, for protection flags past their bound
	PersonalNumber   *Loader[string]        // partyId -> personnummer
	Party            *Loader[string]        // personnummer -> partyId
	Errand           *Loader[*model.Errand]
	ErrandsByParty   *Loader[[]*model.Errand]
	Decisions        *Loader[[]*model.Decision]
	Property         *Loader[*model.Property]
	Owners           *Loader[[]*model.PropertyOwner]
	SchoolUnit       *Loader[*model.SchoolUnit]
	UnitPlacements   *dataloader.Loader[UnitPage, sqldb.PlacementPage]
	PersonPlacements *Loader[[]*model.Placement]
	Diets            *Loader[[]string]
	Absences         *Loader[[]model.Absence]
}

// UnitPage is a key of UnitPlacements: one page of one unit's placements.
type UnitPage struct {
	Code          string
	Offset, Limit int
}

// sqlBatch caps the keys of one SQL query: far below SQLite's 32766
// parameters, and large enough that a page of pages (20 units x 100
// placements) is one query.
const sqlBatch = 2000

// partyBatch is the party lookup's own cap (1000 keys per call).
const partyBatch = 1000

func newLoader[K comparable, V any](o Options, capacity int, batch dataloader.BatchFunc[K, V]) *dataloader.Loader[K, V] {
	if o.Disabled {
		return dataloader.NewBatchedLoader(batch, dataloader.WithBatchCapacity[K, V](1), dataloader.WithWait[K, V](0))
	}
	return dataloader.NewBatchedLoader(batch, dataloader.WithWait[K, V](o.Wait), dataloader.WithBatchCapacity[K, V](capacity))
}

// New returns fresh loaders for one request.
func (f *Factory) New() *Loaders {
	l := &Loaders{src: f.src, opts: f.opts, stores: f.stores}
	o, st, src := f.opts, f.stores, f.src
	registry := fanOutMap(o.FanOut, f.stamped)
	l.Person = newCachedLoader(o, o.MaxBatch, st.person, registry)
	l.PersonFresh = newCachedLoader(o, o.MaxBatch, nil, registry)
	l.PersonalNumber = newCachedLoader(o, partyBatch, st.pnrByParty, src.Errands.PersonalNumbersByParty)
	l.Party = newCachedLoader(o, partyBatch, st.partyByPnr, src.Errands.PartiesByPersonalNumber)
	l.Errand = newCachedLoader(o, o.MaxBatch, st.errand, src.Errands.ErrandsByNumber)
	l.ErrandsByParty = newCachedLoader(o, o.MaxBatch, st.errandsByParty, src.Errands.ErrandsByParty)
	l.Decisions = newCachedLoader(o, o.MaxBatch, st.decisions, fanOutMap(o.FanOut, src.Errands.Decisions))
	l.Property = newCachedLoader(o, o.MaxBatch, st.property, src.Geodata.PropertiesByID)
	l.Owners = newCachedLoader(o, o.MaxBatch, st.owners, fanOutMap(o.FanOut, src.Geodata.Owners))
	l.SchoolUnit = newCachedLoader(o, sqlBatch, st.unit, src.School.SchoolUnitsByCode)
	l.UnitPlacements = newLoader(o, sqlBatch, f.unitPlacements)
	l.PersonPlacements = newCachedLoader(o, sqlBatch, st.personPlacements, src.School.PlacementsByPerson)
	l.Diets = newCachedLoader(o, sqlBatch, st.diets, src.School.DietsByPerson)
	l.Absences = newCachedLoader(o, sqlBatch, st.absences, src.School.AbsencesByPerson)
	return l
}

// stamped asks the registry for one person and notes when: the time the
// protection flags were vouched for.
func (f *Factory) stamped(ctx context.Context, pnr string) (*model.Person, error) {
	p, err := f.src.Registry.Person(ctx, pnr)
	if err != nil || p == nil {
		return p, err
	}
	p.FetchedAt = f.opts.Now()
	return p, nil
}

// unitPlacements groups the keys by page window so that the usual case (every
// unit asks for the same page) is one query.
func (f *Factory) unitPlacements(ctx context.Context, keys []UnitPage) []*dataloader.Result[sqldb.PlacementPage] {
	type window struct{ offset, limit int }
	groups := map[window][]string{}
	for _, k := range keys {
		w := window{k.Offset, k.Limit}
		groups[w] = append(groups[w], pageKey(k))
	}
	pages := map[string]sqldb.PlacementPage{}
	errs := map[window]error{}
	for w, pks := range groups {
		m, err := through(f.stores.unitPlacements, func(ctx context.Context, misses []string) (map[string]sqldb.PlacementPage, error) {
			codes := make([]string, len(misses))
			for i, pk := range misses {
				codes[i], _, _ = strings.Cut(pk, "@")
			}
			byCode, err := f.src.School.PlacementsByUnit(ctx, codes, w.offset, w.limit)
			out := make(map[string]sqldb.PlacementPage, len(byCode))
			for code, p := range byCode {
				out[pageKey(UnitPage{code, w.offset, w.limit})] = p
			}
			return out, err
		})(ctx, pks)
		errs[w] = err
		for pk, p := range m {
			pages[pk] = p
		}
	}
	out := make([]*dataloader.Result[sqldb.PlacementPage], len(keys))
	for i, k := range keys {
		if err := errs[window{k.Offset, k.Limit}]; err != nil {
			if kerr := keyError(err, pageKey(k)); kerr != nil {
				out[i] = &dataloader.Result[sqldb.PlacementPage]{Error: kerr}
				continue
			}
		}
		out[i] = &dataloader.Result[sqldb.PlacementPage]{Data: pages[pageKey(k)]}
	}
	return out
}

type ctxKey struct{}

// NewContext returns a context carrying the request's loaders.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the request's loaders. It panics when the middleware is
// missing: that is a wiring bug, and the recover func turns it into a coded error.
func FromContext(ctx context.Context) *Loaders {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	if !ok {
		panic("loaders: no loaders in context; is loaders.Middleware installed?")
	}
	return l
}

// Lookup returns the request's loaders, if the middleware put them there.
func Lookup(ctx context.Context) (*Loaders, bool) {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	return l, ok
}

// Middleware gives every request fresh loaders.
func (f *Factory) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), f.New())))
	})
}
