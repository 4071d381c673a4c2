package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/sources/tracing"
)

// EnvOTLPEndpoint is OpenTelemetry's own variable for the collector; it
// turns tracing on when tracing.endpoint is empty, in the demo too.
const EnvOTLPEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"

// openTracing installs the process's tracer provider and the W3C trace
// context propagator when tracing is configured (or a test brings its own
// provider). Without it OpenTelemetry's no-op provider stays: no span is
// recorded, no traceparent is read or sent, and requests are not wrapped.
func (g *Gateway) openTracing(ctx context.Context, opts Options) error {
	tp := opts.TracerProvider
	endpoint := g.cfg.Tracing.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv(EnvOTLPEndpoint)
	}
	if tp == nil && endpoint == "" {
		return nil
	}
	if tp == nil {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimSuffix(endpoint, "/")+"/v1/traces"))
		if err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
			semconv.ServiceName(g.cfg.Tracing.ServiceName)))
		if err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		sdk := sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(exp),
			sdktrace.WithSampler(sampler(g.cfg.Tracing)),
			sdktrace.WithResource(res),
		)
		g.stopTracing = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return sdk.Shutdown(ctx) // exports what is still buffered
		}
		tp = sdk
		g.log.Info("tracing", "endpoint", endpoint, "sampleRatio", *g.cfg.Tracing.SampleRatio, "honourCallerSampling", g.cfg.Tracing.HonourCallerSampling)
	}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	g.tracing = true
	return nil
}

// traceRequests starts the server span of every request but the probes
// and the metrics scrape, as the child of the caller's traceparent, so that
// the access log line, the operation and its upstream calls share one
// trace id. The span is named by the method and the route (spanRoute),
// never the path a caller typed or the query string.
func traceRequests(next http.Handler) http.Handler {
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			next.ServeHTTP(w, r)
			return
		}
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		route := spanRoute(r.URL.Path)
		ctx, span := tracing.Tracer().Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", route)))
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// spanRoute is the route of a path, one of a fixed few: the GraphQL
// endpoint and the root as they are, the admin, GraphiQL and demo pages
// by their prefix, anything else "unmatched". A path is the caller's text
// (an unauthenticated caller's too), which may hold a personnummer or a
// name, and each new one would be a new span name.
func spanRoute(path string) string {
	switch path {
	case "/", "/graphql", "/admin":
		return path
	}
	for _, prefix := range []string{"/admin/", "/graphiql/", "/demo/"} {
		if strings.HasPrefix(path, prefix) {
			return prefix + "*"
		}
	}
	return "unmatched"
}

// sampler decides a trace begun here by its trace id at the configured
// ratio, and follows a span's own parent inside this process. A remote
// parent (the caller's traceparent) is followed only with
// tracing.honourCallerSampling: any client could otherwise have every
// request of its recorded and exported, at the gateway's and the
// collector's cost, or none. Without it, a trace the caller began is
// decided by chance at the ratio, not by its trace id, which the caller
// chose too (an id whose last 8 bytes are zero is under every ratio).
func sampler(cfg config.Tracing) sdktrace.Sampler {
	ratio := sdktrace.TraceIDRatioBased(*cfg.SampleRatio)
	if cfg.HonourCallerSampling {
		return sdktrace.ParentBased(ratio)
	}
	chance := chanceSampler{ratio: *cfg.SampleRatio}
	return sdktrace.ParentBased(ratio,
		sdktrace.WithRemoteParentSampled(chance),
		sdktrace.WithRemoteParentNotSampled(chance))
}

// chanceSampler records a span with probability ratio, whatever its trace
// id says.
type chanceSampler struct{ ratio float64 }

func (s chanceSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	d := sdktrace.Drop
	if rand.Float64() < s.ratio {
		d = sdktrace.RecordAndSample
	}
	return sdktrace.SamplingResult{Decision: d, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
}

func (s chanceSampler) Description() string { return fmt.Sprintf("ChanceSampler{%g}", s.ratio) }

var _ sdktrace.Sampler = chanceSampler{}
