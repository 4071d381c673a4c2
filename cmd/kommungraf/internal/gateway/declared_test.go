package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// The waste-collection system exists on the gateway's side only as
// schema/avfall.graphqls, schema/avfall.yaml and policy lines: these tests
// run it through the production configuration (authorization on, the
// demo's policy, the production batch settings).

// q1Pickups is Q1 with each property's waste pickups.
const q1Pickups = `{ errands(first: 50, caseType: "BYGGLOV") { edges { node {
    errandNumber status
    property { designation areaM2 owners { name } wastePickups { fraction nextDate } }
    stakeholders { role person { givenName surname address { city } } } } } } }`

// TestDeclaredPickupsAreOneCallPerRequest: Q1 with the properties' waste
// pickups makes exactly one pickups call per request, for all the page's
// properties, at 1 and 16 concurrent clients, and Q1's own calls stay as
// they were.
func TestDeclaredPickupsAreOneCallPerRequest(t *testing.T) {
	d := startDemo(t, productionBatching, time.Millisecond, false)
	people, properties := q1Distinct()
	want := map[upstreamCall]int64{
		{"etjanst", "listErrands"}:         1,
		{"etjanst", "lookupParties"}:       1,
		{"geodata", "items"}:               1,
		{"folkbokforing", "PersonpostXML"}: int64(people),
		{"avfall", "pickups"}:              1,
	}
	for _, clients := range []int{1, 16} {
		t.Run(fmt.Sprintf("%d-clients", clients), func(t *testing.T) {
			for _, id := range runConcurrently(t, d, "case-officer", q1Pickups, clients) {
				got := d.gw.Sim().Stats.Request(id)
				for c, n := range want {
					if calls := got[c.system][c.op].Calls; calls != n {
						t.Errorf("request %s: %s %s: %d calls, want %d (all: %v)", id, c.system, c.op, calls, n, got)
					}
				}
				if keys := got["avfall"]["pickups"].Keys; keys != int64(properties) {
					t.Errorf("request %s: the pickups call named %d properties, want the page's %d", id, keys, properties)
				}
			}
		})
	}
	if n := metric(t, d, `kommungraf_loader_flushes_total{trigger="timer"}`); n != "0" {
		t.Errorf("the dispatcher's safety-net timer fired %s times", n)
	}
	// The system's metrics carry the declaration's names.
	if n := metric(t, d, `kommungraf_upstream_calls_total{operation="pickups",outcome="ok",source="avfall"}`); n == "0" {
		t.Error("no avfall pickups calls in the metrics")
	}
}

// TestDeclaredPickupsServeTheSystemsData: every pickup of the page's
// properties, as the waste-collection system has it; warm, the same answer
// makes no pickups call.
func TestDeclaredPickupsServeTheSystemsData(t *testing.T) {
	d := startDemo(t, nil, 0, false) // the demo: record cache on
	w := testWorld()
	designation := map[string]string{}
	for _, p := range w.Properties {
		designation[p.Designation] = p.ObjectID
	}
	type pickup struct {
		Fraction, NextDate string
	}
	var cold []byte
	for i, phase := range []string{"cold", "warm"} {
		id := "pickups-" + phase
		raw := postAs(t, d, "case-officer", id, q1Pickups)
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
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, e := range r.Data.Errands.Edges {
			p := e.Node.Property
			if p == nil {
				continue
			}
			var want []pickup
			for _, pu := range w.PickupsOf[designation[p.Designation]] {
				want = append(want, pickup{pu.Fraction, pu.NextDate.Format(time.DateOnly)})
			}
			if !slices.Equal(p.WastePickups, want) {
				t.Fatalf("%s: %s pickups %v, want %v", phase, p.Designation, p.WastePickups, want)
			}
			checked++
		}
		if checked == 0 {
			t.Fatalf("%s: no properties in the answer: %s", phase, raw)
		}
		calls := d.gw.Sim().Stats.Request(id)["avfall"]["pickups"].Calls
		switch {
		case i == 0 && calls != 1:
			t.Fatalf("cold: %d pickups calls, want 1", calls)
		case i == 1 && calls != 0:
			t.Fatalf("warm: %d pickups calls, want none: the record cache answers", calls)
		}
		if i == 0 {
			cold = raw
		} else if !bytes.Equal(raw, cold) {
			t.Fatalf("warm answer differs from the cold one:\n%s\n%s", cold, raw)
		}
	}
}

