package rest

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// maxItems is how many features one items call asks for.
const maxItems = 100

// Geodata is the client of the property register (OGC API Features plus the
// legacy XML title register).
type Geodata struct {
	c client
}

// NewGeodata builds the property register client.
func NewGeodata(opts upstream.Options) (*Geodata, error) {
	c, err := newClient("geodata", opts)
	if err != nil {
		return nil, err
	}
	return &Geodata{c: c}, nil
}

// PropertiesByID fetches properties by objektidentitet with the items batch
// filter; unknown ids are absent.
func (g *Geodata) PropertiesByID(ctx context.Context, ids []string) (map[string]*model.Property, error) {
	return chunked(ctx, ids, maxItems, func(ctx context.Context, chunk []string, out func(string, *model.Property)) error {
		q := url.Values{"objektidentitet": {strings.Join(chunk, ",")}, "limit": {strconv.Itoa(len(chunk))}}
		var fc FeatureCollection
		if err := g.c.get(ctx, "items", "collections/fastigheter/items", q, &fc); err != nil {
			return err
		}
		for _, f := range fc.Features {
			p := propertyFromFeature(f)
			out(p.ObjectID, p)
		}
		return nil
	})
}

// Properties returns up to n properties of the register from offset, in
// the register's order, and how many there are.
func (g *Geodata) Properties(ctx context.Context, offset, n int) ([]*model.Property, int, error) {
	q := url.Values{"limit": {strconv.Itoa(n)}, "offset": {strconv.Itoa(offset)}}
	var fc FeatureCollection
	if err := g.c.get(ctx, "items", "collections/fastigheter/items", q, &fc); err != nil {
		return nil, 0, err
	}
	out := make([]*model.Property, 0, len(fc.Features))
	for _, f := range fc.Features {
		out = append(out, propertyFromFeature(f))
	}
	return out, fc.NumberMatched, nil
}

// PropertyByDesignation finds a property by its designation; nil when unknown.
func (g *Geodata) PropertyByDesignation(ctx context.Context, designation string) (*model.Property, error) {
	q := url.Values{"beteckning": {designation}, "limit": {"1"}}
	var fc FeatureCollection
	if err := g.c.get(ctx, "items", "collections/fastigheter/items", q, &fc); err != nil {
		return nil, err
	}
	if len(fc.Features) == 0 {
		return nil, nil
	}
	return propertyFromFeature(fc.Features[0]), nil
}

// Owners returns the registered owners from the legacy XML endpoint, which
// has no batch form.
func (g *Geodata) Owners(ctx context.Context, objectID string) ([]*model.PropertyOwner, error) {
	var info Lagfartsinformation
	if err := g.c.get(ctx, "lagfart", "legacy/lagfart/"+url.PathEscape(objectID), nil, &info); err != nil {
		return nil, err
	}
	out := make([]*model.PropertyOwner, 0, len(info.Agare))
	for _, a := range info.Agare {
		o, err := ownerFromXML(a)
		if err != nil {
			return nil, upstream.Errorf(g.c.up.Name(), "lagfart", upstream.BadResponse, "owner of %s: %w", objectID, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// Upstream is the register's upstream stack, which resources declared for
// it share: one concurrency bound, one breaker.
func (g *Geodata) Upstream() *upstream.Client { return g.c.up }

func propertyFromFeature(f Feature) *model.Property {
	id := f.Properties.Objektidentitet
	if id == "" {
		id = f.ID
	}
	return &model.Property{
		ObjectID: id, Designation: f.Properties.Beteckning, AreaM2: f.Properties.ArealM2,
		Address: f.Properties.Adress, Geometry: model.GeoJSON(f.Geometry),
	}
}

func ownerFromXML(a LagfarenAgare) (*model.PropertyOwner, error) {
	o := &model.PropertyOwner{Name: a.Namn, PersonalNumber: a.Personnummer, OrganisationNumber: a.Organisationsnummer, Share: a.Andel}
	if a.Inskrivningsdag != "" {
		d, err := time.Parse(time.DateOnly, a.Inskrivningsdag)
		if err != nil {
			return nil, fmt.Errorf("inskrivningsdag %q: %w", a.Inskrivningsdag, err)
		}
		o.AcquiredOn = d
	}
	return o, nil
}
