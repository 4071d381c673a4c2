package gateway

import (
	"net/http"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/ratelimit"
	"github.com/kommungraf/kommungraf/sources/cache"
)

// openRateLimit builds the per-client and per-user rate limits of
// /graphql: in Redis when redis.url is set (the cache's client, or its own
// when the cache is off), in process otherwise and whenever Redis fails.
// It returns the middleware, which runs after authentication.
func (g *Gateway) openRateLimit() (func(http.Handler) http.Handler, error) {
	rl := g.cfg.RateLimit
	if rl.Disabled {
		return func(next http.Handler) http.Handler { return next }, nil
	}
	if g.redis == nil && g.cfg.Redis.URL != "" {
		rdb, err := cache.NewRedisClient(g.cfg.Redis.URL)
		if err != nil {
			return nil, err
		}
		g.redis = rdb // closed by Close
	}
	limiter, err := ratelimit.New(ratelimit.Options{
		Redis: g.redis, RedisTimeout: rl.RedisTimeout, KeyPrefix: rl.KeyPrefix, Registerer: g.registry, Logger: g.log,
	})
	if err != nil {
		return nil, err
	}
	g.limiter = limiter
	return ratelimit.NewMiddleware(rl, limiter, g.registry).Wrap, nil
}
