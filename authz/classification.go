// Package authz is where every access decision lives. For now it holds the
// information classification of the schema: every field carries a KLASSA
// level, and a schema with an unclassified field must not be served.
package authz

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
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

// DirectiveName is the schema directive that carries a level.
const DirectiveName = "classification"

// Catalog is the classification of every field of the schema, keyed "Type.field".
type Catalog struct {
	levels map[string]Level
}

// Level returns the level of a field and whether the field is known.
func (c *Catalog) Level(typeName, field string) (Level, bool) {
	l, ok := c.levels[typeName+"."+field]
	return l, ok
}

// Len is the number of classified fields.
func (c *Catalog) Len() int { return len(c.levels) }

// Classify reads the level of every field of every object type of the schema
// (a field's own directive, else its type's). It reports every unclassified
// field and every invalid level at once.
func Classify(schema *ast.Schema) (*Catalog, error) {
	c := &Catalog{levels: map[string]Level{}}
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
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			l, has, err := levelOf(f.Directives)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("field %s.%s: %v", name, f.Name, err))
			case has:
				c.levels[name+"."+f.Name] = l
			case typeHas:
				c.levels[name+"."+f.Name] = typeLevel
			default:
				problems = append(problems, fmt.Sprintf("field %s.%s has no @%s, on itself or on its type", name, f.Name, DirectiveName))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("unclassified schema:\n  " + strings.Join(problems, "\n  "))
	}
	return c, nil
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
