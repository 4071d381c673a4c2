package sim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
)

// The waste-collection system (Avfallshämtning): scheduled pickups per
// property, served as a REST JSON API after DIGG's REST API profile like the
// e-service platform. The gateway has no Go for it on purpose: it is to be
// added declaratively (issue 11), so its wire types live here, not in
// sources/rest.

// Limits of the waste-collection system's API.
const (
	pickupsDefaultLimit = 20
	pickupsMaxLimit     = 100
	// pickupsMaxBatch is the most propertyIds one batch call may name.
	pickupsMaxBatch = 100
	// pickupSearchMaxBody is the largest body of a pickup search.
	pickupSearchMaxBody = 64 << 10
	// pickupStream keys the pickups' random stream ("avfall" in ASCII), so
	// that it differs from the stream the rest of the world is drawn from.
	pickupStream = 0x617666616c6c
)

// Waste fractions (avfallsfraktioner). Every property has residual waste
// (REST); the others are drawn from otherFractions.
const fractionRest = "REST"

var (
	otherFractions = []string{"MAT", "PAPPER", "GLAS", "METALL", "PLAST", "TRADGARD"}
	// intervalsOf are the collection intervals (weeks) a fraction may have:
	// food waste often, packaging and garden waste less so.
	intervalsOf = map[string][]int{
		"REST": {1, 2, 4}, "MAT": {1, 2}, "PAPPER": {2, 4}, "GLAS": {4}, "METALL": {4}, "PLAST": {2, 4}, "TRADGARD": {2},
	}
	// Container sizes in litres: a household's bins, and an organisation's
	// (apartment buildings, schools) larger ones.
	householdLitres    = []int{140, 190, 240, 370}
	organisationLitres = []int{370, 660}
)

// Pickup is one scheduled pickup (hämtning) of one waste fraction at one
// property.
type Pickup struct {
	ID         string
	PropertyID string // the property's ObjectID (objektidentitet)
	// Fraction is one of REST, MAT, PAPPER, GLAS, METALL, PLAST and TRADGARD.
	Fraction string
	// Weekday is Monday to Friday.
	Weekday time.Weekday
	// IntervalWeeks is 1, 2 or 4.
	IntervalWeeks int
	// NextDate is the first pickup after the world's reference date (a
	// Weekday), never the day it is generated.
	NextDate        time.Time
	ContainerLitres int
	// Invoice is the owner the fee is invoiced to: one of the property's
	// registered owners, a person (possibly a protected one) or, for a
	// property an organisation owns, that organisation. All pickups of a
	// property share it.
	Invoice *model.PropertyOwner
}

// addPickups gives every property of w one to four pickups of distinct
// fractions. It draws from a stream keyed by the seed but separate from the
// one the rest of the world is drawn from, and runs last, so the people,
// errands and properties of a seed are the same with or without it.
func addPickups(w *World) {
	rnd := rand.New(rand.NewPCG(w.Seed, w.Seed^pickupStream))
	w.PickupByID = make(map[string]*Pickup, 3*len(w.Properties))
	w.PickupsOf = make(map[string][]*Pickup, len(w.Properties))
	for _, p := range w.Properties {
		owners := w.Owners[p.ObjectID]
		if len(owners) == 0 {
			continue // no one to invoice; the generator gives every property an owner
		}
		payer := owners[rnd.IntN(len(owners))]
		litres := householdLitres
		if payer.OrganisationNumber != "" {
			litres = organisationLitres
		}
		n := 1 + rnd.IntN(4)
		perm := rnd.Perm(len(otherFractions))
		for i := range n {
			fraction := fractionRest
			if i > 0 {
				fraction = otherFractions[perm[i-1]]
			}
			wd := time.Monday + time.Weekday(rnd.IntN(5))
			interval := pick(rnd, intervalsOf[fraction])
			pu := &Pickup{
				ID: uuidFrom(rnd), PropertyID: p.ObjectID, Fraction: fraction, Weekday: wd, IntervalWeeks: interval,
				NextDate:        nextWeekday(refDate, wd).AddDate(0, 0, 7*rnd.IntN(interval)),
				ContainerLitres: pick(rnd, litres),
				Invoice:         payer,
			}
			w.Pickups = append(w.Pickups, pu)
			w.PickupByID[pu.ID] = pu
			w.PickupsOf[p.ObjectID] = append(w.PickupsOf[p.ObjectID], pu)
		}
	}
}

// nextWeekday is the first day after t that is a wd.
func nextWeekday(t time.Time, wd time.Weekday) time.Time {
	days := (int(wd)-int(t.Weekday())+6)%7 + 1
	return t.AddDate(0, 0, days)
}

