package admin

import (
	"errors"
	"net/http"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/graph/operations"
)

// operationRoutes are the operations API: push (security staff register
// reviewed operations) and list. Both need admin on policy, like the
// policy workflow: which documents a persisted-only client may run is part
// of what it may see.
func (a *Admin) operationRoutes() []Route {
	return []Route{
		{"GET /admin/api/operations", authz.ActAdmin, authz.ObjPolicy, http.HandlerFunc(a.listOperations)},
		{"POST /admin/api/operations", authz.ActAdmin, authz.ObjPolicy, http.HandlerFunc(a.pushOperations)},
	}
}

func (a *Admin) listOperations(w http.ResponseWriter, r *http.Request) {
	ops, err := a.opts.Operations.List(r.Context())
	if err != nil {
		a.log.ErrorContext(r.Context(), "operations: list", "error", err.Error())
		writeProblem(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the operation registry is unavailable", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"operations": nonNilOps(ops)})
}

// pushOperations registers the operations of the files in the body,
// {"files": {"name.graphql": "text", ...}}: all or none.
func (a *Admin) pushOperations(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Files map[string]string `json:"files"`
	}
	if !decodeBody(w, r, &body, true) {
		return
	}
	if len(body.Files) == 0 {
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", `want {"files": {"name.graphql": "<operations>"}}`, nil)
		return
	}
	p := authz.FromContext(r.Context())
	ops, err := a.opts.Operations.Push(r.Context(), p.Subject, body.Files)
	if err != nil {
		// The documents' own problems, located; never the store's text.
		if errorsFromStore(err) {
			a.log.ErrorContext(r.Context(), "operations: push", "error", err.Error())
			writeProblem(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the operation registry is unavailable", nil)
			return
		}
		writeProblem(w, http.StatusUnprocessableEntity, "INVALID_OPERATIONS", err.Error(), nil)
		return
	}
	a.log.InfoContext(r.Context(), "operations pushed", "by", p.Subject, "operations", len(ops))
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
