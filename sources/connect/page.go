package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// A listing resource (declare.Page) is asked for windows of a key's
// records: a key of its loader is PageKey(key, offset, limit), and its
// records are the window's, after one PageMeta record.

// PageKey is the loader key of the window of limit records from offset of
// key's list.
func PageKey(key string, offset, limit int) string {
	return strconv.Itoa(offset) + ":" + strconv.Itoa(limit) + ":" + key
}

// ParsePageKey reads a PageKey.
func ParsePageKey(k string) (key string, offset, limit int, ok bool) {
	o, rest, ok1 := strings.Cut(k, ":")
	l, key, ok2 := strings.Cut(rest, ":")
	var err1, err2 error
	offset, err1 = strconv.Atoi(o)
	limit, err2 = strconv.Atoi(l)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || offset < 0 || limit < 1 {
		return "", 0, 0, false
	}
	return key, offset, limit, true
}

// The fields of a window's first record, its meta record: names no schema
// field can have (GraphQL reserves "__").
const (
	metaTotal = "__total"
	metaMore  = "__more"
)

// PageMeta is what a window's meta record says: the upstream's count of
// the key's records on all pages (-1 when it does not say), and whether
// records follow the window.
type PageMeta struct {
	Total int
	More  bool
}

// SplitPage separates a window's meta record from its records.
func SplitPage(recs []Record) (PageMeta, []Record) {
	meta := PageMeta{Total: -1}
	if len(recs) == 0 {
		return meta, nil
	}
	m := recs[0]
	if _, ok := m[metaMore]; !ok {
		return meta, recs // not a window (an empty list has none)
	}
	meta.More, _ = m[metaMore].(bool)
	switch t := m[metaTotal].(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil {
			meta.Total = int(n)
		}
	case float64: // read back from Redis
		meta.Total = int(t)
	}
	return meta, recs[1:]
}

// ErrBeyondReach is the error of a window that starts beyond the records a
// links-style listing can reach (declare.Page.Reach): not asked upstream.
var ErrBeyondReach = errors.New("the window starts beyond the records this listing can be paged to")

// fetchWindow reads the upstream pages that cover the window of key's
// records [offset, offset+limit): at most MaxPages calls. Its records are
// the meta record, then the window's.
func (h *HTTP) fetchWindow(ctx context.Context, key string, offset, limit int) ([]Record, error) {
	p := h.res.HTTP.Page
	if reach := p.Reach(); reach > 0 && offset >= reach {
		return nil, ErrBeyondReach
	}
	path, query := h.path, h.query
	if strings.Contains(path, "{key}") {
		if key == "." || key == ".." {
			return nil, nil // a dot segment names no record (see Fetch)
		}
		path = strings.Replace(path, "{key}", pathSegment(key), 1)
	} else {
		query = strings.Replace(query, "{key}", url.QueryEscape(key), 1)
	}
	first := offset / p.Size // the first upstream page, from 0
	if p.Style == declare.PageLinks {
		first = 0
	}
	var (
		out   []Record
		total = -1
		more  bool
		next  *url.URL
	)
	have := first * p.Size // records before the page being read
	for calls := 0; ; calls++ {
		var rq string
		var reqPath string
		switch {
		case next != nil:
			reqPath, rq = next.EscapedPath(), next.RawQuery
		default:
			reqPath, rq = path, joinQuery(query, h.pageQuery(first))
		}
		body, err := h.request(ctx, reqPath, rq, nil, false)
		if err != nil {
			return nil, err
		}
		recs, err := h.records(body)
		if err != nil {
			return nil, err
		}
		if p.Total != nil {
			if n, ok := count(body, p.Total); ok {
				total = n
			}
		}
		for i, rec := range recs {
			if at := have + i; at >= offset && at < offset+limit {
				out = append(out, rec)
			} else if at >= offset+limit {
				more = true
			}
		}
		have += len(recs)
		var nextRef *url.URL
		if p.Style == declare.PageLinks {
			if nextRef, err = h.nextLink(body, reqPath); err != nil {
				return nil, err
			}
		}
		last := len(recs) == 0 || (p.Style == declare.PageLinks && nextRef == nil) ||
			(p.Style != declare.PageLinks && (len(recs) < p.Size || total >= 0 && have >= total))
		if last {
			break
		}
		if have >= offset+limit || calls+1 >= p.MaxPages {
			more = true // the upstream has more; the client's next page asks for it
			break
		}
		first++
		next = nextRef
	}
	if total >= 0 {
		more = offset+len(out) < total
	}
	meta := Record{metaMore: more, metaTotal: nil}
	if total >= 0 {
		meta[metaTotal] = json.Number(strconv.Itoa(total))
	}
	return append([]Record{meta}, out...), nil
}

