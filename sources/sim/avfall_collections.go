package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/sources/rest"
)

// The waste-collection system's emptyings (tömningar): every emptying of a
// property's bins over the last half year, newest first, read a page at a
// time. They exist so that the declared connector's pagination is real:
// the DIGG-profile list pages by limit and page, and an OGC API Features
// collection of the same records pages by limit and offset and links each
// page to the next.

// Limits of the emptyings' lists.
const (
	collectionsDefaultLimit = 20
	collectionsMaxLimit     = 100
	// ogcDefaultLimit is OGC API Features' usual default page size.
	ogcDefaultLimit = 10
	// collectionHistory is how far back the emptyings go.
	collectionHistory = 26 * 7 * 24 * time.Hour
)

// CollectionDTO is one emptying on the wire.
type CollectionDTO struct {
	ID         string `json:"id"`
	PropertyID string `json:"propertyId"`
	Fraction   string `json:"fraction"`
	// Date is an ISO 8601 date (YYYY-MM-DD).
	Date string `json:"date"`
	// WeightKg is the weighed waste, one decimal.
	WeightKg float64 `json:"weightKg"`
	// Vehicle is the collection vehicle that emptied the bins.
	Vehicle CollectionVehicleDTO `json:"vehicle"`
	// Invoice is the emptying's weight-based fee (viktbaserad taxa) as
	// invoiced to a person; absent when an organisation is invoiced.
	Invoice *CollectionInvoiceDTO `json:"invoice,omitempty"`
}

// CollectionVehicleDTO is a collection vehicle on the wire.
type CollectionVehicleDTO struct {
	RegNr string `json:"regNr"`
	Route string `json:"route"`
}

// CollectionInvoiceDTO is an emptying's fee to the invoice recipient.
type CollectionInvoiceDTO struct {
	// PartyID is the recipient's pseudonymous party id at the e-service
	// platform.
	PartyID string       `json:"partyId"`
	Lines   []FeeLineDTO `json:"lines"`
}

// FeeLineDTO is one line of an emptying's fee.
type FeeLineDTO struct {
	Text string `json:"text"`
	// Amount is in kronor, two decimals.
	Amount float64 `json:"amount"`
}

// Fees of the weight-based tariff (viktbaserad taxa).
const (
	feePerEmptying = 25.0
	feePerKg       = 2.5
)

// collectionOf is one emptying of a pickup: its vehicle is the route of
// the pickup's weekday and fraction, and a person invoiced for the pickup
// is invoiced its fee, a line per emptying and one for the weight.
func collectionOf(w *World, pu *Pickup, id string, d time.Time, kg float64) CollectionDTO {
	route := fmt.Sprintf("%s-%s", pu.Fraction, strings.ToUpper(pu.Weekday.String()[:3]))
	c := CollectionDTO{
		ID: id, PropertyID: pu.PropertyID, Fraction: pu.Fraction, Date: d.Format(time.DateOnly), WeightKg: kg,
		Vehicle: CollectionVehicleDTO{RegNr: fmt.Sprintf("AVF%03d", 100+int(pu.Weekday)*10+len(pu.Fraction)), Route: route},
	}
	if pn := pu.Invoice.PersonalNumber; pn != "" {
		c.Invoice = &CollectionInvoiceDTO{PartyID: w.PartyOf[pn], Lines: []FeeLineDTO{
			{Text: "Tömning " + pu.Fraction, Amount: feePerEmptying},
			{Text: fmt.Sprintf("Vikt %.1f kg", kg), Amount: math.Round(kg*feePerKg*100) / 100},
		}}
	}
	return c
}

// CollectionList is a page of a property's emptyings (DIGG profile).
type CollectionList struct {
	Collections []CollectionDTO `json:"collections"`
	Meta        rest.PageMeta   `json:"_meta"`
	Links       []rest.Link     `json:"_links"`
}

// CollectionFeatures is a page of emptyings as an OGC API Features
// collection (no geometry: an emptying is at its property).
type CollectionFeatures struct {
	Type           string              `json:"type"`
	Features       []CollectionFeature `json:"features"`
	NumberMatched  int                 `json:"numberMatched"`
	NumberReturned int                 `json:"numberReturned"`
	Links          []rest.Link         `json:"links"`
}

// CollectionFeature is one emptying as a feature.
type CollectionFeature struct {
	Type       string        `json:"type"`
	ID         string        `json:"id"`
	Geometry   any           `json:"geometry"`
	Properties CollectionDTO `json:"properties"`
}

