package gateway

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
)

// TestCallerCannotForceTracing: a caller's traceparent decides nothing
// unless tracing.honourCallerSampling: neither its flag nor its trace id,
// which the caller chooses too. An id whose last 8 bytes are zero is under
// every ratio (TraceIDRatioBased reads those bytes), one of all ones over
// it; sent 1,000 times with the flag that agrees, each is recorded about
// a tenth of the time at the ratio 0.1 (40 to 200 is more than ten
// standard deviations wide), not always or never.
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
	under := trace.TraceID{0: 1}
	over := trace.TraceID{15: 0xff, 14: 0xff, 13: 0xff, 12: 0xff, 11: 0xff, 10: 0xff, 9: 0xff, 8: 0x7f}
	for _, c := range []struct {
		name          string
		callerSampled bool
		id            trace.TraceID
	}{
		{"sampled, an id under the ratio", true, under},
		{"sampled, an id over it", true, over},
		{"not sampled, an id under the ratio", false, under},
		{"not sampled, an id over it", false, over},
	} {
		recorded := 0
		for range 1000 {
			if decide(false, c.callerSampled, c.id) == sdktrace.RecordAndSample {
				recorded++
			}
		}
		if recorded < 40 || recorded > 200 {
			t.Errorf("%s: %d of 1000 recorded, want about 100", c.name, recorded)
		}
	}
	// With honourCallerSampling the caller's flag decides.
	if got := decide(true, true, over); got != sdktrace.RecordAndSample {
		t.Errorf("honoured, sampled: %v", got)
	}
	if got := decide(true, false, under); got != sdktrace.Drop {
		t.Errorf("honoured, not sampled: %v", got)
	}
	// A trace begun here is decided by its (random) id, as before.
	root := func(id trace.TraceID) sdktrace.SamplingDecision {
		return sampler(config.Tracing{SampleRatio: &ratio}).ShouldSample(sdktrace.SamplingParameters{
			ParentContext: context.Background(), TraceID: id, Name: "POST /graphql", Kind: trace.SpanKindServer,
		}).Decision
	}
	if root(under) != sdktrace.RecordAndSample || root(over) != sdktrace.Drop {
		t.Errorf("a root span is not decided by its trace id")
	}
}
