package catalog

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/problem"
)

// Handler serves the catalog: JSON, or ?format=csv (one row per system
// and client, one per resource). inputs gathers what it is computed from;
// its error is logged and answered 503 without detail. The caller
// authorizes the request.
func Handler(inputs func(context.Context) (Inputs, error), log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := r.URL.Query().Get("format")
		if format != "" && format != "json" && format != "csv" {
			problem.Write(w, http.StatusBadRequest, "BAD_REQUEST", "format: want json or csv", nil)
			return
		}
		in, err := inputs(r.Context())
		if err != nil {
			log.ErrorContext(r.Context(), "catalog: usage counts", "error", err.Error())
			problem.Write(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the usage counts are unavailable", nil)
			return
		}
		c := Compute(in)
		w.Header().Set("Cache-Control", "no-store")
		if format == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="kommungraf-integrationskatalog-`+c.To+`.csv"`)
			_ = csv.NewWriter(w).WriteAll(c.Rows())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	})
}

// Rows are the catalog as CSV rows.
func (c Catalog) Rows() [][]string {
	rows := [][]string{{"kind", "name", "owner", "type", "levels", "contracts or purposes", "clients that read it", "reads in window", "promised availability", "measured availability", "open APIs or fields read"}}
	for _, s := range c.Systems {
		rows = append(rows, []string{"system", s.Name, s.Owner, s.Kind, fmt.Sprintf("%d–%d", s.Levels.Min, s.Levels.Max),
			strings.Join(s.Contracts, " "), readsText(s.Reads), fmt.Sprint(s.TotalReads), s.Availability.Promised,
			fmt.Sprintf("%s (%d of %d calls)", s.Availability.Measured, s.Availability.OK, s.Availability.Calls), strings.Join(s.OpenAPIs, " ")})
		for _, r := range s.Resources {
			lv := ""
			if r.Levels != nil {
				lv = fmt.Sprintf("%d–%d", r.Levels.Min, r.Levels.Max)
			}
			rows = append(rows, []string{"resource", s.Name + "." + r.Name, s.Owner, s.Kind, lv, "", readsText(r.Reads), fmt.Sprint(r.TotalReads), "", "", ""})
		}
	}
	for _, cl := range c.Clients {
		ceiling := "no contract"
		if cl.Ceiling != nil {
			ceiling = fmt.Sprintf("ceiling %d", *cl.Ceiling)
		}
		rows = append(rows, []string{"client", cl.Client, cl.Owner, ceiling, "", strings.Join(cl.Purposes, " "), strings.Join(cl.Systems, " "),
			fmt.Sprint(cl.Reads), cl.Availability, "", strings.Join(cl.FieldsRead, " ")})
	}
	return rows
}

func readsText(rs []ClientReads) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s %d", r.Client, r.Reads)
	}
	return strings.Join(parts, "; ")
}
