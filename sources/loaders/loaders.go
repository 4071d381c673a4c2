// Package loaders holds the per-request dataloaders (graph-gophers/dataloader/v7)
// that turn the GraphQL layer's one-key-at-a-time reads into batched upstream
// calls: one call per batch where the upstream has a batch form, and deduped,
// bounded fan-out where it has none (PersonpostXML, lagfart; the declared
// resources' one-key form, such as an errand's decisions, in declared.go).
package loaders

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/sources/cache"
	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
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
	// Wait is the dispatcher's safety net (default 1s): loaders holding keys
	// call their upstreams when the request has made no progress for Wait
	// although its count says something can still run. Batches start when
	// the request is exhausted (see dispatcher), never on this timer; one
	// that does is a count gone wrong, and costs latency only.
	Wait time.Duration
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
	// Registerer receives the dispatcher's flush counter; nil registers none.
	Registerer prometheus.Registerer
	// Resources are the declared resources (sources/declare), served by
	// name through One and List.
	Resources []Resource
	// Declared are the declarations (sources/declare): the Go loaders'
	// cache policies and sealing come from their builtin resources
	// (CheckBuiltins). Nil caches none of their records.
	Declared *declare.Set
}

// RowScope answers, for one request, which values of a @row type's
// attribute (an errand's case type) the caller may read. The loaders only
// push the answer down; the decision is authz's.
type RowScope func(ctx context.Context, typ string) []string

// DefaultWait is the dispatcher's safety net (Options.Wait).
const DefaultWait = time.Second

func (o *Options) defaults() {
	if o.Wait <= 0 {
		o.Wait = DefaultWait
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
	src       Sources
	opts      Options
	stores    stores
	resources map[string]*resource
	flushes   *flushMetrics
	// maxKeys are the Go batch loaders' declared most keys per call
	// (builtin: {form: batch, maxKeys}), by system.resource; 0: no cap.
	maxKeys map[string]int
}

// NewFactory returns a factory of per-request loaders.
func NewFactory(src Sources, opts Options) *Factory {
	opts.defaults()
	return &Factory{
		src: src, opts: opts, stores: newStores(opts.Caching, opts.Declared), resources: newResources(opts.Caching, opts.Resources),
		flushes: newFlushMetrics(opts.Registerer), maxKeys: declaredMaxKeys(opts.Declared),
	}
}

// declaredMaxKeys are the Go batch loaders' declared caps.
func declaredMaxKeys(set *declare.Set) map[string]int {
	out := map[string]int{}
	if set == nil {
		return out
	}
	for _, sys := range set.Systems {
		for _, r := range sys.Resources {
			if r.Builtin != nil && r.Builtin.Form == declare.FormBatch && r.Builtin.MaxKeys > 0 {
				out[r.FullName()] = r.Builtin.MaxKeys
			}
		}
	}
	return out
}

// Loaders are one request's loaders. They cache what they loaded for the
// request's lifetime only, so one caller never sees another caller's data here.
type Loaders struct {
	src    Sources
	opts   Options
	stores stores
	disp   *dispatcher

	staleMu     sync.Mutex
	stale       []cache.Stale
	staleFields []StaleField
	staleUsed   map[string]bool
	staleHidden map[string]bool

	// The declared resources' loaders, made on first use, and their
	// records decoded once per key (declared.go).
	resources       map[string]*resource
	declaredMu      sync.Mutex
	declaredLoaders map[string]*Loader[[]connect.Record]
	decodedValues   sync.Map

	Person           *Loader[*model.Person]
	PersonFresh      *Loader[*model.Person] // past every cache, for protection flags past their bound
	PersonalNumber   *Loader[string]        // partyId -> personnummer
	Party            *Loader[string]        // personnummer -> partyId
	Errand           *Loader[*model.Errand]
	ErrandsByParty   *Loader[[]*model.Errand]
	Property         *Loader[*model.Property]
	Owners           *Loader[[]*model.PropertyOwner]
	SchoolUnit       *Loader[*model.SchoolUnit]
	UnitPlacements   *Batched[UnitPage, sqldb.PlacementPage]
	PersonPlacements *Loader[[]*model.Placement]
	Diets            *Loader[[]string]
	Absences         *Loader[[]model.Absence]
}

// UnitPage is a key of UnitPlacements: one page of one unit's placements.
type UnitPage struct {
	Code          string
	Offset, Limit int
}

// New returns fresh loaders for one request.
func (f *Factory) New() *Loaders {
	d := newDispatcher(f.opts.Wait, f.flushes)
	l := &Loaders{src: f.src, opts: f.opts, stores: f.stores, disp: d, resources: f.resources}
	o, st, src := f.opts, f.stores, f.src
	// Upstreams without a batch form get every key of a batch at once: the
	// bound on concurrent calls is the upstream's, shared by all requests
	// (upstream.Options.MaxConcurrent), not one per batch.
	registry := fanOutMap(f.stamped)
	l.Person = newCachedLoader(o, d, loaderName{SourceRegistry, "person"}, st.person, registry)
	l.PersonFresh = newCachedLoader(o, d, loaderName{SourceRegistry, "person-fresh"}, nil, registry)
	mk := f.maxKeys
	l.PersonalNumber = newCachedLoader(o, d, loaderName{SourceErrands, "party-pnr"}, st.pnrByParty, split(mk[SourceErrands+".party-pnr"], src.Errands.PersonalNumbersByParty))
	l.Party = newCachedLoader(o, d, loaderName{SourceErrands, "pnr-party"}, st.partyByPnr, split(mk[SourceErrands+".pnr-party"], src.Errands.PartiesByPersonalNumber))
	l.Errand = newCachedLoader(o, d, loaderName{SourceErrands, "errand"}, st.errand, split(mk[SourceErrands+".errand"], src.Errands.ErrandsByNumber))
	l.ErrandsByParty = newCachedLoader(o, d, loaderName{SourceErrands, "errands-by-party"}, st.errandsByParty, split(mk[SourceErrands+".errands-by-party"], src.Errands.ErrandsByParty))
	l.Property = newCachedLoader(o, d, loaderName{SourceGeodata, "property"}, st.property, split(mk[SourceGeodata+".property"], src.Geodata.PropertiesByID))
	l.Owners = newCachedLoader(o, d, loaderName{SourceGeodata, "owners"}, st.owners, fanOutMap(src.Geodata.Owners))
	l.SchoolUnit = newCachedLoader(o, d, loaderName{SourceSchool, "unit"}, st.unit, split(mk[SourceSchool+".unit"], src.School.SchoolUnitsByCode))
	l.UnitPlacements = newBatched(o, d, loaderName{SourceSchool, "unit-placements"}, f.unitPlacements)
	l.PersonPlacements = newCachedLoader(o, d, loaderName{SourceSchool, "person-placements"}, st.personPlacements, split(mk[SourceSchool+".person-placements"], src.School.PlacementsByPerson))
	l.Diets = newCachedLoader(o, d, loaderName{SourceSchool, "diets"}, st.diets, split(mk[SourceSchool+".diets"], src.School.DietsByPerson))
	l.Absences = newCachedLoader(o, d, loaderName{SourceSchool, "absences"}, st.absences, split(mk[SourceSchool+".absences"], src.School.AbsencesByPerson))
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
