package sim

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/rest"
)

// TestAvfallSearch: the search form, POST api/v1/pickups/search, answers
// the batch form's question asked as JSON with the batch form's answer;
// a body that is not a search is refused with a problem+json 400, and
// every call, refused or not, is counted as pickups-search.
func TestAvfallSearch(t *testing.T) {
	w := httpTestWorld()
	stats := NewStats()
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{Stats: stats}))
	defer srv.Close()
	p0, p2 := w.Properties[0].ObjectID, w.Properties[len(w.Properties)-1].ObjectID
	post := func(body string) (int, http.Header, []byte) {
		t.Helper()
		return doJSON(t, http.MethodPost, srv.URL+"/api/v1/pickups/search", []byte(body))
	}
	for _, tc := range []struct{ body, query string }{
		{fmt.Sprintf(`{"propertyIds":[%q,%q,"NOPE"]}`, p2, p0), p2 + "," + p0 + ",NOPE"},
		{fmt.Sprintf(`{"propertyIds":[%q,%q],"fraction":null}`, p2, p0), p2 + "," + p0},
		{fmt.Sprintf(`{"fraction":"REST","propertyIds":[%q,%q]}`, p2, p0), p2 + "," + p0 + "&fraction=REST"},
		{fmt.Sprintf(`{"propertyIds":[%q],"fraction":""}`, p0), p0 + "&fraction="},
		{fmt.Sprintf(`{"propertyIds":[%q, "a,b", "\"]}", "\u0000"]}`, p0), p0},
	} {
		status, _, raw := post(tc.body)
		var got, want PickupList
		if err := json.Unmarshal(raw, &got); status != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %s", tc.body, status, raw)
		}
		getInto(t, srv.URL+"/api/v1/pickups?propertyIds="+tc.query, &want)
		if !reflect.DeepEqual(got.Pickups, want.Pickups) || got.Meta != want.Meta || len(want.Pickups) == 0 && !strings.Contains(tc.query, "fraction=") {
			t.Errorf("%s: pickups %v, want the batch form's %v", tc.body, pickupIDs(got.Pickups), pickupIDs(want.Pickups))
		}
	}
	for _, tc := range []struct{ name, body, detail string }{
		{"not JSON", `propertyIds=a`, "invalid pickup search"},
		{"trailing data", fmt.Sprintf(`{"propertyIds":[%q]} {}`, p0), "trailing data"},
		{"a trailing bracket", fmt.Sprintf(`{"propertyIds":[%q]}}`, p0), "trailing data"},
		{"a trailing square bracket", fmt.Sprintf(`{"propertyIds":[%q]}]`, p0), "trailing data"},
		{"an unknown member", fmt.Sprintf(`{"propertyIds":[%q],"fractions":"MAT"}`, p0), "unknown field"},
		{"ids as a text", fmt.Sprintf(`{"propertyIds":%q}`, p0), "invalid pickup search"},
		{"a number as an id", `{"propertyIds":[1]}`, "invalid pickup search"},
		{"no ids", `{"propertyIds":[]}`, "at least one property"},
		{"101 ids", `{"propertyIds":[` + strings.TrimSuffix(strings.Repeat(fmt.Sprintf("%q,", p0), 101), ",") + `]}`, "at most 100"},
		{"too large", `{"propertyIds":["` + strings.Repeat("x", pickupSearchMaxBody) + `"]}`, "larger than"},
	} {
		status, h, raw := post(tc.body)
		wantProblem(t, status, h, raw, http.StatusBadRequest)
		var p rest.Problem
		if err := json.Unmarshal(raw, &p); err != nil || !strings.Contains(p.Detail, tc.detail) || len(p.Detail) > 300 {
			t.Errorf("%s: detail %q, want it to say %q", tc.name, p.Detail, tc.detail)
		}
	}
	status, h, raw := doJSON(t, http.MethodGet, srv.URL+"/api/v1/pickups/search", nil)
	wantProblem(t, status, h, raw, http.StatusMethodNotAllowed)
	if h.Get("Allow") != "POST" {
		t.Errorf("GET of the search: Allow %q", h.Get("Allow"))
	}
	// The keys are those the body named, as far as it was read: at least
	// the answered searches' 12 and the refused 101.
	if c := stats.Snapshot()["avfall"]["pickups-search"]; c.Calls != 15 || c.Keys < 12+101 {
		t.Errorf("stats %+v, want 15 searches of at least 113 keys", c)
	}
}

// TestAvfallSearchFaults: the search form is behind the system's faults
// like the other endpoints.
func TestAvfallSearchFaults(t *testing.T) {
	w := httpTestWorld()
	faults := NewFaults()
	faults.Set(FaultConfig{ErrorRate: 1})
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{Faults: faults}))
	defer srv.Close()
	status, h, raw := doJSON(t, http.MethodPost, srv.URL+"/api/v1/pickups/search", []byte(fmt.Sprintf(`{"propertyIds":[%q]}`, w.Properties[0].ObjectID)))
	wantProblem(t, status, h, raw, http.StatusServiceUnavailable)
}

