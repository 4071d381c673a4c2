package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// The operations API: push (security staff register reviewed operations)
// and list. Both need admin on policy, like the policy workflow: which
// documents a persisted-only client may run is part of what it may see.
func (g *Gateway) mountOperationsAPI(mux *http.ServeMux) {
	mux.Handle("GET /admin/api/operations", g.sec.require(authz.ActAdmin, authz.ObjPolicy, http.HandlerFunc(g.listOperations)))
	mux.Handle("POST /admin/api/operations", g.sec.require(authz.ActAdmin, authz.ObjPolicy, http.HandlerFunc(g.pushOperations)))
}

func (g *Gateway) listOperations(w http.ResponseWriter, r *http.Request) {
	ops, err := g.operations.List(r.Context())
	if err != nil {
		g.log.ErrorContext(r.Context(), "operations: list", "error", err.Error())
		writePolicyProblem(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the operation registry is unavailable", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"operations": nonNilOps(ops)})
}

// pushOperations registers the operations of the files in the body,
// {"files": {"name.graphql": "text", ...}}: all or none.
func (g *Gateway) pushOperations(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Files map[string]string `json:"files"`
	}
	if !decodeBody(w, r, &body, true) {
		return
	}
	if len(body.Files) == 0 {
		writePolicyProblem(w, http.StatusBadRequest, "BAD_REQUEST", `want {"files": {"name.graphql": "<operations>"}}`, nil)
		return
	}
	p := authz.FromContext(r.Context())
	ops, err := g.operations.Push(r.Context(), p.Subject, body.Files)
	if err != nil {
		// The documents' own problems, located; never the store's text.
		if errorsFromStore(err) {
			g.log.ErrorContext(r.Context(), "operations: push", "error", err.Error())
			writePolicyProblem(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the operation registry is unavailable", nil)
			return
		}
		writePolicyProblem(w, http.StatusUnprocessableEntity, "INVALID_OPERATIONS", err.Error(), nil)
		return
	}
	g.log.InfoContext(r.Context(), "operations pushed", "by", p.Subject, "operations", len(ops))
	writeJSON(w, http.StatusOK, map[string]any{"operations": nonNilOps(ops)})
}

func nonNilOps(ops []*operations.Operation) []*operations.Operation {
	if ops == nil {
		return []*operations.Operation{}
	}
	return ops
}

// errorsFromStore tells the registry's own failures (its store) from the
// documents' problems.
func errorsFromStore(err error) bool {
	var se *operations.StoreError
	return errors.As(err, &se)
}
