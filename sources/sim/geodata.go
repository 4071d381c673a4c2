package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kommungraf/kommungraf/sources/rest"
)

// OGC API Features identifiers the property register uses.
const (
	// CollectionFastigheter is the id of the property collection.
	CollectionFastigheter = "fastigheter"
	// CRS84 is WGS 84 longitude/latitude, the only CRS served.
	CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

	confCore    = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
	confGeoJSON = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
)

// Limits of the items endpoint.
const (
	itemsDefaultLimit = 10
	itemsMaxLimit     = 1000
	// itemsMaxBatch is the most objektidentitet one batch call may name.
	itemsMaxBatch = 100
)

// GeodataOptions configures the property register simulator.
type GeodataOptions struct {
	// Stats counts calls per operation under system "geodata" (optional).
	Stats *Stats
	// Faults, when set, wraps the handler with fault injection (optional).
	Faults *Faults
}

// geodata is the property register: OGC API Features core for the
// properties and one legacy XML endpoint for their registered owners.
type geodata struct {
	w     *World
	stats *Stats
	// features are the properties in world order, encoded once.
	features []rest.Feature
	// boxes are the features' bounding boxes (minLon, minLat, maxLon, maxLat).
	boxes [][4]float64
	// all is 0..len(features)-1, the match list of an unfiltered request.
	all []int
	pos map[string]int
	// byDesignation indexes features by upper-cased beteckning.
	byDesignation map[string]int
	extent        [4]float64
}

// NewGeodata returns the property register: OGC API Features core
// (landing page, conformance, the collection "fastigheter" and its items, as
// GeoJSON in CRS84) and GET /legacy/lagfart/{objektidentitet}, which answers
// XML only.
func NewGeodata(w *World, opts GeodataOptions) http.Handler {
	g := &geodata{
		w: w, stats: opts.Stats,
		features:      make([]rest.Feature, len(w.Properties)),
		boxes:         make([][4]float64, len(w.Properties)),
		all:           make([]int, len(w.Properties)),
		pos:           make(map[string]int, len(w.Properties)),
		byDesignation: make(map[string]int, len(w.Properties)),
		extent:        [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)},
	}
	for i, p := range w.Properties {
		g.features[i] = rest.Feature{
			Type: "Feature", ID: p.ObjectID, Geometry: json.RawMessage(p.Geometry),
			Properties: rest.FeatureProperties{
				Objektidentitet: p.ObjectID, Beteckning: p.Designation, ArealM2: p.AreaM2, Adress: p.Address,
			},
		}
		g.boxes[i] = geometryBox(p.Geometry)
		g.all[i] = i
		g.pos[p.ObjectID] = i
		g.byDesignation[strings.ToUpper(p.Designation)] = i
		g.extent = [4]float64{
			math.Min(g.extent[0], g.boxes[i][0]), math.Min(g.extent[1], g.boxes[i][1]),
			math.Max(g.extent[2], g.boxes[i][2]), math.Max(g.extent[3], g.boxes[i][3]),
		}
	}
	if math.IsInf(g.extent[0], 0) {
		g.extent = [4]float64{15.0, 59.1, 15.5, 59.4} // Örebro, for an empty world
	}

	mux := http.NewServeMux()
	routes := []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"/{$}", g.landing},
		{"/conformance", g.conformance},
		{"/collections", g.collections},
		{"/collections/{collectionId}", g.collection},
		{"/collections/{collectionId}/items", g.items},
		{"/collections/{collectionId}/items/{featureId}", g.item},
		{"/legacy/lagfart/{objektidentitet}", g.lagfart},
	}
	for _, rt := range routes {
		mux.HandleFunc("GET "+rt.pattern, rt.h)
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "GET, HEAD")
			if strings.HasPrefix(r.URL.Path, "/legacy/") {
				writeXMLError(w, http.StatusMethodNotAllowed, r.Method+" stöds inte")
				return
			}
			writeOGCError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" is not supported here")
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/legacy/") {
			writeXMLError(w, http.StatusNotFound, "resursen finns inte")
			return
		}
		writeOGCError(w, http.StatusNotFound, "NotFound", "no resource at "+r.URL.Path)
	})

	if opts.Faults == nil {
		return mux
	}
	// The legacy endpoint speaks XML, the rest GeoJSON: injected faults
	// must look like what each part would send.
	return opts.Faults.wrapSplit("geodata", mux, BodyGeoJSON, BodyXML, func(r *http.Request) bool {
		return strings.HasPrefix(r.URL.Path, "/legacy/")
	}, opts.Stats)
}

