package declare

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// POST calls. A batch or one call may be `post: <path>` with a `body:`
// instead of `get:`. The body is written in the YAML as a structure
// (mappings, lists, scalars) and sent as JSON (Content-Type:
// application/json), in the order written. A placeholder is a whole
// value, written quoted ("{keys}"): {keys} is a JSON array of the batch's
// keys (strings), {key} the one form's key (a string), {args.<name>} and
// {parent.<field>} the value as JSON (a number for an Int or Float, true
// or false for a Boolean, else a string). A number written in the body
// is sent as written, and must be written as JSON does. A null value leaves its
// member out of an object and is null in a list. Values are encoded, never
// spliced into text, so a placeholder inside a text ("a{keys}") is refused.
// A POST is not retried after a transient failure unless the call says
// idempotent: true (the upstream only reads).
//
// A format: xml resource's body is the same template sent as XML
// (Content-Type: application/xml; charset=utf-8), checked by checkXMLBody:
// a mapping of one key, the root element, whose value is a mapping; a
// mapping is child elements in the order written, a scalar an element's
// text, a list its element repeated, "{keys}" its element once per key, a
// null value no element.

// BodyNode is one value of a POST's body template: exactly one of Place,
// Literal, Members (an object) or Items (a list, IsList) says what.
type BodyNode struct {
	// Place is a whole-value placeholder: KeysPlace, KeyPlace, or the
	// ArgRef.Key of an argument ("fraction") or a parent field
	// ("parent.code"). The first two keep their braces, so that an
	// argument named keys or key ("{args.keys}") is never read as them.
	Place string `json:",omitempty"`
	// Literal is a scalar as JSON.
	Literal json.RawMessage `json:",omitempty"`
	// Members are an object's, in the order written.
	Members []BodyMember `json:",omitempty"`
	// Items are a list's; IsList tells an empty list from an empty object.
	Items  []*BodyNode `json:",omitempty"`
	IsList bool        `json:",omitempty"`
}

// BodyMember is one member of an object in a body template.
type BodyMember struct {
	Name  string
	Value *BodyNode
}

// KeysPlace and KeyPlace are the Places of "{keys}" and "{key}".
const (
	KeysPlace = "{keys}"
	KeyPlace  = "{key}"
)

// IsObject says the node is an object (its Members, possibly none).
func (n *BodyNode) IsObject() bool { return n.Place == "" && n.Literal == nil && !n.IsList }

// placeholders are the body's placeholders, in the order written.
func (n *BodyNode) placeholders() []string {
	if n == nil {
		return nil
	}
	if n.Place != "" {
		return []string{n.Place}
	}
	var out []string
	for _, m := range n.Members {
		out = append(out, m.Value.placeholders()...)
	}
	for _, it := range n.Items {
		out = append(out, it.placeholders()...)
	}
	return out
}

// bodyPlaceRE is a whole-value placeholder of a body.
var bodyPlaceRE = regexp.MustCompile(`^\{(keys|key|(?:args|parent)\.[A-Za-z_][A-Za-z0-9_]*)\}$`)

// parseBody reads a body template, reporting at its lines every part that
// is not one: an anchor or alias, a key that is not plain text, a scalar
// that JSON cannot carry, a placeholder inside a text.
func parseBody(ps *Problems, file, what string, n *yaml.Node) *BodyNode {
	pos := Pos{file, n.Line}
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 2 && n.Content[1].Tag == "!!null" && n.Content[1].Value == "" && bodyPlaceRE.MatchString("{"+n.Content[0].Value+"}") {
			// {keys} unquoted is YAML's mapping {keys: null}.
			ps.add(pos, "%s: {%s} unquoted is a YAML mapping: write the placeholder quoted, \"{%s}\"", what, n.Content[0].Value, n.Content[0].Value)
			return nil
		}
		out := &BodyNode{Members: []BodyMember{}}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Tag == "!!merge" {
				ps.add(Pos{file, k.Line}, "%s: a YAML merge key (<<) is not accepted in a body: write the members out", what)
				continue
			}
			if k.Kind != yaml.ScalarNode || k.Tag == "!!null" || strings.ContainsAny(k.Value, "{}") {
				ps.add(Pos{file, k.Line}, "%s: a member's name is plain text, not %q (a placeholder is a whole value)", what, k.Value)
				continue
			}
			if seen[k.Value] {
				ps.add(Pos{file, k.Line}, "%s: member %q twice", what, k.Value)
				continue
			}
			seen[k.Value] = true
			if v := parseBody(ps, file, what+"."+k.Value, n.Content[i+1]); v != nil {
				out.Members = append(out.Members, BodyMember{Name: k.Value, Value: v})
			}
		}
		return out
	case yaml.SequenceNode:
		out := &BodyNode{IsList: true}
		for _, it := range n.Content {
			if v := parseBody(ps, file, what+"[]", it); v != nil {
				out.Items = append(out.Items, v)
			}
		}
		return out
	case yaml.ScalarNode:
		return parseBodyScalar(ps, pos, what, n)
	}
	ps.add(pos, "%s: anchors and aliases are not accepted in a body: write the value out", what)
	return nil
}

