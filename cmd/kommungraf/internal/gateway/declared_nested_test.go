package gateway_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// The emptyings (schema/tomningar.yaml) map two nested parts: the vehicle
// (an object, level 0) and the fee (a list of objects, personal data about
// the invoiced person, whose data subjects are the emptying's).

type nestedPage struct {
	Data struct {
		Property struct {
			WasteCollections struct {
				Edges []struct {
					Node struct {
						ID      string
						Vehicle *struct{ Registration, Route string }
						Fee     []*struct {
							Text      *string
							AmountSek *float64
						}
					}
				}
			}
		}
	}
	Errors []gqlError
}

func nestedQuery(designation string) string {
	return fmt.Sprintf(`{ property(designation: %q) { wasteCollections(first: 3) { edges { node {
		id vehicle { registration route } fee { text amountSek } } } } } }`, designation)
}

// TestDeclaredNestedParts: the vehicle and the fee lines of a property's
// emptyings decode from the simulator's nested objects and list, through
// the gateway. The fee is the invoiced person's data: the case officer
// reads it, and the access log names that person; for a protected person
// it is refused as a whole (its level raised to 3), and the person is not
// logged as served; an emptying invoiced to an organisation has no fee and
// names no one, without an error. The fee is personal data itself: the
// analyst learns neither its lines nor whether there are any.
func TestDeclaredNestedParts(t *testing.T) {
	// The demo's own world: the tests' smaller one invoices no protected person.
	w := sim.NewWorld(sim.WorldOptions{Seed: 1, People: sim.DefaultPeople})
	d := startDemoIn(t, w, nil, 0, false)
	all := sim.CollectionsOf(w)
	var open, protected, organisation *sim.Pickup
	var openPerson *model.Person
	for _, pu := range w.Pickups {
		p := w.ByPNR[pu.Invoice.PersonalNumber]
		switch {
		case len(all[pu.PropertyID]) < 3:
		case pu.Invoice.PersonalNumber == "" && organisation == nil:
			organisation = pu
		case p == nil:
		case isProtected(p) && protected == nil:
			protected = pu
		case !isProtected(p) && open == nil:
			open, openPerson = pu, p
		}
	}
	if open == nil || protected == nil || organisation == nil {
		t.Fatal("the demo world has no emptyings invoiced to an open person, a protected one and an organisation")
	}
	ask := func(t *testing.T, persona, id string, pu *sim.Pickup) (nestedPage, string) {
		t.Helper()
		raw := postAs(t, d, persona, id, nestedQuery(designationOf(t, w, pu)))
		var r nestedPage
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Data.Property.WasteCollections.Edges) != 3 {
			t.Fatalf("want 3 emptyings: %s", raw)
		}
		return r, string(raw)
	}

	t.Run("case officer", func(t *testing.T) {
		r, raw := ask(t, "case-officer", "nested-open", open)
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", raw)
		}
		for i, e := range r.Data.Property.WasteCollections.Edges {
			want := all[open.PropertyID][i]
			n := e.Node
			if n.ID != want.ID || n.Vehicle == nil || n.Vehicle.Registration != want.Vehicle.RegNr || n.Vehicle.Route != want.Vehicle.Route {
				t.Fatalf("emptying %d: %+v (vehicle %+v), want %+v", i, n, n.Vehicle, want)
			}
			if want.Invoice == nil || len(n.Fee) != len(want.Invoice.Lines) {
				t.Fatalf("emptying %d: fee %s, want %+v", i, raw, want.Invoice)
			}
			for j, l := range want.Invoice.Lines {
				if got := n.Fee[j]; got == nil || got.Text == nil || *got.Text != l.Text || got.AmountSek == nil || math.Abs(*got.AmountSek-l.Amount) > 1e-9 {
					t.Fatalf("emptying %d fee line %d: %s, want %+v", i, j, raw, l)
				}
			}
		}
		e := accessEntry(t, d, "nested-open")
		if !slices.Contains(e.Fields, "WasteCollection.fee") || !slices.Contains(e.Fields, "WasteCollectionFee.amountSek") || !slices.Contains(e.Persons, d.gw.PersonHasher().Hash(openPerson.PersonalNumber)) {
			t.Fatalf("access log entry %+v: want WasteCollectionFee.amountSek with its data subject", e)
		}
	})

	t.Run("case officer, protected person", func(t *testing.T) {
		r, raw := ask(t, "case-officer", "nested-protected", protected)
		if n := r.Data.Property.WasteCollections.Edges[0].Node; n.Vehicle == nil || n.Vehicle.Registration == "" {
			t.Fatalf("the vehicle beside the fee was not served: %s", raw)
		}
		refused := map[string]bool{}
		for _, e := range r.Errors {
			if e.Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("unexpected error %+v in %s", e, raw)
			}
			refused[fmt.Sprint(e.Path...)] = true
		}
		if !refused["propertywasteCollectionsedges0nodefee"] || strings.Contains(raw, `"amountSek":`+fmt.Sprint(all[protected.PropertyID][0].Invoice.Lines[0].Amount)) {
			t.Fatalf("the protected person's fee was not refused: %s", raw)
		}
		e := accessEntry(t, d, "nested-protected")
		if !deniedAt(e.Denied, "WasteCollection.fee") || slices.Contains(e.Persons, d.gw.PersonHasher().Hash(protected.Invoice.PersonalNumber)) {
			t.Fatalf("access log entry %+v: want the attempt denied and the person not served", e)
		}
	})

	t.Run("case officer, an organisation invoiced", func(t *testing.T) {
		r, raw := ask(t, "case-officer", "nested-organisation", organisation)
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", raw)
		}
		for i, e := range r.Data.Property.WasteCollections.Edges {
			if e.Node.Fee != nil || e.Node.Vehicle == nil {
				t.Fatalf("emptying %d: want a vehicle and no fee: %s", i, raw)
			}
		}
	})

	t.Run("analyst", func(t *testing.T) {
		r, raw := ask(t, "analyst", "nested-analyst", open)
		if n := r.Data.Property.WasteCollections.Edges[0].Node; n.Vehicle == nil || n.Vehicle.Route != all[open.PropertyID][0].Vehicle.Route {
			t.Fatalf("the vehicle (level 0) was not served: %s", raw)
		}
		paths := forbiddenPaths(t, response{Errors: r.Errors, raw: raw})
		if !slices.Contains(paths, "property.wasteCollections.edges.0.node.fee") {
			t.Fatalf("FORBIDDEN at %v, want the fee: %s", paths, raw)
		}
		// Whether an emptying has a fee, and how many lines, is the
		// invoiced person's data too: not served without its fields.
		raw = string(postAs(t, d, "analyst", "nested-analyst-typename", fmt.Sprintf(`{ property(designation: %q) {
			wasteCollections(first: 3) { edges { node { id fee { __typename } } } } } }`, designationOf(t, w, open))))
		if strings.Contains(raw, "WasteCollectionFee") || !strings.Contains(raw, `"fee":null`) {
			t.Fatalf("the analyst learnt the fee's lines without reading them: %s", raw)
		}
	})
}

// TestStartRefusesANestedPartWithoutSubjects: the emptyings' fee lines are
// personal data; a declaration that no longer names the emptyings' data
// subjects, or maps the fee as a path, stops the start, located.
func TestStartRefusesANestedPartWithoutSubjects(t *testing.T) {
	good, err := os.ReadFile("../../../../schema/tomningar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.NewReplacer("    subjects:\n      - partyId: invoicePartyId   # the fee's lines are about this person\n", "",
		"vehicle: { path: vehicle, fields: { registration: regNr, route: route } }", "vehicle: vehicle").Replace(string(good))
	if bad == string(good) {
		t.Fatal("schema/tomningar.yaml has changed: the test no longer breaks it")
	}
	failStart(t, startCase{
		name:         "nested parts",
		declarations: withFile(declared.Files(), "schema/tomningar.yaml", []byte(bad)),
		want: []string{
			"schema/tomningar.yaml:15: resource tomningar.collections: type WasteCollection holds personal data (@personal) but the declaration has no subjects",
			"schema/tomningar.yaml:35: resource tomningar.collections: field WasteCollection.vehicle is an object of type WasteCollectionVehicle: map it with a nested part",
		},
	})
}
