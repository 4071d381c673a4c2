package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// errRequestTimeout is the cause of a GraphQL request's context when its
// deadline (server.requestTimeout) passes.
var errRequestTimeout = errors.New("request timeout")

// deadlineState is one request's deadline bookkeeping, shared by the HTTP
// middleware and the GraphQL response interceptor.
type deadlineState struct {
	start time.Time
	// timedOut is set when the response was replaced by REQUEST_TIMEOUT,
	// so the status written with it is 504.
	timedOut atomic.Bool
}

type deadlineKey struct{}

// requestDeadline bounds a GraphQL request from its arrival, the admission
// queue's wait included, so that its deadline passes before the server's
// write timeout (which would cut the connection without an answer). A
// request past its deadline is answered by deadlineExtension with one
// REQUEST_TIMEOUT error and 504.
func requestDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &deadlineState{start: time.Now()}
		ctx, cancel := context.WithTimeoutCause(r.Context(), d, errRequestTimeout)
		defer cancel()
		ctx = context.WithValue(ctx, deadlineKey{}, st)
		next.ServeHTTP(&deadlineWriter{ResponseWriter: w, st: st}, r.WithContext(ctx))
	})
}

// deadlineWriter turns the 200 of a response that deadlineExtension
// replaced into 504, so the client and the access log see the same status.
type deadlineWriter struct {
	http.ResponseWriter
	st          *deadlineState
	wroteHeader bool
}

func (d *deadlineWriter) WriteHeader(code int) {
	if d.wroteHeader {
		return
	}
	d.wroteHeader = true
	if code == http.StatusOK && d.st.timedOut.Load() {
		code = http.StatusGatewayTimeout
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	if !d.wroteHeader {
		d.WriteHeader(http.StatusOK)
	}
	return d.ResponseWriter.Write(b)
}

func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// deadlineExtension answers a request whose deadline passed during
// execution with one REQUEST_TIMEOUT error instead of an error per field
// that was still waiting, and logs one line for the request.
type deadlineExtension struct {
	log *slog.Logger
}

func (deadlineExtension) ExtensionName() string                   { return "RequestDeadline" }
func (deadlineExtension) Validate(graphql.ExecutableSchema) error { return nil }

func (e deadlineExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || !errors.Is(context.Cause(ctx), errRequestTimeout) {
		return resp
	}
	st, _ := ctx.Value(deadlineKey{}).(*deadlineState)
	if st == nil {
		return resp
	}
	dropped := len(resp.Errors)
	st.timedOut.Store(true)
	var elapsed time.Duration
	if !st.start.IsZero() {
		elapsed = time.Since(st.start)
	}
	e.log.WarnContext(ctx, "request timed out", "request_id", upstream.RequestIDFromContext(ctx),
		"elapsed_ms", elapsed.Milliseconds(), "field_errors", dropped, "operation", operationName(ctx))
	return &graphql.Response{
		Errors: gqlerror.List{{
			Message:    "the request ran past its deadline",
			Extensions: map[string]any{"code": graph.CodeRequestTimeout},
		}},
		Data:       []byte("null"),
		Extensions: resp.Extensions,
	}
}

func operationName(ctx context.Context) string {
	if !graphql.HasOperationContext(ctx) {
		return ""
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation != nil && oc.Operation.Name != "" {
		return oc.Operation.Name
	}
	return oc.OperationName
}

var (
	_ graphql.HandlerExtension    = deadlineExtension{}
	_ graphql.ResponseInterceptor = deadlineExtension{}
)
