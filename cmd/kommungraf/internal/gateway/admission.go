package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/admission"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/ratelimit"
	"github.com/kommungraf/kommungraf/graph"
)

// newAdmission is the replica's admission controller for /graphql
// (server.admission). Health, readiness, metrics and the admin pages never
// pass through it, so they answer however busy GraphQL is.
func newAdmission(c config.Admission, reg prometheus.Registerer) *admission.Controller {
	return admission.New(admission.Options{
		MaxInFlight: c.MaxInFlight, MaxQueue: c.MaxQueue, MaxQueueWait: c.MaxQueueWait, Registerer: reg,
	})
}

// admit puts next behind the admission controller, unless it is disabled.
// A refused request is answered 503 with Retry-After and OVERLOADED before
// its loaders are made or its query parsed.
func (g *Gateway) admit(c config.Admission, next http.Handler) http.Handler {
	if c.Disabled {
		return next
	}
	return g.admission.Middleware(admission.MiddlewareOptions{
		Key:        admissionKey,
		RetryAfter: c.RetryAfter,
		Refuse: func(w http.ResponseWriter, _ *http.Request) {
			graphqlError(w, http.StatusServiceUnavailable, graph.CodeOverloaded,
				"the gateway is at capacity; retry after the time in Retry-After")
		},
		Logger: g.log,
	}, next)
}

// admissionKey is who a request's share of the queue belongs to: its client
// application (the token's azp, the API key's client), whose information
// contract it runs under, else the address it came from. It runs after
// authentication, so a key cannot be claimed with a forged token.
func admissionKey(r *http.Request) string {
	if p := authz.FromContext(r.Context()); p != nil && !p.Anonymous && p.Client != "" {
		return "client:" + p.Client
	}
	return "addr:" + ratelimit.AddressKey(r.RemoteAddr)
}
