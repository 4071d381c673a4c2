package loaders

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sync/atomic"

	"github.com/kommungraf/kommungraf/sources/cache"
	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// Resource is a declared resource (sources/declare) the loaders serve by
// name: one loader per request on the request's dispatcher, over one cache
// store with the declared policy.
type Resource struct {
	// System and Name name it: System.Name is what @resource binds and
	// the cache's source/entity.
	System, Name string
	// Connector answers its keys (required).
	Connector connect.Connector
	// Cache is the declared policy; a zero TTL caches nothing.
	Cache cache.Policy
	// Level3 seals its records in Redis.
	Level3 bool
	// Shape is the fingerprint of its records (declare.Resource.Shape),
	// part of every cache key.
	Shape string
}

// FullName is system.resource.
func (r Resource) FullName() string { return r.System + "." + r.Name }

// PersonByParty is the hand-written leg a declared field may bind to with
// @resource: an e-service party id, through the platform's party lookup,
// to the registry's person (as Stakeholder.person resolves).
const PersonByParty = "folkbokforing.personByParty"

// Builtins are the hand-written loaders reachable by name, for the
// declarations' check.
func Builtins() []declare.Builtin {
	return []declare.Builtin{{Name: PersonByParty, Type: "Person", List: false}}
}

// resource is a declared resource as the factory holds it.
type resource struct {
	def   Resource
	store *cache.Store[[]connect.Record]
	fetch func(context.Context, []string) (map[string][]connect.Record, error)
	// fits decodes a record as the bound fields' type does (its
	// DecodeRecord); set by the first decoded call, before any fetch.
	fits atomic.Pointer[func(connect.Record) error]
}

func newResources(c *Caching, defs []Resource) map[string]*resource {
	out := make(map[string]*resource, len(defs))
	for _, d := range defs {
		r := &resource{def: d}
		r.fetch = r.checked(chunks(d.Connector))
		if c != nil && c.Cache != nil && d.Cache.TTL > 0 {
			sens := cache.Ordinary
			if d.Level3 {
				sens = cache.Level3
			}
			p := d.Cache
			p.Shape = d.Shape
			r.store = cache.NewStore[[]connect.Record](c.Cache, d.System, d.Name, p, sens)
		}
		out[d.FullName()] = r
	}
	return out
}

// chunks splits a batch at the connector's MaxKeys and issues the calls
// together, so that a level stays one batch however many keys it has; a
// failed call fails its own keys only (split, as for a Go loader).
func chunks(c connect.Connector) func(context.Context, []string) (map[string][]connect.Record, error) {
	fetch := split(c.MaxKeys(), func(ctx context.Context, keys []string) (map[string][]connect.Record, error) {
		m, err := c.Fetch(ctx, keys)
		return m, perKey(err)
	})
	return func(ctx context.Context, keys []string) (map[string][]connect.Record, error) {
		return fetch(ctx, dedupe(keys))
	}
}

// checked fails the keys whose records do not fit the schema's type as bad
// responses before they reach the record cache, as a hand-written
// connector's undecodable answer fails its call: a bad answer is then
// neither cached as the key's fresh answer for the whole TTL (and shared
// through Redis) nor written over a good record that stale-if-error could
// serve.
func (r *resource) checked(fetch func(context.Context, []string) (map[string][]connect.Record, error)) func(context.Context, []string) (map[string][]connect.Record, error) {
	return func(ctx context.Context, keys []string) (map[string][]connect.Record, error) {
		m, err := fetch(ctx, keys)
		fits := r.fits.Load()
		if fits == nil || len(m) == 0 {
			return m, err
		}
		var bad keyErrors
		for k, recs := range m {
			for _, rec := range recs {
				if ferr := (*fits)(rec); ferr != nil {
					if bad == nil {
						bad = keyErrors{}
					}
					bad[k] = upstream.Errorf(r.def.System, r.def.Name, upstream.BadResponse, "a record does not fit the schema: %v", ferr)
					break
				}
			}
		}
		if bad == nil {
			return m, err
		}
		for k := range bad {
			delete(m, k)
		}
		var ke keyErrors
		switch {
		case err == nil:
			return m, bad
		case errors.As(err, &ke):
			for k, kerr := range ke {
				bad[k] = kerr
			}
			return m, bad
		}
		return m, err // failed as a whole: so do the bad keys
	}
}

