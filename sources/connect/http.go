package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// KeyErrors carries the failures of some keys of a Fetch whose other keys
// were answered (the one-key form fans out, and one call can fail alone).
type KeyErrors map[string]error

func (k KeyErrors) Error() string {
	for _, err := range k {
		return fmt.Sprintf("%d key(s) failed, e.g.: %v", len(k), err)
	}
	return "no keys failed"
}

// HTTPOptions configure an HTTP connector.
type HTTPOptions struct {
	// Resource is the declaration: its http part, fields and by (required).
	Resource *declare.Resource
	// Client is the system's upstream stack: deadline, body cap, retries,
	// breaker, the system's concurrency bound, metrics (required).
	Client *upstream.Client
	// Header is sent with every call: the upstream's credentials, which
	// the gateway takes from the environment (an API key header).
	Header http.Header
}

// HTTP is the connector of one declared HTTP resource.
type HTTP struct {
	res    *declare.Resource
	up     *upstream.Client
	header http.Header
	// path and query are the call template split at "?"; the placeholder
	// sits in query (batch form) or in path (one form), or in a POST's body.
	path, query string
	batch       bool
	maxKeys     int
	// xml says the bodies are XML (xmlTree), not JSON.
	xml bool
	// args are the arguments and parent fields its template uses
	// ({args.<name>}, {parent.<field>}, args.go): its keys are then
	// declare.ArgsKeys.
	args []declare.ArgRef
	// post says the call is a POST of body (body.go), retried only when
	// idempotent; vals are the values of its arguments and parent fields
	// (withArgs).
	post, idempotent bool
	body             *declare.BodyNode
	vals             url.Values
}

// NewHTTP builds the connector of a declared HTTP resource.
func NewHTTP(opts HTTPOptions) (*HTTP, error) {
	r := opts.Resource
	switch {
	case r == nil || r.HTTP == nil:
		return nil, errors.New("connect: an HTTP connector needs a resource with an http part")
	case opts.Client == nil:
		return nil, fmt.Errorf("connect: %s: an HTTP connector needs the system's upstream client", r.FullName())
	case r.HTTP.Format != "json" && r.HTTP.Format != "xml":
		return nil, declErr([]string{"http", "format"}, "%q: want json or xml", r.HTTP.Format)
	}
	h := &HTTP{res: r, up: opts.Client, header: opts.Header.Clone(), xml: r.HTTP.Format == "xml"}
	if h.header == nil {
		h.header = http.Header{}
	}
	if h.xml {
		h.header.Set("Accept", "application/xml, text/xml;q=0.9, application/problem+json;q=0.5")
	} else {
		h.header.Set("Accept", "application/json, application/problem+json;q=0.9")
	}
	c := r.HTTP.One
	if r.HTTP.Batch != nil {
		c, h.batch, h.maxKeys = r.HTTP.Batch, true, r.HTTP.Batch.MaxKeys
	}
	if c.Post != "" {
		if c.Body == nil || h.xml && !xmlRooted(c.Body) {
			form := "one"
			if h.batch {
				form = "batch"
			}
			return nil, declErr([]string{"http", form, "post"}, "a POST needs a body; a format: xml resource's is a mapping of one root element")
		}
		h.post, h.idempotent, h.body = true, c.Idempotent, c.Body
		if h.xml {
			h.header.Set("Content-Type", "application/xml; charset=utf-8")
		} else {
			h.header.Set("Content-Type", "application/json")
		}
	}
	h.path, h.query, _ = strings.Cut(c.Template(), "?")
	h.args = r.Args()
	return h, nil
}

// Paging is the declared paging of a listing resource, else nil.
func (h *HTTP) Paging() *declare.Page { return h.res.HTTP.Page }

// MaxKeys is the batch form's cap, 0 for the one-key form (every key is a
// call of its own, bounded by the system's maxConcurrent).
func (h *HTTP) MaxKeys() int { return h.maxKeys }

