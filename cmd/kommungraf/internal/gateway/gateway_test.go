package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

const q1 = `{ errands(first: 50, caseType: "BYGGLOV") { edges { node {
    errandNumber status
    property { designation areaM2 owners { name } }
    stakeholders { role person { givenName surname address { city } } } } } } }`

const q2 = `{ schoolUnits(first: 20) { edges { node {
    name property { designation }
    placements(first: 30) { edges { node {
      group specialDiet
      child { givenName guardians { givenName address { city } } } } } } } } } }`

var (
	worldOnce sync.Once
	world     *sim.World
)

// testWorld is shared by the tests: generating it is deterministic, and no
// test changes it.
func testWorld() *sim.World {
	worldOnce.Do(func() { world = sim.NewWorld(sim.WorldOptions{Seed: 11, People: 3000}) })
	return world
}

type demo struct {
	gw  *gateway.Gateway
	srv *httptest.Server
	// auth is the Authorization header of d.query, if any.
	auth string
}

// newDemo starts a demo gateway for tests of the data path (mapping,
// batching, caching, faults): authorization is skipped there, and tested
// with every persona in authz_test.go.
func newDemo(t testing.TB, mod func(*config.Config)) *demo {
	t.Helper()
	return newDemoWith(t, mod, 0)
}

// newDemoWith also adds latency to every simulated upstream call.
func newDemoWith(t testing.TB, mod func(*config.Config), latency time.Duration) *demo {
	t.Helper()
	return startDemo(t, mod, latency, true)
}

func startDemo(t testing.TB, mod func(*config.Config), latency time.Duration, skipAuthz bool) *demo {
	t.Helper()
	return startDemoIn(t, testWorld(), mod, latency, skipAuthz)
}

// startDemoIn starts a demo gateway whose simulators serve w.
func startDemoIn(t testing.TB, w *sim.World, mod func(*config.Config), latency time.Duration, skipAuthz bool) *demo {
	t.Helper()
	// The production batching configuration: batches start when a level is
	// complete, so no wider wait is needed under -race on a shared machine.
	cfg := config.Demo()
	// The race detector makes the embedded SQLite (pure Go) several times
	// slower, and CI runs the packages side by side on two cores: Q2's diet
	// queries, which wait for one another on the database, then passed the
	// 2 s production deadline now and then (UPSTREAM_TIMEOUT at a
	// specialDiet). The deadline is not what these tests prove; the fault
	// tests set their own.
	cfg.Sources.Skoldatabas.QueryTimeout = 15 * time.Second
	if mod != nil {
		mod(cfg)
	}
	d := serve(t, cfg, gateway.Options{
		Demo: true, World: w, DemoLatency: latency, InsecureSkipAuthorization: skipAuthz,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	d.gw.Sim().Stats.Reset()
	return d
}

// serve starts a gateway in process and serves it over HTTP until the test
// ends.
func serve(t testing.TB, cfg *config.Config, opts gateway.Options) *demo {
	t.Helper()
	gw, err := gateway.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		srv.Close()
		gw.Close()
	})
	return &demo{gw: gw, srv: srv}
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type response struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	raw    string
}

func (d *demo) query(t testing.TB, q string) response {
	t.Helper()
	return d.operation(t, "", q)
}

// operation sends a request the way GraphiQL and other clients do: POST,
// JSON, with the operation's name (when not empty) and variables.
func (d *demo) operation(t testing.TB, name, query string) response {
	t.Helper()
	req := map[string]any{"query": query}
	if name != "" {
		req["operationName"], req["variables"] = name, map[string]any{}
	}
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	if d.auth != "" {
		hr.Header.Set("Authorization", d.auth)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, raw)
	}
	r.raw = string(raw)
	return r
}

