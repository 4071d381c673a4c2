package authz

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/kommungraf/kommungraf/sources/model"
)

// Bind checks the catalog against the records the schema's types are bound
// to (model.Records: GraphQL type name to a zero record) and learns from
// them what enforcement needs: every type with a personal field must have a
// record that declares its data subjects (model.DataSubjects), every @row
// type one that gives its row attribute (model.Row), and the types whose
// records carry protection flags (model.Protectable) are hidden, when
// protected, from callers not cleared for them. Query's personal fields are
// about the person they return, which declares itself. Every problem is
// reported at once; an enforcement refuses a catalog that was not bound, so
// a missing declaration stops the gateway at start.
func (c *Catalog) Bind(records map[string]any) error {
	var problems []string
	for _, t := range c.personal {
		if t == "Query" {
			continue
		}
		rec, ok := records[t]
		if !ok {
			problems = append(problems, fmt.Sprintf("type %s holds personal data (@%s) but no record declares its data subjects (bind it to a record in sources/model that implements model.DataSubjects and list it in model.Records)", t, PersonalDirective))
			continue
		}
		if _, ok := rec.(model.DataSubjects); !ok {
			problems = append(problems, fmt.Sprintf("type %s holds personal data (@%s) but its record %T does not implement model.DataSubjects", t, PersonalDirective, rec))
		}
	}
	for _, t := range c.RowTypes() {
		rec, ok := records[t]
		if _, isRow := rec.(model.Row); !ok || !isRow {
			problems = append(problems, fmt.Sprintf("type %s has @%s but no record implementing model.Row is bound to it", t, RowDirective))
			continue
		}
		if !zeroHasAttribute(rec, c.rows[t]) {
			problems = append(problems, fmt.Sprintf("type %s: its record %T does not give the row attribute %q", t, rec, c.rows[t]))
		}
	}
	if len(problems) > 0 {
		return errors.New("undeclared data subjects or row attributes:\n  " + strings.Join(problems, "\n  "))
	}
	for _, f := range c.sorted {
		_, f.ReturnsPerson = records[f.Returns].(model.Protectable)
	}
	c.bound = true
	return nil
}

// zeroHasAttribute asks a fresh zero record (records are listed as typed
// nil pointers) whether it gives attribute.
func zeroHasAttribute(rec any, attribute string) bool {
	t := reflect.TypeOf(rec)
	if t == nil || t.Kind() != reflect.Pointer {
		return false
	}
	row, ok := reflect.New(t.Elem()).Interface().(model.Row)
	if !ok {
		return false
	}
	_, has := row.RowAttribute(attribute)
	return has
}