// Fetch answers keys with records: one call for the batch form, a call per
// key, all at once, for the one-key form. JSON bodies keep their numbers as
// written (json.Number); an XML body is read into the same shape
// (xmlTree), its values strings.
func (h *HTTP) Fetch(ctx context.Context, keys []string) (map[string][]Record, error) {
	if len(h.args) > 0 && h.res.HTTP.Page == nil {
		return h.fetchArgs(ctx, keys)
	}
	keys = sendable(keys)
	if len(keys) == 0 {
		return map[string][]Record{}, nil
	}
	if h.batch {
		if h.maxKeys > 0 && len(keys) > h.maxKeys {
			return nil, upstream.Permanent(upstream.Errorf(h.up.Name(), h.res.Name, upstream.Rejected, "%d keys in one call, at most %d", len(keys), h.maxKeys))
		}
		if h.post || !slices.ContainsFunc(keys, hasComma) {
			// A POST's keys are a JSON array: a comma is a key's own.
			return h.fetchBatch(ctx, keys)
		}
		return h.fetchApart(ctx, keys)
	}
	if h.res.HTTP.Page != nil {
		return h.fetchWindows(ctx, keys)
	}
	// A dot segment names no record, and however it is escaped an upstream
	// that normalizes its paths reads it as one (%2E%2E is "..", RFC 3986
	// §6.2.2): it is not found, without a call.
	if strings.Contains(h.path, "{key}") {
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == "." || k == ".." })
	}
	if len(keys) == 0 {
		return map[string][]Record{}, nil
	}
	return h.fetchEach(ctx, keys)
}

func (h *HTTP) fetchBatch(ctx context.Context, keys []string) (map[string][]Record, error) {
	var body any
	var err error
	if h.post {
		body, err = h.request(ctx, h.path, h.query, h.payload(keys, ""), true)
	} else {
		escaped := make([]string, len(keys))
		for i, k := range keys {
			escaped[i] = url.QueryEscape(k)
		}
		raw := strings.Replace(h.query, "{keys}", strings.Join(escaped, ","), 1)
		body, err = h.request(ctx, h.path, raw, nil, true)
	}
	if err != nil {
		return nil, err
	}
	recs, err := h.records(body)
	if err != nil {
		return nil, err
	}
	wanted := make(map[string]bool, len(keys))
	for _, k := range keys {
		wanted[k] = true
	}
	out := make(map[string][]Record, len(keys))
	for _, rec := range recs {
		// A record is its key's only if the key was asked for: an upstream
		// that reads a hostile key as two (a comma escaped or not) cannot
		// hand another key's records to it.
		k, ok := keyOf(rec[h.res.By])
		if !ok || !wanted[k] {
			continue
		}
		if !h.res.List && len(out[k]) > 0 {
			continue // one record per key: the first
		}
		out[k] = append(out[k], rec)
	}
	return out, nil
}

func hasComma(k string) bool { return strings.Contains(k, ",") }

