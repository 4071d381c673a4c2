package resolvers

import (
	"context"

	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/model"
)

func (r *propertyResolver) Owners(ctx context.Context, obj *model.Property) ([]*model.PropertyOwner, error) {
	return loaders.FromContext(ctx).Owners.Load(ctx, obj.ObjectID)()
}

func (r *propertyOwnerResolver) Person(ctx context.Context, obj *model.PropertyOwner) (*model.Person, error) {
	if obj.PersonalNumber == "" {
		return nil, nil
	}
	return loaders.FromContext(ctx).Person.Load(ctx, obj.PersonalNumber)()
}

func (r *queryResolver) Property(ctx context.Context, designation string) (*model.Property, error) {
	d, err := designationArg(ctx, designation)
	if err != nil {
		return nil, err
	}
	return loaders.FromContext(ctx).PropertyByDesignation(ctx, d)
}

func (r *Resolver) Property() graph.PropertyResolver { return &propertyResolver{r} }

func (r *Resolver) PropertyOwner() graph.PropertyOwnerResolver { return &propertyOwnerResolver{r} }

type (
	propertyResolver      struct{ *Resolver }
	propertyOwnerResolver struct{ *Resolver }
)
