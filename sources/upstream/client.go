package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
	"golang.org/x/sync/semaphore"

	"github.com/kommungraf/kommungraf/sources/tracing"
)

// Options configures the client of one upstream system.
type Options struct {
	// Name identifies the upstream in metrics, logs and client-visible errors,
	// e.g. "folkbokforing".
	Name string
	// BaseURL is the upstream's root; request paths are resolved against it.
	BaseURL string
	// Timeout bounds one attempt, from sending the request to the last byte of
	// the body (default 3s).
	Timeout time.Duration
	// MaxBodyBytes caps a response body; a larger one is a bad response
	// (default 4 MiB).
	MaxBodyBytes int64
	// Retries is how many times an idempotent call is tried again after a
	// transient failure (default 2; negative means none).
	Retries int
	// RetryBackoff is the first wait between attempts; it grows exponentially
	// with jitter (default 50ms).
	RetryBackoff time.Duration
	// BreakerFailures is how many consecutive failed calls open the circuit
	// breaker (default 5).
	BreakerFailures uint32
	// BreakerOpen is how long an open breaker refuses calls before it lets a
	// probe through (default 10s).
	BreakerOpen time.Duration
	// MaxConcurrent bounds the calls to this upstream in flight at once,
	// across every request of the gateway (default 64). A call over the
	// bound waits its turn (kommungraf_upstream_queue_seconds); the wait
	// counts against the request's deadline, not the attempt's Timeout.
	MaxConcurrent int
	// Transport is the HTTP transport (default: a tuned clone of http.DefaultTransport).
	Transport http.RoundTripper
	// TLS is the default transport's TLS configuration (TLSFiles.Config):
	// the upstream's CA and the client certificate for mutual TLS.
	TLS *tls.Config
	// OAuth2, when set, puts a bearer token from its token endpoint on
	// every call (and on the readiness probe).
	OAuth2 *ClientCredentials
	// Metrics records calls; nil records nothing.
	Metrics *Metrics
	// Logger receives failure details that clients never see (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 50 * time.Millisecond
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpen <= 0 {
		o.BreakerOpen = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
}

// DefaultMaxConcurrent is Options.MaxConcurrent's default.
const DefaultMaxConcurrent = 64

// Request is one call to an upstream.
type Request struct {
	// Operation names the call in metrics and errors, e.g. "PersonpostXML".
	Operation string
	Method    string
	// Path is relative to the base URL and already escaped (use url.PathEscape
	// for every segment that carries a value).
	Path  string
	Query url.Values
	// RawQuery is an already escaped query, sent before Query's encoding:
	// for a template whose literal separators (the commas of ?ids=a,b,c)
	// url.Values would escape. Every value in it must have been escaped
	// by the caller (url.QueryEscape).
	RawQuery string
	Header   http.Header
	Body     []byte
	// Idempotent calls are retried after transient failures.
	Idempotent bool
	// Classify turns a response into nil (success) or an *Error. The default
	// accepts 2xx, maps 404 to NotFound, other 4xx to Rejected (429 to
	// Unavailable) and 5xx to Unavailable.
	Classify func(*Response) *Error
}

// Response is a fully read, size-capped upstream response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ContentType returns the media type without parameters, lower-cased.
func (r *Response) ContentType() string {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(ct))
}

// Client is the call stack of one upstream: breaker, retries, deadline, size cap.
type Client struct {
	opts    Options
	base    *url.URL
	http    *http.Client
	breaker *gobreaker.CircuitBreaker[*Response]
	slots   *semaphore.Weighted
}

