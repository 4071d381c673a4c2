package gateway

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/operations"
)

// openOperations builds the registry of trusted operations: in PostgreSQL
// (operations.databaseUrl), shared by the replicas, else in the process;
// seeded from operations.file (the demo: its embedded file). A seed that
// does not validate against the schema stops the start.
func (g *Gateway) openOperations(ctx context.Context, demo bool, schema *ast.Schema) error {
	c := g.cfg.Operations
	var store operations.Store = operations.NewMemoryStore()
	if c.DatabaseURL != "" {
		pg, err := operations.OpenPostgres(ctx, c.DatabaseURL)
		if err != nil {
			return err
		}
		store = pg
	}
	g.operationStore = store
	g.operations = operations.NewRegistry(schema, store)
	name, text := c.File, ""
	switch {
	case name != "":
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("operations.file: %w", err)
		}
		text = string(b)
	case demo:
		name, text = "graph/operations/demo.graphql", operations.DemoFile
	}
	if text == "" {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := g.operations.Push(sctx, "operations.file", map[string]string{name: text}); err != nil {
		return fmt.Errorf("operations.file: %w", err)
	}
	return nil
}

// trustedOptions are graph's trusted operations on the registry, each
// request's mode from its client application's contract.
func (g *Gateway) trustedOptions() *graph.TrustedOptions {
	return &graph.TrustedOptions{Registry: g.operations, Mode: g.operationMode, Logger: g.log, Registerer: g.registry}
}

// operationMode is the request's client application (its contract's, or
// "other": the metrics' label stays bounded) and its contract's mode. A
// client without a contract is refused every field by the authorization
// whatever it sends; it gets open here so that its answer stays the same
// FORBIDDEN it always was.
func (g *Gateway) operationMode(ctx context.Context) (string, string) {
	p := authz.FromContext(ctx)
	if p == nil {
		p = authz.AnonymousPrincipal()
	}
	c := g.sec.authorizer.Contracts().ForClient(p.Client)
	if c == nil {
		return "other", graph.ModeOpen
	}
	return c.Client, c.Operations
}
