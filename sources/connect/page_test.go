package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// listingDecl declares the simulated waste-collection system's emptyings
// with a paging part; size 7 and maxPages 3 make every window a few
// upstream pages.
func listingDecl(t *testing.T, get, records, page string, fields string) *declare.Resource {
	t.Helper()
	y := fmt.Sprintf(`system: avfall
owner: Avfallshämtning (Tekniska nämnden)
connector: http
probe: api/v1/health
resources:
  collections:
    type: WasteCollection
    list: true
    http:
      one: { get: %q }
      records: %s
      page: %s
    fields:
%s`, get, records, page, fields)
	return declared(t, "schema/avfall.yaml", []byte(y)).Resource("avfall.collections")
}

const (
	diggFields = "      id: id\n      fraction: fraction\n      date: date\n"
	ogcFields  = "      id: properties.id\n      fraction: properties.fraction\n      date: properties.date\n"
)

// TestListingStylesAgainstTheSimulator reads windows of a property's
// emptyings in each paging style: the records are the system's, in its
// order, the count and "more" are right, and each window makes the calls
// its upstream pages take.
func TestListingStylesAgainstTheSimulator(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	all := sim.CollectionsOf(w)
	var prop string
	for _, p := range w.Properties {
		if len(all[p.ObjectID]) > len(all[prop]) {
			prop = p.ObjectID
		}
	}
	want := all[prop]
	if len(want) < 25 {
		t.Fatalf("the richest property has %d emptyings, want more than 25", len(want))
	}
	styles := []struct {
		name string
		res  *declare.Resource
		op   string
		// calls is the upstream calls of the window [offset, offset+limit).
		calls func(offset, limit int) int64
		total bool
	}{
		{"limit+page",
			listingDecl(t, "api/v1/properties/{key}/collections", "collections", "{style: limit+page, size: 7, maxPages: 3, total: _meta.totalRecords}", diggFields),
			"collections", func(o, l int) int64 { return int64(min(3, (o+l-1)/7-o/7+1)) }, true},
		{"limit+offset",
			listingDecl(t, "ogc/collections/hamtningar/items?fastighet={key}", "features", "{style: limit+offset, size: 7, maxPages: 3, total: numberMatched}", ogcFields),
			"collectionItems", func(o, l int) int64 { return int64(min(3, (o+l-1)/7-o/7+1)) }, true},
		{"links",
			listingDecl(t, "ogc/collections/hamtningar/items?fastighet={key}", "features", "{style: links, size: 7, maxPages: 3}", ogcFields),
			"collectionItems", func(o, l int) int64 { return int64(min(3, (o+l-1)/7+1)) }, false},
	}
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			stats := sim.NewStats()
			srv := httptest.NewServer(sim.NewAvfall(w, sim.AvfallOptions{Stats: stats}))
			defer srv.Close()
			h := newHTTP(t, st.res, srv.URL, nil)
			for _, win := range [][2]int{{0, 5}, {5, 9}, {14, 7}, {18, 3}} {
				offset, limit := win[0], win[1]
				before := stats.Calls("avfall", st.op)
				key := connect.PageKey(prop, offset, limit)
				got, err := h.Fetch(context.Background(), []string{key})
				if err != nil {
					t.Fatalf("window %v: %v", win, err)
				}
				meta, recs := connect.SplitPage(got[key])
				to := min(offset+limit, len(want))
				if len(recs) != to-offset {
					t.Fatalf("window %v: %d records, want %d", win, len(recs), to-offset)
				}
				for i, rec := range recs {
					if w := want[offset+i]; rec["id"] != w.ID || rec["fraction"] != w.Fraction || rec["date"] != w.Date {
						t.Fatalf("window %v record %d: %v, want %+v", win, i, rec, w)
					}
				}
				if meta.More != (to < len(want)) {
					t.Errorf("window %v: more %v, want %v", win, meta.More, to < len(want))
				}
				if st.total && meta.Total != len(want) || !st.total && meta.Total != -1 {
					t.Errorf("window %v: total %d", win, meta.Total)
				}
				if calls := stats.Calls("avfall", st.op) - before; calls != st.calls(offset, limit) {
					t.Errorf("window %v: %d upstream calls, want %d", win, calls, st.calls(offset, limit))
				}
			}
			// Past the end: no records, nothing more.
			key := connect.PageKey(prop, len(want)+30, 5)
			got, err := h.Fetch(context.Background(), []string{key})
			if err != nil && !errors.Is(err, connect.ErrBeyondReach) {
				t.Fatal(err)
			}
			if meta, recs := connect.SplitPage(got[key]); len(recs) != 0 || meta.More {
				t.Errorf("past the end: %d records, more %v", len(recs), meta.More)
			}
		})
	}
}