// NewClient builds the client of one upstream.
func NewClient(opts Options) (*Client, error) {
	opts.defaults()
	if opts.Name == "" {
		return nil, errors.New("upstream: Name is required")
	}
	base, err := url.Parse(opts.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("upstream %s: base URL %q must be an absolute http(s) URL", opts.Name, opts.BaseURL)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	transport := opts.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Keep a connection for every call that may be in flight: with
		// the default 100 idle in all, a burst above 100 closed and
		// reopened the surplus after every round.
		t.MaxIdleConnsPerHost = max(64, opts.MaxConcurrent)
		t.MaxIdleConns = t.MaxIdleConnsPerHost
		t.ResponseHeaderTimeout = opts.Timeout
		if opts.TLS != nil {
			t.TLSClientConfig = opts.TLS
		}
		transport = t
	}
	if opts.OAuth2 != nil {
		if err := opts.OAuth2.Check(); err != nil {
			return nil, fmt.Errorf("upstream %s: %w", opts.Name, err)
		}
		if base.Scheme == "http" && !IsLoopback(base) {
			return nil, fmt.Errorf("upstream %s: base URL %q: a bearer token would travel in clear; want https", opts.Name, opts.BaseURL)
		}
		transport = &oauth2.Transport{Source: opts.OAuth2.tokenSource(opts.TLS, opts.Timeout), Base: transport}
	}
	c := &Client{opts: opts, base: base, slots: semaphore.NewWeighted(int64(opts.MaxConcurrent)), http: &http.Client{
		Transport: transport,
		// Upstreams are called by URL from configuration; a redirect elsewhere is not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	c.breaker = gobreaker.NewCircuitBreaker[*Response](gobreaker.Settings{
		Name:    opts.Name,
		Timeout: opts.BreakerOpen,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= opts.BreakerFailures
		},
		IsSuccessful: func(err error) bool {
			// Only failures of the upstream itself count against it: a
			// not-found or a rejected request is an answer.
			switch KindOf(err) {
			case 0, NotFound, Rejected:
				return true
			}
			return false
		},
		// A call its caller abandoned (gone, or out of its own time while
		// queued or waiting) is neither: it says nothing of the upstream.
		IsExcluded: func(err error) bool { return errors.Is(err, errBreakerNeutral) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			opts.Logger.Warn("upstream circuit breaker", "source", name, "from", from.String(), "to", to.String())
			opts.Metrics.breakerState(name, to)
		},
	})
	opts.Metrics.breakerState(opts.Name, gobreaker.StateClosed)
	return c, nil
}

// Name is the upstream's name.
func (c *Client) Name() string { return c.opts.Name }

// BaseURL is a copy of the upstream's root URL (its path ends in "/"):
// what a link in an answer must stay below to be followed.
func (c *Client) BaseURL() *url.URL {
	u := *c.base
	return &u
}

// errBreakerNeutral marks a call that the caller abandoned: neither success
// nor failure (gobreaker's IsExcluded).
var errBreakerNeutral = errors.New("call abandoned by caller")

// Do runs one call through the stack. The returned error is always an *Error.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	ctx, end := StartCall(ctx, c.opts.Name, req.Operation)
	resp, err := c.breaker.Execute(func() (*Response, error) { return c.withRetries(ctx, req) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = &Error{Source: c.opts.Name, Operation: req.Operation, Kind: Unavailable, Err: err}
	}
	var ue *Error
	if err != nil && !errors.As(err, &ue) {
		err = &Error{Source: c.opts.Name, Operation: req.Operation, Kind: Unavailable, Err: err}
	}
	c.opts.Metrics.observe(ctx, c.opts.Name, req.Operation, err, time.Since(start))
	end(err)
	if err != nil && KindOf(err) != NotFound {
		c.opts.Logger.WarnContext(ctx, "upstream call failed", "source", c.opts.Name, "operation", req.Operation, "error", err.Error())
	}
	return resp, err
}