func parseBodyScalar(ps *Problems, pos Pos, what string, n *yaml.Node) *BodyNode {
	var v any
	switch n.Tag {
	case "!!str", "!!timestamp", "!!binary":
		// A date is text, as written (yaml would make it a time).
		if m := bodyPlaceRE.FindStringSubmatch(n.Value); m != nil && n.Tag == "!!str" {
			switch {
			case m[1] == "keys" || m[1] == "key":
				return &BodyNode{Place: n.Value}
			case strings.HasPrefix(m[1], "args."):
				return &BodyNode{Place: strings.TrimPrefix(m[1], "args.")}
			}
			return &BodyNode{Place: m[1]} // parent.<field>
		}
		if strings.ContainsAny(n.Value, "{}") {
			ps.add(pos, "%s %q: a placeholder is a whole value (\"{keys}\", \"{args.fraction}\"), never part of a text; braces are not accepted in a body's texts", what, n.Value)
			return nil
		}
		v = n.Value
	case "!!bool", "!!null":
		if err := n.Decode(&v); err != nil {
			ps.add(pos, "%s %q: %v", what, n.Value, err)
			return nil
		}
	case "!!int", "!!float":
		// Sent as written: YAML's other spellings (0x10, 1_000, +1, .5,
		// .inf) are not JSON, and a float64 would round long digits.
		if !isJSONNumber(n.Value) {
			ps.add(pos, "%s %q: write the number as JSON does (digits, a fraction and an exponent; no 0x, 0o, _, + or .inf)", what, n.Value)
			return nil
		}
		return &BodyNode{Literal: json.RawMessage(n.Value)}
	default:
		ps.add(pos, "%s: tag %s is not accepted in a body (want text, numbers, true, false or null)", what, n.Tag)
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		ps.add(pos, "%s %q: %v", what, n.Value, err)
		return nil
	}
	return &BodyNode{Literal: raw}
}

// checkXMLBody checks the body of a format: xml resource, parsed as a
// JSON one's (parseBody, which reports the placeholders' and scalars'
// problems): one root element whose content is a mapping, every name an
// XML element name (isXMLName), no list directly in a list.
func checkXMLBody(ps *Problems, file, what string, n *yaml.Node) {
	if n.Kind == yaml.MappingNode && len(n.Content) > 2 {
		k := n.Content[2]
		ps.add(Pos{file, k.Line}, "%s: %q is a second root element: an XML body is a mapping of one key, its root element (body: {search: {propertyId: \"{keys}\"}})", what, k.Value)
		return
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		ps.add(Pos{file, n.Line}, "%s: an XML body is a mapping of one key, its root element (body: {search: {propertyId: \"{keys}\"}})", what)
		return
	}
	if v := n.Content[1]; v.Kind != yaml.MappingNode {
		ps.add(Pos{file, v.Line}, "%s.%s: the root element's value is a mapping of its child elements", what, n.Content[0].Value)
	}
	checkXMLElements(ps, file, what, n, false)
}

// checkXMLElements checks the names of a mapping's elements and, inside,
// their values; inList says n is an item of a list.
func checkXMLElements(ps *Problems, file, what string, n *yaml.Node, inList bool) {
	switch n.Kind {
	case yaml.SequenceNode:
		if inList {
			ps.add(Pos{file, n.Line}, "%s: a list in a list has no XML form (a list repeats its element)", what)
			return
		}
		for _, it := range n.Content {
			checkXMLElements(ps, file, what+"[]", it, true)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || k.Tag == "!!null" || strings.ContainsAny(k.Value, "{}") {
				continue // parseBody's to report
			}
			if !isXMLName(k.Value) {
				ps.add(Pos{file, k.Line}, "%s: %q is not an XML element name (a letter or _, then letters, digits, _, - or .; not starting with xml; no : or @)", what, k.Value)
				continue
			}
			checkXMLElements(ps, file, what+"."+k.Value, n.Content[i+1], false)
		}
	}
}

// isXMLName says s is an XML element name without a namespace prefix, not
// one of the names reserved to XML (xml…, in any case).
func isXMLName(s string) bool {
	if s == "" || len(s) >= 3 && strings.EqualFold(s[:3], "xml") {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r)):
		default:
			return false
		}
	}
	return true
}

// isJSONNumber says s is one JSON number, as JSON writes it.
func isJSONNumber(s string) bool {
	return s != "" && (s[0] == '-' || '0' <= s[0] && s[0] <= '9') && strings.TrimSpace(s) == s && json.Valid([]byte(s))
}
