package sim

import (
	"encoding/json"
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
