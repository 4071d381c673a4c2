package loaders

import (
	"context"

	"github.com/graph-gophers/dataloader/v7"
)

// fromMap adapts a batch call that answers a map (absent key: no value) to a
// dataloader batch function. A failure fails the keys it names (keyError), or
// every key of the batch.
func fromMap[V any](fetch func(context.Context, []string) (map[string]V, error)) dataloader.BatchFunc[string, V] {
	return func(ctx context.Context, keys []string) []*dataloader.Result[V] {
		m, err := fetch(ctx, keys)
		out := make([]*dataloader.Result[V], len(keys))
		for i, k := range keys {
			if err != nil {
				if kerr := keyError(err, k); kerr != nil {
					out[i] = &dataloader.Result[V]{Error: kerr}
					continue
				}
			}
			out[i] = &dataloader.Result[V]{Data: m[k]}
		}
		return out
	}
}
