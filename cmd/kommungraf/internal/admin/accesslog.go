package admin

import (
	"encoding/csv"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// Access log search: security staff's question "who read this person's data
// in this period". The personnummer travels only in a POST body: a URL ends
// up in browser histories, proxy logs and request logs, a body does not.
const (
	// accessLogDefaultLimit and accessLogMaxLimit bound a search's entries.
	accessLogDefaultLimit = 500
	accessLogMaxLimit     = 10000
	// accessLogTimeZone is the zone every time of the answer is given in.
	accessLogTimeZone = "Europe/Stockholm"
)

// accessLogSearch is the body of POST /admin/api/access-log, as JSON or as
// application/x-www-form-urlencoded with the same names.
type accessLogSearch struct {
	// Person is a personnummer, YYYYMMDDNNNC or YYYYMMDD-NNNC; empty: anyone.
	Person string `json:"person"`
	// From and To are YYYY-MM-DD (a Swedish date, To inclusive) or RFC 3339.
	From string `json:"from"`
	To   string `json:"to"`
	// Client and Subject narrow the search to one client or one user.
	Client  string `json:"client"`
	Subject string `json:"subject"`
	// Limit caps the entries, newest first: 1 to 10000, default 500.
	Limit *int `json:"limit"`
	// Format is json (the default) or csv; Accept: text/csv asks for csv too.
	Format string `json:"format"`
	// IncludeSearches adds the entries that earlier searches of the log
	// left (authz.OperationAccessLogSearch): who looked the person up here.
	IncludeSearches bool `json:"includeSearches"`
}

// oldAccessLog answers the retired GET /admin/access-log: it took the
// personnummer in the URL, which must not carry one.
func oldAccessLog(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, http.StatusBadRequest, "BAD_REQUEST",
		`search the access log with POST /admin/api/access-log and {"person": "...", "from": "...", "to": "..."} in the body: a personnummer does not belong in a URL`, nil)
}

// searchAccessLog serves POST /admin/api/access-log: JSON, or with
// Accept: text/csv (or "format": "csv") a CSV extract (registerutdrag).
// Every time is RFC 3339 in Europe/Stockholm.
func (a *Admin) searchAccessLog(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		// Refused rather than ignored: whatever is in the URL has already
		// been written to places a personnummer must not reach.
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "POST /admin/api/access-log takes its parameters in the body, never in the URL", nil)
		return
	}
	s, ok := readAccessLogSearch(w, r)
	if !ok {
		return
	}
	var aq authz.AccessQuery
	if p := strings.TrimSpace(s.Person); p != "" {
		pnr, err := model.ParsePersonalNumber(p)
		if err != nil { // the message never repeats what was sent
			writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "person: want a valid personnummer, YYYYMMDDNNNC or YYYYMMDD-NNNC", nil)
			return
		}
		aq.PersonHash = a.opts.Hasher.Hash(pnr)
	}
	aq.Subject, aq.Client = strings.TrimSpace(s.Subject), strings.TrimSpace(s.Client)
	var err error
	if aq.From, err = authz.ParseAccessTime(strings.TrimSpace(s.From), false); err == nil {
		aq.To, err = authz.ParseAccessTime(strings.TrimSpace(s.To), true)
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "from, to: want YYYY-MM-DD (a Swedish date, to inclusive) or RFC 3339", nil)
		return
	}
	aq.Limit = accessLogDefaultLimit
	if s.Limit != nil {
		if *s.Limit < 1 || *s.Limit > accessLogMaxLimit {
			writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "limit: want 1 to 10000", nil)
			return
		}
		aq.Limit = *s.Limit
	}
	var asCSV bool
	switch strings.ToLower(s.Format) {
	case "":
		asCSV = strings.Contains(r.Header.Get("Accept"), "text/csv")
	case "json":
	case "csv":
		asCSV = true
	default:
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "format: want json or csv", nil)
		return
	}

	aq.IncludeSearches = s.IncludeSearches

	// The search is itself a look at the person: it tells which units and
	// purposes read them. It is logged before it runs, like a read of
	// personal data, and a log that cannot take the entry gets no search.
	if err := a.opts.AccessLog.Append(r.Context(), searchEntry(r, aq, asCSV)); err != nil {
		a.log.ErrorContext(r.Context(), "access log search not recorded: refused", "error", err.Error())
		writeProblem(w, http.StatusServiceUnavailable, "ACCESS_LOG_UNAVAILABLE", "the access log cannot record this search now; try again later", nil)
		return
	}
	entries, err := a.opts.AccessLog.Query(r.Context(), aq)
	if err != nil {
		a.log.ErrorContext(r.Context(), "access log query failed", "error", err.Error())
		writeProblem(w, http.StatusServiceUnavailable, "ACCESS_LOG_UNAVAILABLE", "the access log could not be read", nil)
		return
	}
	if entries == nil {
		entries = []authz.AccessEntry{}
	}
	for i := range entries {
		entries[i].Time = adminTime(entries[i].Time)
	}
	w.Header().Set("Cache-Control", "no-store")
	if asCSV {
		writeAccessLogCSV(w, entries, time.Now())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"entries": entries, "count": len(entries), "limit": aq.Limit, "timeZone": accessLogTimeZone,
	})
}

