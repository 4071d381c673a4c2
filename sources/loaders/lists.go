package loaders

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
)

// Lists are the paged top-level reads. They are single calls, not batches, and
// they prime the request's loaders so that a later lookup of the same entity
// costs nothing.

// Errands returns one window of the errand listing and the total count.
//
// Only errands the caller may read are asked for: the case types in f are
// narrowed to those the row scope allows (all of them when f names none),
// and when none is left the answer is an empty page without an upstream
// call, exactly as for a case type the platform does not know.
func (l *Loaders) Errands(ctx context.Context, f rest.ErrandFilter, offset, n int) ([]*model.Errand, int, error) {
	allowed := l.opts.Rows(ctx, "Errand")
	if len(f.CaseTypes) == 0 {
		f.CaseTypes = allowed
	} else {
		f.CaseTypes = slices.DeleteFunc(slices.Clone(f.CaseTypes), func(ct string) bool { return !slices.Contains(allowed, ct) })
	}
	if len(f.CaseTypes) == 0 {
		return []*model.Errand{}, 0, nil
	}
	page, err := one(ctx, l.stores.errandsPage, errandsKey(f, offset, n), func(ctx context.Context) (errandsPage, bool, error) {
		errands, total, err := l.src.Errands.Errands(ctx, f, offset, n)
		return errandsPage{errands, total}, true, err
	})
	if err != nil {
		return nil, 0, err
	}
	errands, total := page.Errands, page.Total
	for _, e := range errands {
		l.Errand.Prime(ctx, e.ErrandNumber, e)
	}
	return errands, total, nil
}

// SchoolUnits returns one window of the school units (of one school form,
// unless form is empty) and the total count.
func (l *Loaders) SchoolUnits(ctx context.Context, form model.SchoolForm, offset, n int) ([]*model.SchoolUnit, int, error) {
	key := strconv.Itoa(offset) + "+" + strconv.Itoa(n)
	if form != "" {
		key = string(form) + "/" + key
	}
	page, err := one(ctx, l.stores.unitsPage, key, func(ctx context.Context) (unitsPage, bool, error) {
		units, total, err := l.src.School.SchoolUnitsOfForm(ctx, form, offset, n)
		return unitsPage{units, total}, true, err
	})
	if err != nil {
		return nil, 0, err
	}
	units, total := page.Units, page.Total
	for _, u := range units {
		l.SchoolUnit.Prime(ctx, u.Code, u)
	}
	return units, total, nil
}

// Properties returns one window of the property register and the total
// count, and primes the id loader with them.
func (l *Loaders) Properties(ctx context.Context, offset, n int) ([]*model.Property, int, error) {
	page, err := one(ctx, l.stores.propertiesPage, strconv.Itoa(offset)+"+"+strconv.Itoa(n), func(ctx context.Context) (propertiesPage, bool, error) {
		props, total, err := l.src.Geodata.Properties(ctx, offset, n)
		return propertiesPage{props, total}, true, err
	})
	if err != nil {
		return nil, 0, err
	}
	for _, p := range page.Properties {
		l.Property.Prime(ctx, p.ObjectID, p)
	}
	return page.Properties, page.Total, nil
}

// PropertyByDesignation looks a property up by designation and primes the
// id loader with it.
func (l *Loaders) PropertyByDesignation(ctx context.Context, designation string) (*model.Property, error) {
	p, err := one(ctx, l.stores.propertyByName, strings.ToUpper(designation), func(ctx context.Context) (*model.Property, bool, error) {
		p, err := l.src.Geodata.PropertyByDesignation(ctx, designation)
		return p, p != nil, err
	})
	if err != nil || p == nil {
		return nil, err
	}
	l.Property.Prime(ctx, p.ObjectID, p)
	return p, nil
}
