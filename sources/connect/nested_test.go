package connect_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// nestedHTTP maps a nested object (container), a nested list (lines) and a
// part without a path (look: fields of the record itself).
const nestedHTTP = `
system: sopor
owner: O
connector: http
probe: api/health
resources:
  bins:
    type: Bin
    by: propertyId
    list: true
    http:
      batch: { get: "api/bins?ids={keys}" }
      records: bins.bin
      format: %s
    fields:
      propertyId: id
      container: { path: container, fields: { litres: sizeLitres, kind: type } }
      lines: { path: invoice.lines.line, fields: { text: text, amount: amountSek } }
      look: { fields: { colour: colour } }
`

// TestHTTPNestedParts: a JSON and an XML answer's nested objects and lists
// are mapped field by field under the schema's names; what is absent is
// left out, a part none of whose fields are there too; a value that is not an object is kept for the decoder to
// refuse.
func TestHTTPNestedParts(t *testing.T) {
	for _, tc := range []struct {
		name, format, body, want string
	}{
		{name: "json", format: "json",
			body: `{"bins":{"bin":[
				{"id":"p1","colour":"grön","container":{"sizeLitres":140,"type":"kärl","secret":"x"},
				 "invoice":{"lines":{"line":[{"text":"Tömning","amountSek":25,"pnr":"19121212-1212"},{"text":"Vikt"}]}}},
				{"id":"p2","container":"oops"}]}}`,
			want: `{"p1":[{"container":{"kind":"kärl","litres":140},"lines":[{"amount":25,"text":"Tömning"},{"text":"Vikt"}],"look":{"colour":"grön"},"propertyId":"p1"}],` +
				`"p2":[{"container":"oops","propertyId":"p2"}]}`},
		{name: "xml", format: "xml",
			body: `<?xml version="1.0"?><answer><bins>
				<bin><id>p1</id><colour>grön</colour><container><sizeLitres>140</sizeLitres><type>kärl</type></container>
				  <invoice><lines><line><text>Tömning</text><amountSek>25</amountSek></line><line><text>Vikt</text></line></lines></invoice></bin>
				<bin><id>p2</id><invoice><lines><line><text>Tömning</text></line></lines></invoice></bin></bins></answer>`,
			// An element that occurs once is an object, which the decoder
			// reads as a list of one where the schema has a list.
			want: `{"p1":[{"container":{"kind":"kärl","litres":"140"},"lines":[{"amount":"25","text":"Tömning"},{"text":"Vikt"}],"look":{"colour":"grön"},"propertyId":"p1"}],` +
				`"p2":[{"lines":{"text":"Tömning"},"propertyId":"p2"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := declared(t, "schema/sopor.yaml", []byte(strings.Replace(nestedHTTP, "%s", tc.format, 1)))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/"+tc.format)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			got, err := newHTTP(t, set.Resource("sopor.bins"), srv.URL, nil).Fetch(context.Background(), []string{"p1", "p2"})
			if err != nil {
				t.Fatal(err)
			}
			if g := toJSON(t, got); g != tc.want {
				t.Fatalf("records\n%s\nwant\n%s", g, tc.want)
			}
		})
	}
}

// TestFieldsFlattenTheNestedParts: the SOAP and SQL connectors take a
// nested part's fields as object.field, their paths below the part's.
func TestFieldsFlattenTheNestedParts(t *testing.T) {
	set := declared(t, "schema/sopor.yaml", []byte(strings.Replace(nestedHTTP, "%s", "json", 1)))
	got := connect.Fields(set.Resource("sopor.bins"))
	want := map[string]string{
		"propertyId": "id", "container.litres": "container.sizeLitres", "container.kind": "container.type",
		"lines.text": "invoice.lines.line.text", "lines.amount": "invoice.lines.line.amountSek", "look.colour": "colour",
	}
	if toJSON(t, got) != toJSON(t, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
}

// TestSQLNestedPartGroupsColumns: an sql resource's nested part without a
// path groups columns of the row into an object, on both databases; a row
// whose grouped columns are all NULL has no object (null).
func TestSQLNestedPartGroupsColumns(t *testing.T) {
	set := declared(t, "schema/avfall.yaml", []byte(`
system: avfall
owner: O
connector: sql
resources:
  pickups:
    type: WastePickup
    list: true
    sql:
      query: >-
        SELECT property_id, fraction, weekday, container_litres, invoice_party_id
        FROM pickups WHERE property_id IN ({keys}) ORDER BY property_id, fraction
      key: property_id
    fields:
      propertyId: property_id
      fraction: fraction
      schedule: { fields: { weekday: weekday, litres: container_litres } }
      invoice: { fields: { partyId: invoice_party_id } }
`))
	if ps := connect.CheckParts(set); len(ps) > 0 {
		t.Fatal(ps.Err())
	}
	w := sqlWorld()
	var key string
	var pickups []*sim.Pickup
	for _, p := range w.Properties {
		if pus := w.PickupsOf[p.ObjectID]; len(pus) > 0 && pus[0].Invoice.PersonalNumber == "" {
			key, pickups = p.ObjectID, slices.Clone(pus)
			break
		}
	}
	if key == "" {
		t.Fatal("the world has no pickups invoiced to an organisation")
	}
	slices.SortFunc(pickups, func(a, b *sim.Pickup) int { return strings.Compare(a.Fraction, b.Fraction) })
	var want []string
	for _, pu := range pickups {
		want = append(want, `{"fraction":"`+pu.Fraction+`","invoice":null,"propertyId":"`+key+`","schedule":{"litres":`+
			strings.TrimSpace(toJSON(t, pu.ContainerLitres))+`,"weekday":"`+strings.ToUpper(pu.Weekday.String())+`"}}`)
	}
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			seedPickupsTable(t, db, w)
			c, err := connect.Open(t.Context(), set, set.Resource("avfall.pickups"), connect.Env{Store: db.store})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			got, err := c.Fetch(ctx, []string{key})
			if err != nil {
				t.Fatal(err)
			}
			if g, w := toJSON(t, got[key]), "["+strings.Join(want, ",")+"]"; g != w {
				t.Fatalf("records\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// TestNestedPartProblemsAreLocated: a connector's problem with a nested
// part's field is located at that field's line in the declaration.
func TestNestedPartProblemsAreLocated(t *testing.T) {
	set := declared(t, "schema/avfall.yaml", []byte(`system: avfall
owner: O
connector: sql
resources:
  pickups:
    type: WastePickup
    list: true
    sql:
      query: SELECT property_id, weekday FROM pickups WHERE property_id IN ({keys})
      key: property_id
    fields:
      propertyId: property_id
      schedule:
        fields:
          weekday: weekday
          litres: container_litres
`))
	db := openSQL(t, "sqlite")
	seedPickupsTable(t, db, sqlWorld())
	_, err := connect.Open(t.Context(), set, set.Resource("avfall.pickups"), connect.Env{Store: db.store})
	if err == nil || !strings.Contains(err.Error(), "schema/avfall.yaml:16: resource avfall.pickups: fields.schedule.litres:") {
		t.Fatalf("error %v, want the unknown column located at line 16", err)
	}
}

// TestSOAPNestedParts: the registry's person declared with nested parts
// (its address and forwarding address as objects of elements below the
// record's) is the SOAP connector's mapping of object.field names, and
// answers the records of the flat mapping the golden file pins.
func TestSOAPNestedParts(t *testing.T) {
	set := declared(t, "schema/folkbokforing.yaml", []byte(`system: folkbokforing
owner: O
connector: soap
resources:
  person:
    type: Person
    list: false
    soap: { wsdl: navet.wsdl, operation: PersonpostXML, records: Folkbokforingspost }
    fields:
      personalNumber: Personpost.PersonId.PersonNr
      givenName: Personpost.Namn.Fornamn
      middleName: Personpost.Namn.Mellannamn
      surname: Personpost.Namn.Efternamn
      address:
        path: Personpost.Folkbokforingsadress
        fields: { street: Utdelningsadress2, postalCode: PostNr, city: Postort }
      forwardingAddress: { path: Personpost, fields: { street: Formedlingsadress.Utdelningsadress2, city: Formedlingsadress.Postort } }
      protectedIdentity: SkyddadFolkbokforing
      confidentialityMarking: Sekretessmarkering
      relations: Personpost.Relationer.Relation
      relatedNumbers: Personpost.Relationer.Relation.RelationId.PersonNr
      deregistered: Personpost.Avregistrering.Avregistreringsdatum
`))
	fields := connect.Fields(set.Resource("folkbokforing.person"))
	if toJSON(t, fields) != toJSON(t, navetFields) {
		t.Fatalf("fields %v, want the flat mapping %v", fields, navetFields)
	}
	people := findPeople(t, map[string]func(*model.Person) bool{
		"guardian":  personKinds["middle name, spouse and children"],
		"protected": personKinds["protected identity"],
	})
	srv := startNavet(t, sim.FaultConfig{})
	got, err := newSOAP(t, srv.client(t, nil), navetDecl(""), fields).Fetch(t.Context(), []string{people["guardian"].PersonalNumber, people["protected"].PersonalNumber})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "navet_records.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(append(b, '\n')) != string(want) || !strings.Contains(string(want), `"address": {`) {
		t.Fatalf("records\n%s\nwant testdata/navet_records.golden.json", b)
	}
}
