package gateway

import (
	"encoding/csv"
	"html/template"
	"net/http"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/report"
)

// reportAccessLimit bounds the access log entries a report reads; past it
// the report says it counted the newest only.
const reportAccessLimit = 200_000

// mountReport serves the effect goals' report: JSON, ?format=csv for the
// half-yearly export, ?format=html for a printable page. Under /admin/api/
// so that the policy editor's session reaches it; admin on policy, as the
// rest of the security staff's API.
func (g *Gateway) mountReport(mux *http.ServeMux) {
	mux.Handle("GET /admin/api/report", g.sec.require(authz.ActAdmin, authz.ObjPolicy, http.HandlerFunc(g.serveReport)))
}

func (g *Gateway) serveReport(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	from, to := now.AddDate(0, -6, 0), now // the half year
	var err error
	if v := r.URL.Query().Get("from"); v != "" {
		if from, err = time.ParseInLocation(time.DateOnly, v, time.UTC); err != nil {
			writePolicyProblem(w, http.StatusBadRequest, "BAD_REQUEST", "from: want YYYY-MM-DD", nil)
			return
		}
	}
	if v := r.URL.Query().Get("to"); v != "" {
		if to, err = time.ParseInLocation(time.DateOnly, v, time.UTC); err != nil {
			writePolicyProblem(w, http.StatusBadRequest, "BAD_REQUEST", "to: want YYYY-MM-DD", nil)
			return
		}
		to = to.AddDate(0, 0, 1) // the whole last day
	}
	if !from.Before(to) {
		writePolicyProblem(w, http.StatusBadRequest, "BAD_REQUEST", "from must be before to", nil)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" && format != "html" {
		writePolicyProblem(w, http.StatusBadRequest, "BAD_REQUEST", "format: want json, csv or html", nil)
		return
	}
	in, err := g.reportInputs(r, from, to)
	if err != nil {
		g.log.ErrorContext(r.Context(), "report: access log", "error", err.Error())
		writePolicyProblem(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the access log is unavailable", nil)
		return
	}
	rep := report.Compute(in, now)
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="kommungraf-report-`+rep.From.Format(time.DateOnly)+`.csv"`)
		cw := csv.NewWriter(w)
		_ = cw.WriteAll(rep.Rows())
	case "html":
		pageHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = reportPage.Execute(w, rep.Rows())
		})).ServeHTTP(w, r)
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}

// reportInputs gathers what the report is computed from.
func (g *Gateway) reportInputs(r *http.Request, from, to time.Time) (report.Inputs, error) {
	in := report.Inputs{Fields: g.sec.policyFlow.Catalog(), Contracts: g.sec.authorizer.Contracts().List(), From: from, To: to}
	for _, k := range g.cfg.Auth.APIKeys {
		in.Configured = append(in.Configured, k.Client)
	}
	// Every system is declared (the built-in ones too), with its owner.
	for _, sys := range g.declared.Systems {
		in.Sources = append(in.Sources, report.Source{Name: sys.Name, Kind: sys.Connector, Owner: sys.Owner})
	}
	if g.open != nil {
		for _, a := range g.open.APIs() {
			in.OpenAPIs = append(in.OpenAPIs, a.API)
		}
	}
	entries, err := g.sec.accessLog.Query(r.Context(), authz.AccessQuery{From: from, To: to, Limit: reportAccessLimit + 1})
	if err != nil {
		return in, err
	}
	if len(entries) > reportAccessLimit {
		entries, in.Truncated = entries[:reportAccessLimit], true
	}
	in.Access = entries
	return in, nil
}

// reportPage is the printable report: a table of its rows.
var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Kommungraf: effektmål</title></head>
<body><h1>Kommungraf: the strategy's effect goals</h1>
<table border="1" cellpadding="4" cellspacing="0">
{{range $i, $row := .}}<tr>{{range $row}}{{if eq $i 0}}<th>{{.}}</th>{{else}}<td>{{.}}</td>{{end}}{{end}}</tr>
{{end}}</table></body></html>
`))
