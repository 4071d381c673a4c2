package sim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/soap"
)

// The WSDL as the test reads it: encoding/xml structs, independent of the
// declarative connector's own reader (sources/connect), so that each checks
// the other.
type testWSDL struct {
	XMLName         xml.Name `xml:"http://schemas.xmlsoap.org/wsdl/ definitions"`
	TargetNamespace string   `xml:"targetNamespace,attr"`
	Schema          struct {
		TargetNamespace    string           `xml:"targetNamespace,attr"`
		ElementFormDefault string           `xml:"elementFormDefault,attr"`
		Elements           []testXSDElement `xml:"element"`
		ComplexTypes       []testXSDType    `xml:"complexType"`
		SimpleTypes        []struct {
			Name string `xml:"name,attr"`
			Base struct {
				Base string `xml:"base,attr"`
			} `xml:"restriction"`
		} `xml:"simpleType"`
	} `xml:"types>schema"`
	Messages []struct {
		Name  string `xml:"name,attr"`
		Parts []struct {
			Name    string `xml:"name,attr"`
			Element string `xml:"element,attr"`
		} `xml:"part"`
	} `xml:"message"`
	PortTypes []struct {
		Name       string `xml:"name,attr"`
		Operations []struct {
			Name   string     `xml:"name,attr"`
			Input  testMsgRef `xml:"input"`
			Output testMsgRef `xml:"output"`
		} `xml:"operation"`
	} `xml:"portType"`
	Bindings []struct {
		Name   string       `xml:"name,attr"`
		Type   string       `xml:"type,attr"`
		SOAP11 *testBinding `xml:"http://schemas.xmlsoap.org/wsdl/soap/ binding"`
		SOAP12 *testBinding `xml:"http://schemas.xmlsoap.org/wsdl/soap12/ binding"`
		Ops    []struct {
			Name  string  `xml:"name,attr"`
			Op11  *testOp `xml:"http://schemas.xmlsoap.org/wsdl/soap/ operation"`
			Op12  *testOp `xml:"http://schemas.xmlsoap.org/wsdl/soap12/ operation"`
			InUse []struct {
				Use string `xml:"use,attr"`
			} `xml:"input>body"`
		} `xml:"operation"`
	} `xml:"binding"`
	Services []struct {
		Name  string `xml:"name,attr"`
		Ports []struct {
			Name    string   `xml:"name,attr"`
			Binding string   `xml:"binding,attr"`
			Addr11  *testLoc `xml:"http://schemas.xmlsoap.org/wsdl/soap/ address"`
			Addr12  *testLoc `xml:"http://schemas.xmlsoap.org/wsdl/soap12/ address"`
		} `xml:"port"`
	} `xml:"service"`
}

type testMsgRef struct {
	Message string `xml:"message,attr"`
}

type testBinding struct {
	Style     string `xml:"style,attr"`
	Transport string `xml:"transport,attr"`
}

type testOp struct {
	SOAPAction string `xml:"soapAction,attr"`
	Style      string `xml:"style,attr"`
}

type testLoc struct {
	Location string `xml:"location,attr"`
}

type testXSDElement struct {
	Name        string       `xml:"name,attr"`
	Type        string       `xml:"type,attr"`
	MinOccurs   string       `xml:"minOccurs,attr"`
	MaxOccurs   string       `xml:"maxOccurs,attr"`
	ComplexType *testXSDType `xml:"complexType"`
}

type testXSDType struct {
	Name     string           `xml:"name,attr"`
	Sequence []testXSDElement `xml:"sequence>element"`
}

// shape is an element tree reduced to what the wire depends on: names in
// order, optional or not, repeated or not.
type shape struct {
	Name               string
	Optional, Repeated bool
	Children           []shape
}

func (s shape) String() string {
	var b strings.Builder
	var walk func(s shape, depth int)
	walk = func(s shape, depth int) {
		fmt.Fprintf(&b, "%s%s optional=%v repeated=%v\n", strings.Repeat("  ", depth), s.Name, s.Optional, s.Repeated)
		for _, c := range s.Children {
			walk(c, depth+1)
		}
	}
	walk(s, 0)
	return b.String()
}

// goShape is the shape encoding/xml gives the Go type t under the name name.
func goShape(name string, t reflect.Type) shape {
	s := shape{Name: name}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return s
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("xml")
		if f.Name == "XMLName" || strings.Contains(tag, ",attr") || tag == "-" {
			continue
		}
		fname, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		c := shape{}
		if ft.Kind() == reflect.Slice {
			c.Repeated, c.Optional = true, true
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Pointer || strings.Contains(opts, "omitempty") {
			c.Optional = true
		}
		sub := goShape(fname, ft)
		sub.Optional, sub.Repeated = c.Optional, c.Repeated
		s.Children = append(s.Children, sub)
	}
	return s
}

