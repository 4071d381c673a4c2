package sim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
)

func idsOf(features []rest.Feature) []string {
	out := make([]string, len(features))
	for i, f := range features {
		out[i] = f.ID
	}
	return out
}

func worldPropertyIDs(w *World) []string {
	out := make([]string, len(w.Properties))
	for i, p := range w.Properties {
		out[i] = p.ObjectID
	}
	return out
}

func linkOf(links []rest.Link, rel string) *rest.Link {
	for i := range links {
		if links[i].Rel == rel {
			return &links[i]
		}
	}
	return nil
}

func TestGeodataOGCDocuments(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewGeodata(w, GeodataOptions{}))
	defer srv.Close()

	t.Run("landing page", func(t *testing.T) {
		var got struct{ Links []rest.Link }
		getInto(t, srv.URL+"/", &got)
		for _, rel := range []string{"self", "conformance", "data"} {
			if linkOf(got.Links, rel) == nil {
				t.Errorf("no %s link in %+v", rel, got.Links)
			}
		}
	})
	t.Run("conformance", func(t *testing.T) {
		var got struct{ ConformsTo []string }
		getInto(t, srv.URL+"/conformance", &got)
		for _, c := range []string{confCore, confGeoJSON} {
			if !slices.Contains(got.ConformsTo, c) {
				t.Errorf("conformsTo %v lacks %s", got.ConformsTo, c)
			}
		}
	})
	checkCollection := func(t *testing.T, c collectionInfo) {
		t.Helper()
		b := c.Extent.Spatial.BBox
		if c.ID != CollectionFastigheter || c.Title == "" || !slices.Equal(c.CRS, []string{CRS84}) || len(b) != 1 {
			t.Fatalf("collection = %+v", c)
		}
		// Örebro lies around 15.2 E, 59.27 N.
		if b[0][0] < 14.9 || b[0][2] > 15.5 || b[0][1] < 59.1 || b[0][3] > 59.4 || b[0][0] >= b[0][2] || b[0][1] >= b[0][3] {
			t.Errorf("extent %v is not around Örebro", b[0])
		}
		if l := linkOf(c.Links, "items"); l == nil || !strings.HasSuffix(l.Href, "/collections/fastigheter/items") {
			t.Errorf("items link = %+v", l)
		}
	}
	t.Run("collections", func(t *testing.T) {
		var got struct{ Collections []collectionInfo }
		getInto(t, srv.URL+"/collections", &got)
		if len(got.Collections) != 1 {
			t.Fatalf("collections = %+v", got.Collections)
		}
		checkCollection(t, got.Collections[0])
	})
	t.Run("collection", func(t *testing.T) {
		var got collectionInfo
		getInto(t, srv.URL+"/collections/fastigheter", &got)
		checkCollection(t, got)
	})
}