// CollectionsOf lists every property's emptyings, newest first: each
// pickup's scheduled days before its next date, back half a year, with a
// weight drawn from its id (so the lists are the same at every start).
func CollectionsOf(w *World) map[string][]CollectionDTO {
	out := make(map[string][]CollectionDTO, len(w.Properties))
	since := refDate.Add(-collectionHistory)
	for _, p := range w.Properties {
		list := []CollectionDTO{}
		for _, pu := range w.PickupsOf[p.ObjectID] {
			for k := 1; ; k++ {
				d := pu.NextDate.AddDate(0, 0, -7*pu.IntervalWeeks*k)
				if d.Before(since) {
					break
				}
				id := pu.ID + "-" + strconv.Itoa(k)
				h := fnv.New32a()
				_, _ = h.Write([]byte(id))
				list = append(list, collectionOf(w, pu, id, d, float64(30+h.Sum32()%570)/10))
			}
		}
		slices.SortStableFunc(list, func(a, b CollectionDTO) int {
			if a.Date != b.Date {
				return -compareStrings(a.Date, b.Date)
			}
			return compareStrings(a.Fraction, b.Fraction)
		})
		out[p.ObjectID] = list
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addCollections adds the emptyings' lists to the system's mux.
//
//	GET /api/v1/properties/{id}/collections?limit&page        a property's emptyings (limit 1-100, default 20; page from 1); 404 for an unknown property; &fraction=MAT lists that fraction's only
//	GET /ogc/collections/hamtningar/items?fastighet&limit&offset the same as GeoJSON features (limit 1-100, default 10; offset from 0), with a next link
func (a *avfall) addCollections(mux *http.ServeMux, w *World) {
	a.collections = CollectionsOf(w)
	mux.HandleFunc("GET /api/v1/properties/{id}/collections", a.listCollections)
	mux.HandleFunc("GET /ogc/collections/hamtningar/items", a.collectionItems)
	for _, path := range []string{"/api/v1/properties/{id}/collections", "/ogc/collections/hamtningar/items"} {
		mux.HandleFunc(path, methodNotAllowed("GET, HEAD"))
	}
}

func (a *avfall) listCollections(w http.ResponseWriter, r *http.Request) {
	a.record(r, "collections", 1)
	q := r.URL.Query()
	limit, page, ok := limitPage(w, q, collectionsDefaultLimit, collectionsMaxLimit)
	if !ok {
		return
	}
	list, ok := a.collections[r.PathValue("id")]
	if !ok {
		writeProblem(w, http.StatusNotFound, "Not Found", "no property "+strconv.Quote(clip(r.PathValue("id"), 100)))
		return
	}
	list = ofFraction(list, q)
	total := len(list)
	pages := (total + limit - 1) / limit
	from := min((page-1)*limit, total)
	to := min(from+limit, total)
	link := func(rel string, page int) rest.Link {
		v := url.Values{"limit": {strconv.Itoa(limit)}, "page": {strconv.Itoa(page)}}
		keepFraction(v, q)
		u := url.URL{Path: r.URL.Path, RawQuery: v.Encode()}
		return rest.Link{Href: baseURL(r) + u.RequestURI(), Rel: rel, Type: "application/json"}
	}
	out := CollectionList{
		Collections: list[from:to:to],
		Meta:        rest.PageMeta{Page: page, Limit: limit, Count: to - from, TotalRecords: total, TotalPages: pages},
		Links:       []rest.Link{link("self", page), link("first", 1), link("last", max(pages, 1))},
	}
	if page < pages {
		out.Links = append(out.Links, link("next", page+1))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *avfall) collectionItems(w http.ResponseWriter, r *http.Request) {
	a.record(r, "collectionItems", 1)
	q := r.URL.Query()
	limit, err := intParam(q, "limit", ogcDefaultLimit, 1, collectionsMaxLimit)
	if err != nil {
		writeOGCError(w, http.StatusBadRequest, "InvalidParameterValue", err.Error())
		return
	}
	offset, err := intParam(q, "offset", 0, 0, 1<<30)
	if err != nil {
		writeOGCError(w, http.StatusBadRequest, "InvalidParameterValue", err.Error())
		return
	}
	id := q.Get("fastighet")
	if id == "" {
		writeOGCError(w, http.StatusBadRequest, "MissingParameterValue", "fastighet names the property whose emptyings are listed")
		return
	}
	list := a.collections[id]  // an unknown property matches nothing
	list = ofFraction(list, q) // a queryable property (OGC API Features part 1, 7.15.5)
	from := min(offset, len(list))
	to := min(from+limit, len(list))
	link := func(rel string, offset int) rest.Link {
		v := url.Values{"fastighet": {id}, "limit": {strconv.Itoa(limit)}, "offset": {strconv.Itoa(offset)}}
		keepFraction(v, q)
		u := url.URL{Path: r.URL.Path, RawQuery: v.Encode()}
		return rest.Link{Href: baseURL(r) + u.RequestURI(), Rel: rel, Type: "application/geo+json"}
	}
	out := CollectionFeatures{
		Type: "FeatureCollection", Features: []CollectionFeature{},
		NumberMatched: len(list), NumberReturned: to - from,
		Links: []rest.Link{link("self", offset)},
	}
	for _, c := range list[from:to] {
		out.Features = append(out.Features, CollectionFeature{Type: "Feature", ID: c.ID, Properties: c})
	}
	if to < len(list) {
		out.Links = append(out.Links, link("next", to))
	}
	writeJSONAs(w, http.StatusOK, "application/geo+json", out)
}

// ofFraction is list with ?fraction=MAT: that fraction's emptyings only;
// without the parameter, all of them.
func ofFraction(list []CollectionDTO, q url.Values) []CollectionDTO {
	if !q.Has("fraction") {
		return list
	}
	kept := []CollectionDTO{}
	for _, c := range list {
		if c.Fraction == q.Get("fraction") {
			kept = append(kept, c)
		}
	}
	return kept
}

// keepFraction carries the request's ?fraction= into a paging link.
func keepFraction(v, q url.Values) {
	if q.Has("fraction") {
		v.Set("fraction", q.Get("fraction"))
	}
}
