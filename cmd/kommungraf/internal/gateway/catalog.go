package gateway

import (
	"context"
	"path/filepath"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/admin"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/catalog"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/resolvers"
)

// openUsage opens the integration catalog's usage counts (catalog.Usage)
// in the access log's store: its PostgreSQL database, or a SQLite file
// beside its JSON lines file. The enforcement tells it what each operation
// was served; the upstream calls come from the metrics.
func (g *Gateway) openUsage(ctx context.Context, cat *authz.Catalog) error {
	var store catalog.Store
	var err error
	if u := g.cfg.Authz.AccessLog.DatabaseURL; u != "" {
		store, err = catalog.OpenPostgres(ctx, u, "")
	} else {
		store, err = catalog.OpenSQLite(ctx, filepath.Join(filepath.Dir(g.accessLogFile()), "kommungraf-usage.db"))
	}
	if err != nil {
		return err
	}
	g.catalogSystems = catalog.SystemsFrom(g.declared, cat.Fields())
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	attribution := catalog.NewAttribution(g.catalogSystems, catalog.Bindings(schema), cat.Fields())
	g.usage = catalog.NewUsage(catalog.UsageOptions{Store: store, Attribution: attribution, Upstream: g.upstreamCalls, Logger: g.log})
	g.catalogAttribution = attribution
	return nil
}

// upstreamCalls are kommungraf_upstream_calls_total by source: all, and
// those with outcome ok.
func (g *Gateway) upstreamCalls() map[string]catalog.Calls {
	mfs, err := g.registry.Gather()
	if err != nil {
		return nil
	}
	out := map[string]catalog.Calls{}
	for _, mf := range mfs {
		if mf.GetName() != "kommungraf_upstream_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var source, outcome string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "source":
					source = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			c := out[source]
			n := int64(m.GetCounter().GetValue())
			c.Total += n
			if outcome == "ok" {
				c.OK += n
			}
			out[source] = c
		}
	}
	return out
}

// catalogRoute is the integration catalog (catalog.Handler) as a section
// of the admin surface: admin on policy, as the report.
func (g *Gateway) catalogRoute() admin.Route {
	return admin.Route{
		Pattern: "GET /admin/api/integrations",
		Action:  authz.ActAdmin, Object: authz.ObjPolicy,
		Handler: catalog.Handler(g.catalogInputs, g.log),
	}
}

func (g *Gateway) catalogInputs(ctx context.Context) (catalog.Inputs, error) {
	now := time.Now()
	counts, err := g.usage.Counts(ctx, catalog.Day(now.AddDate(0, 0, -(catalog.Days-1))))
	if err != nil {
		return catalog.Inputs{}, err
	}
	in := catalog.Inputs{Fields: g.sec.authorizer.Catalog().Fields(), Contracts: g.sec.authorizer.Contracts().List(),
		Systems: g.catalogSystems, Attribution: g.catalogAttribution, Counts: counts, Now: now}
	for _, k := range g.cfg.Auth.APIKeys {
		in.Configured = append(in.Configured, k.Client)
	}
	if g.open != nil {
		for _, a := range g.open.APIs() {
			in.OpenAPIs = append(in.OpenAPIs, catalog.OpenAPI{Name: a.API, Title: a.Title, Base: a.Base, Fields: a.Fields, Sources: a.AggregateSources})
		}
	}
	return in, nil
}
