package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kommungraf/kommungraf/sources/rest"
)

// TestPickupsOfTheWorld checks the generated pickups of the demo's world
// (seed 1) and of the HTTP tests' world (seed 5) against the rules the
// waste-collection system keeps.
func TestPickupsOfTheWorld(t *testing.T) {
	for _, opts := range []WorldOptions{{Seed: 1, People: DefaultPeople}, {Seed: 5, People: 300}} {
		t.Run(fmt.Sprintf("seed %d", opts.Seed), func(t *testing.T) {
			w := NewWorld(opts)
			allFractions := append([]string{fractionRest}, otherFractions...)
			seenFraction := map[string]bool{}
			var protected, organisations, total int
			for _, p := range w.Properties {
				pickups := w.PickupsOf[p.ObjectID]
				if n := len(pickups); n < 1 || n > 4 {
					t.Fatalf("%s has %d pickups, want 1 to 4", p.Designation, n)
				}
				total += len(pickups)
				owners := w.Owners[p.ObjectID]
				fractions := map[string]bool{}
				for i, pu := range pickups {
					where := fmt.Sprintf("%s pickup %d (%s)", p.Designation, i, pu.ID)
					if pu.PropertyID != p.ObjectID || w.PickupByID[pu.ID] != pu {
						t.Fatalf("%s: property %s, indexed as %p", where, pu.PropertyID, w.PickupByID[pu.ID])
					}
					if _, err := uuid.Parse(pu.ID); err != nil {
						t.Errorf("%s: id is not a UUID: %v", where, err)
					}
					if !slices.Contains(allFractions, pu.Fraction) || fractions[pu.Fraction] {
						t.Errorf("%s: fraction %q unknown or repeated", where, pu.Fraction)
					}
					if i == 0 && pu.Fraction != fractionRest {
						t.Errorf("%s: the first pickup is %s, want REST (every property has residual waste)", where, pu.Fraction)
					}
					fractions[pu.Fraction] = true
					seenFraction[pu.Fraction] = true
					if pu.Weekday < time.Monday || pu.Weekday > time.Friday {
						t.Errorf("%s: weekday %v", where, pu.Weekday)
					}
					if !slices.Contains([]int{1, 2, 4}, pu.IntervalWeeks) || !slices.Contains(intervalsOf[pu.Fraction], pu.IntervalWeeks) {
						t.Errorf("%s: %s every %d weeks", where, pu.Fraction, pu.IntervalWeeks)
					}
					// The next pickup is on its weekday, after the reference
					// date and within one interval of it.
					days := int(pu.NextDate.Sub(refDate).Hours() / 24)
					if pu.NextDate.Weekday() != pu.Weekday || days < 1 || days > 7*pu.IntervalWeeks {
						t.Errorf("%s: next date %s (%v) for %v every %d weeks from %s",
							where, pu.NextDate.Format(time.DateOnly), pu.NextDate.Weekday(), pu.Weekday, pu.IntervalWeeks, refDate.Format(time.DateOnly))
					}
					if !slices.Contains(owners, pu.Invoice) || pu.Invoice != pickups[0].Invoice {
						t.Errorf("%s: invoiced to %+v, not the property's one payer among %+v", where, pu.Invoice, owners)
					}
					litres := householdLitres
					if pu.Invoice.OrganisationNumber != "" {
						litres = organisationLitres
					}
					if !slices.Contains(litres, pu.ContainerLitres) {
						t.Errorf("%s: %d litres for %+v", where, pu.ContainerLitres, pu.Invoice)
					}
				}
				switch payer := pickups[0].Invoice; {
				case payer.PersonalNumber != "":
					person := w.ByPNR[payer.PersonalNumber]
					if person == nil || payer.Name != person.GivenName+" "+person.Surname {
						t.Errorf("%s: invoiced to %+v, who is not in the registry as such", p.Designation, payer)
					} else if person.IsProtected() {
						protected++
					}
				case payer.OrganisationNumber != "":
					organisations++
				default:
					t.Errorf("%s: invoiced to %+v, neither a person nor an organisation", p.Designation, payer)
				}
			}
			if len(w.Pickups) != total || len(w.PickupByID) != total || len(w.PickupsOf) != len(w.Properties) {
				t.Errorf("%d pickups, %d by id, %d properties with pickups; want %d, %d, %d",
					len(w.Pickups), len(w.PickupByID), len(w.PickupsOf), total, total, len(w.Properties))
			}
			if len(seenFraction) != len(allFractions) || organisations == 0 {
				t.Errorf("fractions %v, %d properties invoiced to organisations", seenFraction, organisations)
			}
			// The demo's world must hold invoice recipients with protected
			// identity, so that the rule raising them can be shown.
			if opts.Seed == 1 && protected == 0 {
				t.Errorf("no property of the demo's world is invoiced to a protected person")
			}
		})
	}
}

