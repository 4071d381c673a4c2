package sim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
)

// Limits of the e-service platform's API.
const (
	errandsDefaultLimit = 20
	errandsMaxLimit     = 100
	// errandsMaxBatch is the most errandNumbers one batch call may name.
	errandsMaxBatch = 100
	// partyFilterMax is the most partyIds one list call may filter on.
	partyFilterMax = 1000
	// partyLookupMax is the most keys one parties/lookup call may ask for.
	partyLookupMax = 1000
	// partyLookupMaxBody caps the parties/lookup request body.
	partyLookupMaxBody = 1 << 20
)

// ETjanstOptions configures the e-service platform simulator.
type ETjanstOptions struct {
	// Stats counts calls per operation under system "etjanst" (optional).
	Stats *Stats
	// Faults, when set, wraps the handler with fault injection (optional).
	Faults *Faults
}

// filterKey selects errands by case type and status; "" matches any.
type filterKey struct {
	caseType string
	status   model.ErrandStatus
}

// etjanst is the e-service platform. Everything a request needs is indexed
// once, so that a request costs a map lookup and the page it returns.
type etjanst struct {
	w     *World
	stats *Stats
	// dtos are the errands in world order (errandNumber ascending), encoded once.
	dtos []rest.ErrandDTO
	// pos maps errandNumber to its index in dtos.
	pos map[string]int
	// byFilter lists the indexes of the errands of each (caseType, status),
	// including the wildcard combinations, ascending.
	byFilter map[filterKey][]int
	// byParty lists the indexes of the errands each partyId takes part in, ascending.
	byParty map[string][]int
	// receipts are each person's receipts (etjanst_receipts.go).
	receipts map[string][]receiptDTO
}

// NewETjanst returns the e-service platform: a REST JSON API after DIGG's
// REST API profile, with errands, their decisions and the pseudonymous
// party register.
func NewETjanst(w *World, opts ETjanstOptions) http.Handler {
	e := &etjanst{
		w: w, stats: opts.Stats,
		dtos:     make([]rest.ErrandDTO, len(w.Errands)),
		pos:      make(map[string]int, len(w.Errands)),
		byFilter: map[filterKey][]int{},
		byParty:  map[string][]int{},
		receipts: receiptsOf(w),
	}
	for i, er := range w.Errands {
		e.dtos[i] = errandDTO(er)
		e.pos[er.ErrandNumber] = i
		for _, k := range []filterKey{{}, {caseType: er.CaseType}, {status: er.Status}, {er.CaseType, er.Status}} {
			e.byFilter[k] = append(e.byFilter[k], i)
		}
		for _, s := range er.Stakeholders {
			list := e.byParty[s.PartyID]
			if len(list) == 0 || list[len(list)-1] != i { // a party may hold two roles
				e.byParty[s.PartyID] = append(list, i)
			}
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/errands", e.listErrands)
	mux.HandleFunc("GET /api/v1/errands/{errandNumber}", e.getErrand)
	mux.HandleFunc("GET /api/v1/errands/{errandNumber}/decisions", e.listDecisions)
	mux.HandleFunc("POST /api/v1/parties/lookup", e.lookupParties)
	mux.HandleFunc("POST /api/v1/receipts/search", e.searchReceipts)
	for path, allow := range map[string]string{
		"/api/v1/errands":                          "GET, HEAD",
		"/api/v1/errands/{errandNumber}":           "GET, HEAD",
		"/api/v1/errands/{errandNumber}/decisions": "GET, HEAD",
		"/api/v1/parties/lookup":                   "POST",
		"/api/v1/receipts/search":                  "POST",
	} {
		mux.HandleFunc(path, methodNotAllowed(allow))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "Not Found", "no resource at "+r.URL.Path)
	})

	var h http.Handler = mux
	if opts.Faults != nil {
		h = opts.Faults.wrap("etjanst", h, BodyJSON, opts.Stats)
	}
	return h
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeProblem(w, http.StatusMethodNotAllowed, "Method Not Allowed", r.Method+" is not supported here")
	}
}

func (e *etjanst) record(r *http.Request, op string, keys int) {
	if e.stats != nil {
		e.stats.RecordRequest(r.Header.Get("X-Request-Id"), "etjanst", op, keys)
	}
}

