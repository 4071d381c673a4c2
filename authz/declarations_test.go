package authz_test

import (
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/sources/model"
)

// TestBindRefusesUndeclaredPersonalTypes: a @personal type whose record
// declares no data subjects, and a @row type whose record gives no row
// attribute, stop the start with a message naming them.
func TestBindRefusesUndeclaredPersonalTypes(t *testing.T) {
	sdl, err := os.ReadFile("testdata/undeclared-personal.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "undeclared-personal.graphqls", Input: string(sdl)})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := authz.Classify(schema)
	if err != nil {
		t.Fatal(err)
	}
	err = cat.Bind(graph.Records())
	if err == nil {
		t.Fatal("Bind accepted a personal type without data subjects")
	}
	for _, want := range []string{
		"type Pet holds personal data (@personal) but no record declares its data subjects",
		"type Visit has @row but no record implementing model.Row is bound to it",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Bind error\n%v\nlacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "type Person") {
		t.Errorf("Person declares its subjects, yet: %v", err)
	}

	// A record that exists but does not implement the interface.
	records := graph.Records()
	records["Pet"] = (*model.Property)(nil)
	if err := cat.Bind(records); err == nil || !strings.Contains(err.Error(), "type Pet holds personal data (@personal) but its record *model.Property does not implement model.DataSubjects") {
		t.Errorf("Bind with a record lacking DataSubjects: %v", err)
	}
}

// TestServedSchemaIsDeclared: every personal and @row type of the served
// schema is declared, and what Bind learns is what the enforcement relies on.
func TestServedSchemaIsDeclared(t *testing.T) {
	cat, err := authz.Classify(graph.NewExecutableSchema(graph.Config{}).Schema())
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Bind(graph.Records()); err != nil {
		t.Fatal(err)
	}
	if got := cat.RowAttribute("Errand"); got != "caseType" {
		t.Errorf("Errand rows carry their purpose in %q, want caseType", got)
	}
	for key, want := range map[string]bool{"Query.person": true, "Stakeholder.person": true, "Placement.child": true,
		"Person.guardians": true, "Person.children": true, "PropertyOwner.person": true, "Person.address": false, "Query.errand": false} {
		typ, name, _ := strings.Cut(key, ".")
		if got := cat.Field(typ, name).ReturnsPerson; got != want {
			t.Errorf("%s ReturnsPerson %v, want %v", key, got, want)
		}
	}
	for _, key := range []string{"Query.errand", "ErrandEdge.node", "Person.errands"} {
		typ, name, _ := strings.Cut(key, ".")
		if f := cat.Field(typ, name); f.RowAttribute != "caseType" {
			t.Errorf("%s is not filtered by row", key)
		}
	}
	if f := cat.Field("Errand", "description"); !f.Personal {
		t.Error("Errand.description is not personal data")
	}
	// A declared @row type (Receipt, schema/etjanst.yaml): its generated
	// record gives the attribute, its bound fields are filtered by row and
	// answer [] for a list emptied of hidden rows; without its record the
	// start stops.
	if got := cat.RowAttribute("Receipt"); got != "caseType" {
		t.Errorf("Receipt rows carry their purpose in %q, want caseType", got)
	}
	for key, bound := range map[string]bool{"Person.receipts": true, "Person.errands": false} {
		typ, name, _ := strings.Cut(key, ".")
		if f := cat.Field(typ, name); f.RowAttribute != "caseType" || f.Bound != bound {
			t.Errorf("%s: row attribute %q, bound %v; want caseType, %v", key, f.RowAttribute, f.Bound, bound)
		}
	}
	records := graph.Records()
	delete(records, "Receipt")
	if err := cat.Bind(records); err == nil || !strings.Contains(err.Error(), "type Receipt has @row but no record implementing model.Row is bound to it") {
		t.Errorf("Bind without the declared records: %v", err)
	}
}
