package gateway

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
)

// TestCallerCannotForceTracing: a caller's traceparent that says "sampled"
// does not make the gateway record a trace its ratio would not, nor does
// "not sampled" hide one it would, unless tracing.honourCallerSampling.
func TestCallerCannotForceTracing(t *testing.T) {
	ratio := 0.1
	decide := func(honour, callerSampled bool, id trace.TraceID) sdktrace.SamplingDecision {
		flags := trace.TraceFlags(0)
		if callerSampled {
			flags = trace.FlagsSampled
		}
		parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: id, SpanID: trace.SpanID{1}, TraceFlags: flags, Remote: true})
		s := sampler(config.Tracing{SampleRatio: &ratio, HonourCallerSampling: honour})
		return s.ShouldSample(sdktrace.SamplingParameters{
			ParentContext: trace.ContextWithRemoteSpanContext(context.Background(), parent),
			TraceID:       id, Name: "POST /graphql", Kind: trace.SpanKindServer,
		}).Decision
	}
	// TraceIDRatioBased reads the id's last 8 bytes: all ones is never
	// under 0.1, all zeros always is.
	dropped := trace.TraceID{15: 0xff, 14: 0xff, 13: 0xff, 12: 0xff, 11: 0xff, 10: 0xff, 9: 0xff, 8: 0x7f}
	kept := trace.TraceID{0: 1}
	cases := []struct {
		honour, callerSampled bool
		id                    trace.TraceID
		want                  sdktrace.SamplingDecision
	}{
		{false, true, dropped, sdktrace.Drop},
		{false, false, kept, sdktrace.RecordAndSample},
		{false, false, dropped, sdktrace.Drop},
		{false, true, kept, sdktrace.RecordAndSample},
		{true, true, dropped, sdktrace.RecordAndSample},
		{true, false, kept, sdktrace.Drop},
	}
	for _, c := range cases {
		if got := decide(c.honour, c.callerSampled, c.id); got != c.want {
			t.Errorf("honour=%v callerSampled=%v id=%s: %v, want %v", c.honour, c.callerSampled, c.id, got, c.want)
		}
	}
}
