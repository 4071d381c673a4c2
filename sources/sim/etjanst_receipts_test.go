package sim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestETjanstReceipts: the receipts of persons, in the batch and the
// one-key form: one per errand the person applied for through the
// e-service, oldest first; the latest alone, 404 for a person without one;
// a batch above the limit or naming no one is refused.
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
	var list struct{ Receipts []receiptDTO }
	getInto(t, srv.URL+"/api/v1/receipts?personalNumbers="+pnr+","+none, &list)
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
	var latest struct{ Receipt receiptDTO }
	getInto(t, srv.URL+"/api/v1/persons/"+pnr+"/receipts/latest", &latest)
	if latest.Receipt != list.Receipts[len(list.Receipts)-1] {
		t.Fatalf("latest %+v, want %+v", latest.Receipt, list.Receipts[len(list.Receipts)-1])
	}
	status, h, raw := doJSON(t, http.MethodGet, srv.URL+"/api/v1/persons/"+none+"/receipts/latest", nil)
	wantProblem(t, status, h, raw, http.StatusNotFound)
	status, h, raw = doJSON(t, http.MethodGet, srv.URL+"/api/v1/receipts?personalNumbers=", nil)
	wantProblem(t, status, h, raw, http.StatusBadRequest)
	status, h, raw = doJSON(t, http.MethodGet, srv.URL+"/api/v1/receipts?personalNumbers="+strings.Repeat("x,", receiptsMaxBatch+1), nil)
	wantProblem(t, status, h, raw, http.StatusBadRequest)
}