// perKey turns a connector's per-key failures into the loaders' own.
func perKey(err error) error {
	var ke connect.KeyErrors
	if errors.As(err, &ke) {
		return keyErrors(ke)
	}
	return err
}

// declared returns the request's loader of a declared resource, made on
// first use.
func (l *Loaders) declared(name string) (*Loader[[]connect.Record], *resource) {
	r := l.resources[name]
	if r == nil {
		return nil, nil
	}
	l.declaredMu.Lock()
	defer l.declaredMu.Unlock()
	ld := l.declaredLoaders[name]
	if ld == nil {
		ld = newCachedLoader(l.opts, l.disp, loaderName{r.def.System, r.def.Name}, r.store, r.fetch)
		if l.declaredLoaders == nil {
			l.declaredLoaders = map[string]*Loader[[]connect.Record]{}
		}
		l.declaredLoaders[name] = ld
	}
	return ld, r
}

// builtin returns a hand-written loader reachable by name.
func (l *Loaders) builtin(name string) func(context.Context, string) (any, error) {
	switch name {
	case PersonByParty:
		return func(ctx context.Context, partyID string) (any, error) {
			pnr, err := l.PersonalNumber.Load(ctx, partyID)()
			if err != nil || pnr == "" {
				return (*model.Person)(nil), err
			}
			return l.Person.Load(ctx, pnr)()
		}
	}
	return nil
}

// RecordDecoder is implemented by the Go types of declared records (the
// generator writes DecodeRecord for each, graph/gqlmodel): it fills the
// value from a record in the schema's names.
type RecordDecoder interface {
	DecodeRecord(connect.Record) error
}

// One returns the value of key in the named resource (a declared one, or a
// hand-written loader such as PersonByParty), as *T: the gqlgen model of
// the field's type; nil when there is none. It is what the resolver bodies
// written from @resource call.
func One[T any](ctx context.Context, name, key string) (*T, error) {
	if key == "" {
		return nil, nil
	}
	l := FromContext(ctx)
	if fn := l.builtin(name); fn != nil {
		v, err := fn(ctx, key)
		if err != nil {
			return nil, err
		}
		t, ok := v.(*T)
		if !ok {
			return nil, fmt.Errorf("loaders: %s answers %T, not %T", name, v, t)
		}
		return t, nil
	}
	vals, err := decoded[T](ctx, l, name, key)
	if err != nil || len(vals) == 0 {
		return nil, err
	}
	return vals[0], nil
}

// List returns the values of key in the named declared resource as []*T;
// empty when the upstream has none.
func List[T any](ctx context.Context, name, key string) ([]*T, error) {
	if key == "" {
		return []*T{}, nil
	}
	l := FromContext(ctx)
	if l.builtin(name) != nil {
		return nil, fmt.Errorf("loaders: %s answers one value per key, not a list", name)
	}
	return decoded[T](ctx, l, name, key)
}

// Deref is the key of a nullable field ("" for null), for the generated
// resolver bodies.
func Deref[S ~string](s *S) string {
	if s == nil {
		return ""
	}
	return string(*s)
}

// decoded loads a key's records and decodes them into T, once per key and
// request.
func decoded[T any](ctx context.Context, l *Loaders, name, key string) ([]*T, error) {
	w, err := decodedWindow[T](ctx, l, name, key, false)
	if err != nil {
		return nil, err
	}
	return w.Nodes, nil
}

