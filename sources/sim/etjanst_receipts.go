package sim

import (
	"fmt"
	"net/http"
	"sort"
	"time"
)

// receiptsMaxBatch is the most personalNumbers one receipts call may name.
const receiptsMaxBatch = 100

// receiptDTO is a receipt (kvittens) the e-service platform gave a person
// for an errand submitted through it. The gateway reads it through its
// declaration (schema/etjanst.yaml); its case type binds it to a purpose
// (@row on Receipt). An errand without a case type gives a receipt without
// one (caseType absent).
type receiptDTO struct {
	ReceiptNumber  string    `json:"receiptNumber"`
	PersonalNumber string    `json:"personalNumber"`
	CaseType       string    `json:"caseType,omitempty"`
	SubmittedAt    time.Time `json:"submittedAt"`
}

// receiptsOf indexes the receipts by the applicant's personnummer: one per
// errand submitted through the e-service (channel E_SERVICE), oldest first.
func receiptsOf(w *World) map[string][]receiptDTO {
	out := map[string][]receiptDTO{}
	for _, er := range w.Errands {
		if er.Channel != "E_SERVICE" || len(er.Stakeholders) == 0 {
			continue
		}
		pnr := w.PersonOfParty[er.Stakeholders[0].PartyID]
		if pnr == "" {
			continue
		}
		out[pnr] = append(out[pnr], receiptDTO{
			ReceiptNumber: "KV-" + er.ErrandNumber, PersonalNumber: pnr,
			CaseType: er.CaseType, SubmittedAt: er.SubmittedAt.UTC(),
		})
	}
	for _, rs := range out {
		sort.Slice(rs, func(i, j int) bool { return rs[i].SubmittedAt.Before(rs[j].SubmittedAt) })
	}
	return out
}

// listReceipts is GET /api/v1/receipts?personalNumbers=a,b,c: the
// receipts of each person named.
func (e *etjanst) listReceipts(w http.ResponseWriter, r *http.Request) {
	pnrs := splitList(r.URL.Query().Get("personalNumbers"))
	e.record(r, "listReceipts", len(pnrs))
	switch {
	case len(pnrs) == 0:
		writeProblem(w, http.StatusBadRequest, "Bad Request", "personalNumbers must name at least one person")
		return
	case len(pnrs) > receiptsMaxBatch:
		writeProblem(w, http.StatusBadRequest, "Bad Request",
			fmt.Sprintf("personalNumbers names %d persons, at most %d are allowed", len(pnrs), receiptsMaxBatch))
		return
	}
	out := struct {
		Receipts []receiptDTO `json:"receipts"`
	}{Receipts: []receiptDTO{}}
	for _, p := range pnrs {
		out.Receipts = append(out.Receipts, e.receipts[p]...)
	}
	writeJSON(w, http.StatusOK, out)
}

// latestReceipt is GET /api/v1/persons/{personalNumber}/receipts/latest:
// the person's latest receipt, 404 when the person has none.
func (e *etjanst) latestReceipt(w http.ResponseWriter, r *http.Request) {
	e.record(r, "latestReceipt", 1)
	rs := e.receipts[r.PathValue("personalNumber")]
	if len(rs) == 0 {
		writeProblem(w, http.StatusNotFound, "Not Found", "no receipt")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Receipt receiptDTO `json:"receipt"`
	}{rs[len(rs)-1]})
}
