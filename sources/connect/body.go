package connect

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/kommungraf/kommungraf/sources/declare"
)

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
