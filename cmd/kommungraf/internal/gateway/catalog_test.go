package gateway_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"gopkg.in/yaml.v3"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/catalog"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/opendata"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/resolvers"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// catalogStep is one request of the known sequence: who sends what.
type catalogStep struct {
	persona, client, query string
	// denied says the answer must hold FORBIDDEN errors; any answer may
	// (a protected child's fields in Q2), and no other error.
	denied bool
}

var catalogSequence = []catalogStep{
	{"case-officer", "bygglov-app", q1, false},
	{"case-officer", "bygglov-app", `{ property(designation: "x") { designation } errands(first: 3, caseType: "BYGGLOV") { totalCount edges { node { errandNumber decisions { outcome } } } } }`, false},
	{"case-officer", "bygglov-app", q1, false},
	{"preschool-admin", "preschool-app", q2Small, false},
	{"", "anonymous", `{ schoolUnits(first: 2) { totalCount edges { node { name property { designation wastePickups { fraction } } } } } }`, false},
	// The analyst (clearance 1) is refused the placements' groups (level
	// 2): what was refused is not a read.
	{"analyst", "graphiql", `{ schoolUnits(first: 2) { edges { node { code placements(first: 2) { edges { node { group } } } } } } }`, true},
	// Refused at the root: nothing served, no read at all.
	{"analyst", "graphiql", `{ person(personalNumber: "191212121212") { givenName } }`, true},
}

// TestIntegrationCatalog runs a known sequence of requests as different
// client applications against the demo (production configuration,
// authorization on), computes what the catalog must show from the schema,
// the contracts, the open APIs' declarations, the answers and the metrics
// on its own, and compares it with GET /admin/api/integrations; then
// restarts the gateway on the same store and finds the reads again. Once
// with the usage counts in SQLite beside the access log's file, once in
// the access log's PostgreSQL database.
func TestIntegrationCatalog(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			var dsn string
			if store == "postgres" {
				dsn = testenv.PostgresURL(t)
			}
			mod := func(c *config.Config) {
				c.Authz.AccessLog.File = filepath.Join(dir, "access.jsonl")
				c.Authz.AccessLog.DatabaseURL = dsn
			}
			d, stop := startStoppable(t, mod)
			want := newCatalogExpectation(t)
			for _, s := range catalogSequence {
				dd := d
				if s.persona != "" {
					dd = d.as(t, s.persona)
				}
				r := dd.query(t, s.query)
				want.observe(t, s, r)
			}
			before := scrapeCalls(t, d)
			got := getCatalog(t, d)
			after := scrapeCalls(t, d)
			want.check(t, got, before, after)

			// Anyone but the security staff is refused, as the report.
			for _, persona := range []string{"", "case-officer", "analyst", "open-data"} {
				if code, _ := d.policyCall(t, persona, "GET", "/admin/api/integrations", ""); code != http.StatusForbidden && code != http.StatusUnauthorized {
					t.Errorf("%s read the catalog: HTTP %d", nameOr(persona, "anonymous"), code)
				}
			}
			if code, _ := d.policyCall(t, "security-officer", "GET", "/admin/api/integrations?format=xml", ""); code != http.StatusBadRequest {
				t.Errorf("a bad format: HTTP %d", code)
			}
			rows := catalogCSV(t, d)
			if !slices.ContainsFunc(rows, func(r []string) bool {
				return r[0] == "client" && r[1] == "bygglov-app" && r[7] == strconv.Itoa(want.requests["bygglov-app"])
			}) {
				t.Errorf("the CSV has no bygglov-app row with %d reads: %v", want.requests["bygglov-app"], rows)
			}

			// A restart on the same store: the reads are still there.
			if err := stop(); err != nil {
				// The simulators' shutdown may wait past its deadline for
				// idle keep-alive connections; the usage store closed.
				t.Logf("close: %v", err)
			}
			d2 := startDemo(t, mod, 0, false)
			again := getCatalog(t, d2)
			for i, s := range got.Systems {
				if !slices.Equal(s.Reads, again.Systems[i].Reads) {
					t.Errorf("after a restart %s's reads are %v, were %v", s.Name, again.Systems[i].Reads, s.Reads)
				}
				if again.Systems[i].Availability.Calls < s.Availability.Calls {
					t.Errorf("after a restart %s's calls are %d, were %d", s.Name, again.Systems[i].Availability.Calls, s.Availability.Calls)
				}
			}
			for i, c := range got.Clients {
				if c.Reads != again.Clients[i].Reads || !slices.Equal(c.FieldsRead, again.Clients[i].FieldsRead) {
					t.Errorf("after a restart %s read %d (%d fields), was %d (%d fields)", c.Client, again.Clients[i].Reads, len(again.Clients[i].FieldsRead), c.Reads, len(c.FieldsRead))
				}
			}
		})
	}
}

