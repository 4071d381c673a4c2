package opendata_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// TestSuppressedLeavesNoSmallRemainder: a line of the table (the cells
// that share every value but one dimension's, or the whole table) may
// have a total published elsewhere (children per school unit, errands per
// month); that total less the line's shown cells is what the line hides,
// and it must be 0 or at least the threshold, never a small count that
// gives a suppressed cell away by subtraction.
func TestSuppressedLeavesNoSmallRemainder(t *testing.T) {
	by := []string{"unit", "year"}
	fixed := func(cells map[[2]string]int) []opendata.Row {
		var rows []opendata.Row
		for k, n := range cells {
			for range n {
				rows = append(rows, opendata.Row{"unit": k[0], "year": k[1]})
			}
		}
		return rows
	}
	random := func(seed uint64) []opendata.Row {
		rnd := rand.New(rand.NewPCG(seed, 1))
		cells := map[[2]string]int{}
		for u := range 6 {
			for y := range 5 {
				if n := rnd.IntN(12); n > 0 {
					cells[[2]string{fmt.Sprint("u", u), fmt.Sprint(2020 + y)}] = n
				}
			}
		}
		return fixed(cells)
	}
	tables := map[string][]opendata.Row{
		// Unit A: 7 + 6 shown and 1 suppressed; its 14 children are a
		// public figure, so 14 - 13 = 1 child born 2022.
		"one small cell in a line": fixed(map[[2]string]int{
			{"A", "2020"}: 7, {"A", "2021"}: 6, {"A", "2022"}: 1, {"B", "2020"}: 9, {"B", "2021"}: 8, {"B", "2022"}: 12,
		}),
		"one dimension": fixed(map[[2]string]int{{"A", "x"}: 9, {"B", "x"}: 2, {"C", "x"}: 30}),
	}
	for seed := range uint64(20) {
		tables[fmt.Sprint("random ", seed)] = random(seed)
	}
	for name, rows := range tables {
		t.Run(name, func(t *testing.T) {
			for _, dims := range [][]string{by, by[:1]} {
				cells := opendata.Suppressed(rows, dims, opendata.DefaultThreshold)
				// Every line: for each dimension, the cells sharing the others' values.
				for i := range dims {
					total, shown := map[string]int{}, map[string]int{}
					line := func(v func(string) string) string {
						var parts []string
						for j, d := range dims {
							if j != i {
								parts = append(parts, v(d))
							}
						}
						return strings.Join(parts, "/")
					}
					for _, r := range rows {
						total[line(func(d string) string { return r[d] })]++
					}
					for _, c := range cells {
						if c.Count < opendata.DefaultThreshold {
							t.Errorf("a cell of %d", c.Count)
						}
						shown[line(func(d string) string { return c.Values[d] })] += c.Count
					}
					for l, n := range total {
						// A line hidden whole adds nothing to its total.
						if hidden := n - shown[l]; hidden > 0 && hidden < opendata.DefaultThreshold && shown[l] > 0 {
							t.Errorf("by %v: line %q of %d rows hides %d: a published total gives them away", dims, l, n, hidden)
						}
					}
				}
			}
		})
	}
}