// TestPickupsDeterministic: the same seed gives the same pickups, another
// seed other ones, and pickups leave the rest of the world as it was
// (TestExistingWorldUnchanged pins that).
func TestPickupsDeterministic(t *testing.T) {
	encode := func(w *World) string {
		dtos := make([]PickupDTO, len(w.Pickups))
		for i, p := range w.Pickups {
			dtos[i] = pickupDTO(w, p)
		}
		b, err := json.Marshal(dtos)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, b := NewWorld(WorldOptions{Seed: 7, People: 400}), NewWorld(WorldOptions{Seed: 7, People: 400})
	if encode(a) != encode(b) {
		t.Error("two worlds of seed 7 have different pickups")
	}
	if c := NewWorld(WorldOptions{Seed: 8, People: 400}); encode(a) == encode(c) {
		t.Error("seeds 7 and 8 have the same pickups")
	}
}

func TestNextWeekday(t *testing.T) {
	thu := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // the reference date, a Thursday
	for wd, want := range map[time.Weekday]string{
		time.Monday: "2026-01-05", time.Tuesday: "2026-01-06", time.Wednesday: "2026-01-07",
		time.Thursday: "2026-01-08", time.Friday: "2026-01-02", time.Sunday: "2026-01-04",
	} {
		if got := nextWeekday(thu, wd).Format(time.DateOnly); got != want {
			t.Errorf("next %v after %s = %s, want %s", wd, thu.Format(time.DateOnly), got, want)
		}
	}
}

func pickupIDs(dtos []PickupDTO) []string {
	out := make([]string, len(dtos))
	for i, d := range dtos {
		out[i] = d.ID
	}
	return out
}

// worldPickupIDs returns the ids of the pickups of these properties, in
// the order given.
func worldPickupIDs(w *World, propertyIDs ...string) []string {
	out := []string{}
	for _, id := range propertyIDs {
		for _, p := range w.PickupsOf[id] {
			out = append(out, p.ID)
		}
	}
	return out
}

func TestAvfallList(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{}))
	defer srv.Close()
	n := len(w.Pickups)
	all := worldPickupIDs(w, worldPropertyIDs(w)...)
	pages := func(limit int) int { return (n + limit - 1) / limit }
	last := pages(100)

	tests := []struct {
		name     string
		query    string
		wantMeta rest.PageMeta
		want     []string
		// wantLinks are the pages each rel links to ("" for no such link).
		wantLinks map[string]string
	}{
		{"defaults", "", rest.PageMeta{Page: 1, Limit: 20, Count: 20, TotalRecords: n, TotalPages: pages(20)}, all[:20],
			map[string]string{"self": "1", "first": "1", "last": fmt.Sprint(pages(20)), "prev": "", "next": "2"}},
		{"second page", "?limit=7&page=2", rest.PageMeta{Page: 2, Limit: 7, Count: 7, TotalRecords: n, TotalPages: pages(7)}, all[7:14],
			map[string]string{"self": "2", "first": "1", "last": fmt.Sprint(pages(7)), "prev": "1", "next": "3"}},
		{"last partial page", fmt.Sprintf("?limit=100&page=%d", last),
			rest.PageMeta{Page: last, Limit: 100, Count: n - 100*(last-1), TotalRecords: n, TotalPages: last}, all[100*(last-1):],
			map[string]string{"self": fmt.Sprint(last), "prev": fmt.Sprint(last - 1), "next": ""}},
		{"beyond the last page", "?limit=100&page=99", rest.PageMeta{Page: 99, Limit: 100, TotalRecords: n, TotalPages: last}, []string{},
			map[string]string{"self": "99", "last": fmt.Sprint(last), "prev": fmt.Sprint(last), "next": ""}},
		{"far beyond the last page", fmt.Sprintf("?page=%d", 1<<30), rest.PageMeta{Page: 1 << 30, Limit: 20, TotalRecords: n, TotalPages: pages(20)}, []string{},
			map[string]string{"prev": fmt.Sprint(pages(20)), "next": ""}},
		{"unknown parameters are ignored", "?limit=5&fraction=MAT&sort=-nextDate&%C3%A5=%00", rest.PageMeta{Page: 1, Limit: 5, Count: 5, TotalRecords: n, TotalPages: pages(5)}, all[:5],
			map[string]string{"next": "2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got PickupList
			h := getInto(t, srv.URL+"/api/v1/pickups"+tc.query, &got)
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got.Meta != tc.wantMeta {
				t.Errorf("_meta = %+v, want %+v", got.Meta, tc.wantMeta)
			}
			if g := pickupIDs(got.Pickups); !slices.Equal(g, tc.want) || got.Pickups == nil {
				t.Errorf("pickups = %v, want %v", g, tc.want)
			}
			for rel, page := range tc.wantLinks {
				l := linkOf(got.Links, rel)
				switch {
				case page == "" && l != nil:
					t.Errorf("%s link %s, want none", rel, l.Href)
				case page == "":
				case l == nil:
					t.Errorf("no %s link in %+v", rel, got.Links)
				default:
					u, err := url.Parse(l.Href)
					if err != nil || u.Host != strings.TrimPrefix(srv.URL, "http://") || u.Path != "/api/v1/pickups" || len(u.Query()) != 2 ||
						u.Query().Get("page") != page || u.Query().Get("limit") != fmt.Sprint(tc.wantMeta.Limit) {
						t.Errorf("%s link %s, want page %s of limit %d", rel, l.Href, page, tc.wantMeta.Limit)
					}
				}
			}
		})
	}

	t.Run("next links walk every pickup once", func(t *testing.T) {
		var walked []string
		next := srv.URL + "/api/v1/pickups?limit=100"
		for next != "" {
			var got PickupList
			getInto(t, next, &got)
			walked = append(walked, pickupIDs(got.Pickups)...)
			next = ""
			if l := linkOf(got.Links, "next"); l != nil {
				next = l.Href
			}
		}
		if !slices.Equal(walked, all) {
			t.Errorf("walked %d pickups, want the world's %d in order", len(walked), len(all))
		}
	})
}

