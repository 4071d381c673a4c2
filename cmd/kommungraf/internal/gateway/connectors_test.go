package gateway_test

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
)

// The waste-collection system's pickups, declared for the SQL and the SOAP
// connector instead of HTTP (testdata/avfall-{sql,soap}.yaml): the same
// schema, policy and query, served end to end through the gateway.

// withDeclaration is the declarations go generate embedded, with
// schema/avfall.yaml replaced by the test's file, and extra files beside it.
func withDeclaration(t *testing.T, file string, extra ...declare.File) []declare.File {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return append(withFile(declared.Files(), "schema/avfall.yaml", data), extra...)
}

// withFile is files with the one named name replaced by data, last.
func withFile(files []declare.File, name string, data []byte) []declare.File {
	var out []declare.File
	for _, f := range files {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return append(out, declare.File{Name: name, Data: data})
}

// startDeclared starts the demo with declarations of its own and
// sources.avfall as given.
func startDeclared(t *testing.T, w *sim.World, files []declare.File, avfall config.DeclaredSource) *demo {
	t.Helper()
	cfg := config.Demo()
	cfg.Sources.Skoldatabas.QueryTimeout = 15 * time.Second // as startDemo, for -race
	cfg.Sources.Declared["avfall"] = avfall
	d := serve(t, cfg, gateway.Options{
		Demo: true, World: w, Declarations: files, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	d.gw.Sim().Stats.Reset()
	return d
}

// pickupsQuery asks for the pickups of Q1's properties, with the invoice
// recipient through the population registry; args are wastePickups'
// arguments ("" or "(fraction: MAT)").
const pickupsQuery = `{ errands(first: 50, caseType: "BYGGLOV") { edges { node { property {
    designation wastePickups%s { propertyId fraction weekday nextDate containerLitres invoiceRecipient { givenName } } } } } } }`

// checkPickups asks for pickupsQuery as the case officer and compares every
// property's pickups with the world's; it returns the number of distinct
// properties on the page.
func checkPickups(t *testing.T, d *demo, w *sim.World, id string) int {
	t.Helper()
	return checkPickupsOf(t, d, w, id, "")
}

// checkPickupsOf is checkPickups with wastePickups(fraction: fraction)
// unless fraction is "": it wants only that fraction's pickups, and some
// property on the page to have some and some to have others.
func checkPickupsOf(t *testing.T, d *demo, w *sim.World, id, fraction string) int {
	t.Helper()
	args := ""
	if fraction != "" {
		args = "(fraction: " + fraction + ")"
	}
	raw := postAs(t, d, "case-officer", id, fmt.Sprintf(pickupsQuery, args))
	type pickup struct {
		PropertyID, Fraction, Weekday, NextDate string
		ContainerLitres                         int
		InvoiceRecipient                        *struct{ GivenName string }
	}
	var r struct {
		Data struct {
			Errands struct {
				Edges []struct {
					Node struct {
						Property *struct {
							Designation  string
							WastePickups []pickup
						}
					}
				}
			}
		}
		Errors []gqlError
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 {
		t.Fatalf("answer %.2000s (%v)", raw, err)
	}
	byDesignation := map[string]string{}
	for _, p := range w.Properties {
		byDesignation[p.Designation] = p.ObjectID
	}
	seen := map[string]bool{}
	recipients, filtered := 0, 0
	for _, e := range r.Data.Errands.Edges {
		p := e.Node.Property
		if p == nil {
			continue
		}
		id := byDesignation[p.Designation]
		seen[id] = true
		var want []string
		for _, pu := range w.PickupsOf[id] {
			if fraction != "" && pu.Fraction != fraction {
				filtered++
				continue
			}
			want = append(want, fmt.Sprintf("%s %s %s %s %d", id, pu.Fraction, strings.ToUpper(pu.Weekday.String()), pu.NextDate.Format(time.DateOnly), pu.ContainerLitres))
		}
		var got []string
		for _, pu := range p.WastePickups {
			got = append(got, fmt.Sprintf("%s %s %s %s %d", pu.PropertyID, pu.Fraction, pu.Weekday, pu.NextDate, pu.ContainerLitres))
			if pu.InvoiceRecipient != nil && pu.InvoiceRecipient.GivenName != "" {
				recipients++
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: pickups\n got %v\nwant %v", p.Designation, got, want)
		}
	}
	if len(seen) == 0 || recipients == 0 {
		t.Fatalf("no properties (%d) or invoice recipients (%d) in the answer: %.2000s", len(seen), recipients, raw)
	}
	if fraction != "" && filtered == 0 {
		t.Fatalf("fraction %s: every pickup on the page is of it, so the filter shows nothing", fraction)
	}
	return len(seen)
}

// TestDeclaredSQLSystem: the pickups declared as a query on the system's
// own SQLite database (testdata/avfall-sql.yaml, which the README quotes)
// answer as the REST system does, in one query per request for all the
// page's properties, counted under the declaration's names; warm, none.
func TestDeclaredSQLSystem(t *testing.T) {
	w := testWorld()
	dsn := filepath.Join(t.TempDir(), "avfall.db")
	seedPickups(t, w, dsn)
	d := startDeclared(t, w, withDeclaration(t, "testdata/avfall-sql.yaml"),
		config.DeclaredSource{Database: config.Database{Driver: "sqlite", DSN: dsn}})

	properties := checkPickups(t, d, w, "sql-cold")
	c := d.gw.Sim().Stats.Request("sql-cold")["avfall"]["pickups"]
	if c.Calls != 1 || c.Keys != int64(properties) {
		t.Errorf("cold: avfall pickups %+v, want one query for the page's %d properties", c, properties)
	}
	checkPickups(t, d, w, "sql-warm")
	if c := d.gw.Sim().Stats.Request("sql-warm")["avfall"]["pickups"]; c.Calls != 0 {
		t.Errorf("warm: %d queries, want none: the record cache answers", c.Calls)
	}
	// The argument is a bound parameter: one query for the page's
	// properties asked for MAT, a record-cache entry of its own.
	checkPickupsOf(t, d, w, "sql-mat", "MAT")
	if c := d.gw.Sim().Stats.Request("sql-mat")["avfall"]["pickups"]; c.Calls != 1 || c.Keys != int64(properties) {
		t.Errorf("fraction MAT: avfall pickups %+v, want one query for the page's %d properties", c, properties)
	}
	if n := metric(t, d, `kommungraf_upstream_calls_total{operation="pickups",outcome="ok",source="avfall"}`); n != "2" {
		t.Errorf("metrics count %s avfall pickups queries, want 2", n)
	}
	if code, body := getBody(t, d.srv.URL+"/readyz"); code != http.StatusOK || !strings.Contains(body, "avfall") {
		t.Errorf("/readyz: %d %s", code, body)
	}
}

// seedPickups writes the world's pickups into a new SQLite database.
func seedPickups(t *testing.T, w *sim.World, dsn string) {
	t.Helper()
	store, err := sqldb.Open(t.Context(), sqldb.Options{DSN: dsn, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	db := store.DB()
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE pickups (property_id TEXT NOT NULL, fraction TEXT NOT NULL,
  weekday TEXT NOT NULL, next_date DATE NOT NULL, container_litres INTEGER NOT NULL, invoice_party_id TEXT)`); err != nil {
		t.Fatal(err)
	}
	for _, pu := range w.Pickups {
		var party any
		if pu.Invoice != nil && w.PartyOf[pu.Invoice.PersonalNumber] != "" {
			party = w.PartyOf[pu.Invoice.PersonalNumber]
		}
		if _, err := db.ExecContext(t.Context(), `INSERT INTO pickups VALUES (?, ?, ?, ?, ?, ?)`,
			pu.PropertyID, pu.Fraction, strings.ToUpper(pu.Weekday.String()), pu.NextDate.Format(time.DateOnly), pu.ContainerLitres, party); err != nil {
			t.Fatal(err)
		}
	}
}

// soapAvfall is a SOAP 1.1 face of the waste-collection system
// (testdata/avfall.wsdl): one property's pickups per call, of the
// fraction Fraktion names when the request has one. It counts its calls
// and refuses a request without the declared customer.
type soapAvfall struct {
	w     *sim.World
	mu    sync.Mutex
	calls int
}

var soapValueRE = regexp.MustCompile(`<(?:\w+:)?(Fastighet|Kund|Fraktion)>([^<]*)</`)

func (s *soapAvfall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery == "wsdl" {
		http.ServeFile(w, r, "testdata/avfall.wsdl") // the readiness probe
		return
	}
	body, _ := io.ReadAll(r.Body)
	values := map[string]string{}
	for _, m := range soapValueRE.FindAllStringSubmatch(string(body), -1) {
		values[m[1]] = html.UnescapeString(m[2])
	}
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	if values["Kund"] != "KOMMUNGRAF" {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>unknown customer</faultstring></s:Fault></s:Body></s:Envelope>`)
		return
	}
	var b strings.Builder
	fraction, filter := values["Fraktion"]
	for _, pu := range s.w.PickupsOf[values["Fastighet"]] {
		if filter && pu.Fraction != fraction {
			continue // Fraktion keeps that fraction's pickups only; absent, all
		}
		fmt.Fprintf(&b, `<a:Tomning><a:Fastighet>%s</a:Fastighet><a:Fraktion>%s</a:Fraktion><a:Veckodag>%s</a:Veckodag><a:NastaTomning>%s</a:NastaTomning><a:KarlLiter>%d</a:KarlLiter>`,
			pu.PropertyID, pu.Fraction, strings.ToUpper(pu.Weekday.String()), pu.NextDate.Format(time.DateOnly), pu.ContainerLitres)
		if pu.Invoice != nil && s.w.PartyOf[pu.Invoice.PersonalNumber] != "" {
			fmt.Fprintf(&b, `<a:Betalare>%s</a:Betalare>`, s.w.PartyOf[pu.Invoice.PersonalNumber])
		}
		b.WriteString(`</a:Tomning>`)
	}
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>`+
		`<a:HamtaTomningarSvar xmlns:a="urn:kommungraf:test:avfall">`+b.String()+`</a:HamtaTomningarSvar></s:Body></s:Envelope>`)
}

// TestDeclaredSOAPSystem: the pickups declared as a SOAP operation read
// from a WSDL beside the declaration (testdata/avfall-soap.yaml) answer as
// the REST system does: one call per distinct property (SOAP has no batch
// form), with the configuration's {config.kund}; warm, none.
func TestDeclaredSOAPSystem(t *testing.T) {
	w := testWorld()
	wsdl, err := os.ReadFile("testdata/avfall.wsdl")
	if err != nil {
		t.Fatal(err)
	}
	svc := &soapAvfall{w: w}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	d := startDeclared(t, w, withDeclaration(t, "testdata/avfall-soap.yaml", declare.File{Name: "schema/avfall.wsdl", Data: wsdl}),
		config.DeclaredSource{HTTPSource: config.HTTPSource{URL: srv.URL}, Values: map[string]string{"kund": "KOMMUNGRAF"}})

	properties := checkPickups(t, d, w, "soap-cold")
	svc.mu.Lock()
	calls := svc.calls
	svc.calls = 0
	svc.mu.Unlock()
	if calls != properties {
		t.Errorf("cold: %d SOAP calls, want one per distinct property (%d)", calls, properties)
	}
	checkPickups(t, d, w, "soap-warm")
	svc.mu.Lock()
	calls = svc.calls
	svc.calls = 0
	svc.mu.Unlock()
	if calls != 0 {
		t.Errorf("warm: %d SOAP calls, want none", calls)
	}
	if n := metric(t, d, `kommungraf_upstream_calls_total{operation="HamtaTomningar",outcome="ok",source="avfall"}`); n != fmt.Sprint(properties) {
		t.Errorf("metrics count %s HamtaTomningar calls, want %d", n, properties)
	}
	// The argument goes in the request as Fraktion: one call per property
	// asked for MAT, each a record-cache entry of its own.
	checkPickupsOf(t, d, w, "soap-mat", "MAT")
	svc.mu.Lock()
	calls = svc.calls
	svc.mu.Unlock()
	if calls != properties {
		t.Errorf("fraction MAT: %d SOAP calls, want one per distinct property (%d)", calls, properties)
	}
}

// TestStartRefusesBadConnectorParts: a declared SOAP or SQL system whose
// part does not fit its WSDL, its database or the configuration stops the
// start with every problem located in the declaration, and leaves nothing
// running (failStart).
func TestStartRefusesBadConnectorParts(t *testing.T) {
	wsdl, err := os.ReadFile("testdata/avfall.wsdl")
	if err != nil {
		t.Fatal(err)
	}
	sqlDecl, err := os.ReadFile("testdata/avfall-sql.yaml")
	if err != nil {
		t.Fatal(err)
	}
	soapDecl, err := os.ReadFile("testdata/avfall-soap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	replace := func(data []byte, pairs ...string) []declare.File {
		return append(withFile(declared.Files(), "schema/avfall.yaml", []byte(strings.NewReplacer(pairs...).Replace(string(data)))),
			declare.File{Name: "schema/avfall.wsdl", Data: wsdl})
	}
	for _, tc := range []startCase{{
		name:         "soap: an element the WSDL does not have, and an unknown key",
		declarations: replace(soapDecl, "fraction: Fraktion", "fraction: Fraction", "idempotent: true", "idempotent: true\n      retries: 3"),
		mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Sources.Declared["avfall"] = config.DeclaredSource{HTTPSource: config.HTTPSource{URL: "http://127.0.0.1:9"}, Values: map[string]string{"kund": "K"}}
		},
		want: []string{
			"source declarations: 2 problem(s)",
			`schema/avfall.yaml:21: resource avfall.pickups: soap: unknown key "retries"`,
			"schema/avfall.yaml:25: resource avfall.pickups: fields.fraction: Tomning has no element Fraction (it has Fastighet, Fraktion,",
		},
	}, {
		name:         "soap: a {config.kund} the configuration does not set",
		declarations: replace(soapDecl),
		mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Sources.Declared["avfall"] = config.DeclaredSource{HTTPSource: config.HTTPSource{URL: "http://127.0.0.1:9"}}
		},
		want: []string{"schema/avfall.yaml:17: resource avfall.pickups: soap.request.Kund: {config.kund}: the configuration sets no kund for this system"},
	}, {
		name:         "sql: a table and a column the database does not have",
		declarations: replace(sqlDecl, "FROM pickups", "FROM pickup", "fraction: fraction", "fraction: fractions"),
		mod: func(t *testing.T, c *config.Config, dir string) {
			dsn := filepath.Join(dir, "avfall.db")
			seedPickups(t, sim.NewWorld(sim.WorldOptions{Seed: 3, People: 50}), dsn)
			c.Sources.Declared["avfall"] = config.DeclaredSource{Database: config.Database{Driver: "sqlite", DSN: dsn}}
		},
		want: []string{"schema/avfall.yaml:15: resource avfall.pickups: sql.query: ", "pickup"},
	}, {
		name:         "sql: a query that writes",
		declarations: replace(sqlDecl, "SELECT property_id", "DELETE FROM pickups; SELECT property_id"),
		want:         []string{"source declarations: ", "schema/avfall.yaml:15: resource avfall.pickups: sql.query: ", "may only read"},
	}, {
		name:         "sql: an HTTP setting for an sql system",
		declarations: replace(sqlDecl),
		mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Sources.Declared["avfall"] = config.DeclaredSource{HTTPSource: config.HTTPSource{URL: "http://127.0.0.1:9"}}
		},
		want: []string{"config: sources.avfall: avfall is an sql system: it has no url or HTTP settings"},
	}} {
		t.Run(tc.name, func(t *testing.T) { failStart(t, tc) })
	}
}

// TestDeclaredSQLSystemOnTheSchoolDatabase: an sql system without a dsn of
// its own reads the school database, on its pool, its queries counted under
// the declaration's names. (The query is contrived: the school units stand
// in for pickups at their properties.)
func TestDeclaredSQLSystemOnTheSchoolDatabase(t *testing.T) {
	w := testWorld()
	files := withDeclaration(t, "testdata/avfall-sql.yaml")
	files[len(files)-1].Data = []byte(strings.Replace(string(files[len(files)-1].Data),
		"SELECT property_id, fraction, weekday, next_date, container_litres, invoice_party_id\n        FROM pickups WHERE property_id IN ({keys})\n"+
			"        AND ({args.fraction} IS NULL OR fraction = {args.fraction})\n        ORDER BY property_id, fraction",
		"SELECT fastighet_objektidentitet AS property_id, skolform AS fraction, namn AS weekday,\n"+
			"          NULL AS next_date, 0 AS container_litres, NULL AS invoice_party_id\n"+
			"        FROM skolenhet WHERE fastighet_objektidentitet IN ({keys})\n"+
			"        AND ({args.fraction} IS NULL OR skolform = {args.fraction})\n        ORDER BY skolenhetskod", 1))
	d := startDeclared(t, w, files, config.DeclaredSource{})
	var unit = w.SchoolUnits[0]
	var designation string
	for _, p := range w.Properties {
		if p.ObjectID == unit.PropertyObjectID {
			designation = p.Designation
		}
	}
	if designation == "" {
		t.Fatalf("school unit %s has no property in the world", unit.Code)
	}
	raw := postAs(t, d, "case-officer", "school-db", fmt.Sprintf(`{ property(designation: %q) { wastePickups { propertyId fraction weekday nextDate containerLitres } } }`, designation))
	want := fmt.Sprintf(`{"propertyId":%q,"fraction":%q,"weekday":%q,"nextDate":null,"containerLitres":0}`, unit.PropertyObjectID, unit.SchoolForm, unit.Name)
	if !strings.Contains(string(raw), want) || strings.Contains(string(raw), `"errors"`) {
		t.Fatalf("answer %s\nwant it to hold %s", raw, want)
	}
	if c := d.gw.Sim().Stats.Request("school-db")["avfall"]["pickups"]; c.Calls != 1 || c.Keys != 1 {
		t.Errorf("avfall pickups %+v, want one query, counted under avfall", c)
	}
}