func TestGeodataItems(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewGeodata(w, GeodataOptions{}))
	defer srv.Close()
	all := worldPropertyIDs(w)
	n := len(all)
	p3 := w.Properties[3]

	tests := []struct {
		name            string
		query           string
		want            []string
		wantMatched     int
		wantNext        string // the next link's offset, "" for none
		wantPrevPresent bool
	}{
		{"defaults", "", all[:10], n, "10", false},
		{"offset and limit", "?offset=5&limit=3", all[5:8], n, "8", true},
		{"last page", "?offset=" + strconv.Itoa(n-2) + "&limit=5", all[n-2:], n, "", true},
		{"limit over the maximum is clamped", "?limit=5000", all[:min(n, 1000)], n, "", false},
		{"beteckning", "?beteckning=" + url.QueryEscape(p3.Designation), all[3:4], 1, "", false},
		{"beteckning in lower case", "?beteckning=" + url.QueryEscape(strings.ToLower(p3.Designation)), all[3:4], 1, "", false},
		{"unknown beteckning", "?beteckning=" + url.QueryEscape("ÖREBRO INGENSTANS 1:1"), []string{}, 0, "", false},
		{"batch", "?objektidentitet=" + all[7] + ",00000000-0000-4000-8000-000000000000," + all[2] + "," + all[7],
			[]string{all[7], all[2]}, 2, "", false},
		{"batch ignores paging", "?limit=1&offset=1&objektidentitet=" + all[0] + "," + all[1], all[:2], 2, "", false},
		{"bbox around one property", "?bbox=" + bboxAround(t, p3), nil, -1, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got rest.FeatureCollection
			h := getInto(t, srv.URL+"/collections/fastigheter/items"+tc.query, &got)
			if ct := h.Get("Content-Type"); ct != "application/geo+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got.Type != "FeatureCollection" || got.NumberReturned != len(got.Features) {
				t.Errorf("type %q, numberReturned %d for %d features", got.Type, got.NumberReturned, len(got.Features))
			}
			if tc.wantMatched < 0 { // bbox: the property itself is among the matches
				if !slices.Contains(idsOf(got.Features), p3.ObjectID) {
					t.Errorf("bbox answer %v lacks %s", idsOf(got.Features), p3.ObjectID)
				}
				return
			}
			if got.NumberMatched != tc.wantMatched {
				t.Errorf("numberMatched = %d, want %d", got.NumberMatched, tc.wantMatched)
			}
			if ids := idsOf(got.Features); !slices.Equal(ids, tc.want) {
				t.Errorf("ids = %v, want %v", ids, tc.want)
			}
			if linkOf(got.Links, "self") == nil {
				t.Error("no self link")
			}
			next := linkOf(got.Links, "next")
			switch {
			case tc.wantNext == "" && next != nil:
				t.Errorf("unexpected next link %s", next.Href)
			case tc.wantNext != "" && next == nil:
				t.Errorf("no next link")
			case next != nil:
				u, err := url.Parse(next.Href)
				if err != nil || u.Query().Get("offset") != tc.wantNext {
					t.Errorf("next link %s, want offset %s", next.Href, tc.wantNext)
				}
			}
			if (linkOf(got.Links, "prev") != nil) != tc.wantPrevPresent {
				t.Errorf("prev link present = %v, want %v", linkOf(got.Links, "prev") != nil, tc.wantPrevPresent)
			}
		})
	}

	t.Run("feature content", func(t *testing.T) {
		var got rest.Feature
		h := getInto(t, srv.URL+"/collections/fastigheter/items/"+p3.ObjectID, &got)
		if ct := h.Get("Content-Type"); ct != "application/geo+json" {
			t.Errorf("Content-Type = %q", ct)
		}
		want := rest.FeatureProperties{Objektidentitet: p3.ObjectID, Beteckning: p3.Designation, ArealM2: p3.AreaM2, Adress: p3.Address}
		if got.Type != "Feature" || got.ID != p3.ObjectID || got.Properties != want {
			t.Errorf("feature = %+v, want properties %+v", got, want)
		}
		var gotGeom, wantGeom any
		if json.Unmarshal(got.Geometry, &gotGeom) != nil || json.Unmarshal(p3.Geometry, &wantGeom) != nil ||
			!reflect.DeepEqual(gotGeom, wantGeom) {
			t.Errorf("geometry = %s, want %s", got.Geometry, p3.Geometry)
		}
	})
}

// bboxAround is a bbox query value a little larger than the property.
func bboxAround(t *testing.T, p *model.Property) string {
	t.Helper()
	b := geometryBox(p.Geometry)
	const d = 1e-5
	return strings.Join([]string{
		jsonFloat(b[0] - d), jsonFloat(b[1] - d), jsonFloat(b[2] + d), jsonFloat(b[3] + d),
	}, ",")
}

func jsonFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func TestGeodataErrors(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewGeodata(w, GeodataOptions{}))
	defer srv.Close()
	tooMany := strings.TrimSuffix(strings.Repeat(w.Properties[0].ObjectID+",", 101), ",")
	tests := []struct {
		name, path string
		want       int
		wantCode   string
	}{
		{"unknown feature", "/collections/fastigheter/items/00000000-0000-4000-8000-000000000000", 404, "NotFound"},
		{"unknown collection", "/collections/vagar/items", 404, "NotFound"},
		{"unknown path", "/nothing", 404, "NotFound"},
		{"101 ids", "/collections/fastigheter/items?objektidentitet=" + tooMany, 400, "InvalidParameterValue"},
		{"limit zero", "/collections/fastigheter/items?limit=0", 400, "InvalidParameterValue"},
		{"negative offset", "/collections/fastigheter/items?offset=-1", 400, "InvalidParameterValue"},
		{"unknown parameter", "/collections/fastigheter/items?namn=x", 400, "InvalidParameterValue"},
		{"bad bbox", "/collections/fastigheter/items?bbox=1,2,3", 400, "InvalidParameterValue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, raw := doJSON(t, http.MethodGet, srv.URL+tc.path, nil)
			if status != tc.want {
				t.Errorf("status = %d, want %d", status, tc.want)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var e ogcError
			if err := json.Unmarshal(raw, &e); err != nil || e.Code != tc.wantCode || e.Description == "" {
				t.Errorf("error body %s (%v), want code %s", raw, err, tc.wantCode)
			}
		})
	}
}

