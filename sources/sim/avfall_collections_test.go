package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestAvfallCollections: a property's emptyings, newest first, paged by
// limit and page (DIGG) with the count and a next link, and the same
// records as OGC features by limit and offset; bad parameters are 400, an
// unknown property 404 (DIGG) or no features (OGC).
func TestAvfallCollections(t *testing.T) {
	w := NewWorld(WorldOptions{Seed: 5, People: 300})
	all := CollectionsOf(w)
	if again := CollectionsOf(w); len(again) != len(all) {
		t.Fatal("the emptyings differ between two calls")
	}
	var prop string
	for _, p := range w.Properties {
		list := all[p.ObjectID]
		for i := 1; i < len(list); i++ {
			if list[i-1].Date < list[i].Date {
				t.Fatalf("%s: emptyings not newest first: %s before %s", p.ObjectID, list[i-1].Date, list[i].Date)
			}
		}
		if len(list) > len(all[prop]) {
			prop = p.ObjectID
		}
	}
	want := all[prop]
	if len(want) < 30 {
		t.Fatalf("the richest property has %d emptyings", len(want))
	}
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{}))
	defer srv.Close()
	get := func(path string, status int, v any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%s: HTTP %d, want %d", path, resp.StatusCode, status)
		}
		if v != nil {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	var page CollectionList
	get("/api/v1/properties/"+prop+"/collections?limit=7&page=2", 200, &page)
	if page.Meta.TotalRecords != len(want) || len(page.Collections) != 7 || !reflect.DeepEqual(page.Collections[0], want[7]) {
		t.Fatalf("page 2 of 7: %+v", page.Meta)
	}
	next := ""
	for _, l := range page.Links {
		if l.Rel == "next" {
			next = l.Href
		}
	}
	if !strings.HasSuffix(next, "/collections?limit=7&page=3") {
		t.Errorf("next link %q", next)
	}
	var feats CollectionFeatures
	get("/ogc/collections/hamtningar/items?fastighet="+url.QueryEscape(prop)+"&limit=7&offset=9", 200, &feats)
	if feats.NumberMatched != len(want) || feats.NumberReturned != 7 || !reflect.DeepEqual(feats.Features[0].Properties, want[9]) {
		t.Fatalf("offset 9: %+v", feats)
	}
	var nextOGC string
	for _, l := range feats.Links {
		if l.Rel == "next" {
			nextOGC = l.Href
		}
	}
	if u, err := url.Parse(nextOGC); err != nil || u.Query().Get("offset") != "16" || u.Query().Get("fastighet") != prop {
		t.Errorf("OGC next link %q", nextOGC)
	}
	get("/ogc/collections/hamtningar/items?fastighet="+url.QueryEscape(prop)+"&limit=7&offset="+itoa(len(want)-2), 200, &feats)
	for _, l := range feats.Links {
		if l.Rel == "next" {
			t.Errorf("a next link on the last page: %s", l.Href)
		}
	}
	var none CollectionFeatures
	get("/ogc/collections/hamtningar/items?fastighet=nope", 200, &none)
	if none.NumberMatched != 0 || len(none.Features) != 0 {
		t.Errorf("an unknown property matched %d", none.NumberMatched)
	}
	for _, bad := range []string{
		"/api/v1/properties/" + prop + "/collections?limit=0",
		"/api/v1/properties/" + prop + "/collections?limit=101",
		"/api/v1/properties/" + prop + "/collections?page=-1",
		"/api/v1/properties/" + prop + "/collections?page=x",
		"/ogc/collections/hamtningar/items?fastighet=" + prop + "&offset=-1",
		"/ogc/collections/hamtningar/items?limit=5",
	} {
		get(bad, 400, nil)
	}
	get("/api/v1/properties/nope/collections", 404, nil)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