func errandDTO(er *model.Errand) rest.ErrandDTO {
	d := rest.ErrandDTO{
		ErrandNumber: er.ErrandNumber, CaseType: er.CaseType, Status: string(er.Status),
		SubmittedAt: er.SubmittedAt.UTC(), Description: er.Description, Channel: er.Channel,
		Stakeholders:     make([]rest.StakeholderDTO, 0, len(er.Stakeholders)),
		PropertyObjectID: er.PropertyObjectID,
	}
	for _, s := range er.Stakeholders {
		d.Stakeholders = append(d.Stakeholders, rest.StakeholderDTO{PartyID: s.PartyID, Role: string(s.Role)})
	}
	return d
}

// listErrands serves both the paged list and the batch form
// (?errandNumbers=a,b,c), which ignores paging.
func (e *etjanst) listErrands(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("errandNumbers") {
		e.errandsByNumber(w, r, q)
		return
	}
	e.record(r, "listErrands", 0)
	limit, page, ok := limitPage(w, q, errandsDefaultLimit, errandsMaxLimit)
	if !ok {
		return
	}
	parties := splitList(q.Get("partyId"))
	if len(parties) > partyFilterMax {
		writeProblem(w, http.StatusBadRequest, "Bad Request",
			fmt.Sprintf("partyId lists %d parties, at most %d are allowed", len(parties), partyFilterMax))
		return
	}
	matched := e.match(splitList(q.Get("caseType")), model.ErrandStatus(q.Get("status")), parties)

	total := len(matched)
	from := min((page-1)*limit, total)
	to := min(from+limit, total)
	out := rest.ErrandList{
		Errands: make([]rest.ErrandDTO, 0, to-from),
		Meta: rest.PageMeta{
			Page: page, Limit: limit, Count: to - from, TotalRecords: total,
			TotalPages: (total + limit - 1) / limit,
		},
	}
	for _, i := range matched[from:to] {
		out.Errands = append(out.Errands, e.dtos[i])
	}
	writeJSON(w, http.StatusOK, out)
}

