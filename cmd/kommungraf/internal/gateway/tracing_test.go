package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/testenv"
	"github.com/kommungraf/kommungraf/sources/tracing"
)

// traceparentRecorder stands in front of a simulator and keeps the
// traceparent of every call it forwards.
type traceparentRecorder struct {
	srv    *httptest.Server
	target *url.URL
	mu     sync.Mutex
	seen   []string
}

func newTraceparentRecorder(t *testing.T) *traceparentRecorder {
	rec := &traceparentRecorder{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(rec.target) }}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Header.Get("traceparent"))
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// TestTracesFollowAnOperation: with tracing on, Q1 with its properties'
// pickups and Q2 are each one trace that continues the caller's
// traceparent: the server span, one graphql.operation, a loader.batch per
// batch (source, entity, keys, cache hits) and an upstream.call per call
// (REST, SOAP and SQL), each HTTP call's attempt below it, its traceparent
// sent on to the upstream, the simulators' 20 ms latency visible on
// every attempt. The access log line carries the trace id, the
// latency histogram an exemplar of it, and no span a personnummer.
func TestTracesFollowAnOperation(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
	rec := newTraceparentRecorder(t)
	var logs testenv.LogBuffer
	cfg := config.Demo()
	productionBatching(cfg)
	cfg.Sources.Declared["avfall"] = config.DeclaredSource{HTTPSource: config.HTTPSource{URL: rec.srv.URL}}
	d := serve(t, cfg, gateway.Options{
		Demo: true, World: testWorld(), TracerProvider: tp, DemoLatency: 20 * time.Millisecond,
		Logger: slog.New(tracing.LogHandler(slog.NewJSONHandler(&logs, nil))),
	})
	target, err := url.Parse(d.gw.Sim().URL("avfall"))
	if err != nil {
		t.Fatal(err)
	}
	rec.target = target

	for _, tc := range []struct {
		name, persona, query, traceID string
		sources                       []string // each must have an upstream.call
	}{
		{"Q1", "case-officer", q1Pickups, "4bf92f3577b34da6a3ce929d0e0e4736", []string{"etjanst", "geodata", "folkbokforing", "avfall"}},
		{"Q2", "preschool-admin", q2Small, "0af7651916cd43dd8448eb211c80319c", []string{"skoldatabas", "folkbokforing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			d.gw.Sim().Stats.Reset()
			remoteParent := "b7ad6b7169203331"
			body, _ := json.Marshal(map[string]any{"query": tc.query})
			req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+d.token(t, tc.persona))
			req.Header.Set("X-Request-Id", "traced-"+tc.name)
			req.Header.Set("traceparent", "00-"+tc.traceID+"-"+remoteParent+"-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var r response
			if err := json.Unmarshal(raw, &r); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d: %s", resp.StatusCode, raw)
			}
			for _, e := range r.Errors {
				if e.Extensions["code"] != "FORBIDDEN" {
					t.Fatalf("error: %+v", e)
				}
			}
			checkTrace(t, exp.GetSpans(), tc.traceID, remoteParent, tc.sources, d, "traced-"+tc.name)
		})
	}

	// The recorder saw the trace of Q1 on the pickups call.
	rec.mu.Lock()
	seen := strings.Join(rec.seen, " ")
	rec.mu.Unlock()
	if !strings.Contains(seen, "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
		t.Errorf("the waste-collection system got traceparents %q, want Q1's trace", seen)
	}

	// The access log line of each request carries its trace id.
	for _, id := range []string{"4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"} {
		if !regexp.MustCompile(`"msg":"http request".*"trace_id":"` + id + `"`).MatchString(logs.String()) {
			t.Errorf("no access log line with trace_id %s", id)
		}
	}

	// OpenMetrics: the request latency histogram's exemplar is a trace id.
	req, _ := http.NewRequest(http.MethodGet, d.srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`kommungraf_graphql_request_duration_seconds_bucket\{.*\} \d+ # \{.*trace_id="(4bf92f3577b34da6a3ce929d0e0e4736|0af7651916cd43dd8448eb211c80319c)"`).Match(metrics) {
		t.Error("no exemplar with a trace id on kommungraf_graphql_request_duration_seconds")
	}
	if !regexp.MustCompile(`kommungraf_upstream_call_duration_seconds_bucket\{.*\} \d+ # \{.*trace_id="`).Match(metrics) {
		t.Error("no exemplar on kommungraf_upstream_call_duration_seconds")
	}
}

