package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
)

// doJSON sends a request and returns status, headers and body.
func doJSON(t *testing.T, method, u string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// getInto GETs u, expects 200 and decodes the body into v.
func getInto(t *testing.T, u string, v any) http.Header {
	t.Helper()
	status, h, raw := doJSON(t, http.MethodGet, u, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", u, status, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, raw)
	}
	return h
}

// wantProblem checks an application/problem+json answer.
func wantProblem(t *testing.T, status int, h http.Header, raw []byte, wantStatus int) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status = %d, want %d: %s", status, wantStatus, raw)
	}
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p rest.Problem
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, raw)
	}
	if p.Status != wantStatus || p.Title == "" || p.Detail == "" {
		t.Errorf("problem = %+v", p)
	}
}

func numbersOf(errands []rest.ErrandDTO) []string {
	out := make([]string, len(errands))
	for i, e := range errands {
		out[i] = e.ErrandNumber
	}
	return out
}

// worldErrands returns the numbers of the world's errands that pass keep, in world order.
func worldErrands(w *World, keep func(*model.Errand) bool) []string {
	var out []string
	for _, e := range w.Errands {
		if keep(e) {
			out = append(out, e.ErrandNumber)
		}
	}
	return out
}

func hasParty(e *model.Errand, parties ...string) bool {
	for _, s := range e.Stakeholders {
		if slices.Contains(parties, s.PartyID) {
			return true
		}
	}
	return false
}

func TestETjanstListErrands(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewETjanst(w, ETjanstOptions{}))
	defer srv.Close()
	n := len(w.Errands)
	all := worldErrands(w, func(*model.Errand) bool { return true })
	// Two parties of different households, each with errands.
	partyA := w.Errands[0].Stakeholders[0].PartyID
	partyB := w.Errands[n-1].Stakeholders[0].PartyID

	tests := []struct {
		name     string
		query    string
		wantMeta rest.PageMeta
		want     []string
	}{
		{"defaults", "", rest.PageMeta{Page: 1, Limit: 20, Count: 20, TotalRecords: n, TotalPages: (n + 19) / 20}, all[:20]},
		{"second page", "?limit=7&page=2", rest.PageMeta{Page: 2, Limit: 7, Count: 7, TotalRecords: n, TotalPages: (n + 6) / 7}, all[7:14]},
		{"last partial page", fmt.Sprintf("?limit=100&page=%d", (n+99)/100),
			rest.PageMeta{Page: (n + 99) / 100, Limit: 100, Count: n - 100*((n-1)/100), TotalRecords: n, TotalPages: (n + 99) / 100}, all[100*((n-1)/100):]},
		{"beyond the last page", "?limit=100&page=99", rest.PageMeta{Page: 99, Limit: 100, TotalRecords: n, TotalPages: (n + 99) / 100}, nil},
		{"caseType", "?caseType=BYGGLOV&limit=100", metaAll(w, func(e *model.Errand) bool { return e.CaseType == "BYGGLOV" }, 100),
			worldErrands(w, func(e *model.Errand) bool { return e.CaseType == "BYGGLOV" })},
		{"status", "?status=DECIDED&limit=100", metaAll(w, func(e *model.Errand) bool { return e.Status == model.ErrandDecided }, 100),
			worldErrands(w, func(e *model.Errand) bool { return e.Status == model.ErrandDecided })},
		{"caseType and status", "?caseType=BYGGLOV&status=RECEIVED&limit=100",
			metaAll(w, func(e *model.Errand) bool { return e.CaseType == "BYGGLOV" && e.Status == model.ErrandReceived }, 100),
			worldErrands(w, func(e *model.Errand) bool { return e.CaseType == "BYGGLOV" && e.Status == model.ErrandReceived })},
		{"unknown caseType", "?caseType=bygglov", rest.PageMeta{Page: 1, Limit: 20}, nil},
		{"one party", "?partyId=" + partyA, metaAll(w, func(e *model.Errand) bool { return hasParty(e, partyA) }, 20),
			worldErrands(w, func(e *model.Errand) bool { return hasParty(e, partyA) })},
		{"two parties", "?partyId=" + partyA + "," + partyB, metaAll(w, func(e *model.Errand) bool { return hasParty(e, partyA, partyB) }, 20),
			worldErrands(w, func(e *model.Errand) bool { return hasParty(e, partyA, partyB) })},
		{"party and status", "?partyId=" + partyA + "&status=" + string(w.Errands[0].Status),
			metaAll(w, func(e *model.Errand) bool { return hasParty(e, partyA) && e.Status == w.Errands[0].Status }, 20),
			worldErrands(w, func(e *model.Errand) bool { return hasParty(e, partyA) && e.Status == w.Errands[0].Status })},
		{"batch", "?errandNumbers=" + strings.Join([]string{all[5], "BYGG-1999-000001", all[2], all[5]}, ","),
			rest.PageMeta{Page: 1, Limit: 2, Count: 2, TotalRecords: 2, TotalPages: 1}, []string{all[2], all[5]}},
		{"batch ignores paging", "?limit=1&page=3&errandNumbers=" + all[0] + "," + all[1],
			rest.PageMeta{Page: 1, Limit: 2, Count: 2, TotalRecords: 2, TotalPages: 1}, all[:2]},
		{"batch of unknown errands", "?errandNumbers=NOPE-1,NOPE-2", rest.PageMeta{Page: 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got rest.ErrandList
			h := getInto(t, srv.URL+"/api/v1/errands"+tc.query, &got)
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got.Meta != tc.wantMeta {
				t.Errorf("_meta = %+v, want %+v", got.Meta, tc.wantMeta)
			}
			want := tc.want
			if len(want) > tc.wantMeta.Limit && tc.wantMeta.Limit > 0 {
				want = want[:tc.wantMeta.Limit]
			}
			if g := numbersOf(got.Errands); !slices.Equal(g, want) {
				t.Errorf("errands = %v, want %v", g, want)
			}
			if got.Errands == nil {
				t.Errorf("errands decoded as null, want []")
			}
		})
	}
}

