package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// newSecureDemo starts a demo gateway with authorization on, as served.
func newSecureDemo(t testing.TB) *demo {
	t.Helper()
	return startDemo(t, nil, 0, false)
}

func isProtected(p *model.Person) bool { return p.ProtectedIdentity || p.ConfidentialityMarking }

// forbiddenPaths are the paths of the FORBIDDEN errors, as "a.b.0.c"; any
// other error fails the test.
func forbiddenPaths(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, e := range r.Errors {
		if e.Extensions["code"] != authz.CodeForbidden {
			t.Fatalf("unexpected error %+v in %s", e, r.raw)
		}
		parts := make([]string, len(e.Path))
		for i, p := range e.Path {
			parts[i] = fmt.Sprint(p)
		}
		out = append(out, strings.Join(parts, "."))
	}
	sort.Strings(out)
	return out
}

func assertPaths(t *testing.T, got, want []string) {
	t.Helper()
	sort.Strings(want)
	if !slices.Equal(got, want) {
		var missing, extra []string
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing = append(missing, w)
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) {
				extra = append(extra, g)
			}
		}
		t.Fatalf("FORBIDDEN paths differ: %d got, %d want\n missing: %v\n extra: %v", len(got), len(want), firstFew(missing), firstFew(extra))
	}
}

// q1Errands are the errands Q1 returns, from the world.
func q1Errands() []*model.Errand {
	var want []*model.Errand
	for _, e := range testWorld().Errands {
		if e.CaseType == "BYGGLOV" && len(want) < 50 {
			want = append(want, e)
		}
	}
	return want
}

// TestQ1AsEachPersona runs the bygglov worklist as every persona and checks
// that exactly the allowed fields are served: each denied field is null with
// FORBIDDEN at its path, the rest is the systems' data.
func TestQ1AsEachPersona(t *testing.T) {
	d := newSecureDemo(t)
	w := testWorld()
	errands := q1Errands()
	protectedStakeholders := 0
	for _, e := range errands {
		for _, s := range e.Stakeholders {
			if isProtected(w.ByPNR[w.PersonOfParty[s.PartyID]]) {
				protectedStakeholders++
			}
		}
	}
	if protectedStakeholders == 0 {
		t.Fatal("the test world has no protected stakeholder in Q1; the row-level rule would go untested")
	}
	tests := []struct {
		persona string
		want    []string
		// errands: Q1's bygglov errands are listed (the caller acts for
		// bygglov); people: stakeholders' data is served (for the
		// unprotected, or all)
		errands, people, protectedToo, owners bool
	}{
		// Protected stakeholders are null without an error, as unknown ones.
		{persona: "case-officer", want: nil, errands: true, people: true, owners: true},
		// Bygglov errands are outside the other personas' purposes: no rows.
		{persona: "social-secretary", want: nil},
		{persona: "analyst", want: nil},
		{persona: "preschool-admin", want: []string{"errands"}},
		{persona: "open-data", want: []string{"errands"}},
		{persona: "security-officer", want: []string{"errands"}},
		{persona: "", want: []string{"errands"}},
	}
	for _, tc := range tests {
		t.Run(nameOr(tc.persona, "anonymous"), func(t *testing.T) {
			v := d
			if tc.persona != "" {
				v = d.as(t, tc.persona)
			}
			r := v.query(t, q1)
			if refusedFreeForm(t, tc.persona, r) {
				return
			}
			assertPaths(t, forbiddenPaths(t, r), tc.want)
			if tc.want != nil {
				return
			}
			var got q1Data
			if err := json.Unmarshal(r.Data, &got); err != nil {
				t.Fatal(err)
			}
			if !tc.errands {
				if len(got.Errands.Edges) != 0 {
					t.Fatalf("%d bygglov errands listed outside the purpose", len(got.Errands.Edges))
				}
				return
			}
			for i, e := range errands {
				n := got.Errands.Edges[i].Node
				if n.ErrandNumber != e.ErrandNumber || n.Status != string(e.Status) {
					t.Fatalf("errand %d = %+v, want %s", i, n, e.ErrandNumber)
				}
				if tc.owners && len(n.Property.Owners) != len(w.Owners[e.PropertyObjectID]) {
					t.Fatalf("errand %s: owners %+v", e.ErrandNumber, n.Property.Owners)
				}
				for k, s := range e.Stakeholders {
					p := w.ByPNR[w.PersonOfParty[s.PartyID]]
					g := n.Stakeholders[k].Person
					if isProtected(p) && !tc.protectedToo {
						if g != nil {
							t.Fatalf("protected stakeholder served: %+v", g)
						}
						continue
					}
					if g == nil || g.GivenName != p.GivenName || g.Surname != p.Surname || g.Address == nil || g.Address.City != p.Address.City {
						t.Fatalf("errand %s stakeholder %d = %+v, want %s %s", e.ErrandNumber, k, g, p.GivenName, p.Surname)
					}
				}
			}
		})
	}
}

