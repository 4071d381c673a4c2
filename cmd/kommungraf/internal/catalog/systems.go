package catalog

import (
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/declare"
)

// System is an upstream system as the catalog lists it.
type System struct {
	Name, Title string
	// Kind is REST, SOAP or SQL.
	Kind  string
	Owner string
	// Availability is what the system's owner promises (its declaration's
	// availability, or Builtins'), such as "99.5 %".
	Availability string
	Resources    []Resource
}

// Resource is one of a system's operations and the schema fields whose
// values it serves: its Fields by name, and every field of its Types that
// no resource names.
type Resource struct {
	Name   string
	Types  []string
	Fields []string
}

// Builtin is a built-in system (Go code in sources/rest, sources/soap,
// sources/sqldb): what its declaration, if it has one, does not say. Its
// owner is OwnerType's @owner.
type Builtin struct {
	Name, Title, Kind, OwnerType, Availability string
	Resources                                  []Resource
}

// Builtins are the four built-in systems' operations, with the fields
// each serves (a field of another system's type included: Person.errands
// comes from the e-service platform), and their promised availability. A
// declaration of the same system (schema/etjanst.yaml) adds its resources
// and overrides title and availability.
var Builtins = []Builtin{
	{Name: "folkbokforing", Title: "Folkbokföring (Navet)", Kind: "SOAP", OwnerType: "Person", Availability: "99.5 %",
		Resources: []Resource{{Name: "PersonpostXML", Types: []string{"Person", "Address"},
			Fields: []string{"Query.person", "Placement.child", "Stakeholder.person", "PropertyOwner.person"}}}},
	{Name: "etjanst", Title: "E-tjänsteplattformen", Kind: "REST", OwnerType: "Errand", Availability: "99.5 %",
		Resources: []Resource{
			{Name: "errands", Types: []string{"Errand", "ErrandConnection", "ErrandEdge", "Stakeholder"}, Fields: []string{"Query.errand", "Query.errands", "Person.errands"}},
		}},
	{Name: "geodata", Title: "Geodata (fastighetsregister)", Kind: "REST", OwnerType: "Property", Availability: "99.0 %",
		Resources: []Resource{
			{Name: "fastigheter", Types: []string{"Property", "PropertyConnection", "PropertyEdge"}, Fields: []string{"Query.property", "Query.properties", "Errand.property", "SchoolUnit.property"}},
			{Name: "lagfart", Types: []string{"PropertyOwner"}, Fields: []string{"Property.owners"}},
		}},
	{Name: "skoldatabas", Title: "Skol- och förskoledatabasen", Kind: "SQL", OwnerType: "SchoolUnit", Availability: "99.5 %",
		Resources: []Resource{
			{Name: "skolenhet", Types: []string{"SchoolUnit", "SchoolUnitConnection", "SchoolUnitEdge"}, Fields: []string{"Query.schoolUnit", "Query.schoolUnits", "Placement.schoolUnit"}},
			{Name: "placering", Types: []string{"Placement", "PlacementConnection", "PlacementEdge"}, Fields: []string{"SchoolUnit.placements", "Person.placements"}},
			{Name: "specialkost", Fields: []string{"Placement.specialDiet"}},
			{Name: "franvaro", Types: []string{"Absence"}, Fields: []string{"Placement.absences"}},
		}},
}

// Kind is a connector's kind as the catalog shows it.
func Kind(connector string) string {
	switch connector {
	case "http":
		return "REST"
	case "soap":
		return "SOAP"
	case "sql":
		return "SQL"
	}
	return strings.ToUpper(connector)
}

// Bindings are the schema's @resource bindings: field ("Type.field") to
// "system.resource".
func Bindings(schema *ast.Schema) map[string]string {
	out := map[string]string{}
	for _, def := range schema.Types {
		for _, f := range def.Fields {
			if d := f.Directives.ForName("resource"); d != nil {
				if a := d.Arguments.ForName("name"); a != nil && a.Value != nil {
					out[def.Name+"."+f.Name] = a.Value.Raw
				}
			}
		}
	}
	return out
}

// Attribution says which system and resource serve each field.
type Attribution struct {
	of map[string][2]string
}

