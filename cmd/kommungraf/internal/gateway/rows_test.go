package gateway_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// firstErrand is the world's first errand of a case type.
func firstErrand(t *testing.T, caseType string) *model.Errand {
	t.Helper()
	for _, e := range testWorld().Errands {
		if e.CaseType == caseType && len(e.Stakeholders) > 0 {
			return e
		}
	}
	t.Fatalf("no %s errand in the test world", caseType)
	return nil
}

func countCaseType(caseType string) int {
	n := 0
	for _, e := range testWorld().Errands {
		if e.CaseType == caseType {
			n++
		}
	}
	return n
}

// TestRowsOutsideThePurposeDoNotExist: the bygglov case officer neither
// lists, counts nor reads social-assistance errands, and nothing reachable
// only through them is fetched; the social secretary reads them.
func TestRowsOutsideThePurposeDoNotExist(t *testing.T) {
	d := newSecureDemo(t)
	officer := d.as(t, "case-officer")
	ekb := firstErrand(t, "EKONOMISKT_BISTAND")

	t.Run("a listing of another purpose is empty and costs no call", func(t *testing.T) {
		d.gw.Sim().Stats.Reset()
		r := officer.query(t, `{ errands(first: 100, caseType: "EKONOMISKT_BISTAND") { totalCount pageInfo { hasNextPage } edges { node { errandNumber description } } } }`)
		mustNoErrors(t, r)
		if want := `{"errands":{"totalCount":0,"pageInfo":{"hasNextPage":false},"edges":[]}}`; string(r.Data) != want {
			t.Fatalf("got %s, want %s", r.Data, want)
		}
		if n := d.calls("etjanst", "listErrands"); n != 0 {
			t.Errorf("listErrands calls = %d, want 0", n)
		}
		// Exactly what a case type the platform does not know answers.
		unknown := officer.query(t, `{ errands(first: 100, caseType: "NO_SUCH_TYPE") { totalCount pageInfo { hasNextPage } edges { node { errandNumber description } } } }`)
		if unknown.raw != r.raw {
			t.Errorf("another purpose's case type answers\n%s\nan unknown case type\n%s", r.raw, unknown.raw)
		}
	})

	t.Run("an unfiltered listing holds and counts only the caller's rows", func(t *testing.T) {
		r := officer.query(t, `{ errands(first: 100) { totalCount edges { node { caseType } } } }`)
		mustNoErrors(t, r)
		var got struct {
			Errands struct {
				TotalCount int
				Edges      []struct{ Node struct{ CaseType string } }
			}
		}
		if err := json.Unmarshal(r.Data, &got); err != nil {
			t.Fatal(err)
		}
		if want := countCaseType("BYGGLOV"); got.Errands.TotalCount != want || len(got.Errands.Edges) != min(100, want) {
			t.Fatalf("totalCount %d with %d edges, want %d bygglov errands", got.Errands.TotalCount, len(got.Errands.Edges), want)
		}
		for _, e := range got.Errands.Edges {
			if e.Node.CaseType != "BYGGLOV" {
				t.Fatalf("the case officer was listed a %s errand", e.Node.CaseType)
			}
		}
	})

	t.Run("by number it answers like an unknown number, and fetches nothing below", func(t *testing.T) {
		q := `{ errand(errandNumber: "%s") { errandNumber description stakeholders { role person { givenName } } decisions { outcome } property { designation owners { name } } } }`
		d.gw.Sim().Stats.Reset()
		r := officer.query(t, fmt.Sprintf(q, ekb.ErrandNumber))
		for system, op := range map[string]string{"folkbokforing": "PersonpostXML", "etjanst": "lookupParties", "geodata": "items"} {
			if n := d.calls(system, op); n != 0 {
				t.Errorf("%s %s calls = %d for a denied errand, want 0", system, op, n)
			}
		}
		if n := d.calls("etjanst", "listDecisions"); n != 0 {
			t.Errorf("decisions fetched for a denied errand: %d calls", n)
		}
		unknown := officer.query(t, fmt.Sprintf(q, "EKB-2099-999999"))
		if r.raw != `{"data":{"errand":null}}` || unknown.raw != r.raw {
			t.Fatalf("a denied errand answers\n%s\nan unknown one\n%s", r.raw, unknown.raw)
		}
	})

	t.Run("the social secretary reads social-assistance errands", func(t *testing.T) {
		r := d.as(t, "social-secretary").query(t, fmt.Sprintf(`{ errand(errandNumber: %q) { errandNumber description decisions { law } } errands(caseType: "EKONOMISKT_BISTAND") { totalCount } bygg: errands(caseType: "BYGGLOV") { totalCount } }`, ekb.ErrandNumber))
		mustNoErrors(t, r)
		want := fmt.Sprintf(`"errandNumber":%q`, ekb.ErrandNumber)
		if !strings.Contains(string(r.Data), want) || !strings.Contains(string(r.Data), fmt.Sprintf(`"errands":{"totalCount":%d}`, countCaseType("EKONOMISKT_BISTAND"))) ||
			!strings.Contains(string(r.Data), `"bygg":{"totalCount":0}`) {
			t.Fatalf("social secretary got %s", r.Data)
		}
	})

	t.Run("a person's errands hold only the caller's rows", func(t *testing.T) {
		w := testWorld()
		pnr := w.PersonOfParty[ekb.Stakeholders[0].PartyID]
		if p := w.ByPNR[pnr]; p == nil || p.ProtectedIdentity || p.ConfidentialityMarking {
			t.Skip("the first social-assistance applicant is protected in this world")
		}
		r := officer.query(t, `{ person(personalNumber: "`+pnr+`") { errands { errandNumber caseType } } }`)
		mustNoErrors(t, r)
		if strings.Contains(string(r.Data), "EKONOMISKT_BISTAND") {
			t.Fatalf("the case officer sees another purpose's errands through a person: %s", r.Data)
		}
	})
}

