package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/sources/cache"
	"github.com/kommungraf/kommungraf/sources/loaders"
)

// openCache builds the record cache: the in-process tier always (unless
// turned off), Redis when redis.url is set. Level-3 records are sealed with
// the keys of KOMMUNGRAF_CACHE_KEYS; without keys they never reach Redis.
func (g *Gateway) openCache(demo bool) (*loaders.Caching, error) {
	cc := g.cfg.Cache
	if cc.Disabled {
		return nil, nil
	}
	var keys [][]byte
	if v := os.Getenv(config.EnvCacheKeys); v != "" {
		k, err := cache.ParseKeys(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvCacheKeys, err)
		}
		keys = k
	}
	if g.cfg.Redis.URL != "" {
		rdb, err := cache.NewRedisClient(g.cfg.Redis.URL)
		if err != nil {
			return nil, err
		}
		g.redis = rdb
		if len(keys) == 0 && demo {
			// The demo generates its seal key at start and prints it; a real
			// deployment brings its own through the environment.
			k := make([]byte, cache.KeySize)
			_, _ = rand.Read(k)
			keys = [][]byte{k}
			fmt.Fprintf(os.Stderr, "demo: generated a cache seal key for this run: %s=%s\n", config.EnvCacheKeys, base64.StdEncoding.EncodeToString(k))
		}
		if len(keys) == 0 {
			g.log.Warn("no cache seal keys: level-3 records stay in the in-process tier only", "env", config.EnvCacheKeys)
		}
	}
	c, err := cache.New(cache.Options{
		Redis: g.redis, LocalMaxEntries: cc.LocalMaxEntries, Version: cc.Version, SealKeys: keys,
		RedisTimeout: cc.RedisTimeout, Registerer: g.registry, Logger: g.log,
	})
	if err != nil {
		return nil, err
	}
	g.cache = c
	policies := make(map[string]cache.Policy, len(cc.Sources))
	for name, p := range cc.Sources {
		policies[name] = cache.Policy{TTL: p.TTL, NegativeTTL: p.NegativeTTL, StaleIfError: p.StaleIfError}
	}
	return &loaders.Caching{Cache: c, Policies: policies}, nil
}

// invalidate drops cached records: {"source": "folkbokforing", "entity":
// "person", "keys": ["..."]}; without keys the whole entity, without entity
// the whole source. Other replicas drop their in-process copies via Redis.
func (g *Gateway) invalidate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Source string   `json:"source"`
		Entity string   `json:"entity"`
		Keys   []string `json:"keys"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Source == "" || (req.Entity == "" && len(req.Keys) > 0) {
		problem(w, http.StatusBadRequest, "invalid invalidation", `want {"source": "...", "entity": "...", "keys": [...]}; keys need an entity`)
		return
	}
	if g.declared.System(req.Source) == nil {
		names := make([]string, 0, len(g.declared.Systems))
		for _, sys := range g.declared.Systems {
			names = append(names, sys.Name)
		}
		problem(w, http.StatusBadRequest, "unknown source", "source is one of "+strings.Join(names, ", "))
		return
	}
	if err := g.cache.Invalidate(r.Context(), req.Source, req.Entity, req.Keys...); err != nil {
		g.log.WarnContext(r.Context(), "cache invalidation failed", "source", req.Source, "entity", req.Entity, "error", err.Error())
		status := http.StatusInternalServerError
		if errors.Is(err, cache.ErrDegraded) {
			status = http.StatusServiceUnavailable
		}
		problem(w, status, "invalidation incomplete", "the shared cache could not be reached; try again")
		return
	}
	g.log.InfoContext(r.Context(), "cache invalidated", "source", req.Source, "entity", req.Entity, "keys", len(req.Keys))
	w.WriteHeader(http.StatusNoContent)
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": title, "status": status, "detail": detail})
}

// staleExtension tells the client which records were served past their
// freshness because an upstream failed: extensions.stale.
func staleExtension(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	l, ok := loaders.Lookup(ctx)
	if resp == nil || !ok {
		return resp
	}
	stale := l.Stale()
	if len(stale) == 0 {
		return resp
	}
	type entry struct {
		Path       string  `json:"path,omitempty"`
		Source     string  `json:"source"`
		Entity     string  `json:"entity"`
		AgeSeconds float64 `json:"ageSeconds"`
	}
	out := make([]entry, len(stale))
	for i, s := range stale {
		out[i] = entry{s.Path, s.Source, s.Entity, s.Age.Seconds()}
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["stale"] = out
	return resp
}