// decodedWindow loads a key's records and decodes them into T, once per
// key and request; window says the key is a listing's window (its first
// record is the window's meta record).
func decodedWindow[T any](ctx context.Context, l *Loaders, name, key string, window bool) (*Window[T], error) {
	memo := name + "\x00" + key
	if v, ok := l.decodedValues.Load(memo); ok {
		if w, ok := v.(*Window[T]); ok {
			return w, nil
		}
	}
	ld, r := l.declared(name)
	if ld == nil {
		return nil, fmt.Errorf("loaders: no declared resource %q", name)
	}
	if r.fits.Load() == nil {
		fits := func(rec connect.Record) error {
			if d, ok := any(new(T)).(RecordDecoder); ok {
				return d.DecodeRecord(rec)
			}
			return nil
		}
		r.fits.CompareAndSwap(nil, &fits)
	}
	recs, err := ld.Load(ctx, key)()
	if err != nil {
		return nil, err
	}
	w := &Window[T]{}
	if window {
		var meta connect.PageMeta
		meta, recs = connect.SplitPage(recs)
		w.More = meta.More
		if meta.Total >= 0 {
			w.Total = &meta.Total
		}
	}
	w.Nodes = make([]*T, 0, len(recs))
	for _, rec := range recs {
		v := new(T)
		d, ok := any(v).(RecordDecoder)
		if !ok {
			return nil, fmt.Errorf("loaders: %T cannot decode the records of %s (run go generate)", v, name)
		}
		if err := d.DecodeRecord(rec); err != nil {
			// The upstream's value did not fit the schema's type: a bad
			// response, named by system, never by its value.
			return nil, upstream.Errorf(r.def.System, r.def.Name, upstream.BadResponse, "a record does not fit the schema: %v", err)
		}
		w.Nodes = append(w.Nodes, v)
	}
	l.decodedValues.Store(memo, w)
	return w, nil
}

// Window is a page of a listing resource's records of one key.
type Window[T any] struct {
	Nodes []*T
	// Total is the upstream's count of the key's records on all pages;
	// nil when it does not say.
	Total *int
	// More says records follow the window.
	More bool
}

// ErrBeyondReach is Page's error for a window beyond what the listing can
// be paged to (declare.Page.Reach): the client's argument, not asked
// upstream.
var ErrBeyondReach = connect.ErrBeyondReach

// pager is a listing's connector (connect.HTTP with a page part).
type pager interface {
	Paging() *declare.Page
}

// paging is the named resource's paging, nil when it is no listing.
func (l *Loaders) paging(name string) *declare.Page {
	r := l.resources[name]
	if r == nil {
		return nil
	}
	if p, ok := r.def.Connector.(pager); ok {
		return p.Paging()
	}
	return nil
}

// Page returns the window of limit records from offset of key's list in
// the named listing resource (declare.Page), as *T: what the resolver
// bodies written for a connection field bound with @resource call, after
// reading first and after. The window is one loader key: the same window
// of the same key is asked once per request, and cached as the
// resource's records are.
func Page[T any](ctx context.Context, name, key string, offset, limit int) (*Window[T], error) {
	l := FromContext(ctx)
	p := l.paging(name)
	switch {
	case p == nil:
		return nil, fmt.Errorf("loaders: %s is not a declared listing", name)
	case offset < 0 || limit < 1:
		return nil, fmt.Errorf("loaders: %s: a window of %d from %d", name, limit, offset)
	case p.Reach() > 0 && offset >= p.Reach():
		return nil, ErrBeyondReach
	case key == "":
		return &Window[T]{Nodes: []*T{}}, nil
	}
	return decodedWindow[T](ctx, l, name, connect.PageKey(key, offset, limit), true)
}

// ResourceNames lists the declared resources the factory serves.
func (f *Factory) ResourceNames() []string {
	out := make([]string, 0, len(f.resources))
	for n := range f.resources {
		out = append(out, n)
	}
	return out
}

// WithArgs is the loader key of key asked with a bound field's arguments
// (declare.ArgsKey), for the generated resolver bodies: nameValues are
// the arguments' names and values in pairs; a nil value (a null argument)
// is absent, any other is written as its text (an enum as its name). An
// empty key stays empty: it has no records.
func WithArgs(key string, nameValues ...any) string {
	if key == "" {
		return ""
	}
	args := url.Values{}
	for i := 0; i+1 < len(nameValues); i += 2 {
		name, _ := nameValues[i].(string)
		v := reflect.ValueOf(nameValues[i+1])
		for v.IsValid() && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v = reflect.Value{}
				break
			}
			v = v.Elem()
		}
		if !v.IsValid() {
			continue
		}
		args.Set(name, fmt.Sprint(v.Interface()))
	}
	return declare.ArgsKey(key, args)
}
