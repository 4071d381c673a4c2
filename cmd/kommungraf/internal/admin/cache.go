package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

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
		cacheProblem(w, http.StatusBadRequest, "invalid invalidation", `want {"source": "...", "entity": "...", "keys": [...]}; keys need an entity`)
		return
	}
	if !slices.Contains(a.opts.CacheSources, req.Source) {
		cacheProblem(w, http.StatusBadRequest, "unknown source", "source is one of "+strings.Join(a.opts.CacheSources, ", "))
		return
	}
	if err := a.opts.Cache.Invalidate(r.Context(), req.Source, req.Entity, req.Keys...); err != nil {
		a.log.WarnContext(r.Context(), "cache invalidation failed", "source", req.Source, "entity", req.Entity, "error", err.Error())
		status := http.StatusInternalServerError
		if errors.Is(err, cache.ErrDegraded) {
			status = http.StatusServiceUnavailable
		}
		cacheProblem(w, status, "invalidation incomplete", "the shared cache could not be reached; try again")
		return
	}
	a.log.InfoContext(r.Context(), "cache invalidated", "source", req.Source, "entity", req.Entity, "keys", len(req.Keys))
	w.WriteHeader(http.StatusNoContent)
}

// cacheProblem is the invalidation's problem+json as it has always been:
// its own titles and no code (the one route older than problem.Write).
func cacheProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": title, "status": status, "detail": detail})
}
