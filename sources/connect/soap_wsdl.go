package connect

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kommungraf/kommungraf/sources/upstream"
)

// The SOAP connector reads WSDL 1.1 and the XML Schema subset that
// document/literal services use, with encoding/xml. No maintained Go library
// reads WSDL for a runtime client (hooklift/gowsdl generates code; the newer
// toolkits have no users yet), and what is needed here is small: the
// operation's binding, action, SOAP version and address, and its request and
// response elements' trees, to write requests in schema order and to give
// response values their JSON kinds.

// Namespaces the WSDL reader knows.
const (
	nsWSDL      = "http://schemas.xmlsoap.org/wsdl/"
	nsWSDL20    = "http://www.w3.org/ns/wsdl"
	nsWSDLSOAP  = "http://schemas.xmlsoap.org/wsdl/soap/"
	nsWSDLSOAP2 = "http://schemas.xmlsoap.org/wsdl/soap12/"
	nsXSD       = "http://www.w3.org/2001/XMLSchema"
	nsXSI       = "http://www.w3.org/2001/XMLSchema-instance"
	nsXMLNS     = "xmlns"
)

// soapMaxDepth bounds the nesting of any XML document the connector reads.
const soapMaxDepth = 256

// soapNode is one element of a parsed XML document.
type soapNode struct {
	name     xml.Name
	attrs    []xml.Attr
	text     string // the element's own character data, children's excluded
	children []*soapNode
	parent   *soapNode
	// scope maps the prefixes in scope to their namespaces, for QName values
	// such as type="tns:NamnTYPE"; "" is the default namespace.
	scope map[string]string
}

