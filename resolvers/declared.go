package resolvers

import (
	"context"
	"errors"

	"github.com/kommungraf/kommungraf/graph/gqlmodel"
	"github.com/kommungraf/kommungraf/sources/loaders"
)

// declaredPage is the work of a connection field bound with @resource to a
// declared listing (graph/internal/resourceplugin writes the body that
// calls it): the arguments read as every connection's are (window), the
// window loaded, and the edges and page info built as every connection's
// are (connection). T is the records' type, E the edge's.
func declaredPage[T, E any](ctx context.Context, name, key string, first *int, after *string, edge func(cursor string, node *T) E) ([]E, *gqlmodel.PageInfo, *int, error) {
	offset, n, err := window(ctx, first, after)
	if err != nil {
		return nil, nil, nil, err
	}
	w, err := loaders.Page[T](ctx, name, key, offset, n)
	if errors.Is(err, loaders.ErrBeyondReach) {
		return nil, nil, nil, badInput(ctx, "after: beyond the records this list can be paged to")
	}
	if err != nil {
		return nil, nil, nil, err
	}
	end := offset + len(w.Nodes)
	if w.More {
		end++ // connection reads "more" from a total past the page
	}
	edges, info := connection(offset, end, w.Nodes, edge)
	return edges, info, w.Total, nil
}