// TestAvfallSearchXML: the XML search form, POST
// api/v1/pickups/search.xml, answers the search form's question asked as
// XML with its pickups as XML; a body that is not a search, has a DOCTYPE
// or is too large is refused with a problem+json 400, and every call is
// counted as pickups-search-xml.
func TestAvfallSearchXML(t *testing.T) {
	w := httpTestWorld()
	stats := NewStats()
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{Stats: stats}))
	defer srv.Close()
	p0, p2 := w.Properties[0].ObjectID, w.Properties[len(w.Properties)-1].ObjectID
	post := func(body string) (int, http.Header, []byte) {
		t.Helper()
		return doJSON(t, http.MethodPost, srv.URL+"/api/v1/pickups/search.xml", []byte(body))
	}
	for _, tc := range []struct{ body, query string }{
		{fmt.Sprintf(`<?xml version="1.0"?><search><propertyId>%s</propertyId><propertyId>%s</propertyId><propertyId>NOPE</propertyId></search>`, p2, p0), p2 + "," + p0 + ",NOPE"},
		{fmt.Sprintf(`<search><fraction>REST</fraction><propertyId>%s</propertyId><propertyId>%s</propertyId></search>`, p2, p0), p2 + "," + p0 + "&fraction=REST"},
		{fmt.Sprintf(`<search><propertyId>%s</propertyId><propertyId>&lt;/propertyId&gt;]]&gt;&amp;x;</propertyId></search>`, p0), p0},
	} {
		status, h, raw := post(tc.body)
		var got PickupListXML
		if err := xml.Unmarshal(raw, &got); status != http.StatusOK || err != nil || h.Get("Content-Type") != "application/xml; charset=utf-8" {
			t.Fatalf("%s: %d %s %s", tc.body, status, h.Get("Content-Type"), raw)
		}
		var want PickupList
		getInto(t, srv.URL+"/api/v1/pickups?propertyIds="+tc.query, &want)
		if len(want.Pickups) == 0 || !reflect.DeepEqual(got.Pickups, want.Pickups) {
			t.Errorf("%s: pickups %v, want the batch form's %v", tc.body, pickupIDs(got.Pickups), pickupIDs(want.Pickups))
		}
	}
	status, _, raw := post(`<search><propertyId>NOPE</propertyId></search>`)
	if status != http.StatusOK || string(raw) != xml.Header+"<pickups></pickups>" {
		t.Errorf("no pickups: %d %s", status, raw)
	}
	for _, tc := range []struct{ name, body, detail string }{
		{"not XML", `propertyIds=a`, "invalid pickup search"},
		{"bad XML", fmt.Sprintf(`<search><propertyId>%s</search>`, p0), "invalid pickup search"},
		{"an entity", fmt.Sprintf(`<search><propertyId>%s&xxe;</propertyId></search>`, p0), "invalid pickup search"},
		{"a DOCTYPE", fmt.Sprintf(`<?xml version="1.0"?><!DOCTYPE search [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><search><propertyId>%s&xxe;</propertyId></search>`, p0), "DOCTYPE"},
		{"another root", fmt.Sprintf(`<find><propertyId>%s</propertyId></find>`, p0), "expected element type <search>"},
		{"no ids", `<search><fraction>MAT</fraction></search>`, "at least one property"},
		{"101 ids", "<search>" + strings.Repeat(fmt.Sprintf("<propertyId>%s</propertyId>", p0), 101) + "</search>", "at most 100"},
		{"too large", "<search><propertyId>" + strings.Repeat("x", pickupSearchMaxBody) + "</propertyId></search>", "larger than"},
	} {
		status, h, raw := post(tc.body)
		wantProblem(t, status, h, raw, http.StatusBadRequest)
		var p rest.Problem
		if err := json.Unmarshal(raw, &p); err != nil || !strings.Contains(p.Detail, tc.detail) || len(p.Detail) > 300 {
			t.Errorf("%s: detail %q, want it to say %q", tc.name, p.Detail, tc.detail)
		}
	}
	status, h, raw := doJSON(t, http.MethodGet, srv.URL+"/api/v1/pickups/search.xml", nil)
	wantProblem(t, status, h, raw, http.StatusMethodNotAllowed)
	if c := stats.Snapshot()["avfall"]["pickups-search-xml"]; c.Calls != 12 || c.Keys < 7+101 {
		t.Errorf("stats %+v, want 12 searches of at least 108 keys", c)
	}
}

// TestAvfallSearchXMLFaults: the XML search form is behind the system's
// faults, which answer it in XML.
func TestAvfallSearchXMLFaults(t *testing.T) {
	w := httpTestWorld()
	faults := NewFaults()
	faults.Set(FaultConfig{ErrorRate: 1})
	srv := httptest.NewServer(NewAvfall(w, AvfallOptions{Faults: faults}))
	defer srv.Close()
	status, h, raw := doJSON(t, http.MethodPost, srv.URL+"/api/v1/pickups/search.xml", []byte("<search><propertyId>"+w.Properties[0].ObjectID+"</propertyId></search>"))
	if status != http.StatusServiceUnavailable || !strings.HasPrefix(h.Get("Content-Type"), "application/xml") {
		t.Fatalf("%d %s %s, want an XML 503", status, h.Get("Content-Type"), raw)
	}
}