// pageQuery is the paging's part of the query of upstream page n (from 0).
func (h *HTTP) pageQuery(n int) string {
	p := h.res.HTTP.Page
	q := url.QueryEscape(p.Limit) + "=" + strconv.Itoa(p.Size)
	switch p.Style {
	case declare.PageLimitPage:
		q += "&" + url.QueryEscape(p.Number) + "=" + strconv.Itoa(p.First+n)
	case declare.PageLimitOffset:
		q += "&" + url.QueryEscape(p.Offset) + "=" + strconv.Itoa(n*p.Size)
	}
	return q
}

func joinQuery(a, b string) string {
	if a == "" {
		return b
	}
	return a + "&" + b
}

// count reads a whole, non-negative number at path in the body.
func count(body any, path []string) (int, bool) {
	v, ok := at(body, path)
	if !ok {
		return 0, false
	}
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string: // XML
		s = v
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// nextLink finds the link with rel "next" in the body's links, resolved
// against the page it came in. It must lead to the system itself: the same
// scheme, host and port as its URL, below its path; a link elsewhere is a
// bad answer, never followed (the system's credentials go with every call).
func (h *HTTP) nextLink(body any, reqPath string) (*url.URL, error) {
	v, _ := at(body, h.res.HTTP.Page.Links)
	links, _ := v.([]any)
	if m, ok := v.(map[string]any); ok {
		links = []any{m} // one link element in XML
	}
	for _, l := range links {
		m, _ := l.(map[string]any)
		if rel, _ := m["rel"].(string); rel != "next" {
			continue
		}
		href, _ := m["href"].(string)
		base := h.up.BaseURL()
		cur, err := base.Parse(reqPath)
		if err != nil {
			return nil, upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "resolving the page's URL: %v", err)
		}
		u, err := cur.Parse(href)
		if err != nil || href == "" {
			return nil, upstream.Permanent(upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "a next link that is no URL"))
		}
		if u.Scheme != base.Scheme || u.Host != base.Host || !strings.HasPrefix(u.EscapedPath(), base.EscapedPath()) || u.User != nil {
			return nil, upstream.Permanent(upstream.Errorf(h.up.Name(), h.res.Name, upstream.BadResponse, "a next link leads away from the system (%s://%s): not followed", u.Scheme, u.Host))
		}
		rel := &url.URL{RawPath: strings.TrimPrefix(u.EscapedPath(), base.EscapedPath()), RawQuery: u.RawQuery}
		rel.Path, _ = url.PathUnescape(rel.RawPath)
		return rel, nil
	}
	return nil, nil
}

// fetchWindows answers a listing's window keys, each its own calls, all at
// once (the system's maxConcurrent bounds them).
func (h *HTTP) fetchWindows(ctx context.Context, keys []string) (map[string][]Record, error) {
	return h.fanOut(ctx, keys, func(ctx context.Context, k string) ([]Record, error) {
		key, offset, limit, ok := ParsePageKey(k)
		if !ok {
			return nil, fmt.Errorf("connect: %s: %w", h.res.FullName(), errNotAWindow)
		}
		if len(h.args) == 0 {
			return h.fetchWindow(ctx, key, offset, limit)
		}
		// The window of a key asked with arguments (args.go): its call
		// with them filled in.
		c, args := h, url.Values{}
		if strings.Contains(key, "\n") {
			var err error
			if _, args, key, err = declare.ParseArgsKey(key); err != nil {
				return nil, nil
			}
		}
		if c, ok = h.withArgs(args); !ok || key == "" || len(key) > MaxKeyBytes {
			return nil, nil // names no record
		}
		return c.fetchWindow(ctx, key, offset, limit)
	})
}

var errNotAWindow = errors.New("a listing is asked for windows (PageKey)")