// metaAll is the _meta of the first page of the errands that pass keep.
func metaAll(w *World, keep func(*model.Errand) bool, limit int) rest.PageMeta {
	n := len(worldErrands(w, keep))
	return rest.PageMeta{Page: 1, Limit: limit, Count: min(n, limit), TotalRecords: n, TotalPages: (n + limit - 1) / limit}
}

func TestETjanstBadRequests(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewETjanst(w, ETjanstOptions{}))
	defer srv.Close()
	tooMany := make([]string, 101)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("BYGG-2025-%06d", i)
	}
	tests := []struct {
		name, method, path string
		body               string
		want               int
	}{
		{"limit over 100", "GET", "/api/v1/errands?limit=101", "", 400},
		{"limit zero", "GET", "/api/v1/errands?limit=0", "", 400},
		{"limit not a number", "GET", "/api/v1/errands?limit=ten", "", 400},
		{"page zero", "GET", "/api/v1/errands?page=0", "", 400},
		{"page not a number", "GET", "/api/v1/errands?page=1.5", "", 400},
		{"101 errand numbers", "GET", "/api/v1/errands?errandNumbers=" + strings.Join(tooMany, ","), "", 400},
		{"empty errandNumbers", "GET", "/api/v1/errands?errandNumbers=", "", 400},
		{"unknown errand", "GET", "/api/v1/errands/BYGG-1999-000001", "", 404},
		{"decisions of unknown errand", "GET", "/api/v1/errands/BYGG-1999-000001/decisions", "", 404},
		{"unknown path", "GET", "/api/v2/errands", "", 404},
		{"wrong method", "DELETE", "/api/v1/errands", "", 405},
		{"lookup with both lists", "POST", "/api/v1/parties/lookup", `{"partyIds":["a"],"personalNumbers":["b"]}`, 400},
		{"lookup with no list", "POST", "/api/v1/parties/lookup", `{}`, 400},
		{"lookup with unknown field", "POST", "/api/v1/parties/lookup", `{"partyIds":["a"],"ssn":["b"]}`, 400},
		{"lookup not JSON", "POST", "/api/v1/parties/lookup", `partyIds=a`, 400},
		{"lookup of 1001 keys", "POST", "/api/v1/parties/lookup", `{"partyIds":[` + strings.Repeat(`"x",`, 1000) + `"x"]}`, 400},
		{"lookup over 1 MiB", "POST", "/api/v1/parties/lookup", `{"partyIds":["` + strings.Repeat("x", 1<<20) + `"]}`, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			status, h, raw := doJSON(t, tc.method, srv.URL+tc.path, body)
			wantProblem(t, status, h, raw, tc.want)
		})
	}
}

func TestETjanstErrandAndDecisions(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewETjanst(w, ETjanstOptions{}))
	defer srv.Close()

	var decided, undecided *model.Errand
	for _, e := range w.Errands {
		if len(w.Decisions[e.ErrandNumber]) > 0 && decided == nil && e.PropertyObjectID != "" {
			decided = e
		}
		if len(w.Decisions[e.ErrandNumber]) == 0 && undecided == nil {
			undecided = e
		}
	}
	if decided == nil || undecided == nil {
		t.Fatal("the test world lacks a decided bygglov errand or an undecided errand")
	}

	t.Run("errand", func(t *testing.T) {
		_, _, raw := doJSON(t, http.MethodGet, srv.URL+"/api/v1/errands/"+url.PathEscape(decided.ErrandNumber), nil)
		var got rest.ErrandDTO
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		want := rest.ErrandDTO{
			ErrandNumber: decided.ErrandNumber, CaseType: decided.CaseType, Status: string(decided.Status),
			SubmittedAt: decided.SubmittedAt, Description: decided.Description, Channel: decided.Channel,
			PropertyObjectID: decided.PropertyObjectID,
		}
		for _, s := range decided.Stakeholders {
			want.Stakeholders = append(want.Stakeholders, rest.StakeholderDTO{PartyID: s.PartyID, Role: string(s.Role)})
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("errand\n got %+v\nwant %+v", got, want)
		}
		if !regexp.MustCompile(`"submittedAt":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"`).Match(raw) {
			t.Errorf("submittedAt is not RFC 3339 UTC: %s", raw)
		}
	})
	t.Run("decisions", func(t *testing.T) {
		var got decisionList
		getInto(t, srv.URL+"/api/v1/errands/"+decided.ErrandNumber+"/decisions", &got)
		var want []decisionDTO
		for _, d := range w.Decisions[decided.ErrandNumber] {
			want = append(want, decisionDTO{ID: d.ID, Outcome: string(d.Outcome), DecidedAt: d.DecidedAt, Law: d.Law})
		}
		if !reflect.DeepEqual(got.Decisions, want) {
			t.Errorf("decisions\n got %+v\nwant %+v", got.Decisions, want)
		}
	})
	t.Run("no decisions is an empty list", func(t *testing.T) {
		status, _, raw := doJSON(t, http.MethodGet, srv.URL+"/api/v1/errands/"+undecided.ErrandNumber+"/decisions", nil)
		if status != 200 || strings.TrimSpace(string(raw)) != `{"decisions":[]}` {
			t.Errorf("status %d, body %s", status, raw)
		}
	})
}

