// Package rest is the REST connector: JSON and XML answers decoded into the
// same domain models, application/problem+json errors, and upstream pagination
// (limit/page, OGC limit/offset) hidden behind offsets the GraphQL layer turns
// into Relay cursors. It holds the clients of the e-service platform and the
// property register.
package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/kommungraf/kommungraf/sources/upstream"
)

// client decodes REST answers on top of the shared upstream stack.
type client struct {
	up *upstream.Client
}

// newClient builds the stack of one REST upstream, named name unless the
// options say otherwise.
func newClient(name string, opts upstream.Options) (client, error) {
	if opts.Name == "" {
		opts.Name = name
	}
	up, err := upstream.NewClient(opts)
	return client{up: up}, err
}

// get fetches path and decodes the answer into out by its content type.
func (c *client) get(ctx context.Context, op, path string, q url.Values, out any) error {
	resp, err := c.up.Do(ctx, upstream.Request{
		Operation: op, Method: http.MethodGet, Path: path, Query: q, Idempotent: true,
		Header:   http.Header{"Accept": {"application/json, application/geo+json, application/xml;q=0.9"}},
		Classify: classifyProblem,
	})
	if err != nil {
		return err
	}
	return c.decode(op, resp, out)
}

// post sends a JSON body. Lookups are safe to repeat, so the caller says
// whether the call is idempotent.
func (c *client) post(ctx context.Context, op, path string, body any, idempotent bool, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return upstream.Permanent(upstream.Errorf(c.up.Name(), op, upstream.Rejected, "encoding request: %w", err))
	}
	resp, err := c.up.Do(ctx, upstream.Request{
		Operation: op, Method: http.MethodPost, Path: path, Body: b, Idempotent: idempotent,
		Header:   http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		Classify: classifyProblem,
	})
	if err != nil {
		return err
	}
	return c.decode(op, resp, out)
}

// decode picks JSON or XML by the answer's media type; anything else (an HTML
// error page from a proxy, say) is a bad response.
func (c *client) decode(op string, resp *upstream.Response, out any) error {
	ct := resp.ContentType()
	var err error
	switch {
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		err = json.Unmarshal(resp.Body, out)
	case ct == "application/xml" || ct == "text/xml" || strings.HasSuffix(ct, "+xml"):
		err = upstream.DecodeXML(resp.Body, out)
	default:
		err = fmt.Errorf("unexpected content type %q", ct)
	}
	if err != nil {
		return upstream.Errorf(c.up.Name(), op, upstream.BadResponse, "decoding answer: %w", err)
	}
	return nil
}

// classifyProblem maps the status like the default and keeps the problem's
// title for the log (never for the client).
func classifyProblem(r *upstream.Response) *upstream.Error {
	e := upstream.StatusError(r.Status)
	if e == nil {
		return nil
	}
	if r.ContentType() == "application/problem+json" {
		var p Problem
		if json.Unmarshal(r.Body, &p) == nil && p.Title != "" {
			e.Err = fmt.Errorf("%w: problem %q: %s", e.Err, p.Title, p.Detail)
		}
	}
	return e
}

// chunked asks for keys in calls of at most size keys each. The calls of one
// batch are issued together and the batch waits for all of them, so a batch
// larger than an upstream's cap still answers as one level (the upstream's
// MaxConcurrent bounds them like any other call). The first failure fails
// the batch.
func chunked[V any](ctx context.Context, keys []string, size int, fetch func(ctx context.Context, chunk []string, out func(string, V)) error) (map[string]V, error) {
	out := make(map[string]V, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if len(keys) <= size {
		err := fetch(ctx, keys, func(k string, v V) { out[k] = v })
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for start := 0; start < len(keys); start += size {
		chunk := keys[start:min(start+size, len(keys))]
		g.Go(func() error {
			return fetch(gctx, chunk, func(k string, v V) {
				mu.Lock()
				out[k] = v
				mu.Unlock()
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