func TestGeodataLagfart(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewGeodata(w, GeodataOptions{}))
	defer srv.Close()

	var twoPeople, company string
	for _, p := range w.Properties {
		owners := w.Owners[p.ObjectID]
		if twoPeople == "" && len(owners) == 2 && owners[0].PersonalNumber != "" {
			twoPeople = p.ObjectID
		}
		if company == "" && len(owners) == 1 && owners[0].OrganisationNumber != "" {
			company = p.ObjectID
		}
	}
	if twoPeople == "" || company == "" {
		t.Fatal("the test world lacks a property with two owners or a company-owned one")
	}
	for _, tc := range []struct{ name, id string }{{"two natural persons", twoPeople}, {"company", company}} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, raw := doJSON(t, http.MethodGet, srv.URL+"/legacy/lagfart/"+tc.id, nil)
			if status != 200 || h.Get("Content-Type") != "application/xml; charset=utf-8" {
				t.Fatalf("status %d, Content-Type %q", status, h.Get("Content-Type"))
			}
			var got rest.Lagfartsinformation
			if err := xml.Unmarshal(raw, &got); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			want := rest.Lagfartsinformation{XMLName: xml.Name{Local: "Lagfartsinformation"}, Objektidentitet: tc.id}
			for _, o := range w.Owners[tc.id] {
				want.Agare = append(want.Agare, rest.LagfarenAgare{
					Namn: o.Name, Personnummer: o.PersonalNumber, Organisationsnummer: o.OrganisationNumber,
					Andel: o.Share, Inskrivningsdag: o.AcquiredOn.Format("2006-01-02"),
				})
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("lagfart\n got %+v\nwant %+v", got, want)
			}
		})
	}
	t.Run("golden", func(t *testing.T) {
		_, _, raw := doJSON(t, http.MethodGet, srv.URL+"/legacy/lagfart/"+twoPeople, nil)
		checkGolden(t, "geodata_lagfart.xml", raw)
	})
	t.Run("unknown property", func(t *testing.T) {
		status, h, raw := doJSON(t, http.MethodGet, srv.URL+"/legacy/lagfart/00000000-0000-4000-8000-000000000000", nil)
		if status != 404 || !strings.HasPrefix(h.Get("Content-Type"), "application/xml") {
			t.Fatalf("status %d, Content-Type %q", status, h.Get("Content-Type"))
		}
		var e xmlErrorBody
		if err := xml.Unmarshal(raw, &e); err != nil || e.Kod != 404 || e.Text == "" || !bytes.Contains(raw, []byte("<Fel>")) {
			t.Errorf("error body %s (%v)", raw, err)
		}
	})
}

func TestGeodataStats(t *testing.T) {
	w := httpTestWorld()
	stats := NewStats()
	srv := httptest.NewServer(NewGeodata(w, GeodataOptions{Stats: stats}))
	defer srv.Close()
	a, b := w.Properties[0], w.Properties[1]
	for _, path := range []string{
		"/collections/fastigheter/items",
		"/collections/fastigheter/items?beteckning=" + url.QueryEscape(a.Designation),
		"/collections/fastigheter/items?objektidentitet=" + a.ObjectID + "," + b.ObjectID,
		"/collections/fastigheter/items/" + a.ObjectID,
		"/collections/fastigheter/items/" + b.ObjectID,
		"/legacy/lagfart/" + a.ObjectID,
	} {
		doJSON(t, http.MethodGet, srv.URL+path, nil)
	}
	want := map[string]Counter{"items": {Calls: 3, Keys: 3}, "item": {Calls: 2, Keys: 2}, "lagfart": {Calls: 1, Keys: 1}}
	if got := stats.Snapshot()["geodata"]; !reflect.DeepEqual(got, want) {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}
