package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestETjanstReceipts: the receipts of persons, asked by a POST with the
// personnummer in the body (never in a URL): one per errand the person
// applied for through the e-service, oldest first; a search above the
// limit, naming no one or not JSON is refused, and a GET is no search.
func TestETjanstReceipts(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewETjanst(w, ETjanstOptions{}))
	defer srv.Close()
	want := map[string][]string{} // pnr -> receipt numbers
	for _, er := range w.Errands {
		if er.Channel == "E_SERVICE" {
			pnr := w.PersonOfParty[er.Stakeholders[0].PartyID]
			want[pnr] = append(want[pnr], "KV-"+er.ErrandNumber)
		}
	}
	var pnr, none string
	for p := range w.ByPNR {
		switch {
		case len(want[p]) > 1 && pnr == "":
			pnr = p
		case len(want[p]) == 0 && none == "":
			none = p
		}
	}
	if pnr == "" || none == "" {
		t.Fatal("the world has no person with two receipts, or none without")
	}
	search := func(pnrs ...string) []byte {
		b, err := json.Marshal(receiptSearch{PersonalNumbers: pnrs})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	status, _, raw := doJSON(t, http.MethodPost, srv.URL+"/api/v1/receipts/search", search(pnr, none))
	var list struct{ Receipts []receiptDTO }
	if err := json.Unmarshal(raw, &list); status != http.StatusOK || err != nil {
		t.Fatalf("search: %d %s (%v)", status, raw, err)
	}
	if len(list.Receipts) != len(want[pnr]) {
		t.Fatalf("%d receipts, want %d", len(list.Receipts), len(want[pnr]))
	}
	seen := map[string]bool{}
	for i, r := range list.Receipts {
		seen[r.ReceiptNumber] = true
		er := w.ByErrand[strings.TrimPrefix(r.ReceiptNumber, "KV-")]
		if r.PersonalNumber != pnr || er == nil || r.CaseType != er.CaseType || (i > 0 && r.SubmittedAt.Before(list.Receipts[i-1].SubmittedAt)) {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
	for _, n := range want[pnr] {
		if !seen[n] {
			t.Fatalf("receipt %s missing", n)
		}
	}
	status, h, raw := doJSON(t, http.MethodPost, srv.URL+"/api/v1/receipts/search", search())
	wantProblem(t, status, h, raw, http.StatusBadRequest)
	status, h, raw = doJSON(t, http.MethodPost, srv.URL+"/api/v1/receipts/search", search(strings.Split(strings.Repeat("x,", receiptsMaxBatch), ",")...))
	wantProblem(t, status, h, raw, http.StatusBadRequest)
	status, h, raw = doJSON(t, http.MethodPost, srv.URL+"/api/v1/receipts/search", []byte(`{"personalNumbers":`))
	wantProblem(t, status, h, raw, http.StatusBadRequest)
	if status, _, _ = doJSON(t, http.MethodGet, srv.URL+"/api/v1/receipts/search?personalNumbers="+pnr, nil); status != http.StatusMethodNotAllowed {
		t.Fatalf("a GET with the personnummer in its URL: %d, want 405", status)
	}
}