func (c *Client) withRetries(ctx context.Context, req Request) (*Response, error) {
	tries := uint(1)
	if req.Idempotent {
		tries += uint(c.opts.Retries)
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.opts.RetryBackoff
	b.MaxInterval = 20 * c.opts.RetryBackoff
	resp, err := backoff.Retry(ctx, func() (*Response, error) {
		resp, err := c.attempt(ctx, req)
		if err != nil && (!retryable(err) || ctx.Err() != nil) {
			return nil, backoff.Permanent(err)
		}
		return resp, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(tries), backoff.WithMaxElapsedTime(0))
	if err != nil && ctx.Err() != nil && KindOf(err) == 0 {
		// The retry loop itself stopped on the caller's context.
		err = c.ctxError(ctx, req.Operation, ctx.Err())
	}
	if err != nil && ctx.Err() != nil {
		// The client went away, or its request ran out of time (queued
		// behind this replica's other work, or behind the upstream's
		// bound): do not hold it against the upstream. The attempt's own
		// timeout, shorter than a request's, is what counts a slow upstream.
		err = &Error{Source: c.opts.Name, Operation: req.Operation, Kind: KindOf(err), Err: errors.Join(err, errBreakerNeutral)}
	}
	return resp, err
}

func retryable(err error) bool {
	var ue *Error
	if !errors.As(err, &ue) || ue.permanent {
		return false
	}
	return ue.Kind == Unavailable || ue.Kind == Timeout
}

func (c *Client) ctxError(ctx context.Context, op string, err error) *Error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Source: c.opts.Name, Operation: op, Kind: Timeout, Err: err}
	}
	return &Error{Source: c.opts.Name, Operation: op, Kind: Unavailable, Err: err}
}

func (c *Client) attempt(parent context.Context, req Request) (*Response, error) {
	queued := time.Now()
	if err := c.slots.Acquire(parent, 1); err != nil {
		return nil, c.ctxError(parent, req.Operation, err)
	}
	defer c.slots.Release(1)
	c.opts.Metrics.queued(c.opts.Name, time.Since(queued))
	ctx, cancel := context.WithTimeout(parent, c.opts.Timeout)
	defer cancel()
	// The path arrives escaped; parsing base+path keeps that escaping, so a
	// value such as "../x" escaped by the caller stays one inert segment.
	u, err := url.Parse(c.base.String() + strings.TrimPrefix(req.Path, "/"))
	if err != nil {
		return nil, &Error{Source: c.opts.Name, Operation: req.Operation, Kind: Rejected, Err: err, permanent: true}
	}
	u.RawQuery = req.Query.Encode()
	if req.RawQuery != "" {
		if u.RawQuery != "" {
			u.RawQuery = req.RawQuery + "&" + u.RawQuery
		} else {
			u.RawQuery = req.RawQuery
		}
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, &Error{Source: c.opts.Name, Operation: req.Operation, Kind: Rejected, Err: err, permanent: true}
	}
	for k, vs := range req.Header {
		hreq.Header[k] = vs
	}
	if id := RequestIDFromContext(parent); id != "" {
		hreq.Header.Set("X-Request-Id", id)
	}
	// One client span per attempt; its context travels to the upstream as
	// the W3C traceparent. No URL on it: a query string may carry a
	// personnummer or a party id.
	ctx, span := tracing.Tracer().Start(ctx, "HTTP "+method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("server.address", u.Host)))
	defer span.End()
	hreq = hreq.WithContext(ctx)
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(hreq.Header))
	hresp, err := c.http.Do(hreq)
	if err != nil {
		err = withoutURL(err)
		e := c.tokenError(req.Operation, err)
		if e == nil {
			e = c.transportError(ctx, req.Operation, err)
		}
		endSpan(span, e)
		return nil, e
	}
	span.SetAttributes(attribute.Int("http.response.status_code", hresp.StatusCode))
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, c.opts.MaxBodyBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, c.ctxError(ctx, req.Operation, err)
		}
		return nil, &Error{Source: c.opts.Name, Operation: req.Operation, Kind: BadResponse, Err: fmt.Errorf("reading body: %w", err)}
	}
	if int64(len(data)) > c.opts.MaxBodyBytes {
		return nil, &Error{Source: c.opts.Name, Operation: req.Operation, Kind: BadResponse,
			Err: fmt.Errorf("body exceeds %d bytes", c.opts.MaxBodyBytes), permanent: true}
	}
	resp := &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: data}
	classify := req.Classify
	if classify == nil {
		classify = DefaultClassify
	}
	if e := classify(resp); e != nil {
		e.Source, e.Operation = c.opts.Name, req.Operation
		endSpan(span, e)
		return nil, e
	}
	return resp, nil
}

