package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/problem"
	"github.com/kommungraf/kommungraf/sources/cache"
)

// invalidate drops cached records: {"source": "folkbokforing", "entity":
// "person", "keys": ["..."]}; without keys the whole entity, without entity
// the whole source. Other replicas drop their in-process copies via Redis.
func (a *Admin) invalidate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Source string   `json:"source"`
		Entity string   `json:"entity"`
		Keys   []string `json:"keys"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Source == "" || (req.Entity == "" && len(req.Keys) > 0) {
		problem.Write(w, http.StatusBadRequest, "INVALID_INVALIDATION", `want {"source": "...", "entity": "...", "keys": [...]}; keys need an entity`, nil)
		return
	}
	if !slices.Contains(a.opts.CacheSources, req.Source) {
		problem.Write(w, http.StatusBadRequest, "UNKNOWN_SOURCE", "source is one of "+strings.Join(a.opts.CacheSources, ", "), nil)
		return
	}
	if err := a.opts.Cache.Invalidate(r.Context(), req.Source, req.Entity, req.Keys...); err != nil {
		a.log.WarnContext(r.Context(), "cache invalidation failed", "source", req.Source, "entity", req.Entity, "error", err.Error())
		status := http.StatusInternalServerError
		if errors.Is(err, cache.ErrDegraded) {
			status = http.StatusServiceUnavailable
		}
		problem.Write(w, status, "INVALIDATION_INCOMPLETE", "the shared cache could not be reached; try again", nil)
		return
	}
	a.log.InfoContext(r.Context(), "cache invalidated", "source", req.Source, "entity", req.Entity, "keys", len(req.Keys))
	w.WriteHeader(http.StatusNoContent)
}
