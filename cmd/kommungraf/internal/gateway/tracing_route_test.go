package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestServerSpanNamesAreRoutes: the server span is named by the route, a
// fixed set, never by the path a caller typed: an unauthenticated caller
// could otherwise write any text (a personnummer, a name) into the
// tracing backend as a span name, one new name per request.
func TestServerSpanNamesAreRoutes(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	h := traceRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }))
	for path, want := range map[string]string{
		"/graphql":                   "POST /graphql",
		"/198001011234":              "POST unmatched",
		"/admin/assets/198001011234": "POST /admin/*",
		"/graphiql/Anna%20Andersson": "POST /graphiql/*",
	} {
		exp.Reset()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, path, nil))
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans", path, len(spans))
		}
		if spans[0].Name != want {
			t.Errorf("%s: span %q, want %q", path, spans[0].Name, want)
		}
		for _, a := range spans[0].Attributes {
			if v := a.Value.Emit(); strings.Contains(v, "198001011234") || strings.Contains(v, "Anna") {
				t.Errorf("%s: attribute %s = %q", path, a.Key, v)
			}
		}
	}
}