// readAccessLogSearch reads the body as JSON (strictly, as the policy API
// does) or as a form; an empty body searches everything.
func readAccessLogSearch(w http.ResponseWriter, r *http.Request) (accessLogSearch, bool) {
	var s accessLogSearch
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json", "":
		return s, decodeBody(w, r, &s, false)
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "the body is not a form", nil)
			return s, false
		}
		f := r.PostForm // the body only: r.Form would add the URL's query
		for k := range f {
			switch k {
			case "person", "from", "to", "client", "subject", "limit", "format", "includeSearches":
			default:
				writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "unknown field "+strconv.Quote(k), nil)
				return s, false
			}
		}
		s = accessLogSearch{Person: f.Get("person"), From: f.Get("from"), To: f.Get("to"),
			Client: f.Get("client"), Subject: f.Get("subject"), Format: f.Get("format"),
			IncludeSearches: f.Get("includeSearches") == "true" || f.Get("includeSearches") == "on"}
		if v := strings.TrimSpace(f.Get("limit")); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "limit: want 1 to 10000", nil)
				return s, false
			}
			s.Limit = &n
		}
		return s, true
	default:
		writeProblem(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
			"POST a JSON body (application/json) or a form (application/x-www-form-urlencoded)", nil)
		return s, false
	}
}

// accessLogCSVHeader names the columns of the CSV extract.
var accessLogCSVHeader = []string{
	"when (Europe/Stockholm)", "subject", "unit", "client", "purposes", "operation", "fields read", "denied", "request id",
}

// writeAccessLogCSV writes entries as the CSV extract (registerutdrag) a
// security officer hands on: one row per request, times in Stockholm with
// their offset, lists separated by spaces.
func writeAccessLogCSV(w http.ResponseWriter, entries []authz.AccessEntry, now time.Time) {
	name := "registerutdrag-" + now.In(authz.Stockholm).Format("20060102-150405") + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(accessLogCSVHeader)
	for _, e := range entries {
		row := []string{
			e.Time.In(authz.Stockholm).Format(time.RFC3339), e.Subject, e.Unit, e.Client,
			strings.Join(e.Purposes, " "), e.Operation, strings.Join(e.Fields, " "), strings.Join(e.Denied, " "), e.RequestID,
		}
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		_ = cw.Write(row)
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a value as a formula (CSV
// injection): a value that starts like one gets a leading apostrophe.
// Subjects, operation names and request ids come from callers.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// searchEntry is the access log's record of one search of the log: who
// searched, as a read of FieldAccessLogSearch about the person searched for
// (by hash; none when the search named no one), with the filters as
// fields so that an audit can see how wide the search was.
func searchEntry(r *http.Request, q authz.AccessQuery, asCSV bool) authz.AccessEntry {
	p := authz.FromContext(r.Context())
	e := authz.AccessEntry{
		Time:      time.Now().UTC(),
		RequestID: upstream.RequestIDFromContext(r.Context()),
		Subject:   p.Subject, Client: p.Client, Unit: p.Unit,
		Roles: slices.Clone(p.Roles), Purposes: slices.Clone(p.Purposes),
		Operation: authz.OperationAccessLogSearch,
		Fields:    []string{authz.FieldAccessLogSearch},
		Outcome:   authz.OutcomeServed,
	}
	if q.PersonHash != "" {
		e.Persons = []string{q.PersonHash}
	}
	for name, v := range map[string]string{"subject": q.Subject, "client": q.Client} {
		if v != "" {
			e.Fields = append(e.Fields, authz.FieldAccessLogSearch+"("+name+"="+v+")")
		}
	}
	if asCSV {
		e.Fields = append(e.Fields, authz.FieldAccessLogSearch+"(csv)")
	}
	slices.Sort(e.Fields)
	return e
}
