package sim

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/soap"
)

// updateHTTPGolden rewrites the golden files of the HTTP simulators.
var updateHTTPGolden = flag.Bool("update-http-golden", false, "rewrite sources/sim/testdata golden files of the HTTP simulators")

// httpTestWorld is the small world the HTTP simulator tests share. Seed 5
// has protected and confidentiality-marked people among its 300.
var httpTestWorld = sync.OnceValue(func() *World { return NewWorld(WorldOptions{Seed: 5, People: 300}) })

// findPerson returns the first person of the test world that satisfies ok.
func findPerson(t *testing.T, what string, ok func(*model.Person) bool) *model.Person {
	t.Helper()
	for _, p := range httpTestWorld().People {
		if ok(p) {
			return p
		}
	}
	t.Fatalf("the test world has no %s; choose another seed", what)
	return nil
}

func personpostEnvelope(t *testing.T, order, pnr string) []byte {
	t.Helper()
	b, err := soap.Marshal(soap.PersonpostRequest{
		NS:          soap.NavetNamespace,
		Bestallning: soap.Bestallning{OrgNr: "212000-0000", BestallningsID: order},
		PersonID:    pnr,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// navetAnswer is a decoded PersonpostXML answer: a record or a fault.
type navetAnswer struct {
	status int
	header http.Header
	body   []byte
	post   *soap.Folkbokforingspost
	fault  *soap.Fault
}

// callNavet posts body with the SOAPAction action ("-" for none) and decodes the answer.
func callNavet(t *testing.T, url, action string, body []byte) navetAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if action != "-" {
		req.Header.Set("SOAPAction", action)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := navetAnswer{status: resp.StatusCode, header: resp.Header, body: raw}
	var env soap.Envelope
	if err := xml.Unmarshal(raw, &env); err != nil {
		t.Fatalf("answer is not a SOAP envelope: %v\n%s", err, raw)
	}
	if env.Body.Fault != nil {
		a.fault = env.Body.Fault
		return a
	}
	var pr soap.PersonpostResponse
	if err := xml.Unmarshal(env.Body.Content, &pr); err != nil {
		t.Fatalf("answer is not a PersonpostXMLResponse: %v\n%s", err, raw)
	}
	a.post = &pr.Folkbokforingspost
	return a
}

// wantPost is the registry record the simulator should send for p, built
// field by field from the model.
func wantPost(p *model.Person) soap.Folkbokforingspost {
	yn := map[bool]string{true: "J", false: "N"}
	post := soap.Personpost{
		PersonID: soap.PersonID{PersonNr: p.PersonalNumber},
		Namn:     soap.Namn{Fornamn: p.GivenName, Mellannamn: p.MiddleName, Efternamn: p.Surname},
	}
	addr := &soap.Adress{Utdelningsadress2: p.Address.Street, PostNr: p.Address.PostalCode, Postort: p.Address.City}
	if p.ProtectedIdentity {
		post.Formedlingsadress = addr
	} else {
		post.Folkbokforingsadress = addr
	}
	for _, r := range p.Relations {
		post.Relationer.Relation = append(post.Relationer.Relation,
			soap.Relation{RelationID: soap.PersonID{PersonNr: r.PersonalNumber}, Relationstyp: string(r.Kind)})
	}
	return soap.Folkbokforingspost{
		Sekretessmarkering: yn[p.ConfidentialityMarking], SkyddadFolkbokforing: yn[p.ProtectedIdentity], Personpost: post,
	}
}

func TestNavetPersonpost(t *testing.T) {
	w := httpTestWorld()
	family := findPerson(t, "guardian with a spouse and children", func(p *model.Person) bool {
		return !p.ProtectedIdentity && len(p.RelatedNumbers(model.RelationChild)) > 0 &&
			len(p.RelatedNumbers(model.RelationSpouse)) > 0
	})
	child := findPerson(t, "child", func(p *model.Person) bool { return len(p.RelatedNumbers(model.RelationGuardian)) > 0 })
	protected := findPerson(t, "protected person", func(p *model.Person) bool { return p.ProtectedIdentity })
	marked := findPerson(t, "confidentiality-marked person", func(p *model.Person) bool { return p.ConfidentialityMarking })

	srv := httptest.NewServer(NewNavet(w, NavetOptions{}))
	defer srv.Close()

	tests := []struct {
		name, path, action string
		person             *model.Person
	}{
		{"guardian with relations", "/", soap.NavetAction, family},
		{"child with guardians", "/personpost", soap.NavetAction, child},
		{"protected identity", "/", soap.NavetAction, protected},
		{"confidentiality marking", "/", soap.NavetAction, marked},
		{"quoted SOAPAction", "/", `"PersonpostXML"`, family},
		{"no SOAPAction", "/personpost", "-", family},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := callNavet(t, srv.URL+tc.path, tc.action, personpostEnvelope(t, DefaultOrder, tc.person.PersonalNumber))
			if a.status != http.StatusOK || a.fault != nil {
				t.Fatalf("status %d, fault %v", a.status, a.fault)
			}
			if ct := a.header.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if want := wantPost(tc.person); !reflect.DeepEqual(*a.post, want) {
				t.Errorf("record mismatch\n got %+v\nwant %+v", *a.post, want)
			}
		})
	}

	t.Run("protected person has only a forwarding address", func(t *testing.T) {
		a := callNavet(t, srv.URL, soap.NavetAction, personpostEnvelope(t, DefaultOrder, protected.PersonalNumber))
		pp := a.post.Personpost
		if pp.Folkbokforingsadress != nil || pp.Formedlingsadress == nil || a.post.SkyddadFolkbokforing != "J" {
			t.Fatalf("protected person: folkbokföringsadress %v, förmedlingsadress %v, skyddad %q",
				pp.Folkbokforingsadress, pp.Formedlingsadress, a.post.SkyddadFolkbokforing)
		}
		if bytes.Contains(a.body, []byte("Folkbokforingsadress")) {
			t.Errorf("the answer names a Folkbokforingsadress:\n%s", a.body)
		}
	})
}

func TestNavetFaults(t *testing.T) {
	w := httpTestWorld()
	known := w.People[0].PersonalNumber
	// The request is valid but for its DOCTYPE, which is reason enough to refuse it.
	doctype := `<?xml version="1.0"?>
<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<PersonpostRequest><Bestallning><OrgNr>212000-0000</OrgNr><BestallningsId>KOMMUNGRAF-DEMO</BestallningsId></Bestallning>
<PersonId>` + known + `</PersonId></PersonpostRequest></soap:Body></soap:Envelope>`

	tests := []struct {
		name       string
		with200    bool
		action     string
		body       []byte
		wantStatus int
		wantCode   string // faultcode
		wantFelkod string
	}{
		{"unknown person", false, soap.NavetAction, personpostEnvelope(t, DefaultOrder, "191212121212"), 500, "soap:Client", soap.FelkodPersonSaknas},
		{"unknown person with HTTP 200", true, soap.NavetAction, personpostEnvelope(t, DefaultOrder, "191212121212"), 200, "soap:Client", soap.FelkodPersonSaknas},
		{"unauthorised order", false, soap.NavetAction, personpostEnvelope(t, "SOMEONE-ELSE", known), 500, "soap:Client", soap.FelkodEjBehorig},
		{"empty order", false, soap.NavetAction, personpostEnvelope(t, "", known), 500, "soap:Client", soap.FelkodEjBehorig},
		{"markup in PersonId is data", false, soap.NavetAction, personpostEnvelope(t, DefaultOrder, "<PersonId>"+known+"</PersonId>"), 500, "soap:Client", soap.FelkodPersonSaknas},
		{"DOCTYPE rejected", false, soap.NavetAction, []byte(doctype), 500, "soap:Client", soap.FelkodFelaktigBegaran},
		{"not XML", false, soap.NavetAction, []byte("{\"personId\": 1}"), 500, "soap:Client", soap.FelkodFelaktigBegaran},
		{"truncated XML", false, soap.NavetAction, personpostEnvelope(t, DefaultOrder, known)[:120], 500, "soap:Client", soap.FelkodFelaktigBegaran},
		{"wrong body element", false, soap.NavetAction, mustMarshalSOAP(t, struct {
			XMLName xml.Name `xml:"Other"`
		}{}), 500, "soap:Client", soap.FelkodFelaktigBegaran},
		{"missing PersonId", false, soap.NavetAction, personpostEnvelope(t, DefaultOrder, ""), 500, "soap:Client", soap.FelkodFelaktigBegaran},
		{"other SOAPAction", false, "DeleteEverything", personpostEnvelope(t, DefaultOrder, known), 500, "soap:Client", soap.FelkodFelaktigBegaran},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			faults := NewFaults()
			faults.Set(FaultConfig{SOAPFaultsWith200: tc.with200})
			stats := NewStats()
			srv := httptest.NewServer(NewNavet(w, NavetOptions{Stats: stats, Faults: faults}))
			defer srv.Close()

			a := callNavet(t, srv.URL, tc.action, tc.body)
			if a.status != tc.wantStatus {
				t.Errorf("status = %d, want %d", a.status, tc.wantStatus)
			}
			if a.fault == nil {
				t.Fatalf("no fault in the answer:\n%s", a.body)
			}
			if a.fault.FaultCode != tc.wantCode || a.fault.Detail == nil || a.fault.Detail.Felkod != tc.wantFelkod {
				t.Errorf("fault = %v, want %s with Felkod %s", a.fault, tc.wantCode, tc.wantFelkod)
			}
			if tc.wantFelkod == soap.FelkodPersonSaknas && a.fault.FaultString != "Person saknas" {
				t.Errorf("faultstring = %q", a.fault.FaultString)
			}
			if got := stats.Snapshot()["folkbokforing"][soap.NavetAction]; got != (Counter{Calls: 1, Keys: 1}) {
				t.Errorf("stats = %+v, want one call with one key", got)
			}
		})
	}
}