// worldWithoutProtected is the test world in which the registry does not
// know the protected persons; every other system still names them.
func worldWithoutProtected(t *testing.T) (*sim.World, []*model.Person) {
	t.Helper()
	w := sim.NewWorld(sim.WorldOptions{Seed: 11, People: 3000}) // as testWorld, a copy of our own
	var gone []*model.Person
	for pnr, p := range w.ByPNR {
		if p.ProtectedIdentity || p.ConfidentialityMarking {
			gone = append(gone, p)
			delete(w.ByPNR, pnr)
		}
	}
	if len(gone) == 0 {
		t.Fatal("the test world has no protected person")
	}
	return w, gone
}

var requestIDs = regexp.MustCompile(`"requestId":"[^"]*"`)

// canonical is a response as bytes, its request ids removed and its errors
// in path order (fields resolve concurrently, so errors come in any order).
func canonical(t *testing.T, r response) string {
	t.Helper()
	var doc struct {
		Data   json.RawMessage   `json:"data"`
		Errors []json.RawMessage `json:"errors,omitempty"`
	}
	if err := json.Unmarshal([]byte(r.raw), &doc); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(doc.Errors, func(a, b json.RawMessage) int { return strings.Compare(string(a), string(b)) })
	out, _ := json.Marshal(doc)
	return requestIDs.ReplaceAllString(string(out), "")
}