// q2Placements are Q2's units and their first 30 placements, from the world.
func q2Placements() ([]*model.SchoolUnit, map[string][]*model.Placement) {
	w := testWorld()
	units := append([]*model.SchoolUnit(nil), w.SchoolUnits...)
	sort.Slice(units, func(i, j int) bool { return units[i].Code < units[j].Code })
	units = units[:min(20, len(units))]
	byUnit := map[string][]*model.Placement{}
	for _, p := range w.Placements {
		byUnit[p.SchoolUnitCode] = append(byUnit[p.SchoolUnitCode], p)
	}
	for code, pls := range byUnit {
		sort.Slice(pls, func(i, j int) bool { return pls[i].ID < pls[j].ID })
		byUnit[code] = pls[:min(30, len(pls))]
	}
	return units, byUnit
}

func TestQ2AsEachPersona(t *testing.T) {
	d := newSecureDemo(t)
	w := testWorld()
	units, byUnit := q2Placements()
	perUnit := func(suffix string) []string {
		var out []string
		for i := range units {
			out = append(out, fmt.Sprintf("schoolUnits.edges.%d.node.%s", i, suffix))
		}
		return out
	}
	// The preschool administrator sees placements, diets, children and
	// guardians, except everything of a protected child or guardian: a
	// protected child's placement has its fields FORBIDDEN and its child
	// null, a protected guardian is left out, as unknown ones are.
	var admin []string
	protectedChildren, protectedGuardians := 0, 0
	for i, u := range units {
		for j, p := range byUnit[u.Code] {
			at := fmt.Sprintf("schoolUnits.edges.%d.node.placements.edges.%d.node.", i, j)
			child := w.ByPNR[p.PersonalNumber]
			if isProtected(child) {
				protectedChildren++
				admin = append(admin, at+"group", at+"specialDiet")
				continue
			}
			for _, g := range child.RelatedNumbers(model.RelationGuardian) {
				if isProtected(w.ByPNR[g]) {
					protectedGuardians++
				}
			}
		}
	}
	if protectedChildren == 0 {
		t.Fatal("no protected child among Q2's placements: the test world no longer exercises the row-level rule")
	}
	tests := []struct {
		persona string
		want    []string
		check   bool
	}{
		{"preschool-admin", admin, true},
		// Social services read placements through a person, not a unit's list.
		{"social-secretary", perUnit("placements"), false},
		{"analyst", perUnit("placements"), false},
		{"open-data", perUnit("placements"), false},
		{"", perUnit("placements"), false},
		{"case-officer", []string{"schoolUnits"}, false},
		{"security-officer", []string{"schoolUnits"}, false},
	}
	for _, tc := range tests {
		t.Run(nameOr(tc.persona, "anonymous"), func(t *testing.T) {
			v := d
			if tc.persona != "" {
				v = d.as(t, tc.persona)
			}
			r := v.query(t, q2)
			if refusedFreeForm(t, tc.persona, r) {
				return
			}
			assertPaths(t, forbiddenPaths(t, r), tc.want)
			if !tc.check {
				return
			}
			var got q2Data
			if err := json.Unmarshal(r.Data, &got); err != nil {
				t.Fatal(err)
			}
			for i, u := range units {
				for j, p := range byUnit[u.Code] {
					n := got.SchoolUnits.Edges[i].Node.Placements.Edges[j].Node
					child := w.ByPNR[p.PersonalNumber]
					if isProtected(child) {
						if n.Group != "" || n.Child != nil || n.SpecialDiet != nil {
							t.Fatalf("protected child's placement served: %+v", n)
						}
						continue
					}
					if n.Group != p.Group || !slices.Equal(n.SpecialDiet, w.Diets[p.PersonalNumber]) || n.Child == nil || n.Child.GivenName != child.GivenName {
						t.Fatalf("placement %d = %+v, want %s %v %s", p.ID, n, p.Group, w.Diets[p.PersonalNumber], child.GivenName)
					}
					var visible []string
					for _, g := range child.RelatedNumbers(model.RelationGuardian) {
						if gp := w.ByPNR[g]; gp != nil && !isProtected(gp) {
							visible = append(visible, gp.GivenName)
						}
					}
					var served []string
					for _, g := range n.Child.Guardians {
						served = append(served, g.GivenName)
					}
					if !slices.Equal(served, visible) {
						t.Fatalf("placement %d: guardians %v, want the unprotected %v", p.ID, served, visible)
					}
				}
			}
		})
	}
}

