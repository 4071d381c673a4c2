package connect_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// declProblem is an expected declaration error: the key it names and a
// part of its message.
type declProblem struct {
	key  string // the DeclError's Key joined with " > "
	text string
}

// problems reduces errors to declProblems, failing on any that is not a
// *DeclError.
func problems(t *testing.T, errs []error) []declProblem {
	t.Helper()
	var out []declProblem
	for _, err := range errs {
		var de *connect.DeclError
		if !errors.As(err, &de) {
			t.Fatalf("error %v (%T) is not a *connect.DeclError", err, err)
		}
		out = append(out, declProblem{key: strings.Join(de.Key, " > "), text: de.Err.Error()})
	}
	return out
}

// matches reports whether got holds every wanted problem and nothing else.
func matches(got, want []declProblem) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g declProblem) bool { return g.key == w.key && strings.Contains(g.text, w.text) }) {
			return false
		}
	}
	return true
}

// navetWSDLWith returns the simulator's WSDL with edits applied (old, new pairs).
func navetWSDLWith(t *testing.T, edits ...string) []byte {
	t.Helper()
	s := string(sim.NavetWSDL())
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("navet.wsdl has no %q", edits[i])
		}
		s = strings.ReplaceAll(s, edits[i], edits[i+1])
	}
	return []byte(s)
}

