package loaders

import (
	"context"

	"github.com/graph-gophers/dataloader/v7"
	"golang.org/x/sync/errgroup"

	"github.com/kommungraf/kommungraf/sources/upstream"
)

// fromMap adapts a batch call that answers a map (absent key: no value) to a
// dataloader batch function. A failed call fails every key of the batch.
func fromMap[K comparable, V any](fetch func(context.Context, []K) (map[K]V, error)) dataloader.BatchFunc[K, V] {
	return func(ctx context.Context, keys []K) []*dataloader.Result[V] {
		m, err := fetch(ctx, keys)
		out := make([]*dataloader.Result[V], len(keys))
		for i, k := range keys {
			if err != nil {
				out[i] = &dataloader.Result[V]{Error: err}
				continue
			}
			out[i] = &dataloader.Result[V]{Data: m[k]}
		}
		return out
	}
}

// fanOut adapts a one-key call (an upstream without a batch form) to a batch
// function: keys are deduped and fetched concurrently, at most limit at a
// time. A not-found key yields the zero value without error; other failures
// fail only their own key.
func fanOut[K comparable, V any](limit int, fetch func(context.Context, K) (V, error)) dataloader.BatchFunc[K, V] {
	return func(ctx context.Context, keys []K) []*dataloader.Result[V] {
		index := make(map[K]int, len(keys))
		unique := make([]K, 0, len(keys))
		for _, k := range keys {
			if _, ok := index[k]; !ok {
				index[k] = len(unique)
				unique = append(unique, k)
			}
		}
		results := make([]dataloader.Result[V], len(unique))
		var g errgroup.Group
		g.SetLimit(limit)
		for i, k := range unique {
			g.Go(func() error {
				v, err := fetch(ctx, k)
				if upstream.IsNotFound(err) {
					err = nil
				}
				results[i] = dataloader.Result[V]{Data: v, Error: err}
				return nil
			})
		}
		_ = g.Wait()
		out := make([]*dataloader.Result[V], len(keys))
		for i, k := range keys {
			r := results[index[k]]
			out[i] = &r
		}
		return out
	}
}