func firstFew(s []string) []string { return s[:min(len(s), 8)] }

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func protectedAdultWithAddress(t *testing.T) *model.Person {
	t.Helper()
	for _, p := range testWorld().People {
		if p.ProtectedIdentity && p.Address != nil && len(p.RelatedNumbers(model.RelationGuardian)) == 0 {
			return p
		}
	}
	t.Fatal("no protected adult in the world")
	return nil
}

// TestProtectedPersonsAddress: a protected person is, to the case officer
// (level 2), a person the registry does not know; the social secretary
// (level 3) sees the address.
func TestProtectedPersonsAddress(t *testing.T) {
	d := newSecureDemo(t)
	p := protectedAdultWithAddress(t)
	q := `{ person(personalNumber: "` + p.PersonalNumber + `") { address { city } protectedIdentity } }`

	// Not cleared for protected identities: the person does not exist.
	r := d.as(t, "case-officer").query(t, q)
	if r.raw != `{"data":{"person":null}}` {
		t.Fatalf("case officer got %s", r.raw)
	}

	r = d.as(t, "social-secretary").query(t, q)
	mustNoErrors(t, r)
	want := fmt.Sprintf(`{"person":{"address":{"city":%q},"protectedIdentity":true}}`, p.Address.City)
	if string(r.Data) != want {
		t.Fatalf("social secretary got %s, want %s", r.Data, want)
	}
}