// catalogExpectation is what the test computes on its own.
type catalogExpectation struct {
	schema    *ast.Schema
	fields    []*authz.Field
	contracts []*authz.Contract
	// system of an owner: the declarations' and the built-in ones'.
	systemOf map[string]string
	// system of a type whose owner has more than one system: the
	// emptyings register (schema/tomningar.graphqls) beside the pickups.
	systemOfType map[string]string
	requests     map[string]int
	fieldsRead   map[string]map[string]bool // client -> fields read
	reads        map[string]map[string]int  // system -> client -> operations
}

func newCatalogExpectation(t *testing.T) *catalogExpectation {
	t.Helper()
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	cat, err := authz.Classify(schema)
	if err != nil {
		t.Fatal(err)
	}
	contracts, err := authz.ParseContracts([]byte(authz.DefaultContracts()), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The systems by their owners, as the schema's @owner names them: the
	// four built-in systems' main types and the waste-collection system's.
	owner := func(typ string) string {
		d := schema.Types[typ].Directives.ForName("owner")
		return d.Arguments.ForName("name").Value.Raw
	}
	systemOf := map[string]string{owner("Person"): "folkbokforing", owner("Errand"): "etjanst", owner("Property"): "geodata",
		owner("SchoolUnit"): "skoldatabas", owner("WastePickup"): "avfall"}
	systemOfType := map[string]string{"WasteCollection": "tomningar", "WasteCollectionConnection": "tomningar", "WasteCollectionEdge": "tomningar",
		"WasteCollectionVehicle": "tomningar", "WasteCollectionFee": "tomningar"} // the emptyings' nested parts
	return &catalogExpectation{schema: schema, fields: cat.Fields(), contracts: contracts.List(), systemOf: systemOf, systemOfType: systemOfType,
		requests: map[string]int{}, fieldsRead: map[string]map[string]bool{}, reads: map[string]map[string]int{}}
}

// systemOfField: a field whose value is an object comes from the system
// that owns that object's type (Property.owners from the property
// register, Placement.child from the population registry); any other
// field from its own type's system; Kommungraf's own types (PageInfo)
// from none.
func (e *catalogExpectation) systemOfField(typ, field string) string {
	def := e.schema.Types[typ].Fields.ForName(field)
	if ret := e.schema.Types[def.Type.Name()]; ret.Kind == ast.Object {
		if s := e.systemOfTypeDef(ret); s != "" {
			return s
		}
	}
	return e.systemOfTypeDef(e.schema.Types[typ])
}

func (e *catalogExpectation) systemOfTypeDef(def *ast.Definition) string {
	if s, ok := e.systemOfType[def.Name]; ok {
		return s
	}
	return e.systemOf[ownerName(def)]
}

func ownerName(def *ast.Definition) string {
	if d := def.Directives.ForName("owner"); d != nil {
		return d.Arguments.ForName("name").Value.Raw
	}
	return ""
}

// observe walks a request's answer with its query: every field in the
// data without an error at its path was served.
func (e *catalogExpectation) observe(t *testing.T, s catalogStep, r response) {
	t.Helper()
	errs := map[string]bool{}
	for _, x := range r.Errors {
		if x.Extensions["code"] != authz.CodeForbidden {
			t.Fatalf("%s: an error other than FORBIDDEN: %+v", s.client, x)
		}
		errs[fmt.Sprint(x.Path...)] = true
	}
	if s.denied && len(r.Errors) == 0 {
		t.Fatalf("%s: want FORBIDDEN errors, got none", s.client)
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: s.query})
	if err != nil {
		t.Fatal(err)
	}
	if errs := validator.Validate(e.schema, doc); len(errs) > 0 {
		t.Fatal(errs)
	}
	var data any
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	var walk func(set ast.SelectionSet, v any, path []any)
	walk = func(set ast.SelectionSet, v any, path []any) {
		switch v := v.(type) {
		case []any:
			for i, x := range v {
				walk(set, x, append(slices.Clone(path), i))
			}
		case map[string]any:
			for _, sel := range set {
				f := sel.(*ast.Field)
				val, ok := v[f.Alias]
				p := append(slices.Clone(path), f.Alias)
				if !ok || errs[fmt.Sprint(p...)] {
					continue
				}
				served[f.ObjectDefinition.Name+"."+f.Name] = true
				walk(f.SelectionSet, val, p)
			}
		}
	}
	walk(doc.Operations[0].SelectionSet, data, nil)
	if len(served) == 0 {
		return // nothing served: not a read
	}
	e.requests[s.client]++
	if e.fieldsRead[s.client] == nil {
		e.fieldsRead[s.client] = map[string]bool{}
	}
	systems := map[string]bool{}
	for f := range served {
		e.fieldsRead[s.client][f] = true
		typ, name, _ := strings.Cut(f, ".")
		if sys := e.systemOfField(typ, name); sys != "" {
			systems[sys] = true
		}
	}
	for sys := range systems {
		if e.reads[sys] == nil {
			e.reads[sys] = map[string]int{}
		}
		e.reads[sys][s.client]++
	}
}