// PickupDTO is a pickup on the wire.
type PickupDTO struct {
	ID         string `json:"id" xml:"id"`
	PropertyID string `json:"propertyId" xml:"propertyId"`
	Fraction   string `json:"fraction" xml:"fraction"`
	// Weekday is MONDAY to FRIDAY.
	Weekday       string `json:"weekday" xml:"weekday"`
	IntervalWeeks int    `json:"intervalWeeks" xml:"intervalWeeks"`
	// NextDate is an ISO 8601 date (YYYY-MM-DD).
	NextDate        string `json:"nextDate" xml:"nextDate"`
	ContainerLitres int    `json:"containerLitres" xml:"containerLitres"`
	// InvoicePartyID is the invoice recipient's pseudonymous partyId at the
	// e-service platform (its party lookup resolves it); empty when an
	// organisation is invoiced.
	InvoicePartyID   string              `json:"invoicePartyId,omitempty" xml:"invoicePartyId,omitempty"`
	InvoiceRecipient InvoiceRecipientDTO `json:"invoiceRecipient" xml:"invoiceRecipient"`
}

// InvoiceRecipientDTO is who the fee is invoiced to: a person (personal
// data) or an organisation; exactly one of the numbers is set.
type InvoiceRecipientDTO struct {
	PersonalNumber     string `json:"personalNumber,omitempty" xml:"personalNumber,omitempty"`
	OrganisationNumber string `json:"organisationNumber,omitempty" xml:"organisationNumber,omitempty"`
	Name               string `json:"name" xml:"name"`
}

// PickupList is a page of pickups, or the answer of the batch form.
type PickupList struct {
	Pickups []PickupDTO   `json:"pickups"`
	Meta    rest.PageMeta `json:"_meta"`
	// Links are self, first, last and, where they exist, prev and next.
	// The batch form links to itself only.
	Links []rest.Link `json:"_links"`
}

// PickupSearch is the body of the search form, POST
// /api/v1/pickups/search: the batch form's question as JSON.
type PickupSearch struct {
	PropertyIDs []string `json:"propertyIds"`
	// Fraction keeps that fraction's pickups only; null or absent, all.
	Fraction *string `json:"fraction"`
}

// PickupSearchXML is the body of the XML search form, POST
// /api/v1/pickups/search.xml: the search form's question as XML,
// <search><propertyId>a</propertyId>…<fraction>MAT</fraction></search>.
type PickupSearchXML struct {
	XMLName     xml.Name `xml:"search"`
	PropertyIDs []string `xml:"propertyId"`
	// Fraction keeps that fraction's pickups only; absent, all.
	Fraction *string `xml:"fraction"`
}

// PickupListXML is the XML search form's answer, <pickups><pickup>…</pickups>.
type PickupListXML struct {
	XMLName xml.Name    `xml:"pickups"`
	Pickups []PickupDTO `xml:"pickup"`
}

// HealthDTO is the answer of the health endpoint.
type HealthDTO struct {
	Status string `json:"status"`
}

// AvfallOptions configures the waste-collection system simulator.
type AvfallOptions struct {
	// Stats counts calls per operation under system "avfall" (optional).
	Stats *Stats
	// Faults, when set, wraps the handler with fault injection (optional).
	Faults *Faults
}

// avfall is the waste-collection system; its answers are encoded once.
type avfall struct {
	stats *Stats
	// dtos are the pickups in world order.
	dtos []PickupDTO
	// pos maps a pickup's id to its index in dtos.
	pos map[string]int
	// byProperty lists the indexes of each property's pickups, by ObjectID.
	byProperty map[string][]int
	// collections are each property's emptyings, newest first
	// (avfall_collections.go).
	collections map[string][]CollectionDTO
}

