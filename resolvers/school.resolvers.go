package resolvers

import (
	"context"

	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/gqlmodel"
	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/model"
)

func (r *placementResolver) Child(ctx context.Context, obj *model.Placement) (*model.Person, error) {
	return loaders.FromContext(ctx).Person.Load(ctx, obj.PersonalNumber)()
}

func (r *placementResolver) SchoolUnit(ctx context.Context, obj *model.Placement) (*model.SchoolUnit, error) {
	return loaders.FromContext(ctx).SchoolUnit.Load(ctx, obj.SchoolUnitCode)()
}

func (r *placementResolver) SpecialDiet(ctx context.Context, obj *model.Placement) ([]string, error) {
	return loaders.FromContext(ctx).Diets.Load(ctx, obj.PersonalNumber)()
}

func (r *placementResolver) Absences(ctx context.Context, obj *model.Placement) ([]*model.Absence, error) {
	days, err := loaders.FromContext(ctx).Absences.Load(ctx, obj.PersonalNumber)()
	if err != nil {
		return nil, err
	}
	out := make([]*model.Absence, len(days))
	for i := range days {
		out[i] = &days[i]
	}
	return out, nil
}

func (r *queryResolver) SchoolUnit(ctx context.Context, code string) (*model.SchoolUnit, error) {
	c, err := schoolUnitCodeArg(ctx, code)
	if err != nil {
		return nil, err
	}
	return loaders.FromContext(ctx).SchoolUnit.Load(ctx, c)()
}

func (r *queryResolver) SchoolUnits(ctx context.Context, first *int, after *string) (*gqlmodel.SchoolUnitConnection, error) {
	offset, n, err := window(ctx, first, after)
	if err != nil {
		return nil, err
	}
	units, total, err := loaders.FromContext(ctx).SchoolUnits(ctx, offset, n)
	if err != nil {
		return nil, err
	}
	edges, info := connection(offset, total, units, func(c string, u *model.SchoolUnit) *gqlmodel.SchoolUnitEdge {
		return &gqlmodel.SchoolUnitEdge{Cursor: c, Node: u}
	})
	return &gqlmodel.SchoolUnitConnection{Edges: edges, PageInfo: info, TotalCount: total}, nil
}

func (r *schoolUnitResolver) Property(ctx context.Context, obj *model.SchoolUnit) (*model.Property, error) {
	if obj.PropertyObjectID == "" {
		return nil, nil
	}
	return loaders.FromContext(ctx).Property.Load(ctx, obj.PropertyObjectID)()
}

func (r *schoolUnitResolver) Placements(ctx context.Context, obj *model.SchoolUnit, first *int, after *string) (*gqlmodel.PlacementConnection, error) {
	offset, n, err := window(ctx, first, after)
	if err != nil {
		return nil, err
	}
	page, err := loaders.FromContext(ctx).UnitPlacements.Load(ctx, loaders.UnitPage{Code: obj.Code, Offset: offset, Limit: n})()
	if err != nil {
		return nil, err
	}
	edges, info := connection(offset, page.Total, page.Placements, func(c string, p *model.Placement) *gqlmodel.PlacementEdge {
		return &gqlmodel.PlacementEdge{Cursor: c, Node: p}
	})
	return &gqlmodel.PlacementConnection{Edges: edges, PageInfo: info, TotalCount: page.Total}, nil
}

func (r *Resolver) Placement() graph.PlacementResolver { return &placementResolver{r} }

func (r *Resolver) SchoolUnit() graph.SchoolUnitResolver { return &schoolUnitResolver{r} }

type (
	placementResolver  struct{ *Resolver }
	schoolUnitResolver struct{ *Resolver }
)