// TestInvoiceRecipientFollowsThePolicy: the invoice recipient is a person
// (level 2, personal data). The analyst gets FORBIDDEN at its path and the
// schedule beside it; the case officer gets the person, and the access log
// names its data subject; a protected person is hidden from the case
// officer exactly like an unknown one (its level is raised to 3), and the
// attempt is logged.
func TestInvoiceRecipientFollowsThePolicy(t *testing.T) {
	// The demo's own world: the tests' smaller one invoices no protected person.
	w := sim.NewWorld(sim.WorldOptions{Seed: 1, People: sim.DefaultPeople})
	d := startDemoIn(t, w, nil, 0, false)
	var open, protected *sim.Pickup
	var openPerson *model.Person
	for _, pu := range w.Pickups {
		p := w.ByPNR[pu.Invoice.PersonalNumber]
		switch {
		case p == nil:
		case isProtected(p) && protected == nil:
			protected = pu
		case !isProtected(p) && open == nil:
			open, openPerson = pu, p
		}
	}
	if open == nil || protected == nil {
		t.Fatal("the test world has no invoice recipients of both kinds")
	}
	query := func(pu *sim.Pickup) string {
		return fmt.Sprintf(`{ property(designation: %q) { wastePickups { fraction invoiceRecipient { givenName surname } } } }`, designationOf(t, w, pu))
	}

	t.Run("analyst", func(t *testing.T) {
		r := d.as(t, "analyst").query(t, query(open))
		paths := forbiddenPaths(t, r)
		if len(paths) == 0 || paths[0] != "property.wastePickups.0.invoiceRecipient" {
			t.Fatalf("FORBIDDEN at %v, want at property.wastePickups.0.invoiceRecipient: %s", paths, r.raw)
		}
		if !strings.Contains(r.raw, `"fraction":"`+open.Fraction+`"`) && !strings.Contains(r.raw, `"fraction":"REST"`) {
			t.Fatalf("the schedule beside it was not served: %s", r.raw)
		}
	})

	t.Run("case officer", func(t *testing.T) {
		raw := postAs(t, d, "case-officer", "invoice-open", query(open))
		want := fmt.Sprintf(`"invoiceRecipient":{"givenName":%q,"surname":%q}`, openPerson.GivenName, openPerson.Surname)
		if !strings.Contains(string(raw), want) || strings.Contains(string(raw), `"errors"`) {
			t.Fatalf("answer %s, want %s", raw, want)
		}
		e := accessEntry(t, d, "invoice-open")
		if !slices.Contains(e.Fields, "WastePickup.invoiceRecipient") || !slices.Contains(e.Persons, d.gw.PersonHasher().Hash(openPerson.PersonalNumber)) {
			t.Fatalf("access log entry %+v: want WastePickup.invoiceRecipient with its data subject", e)
		}
	})

	t.Run("case officer, protected person", func(t *testing.T) {
		raw := postAs(t, d, "case-officer", "invoice-protected", query(protected))
		if !strings.Contains(string(raw), `"invoiceRecipient":null`) || strings.Contains(string(raw), `"errors"`) {
			t.Fatalf("answer %s: want the protected recipient null, as an unknown one, without an error", raw)
		}
		e := accessEntry(t, d, "invoice-protected")
		if !deniedAt(e.Denied, "WastePickup.invoiceRecipient") || slices.Contains(e.Persons, d.gw.PersonHasher().Hash(protected.Invoice.PersonalNumber)) {
			t.Fatalf("access log entry %+v: want the attempt denied and the person not served", e)
		}
	})
}

// postAs sends query as persona with a request id and returns the body;
// the answer must be HTTP 200.
func postAs(t *testing.T, d *demo, persona, id, query string) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+d.token(t, persona))
	req.Header.Set("X-Request-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, raw)
	}
	return raw
}

// accessEntry is the access log's entry of a request.
func accessEntry(t *testing.T, d *demo, requestID string) authz.AccessEntry {
	t.Helper()
	if err := d.gw.AccessLog().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(d.gw.AccessLogLocation())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e authz.AccessEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.RequestID == requestID {
			return e
		}
	}
	t.Fatalf("no access log entry for request %s", requestID)
	return authz.AccessEntry{}
}

// TestStartRefusesABadDeclaration: a declaration that does not fit the
// schema stops the start with the located list, before anything runs.
func TestStartRefusesABadDeclaration(t *testing.T) {
	good, err := os.ReadFile("../../../../schema/avfall.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.NewReplacer("type: WastePickup", "type: WastePickups", "      - partyId: invoicePartyId\n", "").Replace(string(good))
	failStart(t, startCase{
		name:         "bad declaration",
		declarations: withFile(declared.Files(), "schema/avfall.yaml", []byte(bad)),
		want: []string{
			"source declarations: 3 problem(s)",
			"schema/avfall.graphqls:3: Property.wastePickups is of type WastePickup but resource avfall.pickups has records of type WastePickups",
			"schema/avfall.yaml:15: resource avfall.pickups: type WastePickups is not an object type of the schema",
		},
	})
	// And the gateway it would have been still starts with the real one.
	d := serve(t, config.Demo(), gateway.Options{Demo: true, World: tinyWorld(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if d.gw.Sim() == nil {
		t.Fatal("no demo")
	}
}

// designationOf is the designation of the property of pickup pu in w.
func designationOf(t *testing.T, w *sim.World, pu *sim.Pickup) string {
	t.Helper()
	for _, p := range w.Properties {
		if p.ObjectID == pu.PropertyID {
			return p.Designation
		}
	}
	t.Fatalf("no property %s", pu.PropertyID)
	return ""
}
