package opendata_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/opendata"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/resolvers"
)

// TestEveryDeclaredOperationIsLevelZero walks every operation every
// shipped declaration runs, field by field, against the schema's
// classification, the anonymous contract and the live policy's decision
// for the anonymous principal: no field above level 0 is reachable through
// an open API. It reads the files itself, apart from the start check.
func TestEveryDeclaredOperationIsLevelZero(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	cat, err := authz.Classify(schema)
	if err != nil {
		t.Fatal(err)
	}
	az, _, _, err := gateway.LoadAuthorizer(context.Background(), config.Demo(), cat)
	if err != nil {
		t.Fatal(err)
	}
	anonymous := az.Contracts().ForClient("anonymous")
	subject := authz.Prepare(authz.AnonymousPrincipal())
	decls, err := opendata.Load(opendata.Builtin(), "apis")
	if err != nil {
		t.Fatal(err)
	}
	if len(decls) < 10 {
		t.Fatalf("%d declarations, the demo ships at least 10", len(decls))
	}
	walked := 0
	for _, d := range decls {
		ops := map[string]*operations.Operation{}
		if d.Operations != "" {
			parsed, err := operations.Parse(schema, d.Operations, d.OperationsText)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range parsed {
				ops[op.Name] = op
			}
		}
		for _, r := range d.Resources {
			var names []string
			if r.List != nil {
				names = append(names, r.List.Operation)
			}
			if r.Item != nil {
				names = append(names, r.Item.Operation)
			}
			if r.Aggregate != nil && (r.Aggregate.Suppress == nil || r.Aggregate.Suppress.Below < opendata.MinThreshold) {
				t.Errorf("%s: %s: an aggregate without suppression", d.File, r.Name)
			}
			for _, name := range names {
				op := ops[name]
				if op == nil {
					t.Errorf("%s: %s runs %s, which is not in %s", d.File, r.Name, name, d.Operations)
					continue
				}
				for _, key := range op.Fields {
					typ, field, _ := strings.Cut(key, ".")
					f := cat.Field(typ, field)
					switch {
					case f == nil:
						t.Errorf("%s: %s selects %s, unclassified", d.File, name, key)
					case f.Level != authz.Negligible:
						t.Errorf("%s: %s selects %s at level %d", d.File, name, key, f.Level)
					case !anonymous.Covers(key):
						t.Errorf("%s: %s selects %s, outside the anonymous contract", d.File, name, key)
					case !az.Decide(subject, f, false).Allow:
						t.Errorf("%s: %s selects %s, which the policy denies the anonymous principal", d.File, name, key)
					}
					walked++
				}
			}
		}
	}
	if walked < 50 {
		t.Fatalf("walked %d fields: the declarations were not read", walked)
	}
}

// TestSuppressed: cells of 1 to threshold-1 rows are never returned, the
// others always, with their counts.
func TestSuppressed(t *testing.T) {
	var rows []opendata.Row
	for n := 1; n <= 7; n++ {
		for range n {
			rows = append(rows, opendata.Row{"a": fmt.Sprint("cell", n), "b": "x", "other": "ignored"})
		}
	}
	for _, threshold := range []int{3, 5, 6} {
		cells := opendata.Suppressed(rows, []string{"a", "b"}, threshold)
		var got []string
		for _, c := range cells {
			if c.Count < threshold {
				t.Errorf("threshold %d: a cell of %d", threshold, c.Count)
			}
			if _, ok := c.Values["other"]; ok {
				t.Errorf("a dimension not grouped by was published: %v", c.Values)
			}
			got = append(got, fmt.Sprint(c.Values["a"], "=", c.Count))
		}
		var want []string
		for n := threshold; n <= 7; n++ {
			want = append(want, fmt.Sprint("cell", n, "=", n))
		}
		if !slices.Equal(got, want) {
			t.Errorf("threshold %d: %v, want %v", threshold, got, want)
		}
	}
}

// TestDeclarationProblemsAreLocated: what the files get wrong is reported
// all at once, each with its file.
func TestDeclarationProblemsAreLocated(t *testing.T) {
	cases := map[string]string{
		"bad.yaml":  "api: Bad Name\nversion: x\nstatus: live\nresources: []\n",
		"keys.yaml": "api: ok\nunknown: 1\n",
	}
	fsys := mapFS(cases)
	_, err := opendata.Load(fsys, "dir")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`dir/bad.yaml: api "Bad Name"`, `dir/bad.yaml: version "x"`, `dir/bad.yaml: status "live"`,
		"dir/bad.yaml: resources: at least one", "dir/bad.yaml: title is required", "dir/keys.yaml: yaml: unmarshal errors"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func mapFS(files map[string]string) fstest.MapFS {
	out := fstest.MapFS{}
	for name, text := range files {
		out[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return out
}
