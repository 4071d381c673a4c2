package resolvers

import (
	"context"

	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/gqlmodel"
	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
)

func (r *errandResolver) Property(ctx context.Context, obj *model.Errand) (*model.Property, error) {
	if obj.PropertyObjectID == "" {
		return nil, nil
	}
	return loaders.FromContext(ctx).Property.Load(ctx, obj.PropertyObjectID)()
}

func (r *errandResolver) Decisions(ctx context.Context, obj *model.Errand) ([]*model.Decision, error) {
	return loaders.FromContext(ctx).Decisions.Load(ctx, obj.ErrandNumber)()
}

func (r *queryResolver) Errand(ctx context.Context, errandNumber string) (*model.Errand, error) {
	number, err := errandNumberArg(ctx, errandNumber)
	if err != nil {
		return nil, err
	}
	return loaders.FromContext(ctx).Errand.Load(ctx, number)()
}

func (r *queryResolver) Errands(ctx context.Context, first *int, after *string, status *model.ErrandStatus, caseType *string) (*gqlmodel.ErrandConnection, error) {
	offset, n, err := window(ctx, first, after)
	if err != nil {
		return nil, err
	}
	f := rest.ErrandFilter{}
	if f.CaseType, err = caseTypeArg(ctx, caseType); err != nil {
		return nil, err
	}
	if status != nil {
		f.Status = *status
	}
	errands, total, err := loaders.FromContext(ctx).Errands(ctx, f, offset, n)
	if err != nil {
		return nil, err
	}
	edges, info := connection(offset, total, errands, func(c string, e *model.Errand) *gqlmodel.ErrandEdge {
		return &gqlmodel.ErrandEdge{Cursor: c, Node: e}
	})
	return &gqlmodel.ErrandConnection{Edges: edges, PageInfo: info, TotalCount: total}, nil
}

func (r *stakeholderResolver) Person(ctx context.Context, obj *model.Stakeholder) (*model.Person, error) {
	l := loaders.FromContext(ctx)
	pnr, err := l.PersonalNumber.Load(ctx, obj.PartyID)()
	if err != nil || pnr == "" {
		return nil, err
	}
	return l.Person.Load(ctx, pnr)()
}

func (r *Resolver) Errand() graph.ErrandResolver { return &errandResolver{r} }

func (r *Resolver) Stakeholder() graph.StakeholderResolver { return &stakeholderResolver{r} }

type (
	errandResolver      struct{ *Resolver }
	stakeholderResolver struct{ *Resolver }
)