// xsdShape is the shape the WSDL's schema gives its global element name.
func xsdShape(t *testing.T, w *testWSDL, name string) shape {
	t.Helper()
	types := map[string]*testXSDType{}
	for i := range w.Schema.ComplexTypes {
		types[w.Schema.ComplexTypes[i].Name] = &w.Schema.ComplexTypes[i]
	}
	simple := map[string]bool{}
	for _, st := range w.Schema.SimpleTypes {
		if st.Base.Base != "xs:string" {
			t.Errorf("simple type %s restricts %s; the simulator sends strings only", st.Name, st.Base.Base)
		}
		simple[st.Name] = true
	}
	var elem func(e testXSDElement) shape
	elem = func(e testXSDElement) shape {
		s := shape{Name: e.Name, Optional: e.MinOccurs == "0", Repeated: e.MaxOccurs == "unbounded"}
		ct := e.ComplexType
		if ct == nil {
			prefix, local, _ := strings.Cut(e.Type, ":")
			switch {
			case prefix == "xs":
				if local != "string" {
					t.Errorf("element %s has type %s; the simulator sends strings only", e.Name, e.Type)
				}
				return s
			case prefix != "tns":
				t.Fatalf("element %s: type %q in an unexpected namespace", e.Name, e.Type)
			case simple[local]:
				return s
			}
			if ct = types[local]; ct == nil {
				t.Fatalf("element %s: type %s is not defined", e.Name, e.Type)
			}
		}
		for _, c := range ct.Sequence {
			s.Children = append(s.Children, elem(c))
		}
		return s
	}
	for _, e := range w.Schema.Elements {
		if e.Name == name {
			return elem(e)
		}
	}
	t.Fatalf("the schema has no element %s", name)
	return shape{}
}

// wellFormed decodes body strictly, refusing any directive, as the gateway
// reads upstream XML.
func wellFormed(t *testing.T, body []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("the WSDL is not well-formed: %v", err)
		}
		if _, ok := tok.(xml.Directive); ok {
			t.Fatal("the WSDL carries a directive")
		}
	}
}

func getWSDL(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestNavetServesWSDL(t *testing.T) {
	stats := NewStats()
	srv := httptest.NewServer(NewNavet(httpTestWorld(), NavetOptions{Stats: stats}))
	defer srv.Close()

	for _, path := range []string{"/?wsdl", "/personpost?wsdl", "/personpost?WSDL", "/?wsdl="} {
		t.Run(path, func(t *testing.T) {
			resp, body := getWSDL(t, srv.URL+path)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
				t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			wellFormed(t, body)
			endpoint := srv.URL + strings.SplitN(path, "?", 2)[0]
			if want := strings.ReplaceAll(navetWSDL, navetWSDLLocation, endpoint); string(body) != want {
				t.Errorf("served WSDL differs from navet.wsdl with the address %s", endpoint)
			}
		})
	}
	if got := stats.Snapshot()["folkbokforing"]; got["wsdl"] != (Counter{Calls: 4}) || got[soap.NavetAction].Calls != 0 {
		t.Errorf("stats = %+v, want 4 wsdl calls and no PersonpostXML call", got)
	}

	t.Run("the Host header is escaped", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/personpost?wsdl", nil)
		req.Host = `evil"><x`
		rec := httptest.NewRecorder()
		NewNavet(httpTestWorld(), NavetOptions{}).ServeHTTP(rec, req)
		wellFormed(t, rec.Body.Bytes())
		if !strings.Contains(rec.Body.String(), `location="http://evil&#34;&gt;&lt;x/personpost"`) {
			t.Errorf("address not escaped:\n%s", rec.Body.String())
		}
	})
}