func (e *catalogExpectation) check(t *testing.T, got catalog.Catalog, before, after map[string][2]int64) {
	t.Helper()
	// The open APIs on each system, from their declarations' sources.
	apis := map[string][]string{}
	err := fs.WalkDir(opendata.Builtin(), ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		raw, err := fs.ReadFile(opendata.Builtin(), p)
		if err != nil {
			return err
		}
		var decl struct {
			API     string   `yaml:"api"`
			Sources []string `yaml:"sources"`
		}
		if err := yaml.Unmarshal(raw, &decl); err != nil {
			return err
		}
		for _, s := range decl.Sources {
			apis[s] = append(apis[s], decl.API)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var names []string
	for _, s := range got.Systems {
		names = append(names, s.Name)
		// Fields, levels and contracts.
		lo, hi, n := 9, -1, 0
		var contracts []string
		for _, f := range e.fields {
			if e.systemOfField(f.Type, f.Name) != s.Name {
				continue
			}
			n++
			lo, hi = min(lo, int(f.Level)), max(hi, int(f.Level))
			for _, k := range e.contracts {
				if k.Covers(f.Key) && !slices.Contains(contracts, k.Client) {
					contracts = append(contracts, k.Client)
				}
			}
		}
		slices.Sort(contracts)
		if s.Fields != n || s.Levels.Min != lo || s.Levels.Max != hi {
			t.Errorf("%s: %d fields at levels %d–%d, want %d at %d–%d", s.Name, s.Fields, s.Levels.Min, s.Levels.Max, n, lo, hi)
		}
		if !slices.Equal(s.Contracts, contracts) {
			t.Errorf("%s: contracts %v, want %v", s.Name, s.Contracts, contracts)
		}
		if s.Owner == "" || e.systemOf[s.Owner] != s.Name && !slices.ContainsFunc(slices.Collect(maps.Keys(e.systemOfType)), func(typ string) bool {
			return e.systemOfType[typ] == s.Name && ownerName(e.schema.Types[typ]) == s.Owner
		}) {
			t.Errorf("%s: owner %q", s.Name, s.Owner)
		}
		// Reads per client.
		var reads []catalog.ClientReads
		for _, cl := range slices.Sorted(maps.Keys(e.reads[s.Name])) {
			reads = append(reads, catalog.ClientReads{Client: cl, Reads: int64(e.reads[s.Name][cl])})
		}
		if fmt.Sprint(s.Reads) != fmt.Sprint(reads) && !(len(s.Reads) == 0 && len(reads) == 0) {
			t.Errorf("%s: reads %v, want %v", s.Name, s.Reads, reads)
		}
		// Open APIs.
		if want := slices.Sorted(slices.Values(apis[s.Name])); !slices.Equal(s.OpenAPIs, want) && !(len(want) == 0 && len(s.OpenAPIs) == 0) {
			t.Errorf("%s: open APIs %v, want %v (their declarations' sources)", s.Name, s.OpenAPIs, want)
		}
		// Measured availability: the metrics' calls, scraped just before
		// and after the catalog was read (readiness checks run between).
		a := s.Availability
		if a.Calls < before[s.Name][0] || a.Calls > after[s.Name][0] || a.OK < before[s.Name][1] || a.OK > after[s.Name][1] {
			t.Errorf("%s: %d calls, %d ok; the metrics had %v before and %v after", s.Name, a.Calls, a.OK, before[s.Name], after[s.Name])
		}
		if a.Promised == "" {
			t.Errorf("%s: no promised availability", s.Name)
		}
	}
	if !slices.Equal(names, []string{"avfall", "etjanst", "folkbokforing", "geodata", "skoldatabas", "tomningar"}) {
		t.Errorf("systems %v", names)
	}
	for _, s := range got.Systems {
		if s.Name == "avfall" && (s.Kind != "REST" || s.Availability.Promised != "99.5 %") {
			t.Errorf("avfall: %s, promised %q; its declaration says http, 99.5 %%", s.Kind, s.Availability.Promised)
		}
		if s.Name == "folkbokforing" && s.Kind != "SOAP" || s.Name == "skoldatabas" && s.Kind != "SQL" {
			t.Errorf("%s: kind %s", s.Name, s.Kind)
		}
	}

	// The clients: every contract, the reads and the fields read.
	clients := map[string]catalog.ClientEntry{}
	for _, c := range got.Clients {
		clients[c.Client] = c
	}
	for _, k := range e.contracts {
		c, ok := clients[k.Client]
		if !ok || !c.Contract || c.Owner != k.Owner || *c.Ceiling != int(k.Ceiling) || !slices.Equal(c.Purposes, k.Purposes) {
			t.Errorf("client %s: %+v, want its contract (owner %s, ceiling %d, purposes %v)", k.Client, c, k.Owner, k.Ceiling, k.Purposes)
		}
	}
	for cl, c := range clients {
		want := slices.Sorted(maps.Keys(e.fieldsRead[cl]))
		if c.Reads != int64(e.requests[cl]) || !slices.Equal(c.FieldsRead, want) && !(len(want) == 0 && len(c.FieldsRead) == 0) {
			t.Errorf("client %s: %d reads of %v,\nwant %d of %v", cl, c.Reads, c.FieldsRead, e.requests[cl], want)
		}
	}
	if e.requests["graphiql"] != 1 || clients["graphiql"].Reads != 1 {
		t.Errorf("the analyst's refused look-up counted: %d", clients["graphiql"].Reads)
	}
	if got.Totals.ClientsWithContract != len(e.contracts) || got.Totals.OpenAPIs != 10 {
		t.Errorf("totals %+v", got.Totals)
	}
}

func getCatalog(t *testing.T, d *demo) catalog.Catalog {
	t.Helper()
	code, raw := d.policyCall(t, "security-officer", "GET", "/admin/api/integrations", "")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %v", code, raw)
	}
	var got catalog.Catalog
	if err := json.Unmarshal([]byte(jsonBody(t, raw)), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func catalogCSV(t *testing.T, d *demo) [][]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.srv.URL+"/admin/api/integrations?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+d.token(t, "security-officer"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %s", resp.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// scrapeCalls reads kommungraf_upstream_calls_total from /metrics: per
// source, all calls and those with outcome ok.
func scrapeCalls(t *testing.T, d *demo) map[string][2]int64 {
	t.Helper()
	resp, err := http.Get(d.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string][2]int64{}
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		line := sc.Text()
		if !strings.HasPrefix(line, "kommungraf_upstream_calls_total{") {
			continue
		}
		labels, value, _ := strings.Cut(strings.TrimPrefix(line, "kommungraf_upstream_calls_total{"), "} ")
		var source, outcome string
		for _, l := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(l, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "source":
				source = v
			case "outcome":
				outcome = v
			}
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		c := out[source]
		c[0] += int64(n)
		if outcome == "ok" {
			c[1] += int64(n)
		}
		out[source] = c
	}
	return out
}

// startStoppable starts a demo gateway as startDemo does, with a stop for
// the test to restart it (and the clean-up only if the test did not).
func startStoppable(t *testing.T, mod func(*config.Config)) (*demo, func() error) {
	t.Helper()
	cfg := config.Demo()
	cfg.Sources.Skoldatabas.QueryTimeout = 15 * time.Second // as startDemo: SQLite under -race
	mod(cfg)
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{Demo: true, World: testWorld(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	stopped := false
	stop := func() error {
		stopped = true
		srv.Close()
		return gw.Close()
	}
	t.Cleanup(func() {
		if !stopped {
			_ = stop()
		}
	})
	return &demo{gw: gw, srv: srv}, stop
}
