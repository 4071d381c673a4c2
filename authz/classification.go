// Package authz is where every access decision lives: who the caller is
// (authentication), what each field of the schema is (its KLASSA level,
// owner and personal-data markers), what the caller may see (the Casbin
// policy and the client's information contract), the GraphQL field middleware
// that enforces it, and the access log that lets security staff follow up.
package authz

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// Level is a KLASSA confidentiality level: 0 Försumbar, 1 Måttlig,
// 2 Betydande, 3 Allvarlig. Level 4 is never served by Kommungraf.
type Level int

// The levels Kommungraf serves.
const (
	Negligible  Level = 0
	Moderate    Level = 1
	Significant Level = 2
	Severe      Level = 3
	// MaxServed is the highest level the gateway will serve.
	MaxServed = Severe
)

// The schema directives that describe the data (schema/directives.graphqls).
const (
	DirectiveName     = "classification"
	OwnerDirective    = "owner"
	PersonalDirective = "personal"
	HealthDirective   = "health"
	RowDirective      = "row"
)

// Field is what the schema says about one field: its level, the owner of its
// type, and whether it is personal or health data.
type Field struct {
	// Type and Name identify the field; Key is "Type.name".
	Type, Name, Key string
	// Level is the schema's KLASSA level; a row-level rule may raise it.
	Level Level
	// Owner is the information owner of the field's type (@owner).
	Owner string
	// Personal marks personal data (@personal on the field or its type).
	Personal bool
	// Health marks health data (@health), a special category.
	Health bool
	// Description is the schema's description of the field.
	Description string
	// Index is the field's position in Catalog.Fields, for per-request
	// tables indexed by field.
	Index int
	// Returns is the named type of the field's value (list and non-null
	// stripped).
	Returns string
	// RowAttribute is the @row attribute of the type the field returns,
	// when that type's rows carry a purpose: its values are filtered by row.
	RowAttribute string
	// Bound says the field is bound to a resource with @resource: its
	// generated resolver answers a list of no records as [] (loaders.List),
	// where the hand-written ones answer null.
	Bound bool
	// ReturnsPerson says the field's value is a record that carries its own
	// protection flags (model.Protectable): a protected one is hidden from a
	// caller not cleared for it, exactly as if it did not exist. Set by Bind.
	ReturnsPerson bool
}

type fieldKey struct{ typ, field string }

// Catalog is what the schema says about every field of every object type.
type Catalog struct {
	fields map[fieldKey]*Field
	sorted []*Field
	// rows maps a type with @row to its attribute.
	rows map[string]string
	// personal lists the types with at least one personal field.
	personal []string
	bound    bool
}

// RowAttribute is the @row attribute of a type, or "" when its rows carry
// no purpose.
func (c *Catalog) RowAttribute(typeName string) string { return c.rows[typeName] }

// RowTypes lists the types whose rows carry a purpose, sorted.
func (c *Catalog) RowTypes() []string {
	out := make([]string, 0, len(c.rows))
	for t := range c.rows {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Level returns the level of a field and whether the field is known.
func (c *Catalog) Level(typeName, field string) (Level, bool) {
	f, ok := c.fields[fieldKey{typeName, field}]
	if !ok {
		return 0, false
	}
	return f.Level, true
}

// Field returns the description of a field, or nil for an unknown field.
func (c *Catalog) Field(typeName, field string) *Field {
	return c.fields[fieldKey{typeName, field}]
}

// Fields lists every classified field, sorted by type and name.
func (c *Catalog) Fields() []*Field { return c.sorted }

// Len is the number of classified fields.
func (c *Catalog) Len() int { return len(c.fields) }

// Classify reads the level of every field of every object type of the schema
// (a field's own directive, else its type's), its owner and its markers. It
// reports every unclassified field, every invalid level and, when the schema
// declares @owner, every type without an owner, all at once.
func Classify(schema *ast.Schema) (*Catalog, error) {
	c := &Catalog{fields: map[fieldKey]*Field{}, rows: map[string]string{}}
	needOwner := schema.Directives[OwnerDirective] != nil
	var problems []string
	names := make([]string, 0, len(schema.Types))
	for name := range schema.Types {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		def := schema.Types[name]
		if def.BuiltIn || strings.HasPrefix(name, "__") || def.Kind != ast.Object {
			continue
		}
		typeLevel, typeHas, err := levelOf(def.Directives)
		if err != nil {
			problems = append(problems, fmt.Sprintf("type %s: %v", name, err))
		}
		owner := ownerOf(def.Directives)
		if needOwner && owner == "" {
			problems = append(problems, fmt.Sprintf("type %s has no @%s(name: ...)", name, OwnerDirective))
		}
		typePersonal := def.Directives.ForName(PersonalDirective) != nil
		if d := def.Directives.ForName(RowDirective); d != nil {
			attr := ""
			if a := d.Arguments.ForName("attribute"); a != nil && a.Value != nil {
				attr = a.Value.Raw
			}
			if af := def.Fields.ForName(attr); attr == "" || af == nil || !declare.RowAttributeType(schema, af.Type) {
				problems = append(problems, fmt.Sprintf("type %s: @%s(attribute: %q) names no String, ID or enum field of the type", name, RowDirective, attr))
			} else {
				c.rows[name] = attr
			}
		}
		hasPersonal := false
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			l, has, err := levelOf(f.Directives)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("field %s.%s: %v", name, f.Name, err))
				continue
			case !has && typeHas:
				l = typeLevel
			case !has:
				problems = append(problems, fmt.Sprintf("field %s.%s has no @%s, on itself or on its type", name, f.Name, DirectiveName))
				continue
			}
			field := &Field{
				Type: name, Name: f.Name, Key: name + "." + f.Name, Level: l, Owner: owner,
				Personal:    typePersonal || f.Directives.ForName(PersonalDirective) != nil,
				Health:      f.Directives.ForName(HealthDirective) != nil,
				Description: f.Description, Returns: f.Type.Name(),
				Bound: f.Directives.ForName(declare.ResourceDirective) != nil,
			}
			if field.Health {
				field.Personal = true // health data is always personal data
			}
			hasPersonal = hasPersonal || field.Personal
			field.Index = len(c.sorted)
			c.fields[fieldKey{name, f.Name}] = field
			c.sorted = append(c.sorted, field)
		}
		if hasPersonal {
			c.personal = append(c.personal, name)
		}
	}
	for _, f := range c.sorted {
		f.RowAttribute = c.rows[f.Returns]
	}
	if len(problems) > 0 {
		return nil, errors.New("unclassified schema:\n  " + strings.Join(problems, "\n  "))
	}
	return c, nil
}

func ownerOf(dirs ast.DirectiveList) string {
	d := dirs.ForName(OwnerDirective)
	if d == nil {
		return ""
	}
	if arg := d.Arguments.ForName("name"); arg != nil && arg.Value != nil {
		return strings.TrimSpace(arg.Value.Raw)
	}
	return ""
}

func levelOf(dirs ast.DirectiveList) (Level, bool, error) {
	d := dirs.ForName(DirectiveName)
	if d == nil {
		return 0, false, nil
	}
	arg := d.Arguments.ForName("level")
	if arg == nil || arg.Value == nil {
		return 0, false, errors.New("@classification without level")
	}
	n, err := strconv.Atoi(arg.Value.Raw)
	if err != nil || n < int(Negligible) || n > int(MaxServed) {
		return 0, false, fmt.Errorf("level %s is not served: want 0 to %d", arg.Value.Raw, MaxServed)
	}
	return Level(n), true, nil
}