// NewAvfall returns the waste-collection system: a REST JSON API after
// DIGG's REST API profile.
//
//	GET /api/v1/pickups?limit&page            all pickups, paged (limit 1-100, default 20; page from 1)
//	GET /api/v1/pickups?propertyIds=a,b,c     batch form: every pickup of those properties (at most 100), no paging;
//	                                          &fraction=MAT keeps that fraction's only
//	POST /api/v1/pickups/search               search form: the batch form's question as JSON,
//	                                          {"propertyIds":["a","b"],"fraction":"MAT"} (fraction optional);
//	                                          a body that is not one is refused with 400
//	POST /api/v1/pickups/search.xml           the search form in XML: <search><propertyId>a</propertyId>
//	                                          <propertyId>b</propertyId><fraction>MAT</fraction></search>,
//	                                          answered <pickups><pickup>…</pickup></pickups>; a body that is
//	                                          not one, has a DOCTYPE or is too large is refused with 400
//	GET /api/v1/pickups/{id}                  one pickup
//	GET /api/v1/health                        {"status":"UP"}: the readiness probe
//
// and a property's emptyings, paged three ways (avfall_collections.go).
//
// Unknown query parameters are ignored, as the e-service platform does.
// Errors are application/problem+json. The health endpoint answers behind
// the same faults as the data, so a probe sees the system as its callers do,
// but costs no lookup.
func NewAvfall(w *World, opts AvfallOptions) http.Handler {
	a := &avfall{
		stats:      opts.Stats,
		dtos:       make([]PickupDTO, len(w.Pickups)),
		pos:        make(map[string]int, len(w.Pickups)),
		byProperty: make(map[string][]int, len(w.PickupsOf)),
	}
	for i, p := range w.Pickups {
		a.dtos[i] = pickupDTO(w, p)
		a.pos[p.ID] = i
		a.byProperty[p.PropertyID] = append(a.byProperty[p.PropertyID], i)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/pickups", a.listPickups)
	mux.HandleFunc("POST /api/v1/pickups/search", a.searchPickups)
	mux.HandleFunc("POST /api/v1/pickups/search.xml", a.searchPickupsXML)
	mux.HandleFunc("GET /api/v1/pickups/{id}", a.getPickup)
	mux.HandleFunc("GET /api/v1/health", a.health)
	a.addCollections(mux, w)
	for _, path := range []string{"/api/v1/pickups", "/api/v1/pickups/{id}", "/api/v1/health"} {
		mux.HandleFunc(path, methodNotAllowed("GET, HEAD"))
	}
	mux.HandleFunc("GET /api/v1/pickups/search", methodNotAllowed("POST")) // not a pickup id
	mux.HandleFunc("GET /api/v1/pickups/search.xml", methodNotAllowed("POST"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "Not Found", "no resource at "+r.URL.Path)
	})

	if opts.Faults == nil {
		return mux
	}
	// The XML search form's injected faults look like what it sends.
	return opts.Faults.wrapSplit("avfall", mux, BodyJSON, BodyXML, func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, ".xml")
	}, opts.Stats)
}

func pickupDTO(w *World, p *Pickup) PickupDTO {
	d := PickupDTO{
		ID: p.ID, PropertyID: p.PropertyID, Fraction: p.Fraction,
		Weekday: strings.ToUpper(p.Weekday.String()), IntervalWeeks: p.IntervalWeeks,
		NextDate: p.NextDate.Format(time.DateOnly), ContainerLitres: p.ContainerLitres,
		InvoiceRecipient: InvoiceRecipientDTO{
			PersonalNumber: p.Invoice.PersonalNumber, OrganisationNumber: p.Invoice.OrganisationNumber, Name: p.Invoice.Name,
		},
	}
	if p.Invoice.PersonalNumber != "" {
		d.InvoicePartyID = w.PartyOf[p.Invoice.PersonalNumber]
	}
	return d
}

func (a *avfall) record(r *http.Request, op string, keys int) {
	if a.stats != nil {
		a.stats.RecordRequest(r.Header.Get("X-Request-Id"), "avfall", op, keys)
	}
}

// listPickups serves both the paged list and the batch form
// (?propertyIds=a,b,c), which ignores paging.
func (a *avfall) listPickups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("propertyIds") {
		a.pickupsByProperty(w, r, q)
		return
	}
	a.record(r, "pickups", 0)
	limit, page, ok := limitPage(w, q, pickupsDefaultLimit, pickupsMaxLimit)
	if !ok {
		return
	}
	total := len(a.dtos)
	pages := (total + limit - 1) / limit
	from := min((page-1)*limit, total)
	to := min(from+limit, total)
	out := PickupList{
		Pickups: a.dtos[from:to:to],
		Meta:    rest.PageMeta{Page: page, Limit: limit, Count: to - from, TotalRecords: total, TotalPages: pages},
		Links: []rest.Link{
			pageLink(r, "self", page, limit),
			pageLink(r, "first", 1, limit),
			pageLink(r, "last", max(pages, 1), limit),
		},
	}
	if page > 1 {
		// Beyond the end, prev leads back to the last page there is.
		out.Links = append(out.Links, pageLink(r, "prev", min(page-1, max(pages, 1)), limit))
	}
	if page < pages {
		out.Links = append(out.Links, pageLink(r, "next", page+1, limit))
	}
	writeJSON(w, http.StatusOK, out)
}

