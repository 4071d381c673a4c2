package connect

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strconv"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// payload is a POST's body: XML for a format: xml resource (xmlBody),
// else JSON.
func (h *HTTP) payload(keys []string, key string) []byte {
	if h.xml {
		return h.xmlBody(keys, key)
	}
	return h.jsonBody(keys, key)
}

// jsonBody is a POST's body (declare.BodyNode): the template with the
// batch's keys ({keys}, a JSON array), the one form's key ({key}, a
// string) and the values of the arguments and parent fields put in as JSON
// values, never spliced into text; a null value leaves its member out of
// an object, and is null in a list.
func (h *HTTP) jsonBody(keys []string, key string) []byte {
	var b bytes.Buffer
	h.writeBody(&b, h.body, keys, key)
	return b.Bytes()
}

func (h *HTTP) writeBody(b *bytes.Buffer, n *declare.BodyNode, keys []string, key string) {
	switch {
	case n.Place != "":
		v, ok := h.bodyValue(n.Place, keys, key)
		if !ok {
			v = []byte("null")
		}
		b.Write(v)
	case n.Literal != nil:
		b.Write(n.Literal)
	case n.IsList:
		b.WriteByte('[')
		for i, it := range n.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			h.writeBody(b, it, keys, key)
		}
		b.WriteByte(']')
	default:
		b.WriteByte('{')
		first := true
		for _, m := range n.Members {
			if m.Value.Place != "" {
				if _, ok := h.bodyValue(m.Value.Place, keys, key); !ok {
					continue // a null argument: the member is left out
				}
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			name, _ := json.Marshal(m.Name)
			b.Write(name)
			b.WriteByte(':')
			h.writeBody(b, m.Value, keys, key)
		}
		b.WriteByte('}')
	}
}

// bodyValue is a placeholder's JSON value; ok is false for a null
// argument or parent field. An Int or Float is a number and a Boolean true
// or false (as the schema's types, declare.Resource.ArgKind, say; a value
// that is not one is sent as a string), anything else a string.
func (h *HTTP) bodyValue(place string, keys []string, key string) (json.RawMessage, bool) {
	var v any
	switch place {
	case declare.KeysPlace:
		v = keys
		if keys == nil {
			v = []string{}
		}
	case declare.KeyPlace:
		v = key
	default:
		if !h.vals.Has(place) {
			return nil, false
		}
		s := h.vals.Get(place)
		switch h.res.ArgKind(place) {
		case "number":
			if _, err := strconv.ParseFloat(s, 64); err == nil && json.Valid([]byte(s)) {
				return json.RawMessage(s), true
			}
		case "boolean":
			if s == "true" || s == "false" {
				return json.RawMessage(s), true
			}
		}
		v = s
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, false // strings and lists of strings always marshal
	}
	return raw, true
}

// xmlRooted says a body template can be an XML document: one member, the
// root element, whose value is an object (declare's checkXMLBody).
func xmlRooted(n *declare.BodyNode) bool {
	return n.IsObject() && len(n.Members) == 1 && n.Members[0].Value.IsObject()
}

// xmlBody is a format: xml resource's POST body: an XML declaration and
// the template's root element (xmlRooted). Texts are written by an
// xml.Encoder, escaped, never spliced: a key or value is its element's
// exact text (but for characters XML cannot carry, such as U+0000, which
// become U+FFFD).
func (h *HTTP) xmlBody(keys []string, key string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	e := xml.NewEncoder(&b)
	root := h.body.Members[0]
	h.writeElement(e, root.Name, root.Value, keys, key)
	// Writing to a buffer does not fail, and the names were checked
	// (declare.isXMLName): the encoder has nothing to report.
	_ = e.Flush()
	return b.Bytes()
}

// writeElement writes the elements of one member of the template: an
// object is an element of its members' elements, a list its element once
// per item, {keys} its element once per key, a scalar its element with
// the text; a null value (literal or argument) no element.
func (h *HTTP) writeElement(e *xml.Encoder, name string, n *declare.BodyNode, keys []string, key string) {
	start := xml.StartElement{Name: xml.Name{Local: name}}
	var texts []string
	switch {
	case n.IsList:
		for _, it := range n.Items {
			h.writeElement(e, name, it, keys, key)
		}
		return
	case n.IsObject():
		_ = e.EncodeToken(start)
		for _, m := range n.Members {
			h.writeElement(e, m.Name, m.Value, keys, key)
		}
		_ = e.EncodeToken(start.End())
		return
	case n.Place == declare.KeysPlace:
		texts = keys
	case n.Place == declare.KeyPlace:
		texts = []string{key}
	case n.Place != "":
		if h.vals.Has(n.Place) {
			texts = []string{h.vals.Get(n.Place)}
		}
	default:
		var s string
		switch {
		case string(n.Literal) == "null":
		case json.Unmarshal(n.Literal, &s) == nil:
			texts = []string{s}
		default:
			texts = []string{string(n.Literal)} // a number or true/false, as written
		}
	}
	for _, t := range texts {
		_ = e.EncodeToken(start)
		_ = e.EncodeToken(xml.CharData(t))
		_ = e.EncodeToken(start.End())
	}
}
