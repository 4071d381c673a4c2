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
	// availability), such as "99.5 %".
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

// Served are the schema fields each Go loader of a built-in system serves,
// by its declared resource ("system.resource", schema/<system>.yaml): the
// one thing a declaration does not say of a Go loader, whose fields are
// bound in Go, not with @resource. A field of another system's type is
// here too (Person.errands comes from the e-service platform); every other
// field of a resource's record type is its own. TestSystemsCoverTheSchema
// checks that each key is a declared resource and each field exists.
var Served = map[string][]string{
	"folkbokforing.person":            {"Query.person", "Placement.child", "Stakeholder.person", "PropertyOwner.person"},
	"etjanst.errand":                  {"Query.errand"},
	"etjanst.errands-page":            {"Query.errands"},
	"etjanst.errands-by-party":        {"Person.errands"},
	"geodata.property":                {"Errand.property", "SchoolUnit.property"},
	"geodata.property-by-designation": {"Query.property"},
	"geodata.properties-page":         {"Query.properties"},
	"geodata.owners":                  {"Property.owners"},
	"skoldatabas.unit":                {"Query.schoolUnit", "Placement.schoolUnit"},
	"skoldatabas.units-page":          {"Query.schoolUnits"},
	"skoldatabas.unit-placements":     {"SchoolUnit.placements"},
	"skoldatabas.person-placements":   {"Person.placements"},
	"skoldatabas.diets":               {"Placement.specialDiet"},
	"skoldatabas.absences":            {"Placement.absences"},
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

// SystemsFrom are the declared systems (every system is, the built-in
// ones too): title, owner, kind and availability from the declaration; a
// resource per declared resource whose records are an object type of the
// schema (with the types of its nested parts, which only it serves), with
// the fields Served names for a Go loader's.
func SystemsFrom(set *declare.Set, fields []*authz.Field) []System {
	objects := map[string]bool{}
	returns := map[[2]string]string{} // type, field -> the type it returns
	for _, f := range fields {
		objects[f.Type] = true
		returns[[2]string{f.Type, f.Name}] = f.Returns
	}
	var nested func(typ string, fms []declare.FieldMap) []string
	nested = func(typ string, fms []declare.FieldMap) []string {
		var out []string
		for _, fm := range fms {
			if t := returns[[2]string{typ, fm.Name}]; fm.Nested && objects[t] {
				out = append(append(out, t), nested(t, fm.Fields)...)
			}
		}
		return out
	}
	if set == nil {
		return nil
	}
	out := make([]System, 0, len(set.Systems))
	for _, d := range set.Systems {
		s := System{Name: d.Name, Title: d.Title, Kind: Kind(d.Connector), Owner: d.Owner, Availability: d.Availability}
		for _, r := range d.Resources {
			res := Resource{Name: r.Name, Fields: Served[d.Name+"."+r.Name]}
			if objects[r.Type] {
				res.Types = append([]string{r.Type}, nested(r.Type, r.Fields)...)
			}
			s.Resources = append(s.Resources, res)
		}
		out = append(out, s)
	}
	return out
}