// StartCall starts the span of one call to an upstream's operation (an
// HTTP call with its attempts below it, or an SQL query); end records the
// outcome and ends it.
func StartCall(ctx context.Context, source, operation string) (_ context.Context, end func(error)) {
	ctx, span := tracing.Tracer().Start(ctx, "upstream.call", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(tracing.Source.String(source), tracing.Operation.String(operation)))
	return ctx, func(err error) {
		endSpan(span, err)
		span.End()
	}
}

// endSpan records a call's outcome on its span: the failure's kind, never
// its text (which may hold an upstream's fault string). A not-found is
// "ok", as in the metrics: the upstream answered, and a trace must not
// tell that a person hidden from the caller exists.
func endSpan(span trace.Span, err error) {
	if err == nil || KindOf(err) == NotFound {
		span.SetAttributes(tracing.Outcome.String("ok"))
		return
	}
	code := KindOf(err).Code()
	span.SetAttributes(tracing.Outcome.String(strings.ToLower(code)))
	span.SetStatus(codes.Error, code)
}

// withoutURL is a failed call's error with its URL cut to the scheme and
// host: Go's *url.Error names the whole URL, whose path and query carry
// the keys looked up (party ids, personnummer), and the error is logged.
func withoutURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	host := ""
	if u, perr := url.Parse(ue.URL); perr == nil {
		host = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	}
	return &url.Error{Op: ue.Op, URL: host, Err: ue.Err}
}

func (c *Client) transportError(ctx context.Context, op string, err error) *Error {
	var ne net.Error
	if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return c.ctxError(ctx, op, err)
	}
	return &Error{Source: c.opts.Name, Operation: op, Kind: Unavailable, Err: err}
}

// DefaultClassify accepts 2xx and maps other statuses to error kinds.
func DefaultClassify(r *Response) *Error {
	return StatusError(r.Status)
}

// StatusError maps an HTTP status to an error kind, or nil for 2xx.
func StatusError(status int) *Error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusNotFound:
		return &Error{Kind: NotFound, Err: fmt.Errorf("HTTP %d", status)}
	case status == http.StatusTooManyRequests:
		return &Error{Kind: Unavailable, Err: fmt.Errorf("HTTP %d", status)}
	case status >= 400 && status < 500:
		return &Error{Kind: Rejected, Err: fmt.Errorf("HTTP %d", status), permanent: true}
	case status >= 500:
		return &Error{Kind: Unavailable, Err: fmt.Errorf("HTTP %d", status)}
	}
	return &Error{Kind: BadResponse, Err: fmt.Errorf("unexpected HTTP %d", status), permanent: true}
}

// Ping checks that the upstream answers HTTP at all (any status below 500),
// bypassing the breaker, for readiness checks. path is relative to the base
// URL and may carry a query ("api/v1/errands?limit=1").
func (c *Client) Ping(ctx context.Context, path string) error {
	return c.PingWith(ctx, path, nil)
}

// PingWith is Ping sending header (the system's credentials) too. A 401 or
// 403 then fails the check: the upstream answers, but not to us.
func (c *Client) PingWith(ctx context.Context, path string, header http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	ref, err := url.Parse(strings.TrimPrefix(path, "/"))
	if err != nil {
		return fmt.Errorf("%s: probe path %q: %w", c.opts.Name, path, err)
	}
	u := c.base.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if e := c.tokenError("probe", err); e != nil {
			return e
		}
		return fmt.Errorf("%s: %w", c.opts.Name, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if header != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%s: HTTP %d: the upstream refuses the configured credentials", c.opts.Name, resp.StatusCode)
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%s: HTTP %d", c.opts.Name, resp.StatusCode)
	}
	return nil
}

// BreakerState reports the circuit breaker's state ("closed", "open", "half-open").
func (c *Client) BreakerState() string { return c.breaker.State().String() }
