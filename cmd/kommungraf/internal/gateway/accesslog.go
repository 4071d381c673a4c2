package gateway

import (
	"net/http"
	"strconv"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/model"
)

// queryAccessLog answers security staff's question "who read this person's
// data in this period": GET /admin/access-log?person=YYYYMMDDNNNN&from=&to=
// (RFC 3339, or YYYY-MM-DD as a Swedish date, to inclusive) &subject=&client=&limit=.
func (g *Gateway) queryAccessLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var aq authz.AccessQuery
	if p := q.Get("person"); p != "" {
		pnr, err := model.ParsePersonalNumber(p)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "BAD_USER_INPUT", "person: "+err.Error())
			return
		}
		aq.PersonHash = g.sec.hasher.Hash(pnr)
	}
	aq.Subject, aq.Client = q.Get("subject"), q.Get("client")
	var err error
	if aq.From, err = authz.ParseAccessTime(q.Get("from"), false); err == nil {
		aq.To, err = authz.ParseAccessTime(q.Get("to"), true)
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "BAD_USER_INPUT", "from, to: want YYYY-MM-DD (a Swedish date) or RFC 3339")
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeProblem(w, http.StatusBadRequest, "BAD_USER_INPUT", "limit: want 1 to 10000")
			return
		}
		aq.Limit = n
	}
	entries, err := g.sec.accessLog.Query(r.Context(), aq)
	if err != nil {
		g.log.ErrorContext(r.Context(), "access log query failed", "error", err.Error())
		writeProblem(w, http.StatusServiceUnavailable, "ACCESS_LOG_UNAVAILABLE", "the access log could not be read")
		return
	}
	if entries == nil {
		entries = []authz.AccessEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}
