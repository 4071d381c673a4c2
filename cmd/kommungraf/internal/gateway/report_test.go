package gateway_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/report"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/resolvers"
)

// TestReportShowsTheEffectGoals: after a known sequence of requests (the
// case officer's Q1, the preschool administrator's Q2, an anonymous
// school listing), the report's figures equal what this test computes on
// its own from the schema's classification, the contracts and those
// requests: every field classified, every client with a contract, every
// source with an owner, the ten open APIs, the population registry's data
// reused by two client applications and the errands read by one, and the
// level-3 fields. The CSV export and the printable page carry the same.
func TestReportShowsTheEffectGoals(t *testing.T) {
	d := newSecureDemo(t)
	postAs(t, d, "case-officer", "report-q1", q1)
	postAs(t, d, "preschool-admin", "report-q2", q2Small)
	mustNoErrors(t, d.query(t, `{ schoolUnits(first: 2) { totalCount } }`))
	if err := d.gw.AccessLog().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	code, raw := d.policyCall(t, "security-officer", "GET", "/admin/api/report", "")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %v", code, raw)
	}
	var got report.Report
	if err := json.Unmarshal([]byte(jsonBody(t, raw)), &got); err != nil {
		t.Fatal(err)
	}

	cat, err := authz.Classify(graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema())
	if err != nil {
		t.Fatal(err)
	}
	var level3 []string
	byLevel := map[string]int{}
	for _, f := range cat.Fields() {
		byLevel[fmt.Sprint(int(f.Level))]++
		if f.Level == 3 {
			level3 = append(level3, f.Key)
		}
	}
	if got.Fields != len(cat.Fields()) || got.ClassifiedFields != got.Fields || fmt.Sprint(got.FieldsByLevel) != fmt.Sprint(byLevel) {
		t.Errorf("fields %d (%d classified, %v), want %d all classified (%v)", got.Fields, got.ClassifiedFields, got.FieldsByLevel, len(cat.Fields()), byLevel)
	}
	var keys []string
	for _, f := range got.Level3 {
		keys = append(keys, f.Key)
		if f.Key == "Placement.specialDiet" && !slices.ContainsFunc(f.Readers, func(r string) bool { return strings.HasPrefix(r, "preschool-admin via ") }) {
			t.Errorf("the preschool administrator may read special diets; the report's readers: %v", f.Readers)
		}
	}
	if slices.Sort(keys); !slices.Equal(keys, slices.Sorted(slices.Values(level3))) {
		t.Errorf("level-3 fields %v, want %v", keys, level3)
	}

	contracts, err := authz.ParseContracts([]byte(authz.DefaultContracts()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientsWithContract != len(contracts.List()) || len(got.Clients) != len(contracts.List()) {
		t.Errorf("%d of %d clients with a contract, want all %d", got.ClientsWithContract, len(got.Clients), len(contracts.List()))
	}
	requests := map[string]int{}
	for _, c := range got.Clients {
		requests[c.Client] = c.Requests
	}
	// The access log keeps the requests that read personal data or were
	// refused a field: Q1 and Q2, not the anonymous listing.
	if requests["bygglov-app"] != 1 || requests["preschool-app"] != 1 || requests["anonymous"] != 0 {
		t.Errorf("access log entries per client %v, want one each of bygglov-app and preschool-app, none of anonymous", requests)
	}
	// The five systems, and the waste-collection system's emptyings
	// register (tomningar), a declared system of its own.
	if got.SourcesWithOwner != 6 || len(got.Sources) != 6 {
		t.Errorf("sources %+v, want six, each with an owner", got.Sources)
	}
	if len(got.OpenAPIs) != 10 {
		t.Errorf("open APIs %v, want the demo's ten", got.OpenAPIs)
	}
	readBy := map[string][]string{}
	for _, o := range got.OwnersReadBy {
		readBy[o.Owner] = o.Clients
	}
	if c := readBy["Folkbokföringen (Skatteverket, via Navet)"]; !slices.Equal(c, []string{"bygglov-app", "preschool-app"}) {
		t.Errorf("the registry's data read by %v, want bygglov-app and preschool-app (Q1's stakeholders, Q2's children)", c)
	}
	if c := readBy["E-tjänsteplattformen (Kommunstyrelsen)"]; !slices.Equal(c, []string{"bygglov-app"}) {
		t.Errorf("errands read by %v, want bygglov-app only", c)
	}
	if got.OwnersReused < 1 {
		t.Errorf("owners reused %d, want at least the registry", got.OwnersReused)
	}

	// The half-yearly export and the printable page.
	req, _ := http.NewRequest(http.MethodGet, d.srv.URL+"/admin/api/report?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+d.token(t, "security-officer"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %v %s", err, resp.Header.Get("Content-Type"))
	}
	if !slices.ContainsFunc(rows, func(r []string) bool { return r[0] == "open APIs published" && r[1] == "10" }) ||
		!slices.ContainsFunc(rows, func(r []string) bool { return r[0] == "schema fields classified" && r[1] == "100.0 %" }) {
		t.Errorf("csv rows %v", rows[:6])
	}
	req, _ = http.NewRequest(http.MethodGet, d.srv.URL+"/admin/api/report?format=html", nil)
	req.Header.Set("Authorization", "Bearer "+d.token(t, "security-officer"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("page: %d %v", resp.StatusCode, resp.Header)
	}
	for _, persona := range []string{"", "case-officer", "analyst", "open-data"} {
		if code, _ := d.policyCall(t, persona, "GET", "/admin/api/report", ""); code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("%s read the report: HTTP %d", nameOr(persona, "anonymous"), code)
		}
	}
	if code, _ := d.policyCall(t, "security-officer", "GET", "/admin/api/report?from=2026-13-01", ""); code != http.StatusBadRequest {
		t.Errorf("a bad date: HTTP %d", code)
	}
}
