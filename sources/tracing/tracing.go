// Package tracing is what the gateway's OpenTelemetry traces share: the
// tracer every package starts its spans with, the trace ids put into log
// lines and onto Prometheus histograms as exemplars.
//
// Spans go to the process's tracer provider (otel.SetTracerProvider),
// which the gateway installs when tracing is configured; until then the
// provider is OpenTelemetry's no-op one and a span costs a few
// nanoseconds. The spans:
//   - graphql.operation: one per GraphQL operation (the gateway);
//   - loader.batch: one per loader batch, with its source, entity, key
//     count and cache hits (sources/loaders);
//   - upstream.call: one per call to an upstream, REST, SOAP or SQL, with
//     its attempts below it as HTTP client spans that carry the W3C
//     traceparent to the upstream (sources/upstream, sources/sqldb).
package tracing

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of Kommungraf's spans.
const Name = "github.com/kommungraf/kommungraf"

// Tracer is the tracer of Kommungraf's spans, from the process's provider
// (it follows a provider installed after the call).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Attribute keys of Kommungraf's spans.
const (
	Source    = attribute.Key("kommungraf.source")
	Operation = attribute.Key("kommungraf.operation")
	Entity    = attribute.Key("kommungraf.entity")
	Keys      = attribute.Key("kommungraf.keys")
	CacheHits = attribute.Key("kommungraf.cache.hits")
	Outcome   = attribute.Key("kommungraf.outcome")
)

// Observe records v on h with the span of ctx as the exemplar, when that
// span is sampled (a trace one can open); otherwise a plain observation.
func Observe(ctx context.Context, h prometheus.Observer, v float64) {
	sc := trace.SpanContextFromContext(ctx)
	if eo, ok := h.(prometheus.ExemplarObserver); ok && sc.IsSampled() {
		eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()})
		return
	}
	h.Observe(v)
}

// LogHandler adds trace_id and span_id to every record logged with a
// context that holds a span (slog's ...Context methods), so that a log
// line leads to its trace.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(as)}
}

func (l logHandler) WithGroup(name string) slog.Handler { return logHandler{l.Handler.WithGroup(name)} }
