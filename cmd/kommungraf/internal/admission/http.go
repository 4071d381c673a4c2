package admission

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// MiddlewareOptions configure Middleware.
type MiddlewareOptions struct {
	// Key names the client a request counts against (its client
	// application, or its address when anonymous).
	Key func(*http.Request) string
	// RetryAfter is what a refusal's Retry-After header says, in whole
	// seconds (at least 1).
	RetryAfter time.Duration
	// Refuse writes the refusal: status 503 and a coded body. Retry-After
	// is set before it is called.
	Refuse func(w http.ResponseWriter, r *http.Request)
	// Logger gets one debug line per refusal (the metrics count them; a
	// line per refusal at a higher level would be a flood of its own
	// exactly when the replica is overloaded).
	Logger *slog.Logger
}

// Middleware admits each request through c before next runs, and answers a
// refused one with 503 and Retry-After.
func (c *Controller) Middleware(opts MiddlewareOptions, next http.Handler) http.Handler {
	retry := strconv.Itoa(max(1, int((opts.RetryAfter+time.Second-1)/time.Second)))
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := c.Acquire(r.Context(), opts.Key(r))
		if err != nil {
			var ref *Refusal
			errors.As(err, &ref)
			opts.Logger.DebugContext(r.Context(), "admission: refused", "reason", ref.Reason, "waited_ms", ref.Waited.Milliseconds())
			w.Header().Set("Retry-After", retry)
			opts.Refuse(w, r)
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}