// TestProtectionCannotBeDetected: for callers not cleared for protected
// identities, every answer about a protected person is byte for byte the
// answer the gateway gives when the registry does not know that person, at
// every entry point: person(...), stakeholders, guardians and children,
// placements' child, property owners. The social secretary does see them.
func TestProtectionCannotBeDetected(t *testing.T) {
	w, _ := worldWithoutProtected(t)
	withProtected := newSecureDemo(t)
	withoutProtected := startDemoIn(t, w, nil, 0, false)

	p := protectedAdultWithAddress(t)
	var child *model.Person // a protected child with a placement
	for _, pl := range testWorld().Placements {
		if c := testWorld().ByPNR[pl.PersonalNumber]; c != nil && c.ProtectedIdentity {
			child = c
			break
		}
	}
	if child == nil {
		t.Fatal("no protected child with a placement in the test world")
	}
	queries := map[string]string{
		"person":                   `{ person(personalNumber: "` + p.PersonalNumber + `") { givenName surname address { city } protectedIdentity } }`,
		"person (child)":           `{ person(personalNumber: "` + child.PersonalNumber + `") { givenName guardians { givenName } children { givenName } placements { group } } }`,
		"stakeholders (Q1)":        q1,
		"stakeholders (all pages)": `{ errands(first: 100) { edges { node { stakeholders { role partyId person { givenName address { city } } } } } } }`,
		"placements' child (Q2)":   q2,
		"property owners":          `{ errands(first: 100, caseType: "BYGGLOV") { edges { node { property { owners { name share person { givenName } } } } } } }`,
	}
	for _, persona := range []string{"case-officer", "analyst", "preschool-admin"} {
		for name, q := range queries {
			t.Run(persona+" "+name, func(t *testing.T) {
				a := canonical(t, withProtected.as(t, persona).query(t, q))
				b := canonical(t, withoutProtected.as(t, persona).query(t, q))
				if a != b {
					i := 0
					for i < min(len(a), len(b)) && a[i] == b[i] {
						i++
					}
					t.Fatalf("a protected person can be told from an unknown one, from byte %d:\nprotected: …%s\nunknown:   …%s", i, a[max(0, i-80):min(len(a), i+160)], b[max(0, i-80):min(len(b), i+160)])
				}
			})
		}
	}
	t.Run("the case officer's answer for a protected person is null without an error", func(t *testing.T) {
		r := withProtected.as(t, "case-officer").query(t, queries["person"])
		if r.raw != `{"data":{"person":null}}` {
			t.Fatalf("got %s", r.raw)
		}
	})
	t.Run("the social secretary sees the protected person", func(t *testing.T) {
		r := withProtected.as(t, "social-secretary").query(t, queries["person"])
		mustNoErrors(t, r)
		if want := fmt.Sprintf(`{"person":{"givenName":%q,"surname":%q,"address":{"city":%q},"protectedIdentity":true}}`, p.GivenName, p.Surname, p.Address.City); string(r.Data) != want {
			t.Fatalf("got %s, want %s", r.Data, want)
		}
	})
}

// TestStaleProtectionFlagCountsAsProtected: a registry record past the
// protection bound is asked again; when the registry cannot answer, the
// person counts as protected (hidden from the case officer), even though
// stale-if-error would still serve the record, which the social secretary,
// cleared for protected persons, does get.
func TestStaleProtectionFlagCountsAsProtected(t *testing.T) {
	d := startDemo(t, func(c *config.Config) {
		c.Cache.Sources["folkbokforing"] = config.CachePolicy{TTL: time.Hour, StaleIfError: time.Hour}
		c.Authz.ProtectionMaxAge = time.Millisecond // the registry's records are cached no longer
		c.Sources.Folkbokforing.Retries = -1
	}, 0, false)
	p := someAdult(t)
	q := `{ person(personalNumber: "` + p.PersonalNumber + `") { givenName } }`
	want := fmt.Sprintf(`{"data":{"person":{"givenName":%q}}}`, p.GivenName)
	if r := d.as(t, "case-officer").query(t, q); r.raw != want {
		t.Fatalf("registry up: %s", r.raw)
	}
	d.gw.Sim().NavetFaults.Set(sim.FaultConfig{ErrorRate: 1})
	time.Sleep(5 * time.Millisecond) // past the 1 ms bound
	before := d.calls("folkbokforing", "fault:error")
	if r := d.as(t, "case-officer").query(t, q); r.raw != `{"data":{"person":null}}` {
		t.Fatalf("registry down, flag past its bound: case officer got %s, want the person hidden", r.raw)
	}
	if d.calls("folkbokforing", "fault:error") == before {
		t.Fatal("the flag past its bound was not asked again of the registry")
	}
	if r := d.as(t, "social-secretary").query(t, q); !strings.Contains(r.raw, fmt.Sprintf(`"givenName":%q`, p.GivenName)) || !strings.Contains(r.raw, `"stale"`) {
		t.Fatalf("social secretary, registry down: %s, want the stale record reported", r.raw)
	}
	d.gw.Sim().NavetFaults.Set(sim.FaultConfig{})
	if r := d.as(t, "case-officer").query(t, q); r.raw != want {
		t.Fatalf("registry back: %s", r.raw)
	}
}