// personnummerLike is twelve or ten digits, with or without the dash.
var personnummerLike = regexp.MustCompile(`\d{6,8}[-+]?\d{4}`)

func checkTrace(t *testing.T, spans tracetest.SpanStubs, traceID, remoteParent string, sources []string, d *demo, requestID string) {
	t.Helper()
	byID := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if got := s.SpanContext.TraceID().String(); got != traceID {
			t.Errorf("span %s is in trace %s, want the caller's %s", s.Name, got, traceID)
		}
		byID[s.SpanContext.SpanID().String()] = s
		for _, a := range s.Attributes {
			if personnummerLike.MatchString(a.Value.Emit()) {
				t.Errorf("span %s: attribute %s=%q looks like a personnummer", s.Name, a.Key, a.Value.Emit())
			}
		}
	}
	attr := func(s tracetest.SpanStub, key string) string {
		for _, a := range s.Attributes {
			if string(a.Key) == key {
				return a.Value.Emit()
			}
		}
		return ""
	}
	below := func(s tracetest.SpanStub, name string) bool { // s has an ancestor called name
		for p, ok := byID[s.Parent.SpanID().String()]; ok; p, ok = byID[p.Parent.SpanID().String()] {
			if p.Name == name {
				return true
			}
		}
		return false
	}
	count := map[string]int{}
	calls := map[string]int64{}
	var op tracetest.SpanStub
	for _, s := range spans {
		count[s.Name]++
		switch s.Name {
		case "POST /graphql":
			if s.Parent.SpanID().String() != remoteParent || !s.Parent.IsRemote() {
				t.Errorf("server span's parent %s, want the caller's %s", s.Parent.SpanID(), remoteParent)
			}
		case "graphql.operation":
			op = s
		case "loader.batch":
			if !below(s, "graphql.operation") || attr(s, "kommungraf.source") == "" || attr(s, "kommungraf.keys") == "" {
				t.Errorf("loader.batch %v: want it below the operation, with source and keys", s.Attributes)
			}
		case "upstream.call":
			if !below(s, "graphql.operation") {
				t.Errorf("upstream.call %v is not below the operation", s.Attributes)
			}
			calls[attr(s, "kommungraf.source")+" "+attr(s, "kommungraf.operation")]++
		case "HTTP GET", "HTTP POST":
			if p, ok := byID[s.Parent.SpanID().String()]; !ok || p.Name != "upstream.call" {
				t.Errorf("%s is not the attempt of an upstream.call", s.Name)
			}
			// The simulators answer after 20 ms: the span shows it.
			if d := s.EndTime.Sub(s.StartTime); d < 20*time.Millisecond {
				t.Errorf("%s to %s took %v in the trace, less than the simulators' 20 ms", s.Name, attr(s, "server.address"), d)
			}
		}
	}
	if count["POST /graphql"] != 1 || count["graphql.operation"] != 1 {
		t.Fatalf("spans %v: want one server span and one operation", count)
	}
	if byID[op.Parent.SpanID().String()].Name != "POST /graphql" {
		t.Errorf("the operation's parent is not the server span")
	}
	// One upstream.call span per call the simulators counted.
	for system, ops := range d.gw.Sim().Stats.Request(requestID) {
		for opName, st := range ops {
			if got := calls[system+" "+opName]; got != st.Calls {
				t.Errorf("%s %s: %d upstream.call spans, the simulator counted %d calls", system, opName, got, st.Calls)
			}
		}
	}
	for _, src := range sources {
		found := false
		for k := range calls {
			found = found || strings.HasPrefix(k, src+" ")
		}
		if !found {
			t.Errorf("no upstream.call span of %s (have %v)", src, calls)
		}
	}
	if count["HTTP GET"]+count["HTTP POST"] == 0 && len(sources) > 1 {
		t.Error("no HTTP attempt spans")
	}
	t.Logf("spans %v; upstream calls %v", count, calls)
}