// fetchApart sends each key with a comma in a batch call of its own, and
// the other keys together. Escaped or not, an upstream that splits the list
// after decoding reads such a key as several: it must not push the
// innocent keys' call over the upstream's limit, or make it fail at all.
func (h *HTTP) fetchApart(ctx context.Context, keys []string) (map[string][]Record, error) {
	groups := [][]string{slices.DeleteFunc(slices.Clone(keys), hasComma)}
	for _, k := range keys {
		if hasComma(k) {
			groups = append(groups, []string{k})
		}
	}
	var mu sync.Mutex
	out := make(map[string][]Record, len(keys))
	failed := KeyErrors{}
	var g errgroup.Group
	for _, group := range groups {
		if len(group) == 0 {
			continue
		}
		g.Go(func() error {
			recs, err := h.fetchBatch(ctx, group)
			mu.Lock()
			defer mu.Unlock()
			for k, v := range recs {
				out[k] = v
			}
			if err != nil {
				for _, k := range group {
					failed[k] = err
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	if len(failed) == len(keys) {
		for _, err := range failed {
			return nil, err // every key failed: the call, not a key
		}
	}
	if len(failed) > 0 {
		return out, failed
	}
	return out, nil
}

func (h *HTTP) fetchEach(ctx context.Context, keys []string) (map[string][]Record, error) {
	return h.fanOut(ctx, keys, h.fetchOne)
}

// fanOut answers each key with calls of its own, all at once: a key
// not found is absent, a key whose calls failed fails alone.
func (h *HTTP) fanOut(ctx context.Context, keys []string, fetch func(context.Context, string) ([]Record, error)) (map[string][]Record, error) {
	var mu sync.Mutex
	out := make(map[string][]Record, len(keys))
	failed := KeyErrors{}
	var g errgroup.Group
	for _, k := range keys {
		g.Go(func() error {
			recs, err := fetch(ctx, k)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case upstream.IsNotFound(err):
			case err != nil:
				failed[k] = err
			case len(recs) > 0:
				out[k] = recs
			}
			return nil
		})
	}
	_ = g.Wait()
	if len(failed) == len(keys) {
		for _, err := range failed {
			return nil, err // every key failed alike: the call, not a key
		}
	}
	if len(failed) > 0 {
		return out, failed
	}
	return out, nil
}

func (h *HTTP) fetchOne(ctx context.Context, key string) ([]Record, error) {
	var payload []byte
	if h.post {
		payload = h.payload(nil, key)
	}
	body, err := h.request(ctx, strings.Replace(h.path, "{key}", pathSegment(key), 1), h.query, payload, false)
	if err != nil {
		return nil, err
	}
	recs, err := h.records(body)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, rec := range recs {
		if h.res.By != "" {
			if k, ok := keyOf(rec[h.res.By]); !ok || k != key {
				continue
			}
		}
		out = append(out, rec)
		if !h.res.List {
			break
		}
	}
	return out, nil
}

// pathSegment escapes a key into one path segment that cannot climb or
// carry meaning: every byte but RFC 3986's unreserved ones is
// percent-encoded (url.PathEscape keeps sub-delimiters such as & and ;),
// and "." and ".." are spelled out.
func pathSegment(key string) string {
	switch key {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// request makes the call, a GET or a POST of payload, and returns the
// answer's body, decoded. Statuses map to upstream error kinds; a
// problem+json body goes to the log as its title only. A POST is retried
// only when the declaration says it is idempotent.
func (h *HTTP) request(ctx context.Context, path, rawQuery string, payload []byte, batch bool) (any, error) {
	method, idempotent := http.MethodGet, true
	if h.post {
		method, idempotent = http.MethodPost, h.idempotent
	}
	resp, err := h.up.Do(ctx, upstream.Request{
		Operation: h.res.Name, Method: method, Path: path, RawQuery: rawQuery, Body: payload,
		Header: h.header, Idempotent: idempotent,
		Classify: func(r *upstream.Response) *upstream.Error {
			e := upstream.StatusError(r.Status)
			if e == nil {
				return nil
			}
			if batch && r.Status == http.StatusNotFound {
				// A batch call names no one entity: its 404 says the path is wrong.
				e = upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: errors.New("the batch form answered HTTP 404: is its path right?")})
			}
			if title := problemTitle(r); title != "" {
				e.Err = fmt.Errorf("%w: problem %q", e.Err, title)
			}
			return e
		},
	})
	if err != nil {
		return nil, err
	}
	ct := resp.ContentType()
	if h.xml {
		if ct != "application/xml" && ct != "text/xml" && !strings.HasSuffix(ct, "+xml") {
			return nil, upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "unexpected content type %q", ct)
		}
		body, err := xmlTree(resp.Body)
		if err != nil {
			return nil, upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "decoding answer: %v", err)
		}
		return body, nil
	}
	if ct != "application/json" && !strings.HasSuffix(ct, "+json") {
		return nil, upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "unexpected content type %q", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(resp.Body))
	dec.UseNumber() // numbers stay as written, for the scalars' unmarshalers
	var body any
	if err := dec.Decode(&body); err != nil {
		return nil, upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "decoding answer: %v", err)
	}
	return body, nil
}

// problemTitle is the title of a problem+json body, clipped, for the log.
func problemTitle(r *upstream.Response) string {
	if r.ContentType() != "application/problem+json" {
		return ""
	}
	var p struct {
		Title string `json:"title"`
	}
	if json.Unmarshal(r.Body, &p) != nil {
		return ""
	}
	if len(p.Title) > 100 {
		return p.Title[:100] + "…"
	}
	return p.Title
}

// records finds the record array (or the one record) in a body and maps
// each record's fields to the schema's names.
func (h *HTTP) records(body any) ([]Record, error) {
	v, ok := at(body, h.res.HTTP.Records)
	if !ok && h.xml && noChildren(body, h.res.HTTP.Records) {
		return nil, nil // XML has no empty list: <pickups/> holds no pickup
	}
	if !ok {
		return nil, upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "no %q in the answer", strings.Join(h.res.HTTP.Records, "."))
	}
	var raw []any
	switch v := v.(type) {
	case []any:
		raw = v
	case map[string]any:
		raw = []any{v}
	case nil:
		return nil, nil
	default:
		return nil, upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "records are a %T, not a list of objects", v)
	}
	out := make([]Record, 0, len(raw))
	for _, item := range raw {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "a record is a %T, not an object", item)
		}
		out = append(out, Map(h.res.Fields, obj))
	}
	return out, nil
}

