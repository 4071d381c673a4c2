package sim

import (
	_ "embed"
	"encoding/xml"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// navetWSDL describes the registry simulator's one operation with a SOAP 1.1
// and a SOAP 1.2 binding. Its soap:address is the default listen address of
// `kommungraf sim`; served, it names the endpoint that was asked.
//
//go:embed navet.wsdl
var navetWSDL string

// navetWSDLLocation is the address written in navet.wsdl, replaced when served.
const navetWSDLLocation = "http://127.0.0.1:8081/personpost"

// NavetWSDL returns the registry simulator's service description as stored,
// with the default address http://127.0.0.1:8081/personpost: the file a
// declaration may keep next to itself instead of fetching ?wsdl.
func NavetWSDL() []byte { return []byte(navetWSDL) }

// SOAP 1.2 as the registry simulator speaks it.
const (
	soap12EnvelopeNS  = "http://www.w3.org/2003/05/soap-envelope"
	soap12ContentType = "application/soap+xml; charset=utf-8"
)

// isWSDLRequest reports a GET (or HEAD) of ?wsdl, in any case, with or
// without a value ("?wsdl", "?WSDL", "?wsdl=").
func isWSDLRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for k := range r.URL.Query() {
		if strings.EqualFold(k, "wsdl") {
			return true
		}
	}
	return false
}

// serveWSDL answers ?wsdl with the service description, its addresses set to
// the endpoint that was asked (the Host header is the client's, so it is
// escaped like any other text).
func (n *navet) serveWSDL(w http.ResponseWriter, r *http.Request) {
	if n.opts.Stats != nil {
		n.opts.Stats.RecordRequest(r.Header.Get("X-Request-Id"), "folkbokforing", "wsdl", 0)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	var loc strings.Builder
	_ = xml.EscapeText(&loc, []byte(scheme+"://"+r.Host+r.URL.Path))
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write([]byte(strings.ReplaceAll(navetWSDL, navetWSDLLocation, loc.String())))
}

// isSOAP12 reports a request in SOAP 1.2's media type.
func isSOAP12(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/soap+xml"
}

// soap12Action returns the action parameter of a SOAP 1.2 request's media
// type, as actionOK wants it: none when it is absent.
func soap12Action(r *http.Request) []string {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if a, ok := params["action"]; err == nil && ok {
		return []string{a}
	}
	return nil
}

type soap12Envelope struct {
	XMLName xml.Name   `xml:"env:Envelope"`
	NS      string     `xml:"xmlns:env,attr"`
	Body    soap12Body `xml:"env:Body"`
}

type soap12Body struct {
	Content any
}

type soap12Fault struct {
	XMLName xml.Name      `xml:"env:Fault"`
	Code    soap12Code    `xml:"env:Code"`
	Reason  soap12Reason  `xml:"env:Reason"`
	Detail  *soap12Detail `xml:"env:Detail,omitempty"`
}

type soap12Code struct {
	Value string `xml:"env:Value"`
}

type soap12Reason struct {
	Text soap12Text `xml:"env:Text"`
}

type soap12Text struct {
	Lang string `xml:"xml:lang,attr"`
	Text string `xml:",chardata"`
}

type soap12Detail struct {
	Felkod      string `xml:"Felkod"`
	Beskrivning string `xml:"Beskrivning"`
}

// marshalSOAP12 wraps a payload in a SOAP 1.2 envelope.
func marshalSOAP12(payload any) ([]byte, error) {
	b, err := xml.Marshal(soap12Envelope{NS: soap12EnvelopeNS, Body: soap12Body{Content: payload}})
	if err != nil {
		return nil, fmt.Errorf("sim: marshal SOAP 1.2 envelope: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// writeSOAP12Fault answers with a SOAP 1.2 fault carrying the registry's
// detail. SOAP 1.2's HTTP binding sends env:Sender faults with 400 and
// env:Receiver faults with 500; with200 sends both with 200, as some
// services do.
func writeSOAP12Fault(w http.ResponseWriter, with200, sender bool, reason, felkod, beskrivning string) {
	code, status := "env:Receiver", http.StatusInternalServerError
	if sender {
		code, status = "env:Sender", http.StatusBadRequest
	}
	if with200 {
		status = http.StatusOK
	}
	writeSOAP12(w, status, soap12Fault{
		Code:   soap12Code{Value: code},
		Reason: soap12Reason{Text: soap12Text{Lang: "sv", Text: reason}},
		Detail: &soap12Detail{Felkod: felkod, Beskrivning: beskrivning},
	})
}

// writeSOAP12VersionMismatch answers a SOAP 1.2 request whose envelope is
// not SOAP 1.2's, as the specification says: env:VersionMismatch, HTTP 500.
func writeSOAP12VersionMismatch(w http.ResponseWriter) {
	writeSOAP12(w, http.StatusInternalServerError, soap12Fault{
		Code:   soap12Code{Value: "env:VersionMismatch"},
		Reason: soap12Reason{Text: soap12Text{Lang: "sv", Text: "Kuvertet är inte SOAP 1.2"}},
	})
}

func writeSOAP12(w http.ResponseWriter, status int, payload any) {
	b, err := marshalSOAP12(payload)
	if err != nil {
		http.Error(w, "soap fault could not be encoded", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", soap12ContentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
