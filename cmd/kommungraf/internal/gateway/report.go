package gateway

import (
	"context"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/report"
)

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
	// The systems as the integration catalog knows them (declared, and
	// the built-in ones not yet declared), one list for both.
	for _, sys := range g.catalogSystems {
		in.Sources = append(in.Sources, report.Source{Name: sys.Name, Kind: sys.Kind, Owner: sys.Owner})
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