// NewAttribution decides, for every field of the catalog: a resource that
// names it (or a binding with @resource), else a resource of its type,
// else the system whose owner is its type's owner (no resource), else none
// (Kommungraf's own types: Query's entry points no resource names,
// PageInfo).
func NewAttribution(systems []System, bindings map[string]string, fields []*authz.Field) *Attribution {
	a := &Attribution{of: map[string][2]string{}}
	byField, byType, byOwner := map[string][2]string{}, map[string][2]string{}, map[string]string{}
	for _, s := range systems {
		if s.Owner != "" {
			if _, dup := byOwner[s.Owner]; !dup {
				byOwner[s.Owner] = s.Name
			}
		}
		for _, r := range s.Resources {
			for _, f := range r.Fields {
				byField[f] = [2]string{s.Name, r.Name}
			}
			for _, t := range r.Types {
				byType[t] = [2]string{s.Name, r.Name}
			}
		}
	}
	for f, res := range bindings {
		sys, name, _ := strings.Cut(res, ".")
		byField[f] = [2]string{sys, name}
	}
	// A listing's connection and edge types (Connection.edges -> Edge,
	// Edge.node -> a resource's type) belong to that resource: their owner
	// may own other systems too (the pickups and the emptyings register).
	returns := map[string]map[string]string{} // type -> field -> type it returns
	for _, f := range fields {
		if returns[f.Type] == nil {
			returns[f.Type] = map[string]string{}
		}
		returns[f.Type][f.Name] = f.Returns
	}
	for typ, fs := range returns {
		if byType[typ][0] != "" {
			continue
		}
		if res := byType[fs["node"]]; res[0] != "" {
			byType[typ] = res // the edge
			for conn, cfs := range returns {
				if cfs["edges"] == typ && byType[conn][0] == "" {
					byType[conn] = res
				}
			}
		}
	}
	for _, f := range fields {
		switch {
		case byField[f.Key][0] != "":
			a.of[f.Key] = byField[f.Key]
		case byType[f.Type][0] != "":
			a.of[f.Key] = byType[f.Type]
		case byOwner[f.Owner] != "":
			a.of[f.Key] = [2]string{byOwner[f.Owner], ""}
		}
	}
	return a
}

// Of returns the system and resource serving a field; "" when none.
func (a *Attribution) Of(field string) (system, resource string) {
	if a == nil {
		return "", ""
	}
	v := a.of[field]
	return v[0], v[1]
}

// resourcesOf are a system's resources, with those only bindings name.
func resourcesOf(s System, a *Attribution, fields []*authz.Field) []string {
	var out []string
	for _, r := range s.Resources {
		out = append(out, r.Name)
	}
	for _, f := range fields {
		if sys, res := a.Of(f.Key); sys == s.Name && res != "" && !slices.Contains(out, res) {
			out = append(out, res)
		}
	}
	return out
}

// SystemsFrom are the systems of the declarations and the built-in ones:
// a declared system's title, owner, kind, availability and resources (its
// records' type each); a built-in one's resources from Builtins, its owner
// its OwnerType's @owner unless a declaration says, its title and
// availability from Builtins unless a declaration says.
func SystemsFrom(set *declare.Set, fields []*authz.Field) []System {
	ownerOf := map[string]string{}
	for _, f := range fields {
		ownerOf[f.Type] = f.Owner
	}
	var out []System
	seen := map[string]bool{}
	for _, b := range Builtins {
		s := System{Name: b.Name, Title: b.Title, Kind: b.Kind, Owner: ownerOf[b.OwnerType], Availability: b.Availability,
			Resources: slices.Clone(b.Resources)}
		if d := set.System(b.Name); d != nil {
			s = merge(s, d)
		}
		out = append(out, s)
		seen[b.Name] = true
	}
	if set != nil {
		for _, d := range set.Systems {
			if !seen[d.Name] {
				out = append(out, merge(System{Name: d.Name, Kind: Kind(d.Connector)}, d))
			}
		}
	}
	return out
}

func merge(s System, d *declare.System) System {
	if d.Title != "" {
		s.Title = d.Title
	}
	if d.Owner != "" {
		s.Owner = d.Owner
	}
	if d.Availability != "" {
		s.Availability = d.Availability
	}
	for _, r := range d.Resources {
		s.Resources = append(s.Resources, Resource{Name: r.Name, Types: []string{r.Type}})
	}
	return s
}
