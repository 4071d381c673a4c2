package connect_test

import (
	"net/http/httptest"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// TestDeclaredDecisionsAgainstTheSimulator: an errand's decisions, read
// through their declaration (schema/etjanst.yaml) as the hand-written
// ETjanst.Decisions read them before: the platform's decisions in the
// schema's names, an errand without decisions and an unknown one without
// records, an errand number with a slash in one path segment; one
// listDecisions call per errand.
func TestDeclaredDecisionsAgainstTheSimulator(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	data, err := os.ReadFile("../../schema/etjanst.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := declared(t, "schema/etjanst.yaml", data).Resource("etjanst.listDecisions")
	var decided, undecided []*model.Errand
	for _, e := range w.Errands {
		if len(w.Decisions[e.ErrandNumber]) > 0 {
			decided = append(decided, e)
		} else {
			undecided = append(undecided, e)
		}
	}
	if len(decided) < 2 || len(undecided) == 0 {
		t.Fatal("the test world needs errands with and without decisions")
	}
	records := func(e *model.Errand) []connect.Record {
		var out []connect.Record
		for _, d := range w.Decisions[e.ErrandNumber] {
			out = append(out, connect.Record{"outcome": string(d.Outcome), "decidedAt": d.DecidedAt.UTC().Format(time.RFC3339Nano), "law": d.Law})
		}
		return out
	}
	for _, tc := range []struct {
		name, number string
		want         []connect.Record // nil: no records
	}{
		{"decided errand", decided[0].ErrandNumber, records(decided[0])},
		{"another decided errand", decided[len(decided)-1].ErrandNumber, records(decided[len(decided)-1])},
		{"errand without decisions", undecided[0].ErrandNumber, nil},
		{"unknown errand", "BYGG-1999-999999", nil},
		{"errand number with a slash is one segment", "BYGG-2025/../000001", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stats := sim.NewStats()
			srv := httptest.NewServer(sim.NewETjanst(w, sim.ETjanstOptions{Stats: stats}))
			defer srv.Close()
			h := newHTTP(t, r, srv.URL, nil)
			got, err := h.Fetch(t.Context(), []string{tc.number})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got[tc.number], tc.want) || len(got) > 1 {
				t.Errorf("records %v, want %v", got, tc.want)
			}
			if c := stats.Snapshot()["etjanst"]; !reflect.DeepEqual(c, map[string]sim.Counter{"listDecisions": {Calls: 1, Keys: 1}}) {
				t.Errorf("e-service platform calls = %+v, want one listDecisions", c)
			}
		})
	}
}
