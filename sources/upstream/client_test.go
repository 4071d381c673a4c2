package upstream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestClient(t *testing.T, h http.Handler, mod func(*Options)) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts := Options{Name: "test", BaseURL: srv.URL, Timeout: 200 * time.Millisecond, RetryBackoff: time.Millisecond, Logger: quietLogger()}
	if mod != nil {
		mod(&opts)
	}
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientClassifiesFailures(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	tests := []struct {
		name    string
		handler http.HandlerFunc
		kind    Kind
		calls   int64 // upstream calls including retries
	}{
		{"ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") }, 0, 1},
		{"not found is not retried", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, NotFound, 1},
		{"4xx is rejected, not retried", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) }, Rejected, 1},
		{"5xx is retried then unavailable", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, Unavailable, 3},
		{"slow answer is a timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}, Timeout, 3},
		{"body over the cap is bad", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(strings.Repeat("x", 2048)))
		}, BadResponse, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tc.handler(w, r)
			}), func(o *Options) { o.MaxBodyBytes = 1024; o.Timeout = 50 * time.Millisecond })
			resp, err := c.Do(context.Background(), Request{Operation: "op", Path: "x", Idempotent: true})
			if got := KindOf(err); got != tc.kind {
				t.Fatalf("kind = %v (%v), want %v", got, err, tc.kind)
			}
			if tc.kind == 0 && string(resp.Body) != "fine" {
				t.Fatalf("body = %q", resp.Body)
			}
			if got := calls.Load(); got != tc.calls {
				t.Fatalf("upstream saw %d calls, want %d", got, tc.calls)
			}
		})
	}
}

func TestClientNonIdempotentIsNotRetried(t *testing.T) {
	var calls atomic.Int64
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(502)
	}), nil)
	_, err := c.Do(context.Background(), Request{Operation: "op", Method: http.MethodPost, Path: "x"})
	if KindOf(err) != Unavailable || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls; want Unavailable after 1", err, calls.Load())
	}
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	var healthy atomic.Bool
	var calls atomic.Int64
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !healthy.Load() {
			w.WriteHeader(500)
		}
	}), func(o *Options) { o.Retries = -1; o.BreakerFailures = 3; o.BreakerOpen = 50 * time.Millisecond })
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Do(ctx, Request{Operation: "op"}); KindOf(err) != Unavailable {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if c.BreakerState() != "open" {
		t.Fatalf("breaker %s after 3 failures, want open", c.BreakerState())
	}
	before := calls.Load()
	if _, err := c.Do(ctx, Request{Operation: "op"}); KindOf(err) != Unavailable {
		t.Fatalf("open breaker: %v", err)
	}
	if calls.Load() != before {
		t.Fatal("an open breaker must not call the upstream")
	}
	healthy.Store(true)
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := c.Do(ctx, Request{Operation: "op"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("breaker did not recover: %v", err)
		}
		runtime.Gosched()
	}
	if c.BreakerState() != "closed" {
		t.Fatalf("breaker %s after recovery", c.BreakerState())
	}
}

func TestNotFoundDoesNotOpenBreaker(t *testing.T) {
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }),
		func(o *Options) { o.BreakerFailures = 2 })
	for i := 0; i < 5; i++ {
		_, _ = c.Do(context.Background(), Request{Operation: "op"})
	}
	if c.BreakerState() != "closed" {
		t.Fatalf("breaker %s after not-founds", c.BreakerState())
	}
}

