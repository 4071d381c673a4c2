package authz_test

import (
	"testing"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/graph"
)

// defaultAuthorizer loads the policy, contracts and roles the demo ships.
func defaultAuthorizer(t testing.TB) (*authz.Authorizer, map[string]authz.RoleGrant) {
	t.Helper()
	cat, err := authz.Classify(graph.NewExecutableSchema(graph.Config{}).Schema())
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Bind(graph.Records()); err != nil {
		t.Fatal(err)
	}
	rules, err := authz.ParsePolicy(authz.DefaultPolicy(), cat)
	if err != nil {
		t.Fatal(err)
	}
	contracts, err := authz.ParseContracts([]byte(authz.DefaultContracts()), cat)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := authz.ParseRoles([]byte(authz.DefaultRoles()))
	if err != nil {
		t.Fatal(err)
	}
	a, err := authz.NewAuthorizer(authz.AuthorizerOptions{Catalog: cat, Policy: rules, Contracts: contracts})
	if err != nil {
		t.Fatal(err)
	}
	return a, roles
}

// TestDecisionTable runs authz/policy/decisions.yaml, one line per persona x
// field (and protected-identity case), against the shipped policy.
func TestDecisionTable(t *testing.T) {
	a, roles := defaultAuthorizer(t)
	cases, err := authz.ParseDecisionTable([]byte(authz.DefaultDecisions()))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 60 {
		t.Fatalf("decision table has %d cases; it should cover every persona", len(cases))
	}
	for _, r := range authz.RunDecisionTable(a, roles, cases) {
		t.Run(r.Case.Name(), func(t *testing.T) {
			if r.Err != nil {
				t.Fatalf("line %d: %v", r.Case.Line, r.Err)
			}
			if !r.Pass() {
				t.Errorf("line %d: %s, want %s (%s; %s)", r.Case.Line, verdict(r.Decision.Allow), r.Case.Expect, r.Decision.Reason, r.Decision.Rule)
			}
		})
	}
}

func verdict(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}
