package opendata

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/ratelimit"
	"github.com/kommungraf/kommungraf/resolvers"
	"github.com/kommungraf/kommungraf/sources/rest"
)

// Paging by the profile: page from 1, DefaultLimit rows unless limit says,
// at most MaxLimit (the GraphQL connections' own maximum).
const (
	DefaultLimit = 20
	MaxLimit     = resolvers.MaxPageSize
	// maxOffset bounds (page-1)*limit, as the GraphQL cursors do.
	maxOffset = 1 << 30
)

// writeProblem answers with an RFC 9457 problem: type, title, status,
// detail and instance (the request's path and query).
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rest.Problem{
		Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Instance: r.URL.RequestURI(),
	})
}

// rateLimit spends one request of the client address's budget (an IPv6
// client's /64), then one of the public's, which the anonymous callers of
// /graphql spend too; over either, 429 with Retry-After. The headers are
// the /graphql limits' (IETF draft): the address's budget.
func (s *Service) rateLimit(next http.Handler) http.Handler {
	if s.opts.Limiter == nil {
		return next
	}
	lim := s.opts.PerClient
	window := max(int(math.Ceil(float64(lim.Burst)*lim.Period.Seconds()/float64(lim.Rate))), 1)
	public := ratelimit.ClientKey(authz.AnonymousPrincipal().Client)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := s.opts.Limiter.Allow(r.Context(), "open", "rl:open:"+ratelimit.AddressKey(r.RemoteAddr), lim)
		whose := "this client address"
		if res.Allowed {
			if pub := s.opts.Limiter.Allow(r.Context(), ratelimit.PolicyClient, public, s.opts.Public); !pub.Allowed {
				res.Allowed, res.RetryAfter, whose = false, pub.RetryAfter, "the public (every anonymous caller)"
			}
		}
		t := int(math.Ceil(res.ResetAfter.Seconds()))
		if !res.Allowed {
			t = max(int(math.Ceil(res.RetryAfter.Seconds())), 1)
		}
		h := w.Header()
		h.Set("RateLimit-Policy", fmt.Sprintf(`"open";q=%d;w=%d`, lim.Burst, window))
		h.Set("RateLimit", fmt.Sprintf(`"open";r=%d;t=%d`, res.Remaining, t))
		if !res.Allowed {
			h.Set("Retry-After", strconv.Itoa(t))
			writeProblem(w, r, http.StatusTooManyRequests, fmt.Sprintf("rate limit of %s exceeded; retry after %d s", whose, t))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// base is the absolute URL the gateway is reached at.
func (s *Service) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// writeBody answers 200 with a JSON body, its ETag, and Cache-Control;
// 304 when If-None-Match names the ETag. Without openData.baseUrl the
// links in a body are made from the request's Host, which the caller
// writes: the answer then varies by Host, so that a shared cache keyed
// without it does not serve one caller's links to the next.
func (s *Service) writeBody(w http.ResponseWriter, r *http.Request, contentType string, body []byte, maxAgeSeconds int) {
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAgeSeconds))
	if s.opts.BaseURL == "" {
		h.Set("Vary", "Accept, Origin, Host")
	} else {
		h.Set("Vary", "Accept, Origin")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && matchesETag(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// matchesETag is If-None-Match's weak comparison (RFC 9110 13.1.2).
func matchesETag(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if part == "*" || part == etag {
			return true
		}
	}
	return false
}

func (s *Service) writeJSONBody(w http.ResponseWriter, r *http.Request, v any, maxAgeSeconds int) {
	var buf bytes.Buffer
	if err := newJSONEncoder(&buf).Encode(v); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "the answer could not be encoded")
		return
	}
	s.writeBody(w, r, "application/json", bytes.TrimSpace(buf.Bytes()), maxAgeSeconds)
}

