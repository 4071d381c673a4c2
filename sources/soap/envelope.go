// Package soap is the SOAP 1.1 connector: envelopes built with encoding/xml
// (so every argument is escaped), faults recognised whatever the HTTP status,
// and the Navet-style PersonpostXML client of the population registry, whose
// usual answer a lexer reads and anything else encoding/xml (fastread.go).
package soap

import (
	"encoding/xml"
	"fmt"
)

// EnvelopeNamespace is the SOAP 1.1 envelope namespace.
const EnvelopeNamespace = "http://schemas.xmlsoap.org/soap/envelope/"

type outEnvelope struct {
	XMLName xml.Name `xml:"soap:Envelope"`
	NS      string   `xml:"xmlns:soap,attr"`
	Body    outBody  `xml:"soap:Body"`
}

type outBody struct {
	Content any
}

type outFault struct {
	XMLName xml.Name `xml:"soap:Fault"`
	*Fault
}

// Marshal wraps a payload (or a *Fault) in a SOAP 1.1 envelope.
func Marshal(payload any) ([]byte, error) {
	if f, ok := payload.(*Fault); ok {
		payload = outFault{Fault: f}
	}
	b, err := xml.Marshal(outEnvelope{NS: EnvelopeNamespace, Body: outBody{Content: payload}})
	if err != nil {
		return nil, fmt.Errorf("soap: marshal envelope: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// Envelope is a received SOAP envelope; Body.Content holds the body's inner XML.
type Envelope struct {
	XMLName xml.Name `xml:"Envelope"`
	Body    struct {
		Fault   *Fault `xml:"Fault"`
		Content []byte `xml:",innerxml"`
	} `xml:"Body"`
}

// Fault is a SOAP 1.1 fault with the registry's detail.
type Fault struct {
	FaultCode   string       `xml:"faultcode"`
	FaultString string       `xml:"faultstring"`
	Detail      *FaultDetail `xml:"detail,omitempty"`
}

// FaultDetail carries the registry's error code and description.
type FaultDetail struct {
	Felkod      string `xml:"Felkod"`
	Beskrivning string `xml:"Beskrivning"`
}

// Error makes a fault usable as an error for logs; it is never shown to clients.
func (f *Fault) Error() string {
	code := ""
	if f.Detail != nil {
		code = f.Detail.Felkod
	}
	return fmt.Sprintf("soap fault %s (%s): %s", f.FaultCode, code, f.FaultString)
}

// personpostEnvelope is the registry's answer, read in one pass: the body's
// fault, wherever it is, and its first element, the answer, decoded straight
// into the caller's PersonpostResponse (Envelope would keep the body's XML
// to decode it again).
type personpostEnvelope struct {
	XMLName xml.Name       `xml:"Envelope"`
	Body    personpostBody `xml:"Body"`
}

// personpostBody is the body of the registry's answer.
type personpostBody struct {
	// Fault is the body's Fault element, if it has one.
	Fault *Fault
	// First is the local name of the body's first element; Response holds
	// it when it is a PersonpostXMLResponse.
	First    string
	Response *PersonpostResponse
}

// UnmarshalXML reads the body's elements: a Fault anywhere, the answer only
// as the first element, anything else skipped.
func (b *personpostBody) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	first := true
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			switch {
			case t.Name.Local == "Fault" && b.Fault == nil:
				b.Fault = new(Fault)
				err = d.DecodeElement(b.Fault, &t)
			case first && t.Name.Local == "PersonpostXMLResponse":
				err = d.DecodeElement(b.Response, &t)
			default:
				err = d.Skip()
			}
			if first {
				b.First = t.Name.Local
				first = false
			}
			if err != nil {
				return err
			}
		}
	}
}
