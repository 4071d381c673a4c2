package resolvers

import (
	"context"

	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/model"
)

// loadPeople loads people by personnummer in one batch, leaving out those the
// registry does not know.
func loadPeople(ctx context.Context, pnrs []string) ([]*model.Person, error) {
	if len(pnrs) == 0 {
		return []*model.Person{}, nil
	}
	people, errs := loaders.FromContext(ctx).Person.LoadMany(ctx, pnrs)()
	out := make([]*model.Person, 0, len(people))
	for i, p := range people {
		if errs != nil && errs[i] != nil {
			return nil, errs[i]
		}
		if p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}