func mustMarshalSOAP(t *testing.T, payload any) []byte {
	t.Helper()
	b, err := soap.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNavetOrdersAndMethods(t *testing.T) {
	w := httpTestWorld()
	pnr := w.People[0].PersonalNumber
	stats := NewStats()
	srv := httptest.NewServer(NewNavet(w, NavetOptions{Stats: stats, AuthorisedOrders: []string{"ORDER-A", "ORDER-B"}}))
	defer srv.Close()

	for _, tc := range []struct {
		order      string
		wantFelkod string
	}{{"ORDER-A", ""}, {"ORDER-B", ""}, {DefaultOrder, soap.FelkodEjBehorig}} {
		t.Run(tc.order, func(t *testing.T) {
			a := callNavet(t, srv.URL, soap.NavetAction, personpostEnvelope(t, tc.order, pnr))
			switch {
			case tc.wantFelkod == "" && a.fault != nil:
				t.Fatalf("fault %v", a.fault)
			case tc.wantFelkod != "" && (a.fault == nil || a.fault.Detail.Felkod != tc.wantFelkod):
				t.Fatalf("want Felkod %s, got %v", tc.wantFelkod, a.fault)
			}
		})
	}

	for _, tc := range []struct {
		method, path string
		want         int
	}{{http.MethodGet, "/", 405}, {http.MethodPut, "/personpost", 405}, {http.MethodPost, "/other", 404}} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader(""))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if got := stats.Calls("folkbokforing", soap.NavetAction); got != 3 {
		t.Errorf("PersonpostXML calls = %d, want 3 (wrong methods and paths are not calls)", got)
	}
}

// TestNavetGolden pins the wire form of one protected and one ordinary
// person's answer; the SOAP connector decodes exactly this.
func TestNavetGolden(t *testing.T) {
	w := httpTestWorld()
	srv := httptest.NewServer(NewNavet(w, NavetOptions{}))
	defer srv.Close()
	for _, tc := range []struct {
		file   string
		person *model.Person
	}{
		{"navet_personpost.xml", findPerson(t, "guardian", func(p *model.Person) bool {
			return !p.ProtectedIdentity && len(p.RelatedNumbers(model.RelationChild)) > 0
		})},
		{"navet_personpost_protected.xml", findPerson(t, "protected person", func(p *model.Person) bool { return p.ProtectedIdentity })},
	} {
		t.Run(tc.file, func(t *testing.T) {
			a := callNavet(t, srv.URL, soap.NavetAction, personpostEnvelope(t, DefaultOrder, tc.person.PersonalNumber))
			checkGolden(t, tc.file, a.body)
		})
	}
}

// checkGolden compares got with testdata/name, or rewrites it with -update-http-golden.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateHTTPGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update-http-golden to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\n got: %s\nwant: %s", name, got, want)
	}
}