func TestETjanstPartyLookup(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewETjanst(w, ETjanstOptions{}))
	defer srv.Close()
	a, b := w.People[0].PersonalNumber, w.People[len(w.People)-1].PersonalNumber
	pa, pb := w.PartyOf[a], w.PartyOf[b]

	tests := []struct {
		name string
		req  rest.PartyLookupRequest
		want []rest.PartyDTO
	}{
		{"by partyId", rest.PartyLookupRequest{PartyIDs: []string{pb, "00000000-0000-4000-8000-000000000000", pa, pb}},
			[]rest.PartyDTO{{PartyID: pb, PersonalNumber: b}, {PartyID: pa, PersonalNumber: a}}},
		{"by personnummer", rest.PartyLookupRequest{PersonalNumbers: []string{a, "191212121212", b}},
			[]rest.PartyDTO{{PartyID: pa, PersonalNumber: a}, {PartyID: pb, PersonalNumber: b}}},
		{"nothing found", rest.PartyLookupRequest{PersonalNumbers: []string{"191212121212"}}, []rest.PartyDTO{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(tc.req)
			status, _, raw := doJSON(t, http.MethodPost, srv.URL+"/api/v1/parties/lookup", body)
			if status != 200 {
				t.Fatalf("status %d: %s", status, raw)
			}
			var got rest.PartyLookupResponse
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Parties, tc.want) {
				t.Errorf("parties = %+v, want %+v", got.Parties, tc.want)
			}
		})
	}
}

func TestETjanstStats(t *testing.T) {
	w := httpTestWorld()
	stats := NewStats()
	srv := httptest.NewServer(NewETjanst(w, ETjanstOptions{Stats: stats}))
	defer srv.Close()
	e0, e1 := w.Errands[0].ErrandNumber, w.Errands[1].ErrandNumber

	calls := []struct{ method, path, body string }{
		{"GET", "/api/v1/errands", ""},
		{"GET", "/api/v1/errands?caseType=BYGGLOV", ""},
		{"GET", "/api/v1/errands?limit=500", ""}, // refused, still a call
		{"GET", "/api/v1/errands?errandNumbers=" + e0 + "," + e1 + ",NOPE", ""},
		{"GET", "/api/v1/errands/" + e0, ""},
		{"GET", "/api/v1/errands/" + e0 + "/decisions", ""},
		{"GET", "/api/v1/errands/" + e1 + "/decisions", ""},
		{"POST", "/api/v1/parties/lookup", `{"personalNumbers":["` + w.People[0].PersonalNumber + `","191212121212"]}`},
	}
	for _, c := range calls {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		doJSON(t, c.method, srv.URL+c.path, body)
	}
	want := map[string]Counter{
		"listErrands":     {Calls: 3, Keys: 0},
		"errandsByNumber": {Calls: 1, Keys: 3},
		"getErrand":       {Calls: 1, Keys: 1},
		"listDecisions":   {Calls: 2, Keys: 2},
		"lookupParties":   {Calls: 1, Keys: 2},
	}
	if got := stats.Snapshot()["etjanst"]; !reflect.DeepEqual(got, want) {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

// BenchmarkETjanstPartyFilter measures the partyId filter on a city-sized
// world: it must cost the party's errands, not a scan of all of them.
func BenchmarkETjanstPartyFilter(b *testing.B) {
	w := NewWorld(WorldOptions{Seed: 1, People: 100_000})
	h := NewETjanst(w, ETjanstOptions{})
	parties := make([]string, 0, 50)
	for _, e := range w.Errands[:50] {
		parties = append(parties, e.Stakeholders[0].PartyID)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/v1/errands?limit=100&partyId="+strings.Join(parties, ","), nil)
	b.ReportMetric(float64(len(w.Errands)), "errands")
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