// newJSONEncoder writes JSON as it is (no HTML escaping of <, > and &).
func newJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// index lists the APIs.
func (s *Service) index(w http.ResponseWriter, r *http.Request) {
	if !s.onlyParams(w, r) {
		return
	}
	base := s.base(r)
	type entry struct {
		API         string `json:"api"`
		Title       string `json:"title"`
		Description string `json:"description"`
		Version     string `json:"version"`
		Status      string `json:"status"`
		Owner       string `json:"owner"`
		BaseURL     string `json:"baseUrl"`
		APIInfo     string `json:"apiInfo"`
		OpenAPI     string `json:"openapi"`
	}
	list := make([]entry, 0, len(s.apis))
	minAge := 0
	for _, a := range s.apis {
		b := base + a.decl.Base()
		list = append(list, entry{API: a.decl.API, Title: a.decl.Title, Description: strings.TrimSpace(a.decl.Description),
			Version: a.decl.Version, Status: a.decl.Status, Owner: a.decl.Owner,
			BaseURL: b, APIInfo: b + "/api-info", OpenAPI: b + "/openapi.json"})
		if age := int(a.maxAge.Seconds()); minAge == 0 || age < minAge {
			minAge = age
		}
	}
	s.writeJSONBody(w, r, map[string]any{
		"apis": list,
		"_links": map[string]any{
			"self":    map[string]string{"href": base + "/open/"},
			"dcat":    map[string]string{"href": base + "/open/dcat.jsonld", "type": "application/ld+json"},
			"dcatRdf": map[string]string{"href": base + "/open/dcat.rdf", "type": "application/rdf+xml"},
		},
	}, 300)
}

// apiInfo is DIGG's api-info.
func (s *Service) apiInfo(w http.ResponseWriter, r *http.Request, a *api) {
	if !s.onlyParams(w, r) {
		return
	}
	s.writeJSONBody(w, r, map[string]string{
		"apiName":          a.decl.API,
		"apiVersion":       a.decl.Version,
		"apiReleased":      a.decl.Released,
		"apiDocumentation": s.base(r) + a.decl.Base() + "/openapi.json",
		"apiStatus":        a.decl.Status,
	}, 300)
}

// onlyParams refuses a query string on a path that takes none.
func (s *Service) onlyParams(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for k := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q", k))
			return false
		}
	}
	return true
}

func (a *api) resource(name string) *resource {
	for _, r := range a.resources {
		if r.decl.Name == name {
			return r
		}
	}
	return nil
}

// paging reads limit and page.
func paging(q url.Values) (limit, page int, err error) {
	limit, page = DefaultLimit, 1
	if v, ok := q["limit"]; ok {
		n, e := strconv.Atoi(v[0])
		if e != nil || n < 1 || n > MaxLimit || len(v) > 1 {
			return 0, 0, fmt.Errorf("limit: want one integer from 1 to %d", MaxLimit)
		}
		limit = n
	}
	if v, ok := q["page"]; ok {
		n, e := strconv.Atoi(v[0])
		if e != nil || n < 1 || len(v) > 1 || (n-1) > maxOffset/limit {
			return 0, 0, fmt.Errorf("page: want one integer from 1")
		}
		page = n
	}
	return limit, page, nil
}

// list serves /{resource}: a page of the list or of the aggregate's cells.
func (s *Service) list(w http.ResponseWriter, r *http.Request, a *api) {
	res := a.resource(r.PathValue("resource"))
	if res == nil {
		writeProblem(w, r, http.StatusNotFound, fmt.Sprintf("open API %s has no resource %q", a.decl.API, r.PathValue("resource")))
		return
	}
	allowed := []string{"limit", "page"}
	if res.list != nil {
		for _, p := range res.list.params {
			allowed = append(allowed, p.decl.Name)
		}
	}
	if !s.onlyParams(w, r, allowed...) {
		return
	}
	q := r.URL.Query()
	limit, page, err := paging(q)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	offset := (page - 1) * limit
	var items []json.RawMessage
	var total int
	maxAge := int(a.maxAge.Seconds())
	switch {
	case res.agg != nil:
		cells, err := res.agg.compute(r.Context())
		if err != nil {
			s.opts.Logger.ErrorContext(r.Context(), "open API aggregate failed", "api", a.decl.API, "resource", res.decl.Name, "error", err.Error())
			writeProblem(w, r, http.StatusServiceUnavailable, "the statistics cannot be computed right now; try again later")
			return
		}
		total = len(cells)
		for _, c := range cells[min(offset, total):min(offset+limit, total)] {
			obj := make(map[string]any, len(c.Values)+1)
			for k, v := range c.Values {
				obj[k] = v
			}
			obj["count"] = c.Count
			b, _ := json.Marshal(obj)
			items = append(items, b)
		}
		maxAge = int(res.agg.ttl.Seconds())
	default:
		vars := map[string]any{}
		for _, p := range res.list.params {
			v, ok := q[p.decl.Name]
			if !ok {
				continue
			}
			val, err := p.parse(v)
			if err != nil {
				writeProblem(w, r, http.StatusBadRequest, err.Error())
				return
			}
			vars[p.decl.Variable] = val
		}
		if res.list.connection {
			vars["first"] = limit
			if offset > 0 {
				vars["after"] = resolvers.CursorBefore(offset)
			}
		}
		data, ok := s.run(w, r, res.list, vars)
		if !ok {
			return
		}
		if items, total, err = res.list.page(data, offset, limit); err != nil {
			s.opts.Logger.ErrorContext(r.Context(), "open API: unexpected result", "api", a.decl.API, "operation", res.list.op.Name, "error", err.Error())
			writeProblem(w, r, http.StatusInternalServerError, "the answer could not be read")
			return
		}
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	pages := (total + limit - 1) / limit
	self := s.base(r) + r.URL.Path
	link := func(p int) map[string]string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("limit", strconv.Itoa(limit))
		v.Set("page", strconv.Itoa(p))
		return map[string]string{"href": self + "?" + v.Encode()}
	}
	links := map[string]any{"self": link(page), "first": link(1)}
	var header []string
	add := func(rel string, p int) {
		links[rel] = link(p)
		header = append(header, fmt.Sprintf("<%s>; rel=%q", link(p)["href"], rel))
	}
	add("first", 1)
	if page > 1 {
		add("prev", min(page-1, max(pages, 1)))
	}
	if page < pages {
		add("next", page+1)
	}
	add("last", max(pages, 1))
	w.Header().Set("Link", strings.Join(header, ", "))
	body, err := marshalList(res.decl.Name, items, rest.PageMeta{Page: page, Limit: limit, Count: len(items), TotalRecords: total, TotalPages: pages}, links)
	if err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "the answer could not be encoded")
		return
	}
	s.writeBody(w, r, "application/json", body, maxAge)
}