// token is a demo persona's credential.
func (d *demo) token(t testing.TB, persona string) string {
	t.Helper()
	tok, err := d.gw.DevIssuer().Token(persona)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// as returns a view of d whose queries carry persona's credential.
func (d *demo) as(t testing.TB, persona string) *demo {
	t.Helper()
	return &demo{gw: d.gw, srv: d.srv, auth: "Bearer " + d.token(t, persona)}
}

// post sends a JSON body as persona ("" for none).
func (d *demo) post(t testing.TB, persona, path, body string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if persona != "" {
		req.Header.Set("Authorization", "Bearer "+d.token(t, persona))
	}
	return http.DefaultClient.Do(req)
}

func (d *demo) calls(system, op string) int64 { return d.gw.Sim().Stats.Calls(system, op) }

func mustNoErrors(t testing.TB, r response) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %s", r.raw)
	}
}

type q1Data struct {
	Errands struct {
		Edges []struct {
			Node struct {
				ErrandNumber string
				Status       string
				Property     *struct {
					Designation string
					AreaM2      float64
					Owners      []struct{ Name string }
				}
				Stakeholders []struct {
					Role   string
					Person *struct {
						GivenName, Surname string
						Address            *struct{ City string }
					}
				}
			}
		}
	}
}

func TestQ1MatchesTheSystemsAndIsBatched(t *testing.T) {
	d := newDemo(t, nil)
	w := testWorld()
	r := d.query(t, q1)
	mustNoErrors(t, r)
	var got q1Data
	if err := json.Unmarshal(r.Data, &got); err != nil {
		t.Fatal(err)
	}

	var want []*model.Errand
	for _, e := range w.Errands {
		if e.CaseType == "BYGGLOV" && len(want) < 50 {
			want = append(want, e)
		}
	}
	if len(got.Errands.Edges) != len(want) || len(want) != 50 {
		t.Fatalf("got %d errands, world has %d", len(got.Errands.Edges), len(want))
	}
	people := map[string]bool{}
	properties := map[string]bool{}
	for i, edge := range got.Errands.Edges {
		n, e := edge.Node, want[i]
		if n.ErrandNumber != e.ErrandNumber || n.Status != string(e.Status) {
			t.Fatalf("errand %d = %s/%s, want %s/%s", i, n.ErrandNumber, n.Status, e.ErrandNumber, e.Status)
		}
		prop := w.PropByID[e.PropertyObjectID]
		properties[prop.ObjectID] = true
		if n.Property == nil || n.Property.Designation != prop.Designation || n.Property.AreaM2 != prop.AreaM2 {
			t.Fatalf("errand %s property = %+v, want %s", e.ErrandNumber, n.Property, prop.Designation)
		}
		owners := w.Owners[prop.ObjectID]
		if len(n.Property.Owners) != len(owners) {
			t.Fatalf("errand %s: %d owners, want %d", e.ErrandNumber, len(n.Property.Owners), len(owners))
		}
		for j, o := range owners {
			if n.Property.Owners[j].Name != o.Name {
				t.Fatalf("owner %q, want %q", n.Property.Owners[j].Name, o.Name)
			}
		}
		if len(n.Stakeholders) != len(e.Stakeholders) {
			t.Fatalf("errand %s: %d stakeholders, want %d", e.ErrandNumber, len(n.Stakeholders), len(e.Stakeholders))
		}
		for j, s := range e.Stakeholders {
			p := w.ByPNR[w.PersonOfParty[s.PartyID]]
			people[p.PersonalNumber] = true
			g := n.Stakeholders[j]
			if g.Role != string(s.Role) || g.Person == nil || g.Person.GivenName != p.GivenName ||
				g.Person.Surname != p.Surname || g.Person.Address == nil || g.Person.Address.City != p.Address.City {
				t.Fatalf("errand %s stakeholder %d = %+v, want %s %s in %s", e.ErrandNumber, j, g, p.GivenName, p.Surname, p.Address.City)
			}
		}
	}

	for _, c := range []struct {
		system, op string
		want       int64
	}{
		{"etjanst", "listErrands", 1},
		{"etjanst", "lookupParties", 1},
		{"geodata", "items", 1},
		{"folkbokforing", "PersonpostXML", int64(len(people))},
		{"geodata", "lagfart", int64(len(properties))}, // no batch form: one per distinct property
	} {
		if got := d.calls(c.system, c.op); got != c.want {
			t.Errorf("%s %s: %d calls, want %d", c.system, c.op, got, c.want)
		}
	}
}

