package gateway

import (
	"context"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/report"
)

// builtinSources are the four built-in systems, not yet declared (issue
// 11): their kind, and the type whose @owner is their information owner.
var builtinSources = []struct{ name, kind, ownerType string }{
	{"folkbokforing", "soap", "Person"},
	{"etjanst", "rest", "Errand"},
	{"geodata", "rest", "Property"},
	{"skoldatabas", "sql", "SchoolUnit"},
}

// reportAccessLimit bounds the access log entries a report reads; past it
// the report says it counted the newest only.
const reportAccessLimit = 200_000

// reportInputs gathers what the effect goals' report (internal/report,
// served by internal/admin) is computed from: the live catalog and
// contracts, the configured clients, the sources and their owners, the
// open APIs and the access log of the period.
func (g *Gateway) reportInputs(ctx context.Context, from, to time.Time) (report.Inputs, error) {
	in := report.Inputs{Fields: g.sec.policyFlow.Catalog(), Contracts: g.sec.authorizer.Contracts().List(), From: from, To: to}
	for _, k := range g.cfg.Auth.APIKeys {
		in.Configured = append(in.Configured, k.Client)
	}
	owners := map[string]string{}
	for _, fa := range in.Fields {
		owners[fa.Field.Type] = fa.Field.Owner
	}
	declared := map[string]bool{}
	for _, sys := range g.declared.Systems {
		if !sys.Builtin {
			in.Sources = append(in.Sources, report.Source{Name: sys.Name, Kind: sys.Connector, Owner: sys.Owner})
			declared[sys.Name] = true
		}
	}
	for _, b := range builtinSources {
		if !declared[b.name] {
			in.Sources = append(in.Sources, report.Source{Name: b.name, Kind: b.kind, Owner: owners[b.ownerType]})
		}
	}
	if g.open != nil {
		for _, a := range g.open.APIs() {
			in.OpenAPIs = append(in.OpenAPIs, a.API)
		}
	}
	entries, err := g.sec.accessLog.Query(ctx, authz.AccessQuery{From: from, To: to, Limit: reportAccessLimit + 1})
	if err != nil {
		return in, err
	}
	if len(entries) > reportAccessLimit {
		entries, in.Truncated = entries[:reportAccessLimit], true
	}
	in.Access = entries
	return in, nil
}