// TestListingBoundsTheUpstreamPages: a window wider than maxPages pages is
// cut there ("more" says the rest follows), and a links listing is not
// asked beyond the records it can reach.
func TestListingBoundsTheUpstreamPages(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		// An endless list: every page full, always a next link.
		fmt.Fprintf(w, `{"items":[{"id":"a"},{"id":"b"}],"links":[{"rel":"next","href":"%s%s?%s&x=1"}]}`, "http://"+r.Host, r.URL.Path, r.URL.RawQuery)
	}))
	defer srv.Close()
	for _, style := range []string{"limit+page", "limit+offset", "links"} {
		t.Run(style, func(t *testing.T) {
			r := listingDecl(t, "items/{key}", "items", "{style: "+style+", size: 2, maxPages: 3}", "      id: id\n")
			h := newHTTP(t, r, srv.URL, nil)
			calls.Store(0)
			key := connect.PageKey("p", 0, 100)
			got, err := h.Fetch(context.Background(), []string{key})
			if err != nil {
				t.Fatal(err)
			}
			meta, recs := connect.SplitPage(got[key])
			if n := calls.Load(); n != 3 || len(recs) != 6 || !meta.More {
				t.Fatalf("%d calls, %d records, more %v; want 3, 6, true", n, len(recs), meta.More)
			}
			if style != "links" {
				return
			}
			calls.Store(0)
			_, err = h.Fetch(context.Background(), []string{connect.PageKey("p", 6, 10)})
			if !errors.Is(err, connect.ErrBeyondReach) || calls.Load() != 0 {
				t.Fatalf("beyond the reach: %v after %d calls, want ErrBeyondReach and none", err, calls.Load())
			}
		})
	}
}

// TestListingFollowsNoLinkAway: a next link to another host, another
// scheme, above the system's path or with credentials is a bad answer; the
// other host is never called (the system's credentials go with every
// call).
func TestListingFollowsNoLinkAway(t *testing.T) {
	var evilCalls atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"items":[{"id":"stolen"}]}`)
	}))
	defer evil.Close()
	for _, next := range []string{
		evil.URL + "/sys/items/p?limit=2",
		"//" + strings.TrimPrefix(evil.URL, "http://") + "/sys/items/p",
		"https://{host}/sys/items/p",
		"http://user:pw@{host}/sys/items/p",
		"/other/items/p",
		"../../other",
	} {
		t.Run(next, func(t *testing.T) {
			var header atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				header.Store(r.Header.Get("X-Api-Key"))
				w.Header().Set("Content-Type", "application/json")
				b, _ := json.Marshal(map[string]any{
					"items": []any{map[string]any{"id": "a"}, map[string]any{"id": "b"}},
					"links": []any{map[string]any{"rel": "next", "href": strings.ReplaceAll(next, "{host}", r.Host)}},
				})
				_, _ = w.Write(b)
			}))
			defer srv.Close()
			r := listingDecl(t, "items/{key}", "items", "{style: links, size: 2, maxPages: 5}", "      id: id\n")
			h := newHTTP(t, r, srv.URL+"/sys/", http.Header{"X-Api-Key": {"secret"}})
			_, err := h.Fetch(context.Background(), []string{connect.PageKey("p", 0, 10)})
			var ue *upstream.Error
			if !errors.As(err, &ue) || ue.Kind != upstream.BadResponse {
				t.Fatalf("error %v, want a bad response", err)
			}
			if strings.Contains(err.Error(), "stolen") || evilCalls.Load() != 0 {
				t.Fatalf("the link was followed: %v, %d calls elsewhere", err, evilCalls.Load())
			}
		})
	}
}

// TestListingKeysStayInert: a hostile key is one escaped path segment or
// one escaped query value; the paging's parameters are the gateway's only.
func TestListingKeysStayInert(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.EscapedPath() + "?" + r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"items":[]}`)
	}))
	defer srv.Close()
	const key = "../admin?limit=100000&page=0#x"
	for _, tc := range []struct{ get, want string }{
		{"items/{key}", "/items/..%2Fadmin%3Flimit%3D100000%26page%3D0%23x?limit=2&page=1"},
		{"items?owner={key}", "/items?owner=..%2Fadmin%3Flimit%3D100000%26page%3D0%23x&limit=2&page=1"},
	} {
		r := listingDecl(t, tc.get, "items", "{style: limit+page, size: 2}", "      id: id\n")
		h := newHTTP(t, r, srv.URL, nil)
		if _, err := h.Fetch(context.Background(), []string{connect.PageKey(key, 0, 5)}); err != nil {
			t.Fatal(err)
		}
		if g := got.Load(); g != tc.want {
			t.Errorf("%s: the system was asked %v, want %s", tc.get, g, tc.want)
		}
	}
}
