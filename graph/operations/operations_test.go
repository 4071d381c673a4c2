package operations_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/resolvers"
	"github.com/kommungraf/kommungraf/sources/testenv"
	"github.com/vektah/gqlparser/v2/ast"
)

func schema() *ast.Schema {
	return graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
}

// TestTheDemosOperationsParse: the demo's file registers its five
// operations, each with the fragments it uses and the fields it selects.
func TestTheDemosOperationsParse(t *testing.T) {
	ops, err := operations.Parse(schema(), "demo.graphql", operations.DemoFile)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*operations.Operation{}
	for _, op := range ops {
		byName[op.Name] = op
	}
	if len(ops) != 5 {
		t.Fatalf("%d operations, want 5", len(ops))
	}
	units := byName["OpenSchoolUnits"]
	if !strings.Contains(units.Document, "fragment OpenSchoolUnit on SchoolUnit") || strings.Contains(byName["OpenProperty"].Document, "fragment") {
		t.Errorf("fragments: a document holds exactly the fragments its operation uses:\n%s", units.Document)
	}
	want := []string{"PageInfo.endCursor", "PageInfo.hasNextPage", "Query.schoolUnits", "SchoolUnit.code", "SchoolUnit.name",
		"SchoolUnit.schoolForm", "SchoolUnitConnection.edges", "SchoolUnitConnection.pageInfo", "SchoolUnitConnection.totalCount", "SchoolUnitEdge.node"}
	if strings.Join(units.Fields, " ") != strings.Join(want, " ") {
		t.Errorf("fields %v, want %v", units.Fields, want)
	}
}

// TestParseRefusesWithPlaces: a document that does not fit the schema, or
// an operation without a name, is refused with the file and the line.
func TestParseRefusesWithPlaces(t *testing.T) {
	for name, tc := range map[string]struct{ text, want string }{
		"unknown field": {"query A {\n  schoolUnits { nope }\n}", "ops.graphql:2: Cannot query field \"nope\""},
		"anonymous":     {"{ schoolUnits { totalCount } }", "ops.graphql:1: a registered operation needs a name"},
		"syntax":        {"query A {", "ops.graphql"},
		"empty":         {"fragment F on SchoolUnit { code }", "ops.graphql"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := operations.Parse(schema(), "ops.graphql", tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// countingStore counts the store's lookups.
type countingStore struct {
	*operations.MemoryStore
	gets atomic.Int64
	fail error
}

func (c *countingStore) Get(ctx context.Context, id string) (*operations.Operation, error) {
	c.gets.Add(1)
	if c.fail != nil {
		return nil, c.fail
	}
	return c.MemoryStore.Get(ctx, id)
}

// TestRegistryLookups: a text matches its registered operation whatever
// its layout; an unknown id asks the store once, not once per request; a
// push is all or none; the store's failure is a StoreError.
func TestRegistryLookups(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{MemoryStore: operations.NewMemoryStore()}
	r := operations.NewRegistry(schema(), store)
	ops, err := r.Push(ctx, "tester", map[string]string{"a.graphql": "query Units { schoolUnits(first: 2) { totalCount } }"})
	if err != nil {
		t.Fatal(err)
	}
	op, err := r.Match(ctx, "# mine\nquery Units {\n\tschoolUnits(first: 2) {\n\t\ttotalCount\n\t}\n}", "")
	if err != nil || op == nil || op.ID != ops[0].ID {
		t.Fatalf("match: %v %v", op, err)
	}
	if op, _ := r.Match(ctx, "query Units { schoolUnits(first: 3) { totalCount } }", ""); op != nil {
		t.Fatal("another argument value matched")
	}
	unknown := strings.Repeat("ab", 32)
	before := store.gets.Load()
	for range 100 {
		if op, err := r.Lookup(ctx, unknown); op != nil || err != nil {
			t.Fatal(op, err)
		}
	}
	if n := store.gets.Load() - before; n != 1 {
		t.Errorf("100 lookups of an unknown id asked the store %d times, want 1", n)
	}
	if op, _ := r.Lookup(ctx, "../../etc/passwd"); op != nil || store.gets.Load()-before != 1 {
		t.Error("a malformed id reached the store")
	}
	_, err = r.Push(ctx, "tester", map[string]string{"good.graphql": "query Good { schoolUnits { totalCount } }", "bad.graphql": "query Bad { nope }"})
	if err == nil || !strings.Contains(err.Error(), "bad.graphql:1") {
		t.Fatalf("push with a bad file: %v", err)
	}
	if list, _ := r.List(ctx); len(list) != 1 {
		t.Errorf("a refused push stored %d operations, want none beside the first", len(list)-1)
	}
	store.fail = errors.New("connection refused")
	_, err = r.Lookup(ctx, strings.Repeat("cd", 32))
	var se *operations.StoreError
	if !errors.As(err, &se) {
		t.Errorf("store failure: %v, want a StoreError", err)
	}
}

// TestPostgresStore: the production store keeps what is pushed for every
// replica, and a second push of the same document keeps the first
// registration.
func TestPostgresStore(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresURL(t)
	a, err := operations.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := operations.OpenPostgres(ctx, dsn) // another replica
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ra, rb := operations.NewRegistry(schema(), a), operations.NewRegistry(schema(), b)
	ops, err := ra.Push(ctx, "alice", map[string]string{"x.graphql": operations.DemoFile})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rb.Lookup(ctx, ops[0].ID)
	if err != nil || got == nil || got.Document != ops[0].Document || got.PushedBy != "alice" || strings.Join(got.Fields, ",") != strings.Join(ops[0].Fields, ",") {
		t.Fatalf("the other replica reads %+v, %v", got, err)
	}
	if _, err := rb.Push(ctx, "bob", map[string]string{"x.graphql": operations.DemoFile}); err != nil {
		t.Fatal(err)
	}
	list, err := ra.List(ctx)
	if err != nil || len(list) != len(ops) {
		t.Fatalf("list: %d, %v", len(list), err)
	}
	for _, op := range list {
		if op.PushedBy != "alice" {
			t.Errorf("%s: pushed by %s, want the first registration's alice", op.Name, op.PushedBy)
		}
	}
}

// TestNormalizeKeepsTheParsersTokenLimit: a text over the GraphQL
// handler's token limit is no operation for the registry either. Normalize
// runs before the handler's parser on every text of a client that is not
// open (the anonymous one included): without the limit a 100 KB body cost
// seconds of CPU. It parses only; the executor validates, once, a text
// that is no registered operation.
func TestNormalizeKeepsTheParsersTokenLimit(t *testing.T) {
	small := "{ schoolUnits { " + strings.Repeat("totalCount ", 10) + "} }"
	if operations.Normalize(small, "") == "" {
		t.Fatal("a small valid document has no normal form")
	}
	var b strings.Builder
	for i := range operations.MaxTokens / 3 {
		fmt.Fprintf(&b, "a%d: totalCount ", i)
	}
	big := "{ schoolUnits { " + b.String() + "} }"
	if id := operations.Normalize(big, ""); id != "" {
		t.Errorf("a document of more than %d tokens was normalised (%s)", operations.MaxTokens, id)
	}
}
