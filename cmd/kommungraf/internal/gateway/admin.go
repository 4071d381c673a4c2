package gateway

import (
	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/admin"
	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/sources/cache"
)

// openAdmin builds the admin surface (internal/admin) on the gateway's
// parts: authentication, the live policy and its workflow, the operation
// registry, the access log, the cache and the report's inputs. Its every
// route declares its authorization there.
func (g *Gateway) openAdmin() (*admin.Admin, error) {
	s := g.sec
	o := admin.Options{
		Authn: s.authn, Policy: s.authorizer, Workflow: s.policyFlow, Roles: s.roles,
		Explain: func(p *authz.Principal, field, action, object string, protected bool) (authz.Decision, error) {
			return authz.Explain(s.authorizer, p, field, action, object, protected)
		},
		Operations: g.operations,
		AccessLog:  s.accessLog, Hasher: s.hasher,
		Report: admin.ReportSourceFunc(g.reportInputs),
		Routes: []admin.Route{g.catalogRoute()}, // the integration catalog (catalog.go)
		Logger: g.log,
	}
	if s.dev != nil {
		// The demo's units exist only as its personas' units.
		o.Demo, o.Personas = true, s.dev.Personas()
		for _, id := range authz.PersonaIDs() {
			if p, err := authz.PersonaPrincipal(id, s.roles); err == nil && p.Unit != "" {
				o.Units = append(o.Units, p.Unit)
			}
		}
	}
	if g.cache != nil {
		o.Cache = g.cache
		// Every system is declared, the built-in ones too.
		for _, sys := range g.declared.Systems {
			o.CacheSources = append(o.CacheSources, sys.Name)
		}
	}
	return admin.New(o)
}

// The parts the admin surface is built on.
var (
	_ admin.Authenticator = (*authz.Authenticator)(nil)
	_ admin.Policy        = (*authz.Authorizer)(nil)
	_ admin.Workflow      = (*authz.PolicyFlow)(nil)
	_ admin.Operations    = (*operations.Registry)(nil)
	_ admin.AccessLog     = (*authz.AsyncAccessLog)(nil)
	_ admin.PersonHasher  = (*authz.PersonHasher)(nil)
	_ admin.Cache         = (*cache.Cache)(nil)
)