// TestSOAPDeclarationErrors lists what a bad declaration is told: each
// problem names its key (for the loader's file:line) and says what is wrong.
func TestSOAPDeclarationErrors(t *testing.T) {
	// The simulator's WSDL without its SOAP 1.2 binding and port.
	only11 := navetWSDLWith(t,
		`<wsdl:port name="PersonpostSoap12Port" binding="tns:PersonpostSoap12Binding">
      <soap12:address location="http://127.0.0.1:8081/personpost"/>
    </wsdl:port>`, "")
	twoServices := navetWSDLWith(t, `</wsdl:definitions>`, `<wsdl:service name="Other"/></wsdl:definitions>`)
	rpc := navetWSDLWith(t, `<soap:binding style="document"`, `<soap:binding style="rpc"`,
		`<soap:operation soapAction="PersonpostXML" style="document"/>`, `<soap:operation soapAction="PersonpostXML"/>`)
	encoded := navetWSDLWith(t, `<wsdl:input><soap:body use="literal"/></wsdl:input>`, `<wsdl:input><soap:body use="encoded"/></wsdl:input>`)
	typedPart := navetWSDLWith(t, `<wsdl:part name="parameters" element="tns:PersonpostRequest"/>`, `<wsdl:part name="parameters" type="tns:BestallningTYPE"/>`)
	missingType := navetWSDLWith(t, `type="tns:NamnTYPE"`, `type="tns:NameTYPE"`)

	tests := []struct {
		name   string
		wsdl   []byte // default: the simulator's
		edit   func(*connect.SOAPCall)
		fields map[string]string // default: navetFields
		want   []declProblem
	}{
		{"no WSDL, no operation", nil, func(d *connect.SOAPCall) { d.WSDL, d.Operation = "", "" }, nil, []declProblem{
			{"soap > wsdl", "is required"}, {"soap > operation", "is required"}}},
		{"WSDL outside the declaration's folder", nil, func(d *connect.SOAPCall) { d.WSDL = "../secrets/navet.wsdl" }, nil, []declProblem{
			{"soap > wsdl", "inside it"}}},
		{"WSDL as a URL", nil, func(d *connect.SOAPCall) { d.WSDL = "https://navet.example/ws?wsdl" }, nil, []declProblem{
			{"soap > wsdl", `"?wsdl"`}}},
		{"unknown version", nil, func(d *connect.SOAPCall) { d.Version = "1.3" }, nil, []declProblem{
			{"soap > version", `"1.3" is not a SOAP version`}}},
		{"unknown placeholder", nil, func(d *connect.SOAPCall) { d.Request["PersonId"] = "{pnr}" }, nil, []declProblem{
			{"soap > request > PersonId", "unknown placeholder {pnr}"}, {"soap > request", "no value uses {key}"}}},
		{"unclosed placeholder", nil, func(d *connect.SOAPCall) { d.Request["PersonId"] = "{key" }, nil, []declProblem{
			{"soap > request > PersonId", "without }"}, {"soap > request", "no value uses {key}"}}},
		{"bad paths", nil, func(d *connect.SOAPCall) { d.Request["Bestallning..OrgNr"] = "x"; d.Records = "a b" }, nil, []declProblem{
			{"soap > request > Bestallning..OrgNr", "not a dotted path"}, {"soap > records", "not a dotted path"}}},
		{"a code in two fault lists", nil, func(d *connect.SOAPCall) { d.Faults.Rejected = []string{"1001"} }, nil, []declProblem{
			{"soap > faults > rejected", `"1001" is also in notFound`}}},
		{"security without a mechanism, bad variable", nil, func(d *connect.SOAPCall) {
			d.Security = &connect.SOAPSecurity{}
		}, nil, []declProblem{{"soap > security", "usernameToken"}}},
		{"security variables", nil, func(d *connect.SOAPCall) {
			d.Security = &connect.SOAPSecurity{UsernameToken: &connect.SOAPUsernameToken{UserEnv: "NAVET USER"}}
		}, nil, []declProblem{
			{"soap > security > usernameToken > userEnv", "not an environment variable"},
			{"soap > security > usernameToken > passwordEnv", "not an environment variable"}}},

		{"operation not in the WSDL", nil, func(d *connect.SOAPCall) { d.Operation = "PersonpostXMLv2" }, nil, []declProblem{
			{"soap > operation", `no operation "PersonpostXMLv2" (it has PersonpostXML)`}}},
		{"unknown service", nil, func(d *connect.SOAPCall) { d.Service = "Navet" }, nil, []declProblem{
			{"soap > service", `no service "Navet" (it has PersonpostService)`}}},
		{"two services, none named", twoServices, nil, nil, []declProblem{
			{"soap > service", "2 services (PersonpostService, Other): name one"}}},
		{"SOAP 1.2 asked, 1.1 bound", only11, func(d *connect.SOAPCall) { d.Version = "1.2" }, nil, []declProblem{
			{"soap > version", "binds PersonpostXML with SOAP 1.1 only, not 1.2"}}},
		{"rpc style", rpc, nil, nil, []declProblem{{"soap > operation", `style "rpc" is not supported`}}},
		{"encoded use", encoded, nil, nil, []declProblem{{"soap > operation", `input use "encoded" is not supported`}}},
		{"part with a type", typedPart, nil, nil, []declProblem{{"soap > operation", "has a type, not an element (rpc style"}}},
		{"type missing from the schema", missingType, nil, nil, []declProblem{{"soap > operation", "type {http://xmls.skatteverket.se/se/skatteverket/folkbokforing/na/epersondata/V1}NameTYPE is not defined"}}},
		{"unknown request element", nil, func(d *connect.SOAPCall) {
			delete(d.Request, "Bestallning.OrgNr")
			d.Request["Bestallning.Orgnr"] = "{config.orgNr}"
		}, nil, []declProblem{
			{"soap > request > Bestallning.Orgnr", "Bestallning has no element Orgnr (it has OrgNr, BestallningsId)"},
			{"soap > request", "the required element Bestallning.OrgNr has no value"}}},
		{"request value for an element with children", nil, func(d *connect.SOAPCall) { d.Request["Bestallning"] = "x" }, nil, []declProblem{
			{"soap > request > Bestallning", "Bestallning is not a value: it has elements (OrgNr, BestallningsId)"}}},
		{"request path below a value", nil, func(d *connect.SOAPCall) { d.Request["PersonId.Nr"] = "x" }, nil, []declProblem{
			{"soap > request > PersonId.Nr", "PersonId is a value (PersonNrTYPE), it has no element Nr"}}},
		{"unknown records", nil, func(d *connect.SOAPCall) { d.Records = "Folkbokforingsposter.Folkbokforingspost" }, nil, []declProblem{
			{"soap > records", "PersonpostXMLResponse has no element Folkbokforingsposter (it has Folkbokforingspost)"}}},
		{"records at a value", nil, func(d *connect.SOAPCall) { d.Records = "Folkbokforingspost.Sekretessmarkering" }, nil, []declProblem{
			{"soap > records", "Sekretessmarkering is a value, not a record"}}},
		{"unknown field path, bad field name, field and object", nil, nil, map[string]string{
			"givenName":      "Personpost.Namn.Fornam",
			"given-name":     "Personpost.Namn.Fornamn",
			"address":        "Personpost.Folkbokforingsadress",
			"address.street": "Personpost.Folkbokforingsadress.Utdelningsadress2",
		}, []declProblem{
			{"fields > givenName", "Namn has no element Fornam (it has Fornamn, Mellannamn, Efternamn)"},
			{"fields > given-name", "is not a field name"},
			{"fields > address", "is a field and also holds address.street"}}},
		{"no fields", nil, nil, map[string]string{}, []declProblem{{"fields", "no fields"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			decl := navetDecl("")
			decl.Request = map[string]string{}
			for k, v := range navetDecl("").Request {
				decl.Request[k] = v
			}
			if tc.wsdl != nil {
				decl.Files = fstest.MapFS{"navet.wsdl": {Data: tc.wsdl}}
			}
			if tc.edit != nil {
				tc.edit(&decl)
			}
			fields := tc.fields
			if fields == nil {
				fields = navetFields
			}
			errs := decl.Validate()
			if len(errs) == 0 {
				w, err := decl.LoadWSDL(t.Context(), nil)
				if err != nil {
					t.Fatalf("LoadWSDL: %v", err)
				}
				errs = decl.ValidateWSDL(w, fields)
			}
			if got := problems(t, errs); !matches(got, tc.want) {
				t.Errorf("problems\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestNewSOAPReportsEverything: NewSOAP joins the declaration's, the
// WSDL's and the configuration's problems into one error.
func TestNewSOAPReportsEverything(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens at its address any more
	up, err := upstream.NewClient(upstream.Options{Name: "folkbokforing", BaseURL: closed.URL, Retries: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	decl := navetDecl("")
	decl.Request = map[string]string{"Bestallning.OrgNr": "{config.orgNr}", "Bestallning.BestallningsId": "{config.order}", "PersonId": "{key}", "Extra": "x"}
	_, err = connect.NewSOAP(t.Context(), up, decl, map[string]string{"givenName": "Personpost.Namn.Fornamm"}, map[string]string{"orgNr": "1"})
	for _, want := range []string{
		"soap.request.Bestallning.BestallningsId: {config.order}: the configuration sets no order",
		"soap.request.Extra: PersonpostRequest has no element Extra",
		"fields.givenName: Namn has no element Fornamm",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}

	_, err = connect.NewSOAP(t.Context(), up, connect.SOAPCall{WSDL: "?wsdl", Operation: "PersonpostXML", Request: map[string]string{"PersonId": "{key}"}}, navetFields, nil)
	if upstream.KindOf(err) != upstream.Unavailable || !strings.Contains(err.Error(), "fetching ?wsdl") {
		t.Errorf("unreachable ?wsdl: error %v, want the upstream's Unavailable", err)
	}
}

func TestParseWSDLRejects(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"DOCTYPE", `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>`, "directives"},
		{"WSDL 2.0", `<description xmlns="http://www.w3.org/ns/wsdl"/>`, "WSDL 2.0 is not supported"},
		{"not WSDL", `<html><body>Service unavailable</body></html>`, "not WSDL 1.1's definitions"},
		{"not XML", `{"wsdl": true}`, "xml:"},
		{"truncated", string(sim.NavetWSDL()[:400]), "xml:"},
		{"undeclared prefix", `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"><binding name="b" type="x:pt"/></definitions>`, `prefix "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := connect.ParseWSDL([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

// enhetAnswer is the synthetic service's answer: two units, the first with
// a sub-unit (the recursive type), numbers with spaces, xsi:nil, a repeated
// value, a choice, and simple content with an attribute.
const enhetAnswer = `<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>
<t:HamtaEnhetSvar xmlns:t="urn:kommungraf:test:enhet" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<Enhet><Kod>00012345</Kod><Namn>Förskolan Rönnen &amp; Co</Namn><Platser> 48 </Platser><Yta xsi:nil="true"/><Aktiv>1</Aktiv>
<Telefon>019-10 00 00</Telefon><Telefon>019-10 00 01</Telefon><Rektor>Rektor A</Rektor>
<Under><Kod>00012346</Kod><Namn>Avdelning Ekorren</Namn><Platser>12</Platser><Yta>80.5</Yta><Aktiv>false</Aktiv><Forestandare>B</Forestandare><Pris valuta="SEK">0</Pris></Under>
<Pris valuta="SEK">1500.50</Pris></Enhet>
<Enhet><Kod>00099999</Kod><Namn>Skolan</Namn><Platser>300</Platser><Yta>1200</Yta><Aktiv>true</Aktiv><Forestandare>C</Forestandare><Pris valuta="SEK">0.0</Pris></Enhet>
</t:HamtaEnhetSvar></env:Body></env:Envelope>`

var enhetFields = map[string]string{
	"code":       "Kod",
	"name":       "Namn",
	"places":     "Platser",
	"areaM2":     "Yta",
	"active":     "Aktiv",
	"phones":     "Telefon",
	"head":       "Rektor",
	"price":      "Pris",
	"units":      "Under",
	"unitCodes":  "Under.Kod",
	"unit.name":  "Under.Namn",
	"unit.place": "Under.Platser",
}

// TestSOAPSchemaKinds reads a SOAP 1.2-only service whose schema uses the
// constructs the reader supports, and checks the request it writes and the
// records it decodes: numbers and booleans only where the schema says so,
// exactly as encoding/json decodes the same values.
func TestSOAPSchemaKinds(t *testing.T) {
	wsdl, err := os.ReadFile("testdata/enhet.wsdl")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu             sync.Mutex
		gotBody        []byte
		gotCT          string
		answer         = enhetAnswer
		setAnswer      = func(s string) { mu.Lock(); answer = s; mu.Unlock() }
		requestAndType = func() ([]byte, string) { mu.Lock(); defer mu.Unlock(); return gotBody, gotCT }
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotBody, gotCT = body, r.Header.Get("Content-Type")
		a := answer
		mu.Unlock()
		w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
		_, _ = io.WriteString(w, a)
	}))
	defer srv.Close()
	// Every bad answer below counts against the breaker: keep it closed.
	up, err := upstream.NewClient(upstream.Options{Name: "enhet", BaseURL: srv.URL, BreakerFailures: 100, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	decl := connect.SOAPCall{
		WSDL: "enhet.wsdl", Files: fstest.MapFS{"enhet.wsdl": {Data: wsdl}}, Operation: "HamtaEnhet",
		Request: map[string]string{"Kod": "{key}", "Sprak": "{config.sprak}"},
		Records: "Enhet",
	}
	c, err := connect.NewSOAP(t.Context(), up, decl, enhetFields, map[string]string{"sprak": "sv"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Fetch(t.Context(), []string{"00012345"})
	if err != nil {
		t.Fatal(err)
	}

	// The request: SOAP 1.2 (the only binding), local elements unqualified,
	// the referenced global element qualified, schema order, the optional
	// Filter left out.
	reqBody, reqCT := requestAndType()
	const wantBody = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>` +
		`<m:HamtaEnhet xmlns:m="urn:kommungraf:test:enhet"><Kod>00012345</Kod><m:Sprak>sv</m:Sprak></m:HamtaEnhet>` +
		`</soap:Body></soap:Envelope>`
	if string(reqBody) != wantBody {
		t.Errorf("request\n got %s\nwant %s", reqBody, wantBody)
	}
	if want := `application/soap+xml; action="urn:kommungraf:test:enhet#HamtaEnhet"; charset=utf-8`; reqCT != want {
		t.Errorf("Content-Type = %q, want %q", reqCT, want)
	}

	const wantJSON = `{"00012345": [
	  {"code": "00012345", "name": "Förskolan Rönnen & Co", "places": 48, "areaM2": null, "active": true,
	   "phones": ["019-10 00 00", "019-10 00 01"], "head": "Rektor A", "price": 1500.50,
	   "units": [{"Kod": "00012346", "Namn": "Avdelning Ekorren", "Platser": 12, "Yta": 80.5, "Aktiv": false, "Forestandare": "B", "Pris": 0}],
	   "unitCodes": ["00012346"], "unit": {"name": ["Avdelning Ekorren"], "place": [12]}},
	  {"code": "00099999", "name": "Skolan", "places": 300, "areaM2": 1200, "active": true,
	   "phones": null, "head": null, "price": 0.0, "units": null, "unitCodes": null, "unit": null}
	]}`
	// Numbers are json.Number as the service wrote them (1500.50, 0.0).
	var want map[string][]connect.Record
	dec := json.NewDecoder(strings.NewReader(wantJSON))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		t.Errorf("records\n got %s\nwant %s", g, wantJSON)
	}

	for _, tc := range []struct{ name, from, to string }{
		{"not a number", "<Platser>300</Platser>", "<Platser>trehundra</Platser>"},
		{"not a boolean", "<Aktiv>true</Aktiv>", "<Aktiv>ja</Aktiv>"},
		{"another element in the Body", "HamtaEnhetSvar", "HamtaEnhetSvarV2"},
		{"empty Body", enhetAnswer[strings.Index(enhetAnswer, "<t:"):strings.Index(enhetAnswer, "</env:Body>")], ""},
		{"SOAP 1.1 envelope to a 1.2 request", "http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/"},
		{"no envelope", "<env:Envelope", "<env:Kuvert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := strings.ReplaceAll(enhetAnswer, tc.from, tc.to)
			setAnswer(a)
			if a == enhetAnswer {
				t.Fatalf("the answer has no %q", tc.from)
			}
			if _, err := c.Fetch(t.Context(), []string{"00012345"}); upstream.KindOf(err) != upstream.BadResponse {
				t.Errorf("error %v, want a bad response", err)
			}
		})
	}

	t.Run("SOAP 1.1 is not bound", func(t *testing.T) {
		d := decl
		d.Version = "1.1"
		_, err := connect.NewSOAP(t.Context(), up, d, enhetFields, map[string]string{"sprak": "sv"})
		if err == nil || !strings.Contains(err.Error(), "soap.version: service EnhetService binds HamtaEnhet with SOAP 1.2 only, not 1.1") {
			t.Errorf("error %v", err)
		}
	})
}
