package gateway

import (
	"context"

	"github.com/kommungraf/kommungraf/authz"
)

// maySeeSchema is whether the request's caller may see the schema: the
// policy lets it introspect (the same decision as for __schema), and
// introspection is on. Only such callers get gqlparser's suggestions in
// validation errors. Without authorization (benchmarks, tests of the data
// path) everyone may.
func (g *Gateway) maySeeSchema(skipAuthorization bool) func(context.Context) bool {
	if !*g.cfg.Server.Introspection {
		return func(context.Context) bool { return false }
	}
	if skipAuthorization {
		return func(context.Context) bool { return true }
	}
	a := g.sec.authorizer
	return func(ctx context.Context) bool {
		return a.DecideAction(authz.Prepare(authz.FromContext(ctx)), authz.ActIntrospect, authz.ObjSchema).Allow
	}
}
