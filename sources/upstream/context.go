package upstream

import "context"

type requestIDKey struct{}

// WithRequestID returns a context that carries the gateway's request id, which
// the client forwards to upstreams as X-Request-Id for tracing across systems.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFromContext returns the request id, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