// TestBatchedCallsDoNotGrowWithTheList runs each query shape at two list sizes:
// where an upstream has a batch form, the call count stays the same.
func TestBatchedCallsDoNotGrowWithTheList(t *testing.T) {
	type count struct{ system, op string }
	tests := []struct {
		name   string
		small  string
		large  string
		counts []count
	}{
		{"Q1", strings.Replace(q1, "first: 50", "first: 5", 1), q1,
			[]count{{"etjanst", "listErrands"}, {"etjanst", "lookupParties"}, {"geodata", "items"}}},
		{"Q2", strings.Replace(q2, "schoolUnits(first: 20)", "schoolUnits(first: 2)", 1), q2,
			[]count{{"skoldatabas", "schoolUnits"}, {"skoldatabas", "placementsByUnit"}, {"geodata", "items"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemo(t, nil)
			mustNoErrors(t, d.query(t, tc.small))
			small := d.gw.Sim().Stats.Snapshot()
			d.gw.Sim().Stats.Reset()
			mustNoErrors(t, d.query(t, tc.large))
			large := d.gw.Sim().Stats.Snapshot()
			for _, c := range tc.counts {
				s, l := small[c.system][c.op].Calls, large[c.system][c.op].Calls
				if s != 1 || l != 1 {
					t.Errorf("%s %s: %d calls for the small list, %d for the large; want 1 and 1", c.system, c.op, s, l)
				}
			}
		})
	}
}

type q2Data struct {
	SchoolUnits struct {
		Edges []struct {
			Node struct {
				Name       string
				Property   *struct{ Designation string }
				Placements struct {
					Edges []struct {
						Node struct {
							Group       string
							SpecialDiet []string
							Child       *struct {
								GivenName string
								Guardians []struct {
									GivenName string
									Address   *struct{ City string }
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestQ2MatchesTheSystemsAndIsBatched(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testQ2(t, newDemo(t, nil)) })
	t.Run("Postgres", func(t *testing.T) {
		dsn := testenv.PostgresURL(t)
		testQ2(t, newDemo(t, func(c *config.Config) {
			c.Sources.Skoldatabas.Driver, c.Sources.Skoldatabas.DSN = "postgres", dsn
		}))
	})
}

func testQ2(t *testing.T, d *demo) {
	t.Helper()
	w := testWorld()
	r := d.query(t, q2)
	mustNoErrors(t, r)
	var got q2Data
	if err := json.Unmarshal(r.Data, &got); err != nil {
		t.Fatal(err)
	}
	units, byUnit := q2Placements()
	if len(got.SchoolUnits.Edges) != len(units) {
		t.Fatalf("got %d units, want %d", len(got.SchoolUnits.Edges), len(units))
	}
	people := map[string]bool{}
	for i, u := range units {
		n := got.SchoolUnits.Edges[i].Node
		if n.Name != u.Name || n.Property == nil || n.Property.Designation != w.PropByID[u.PropertyObjectID].Designation {
			t.Fatalf("unit %d = %s %+v, want %s", i, n.Name, n.Property, u.Name)
		}
		pls := byUnit[u.Code]
		if len(n.Placements.Edges) != len(pls) {
			t.Fatalf("unit %s: %d placements, want %d", u.Code, len(n.Placements.Edges), len(pls))
		}
		for j, p := range pls {
			g := n.Placements.Edges[j].Node
			child := w.ByPNR[p.PersonalNumber]
			people[child.PersonalNumber] = true
			if g.Group != p.Group || g.Child == nil || g.Child.GivenName != child.GivenName {
				t.Fatalf("unit %s placement %d = %+v, want %s in %s", u.Code, j, g, child.GivenName, p.Group)
			}
			if strings.Join(g.SpecialDiet, ",") != strings.Join(w.Diets[child.PersonalNumber], ",") {
				t.Fatalf("diet of %s = %v, want %v", child.GivenName, g.SpecialDiet, w.Diets[child.PersonalNumber])
			}
			guardians := child.RelatedNumbers(model.RelationGuardian)
			if len(g.Child.Guardians) != len(guardians) {
				t.Fatalf("%s has %d guardians, want %d", child.GivenName, len(g.Child.Guardians), len(guardians))
			}
			for k, pnr := range guardians {
				gp := w.ByPNR[pnr]
				people[pnr] = true
				if g.Child.Guardians[k].GivenName != gp.GivenName || g.Child.Guardians[k].Address.City != gp.Address.City {
					t.Fatalf("guardian %+v, want %s in %s", g.Child.Guardians[k], gp.GivenName, gp.Address.City)
				}
			}
		}
	}
	for _, c := range []struct {
		system, op string
		want       int64
	}{
		{"skoldatabas", "schoolUnits", 1},
		{"skoldatabas", "placementsByUnit", 1},
		{"geodata", "items", 1},
		{"folkbokforing", "PersonpostXML", int64(len(people))},
	} {
		if got := d.calls(c.system, c.op); got != c.want {
			t.Errorf("%s %s: %d calls, want %d", c.system, c.op, got, c.want)
		}
	}
}

func TestPersonByPersonalNumber(t *testing.T) {
	d := newDemo(t, nil)
	w := testWorld()
	var parent *model.Person
	for _, p := range w.People {
		if len(p.RelatedNumbers(model.RelationChild)) > 0 && !p.ProtectedIdentity {
			parent = p
			break
		}
	}
	r := d.query(t, `{ person(personalNumber: "`+parent.PersonalNumber[:8]+"-"+parent.PersonalNumber[8:]+`") {
		personalNumber givenName surname address { street postalCode city } children { personalNumber } } }`)
	mustNoErrors(t, r)
	var got struct {
		Person struct {
			PersonalNumber, GivenName, Surname string
			Address                            struct{ Street, PostalCode, City string }
			Children                           []struct{ PersonalNumber string }
		}
	}
	if err := json.Unmarshal(r.Data, &got); err != nil {
		t.Fatal(err)
	}
	p := got.Person
	if p.PersonalNumber != parent.PersonalNumber || p.GivenName != parent.GivenName || p.Surname != parent.Surname ||
		p.Address.Street != parent.Address.Street || p.Address.PostalCode != parent.Address.PostalCode || p.Address.City != parent.Address.City {
		t.Fatalf("person = %+v, want %+v", p, parent)
	}
	kids := parent.RelatedNumbers(model.RelationChild)
	if len(p.Children) != len(kids) {
		t.Fatalf("children %v, want %v", p.Children, kids)
	}
	for i, k := range kids {
		if p.Children[i].PersonalNumber != k {
			t.Fatalf("child %d = %s, want %s", i, p.Children[i].PersonalNumber, k)
		}
	}
	// A valid number the registry does not know is null without error.
	unknown := "19000101000" + string('0'+model.LuhnDigit("000101000"))
	r = d.query(t, `{ person(personalNumber: "`+unknown+`") { givenName } }`)
	if len(r.Errors) != 0 || string(r.Data) != `{"person":null}` {
		t.Fatalf("unknown person: %s", r.raw)
	}
}

func TestPagingWithCursors(t *testing.T) {
	d := newDemo(t, nil)
	w := testWorld()
	var all []string
	after := ""
	for page := 0; page < 3; page++ {
		arg := ""
		if after != "" {
			arg = `, after: "` + after + `"`
		}
		r := d.query(t, `{ errands(first: 7, status: DECIDED`+arg+`) { totalCount pageInfo { hasNextPage endCursor } edges { node { errandNumber } } } }`)
		mustNoErrors(t, r)
		var got struct {
			Errands struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct{ Node struct{ ErrandNumber string } }
			}
		}
		if err := json.Unmarshal(r.Data, &got); err != nil {
			t.Fatal(err)
		}
		for _, e := range got.Errands.Edges {
			all = append(all, e.Node.ErrandNumber)
		}
		after = got.Errands.PageInfo.EndCursor
		if !got.Errands.PageInfo.HasNextPage {
			break
		}
	}
	var want []string
	for _, e := range w.Errands {
		if e.Status == model.ErrandDecided && len(want) < 21 {
			want = append(want, e.ErrandNumber)
		}
	}
	if strings.Join(all, ",") != strings.Join(want, ",") {
		t.Fatalf("three pages of 7 = %v, want %v", all, want)
	}
}

// TestFailingUpstreamNullsOnlyItsFields drives each fault of the registry
// simulator and checks that only the registry's fields fail, with the right
// code, and that nothing of the upstream's body reaches the client.
func TestFailingUpstreamNullsOnlyItsFields(t *testing.T) {
	tests := []struct {
		name  string
		fault sim.FaultConfig
		code  string
	}{
		{"down", sim.FaultConfig{Down: true}, "UPSTREAM_UNAVAILABLE"},
		{"5xx", sim.FaultConfig{ErrorRate: 1}, "UPSTREAM_UNAVAILABLE"},
		{"slow past deadline", sim.FaultConfig{Latency: 5 * time.Second}, "UPSTREAM_TIMEOUT"},
		{"html", sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedHTML}, "UPSTREAM_BAD_RESPONSE"},
		{"truncated", sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedTruncated}, "UPSTREAM_BAD_RESPONSE"},
		{"doctype", sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedDoctype}, "UPSTREAM_BAD_RESPONSE"},
		{"50 MB body", sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedHuge}, "UPSTREAM_BAD_RESPONSE"},
	}
	query := `{ errands(first: 3, caseType: "BYGGLOV") { edges { node { errandNumber
		property { designation } stakeholders { role person { givenName } } } } } }`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemo(t, func(c *config.Config) {
				c.Sources.Folkbokforing.Timeout = 500 * time.Millisecond
				c.Sources.Folkbokforing.MaxBodyBytes = 256 << 10
				c.Sources.Folkbokforing.Retries = -1
				// The breaker is not under test here: with seven people and
				// five failures to open it, a loaded machine that starts the
				// fan-out's calls slowly saw the last two refused by an open
				// breaker (UPSTREAM_UNAVAILABLE) instead of failing themselves.
				c.Sources.Folkbokforing.BreakerFailures = 100
			})
			d.gw.Sim().NavetFaults.Set(tc.fault)
			r := d.query(t, query)
			if len(r.Errors) == 0 {
				t.Fatalf("no errors: %s", r.raw)
			}
			for _, e := range r.Errors {
				if e.Extensions["code"] != tc.code {
					t.Fatalf("code %v, want %s: %s", e.Extensions["code"], tc.code, r.raw)
				}
				if len(e.Path) < 1 || e.Path[len(e.Path)-1] != "person" {
					t.Fatalf("error at %v, want at a person field", e.Path)
				}
			}
			var got q1Data
			if err := json.Unmarshal(r.Data, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Errands.Edges) != 3 {
				t.Fatalf("errands not served: %s", r.raw)
			}
			for _, e := range got.Errands.Edges {
				if e.Node.ErrandNumber == "" || e.Node.Property == nil || e.Node.Property.Designation == "" {
					t.Fatalf("fields of healthy upstreams missing: %s", r.raw)
				}
				for _, s := range e.Node.Stakeholders {
					if s.Role == "" || s.Person != nil {
						t.Fatalf("stakeholder %+v: want role served and person null", s)
					}
				}
			}
			for _, leak := range []string{"<html", "DOCTYPE", "ENTITY", "faultstring", "Envelope", "soap", "xxxx"} {
				if strings.Contains(strings.ToLower(r.raw), strings.ToLower(leak)) {
					t.Fatalf("response leaks %q: %s", leak, r.raw)
				}
			}
		})
	}
}