// match returns the indexes of the errands that pass the filters, in world
// order. caseTypes is a list (caseType=A,B): an errand of any of them passes.
func (e *etjanst) match(caseTypes []string, status model.ErrandStatus, parties []string) []int {
	if len(parties) == 0 {
		if len(caseTypes) <= 1 {
			return e.byFilter[filterKey{strings.Join(caseTypes, ""), status}]
		}
		var out []int
		for _, ct := range caseTypes {
			out = append(out, e.byFilter[filterKey{ct, status}]...)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	var out []int
	for _, p := range parties {
		for _, i := range e.byParty[p] {
			d := &e.dtos[i]
			if (len(caseTypes) == 0 || slices.Contains(caseTypes, d.CaseType)) && (status == "" || d.Status == string(status)) {
				out = append(out, i)
			}
		}
	}
	if len(parties) > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out
}

func (e *etjanst) errandsByNumber(w http.ResponseWriter, r *http.Request, q url.Values) {
	numbers := splitList(q.Get("errandNumbers"))
	e.record(r, "errandsByNumber", len(numbers))
	switch {
	case len(numbers) == 0:
		writeProblem(w, http.StatusBadRequest, "Bad Request", "errandNumbers must name at least one errand")
		return
	case len(numbers) > errandsMaxBatch:
		writeProblem(w, http.StatusBadRequest, "Bad Request",
			fmt.Sprintf("errandNumbers names %d errands, at most %d are allowed", len(numbers), errandsMaxBatch))
		return
	}
	caseTypes, status := splitList(q.Get("caseType")), q.Get("status")
	var found []int
	for _, n := range numbers {
		if i, ok := e.pos[n]; ok {
			d := &e.dtos[i]
			if (len(caseTypes) == 0 || slices.Contains(caseTypes, d.CaseType)) && (status == "" || d.Status == status) {
				found = append(found, i)
			}
		}
	}
	slices.Sort(found)
	found = slices.Compact(found)
	out := rest.ErrandList{
		Errands: make([]rest.ErrandDTO, 0, len(found)),
		Meta:    rest.PageMeta{Page: 1, Limit: len(found), Count: len(found), TotalRecords: len(found)},
	}
	if len(found) > 0 {
		out.Meta.TotalPages = 1
	}
	for _, i := range found {
		out.Errands = append(out.Errands, e.dtos[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *etjanst) getErrand(w http.ResponseWriter, r *http.Request) {
	e.record(r, "getErrand", 1)
	n := r.PathValue("errandNumber")
	i, ok := e.pos[n]
	if !ok {
		writeProblem(w, http.StatusNotFound, "Not Found", "no errand "+n)
		return
	}
	writeJSON(w, http.StatusOK, e.dtos[i])
}

// decisionDTO is a decision (beslut) on the wire. The gateway reads it
// through its declaration (schema/etjanst.yaml), not a Go type of its own.
type decisionDTO struct {
	ID        string    `json:"id"`
	Outcome   string    `json:"outcome"`
	DecidedAt time.Time `json:"decidedAt"`
	Law       string    `json:"law"`
}

// decisionList is the answer of /errands/{errandNumber}/decisions.
type decisionList struct {
	Decisions []decisionDTO `json:"decisions"`
}

func (e *etjanst) listDecisions(w http.ResponseWriter, r *http.Request) {
	e.record(r, "listDecisions", 1)
	n := r.PathValue("errandNumber")
	if _, ok := e.pos[n]; !ok {
		writeProblem(w, http.StatusNotFound, "Not Found", "no errand "+n)
		return
	}
	decisions := e.w.Decisions[n]
	out := decisionList{Decisions: make([]decisionDTO, 0, len(decisions))}
	for _, d := range decisions {
		out.Decisions = append(out.Decisions, decisionDTO{
			ID: d.ID, Outcome: string(d.Outcome), DecidedAt: d.DecidedAt.UTC(), Law: d.Law,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *etjanst) lookupParties(w http.ResponseWriter, r *http.Request) {
	var req rest.PartyLookupRequest
	err := readJSON(w, r, partyLookupMaxBody, &req)
	e.record(r, "lookupParties", len(req.PartyIDs)+len(req.PersonalNumbers))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "invalid party lookup: "+err.Error())
		return
	}
	keys, from := req.PartyIDs, e.w.PersonOfParty
	if (len(req.PartyIDs) == 0) == (len(req.PersonalNumbers) == 0) {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "set exactly one of partyIds and personalNumbers")
		return
	}
	if len(req.PersonalNumbers) > 0 {
		keys, from = req.PersonalNumbers, e.w.PartyOf
	}
	if len(keys) > partyLookupMax {
		writeProblem(w, http.StatusBadRequest, "Bad Request",
			fmt.Sprintf("%d keys asked, at most %d are allowed", len(keys), partyLookupMax))
		return
	}
	out := rest.PartyLookupResponse{Parties: make([]rest.PartyDTO, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		v, ok := from[k]
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		if len(req.PartyIDs) > 0 {
			out.Parties = append(out.Parties, rest.PartyDTO{PartyID: k, PersonalNumber: v})
		} else {
			out.Parties = append(out.Parties, rest.PartyDTO{PartyID: v, PersonalNumber: k})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// limitPage reads a DIGG-style listing's ?limit (default def, at most
// most) and ?page (from 1); a bad value is answered 400 and ok is false.
func limitPage(w http.ResponseWriter, q url.Values, def, most int) (limit, page int, ok bool) {
	limit, err := intParam(q, "limit", def, 1, most)
	if err == nil {
		page, err = intParam(q, "page", 1, 1, 1<<30)
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Bad Request", err.Error())
		return 0, 0, false
	}
	return limit, page, true
}

// intParam reads an integer query parameter in [lo, hi], def when absent.
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	if !q.Has(name) {
		return def, nil
	}
	v, err := strconv.Atoi(q.Get(name))
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%s must be an integer from %d to %d, got %q", name, lo, hi, q.Get(name))
	}
	return v, nil
}

// splitList splits a comma-separated parameter, dropping empty items.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readJSON decodes a request's JSON body into v: at most limit bytes, one
// value, no member v does not have, nothing after it but spaces (Decoder.More
// would let a closing "}" or "]" pass).
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		err = fmt.Errorf("the body is larger than %d bytes", tooBig.Limit)
	}
	return err
}

// readXML reads a request's XML body, of at most limit bytes, into v: a
// DOCTYPE or other directive is refused before it is decoded (scanXML).
func readXML(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return fmt.Errorf("the body is larger than %d bytes", tooBig.Limit)
	case err != nil:
		return err
	}
	directive, err := scanXML(raw)
	switch {
	case err != nil:
		return err
	case directive:
		return errors.New("a DOCTYPE or other directive is not accepted")
	}
	return xml.Unmarshal(raw, v)
}

// scanXML reads an XML document to its end, strictly, and says whether it
// holds a DOCTYPE or other directive (stopping there); err is the first
// XML error before one.
func scanXML(raw []byte) (directive bool, err error) {
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.Strict = true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if _, ok := tok.(xml.Directive); ok {
			return true, nil
		}
	}
}

// writeJSON answers with a JSON document.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONAs(w, status, "application/json", v)
}

func writeJSONAs(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "Internal Server Error", "could not encode the answer")
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