func TestAvfallBatch(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{}))
	defer srv.Close()
	p0, p1, p2 := w.Properties[0].ObjectID, w.Properties[1].ObjectID, w.Properties[len(w.Properties)-1].ObjectID
	unknown := "00000000-0000-4000-8000-000000000000"
	// 100 ids: the world's (fewer than 100 in the test world) and unknown ones.
	hundred := worldPropertyIDs(w)[:min(100, len(w.Properties))]
	for i := len(hundred); i < 100; i++ {
		hundred = append(hundred, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}

	tests := []struct {
		name  string
		query string // after "propertyIds="
		want  []string
	}{
		{"one property", p0, worldPickupIDs(w, p0)},
		{"in the order asked", p2 + "," + p0, worldPickupIDs(w, p2, p0)},
		{"repeats and unknown ids add nothing", strings.Join([]string{p1, unknown, p1, p0, p1}, ","), worldPickupIDs(w, p1, p0)},
		{"spaces and empty items are dropped", url.QueryEscape(" " + p0 + " ,, " + p1 + ","), worldPickupIDs(w, p0, p1)},
		{"an escaped comma separates too", p0 + "%2C" + p1, worldPickupIDs(w, p0, p1)},
		{"only unknown ids", unknown + "," + strings.ToUpper(p0), []string{}},
		{"a designation is not an id", url.QueryEscape(w.Properties[0].Designation), []string{}},
		{"unicode", url.QueryEscape("ÖREBRO RÖNNEN 1:1,🗑️,\u202e" + p0), []string{}},
		{"control characters", "%00%0A%0D" + p0, []string{}},
		{"a very long id", strings.Repeat("a", 100_000), []string{}},
		{"exactly 100 ids", strings.Join(hundred, ","), worldPickupIDs(w, hundred...)},
		{"paging is ignored", p0 + "," + p1 + "&limit=1&page=3", worldPickupIDs(w, p0, p1)},
		{"an invalid limit is ignored too", p0 + "&limit=abc", worldPickupIDs(w, p0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got PickupList
			getInto(t, srv.URL+"/api/v1/pickups?propertyIds="+tc.query, &got)
			if g := pickupIDs(got.Pickups); !slices.Equal(g, tc.want) || got.Pickups == nil {
				t.Errorf("pickups = %v, want %v", g, tc.want)
			}
			n := len(tc.want)
			want := rest.PageMeta{Page: 1, Limit: n, Count: n, TotalRecords: n}
			if n > 0 {
				want.TotalPages = 1
			}
			if got.Meta != want {
				t.Errorf("_meta = %+v, want %+v", got.Meta, want)
			}
			if len(got.Links) != 1 || got.Links[0].Rel != "self" || !strings.Contains(got.Links[0].Href, "/api/v1/pickups?propertyIds=") {
				t.Errorf("_links = %+v, want self only", got.Links)
			}
		})
	}
	t.Run("every pickup of a property is its world's", func(t *testing.T) {
		var got PickupList
		getInto(t, srv.URL+"/api/v1/pickups?propertyIds="+p0, &got)
		var want []PickupDTO
		for _, p := range w.PickupsOf[p0] {
			want = append(want, pickupDTO(w, p))
		}
		if !reflect.DeepEqual(got.Pickups, want) {
			t.Errorf("pickups\n got %+v\nwant %+v", got.Pickups, want)
		}
	})
}