func TestSchoolDatabaseDownFailsOnlyItsFields(t *testing.T) {
	d := newDemo(t, nil)
	d.gw.Sim().GeodataFaults.Set(sim.FaultConfig{Down: true})
	r := d.query(t, `{ schoolUnits(first: 2) { totalCount edges { node { name property { designation } } } } }`)
	if len(r.Errors) != 2 {
		t.Fatalf("want one error per property: %s", r.raw)
	}
	for _, e := range r.Errors {
		if e.Extensions["code"] != "UPSTREAM_UNAVAILABLE" || e.Extensions["source"] != "geodata" {
			t.Fatalf("error %+v", e)
		}
	}
	if !strings.Contains(r.raw, `"totalCount":`) || !strings.Contains(r.raw, `"property":null`) {
		t.Fatalf("rest of the response not served: %s", r.raw)
	}
}

func TestHostileArguments(t *testing.T) {
	d := newDemo(t, nil)
	tests := []struct {
		name  string
		query string
		code  string // "" means served as inert data with the given data
		data  string
	}{
		{"markup as personnummer", `{ person(personalNumber: "<PersonId>x</PersonId>") { givenName } }`, "BAD_USER_INPUT", ""},
		{"invalid Luhn", `{ person(personalNumber: "199001011234") { givenName } }`, "BAD_USER_INPUT", ""},
		{"path traversal in errand number", `{ errand(errandNumber: "../../admin") { status } }`, "BAD_USER_INPUT", ""},
		{"query string in errand number", `{ errand(errandNumber: "BYGG-2025-000001?x=1") { status } }`, "BAD_USER_INPUT", ""},
		{"SQL in school unit code", `{ schoolUnit(code: "1' OR '1'='1") { name } }`, "BAD_USER_INPUT", ""},
		{"SQL in case type", `{ errands(caseType: "BYGGLOV' OR 1=1 --") { totalCount } }`, "BAD_USER_INPUT", ""},
		{"negative page size", `{ schoolUnits(first: -1) { totalCount } }`, "BAD_USER_INPUT", ""},
		{"page size over the cap", `{ schoolUnits(first: 101) { totalCount } }`, "BAD_USER_INPUT", ""},
		{"huge page size is refused by cost", `{ schoolUnits(first: 100000) { totalCount } }`, "COMPLEXITY_LIMIT_EXCEEDED", ""},
		{"forged cursor", `{ schoolUnits(after: "b2Zmc2V0Oi0x") { totalCount } }`, "BAD_USER_INPUT", ""},
		{"query string in designation is inert", `{ property(designation: "ÖREBRO RÖNNEN 1:1?limit=1000&x=../") { objectId } }`, "", `{"property":null}`},
		{"XML markup in designation is inert", `{ property(designation: "<a>&amp;</a>") { objectId } }`, "", `{"property":null}`},
		{"unknown school unit", `{ schoolUnit(code: "00000000") { name } }`, "", `{"schoolUnit":null}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := d.query(t, tc.query)
			if tc.code == "" {
				if len(r.Errors) != 0 || string(r.Data) != tc.data {
					t.Fatalf("got %s, want data %s", r.raw, tc.data)
				}
				return
			}
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != tc.code {
				t.Fatalf("got %s, want one %s", r.raw, tc.code)
			}
		})
	}
	// The SQL attempts above did no harm: the school database still answers.
	mustNoErrors(t, d.query(t, `{ schoolUnits(first: 1) { totalCount } }`))
}

func TestMalformedRequestsGetCodedErrors(t *testing.T) {
	d := newDemo(t, nil)
	tests := []struct {
		name, method, ctype, body, code string
	}{
		{"syntax error", "POST", "application/json", `{"query":"{ errands(first: "}`, "GRAPHQL_PARSE_FAILED"},
		{"unknown field", "POST", "application/json", `{"query":"{ persn { x } }"}`, "GRAPHQL_VALIDATION_FAILED"},
		{"broken JSON", "POST", "application/json", `{"query":`, "BAD_USER_INPUT"},
		{"not JSON", "POST", "text/plain", `{ errands { totalCount } }`, "UNSUPPORTED_MEDIA_TYPE"},
		{"wrong method", "PUT", "application/json", `{}`, "METHOD_NOT_ALLOWED"},
		{"too deep", "POST", "application/json", `{"query":"{ person(personalNumber: \"190001019995\") { children { children { children { children { children { children { children { children { children { children { children { children { givenName } } } } } } } } } } } } } }"}`, "DEPTH_LIMIT_EXCEEDED"},
		{"too costly", "POST", "application/json", `{"query":"{ errands(first: 100) { edges { node { stakeholders { person { children { errands { stakeholders { person { givenName } } } } } } } } } }"}`, "COMPLEXITY_LIMIT_EXCEEDED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, d.srv.URL+"/graphql", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var r response
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != tc.code {
				t.Fatalf("errors %+v, want code %s", r.Errors, tc.code)
			}
		})
	}
	t.Run("GET cannot mutate", func(t *testing.T) {
		resp, err := http.Get(d.srv.URL + "/graphql?query=" + "mutation%7Bx%7D")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r response
		_ = json.NewDecoder(resp.Body).Decode(&r)
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] == nil {
			t.Fatalf("GET mutation: %+v", r.Errors)
		}
	})
}

func TestOperationalEndpoints(t *testing.T) {
	d := newDemo(t, nil)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(d.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	d.gw.RefreshReadiness()
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"status":"ready"`) || !strings.Contains(body, `"policystore":{"status":"ok"`) {
		t.Fatalf("readyz %d %s", code, body)
	}
	// One upstream down is reported, in the body and the metrics, and
	// leaves the replica ready: every replica shares that upstream.
	d.gw.Sim().ETjanstFaults.Set(sim.FaultConfig{Down: true})
	d.gw.RefreshReadiness()
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"status":"degraded"`) ||
		!strings.Contains(body, `"etjanst":{"status":"failing"`) || !strings.Contains(body, `"failing":["etjanst"]`) {
		t.Fatalf("readyz with etjanst down: %d %s", code, body)
	}
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `kommungraf_readiness_check_up{check="etjanst"} 0`) ||
		!strings.Contains(metrics, `kommungraf_readiness_check_up{check="geodata"} 1`) || !strings.Contains(metrics, "kommungraf_ready 1") {
		t.Errorf("readiness metrics with etjanst down:\n%s", grepLines(metrics, "readiness|kommungraf_ready"))
	}
	d.gw.Sim().ETjanstFaults.Set(sim.FaultConfig{})

	d.gw.Sim().Stats.Reset()
	mustNoErrors(t, d.query(t, `query Worklist { errands(first: 2) { totalCount } }`))
	code, body := get("/demo/upstream-stats")
	if code != 200 || !strings.Contains(body, `"listErrands":{"calls":1,"keys":0}`) {
		t.Fatalf("upstream-stats %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodDelete, d.srv.URL+"/demo/upstream-stats", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %v %v", err, resp)
	}
	if _, body := get("/demo/upstream-stats"); strings.TrimSpace(body) != "{}" {
		t.Fatalf("after reset: %s", body)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`kommungraf_graphql_request_duration_seconds_count{operation="Worklist"} 1`,
		`kommungraf_upstream_calls_total{operation="listErrands",outcome="ok",source="etjanst"}`,
		`kommungraf_upstream_call_duration_seconds_bucket{operation="listErrands",source="etjanst"`,
		"kommungraf_access_log_dropped_total 0",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	d.query(t, `{ person(personalNumber: "x") { givenName } }`)
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `kommungraf_graphql_errors_total{code="BAD_USER_INPUT"} 1`) {
		t.Error("errors by code not counted")
	}
}
