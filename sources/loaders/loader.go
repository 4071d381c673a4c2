package loaders

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/graph-gophers/dataloader/v7"

	"github.com/kommungraf/kommungraf/sources/cache"
)

// Loader is a dataloader with a fast path: a key whose fresh record is in the
// in-process cache tier is answered at once, without waiting for a batch.
// Only misses go through the dispatcher, the Redis tier and the upstream.
type Loader[V any] struct {
	b     *Batched[string, V]
	store *cache.Store[V]
}

func newCachedLoader[V any](o Options, d *dispatcher, n loaderName, store *cache.Store[V], fetch func(context.Context, []string) (map[string]V, error)) *Loader[V] {
	return &Loader[V]{b: newBatched(o, d, n, fromMap(through(store, fetch))), store: store}
}

// Load returns a thunk of the key's value.
func (l *Loader[V]) Load(ctx context.Context, key string) dataloader.Thunk[V] {
	if v, ok := l.store.Peek(key); ok {
		return func() (V, error) { return v, nil }
	}
	return l.markStale(ctx, key, l.b.Load(ctx, key))
}

// markStale wraps a thunk so that a value served stale is reported with the
// path of the field that asked for it.
func (l *Loader[V]) markStale(ctx context.Context, key string, th dataloader.Thunk[V]) dataloader.Thunk[V] {
	if l.store == nil {
		return th
	}
	return func() (V, error) {
		v, err := th()
		if req, ok := Lookup(ctx); ok && graphql.GetFieldContext(ctx) != nil {
			source, entity := l.store.Name()
			req.stalePath(source, entity, key, graphql.GetPath(ctx).String())
		}
		return v, err
	}
}

// LoadMany returns a thunk of the keys' values, in key order.
func (l *Loader[V]) LoadMany(ctx context.Context, keys []string) dataloader.ThunkMany[V] {
	vals := make([]V, len(keys))
	for i, k := range keys {
		v, ok := l.store.Peek(k)
		if !ok {
			return l.b.LoadMany(ctx, keys)
		}
		vals[i] = v
	}
	return func() ([]V, []error) { return vals, nil }
}

// Prime puts a value the request already has into the request's loader.
func (l *Loader[V]) Prime(ctx context.Context, key string, v V) {
	l.b.Prime(ctx, key, v)
}