func TestDeniedFieldsCallNoUpstream(t *testing.T) {
	d := newSecureDemo(t)
	adult := someAdult(t)
	d.gw.Sim().Stats.Reset()
	// The case officer may not see family relations: no registry call for
	// the children, and no school database query for placements.
	r := d.as(t, "case-officer").query(t, `{ person(personalNumber: "`+adult.PersonalNumber+`") { givenName children { givenName } placements { group } } }`)
	assertPaths(t, forbiddenPaths(t, r), []string{"person.children", "person.placements"})
	if n := d.calls("folkbokforing", "PersonpostXML"); n != 1 {
		t.Errorf("PersonpostXML calls = %d, want 1 (the person; none for the denied children)", n)
	}
	if n := d.calls("skoldatabas", "placementsByPerson"); n != 0 {
		t.Errorf("school database placement queries = %d, want 0", n)
	}
	// The same question from the preschool administrator, who may see
	// family and placements, does reach both systems: the counters above
	// would have seen the calls.
	d.gw.Sim().Stats.Reset()
	r = d.as(t, "preschool-admin").query(t, `{ person(personalNumber: "`+adult.PersonalNumber+`") { givenName children { givenName } placements { group } } }`)
	for _, e := range r.Errors {
		if e.Extensions["code"] == authz.CodeForbidden && len(e.Path) == 2 {
			t.Fatalf("preschool admin denied %v", e.Path)
		}
	}
	if d.calls("folkbokforing", "PersonpostXML") < 2 || d.calls("skoldatabas", "placementsByPerson") != 1 {
		t.Errorf("preschool admin: registry %d, placements %d calls", d.calls("folkbokforing", "PersonpostXML"), d.calls("skoldatabas", "placementsByPerson"))
	}
	// Anonymous callers are refused at the root: nothing is called at all.
	d.gw.Sim().Stats.Reset()
	r = d.query(t, `{ person(personalNumber: "`+adult.PersonalNumber+`") { givenName } }`)
	assertPaths(t, forbiddenPaths(t, r), []string{"person"})
	if n := d.calls("folkbokforing", "PersonpostXML"); n != 0 {
		t.Errorf("anonymous: PersonpostXML calls = %d, want 0", n)
	}
}

func TestIntrospectionNeedsARoleThatAllowsIt(t *testing.T) {
	d := newSecureDemo(t)
	q := `{ __schema { queryType { name } } }`
	for _, tc := range []struct {
		persona string
		allowed bool
	}{{"", false}, {"open-data", false}, {"analyst", true}, {"case-officer", true}, {"security-officer", true}} {
		t.Run(nameOr(tc.persona, "anonymous"), func(t *testing.T) {
			v := d
			if tc.persona != "" {
				v = d.as(t, tc.persona)
			}
			r := v.query(t, q)
			if refusedFreeForm(t, tc.persona, r) {
				return
			}
			if tc.allowed {
				mustNoErrors(t, r)
				if string(r.Data) != `{"__schema":{"queryType":{"name":"Query"}}}` {
					t.Fatalf("got %s", r.Data)
				}
				return
			}
			assertPaths(t, forbiddenPaths(t, r), []string{"__schema"})
		})
	}
	// No "did you mean" suggestions leak the schema to those refused.
	r := d.query(t, `{ persn(personalNumber: "x") { givenName } }`)
	if len(r.Errors) != 1 || strings.Contains(r.Errors[0].Message, "Did you mean") {
		t.Fatalf("got %s", r.raw)
	}
}

// TestBrokenCredentialsAreRefusedAlike: every broken credential gets the same
// 401 body, and none falls back to anonymous.
func TestBrokenCredentialsAreRefusedAlike(t *testing.T) {
	d := newSecureDemo(t)
	good := d.token(t, "case-officer")
	parts := strings.Split(good, ".")
	noneHeader := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0" // {"alg":"none","typ":"JWT"}
	var bodies []string
	for name, auth := range map[string]string{
		"garbage":          "Bearer not-a-token",
		"alg none":         "Bearer " + noneHeader + "." + parts[1] + ".",
		"bad signature":    "Bearer " + parts[0] + "." + parts[1] + ".AAAA",
		"unknown api key":  "Bearer kg_" + strings.Repeat("A", 43),
		"basic scheme":     "Basic dXNlcjpwYXNz",
		"empty bearer":     "Bearer ",
		"tampered payload": "Bearer " + parts[0] + "." + parts[1] + "x." + parts[2],
	} {
		req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", strings.NewReader(`{"query":"{ schoolUnits(first: 1) { totalCount } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
		}
		bodies = append(bodies, string(body))
	}
	for _, b := range bodies {
		if b != bodies[0] || !strings.Contains(b, `"code":"UNAUTHENTICATED"`) {
			t.Fatalf("401 bodies differ or lack the code: %q vs %q", b, bodies[0])
		}
	}
}