func TestAvfallBadRequests(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{}))
	defer srv.Close()
	tooMany := make([]string, 101)
	for i := range tooMany {
		tooMany[i] = w.Properties[i%len(w.Properties)].ObjectID
	}
	tests := []struct {
		name, method, path string
		want               int
		detail             string // a substring of the problem's detail
	}{
		{"limit over 100", "GET", "/api/v1/pickups?limit=101", 400, "limit must be an integer from 1 to 100"},
		{"limit zero", "GET", "/api/v1/pickups?limit=0", 400, "limit"},
		{"limit not a number", "GET", "/api/v1/pickups?limit=ten", 400, "limit"},
		{"page zero", "GET", "/api/v1/pickups?page=0", 400, "page"},
		{"page negative", "GET", "/api/v1/pickups?page=-1", 400, "page"},
		{"page not an integer", "GET", "/api/v1/pickups?page=1.5", 400, "page"},
		{"page overflowing", "GET", "/api/v1/pickups?page=99999999999999999999", 400, "page"},
		{"101 property ids", "GET", "/api/v1/pickups?propertyIds=" + strings.Join(tooMany, ","), 400, "names 101 properties, at most 100"},
		{"101 repeats of one id", "GET", "/api/v1/pickups?propertyIds=" + strings.Repeat(tooMany[0]+",", 100) + tooMany[0], 400, "at most 100"},
		{"empty propertyIds", "GET", "/api/v1/pickups?propertyIds=", 400, "at least one property"},
		{"only commas", "GET", "/api/v1/pickups?propertyIds=,%2C,+,", 400, "at least one property"},
		{"unknown pickup", "GET", "/api/v1/pickups/00000000-0000-4000-8000-000000000000", 404, "no pickup"},
		{"a property id is not a pickup id", "GET", "/api/v1/pickups/" + w.Properties[0].ObjectID, 404, "no pickup"},
		{"unicode pickup id", "GET", "/api/v1/pickups/" + url.PathEscape("hämtning-ÅÄÖ-🗑️"), 404, "hämtning-ÅÄÖ-🗑️"},
		{"escaped slash in a pickup id", "GET", "/api/v1/pickups/a%2Fb", 404, `"a/b"`},
		{"comma in a pickup id", "GET", "/api/v1/pickups/" + w.Pickups[0].ID + "," + w.Pickups[1].ID, 404, "no pickup"},
		{"very long pickup id", "GET", "/api/v1/pickups/" + strings.Repeat("x", 100_000), 404, strings.Repeat("x", 100) + "…"},
		{"unknown path", "GET", "/api/v2/pickups", 404, "no resource"},
		{"below a pickup", "GET", "/api/v1/pickups/" + w.Pickups[0].ID + "/invoice", 404, "no resource"},
		{"wrong method on the list", "POST", "/api/v1/pickups", 405, "POST"},
		{"wrong method on a pickup", "DELETE", "/api/v1/pickups/" + w.Pickups[0].ID, 405, "DELETE"},
		{"wrong method on health", "PUT", "/api/v1/health", 405, "PUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, raw := doJSON(t, tc.method, srv.URL+tc.path, nil)
			wantProblem(t, status, h, raw, tc.want)
			var p rest.Problem
			_ = json.Unmarshal(raw, &p)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", p.Detail, tc.detail)
			}
			if len(p.Detail) > 300 {
				t.Errorf("detail of %d bytes echoes the request", len(p.Detail))
			}
			if tc.want == 405 && h.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", h.Get("Allow"))
			}
		})
	}
}