// attr returns the value of the unqualified attribute local ("" if absent).
func (n *soapNode) attr(local string) string {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// attrNS returns the value of the attribute space:local.
func (n *soapNode) attrNS(space, local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// elems returns the children named space:local ("" space: any namespace).
func (n *soapNode) elems(space, local string) []*soapNode {
	var out []*soapNode
	for _, c := range n.children {
		if c.name.Local == local && (space == "" || c.name.Space == space) {
			out = append(out, c)
		}
	}
	return out
}

// elem returns the first child named space:local, or nil.
func (n *soapNode) elem(space, local string) *soapNode {
	for _, c := range n.children {
		if c.name.Local == local && (space == "" || c.name.Space == space) {
			return c
		}
	}
	return nil
}

// qname resolves a QName value ("tns:Foo", "Foo") in the node's scope.
func (n *soapNode) qname(v string) (xml.Name, error) {
	v = strings.TrimSpace(v)
	prefix, local, ok := strings.Cut(v, ":")
	if !ok {
		prefix, local = "", v
	}
	ns, known := n.scope[prefix]
	if !known && prefix != "" {
		return xml.Name{}, fmt.Errorf("prefix %q of %q is not declared", prefix, v)
	}
	return xml.Name{Space: ns, Local: local}, nil
}

// parseSOAPXML reads an XML document into a tree, strictly: a DOCTYPE or
// other directive, nesting deeper than soapMaxDepth or trailing elements
// make it an error.
func parseSOAPXML(data []byte) (*soapNode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var root, cur *soapNode
	var text [][]byte // character data of the open elements
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if root == nil {
				return nil, errors.New("xml: no root element")
			}
			if cur != nil {
				return nil, errors.New("xml: unexpected end of document")
			}
			return root, nil
		}
		if err != nil {
			return nil, fmt.Errorf("xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, upstream.ErrXMLDirective
		case xml.StartElement:
			if root != nil && cur == nil {
				return nil, errors.New("xml: more than one root element")
			}
			if depth++; depth > soapMaxDepth {
				return nil, fmt.Errorf("xml: nested deeper than %d elements", soapMaxDepth)
			}
			n := &soapNode{name: t.Name, attrs: slices.Clone(t.Attr), parent: cur}
			n.scope = scopeOf(cur, t.Attr)
			if cur == nil {
				root = n
			} else {
				cur.children = append(cur.children, n)
			}
			cur = n
			text = append(text, nil)
		case xml.EndElement:
			cur.text = string(text[len(text)-1])
			text = text[:len(text)-1]
			cur, depth = cur.parent, depth-1
		case xml.CharData:
			if cur != nil {
				text[len(text)-1] = append(text[len(text)-1], t...)
			}
		}
	}
}

// scopeOf returns the prefix map of an element: its parent's, plus the
// namespaces it declares (copied only when it declares any).
func scopeOf(parent *soapNode, attrs []xml.Attr) map[string]string {
	scope := map[string]string{}
	if parent != nil {
		scope = parent.scope
	}
	copied := false
	for _, a := range attrs {
		prefix := ""
		switch {
		case a.Name.Space == nsXMLNS:
			prefix = a.Name.Local
		case a.Name.Space == "" && a.Name.Local == "xmlns":
		default:
			continue
		}
		if !copied {
			scope, copied = maps.Clone(scope), true
		}
		scope[prefix] = a.Value
	}
	return scope
}

// WSDL is a parsed WSDL 1.1 service description: its services, bindings,
// port types, messages and inline XML schemas. Build it with ParseWSDL.
type WSDL struct {
	services  []*wsdlService
	bindings  map[xml.Name]*wsdlBinding
	portTypes map[xml.Name]*soapNode
	messages  map[xml.Name]*soapNode
	schema    *xsdSet
}

type wsdlService struct {
	name  string
	ports []wsdlPort
}

type wsdlPort struct {
	name    string
	binding xml.Name
	address string
}

type wsdlBinding struct {
	name     xml.Name
	portType xml.Name
	version  string // "1.1", "1.2", or "" for a binding that is not SOAP's
	style    string
	node     *soapNode
}

// ParseWSDL reads a WSDL 1.1 document. References between its parts are
// resolved later, for the operation a declaration names, so that a problem
// in an unused part does not stop a service. wsdl:import and xsd:import or
// xsd:include of other files are not followed: the types the operation
// uses must be in the document's own wsdl:types.
func ParseWSDL(data []byte) (*WSDL, error) {
	root, err := parseSOAPXML(data)
	if err != nil {
		return nil, fmt.Errorf("wsdl: %w", err)
	}
	switch {
	case root.name.Space == nsWSDL20:
		return nil, errors.New("wsdl: WSDL 2.0 is not supported, only WSDL 1.1")
	case root.name != xml.Name{Space: nsWSDL, Local: "definitions"}:
		return nil, fmt.Errorf("wsdl: the root element is {%s}%s, not WSDL 1.1's definitions", root.name.Space, root.name.Local)
	}
	tns := root.attr("targetNamespace")
	w := &WSDL{
		bindings:  map[xml.Name]*wsdlBinding{},
		portTypes: map[xml.Name]*soapNode{},
		messages:  map[xml.Name]*soapNode{},
		schema:    newXSDSet(),
	}
	for _, types := range root.elems(nsWSDL, "types") {
		for _, s := range types.elems(nsXSD, "schema") {
			w.schema.add(s)
		}
	}
	for _, m := range root.elems(nsWSDL, "message") {
		w.messages[xml.Name{Space: tns, Local: m.attr("name")}] = m
	}
	for _, pt := range root.elems(nsWSDL, "portType") {
		w.portTypes[xml.Name{Space: tns, Local: pt.attr("name")}] = pt
	}
	for _, b := range root.elems(nsWSDL, "binding") {
		wb := &wsdlBinding{name: xml.Name{Space: tns, Local: b.attr("name")}, node: b}
		if wb.portType, err = b.qname(b.attr("type")); err != nil {
			return nil, fmt.Errorf("wsdl: binding %s: %w", wb.name.Local, err)
		}
		if sb := b.elem(nsWSDLSOAP, "binding"); sb != nil {
			wb.version, wb.style = "1.1", sb.attr("style")
		} else if sb := b.elem(nsWSDLSOAP2, "binding"); sb != nil {
			wb.version, wb.style = "1.2", sb.attr("style")
		}
		w.bindings[wb.name] = wb
	}
	for _, s := range root.elems(nsWSDL, "service") {
		ws := &wsdlService{name: s.attr("name")}
		for _, p := range s.elems(nsWSDL, "port") {
			wp := wsdlPort{name: p.attr("name")}
			if wp.binding, err = p.qname(p.attr("binding")); err != nil {
				return nil, fmt.Errorf("wsdl: port %s: %w", wp.name, err)
			}
			for _, c := range p.children {
				if c.name.Local == "address" {
					wp.address = c.attr("location")
				}
			}
			ws.ports = append(ws.ports, wp)
		}
		w.services = append(w.services, ws)
	}
	return w, nil
}

// soapOperation is an operation resolved through service, port, binding,
// port type and messages to its request and response elements.
type soapOperation struct {
	service, port string
	name          string
	version       string // "1.1" or "1.2"
	action        string // soapAction
	address       string // the port's soap:address, informative only
	input, output *xsdElement
}

// operation finds the operation name of service (any when "" and the
// WSDL has one) in a binding of SOAP version ("" prefers 1.1). Each error is
// about the key it names (service, operation or version).
func (w *WSDL) operation(service, name, version string) (*soapOperation, []error) {
	var svc *wsdlService
	var names []string
	for _, s := range w.services {
		names = append(names, s.name)
		if s.name == service {
			svc = s
		}
	}
	switch {
	case len(w.services) == 0:
		return nil, []error{declErr([]string{"soap", "wsdl"}, "the WSDL has no service")}
	case service == "" && len(w.services) == 1:
		svc = w.services[0]
	case service == "":
		return nil, []error{declErr([]string{"soap", "service"}, "the WSDL has %d services (%s): name one", len(names), strings.Join(names, ", "))}
	case svc == nil:
		return nil, []error{declErr([]string{"soap", "service"}, "the WSDL has no service %q (it has %s)", service, strings.Join(names, ", "))}
	}

	type candidate struct {
		port    wsdlPort
		binding *wsdlBinding
		op      *soapNode // binding operation
	}
	var found []candidate
	var ops, versions []string
	for _, p := range svc.ports {
		b := w.bindings[p.binding]
		if b == nil || b.version == "" {
			continue // an HTTP binding, or one this reader cannot see
		}
		for _, o := range b.node.elems(nsWSDL, "operation") {
			on := o.attr("name")
			if !slices.Contains(ops, on) {
				ops = append(ops, on)
			}
			if on == name {
				found = append(found, candidate{p, b, o})
				if !slices.Contains(versions, b.version) {
					versions = append(versions, b.version)
				}
			}
		}
	}
	if len(found) == 0 {
		if len(ops) == 0 {
			return nil, []error{declErr([]string{"soap", "operation"}, "service %s has no SOAP binding with operations", svc.name)}
		}
		return nil, []error{declErr([]string{"soap", "operation"}, "service %s has no operation %q (it has %s)", svc.name, name, strings.Join(ops, ", "))}
	}
	want := version
	if want == "" {
		// Both bindings answer alike; 1.1 is the one every SOAP stack speaks.
		want = "1.1"
		if !slices.Contains(versions, "1.1") {
			want = versions[0]
		}
	}
	i := slices.IndexFunc(found, func(c candidate) bool { return c.binding.version == want })
	if i < 0 {
		return nil, []error{declErr([]string{"soap", "version"}, "service %s binds %s with SOAP %s only, not %s", svc.name, name, strings.Join(versions, " and "), want)}
	}
	c := found[i]
	op := &soapOperation{service: svc.name, port: c.port.name, name: name, version: want, address: c.port.address}
	where := fmt.Sprintf("binding %s, operation %s", c.binding.name.Local, name)
	opKey := []string{"soap", "operation"}

	var errs []error
	style := c.binding.style
	ns := nsWSDLSOAP
	if want == "1.2" {
		ns = nsWSDLSOAP2
	}
	if so := c.op.elem(ns, "operation"); so != nil {
		op.action = so.attr("soapAction")
		if s := so.attr("style"); s != "" {
			style = s
		}
	}
	if style != "" && style != "document" {
		errs = append(errs, declErr(opKey, "%s: style %q is not supported, only document/literal", where, style))
	}
	for _, dir := range []string{"input", "output"} {
		msg := c.op.elem(nsWSDL, dir)
		if msg == nil {
			continue
		}
		if body := msg.elem(ns, "body"); body != nil {
			if use := body.attr("use"); use != "" && use != "literal" {
				errs = append(errs, declErr(opKey, "%s: %s use %q is not supported, only literal", where, dir, use))
			}
		}
	}

	pt := w.portTypes[c.binding.portType]
	if pt == nil {
		return nil, append(errs, declErr(opKey, "%s: port type %s is not in the WSDL", where, c.binding.portType.Local))
	}
	var ptOp *soapNode
	for _, o := range pt.elems(nsWSDL, "operation") {
		if o.attr("name") == name {
			ptOp = o
		}
	}
	if ptOp == nil {
		return nil, append(errs, declErr(opKey, "port type %s has no operation %s", c.binding.portType.Local, name))
	}
	for _, dir := range []struct {
		name string
		out  **xsdElement
	}{{"input", &op.input}, {"output", &op.output}} {
		el, err := w.messageElement(ptOp, dir.name)
		if err != nil {
			errs = append(errs, declErr(opKey, "operation %s: %v", name, err))
			continue
		}
		*dir.out = el
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return op, nil
}

// messageElement resolves the one element part of an operation's input or
// output message.
func (w *WSDL) messageElement(op *soapNode, dir string) (*xsdElement, error) {
	msg := op.elem(nsWSDL, dir)
	if msg == nil {
		return nil, fmt.Errorf("no %s message (one-way operations are not supported)", dir)
	}
	mn, err := msg.qname(msg.attr("message"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m := w.messages[mn]
	if m == nil {
		return nil, fmt.Errorf("%s message %s is not in the WSDL", dir, mn.Local)
	}
	parts := m.elems(nsWSDL, "part")
	if len(parts) != 1 {
		return nil, fmt.Errorf("%s message %s has %d parts; document/literal wants exactly one", dir, mn.Local, len(parts))
	}
	p := parts[0]
	if p.attr("element") == "" {
		return nil, fmt.Errorf("%s message %s: part %s has a type, not an element (rpc style is not supported)", dir, mn.Local, p.attr("name"))
	}
	en, err := p.qname(p.attr("element"))
	if err != nil {
		return nil, fmt.Errorf("%s message %s: %w", dir, mn.Local, err)
	}
	el, err := w.schema.global(en)
	if err != nil {
		return nil, fmt.Errorf("%s element: %w", dir, err)
	}
	return el, nil
}

// valueKind is the JSON kind a simple XML value decodes to.
type valueKind int

const (
	kindString valueKind = iota
	kindNumber
	kindBool
)

// xsdElement is an element declaration, its reference resolved.
type xsdElement struct {
	name xml.Name // as on the wire: Space "" for an unqualified local element
	min  int
	max  int // -1: unbounded
	typ  *xsdType
}

// repeated reports whether the element may occur more than once.
func (e *xsdElement) repeated() bool { return e.max != 1 }

// xsdType is a complex or simple type. A type with element children is
// complex; one without (simple, or complex with simple content) is a value.
type xsdType struct {
	name     string // for messages: the type's name, or "anonymous"
	kind     valueKind
	complex  bool // has (or may have) element children
	anyChild bool // xs:any: children this reader cannot know
	children []*xsdElement
	err      error // why the type could not be read
}

// child returns the child element with the local name local.
func (t *xsdType) child(local string) *xsdElement {
	for _, c := range t.children {
		if c.name.Local == local {
			return c
		}
	}
	return nil
}

// childNames lists the children's local names, for error messages.
func (t *xsdType) childNames() string {
	if len(t.children) == 0 {
		return "no elements"
	}
	names := make([]string, len(t.children))
	for i, c := range t.children {
		names[i] = c.name.Local
	}
	return strings.Join(names, ", ")
}

// xsdSet holds the schemas of a WSDL's types and the types read so far.
type xsdSet struct {
	elements map[xml.Name]*soapNode
	types    map[xml.Name]*soapNode
	// read memoises types by declaration, so that recursive types end in
	// a cycle of pointers rather than an endless descent.
	read map[*soapNode]*xsdType
}

func newXSDSet() *xsdSet {
	return &xsdSet{
		elements: map[xml.Name]*soapNode{}, types: map[xml.Name]*soapNode{},
		read: map[*soapNode]*xsdType{},
	}
}

func (s *xsdSet) add(schema *soapNode) {
	tns := schema.attr("targetNamespace")
	for _, c := range schema.children {
		if c.name.Space != nsXSD {
			continue
		}
		switch c.name.Local {
		case "element":
			s.elements[xml.Name{Space: tns, Local: c.attr("name")}] = c
		case "complexType", "simpleType":
			s.types[xml.Name{Space: tns, Local: c.attr("name")}] = c
		}
	}
}

// schemaOf returns the xs:schema a declaration belongs to.
func schemaOf(n *soapNode) *soapNode {
	for n != nil && (n.name != xml.Name{Space: nsXSD, Local: "schema"}) {
		n = n.parent
	}
	return n
}

// global returns the global element name.
func (s *xsdSet) global(name xml.Name) (*xsdElement, error) {
	n := s.elements[name]
	if n == nil {
		return nil, fmt.Errorf("element {%s}%s is not defined in the WSDL's types (schemas imported from other files are not read)", name.Space, name.Local)
	}
	return s.element(n)
}

// element reads an element declaration, global or local, following ref.
func (s *xsdSet) element(n *soapNode) (*xsdElement, error) {
	e := &xsdElement{min: 1, max: 1}
	var err error
	if e.min, e.max, err = occurs(n); err != nil {
		return nil, err
	}
	decl := n
	if ref := n.attr("ref"); ref != "" {
		rn, err := n.qname(ref)
		if err != nil {
			return nil, err
		}
		if decl = s.elements[rn]; decl == nil {
			return nil, fmt.Errorf("element ref %s is not defined in the WSDL's types", ref)
		}
	}
	schema := schemaOf(decl)
	tns := ""
	if schema != nil {
		tns = schema.attr("targetNamespace")
	}
	e.name = xml.Name{Space: tns, Local: decl.attr("name")}
	if decl.parent != schema { // a local element: qualified only by form
		form := decl.attr("form")
		if form == "" && schema != nil {
			form = schema.attr("elementFormDefault")
		}
		if form != "qualified" {
			e.name.Space = ""
		}
	}
	if e.name.Local == "" || !isNCName(e.name.Local) {
		return nil, fmt.Errorf("element name %q is not an XML name", e.name.Local)
	}
	switch {
	case decl.attr("type") != "":
		tn, err := decl.qname(decl.attr("type"))
		if err != nil {
			return nil, fmt.Errorf("element %s: %w", e.name.Local, err)
		}
		e.typ = s.named(tn)
	case decl.elem(nsXSD, "complexType") != nil:
		e.typ = s.typeOf(decl.elem(nsXSD, "complexType"), "anonymous")
	case decl.elem(nsXSD, "simpleType") != nil:
		e.typ = s.typeOf(decl.elem(nsXSD, "simpleType"), "anonymous")
	default:
		e.typ = &xsdType{name: "anyType"} // untyped: a string value
	}
	if e.typ.err != nil {
		return nil, fmt.Errorf("element %s: %w", e.name.Local, e.typ.err)
	}
	return e, nil
}

// occurs reads minOccurs and maxOccurs.
func occurs(n *soapNode) (lo, hi int, err error) {
	lo, hi = 1, 1
	if v := n.attr("minOccurs"); v != "" {
		if lo, err = strconv.Atoi(v); err != nil || lo < 0 {
			return 0, 0, fmt.Errorf("minOccurs %q is not a count", v)
		}
	}
	switch v := n.attr("maxOccurs"); v {
	case "":
	case "unbounded":
		hi = -1
	default:
		if hi, err = strconv.Atoi(v); err != nil || hi < 0 {
			return 0, 0, fmt.Errorf("maxOccurs %q is not a count", v)
		}
	}
	return lo, hi, nil
}

// xsdNumeric are the built-in types whose values are numbers in JSON.
var xsdNumeric = map[string]bool{
	"decimal": true, "integer": true, "int": true, "long": true, "short": true, "byte": true,
	"nonNegativeInteger": true, "positiveInteger": true, "nonPositiveInteger": true, "negativeInteger": true,
	"unsignedLong": true, "unsignedInt": true, "unsignedShort": true, "unsignedByte": true,
	"float": true, "double": true,
}

// named returns the type name: a built-in one, or one of the WSDL's.
func (s *xsdSet) named(name xml.Name) *xsdType {
	if name.Space == nsXSD {
		switch {
		case xsdNumeric[name.Local]:
			return &xsdType{name: name.Local, kind: kindNumber}
		case name.Local == "boolean":
			return &xsdType{name: name.Local, kind: kindBool}
		case name.Local == "anyType":
			return &xsdType{name: name.Local, complex: true, anyChild: true}
		}
		return &xsdType{name: name.Local} // strings, dates, names, binary: text
	}
	n := s.types[name]
	if n == nil {
		return &xsdType{err: fmt.Errorf("type {%s}%s is not defined in the WSDL's types (schemas imported from other files are not read)", name.Space, name.Local)}
	}
	return s.typeOf(n, name.Local)
}

// typeOf reads a complexType or simpleType declaration.
func (s *xsdSet) typeOf(n *soapNode, name string) *xsdType {
	if t := s.read[n]; t != nil {
		return t
	}
	t := &xsdType{name: name}
	s.read[n] = t
	if n.name.Local == "simpleType" {
		s.simple(n, t)
		return t
	}
	t.complex = true
	if n.attr("mixed") == "true" {
		t.err = fmt.Errorf("type %s has mixed content, which is not supported", name)
		return t
	}
	s.content(n, t)
	return t
}

// simple reads a simple type's value kind from its restriction's base.
func (s *xsdSet) simple(n *soapNode, t *xsdType) {
	r := n.elem(nsXSD, "restriction")
	if r == nil {
		return // xs:list and xs:union: text
	}
	if r.attr("base") == "" {
		if inner := r.elem(nsXSD, "simpleType"); inner != nil {
			t.kind = s.typeOf(inner, "anonymous").kind
		}
		return
	}
	bn, err := r.qname(r.attr("base"))
	if err != nil {
		t.err = err
		return
	}
	base := s.named(bn)
	t.kind, t.err = base.kind, base.err
}

// content reads a complex type's children: sequence, all and choice
// (nested as deep as they come), complexContent extension and restriction,
// simpleContent; attributes are not read.
func (s *xsdSet) content(n *soapNode, t *xsdType) {
	for _, c := range n.children {
		if c.name.Space != nsXSD || t.err != nil {
			continue
		}
		switch c.name.Local {
		case "sequence", "all":
			s.particles(c, t, false)
		case "choice":
			s.particles(c, t, true)
		case "group":
			t.err = fmt.Errorf("type %s: xs:group is not supported", t.name)
		case "simpleContent":
			t.complex = false
			if d := derivation(c); d != nil && d.attr("base") != "" {
				bn, err := d.qname(d.attr("base"))
				if err != nil {
					t.err = err
					return
				}
				base := s.named(bn)
				t.kind, t.err = base.kind, base.err
			}
		case "complexContent":
			d := derivation(c)
			if d == nil {
				continue
			}
			if d.name.Local == "extension" && d.attr("base") != "" {
				bn, err := d.qname(d.attr("base"))
				if err != nil {
					t.err = err
					return
				}
				if bn.Space != nsXSD {
					base := s.named(bn)
					if base.err != nil {
						t.err = base.err
						return
					}
					t.children = append(t.children, base.children...)
					t.anyChild = t.anyChild || base.anyChild
				}
			}
			s.content(d, t)
		}
	}
}

// derivation returns the extension or restriction of a content model.
func derivation(n *soapNode) *soapNode {
	if d := n.elem(nsXSD, "extension"); d != nil {
		return d
	}
	return n.elem(nsXSD, "restriction")
}

// particles reads the elements of a sequence, all or choice; the elements
// of a choice, or of a group that may be absent, are optional.
func (s *xsdSet) particles(n *soapNode, t *xsdType, optional bool) {
	lo, hi, err := occurs(n)
	if err != nil {
		t.err = err
		return
	}
	optional = optional || lo == 0
	for _, c := range n.children {
		if c.name.Space != nsXSD || t.err != nil {
			continue
		}
		switch c.name.Local {
		case "element":
			e, err := s.element(c)
			if err != nil {
				t.err = err
				return
			}
			if optional || hi != 1 {
				// The element of an optional or repeated group: a copy, so
				// that the declaration's own occurrence stays as it is.
				cp := *e
				if optional {
					cp.min = 0
				}
				if hi != 1 {
					cp.max = -1
				}
				e = &cp
			}
			t.children = append(t.children, e)
		case "sequence", "all":
			s.particles(c, t, optional)
		case "choice":
			s.particles(c, t, true)
		case "any":
			t.anyChild = true
		case "group":
			t.err = fmt.Errorf("type %s: xs:group is not supported", t.name)
		}
	}
}

// isNCName reports whether s can be an XML element name without a prefix.
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r > 0x7f && r != 0xfffd:
		case i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}