// TestAccessLogNamesEveryPersonServed: the access log entry of a Q1 run names
// every person whose data was returned (stakeholders and owners who are
// natural persons), and nobody else (not the protected stakeholders, whose
// fields were denied).
func TestAccessLogNamesEveryPersonServed(t *testing.T) {
	d := newSecureDemo(t)
	w := testWorld()
	// Protected stakeholders are null to the case officer, without an
	// error; the access log records the attempt as a denial.
	r := d.as(t, "case-officer").query(t, q1)
	mustNoErrors(t, r)
	ctx := context.Background()
	if err := d.gw.AccessLog().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h := d.gw.PersonHasher()
	want := map[string]bool{}
	for _, e := range q1Errands() {
		for _, s := range e.Stakeholders {
			if p := w.ByPNR[w.PersonOfParty[s.PartyID]]; !isProtected(p) {
				want[h.Hash(p.PersonalNumber)] = true
			}
		}
		for _, o := range w.Owners[e.PropertyObjectID] {
			if p := w.ByPNR[o.PersonalNumber]; o.PersonalNumber != "" && (p == nil || !isProtected(p)) {
				want[h.Hash(o.PersonalNumber)] = true
			}
		}
	}
	entries, err := d.gw.AccessLog().Query(ctx, authz.AccessQuery{Subject: "demo-case-officer"})
	if err != nil || len(entries) != 1 {
		t.Fatalf("entries = %d, %v; want 1", len(entries), err)
	}
	e := entries[0]
	got := map[string]bool{}
	for _, p := range e.Persons {
		got[p] = true
	}
	for p := range want {
		if !got[p] {
			t.Errorf("person %s served but not in the access log", p)
		}
	}
	for p := range got {
		if !want[p] {
			t.Errorf("person %s in the access log but not served", p)
		}
	}
	if e.Client != "bygglov-app" || e.Outcome != authz.OutcomePartial || !slices.Contains(e.Fields, "Person.address") || len(e.Denied) == 0 {
		t.Errorf("entry = %+v", e)
	}
	raw, _ := json.Marshal(entries)
	for _, p := range w.People[:200] {
		if strings.Contains(string(raw), p.PersonalNumber) {
			t.Fatal("the access log holds a personnummer in clear text")
		}
	}

	// Security staff ask by personnummer through the admin API.
	var someone string
	for _, s := range q1Errands()[0].Stakeholders {
		if p := w.ByPNR[w.PersonOfParty[s.PartyID]]; !isProtected(p) {
			someone = p.PersonalNumber
		}
	}
	for _, tc := range []struct {
		persona string
		status  int
	}{{"security-officer", 200}, {"case-officer", 403}, {"", 403}} {
		req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/admin/api/access-log", strings.NewReader(`{"person":"`+someone+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if tc.persona != "" {
			req.Header.Set("Authorization", "Bearer "+d.token(t, tc.persona))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Entries []authz.AccessEntry }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.persona, resp.StatusCode, tc.status)
		}
		if tc.status == 200 && (len(body.Entries) != 1 || body.Entries[0].Subject != "demo-case-officer") {
			t.Fatalf("access log API: %+v", body.Entries)
		}
	}
}

// TestClientWithoutContractSeesNothing: a system client whose API key is
// valid but whose application has no information contract gets FORBIDDEN
// on every field, level 0 included, whatever its roles; the same roles
// through a client outside its contract's ceiling get nothing above it.
func TestClientWithoutContractSeesNothing(t *testing.T) {
	noContract, _ := authz.NewAPIKey()
	wrongApp, _ := authz.NewAPIKey()
	d := startDemo(t, func(c *config.Config) {
		c.Auth.APIKeys = append(c.Auth.APIKeys,
			config.APIKey{Name: "batch-job", Client: "no-contract-app", Roles: []string{"social-secretary"}, SHA256: authz.HashAPIKey(noContract)},
			config.APIKey{Name: "misrouted", Client: "bygglov-app", Roles: []string{"social-secretary"}, SHA256: authz.HashAPIKey(wrongApp)},
		)
	}, 0, false)
	p := protectedAdultWithAddress(t)

	v := &demo{gw: d.gw, srv: d.srv, auth: "Bearer " + noContract}
	r := v.query(t, `{ schoolUnits(first: 1) { totalCount } person(personalNumber: "`+p.PersonalNumber+`") { givenName } }`)
	assertPaths(t, forbiddenPaths(t, r), []string{"person", "schoolUnits"})

	// The bygglov app's purpose is bygglov and its ceiling 2: a social
	// secretary's key through it acts for no purpose it holds, so it may not
	// look anyone up; public data still flows.
	v = &demo{gw: d.gw, srv: d.srv, auth: "Bearer " + wrongApp}
	r = v.query(t, `{ property(designation: "ÖREBRO NONE 1:1") { designation } person(personalNumber: "`+p.PersonalNumber+`") { givenName protectedIdentity } }`)
	assertPaths(t, forbiddenPaths(t, r), []string{"person"})
	if string(r.Data) != `{"property":null,"person":null}` {
		t.Fatalf("got %s", r.Data)
	}
}

// TestProtectedOwnersNamesAreRaised: the property register cannot tell a
// protected owner, so the gateway asks the registry before serving an
// owner's name: the case officer (level 2) gets FORBIDDEN for a protected
// owner's personal fields, the share (not personal data) is served.
func TestProtectedOwnersNamesAreRaised(t *testing.T) {
	// A world of its own: the shared one is never changed.
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 800})
	var errand *model.Errand
	var owner *model.PropertyOwner
	for _, e := range w.Errands {
		for _, o := range w.Owners[e.PropertyObjectID] {
			if o.PersonalNumber != "" && errand == nil {
				errand, owner = e, o
			}
		}
	}
	if errand == nil {
		t.Fatal("no errand with a natural-person owner")
	}
	w.ByPNR[owner.PersonalNumber].ProtectedIdentity = true
	cfg := config.Demo()
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{Demo: true, World: w, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() { srv.Close(); gw.Close() })
	d := (&demo{gw: gw, srv: srv}).as(t, "case-officer")

	r := d.query(t, `{ errand(errandNumber: "`+errand.ErrandNumber+`") { property { owners { name share acquiredOn } } } }`)
	var want []string
	for i, o := range w.Owners[errand.PropertyObjectID] {
		if o.PersonalNumber == owner.PersonalNumber {
			want = append(want, fmt.Sprintf("errand.property.owners.%d.name", i), fmt.Sprintf("errand.property.owners.%d.acquiredOn", i))
		}
	}
	assertPaths(t, forbiddenPaths(t, r), want)
	if !strings.Contains(string(r.Data), `"share":"`+owner.Share+`"`) || strings.Contains(r.raw, owner.Name) {
		t.Fatalf("got %s", r.raw)
	}
}

// refusedFreeForm: the open-data portal's contract is persisted-only, so
// a free-form document of its gets PERSISTED_QUERY_REQUIRED, and nothing
// else, before anything is parsed; the anonymous caller, under the same
// fields and ceiling but log-unknown, shows what the authorization does
// with the document. It reports whether the persona was the portal.
func refusedFreeForm(t *testing.T, persona string, r response) bool {
	t.Helper()
	if persona != "open-data" {
		return false
	}
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "PERSISTED_QUERY_REQUIRED" || string(r.Data) != "null" {
		t.Fatalf("the persisted-only portal's free-form document: %s, want only PERSISTED_QUERY_REQUIRED", r.raw)
	}
	return true
}