// geometryBox returns the bounding box of a GeoJSON geometry's coordinates,
// whatever their nesting.
func geometryBox(raw []byte) [4]float64 {
	box := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	add := func(pos []float64) {
		if len(pos) >= 2 {
			box[0], box[1] = math.Min(box[0], pos[0]), math.Min(box[1], pos[1])
			box[2], box[3] = math.Max(box[2], pos[0]), math.Max(box[3], pos[1])
		}
	}
	// The world's geometries are polygons: decode those in one go.
	var polygon struct {
		Type        string        `json:"type"`
		Coordinates [][][]float64 `json:"coordinates"`
	}
	if json.Unmarshal(raw, &polygon) == nil && polygon.Type == "Polygon" {
		for _, ring := range polygon.Coordinates {
			for _, pos := range ring {
				add(pos)
			}
		}
		return box
	}
	var g struct {
		Coordinates json.RawMessage `json:"coordinates"`
	}
	if json.Unmarshal(raw, &g) != nil {
		return box
	}
	var walk func(json.RawMessage)
	walk = func(m json.RawMessage) {
		var pos []float64
		if json.Unmarshal(m, &pos) == nil {
			add(pos)
			return
		}
		var list []json.RawMessage
		if json.Unmarshal(m, &list) == nil {
			for _, x := range list {
				walk(x)
			}
		}
	}
	walk(g.Coordinates)
	return box
}

func (g *geodata) record(r *http.Request, op string, keys int) {
	if g.stats != nil {
		g.stats.RecordRequest(r.Header.Get("X-Request-Id"), "geodata", op, keys)
	}
}

// ogcError is the error body of OGC API Features servers.
type ogcError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

func writeOGCError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, ogcError{Code: code, Description: description})
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (g *geodata) landing(w http.ResponseWriter, r *http.Request) {
	g.record(r, "landing", 0)
	base := baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"title":       "Fastighetsregister (syntetiskt)",
		"description": "Simulated property register of Örebro kommun: OGC API Features core. All data is synthetic.",
		"links": []rest.Link{
			{Href: base + "/", Rel: "self", Type: "application/json", Title: "This document"},
			{Href: base + "/conformance", Rel: "conformance", Type: "application/json", Title: "Conformance classes"},
			{Href: base + "/collections", Rel: "data", Type: "application/json", Title: "Collections"},
		},
	})
}

func (g *geodata) conformance(w http.ResponseWriter, r *http.Request) {
	g.record(r, "conformance", 0)
	writeJSON(w, http.StatusOK, map[string]any{"conformsTo": []string{confCore, confGeoJSON}})
}