func TestAvfallPickup(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{}))
	defer srv.Close()
	var person, organisation *Pickup
	for _, p := range w.Pickups {
		if person == nil && p.Invoice.PersonalNumber != "" {
			person = p
		}
		if organisation == nil && p.Invoice.OrganisationNumber != "" {
			organisation = p
		}
	}
	if person == nil || organisation == nil {
		t.Fatal("the test world lacks a pickup invoiced to a person or to an organisation")
	}

	t.Run("invoiced to a person", func(t *testing.T) {
		status, _, raw := doJSON(t, http.MethodGet, srv.URL+"/api/v1/pickups/"+person.ID, nil)
		if status != 200 {
			t.Fatalf("status %d: %s", status, raw)
		}
		var got PickupDTO
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		want := PickupDTO{
			ID: person.ID, PropertyID: person.PropertyID, Fraction: person.Fraction,
			Weekday: strings.ToUpper(person.Weekday.String()), IntervalWeeks: person.IntervalWeeks,
			NextDate: person.NextDate.Format("2006-01-02"), ContainerLitres: person.ContainerLitres,
			InvoicePartyID:   w.PartyOf[person.Invoice.PersonalNumber],
			InvoiceRecipient: InvoiceRecipientDTO{PersonalNumber: person.Invoice.PersonalNumber, Name: person.Invoice.Name},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("pickup\n got %+v\nwant %+v", got, want)
		}
		// The partyId is the e-service platform's: its party lookup gives
		// back the recipient's personnummer.
		if w.PersonOfParty[got.InvoicePartyID] != got.InvoiceRecipient.PersonalNumber {
			t.Errorf("partyId %s is not the e-service platform's for %s", got.InvoicePartyID, got.InvoiceRecipient.PersonalNumber)
		}
		for _, re := range []string{`"nextDate":"\d{4}-\d\d-\d\d"`, `"weekday":"(MONDAY|TUESDAY|WEDNESDAY|THURSDAY|FRIDAY)"`,
			`"invoiceRecipient":\{"personalNumber":"\d{12}","name":"[^"]+"\}`} {
			if !regexp.MustCompile(re).Match(raw) {
				t.Errorf("%s does not match %s", raw, re)
			}
		}
		if strings.Contains(string(raw), "organisationNumber") {
			t.Errorf("a person's pickup names an organisation number: %s", raw)
		}
	})
	t.Run("invoiced to an organisation", func(t *testing.T) {
		status, _, raw := doJSON(t, http.MethodGet, srv.URL+"/api/v1/pickups/"+organisation.ID, nil)
		var got PickupDTO
		if err := json.Unmarshal(raw, &got); status != 200 || err != nil {
			t.Fatalf("status %d, %v: %s", status, err, raw)
		}
		want := InvoiceRecipientDTO{OrganisationNumber: organisation.Invoice.OrganisationNumber, Name: organisation.Invoice.Name}
		if got.InvoiceRecipient != want || strings.Contains(string(raw), "invoicePartyId") || strings.Contains(string(raw), "personalNumber") {
			t.Errorf("an organisation's pickup: %s", raw)
		}
	})
}

// TestAvfallGolden pins the batch answer for two properties of the test
// world, one a household's and one an organisation's, byte for byte.
func TestAvfallGolden(t *testing.T) {
	w := httpTestWorld()
	var household, organisation string
	for _, p := range w.Properties {
		switch o := w.Owners[p.ObjectID][0]; {
		case household == "" && o.PersonalNumber != "" && len(w.PickupsOf[p.ObjectID]) > 1:
			household = p.ObjectID
		case organisation == "" && o.OrganisationNumber != "":
			organisation = p.ObjectID
		}
	}
	req := httptest.NewRequest(http.MethodGet, "http://avfall.example/api/v1/pickups?propertyIds="+household+","+organisation, nil)
	rec := httptest.NewRecorder()
	NewAvfall(w, AvfallOptions{}).ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var pretty bytes.Buffer // indented, in the order the fields go on the wire
	if err := json.Indent(&pretty, rec.Body.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "avfall_pickups.json", pretty.Bytes())
}