// marshalList writes {"<resource>": [...], "_meta": ..., "_links": ...}
// with the resource's items first.
func marshalList(name string, items []json.RawMessage, meta rest.PageMeta, links map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	k, _ := json.Marshal(name)
	buf.WriteString("{")
	buf.Write(k)
	buf.WriteString(":")
	list, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	buf.Write(list)
	buf.WriteString(`,"_meta":`)
	enc := newJSONEncoder(&buf)
	if err := enc.Encode(meta); err != nil {
		return nil, err
	}
	buf.Truncate(buf.Len() - 1) // the encoder's newline
	buf.WriteString(`,"_links":`)
	if err := enc.Encode(links); err != nil {
		return nil, err
	}
	buf.Truncate(buf.Len() - 1)
	buf.WriteString("}")
	return buf.Bytes(), nil
}

// item serves /{resource}/{id}.
func (s *Service) item(w http.ResponseWriter, r *http.Request, a *api) {
	res := a.resource(r.PathValue("resource"))
	if res == nil || res.item == nil {
		writeProblem(w, r, http.StatusNotFound, fmt.Sprintf("open API %s has no resource %q with items by id", a.decl.API, r.PathValue("resource")))
		return
	}
	if !s.onlyParams(w, r) {
		return
	}
	id := res.item.id
	val, err := id.parse([]string{r.PathValue("id")})
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	data, ok := s.run(w, r, res.item, map[string]any{id.decl.Variable: val})
	if !ok {
		return
	}
	obj, err := at(data, res.item.path)
	if err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "open API: unexpected result", "api", a.decl.API, "operation", res.item.op.Name, "error", err.Error())
		writeProblem(w, r, http.StatusInternalServerError, "the answer could not be read")
		return
	}
	if obj == nil || string(obj) == "null" {
		writeProblem(w, r, http.StatusNotFound, fmt.Sprintf("no %s with %s %q", res.decl.Name, id.decl.Name, r.PathValue("id")))
		return
	}
	s.writeBody(w, r, "application/json", obj, int(a.maxAge.Seconds()))
}

// parse checks one parameter value against its type and pattern.
func (p *boundParam) parse(vs []string) (any, error) {
	name := p.decl.Name
	if len(vs) != 1 {
		return nil, fmt.Errorf("%s: give it once", name)
	}
	v := vs[0]
	switch p.kind {
	case "integer":
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s: want an integer", name)
		}
		return n, nil
	case "number":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%s: want a number", name)
		}
		return f, nil
	case "boolean":
		b, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			return nil, fmt.Errorf("%s: want true or false", name)
		}
		return b, nil
	case "enum":
		for _, e := range p.enum {
			if v == e {
				return v, nil
			}
		}
		return nil, fmt.Errorf("%s: want one of %s", name, strings.Join(p.enum, ", "))
	}
	if len(v) > 200 {
		return nil, fmt.Errorf("%s: too long", name)
	}
	if p.decl.re != nil && !p.decl.re.MatchString(v) {
		return nil, fmt.Errorf("%s: %q is not of the form %s", name, v, p.decl.Pattern)
	}
	return v, nil
}