// TestNavetWSDLMatchesTheSimulator checks the stored description against
// what the simulator decodes and encodes: the operation, its action, both
// bindings, and the element trees of request and answer, name by name.
func TestNavetWSDLMatchesTheSimulator(t *testing.T) {
	raw := NavetWSDL()
	wellFormed(t, raw)
	var w testWSDL
	if err := xml.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	if w.TargetNamespace != soap.NavetNamespace || w.Schema.TargetNamespace != soap.NavetNamespace || w.Schema.ElementFormDefault != "qualified" {
		t.Errorf("namespaces: definitions %q, schema %q (%s); want %q, qualified",
			w.TargetNamespace, w.Schema.TargetNamespace, w.Schema.ElementFormDefault, soap.NavetNamespace)
	}

	if len(w.PortTypes) != 1 || len(w.PortTypes[0].Operations) != 1 || w.PortTypes[0].Operations[0].Name != soap.NavetAction {
		t.Fatalf("want one port type with the one operation %s, got %+v", soap.NavetAction, w.PortTypes)
	}
	op := w.PortTypes[0].Operations[0]
	elements := map[string]string{}
	for _, m := range w.Messages {
		if len(m.Parts) != 1 {
			t.Errorf("message %s has %d parts, want 1 (document/literal)", m.Name, len(m.Parts))
			continue
		}
		elements["tns:"+m.Name] = m.Parts[0].Element
	}
	if got := elements[op.Input.Message]; got != "tns:PersonpostRequest" {
		t.Errorf("input element = %q", got)
	}
	if got := elements[op.Output.Message]; got != "tns:PersonpostXMLResponse" {
		t.Errorf("output element = %q", got)
	}

	versions := map[string]string{} // binding name -> SOAP version
	for _, b := range w.Bindings {
		v, style, action, use := "", "", "", ""
		switch {
		case b.SOAP11 != nil && b.SOAP12 == nil:
			v, style = "1.1", b.SOAP11.Style
		case b.SOAP12 != nil && b.SOAP11 == nil:
			v, style = "1.2", b.SOAP12.Style
		default:
			t.Fatalf("binding %s: want exactly one soap:binding or soap12:binding", b.Name)
		}
		if len(b.Ops) != 1 || b.Ops[0].Name != soap.NavetAction || len(b.Ops[0].InUse) != 1 {
			t.Fatalf("binding %s: operations %+v", b.Name, b.Ops)
		}
		use = b.Ops[0].InUse[0].Use
		if o := b.Ops[0].Op11; o != nil && v == "1.1" {
			action = o.SOAPAction
		}
		if o := b.Ops[0].Op12; o != nil && v == "1.2" {
			action = o.SOAPAction
		}
		if style != "document" || use != "literal" || action != soap.NavetAction || !actionOK([]string{action}) {
			t.Errorf("binding %s (SOAP %s): style %q, use %q, soapAction %q; want document/literal and %s",
				b.Name, v, style, use, action, soap.NavetAction)
		}
		versions["tns:"+b.Name] = v
	}
	if len(w.Services) != 1 || len(w.Services[0].Ports) != 2 {
		t.Fatalf("want one service with two ports, got %+v", w.Services)
	}
	seen := map[string]bool{}
	for _, p := range w.Services[0].Ports {
		v := versions[p.Binding]
		seen[v] = true
		loc := ""
		switch {
		case v == "1.1" && p.Addr11 != nil:
			loc = p.Addr11.Location
		case v == "1.2" && p.Addr12 != nil:
			loc = p.Addr12.Location
		}
		if loc != navetWSDLLocation {
			t.Errorf("port %s (SOAP %s): address %q, want %q", p.Name, v, loc, navetWSDLLocation)
		}
	}
	if !seen["1.1"] || !seen["1.2"] {
		t.Errorf("ports for SOAP versions %v, want 1.1 and 1.2", seen)
	}

	for _, tc := range []struct {
		element string
		goType  reflect.Type
	}{
		{"PersonpostRequest", reflect.TypeFor[soap.PersonpostRequest]()},
		{"PersonpostXMLResponse", reflect.TypeFor[soap.PersonpostResponse]()},
	} {
		t.Run(tc.element, func(t *testing.T) {
			root, _ := tc.goType.FieldByName("XMLName")
			want := goShape(root.Tag.Get("xml"), tc.goType)
			if got := xsdShape(t, &w, tc.element); !reflect.DeepEqual(got, want) {
				t.Errorf("the schema and the simulator's types differ\nschema:\n%s\nsimulator:\n%s", got, want)
			}
		})
	}
}