func TestPathEscapingKeepsValuesInert(t *testing.T) {
	var got string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath() + "?" + r.URL.RawQuery
	}), nil)
	_, err := c.Do(context.Background(), Request{Operation: "op", Path: "items/" + url.PathEscape("../admin?x=1"), Query: map[string][]string{"q": {"a&b=c"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/items/..%2Fadmin%3Fx=1?q=a%26b%3Dc"; got != want {
		t.Fatalf("upstream saw %q, want %q", got, want)
	}
}

func TestDecodeXMLRefusesDirectives(t *testing.T) {
	var v struct{ A string }
	err := DecodeXML([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x><A>&e;</A></x>`), &v)
	if !errors.Is(err, ErrXMLDirective) {
		t.Fatalf("err = %v, want ErrXMLDirective", err)
	}
	if err := DecodeXML([]byte(`<x><A>ok</A></x>`), &v); err != nil || v.A != "ok" {
		t.Fatalf("plain XML: %v %q", err, v.A)
	}
}

// TestPingSendsItsQuery: a probe path with a query reaches the upstream as a
// path and a query, not as one escaped path (which answered 404 and counted
// as "answers" without asking what the probe meant to ask).
func TestPingSendsItsQuery(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path + "|" + r.URL.RawQuery
	}))
	defer srv.Close()
	c, err := NewClient(Options{Name: "probe", BaseURL: srv.URL + "/base/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background(), "api/v1/errands?limit=1"); err != nil {
		t.Fatal(err)
	}
	if got != "/base/api/v1/errands|limit=1" {
		t.Errorf("probe reached %q, want /base/api/v1/errands|limit=1", got)
	}
}

// TestPingWithSendsTheCredentials: a declared system's readiness probe
// carries its credentials, and an upstream that refuses them fails the
// check instead of passing as "answers".
func TestPingWithSendsTheCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "right" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	c, err := NewClient(Options{Name: "probe", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.PingWith(ctx, "health", http.Header{"X-Api-Key": {"right"}}); err != nil {
		t.Errorf("right key: %v", err)
	}
	if err := c.PingWith(ctx, "health", http.Header{"X-Api-Key": {"wrong"}}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v, want an HTTP 401 failure", err)
	}
	if err := c.Ping(ctx, "health"); err != nil {
		t.Errorf("plain Ping counts any answer below 500: %v", err)
	}
}

// TestFailuresDoNotLogTheURL: a call that fails in transport (a timeout, a
// refused connection) is logged with its error, and Go's error names the
// URL, whose query and path carry keys such as party ids and personnummer.
// The logged error, and the error returned, keep the host only.
func TestFailuresDoNotLogTheURL(t *testing.T) {
	const secret = "198001011234"
	for name, h := range map[string]http.HandlerFunc{
		"timeout": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
		"refused": nil,
	} {
		t.Run(name, func(t *testing.T) {
			var log strings.Builder
			var c *Client
			if h == nil {
				srv := httptest.NewServer(http.NotFoundHandler())
				srv.Close() // nothing listens any more: the dial is refused
				var err error
				c, err = NewClient(Options{Name: "test", BaseURL: srv.URL, Timeout: 50 * time.Millisecond, RetryBackoff: time.Millisecond,
					Logger: slog.New(slog.NewTextHandler(&log, nil))})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				c = newTestClient(t, h, func(o *Options) {
					o.Timeout = 50 * time.Millisecond
					o.Logger = slog.New(slog.NewTextHandler(&log, nil))
				})
			}
			_, err := c.Do(context.Background(), Request{Operation: "op", Path: "persons/" + secret,
				Query: url.Values{"partyId": {secret}}, Idempotent: true})
			if err == nil {
				t.Fatal("the call did not fail")
			}
			if !strings.Contains(log.String(), "upstream call failed") {
				t.Fatalf("no failure logged: %s", log.String())
			}
			if strings.Contains(log.String(), secret) || strings.Contains(err.Error(), secret) {
				t.Errorf("the URL's personal data is in the log or the error:\nlog: %s\nerror: %v", log.String(), err)
			}
		})
	}
}

// TestAbandonedCallsLeaveTheBreakerAlone: calls whose callers went away, or
// whose requests ran out of their own time while the upstream was still
// within its attempt timeout, say nothing of the upstream: many of them do
// not open the breaker (under overload a replica's own queue would
// otherwise cut every request off from a healthy upstream). Calls the
// attempt's own timeout ends do open it.
func TestAbandonedCallsLeaveTheBreakerAlone(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), func(o *Options) {
		o.Retries, o.BreakerFailures, o.Timeout = -1, 3, 300*time.Millisecond
	})
	for i := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond) // the request's deadline
		_, err := c.Do(ctx, Request{Operation: "op", Idempotent: true})
		cancel()
		if err == nil {
			t.Fatalf("call %d answered", i)
		}
		ctx, cancel = context.WithCancel(context.Background())
		go cancel() // the client goes away
		_, _ = c.Do(ctx, Request{Operation: "op", Idempotent: true})
	}
	if s := c.BreakerState(); s != "closed" {
		t.Fatalf("breaker %s after 20 abandoned calls, want closed", s)
	}
	for range 3 { // the attempt's own 300 ms run out: the upstream is slow
		if _, err := c.Do(context.Background(), Request{Operation: "op", Idempotent: true}); KindOf(err) != Timeout {
			t.Fatalf("slow upstream: %v, want a timeout", err)
		}
	}
	if s := c.BreakerState(); s != "open" {
		t.Fatalf("breaker %s after 3 attempt timeouts, want open", s)
	}
}
