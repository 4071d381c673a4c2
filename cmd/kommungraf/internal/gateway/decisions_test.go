package gateway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// An errand's decisions are read through their declaration
// (schema/etjanst.yaml), on the e-service platform's own client; these
// tests pin what the hand-written leg they replaced answered and called.

// decisionsJSON is what the gateway answers for an errand's decisions
// { outcome decidedAt law }: the platform's decisions, [] for none.
func decisionsJSON(t *testing.T, number string) string {
	t.Helper()
	type decision struct {
		Outcome   string `json:"outcome"`
		DecidedAt string `json:"decidedAt"`
		Law       string `json:"law"`
	}
	out := []decision{}
	for _, d := range testWorld().Decisions[number] {
		out = append(out, decision{string(d.Outcome), d.DecidedAt.UTC().Format(time.RFC3339), d.Law})
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDecisionsAnswerAsBefore: a page of the case officer's errands with
// their decisions answers every errand's decisions exactly as the platform
// has them ([] for none), in one listDecisions call per errand (the
// platform has no batch form), all of the level at once; the errands of
// other purposes are neither listed nor asked about.
func TestDecisionsAnswerAsBefore(t *testing.T) {
	d := startDemo(t, productionBatching, time.Millisecond, false)
	const q = `{ errands(first: 50) { edges { node { errandNumber caseType decisions { outcome decidedAt law } } } } }`
	raw := postAs(t, d, "case-officer", "decisions", q)
	var r struct {
		Data struct {
			Errands struct {
				Edges []struct {
					Node struct {
						ErrandNumber, CaseType string
						Decisions              json.RawMessage
					}
				}
			}
		}
		Errors []gqlError
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 {
		t.Fatalf("answer %.2000s (%v)", raw, err)
	}
	decided := 0
	for _, e := range r.Data.Errands.Edges {
		n := e.Node
		if n.CaseType != "BYGGLOV" {
			t.Errorf("errand %s of case type %s listed to the bygglov case officer", n.ErrandNumber, n.CaseType)
		}
		if got, want := string(n.Decisions), decisionsJSON(t, n.ErrandNumber); got != want {
			t.Errorf("%s: decisions %s, want %s", n.ErrandNumber, got, want)
		}
		if len(testWorld().Decisions[n.ErrandNumber]) > 0 {
			decided++
		}
	}
	if len(r.Data.Errands.Edges) < 2 || decided == 0 {
		t.Fatalf("the page has %d errands, %d with decisions: too few to compare", len(r.Data.Errands.Edges), decided)
	}
	c := d.gw.Sim().Stats.Request("decisions")["etjanst"]["listDecisions"]
	if want := int64(len(r.Data.Errands.Edges)); c.Calls != want || c.Keys != want {
		t.Errorf("listDecisions %+v, want one call per errand (%d)", c, want)
	}
	if n := metric(t, d, `kommungraf_upstream_calls_total{operation="listDecisions",outcome="ok",source="etjanst"}`); n == "0" {
		t.Error("no etjanst decisions calls in the metrics")
	}
	// One errand asked for twice in one request is one call.
	number := r.Data.Errands.Edges[0].Node.ErrandNumber
	raw = postAs(t, d, "case-officer", "decisions-twice", fmt.Sprintf(`{ a: errand(errandNumber: %q) { decisions { law } } b: errand(errandNumber: %q) { decisions { outcome } } }`, number, number))
	if strings.Contains(string(raw), `"errors"`) {
		t.Fatalf("answer %s", raw)
	}
	if c := d.gw.Sim().Stats.Request("decisions-twice")["etjanst"]["listDecisions"]; c.Calls != 1 {
		t.Errorf("the same errand twice: %d listDecisions calls, want 1", c.Calls)
	}
}