// Map selects a record's declared fields under their schema names; a path
// the record does not have leaves its field out (null). A nested part's
// value is mapped the same way: the object at its path (obj itself without
// a path) as an object, each object of a list as one; an object that has
// none of the part's fields is null; a value at its path that is neither
// is kept as it is, for the decoder to refuse as the wrong type. (An XML
// body's element that occurs once is an object where a list is declared:
// the generated decoder reads it as a list of one.)
func Map(fields []declare.FieldMap, obj map[string]any) Record {
	rec := make(Record, len(fields))
	for _, f := range fields {
		v, ok := at(obj, f.Path)
		if !ok || v == nil {
			continue
		}
		if f.Nested {
			v = mapNested(f.Fields, v)
			if m, ok := v.(Record); ok && len(m) == 0 {
				continue // none of its fields: null, as SOAP's and SQL's (nilEmptyObjects)
			}
		}
		rec[f.Name] = v
	}
	return rec
}

// mapNested maps a nested part's value: an object, or a list of them.
func mapNested(fields []declare.FieldMap, v any) any {
	switch v := v.(type) {
	case map[string]any:
		return Map(fields, v)
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			if m, ok := item.(map[string]any); ok {
				out[i] = Map(fields, m)
			} else {
				out[i] = item
			}
		}
		return out
	}
	return v
}

// at walks a dotted path through objects.
func at(v any, path []string) (any, bool) {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// noChildren says the element holding an XML body's records (the path
// but its last step) is there without child elements: empty, or only
// attributes; its records, never repeated, are none.
func noChildren(body any, path []string) bool {
	if len(path) == 0 {
		return false
	}
	switch v, _ := at(body, path[:len(path)-1]); v := v.(type) {
	case string:
		return v == ""
	case map[string]any:
		for k := range v {
			if !strings.HasPrefix(k, "@") {
				return false
			}
		}
		return true
	}
	return false
}

// keyOf turns a record's key field into the key it answers: a string, or a
// whole number as the loaders would have asked for it.
func keyOf(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, v != ""
	case json.Number:
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return string(v), true
		}
	}
	return "", false
}

// Interface guards.
var (
	_ Connector = (*HTTP)(nil)
	_ error     = KeyErrors(nil)
)
