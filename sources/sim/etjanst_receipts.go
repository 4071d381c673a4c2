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

// receiptsMaxBody is the largest receipts search body read.
const receiptsMaxBody = 64 << 10

// receiptSearch is the receipts search's question: whose receipts. The
// personnummer go in the body, as the API profile keeps them out of URLs
// (and so out of every proxy's and server's access log).
type receiptSearch struct {
	PersonalNumbers []string `json:"personalNumbers"`
}

// searchReceipts is POST /api/v1/receipts/search, {"personalNumbers":
// ["a","b"]}: the receipts of each person named.
func (e *etjanst) searchReceipts(w http.ResponseWriter, r *http.Request) {
	var req receiptSearch
	err := readJSON(w, r, receiptsMaxBody, &req)
	pnrs := req.PersonalNumbers
	e.record(r, "listReceipts", len(pnrs))
	switch {
	case err != nil:
		writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid receipts search: "+err.Error())
		return
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