// pageLink links to page of the list. The list has no filters, so limit
// and page are all it carries: ignored parameters are not echoed back.
func pageLink(r *http.Request, rel string, page, limit int) rest.Link {
	q := url.Values{"limit": {strconv.Itoa(limit)}, "page": {strconv.Itoa(page)}}
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	return rest.Link{Href: baseURL(r) + u.RequestURI(), Rel: rel, Type: "application/json"}
}

// pickupsByProperty is the batch form: the pickups of each property named,
// in the order first named, each property's in its own order. Unknown ids
// and repeats add nothing; a comma, escaped or not, always separates ids.
func (a *avfall) pickupsByProperty(w http.ResponseWriter, r *http.Request, q url.Values) {
	ids := splitList(q.Get("propertyIds"))
	a.record(r, "pickups", len(ids))
	// ?fraction=MAT keeps that fraction's pickups only; absent, all.
	a.pickupsOf(w, r, ids, q.Get("fraction"), q.Has("fraction"))
}

// searchPickups is the search form: the batch form's question as a JSON
// body (PickupSearch), counted as pickups-search.
func (a *avfall) searchPickups(w http.ResponseWriter, r *http.Request) {
	var req PickupSearch
	err := readJSON(w, r, pickupSearchMaxBody, &req)
	a.record(r, "pickups-search", len(req.PropertyIDs))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid pickup search: "+err.Error())
		return
	}
	a.pickupsOf(w, r, req.PropertyIDs, deref(req.Fraction), req.Fraction != nil)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// searchPickupsXML is the search form in XML (PickupSearchXML), counted
// as pickups-search-xml, answered as a PickupListXML.
func (a *avfall) searchPickupsXML(w http.ResponseWriter, r *http.Request) {
	var req PickupSearchXML
	err := readXML(w, r, pickupSearchMaxBody, &req)
	a.record(r, "pickups-search-xml", len(req.PropertyIDs))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid pickup search: "+err.Error())
		return
	}
	pickups, err := a.pickupsFor(req.PropertyIDs, deref(req.Fraction), req.Fraction != nil)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	writeXML(w, http.StatusOK, PickupListXML{Pickups: pickups})
}

// pickupsOf answers the batch and search forms: the pickups of each
// property of ids, of the fraction when filter is set.
func (a *avfall) pickupsOf(w http.ResponseWriter, r *http.Request, ids []string, fraction string, filter bool) {
	pickups, err := a.pickupsFor(ids, fraction, filter)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	out := PickupList{
		Pickups: pickups,
		Links:   []rest.Link{{Href: baseURL(r) + r.URL.RequestURI(), Rel: "self", Type: "application/json"}},
	}
	n := len(out.Pickups)
	out.Meta = rest.PageMeta{Page: 1, Limit: n, Count: n, TotalRecords: n}
	if n > 0 {
		out.Meta.TotalPages = 1
	}
	writeJSON(w, http.StatusOK, out)
}

// pickupsFor are the pickups of each property of ids (1 to
// pickupsMaxBatch), of the fraction when filter is set.
func (a *avfall) pickupsFor(ids []string, fraction string, filter bool) ([]PickupDTO, error) {
	switch {
	case len(ids) == 0:
		return nil, errors.New("propertyIds must name at least one property")
	case len(ids) > pickupsMaxBatch:
		return nil, fmt.Errorf("propertyIds names %d properties, at most %d are allowed", len(ids), pickupsMaxBatch)
	}
	out := []PickupDTO{}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		for _, i := range a.byProperty[id] {
			if filter && a.dtos[i].Fraction != fraction {
				continue
			}
			out = append(out, a.dtos[i])
		}
	}
	return out, nil
}

func (a *avfall) getPickup(w http.ResponseWriter, r *http.Request) {
	a.record(r, "pickup", 1)
	id := r.PathValue("id")
	i, ok := a.pos[id]
	if !ok {
		writeProblem(w, http.StatusNotFound, "Not Found", "no pickup "+strconv.Quote(clip(id, 100)))
		return
	}
	writeJSON(w, http.StatusOK, a.dtos[i])
}

func (a *avfall) health(w http.ResponseWriter, r *http.Request) {
	a.record(r, "health", 0)
	writeJSON(w, http.StatusOK, HealthDTO{Status: "UP"})
}

// clip shortens s to at most n runes, so that an error does not echo a
// hostile megabyte back.
func clip(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}
