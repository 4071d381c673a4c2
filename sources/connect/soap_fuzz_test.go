package connect

import (
	"encoding/json"
	"os"
	"testing"
	"testing/fstest"

	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// FuzzSOAPClassify feeds arbitrary answers to the SOAP connector's reader:
// whatever an upstream sends, it returns records that encode as JSON or an
// *upstream.Error, and never panics.
func FuzzSOAPClassify(f *testing.F) {
	for _, name := range []string{"../sim/testdata/navet_personpost.xml", "../sim/testdata/navet_personpost_protected.xml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(200, b)
	}
	f.Add(500, []byte(`<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>Person saknas</faultstring><detail><Felkod>1001</Felkod></detail></soap:Fault></soap:Body></soap:Envelope>`))
	f.Add(400, []byte(`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>x:Y</env:Value></env:Subcode></env:Code></env:Fault></env:Body></env:Envelope>`))
	f.Add(200, []byte("<!DOCTYPE html><html></html>"))

	up, err := upstream.NewClient(upstream.Options{Name: "folkbokforing", BaseURL: "http://127.0.0.1:9"})
	if err != nil {
		f.Fatal(err)
	}
	decl := SOAPCall{
		WSDL: "navet.wsdl", Files: fstest.MapFS{"navet.wsdl": {Data: sim.NavetWSDL()}}, Operation: "PersonpostXML",
		Request: map[string]string{"Bestallning.OrgNr": "1", "Bestallning.BestallningsId": "2", "PersonId": "{key}"},
		Records: "Folkbokforingspost", Faults: SOAPFaults{Code: "Felkod", NotFound: []string{"1001"}},
	}
	s, err := NewSOAP(f.Context(), up, decl, map[string]string{
		"givenName": "Personpost.Namn.Fornamn", "address.city": "Personpost.Folkbokforingsadress.Postort",
		"relations": "Personpost.Relationer.Relation", "numbers": "Personpost.Relationer.Relation.RelationId.PersonNr",
	}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		recs, e := s.classify(&upstream.Response{Status: status, Body: body})
		if e != nil {
			if e.Kind == 0 {
				t.Fatalf("error without a kind: %v", e)
			}
			return
		}
		if _, err := json.Marshal(recs); err != nil {
			t.Fatalf("records do not encode: %v", err)
		}
	})
}
