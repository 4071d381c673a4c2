package gateway

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/rs/cors"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
)

// graphqlCORS lets the configured origins' pages call /graphql from a
// browser. A preflight is answered before authentication (browsers send no
// credentials with it). Credentials are bearer tokens and API keys that the
// page's script sets itself, so Access-Control-Allow-Credentials is never
// sent: no cookie authenticates /graphql, and none may be sent along. With
// no origins configured the handler is returned unchanged: no CORS header
// at all, and browsers keep other origins out.
func graphqlCORS(c config.CORS, next http.Handler) http.Handler {
	if len(c.AllowedOrigins) == 0 {
		return next
	}
	allowed := originMatcher(c.AllowedOrigins)
	return cors.New(cors.Options{
		AllowOriginFunc: allowed,
		// POST only: a cross-origin GET would carry the query, personnummer
		// and all, in a URL that proxies and browser history keep.
		AllowedMethods:   []string{http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "X-API-Key", "X-Request-Id", "Traceparent", "Tracestate", "X-Kommungraf-Cost"},
		ExposedHeaders:   []string{"X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy"},
		AllowCredentials: false,
		MaxAge:           int(c.MaxAge.Seconds()),
	}).Handler(next)
}

// originMatcher matches an Origin header exactly against the configured
// origins, or, for https://*.example.se, with exactly one DNS label in
// place of the star (rs/cors's own wildcard would take a.b.example.se too).
func originMatcher(configured []string) func(string) bool {
	exact := map[string]bool{}
	type wildcard struct{ scheme, suffix string }
	var wild []wildcard
	for _, o := range configured {
		o = strings.ToLower(strings.TrimSuffix(o, "/"))
		if scheme, host, ok := strings.Cut(o, "://*."); ok {
			wild = append(wild, wildcard{scheme + "://", "." + host})
			continue
		}
		exact[o] = true
	}
	return func(origin string) bool {
		origin = strings.ToLower(origin)
		if exact[origin] {
			return true
		}
		for _, w := range wild {
			label, ok := strings.CutPrefix(origin, w.scheme)
			if !ok {
				continue
			}
			if label, ok = strings.CutSuffix(label, w.suffix); ok && validLabel.MatchString(label) {
				return true
			}
		}
		return false
	}
}

var validLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
