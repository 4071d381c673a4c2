package admin

import (
	"encoding/csv"
	"html/template"
	"net/http"
	"time"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/report"
)

// reportHandler serves the effect goals' report (internal/report computes
// it from Options.Report's inputs): JSON, ?format=csv for the half-yearly
// export, ?format=html for a printable page. Under /admin/api/ so that the
// policy editor's session reaches it; admin on policy, as the rest of the
// security staff's API.
func (a *Admin) reportHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		from, to := now.AddDate(0, -6, 0), now // the half year
		var err error
		if v := r.URL.Query().Get("from"); v != "" {
			if from, err = time.ParseInLocation(time.DateOnly, v, time.UTC); err != nil {
				writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "from: want YYYY-MM-DD", nil)
				return
			}
		}
		if v := r.URL.Query().Get("to"); v != "" {
			if to, err = time.ParseInLocation(time.DateOnly, v, time.UTC); err != nil {
				writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "to: want YYYY-MM-DD", nil)
				return
			}
			to = to.AddDate(0, 0, 1) // the whole last day
		}
		if !from.Before(to) {
			writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "from must be before to", nil)
			return
		}
		format := r.URL.Query().Get("format")
		if format != "" && format != "json" && format != "csv" && format != "html" {
			writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "format: want json, csv or html", nil)
			return
		}
		in, err := a.opts.Report.ReportInputs(r.Context(), from, to)
		if err != nil {
			a.log.ErrorContext(r.Context(), "report: access log", "error", err.Error())
			writeProblem(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the access log is unavailable", nil)
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
			PageHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_ = reportPage.Execute(w, rep.Rows())
			})).ServeHTTP(w, r)
		default:
			writeJSON(w, http.StatusOK, rep)
		}
	})
}

// reportPage is the printable report: a table of its rows.
var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Kommungraf: effektmål</title></head>
<body><h1>Kommungraf: the strategy's effect goals</h1>
<table border="1" cellpadding="4" cellspacing="0">
{{range $i, $row := .}}<tr>{{range $row}}{{if eq $i 0}}<th>{{.}}</th>{{else}}<td>{{.}}</td>{{end}}{{end}}</tr>
{{end}}</table></body></html>
`))