// gqlResponse is a GraphQL response as the handler wrote it.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

// run executes a registered operation as the anonymous principal through
// the gateway's GraphQL handler, by its id (a registered operation, as a
// persisted-only client runs it), and maps its errors to problems. It
// answers false when it has written a problem.
func (s *Service) run(w http.ResponseWriter, r *http.Request, b *boundOp, vars map[string]any) (json.RawMessage, bool) {
	body, err := json.Marshal(map[string]any{
		"operationName": b.op.Name,
		"variables":     vars,
		"extensions":    map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": b.op.ID}},
	})
	if err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "the request could not be encoded")
		return nil, false
	}
	ctx := authz.NewContext(r.Context(), authz.AnonymousPrincipal())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/graphql", bytes.NewReader(body))
	if err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "the request could not be built")
		return nil, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = r.RemoteAddr
	rec := &recorder{header: http.Header{}}
	s.opts.GraphQL.ServeHTTP(rec, req)
	var resp gqlResponse
	if err := json.Unmarshal(rec.body.Bytes(), &resp); err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "open API: unreadable GraphQL answer", "operation", b.op.Name, "status", rec.status, "error", err.Error())
		writeProblem(w, r, http.StatusInternalServerError, "internal error")
		return nil, false
	}
	if len(resp.Errors) == 0 && rec.status < 300 {
		return resp.Data, true
	}
	code, msg := "", ""
	if len(resp.Errors) > 0 {
		code, msg = resp.Errors[0].Extensions.Code, resp.Errors[0].Message
	}
	if ra := rec.header.Get("Retry-After"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	switch code {
	case "BAD_USER_INPUT":
		writeProblem(w, r, http.StatusBadRequest, msg)
	case "UPSTREAM_TIMEOUT", "REQUEST_TIMEOUT":
		writeProblem(w, r, http.StatusGatewayTimeout, "a source system did not answer in time; try again later")
	case "UPSTREAM_UNAVAILABLE", "OVERLOADED":
		writeProblem(w, r, http.StatusServiceUnavailable, "a source system is unavailable; try again later")
	case "UPSTREAM_BAD_RESPONSE", "UPSTREAM_REJECTED":
		writeProblem(w, r, http.StatusBadGateway, "a source system answered something unreadable")
	default:
		// FORBIDDEN here means the policy changed since the start check:
		// nothing is served, and the log says which API broke.
		s.opts.Logger.ErrorContext(r.Context(), "open API: the operation failed", "operation", b.op.Name, "status", rec.status, "code", code)
		writeProblem(w, r, http.StatusInternalServerError, "internal error")
	}
	return nil, false
}

// recorder keeps the inner GraphQL response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }
func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}
func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.body.Write(b)
}

// at follows path in the data.
func at(data json.RawMessage, path []string) (json.RawMessage, error) {
	cur := data
	for _, seg := range path {
		if string(cur) == "null" {
			return cur, nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", seg, err)
		}
		cur = m[seg]
	}
	return cur, nil
}

// page returns the items of one page and the total.
func (b *boundOp) page(data json.RawMessage, offset, limit int) ([]json.RawMessage, int, error) {
	v, err := at(data, b.path)
	if err != nil {
		return nil, 0, err
	}
	if v == nil || string(v) == "null" {
		return nil, 0, nil
	}
	if b.connection {
		var conn struct {
			Edges []struct {
				Node json.RawMessage `json:"node"`
			} `json:"edges"`
			TotalCount int `json:"totalCount"`
		}
		if err := json.Unmarshal(v, &conn); err != nil {
			return nil, 0, err
		}
		out := make([]json.RawMessage, 0, len(conn.Edges))
		for _, e := range conn.Edges {
			out = append(out, e.Node)
		}
		return out, conn.TotalCount, nil
	}
	var all []json.RawMessage
	if err := json.Unmarshal(v, &all); err != nil {
		return nil, 0, err
	}
	return all[min(offset, len(all)):min(offset+limit, len(all))], len(all), nil
}