// personpost12 is a SOAP 1.2 PersonpostXML request.
func personpost12(order, pnr string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>`)
	b.WriteString(`<PersonpostRequest xmlns="` + soap.NavetNamespace + `"><Bestallning><OrgNr>212000-0000</OrgNr><BestallningsId>`)
	_ = xml.EscapeText(&b, []byte(order))
	b.WriteString(`</BestallningsId></Bestallning><PersonId>`)
	_ = xml.EscapeText(&b, []byte(pnr))
	b.WriteString(`</PersonId></PersonpostRequest></env:Body></env:Envelope>`)
	return b.Bytes()
}

// answer12 is a decoded SOAP 1.2 answer.
type answer12 struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Body    struct {
		Fault *struct {
			Code   string `xml:"Code>Value"`
			Reason string `xml:"Reason>Text"`
			Felkod string `xml:"Detail>Felkod"`
		} `xml:"Fault"`
		Response *soap.PersonpostResponse `xml:"PersonpostXMLResponse"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

func call12(t *testing.T, url, contentType string, body []byte) (*http.Response, answer12) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a answer12
	if err := xml.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer is not a SOAP 1.2 envelope: %v\n%s", err, raw)
	}
	return resp, a
}

func TestNavetSOAP12(t *testing.T) {
	w := httpTestWorld()
	family := findPerson(t, "guardian with children", func(p *model.Person) bool {
		return !p.ProtectedIdentity && len(p.RelatedNumbers(model.RelationChild)) > 0
	})
	const ct = `application/soap+xml; charset=utf-8; action="PersonpostXML"`

	t.Run("record", func(t *testing.T) {
		stats := NewStats()
		srv := httptest.NewServer(NewNavet(w, NavetOptions{Stats: stats}))
		defer srv.Close()
		for _, contentType := range []string{ct, "application/soap+xml", `application/soap+xml;action="urn:x#PersonpostXML"`} {
			resp, a := call12(t, srv.URL+"/personpost", contentType, personpost12(DefaultOrder, family.PersonalNumber))
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != soap12ContentType || a.Body.Response == nil {
				t.Fatalf("%s: status %d, Content-Type %q, fault %+v", contentType, resp.StatusCode, resp.Header.Get("Content-Type"), a.Body.Fault)
			}
			if got, want := a.Body.Response.Folkbokforingspost, wantPost(family); !reflect.DeepEqual(got, want) {
				t.Errorf("record mismatch\n got %+v\nwant %+v", got, want)
			}
		}
		if got := stats.Calls("folkbokforing", soap.NavetAction); got != 3 {
			t.Errorf("calls = %d, want 3", got)
		}
	})

	for _, tc := range []struct {
		name        string
		faults      FaultConfig
		contentType string
		body        []byte
		wantStatus  int
		wantCode    string
		wantFelkod  string
	}{
		{"unknown person", FaultConfig{}, ct, personpost12(DefaultOrder, "191212121212"), 400, "env:Sender", soap.FelkodPersonSaknas},
		{"unknown person with HTTP 200", FaultConfig{SOAPFaultsWith200: true}, ct, personpost12(DefaultOrder, "191212121212"), 200, "env:Sender", soap.FelkodPersonSaknas},
		{"unauthorised order", FaultConfig{}, ct, personpost12("SOMEONE-ELSE", family.PersonalNumber), 400, "env:Sender", soap.FelkodEjBehorig},
		{"other action", FaultConfig{}, `application/soap+xml; action="DeleteEverything"`, personpost12(DefaultOrder, family.PersonalNumber), 400, "env:Sender", soap.FelkodFelaktigBegaran},
		{"SOAP 1.1 envelope as 1.2", FaultConfig{}, ct, personpostEnvelope(t, DefaultOrder, family.PersonalNumber), 500, "env:VersionMismatch", ""},
		{"injected error", FaultConfig{ErrorRate: 1}, ct, personpost12(DefaultOrder, family.PersonalNumber), 500, "env:Receiver", soap.FelkodTeknisktFel},
		{"injected error with HTTP 200", FaultConfig{ErrorRate: 1, SOAPFaultsWith200: true}, ct, personpost12(DefaultOrder, family.PersonalNumber), 200, "env:Receiver", soap.FelkodTeknisktFel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faults := NewFaults()
			faults.Set(tc.faults)
			srv := httptest.NewServer(NewNavet(w, NavetOptions{Faults: faults}))
			defer srv.Close()
			resp, a := call12(t, srv.URL, tc.contentType, tc.body)
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("Content-Type") != soap12ContentType {
				t.Errorf("status %d, Content-Type %q; want %d", resp.StatusCode, resp.Header.Get("Content-Type"), tc.wantStatus)
			}
			if f := a.Body.Fault; f == nil || f.Code != tc.wantCode || f.Felkod != tc.wantFelkod || f.Reason == "" {
				t.Errorf("fault = %+v, want %s with Felkod %q", f, tc.wantCode, tc.wantFelkod)
			}
		})
	}
}