// collectionInfo describes the property collection.
type collectionInfo struct {
	ID          string      `json:"id"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Links       []rest.Link `json:"links"`
	Extent      struct {
		Spatial struct {
			BBox [][4]float64 `json:"bbox"`
			CRS  string       `json:"crs"`
		} `json:"spatial"`
	} `json:"extent"`
	ItemType string   `json:"itemType"`
	CRS      []string `json:"crs"`
}

func (g *geodata) collectionInfo(r *http.Request) collectionInfo {
	base := baseURL(r) + "/collections/" + CollectionFastigheter
	c := collectionInfo{
		ID: CollectionFastigheter, Title: "Fastigheter",
		Description: "Real properties (fastigheter) in Örebro kommun with designation, area and address. Synthetic data.",
		Links: []rest.Link{
			{Href: base, Rel: "self", Type: "application/json", Title: "This collection"},
			{Href: base + "/items", Rel: "items", Type: "application/geo+json", Title: "Properties"},
		},
		ItemType: "feature", CRS: []string{CRS84},
	}
	c.Extent.Spatial.BBox = [][4]float64{g.extent}
	c.Extent.Spatial.CRS = CRS84
	return c
}

func (g *geodata) collections(w http.ResponseWriter, r *http.Request) {
	g.record(r, "collections", 0)
	writeJSON(w, http.StatusOK, map[string]any{
		"links": []rest.Link{
			{Href: baseURL(r) + "/collections", Rel: "self", Type: "application/json", Title: "Collections"},
		},
		"collections": []collectionInfo{g.collectionInfo(r)},
	})
}

// knownCollection answers 404 and reports false for any collection but ours.
func knownCollection(w http.ResponseWriter, r *http.Request) bool {
	if id := r.PathValue("collectionId"); id != CollectionFastigheter {
		writeOGCError(w, http.StatusNotFound, "NotFound", "no collection "+id)
		return false
	}
	return true
}

func (g *geodata) collection(w http.ResponseWriter, r *http.Request) {
	g.record(r, "collection", 0)
	if knownCollection(w, r) {
		writeJSON(w, http.StatusOK, g.collectionInfo(r))
	}
}

// itemsParams are the query parameters the items endpoint knows; OGC API
// Features asks servers to refuse any other.
var itemsParams = map[string]bool{"limit": true, "offset": true, "bbox": true, "beteckning": true, "objektidentitet": true, "f": true}

// items serves the collection's items. With objektidentitet=a,b,c (at most
// 100 ids) it is a batch lookup: paging is ignored and every match is
// returned, in the order asked.
func (g *geodata) items(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ids := splitList(q.Get("objektidentitet"))
	designation := q.Get("beteckning")
	switch {
	case q.Has("objektidentitet"):
		g.record(r, "items", len(ids))
	case designation != "":
		g.record(r, "items", 1)
	default:
		g.record(r, "items", 0)
	}
	if !knownCollection(w, r) {
		return
	}
	bad := func(format string, args ...any) {
		writeOGCError(w, http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf(format, args...))
	}
	for name := range q {
		if !itemsParams[name] {
			bad("unknown query parameter %q", name)
			return
		}
	}
	if f := q.Get("f"); f != "" && f != "json" && f != "geojson" {
		bad("f must be json, got %q", f)
		return
	}
	limit, err := intParam(q, "limit", itemsDefaultLimit, 1, math.MaxInt32)
	if err != nil {
		bad("%v", err)
		return
	}
	limit = min(limit, itemsMaxLimit) // OGC: a larger limit is not an error
	offset, err := intParam(q, "offset", 0, 0, math.MaxInt32)
	if err != nil {
		bad("%v", err)
		return
	}
	var box *[4]float64
	if q.Has("bbox") {
		b, err := parseBBox(q.Get("bbox"))
		if err != nil {
			bad("%v", err)
			return
		}
		box = &b
	}
	batch := q.Has("objektidentitet")
	if batch && (len(ids) == 0 || len(ids) > itemsMaxBatch) {
		bad("objektidentitet must list 1 to %d ids, got %d", itemsMaxBatch, len(ids))
		return
	}

	var matched []int
	switch {
	case batch:
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			if i, ok := g.pos[id]; ok && !seen[id] {
				seen[id] = true
				matched = append(matched, i)
			}
		}
	case designation != "":
		if i, ok := g.byDesignation[strings.ToUpper(designation)]; ok {
			matched = []int{i}
		}
	default:
		matched = g.all
	}
	if (batch && designation != "") || box != nil {
		filtered := make([]int, 0, len(matched))
		for _, i := range matched {
			if (designation == "" || strings.EqualFold(g.features[i].Properties.Beteckning, designation)) &&
				(box == nil || intersects(*box, g.boxes[i])) {
				filtered = append(filtered, i)
			}
		}
		matched = filtered
	}

	page := matched
	if !batch {
		from := min(offset, len(matched))
		page = matched[from:min(from+limit, len(matched))]
	}
	fc := rest.FeatureCollection{
		Type: "FeatureCollection", Features: make([]rest.Feature, 0, len(page)),
		NumberMatched: len(matched), NumberReturned: len(page),
		Links: []rest.Link{{Href: baseURL(r) + r.URL.RequestURI(), Rel: "self", Type: "application/geo+json", Title: "This page"}},
	}
	for _, i := range page {
		fc.Features = append(fc.Features, g.features[i])
	}
	if !batch {
		if offset+len(page) < len(matched) {
			fc.Links = append(fc.Links, g.pageLink(r, "next", offset+limit, limit))
		}
		if offset > 0 {
			fc.Links = append(fc.Links, g.pageLink(r, "prev", max(offset-limit, 0), limit))
		}
	}
	writeJSONAs(w, http.StatusOK, "application/geo+json", fc)
}

func (g *geodata) pageLink(r *http.Request, rel string, offset, limit int) rest.Link {
	q := r.URL.Query()
	q.Set("offset", strconv.Itoa(offset))
	q.Set("limit", strconv.Itoa(limit))
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	return rest.Link{Href: baseURL(r) + u.RequestURI(), Rel: rel, Type: "application/geo+json"}
}

// parseBBox reads minLon,minLat,maxLon,maxLat in CRS84.
func parseBBox(s string) ([4]float64, error) {
	var b [4]float64
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return b, fmt.Errorf("bbox must be minLon,minLat,maxLon,maxLat, got %q", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return b, fmt.Errorf("bbox must be four numbers, got %q", s)
		}
		b[i] = v
	}
	if b[0] > b[2] || b[1] > b[3] {
		return b, fmt.Errorf("bbox must have min before max, got %q", s)
	}
	return b, nil
}

func intersects(a, b [4]float64) bool {
	return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

func (g *geodata) item(w http.ResponseWriter, r *http.Request) {
	g.record(r, "item", 1)
	if !knownCollection(w, r) {
		return
	}
	id := r.PathValue("featureId")
	i, ok := g.pos[id]
	if !ok {
		writeOGCError(w, http.StatusNotFound, "NotFound", "no feature "+id+" in "+CollectionFastigheter)
		return
	}
	writeJSONAs(w, http.StatusOK, "application/geo+json", g.features[i])
}

// lagfart is the legacy endpoint: the registered owners of one property, in XML.
func (g *geodata) lagfart(w http.ResponseWriter, r *http.Request) {
	g.record(r, "lagfart", 1)
	id := r.PathValue("objektidentitet")
	if _, ok := g.pos[id]; !ok {
		writeXMLError(w, http.StatusNotFound, "fastigheten "+id+" finns inte")
		return
	}
	out := rest.Lagfartsinformation{Objektidentitet: id}
	for _, o := range g.w.Owners[id] {
		out.Agare = append(out.Agare, rest.LagfarenAgare{
			Namn: o.Name, Personnummer: o.PersonalNumber, Organisationsnummer: o.OrganisationNumber,
			Andel: o.Share, Inskrivningsdag: o.AcquiredOn.Format("2006-01-02"),
		})
	}
	writeXML(w, http.StatusOK, out)
}
