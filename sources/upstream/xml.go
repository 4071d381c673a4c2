package upstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
)

// ErrXMLDirective is returned for XML that carries a DOCTYPE or another
// directive: upstreams have no reason to send one, and entity declarations are
// the raw material of entity-expansion attacks.
var ErrXMLDirective = errors.New("xml: directives (DOCTYPE, ENTITY) are not accepted")

// DecodeXML decodes the first element of body into v, strictly, refusing any
// directive before it.
func DecodeXML(body []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("xml: no root element: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return ErrXMLDirective
		case xml.StartElement:
			if err := d.DecodeElement(v, &t); err != nil {
				return fmt.Errorf("xml: %w", err)
			}
			return nil
		}
	}
}