func TestAvfallHealth(t *testing.T) {
	ft := faultTarget{"health", "avfall", func(f *Faults, s *Stats) http.Handler {
		return NewAvfall(httpTestWorld(), AvfallOptions{Faults: f, Stats: s})
	}, http.MethodGet, "/api/v1/health", nil}

	srv, stats := ft.serve(t, FaultConfig{})
	resp, raw := ft.mustDo(t, srv.URL)
	if resp.StatusCode != 200 || strings.TrimSpace(string(raw)) != `{"status":"UP"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("healthy: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if c := stats.Snapshot()["avfall"]["health"]; c != (Counter{Calls: 1}) {
		t.Errorf("health counted as %+v", c)
	}

	// The probe sees the faults the data calls see.
	srv, _ = ft.serve(t, FaultConfig{ErrorRate: 1})
	resp, raw = ft.mustDo(t, srv.URL)
	wantProblem(t, resp.StatusCode, resp.Header, raw, http.StatusServiceUnavailable)
	srv, _ = ft.serve(t, FaultConfig{Down: true})
	if resp, _, err := ft.do(t.Context(), srv.URL); err == nil {
		t.Errorf("down: status %d, want the connection closed", resp.StatusCode)
	}
}

func TestAvfallStats(t *testing.T) {
	w := httpTestWorld()
	stats := NewStats()
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{Stats: stats}))
	defer srv.Close()
	p0, p1 := w.Properties[0].ObjectID, w.Properties[1].ObjectID
	tooMany := strings.TrimSuffix(strings.Repeat(p0+",", 101), ",")

	calls := []struct{ requestID, path string }{
		{"req-1", "/api/v1/pickups?propertyIds=" + p0 + "," + p1 + ",NOPE"}, // 3 keys, as asked
		{"req-1", "/api/v1/pickups/" + w.Pickups[0].ID},
		{"req-2", "/api/v1/pickups?propertyIds=" + p0 + "," + p0}, // repeats count: the call carried them
		{"req-2", "/api/v1/pickups?propertyIds=" + tooMany},       // refused, still a call
		{"", "/api/v1/pickups?limit=5"},
		{"", "/api/v1/pickups?limit=500"}, // refused, still a call
		{"", "/api/v1/pickups/NOPE"},
		{"", "/api/v1/health"},
		{"", "/api/v2/nothing"}, // no operation: not counted
	}
	for _, c := range calls {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.requestID != "" {
			req.Header.Set("X-Request-Id", c.requestID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := map[string]Counter{
		"pickups": {Calls: 5, Keys: 3 + 2 + 101},
		"pickup":  {Calls: 2, Keys: 2},
		"health":  {Calls: 1},
	}
	if got := stats.Snapshot()["avfall"]; !reflect.DeepEqual(got, want) {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	for id, want := range map[string]map[string]Counter{
		"req-1": {"pickups": {Calls: 1, Keys: 3}, "pickup": {Calls: 1, Keys: 1}},
		"req-2": {"pickups": {Calls: 2, Keys: 103}},
	} {
		if got := stats.Request(id)["avfall"]; !reflect.DeepEqual(got, want) {
			t.Errorf("request %s: %+v, want %+v", id, got, want)
		}
	}
}

// TestAvfallInvoicesProtectedPeople: in the demo's world some properties
// are invoiced to people with protected identity (sekretessmarkering), and
// the simulator serves them like anyone else: deciding who may see them is
// the gateway's business.
func TestAvfallInvoicesProtectedPeople(t *testing.T) {
	w := NewWorld(WorldOptions{Seed: 1, People: DefaultPeople})
	var p *Pickup
	for _, pu := range w.Pickups {
		if person := w.ByPNR[pu.Invoice.PersonalNumber]; person != nil && person.IsProtected() {
			p = pu
			break
		}
	}
	if p == nil {
		t.Fatal("no pickup of the demo's world is invoiced to a protected person")
	}
	req := httptest.NewRequest(http.MethodGet, "/api/v1/pickups?propertyIds="+p.PropertyID, nil)
	rec := httptest.NewRecorder()
	NewAvfall(w, AvfallOptions{}).ServeHTTP(rec, req)
	var got PickupList
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
		t.Fatalf("status %d, %v: %s", rec.Code, err, rec.Body)
	}
	for _, d := range got.Pickups {
		if d.InvoiceRecipient.PersonalNumber != p.Invoice.PersonalNumber || d.InvoicePartyID != w.PartyOf[p.Invoice.PersonalNumber] {
			t.Errorf("pickup %s invoiced to %+v (%s), want the protected owner %s", d.ID, d.InvoiceRecipient, d.InvoicePartyID, p.Invoice.PersonalNumber)
		}
	}
}
