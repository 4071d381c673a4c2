package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/opendata"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/ratelimit"
	"github.com/kommungraf/kommungraf/sources/loaders"
)

// openOpenData builds the open REST APIs (internal/opendata) on the
// gateway's parts: the declarations checked against the schema, the
// catalog and the live authorizer's decisions for the anonymous principal;
// their operations run by exec (the per-request loaders around the GraphQL
// handler); the aggregates' rows read from the sources. It returns nil
// when openData.disabled.
func (g *Gateway) openOpenData(ctx context.Context, schema *ast.Schema, catalog *authz.Catalog, src loaders.Sources, exec http.Handler) (*opendata.Service, error) {
	c := g.cfg.OpenData
	if c.Disabled {
		return nil, nil
	}
	files, where := opendata.Builtin(), "cmd/kommungraf/internal/opendata/apis"
	if c.Dir != "" {
		var err error
		if files, err = opendata.Dir(c.Dir); err != nil {
			return nil, err
		}
		where = c.Dir
	}
	anonymous := authz.Prepare(authz.AnonymousPrincipal())
	return opendata.New(ctx, opendata.Options{
		Files: files, Where: where,
		Schema: schema, Catalog: catalog,
		Anonymous: func(f *authz.Field) authz.Decision { return g.sec.authorizer.Decide(anonymous, f, false) },
		Registry:  g.operations,
		GraphQL:   exec,
		Datasets: []*opendata.Dataset{
			opendata.ErrandsDataset(src.Errands, func() []string { return g.sec.authorizer.AllRowValues("Errand") }),
			opendata.PlacementsDataset(g.store),
		},
		SourceTTL: g.sourceTTL,
		BaseURL:   c.BaseURL,
		Limiter:   g.limiter,
		PerClient: ratelimit.Limit{Rate: c.PerClient.Rate, Period: c.PerClient.Period, Burst: c.PerClient.Burst},
		Public:    ratelimit.ClientLimit(g.cfg.RateLimit, authz.AnonymousPrincipal().Client),
		Logger:    g.log,
	})
}

// sourceTTL is a source's record cache TTL: a built-in source's from
// cache.sources, a declared system's the shortest of its resources'.
func (g *Gateway) sourceTTL(name string) (time.Duration, bool) {
	if p, ok := g.cfg.Cache.Sources[name]; ok {
		return p.TTL, true
	}
	for _, sys := range g.declared.Systems {
		if sys.Name != name {
			continue
		}
		var ttl time.Duration
		for i, r := range sys.Resources {
			if i == 0 || r.Cache.TTL < ttl {
				ttl = r.Cache.TTL
			}
		}
		return ttl, true
	}
	return 0, false
}
