package connect

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// soapPlan is a SOAP declaration compiled against its WSDL: the request
// element rendered but for the key, and the steps from the response element
// to the records and from a record to each field.
type soapPlan struct {
	op *soapOperation
	// body is the request element; only the key varies from call to call.
	body []soapChunk
	// records are the steps from the response element to its records.
	records []*xsdElement
	fields  []soapField
	// objects are the nested objects of the field names (address for
	// address.street), deepest first.
	objects [][]string
}

// soapChunk is a piece of the request element: escaped text, the key, or
// an element whose value is an argument of the bound field (elem, its
// name as written; arg, the argument's): written with the value escaped,
// or left out when the argument is null.
type soapChunk struct {
	text      string
	key       bool
	arg, elem string
}

// soapField is one schema field and the steps to its value in a record.
type soapField struct {
	target []string // the schema field's name, split at dots for nested objects
	steps  []*xsdElement
	list   bool // a step may repeat: the value is a list
}

// soapTmplPart is a piece of a request template: text, {key},
// {config.<name>}, {args.<name>} or {parent.<field>} (an arg named
// parent.<field>).
type soapTmplPart struct {
	text   string
	key    bool
	config string
	arg    string
}

// parseSOAPTemplate splits a request value into text and placeholders.
func parseSOAPTemplate(s string) ([]soapTmplPart, error) {
	var parts []soapTmplPart
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			parts = append(parts, soapTmplPart{text: s})
			break
		}
		if i > 0 {
			parts = append(parts, soapTmplPart{text: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%q has a { without }", s)
		}
		name := s[i+1 : i+j]
		cfg, isCfg := strings.CutPrefix(name, "config.")
		arg, isArg := strings.CutPrefix(name, "args.")
		isArg = isArg && isFieldName(arg)
		if field, isParent := strings.CutPrefix(name, "parent."); isParent {
			// A parent record's field is an argument named parent.<field>
			// (declare.ArgRef.Key); an argument's own name has no dot.
			arg, isArg = "parent."+field, isFieldName(field)
		}
		switch {
		case name == "key":
			parts = append(parts, soapTmplPart{key: true})
		case isCfg && isConfigName(cfg):
			parts = append(parts, soapTmplPart{config: cfg})
		case isArg:
			parts = append(parts, soapTmplPart{arg: arg})
		default:
			return nil, fmt.Errorf("unknown placeholder {%s}: use {key}, {config.<name>}, {args.<name>} or {parent.<field>}", name)
		}
		s = s[i+j+1:]
	}
	return parts, nil
}

// argPlaceholder is an argument's placeholder as written: {args.<name>},
// or {parent.<field>} for one named parent.<field>.
func argPlaceholder(arg string) string {
	if strings.HasPrefix(arg, "parent.") {
		return "{" + arg + "}"
	}
	return "{args." + arg + "}"
}

// isConfigName reports a name that sources.<system>.<name> can have.
func isConfigName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-')) {
			return false
		}
	}
	return true
}

// isFieldName reports a GraphQL name.
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// compileSOAP resolves a declaration against its WSDL. config may be nil
// to check the declaration without the configuration's values.
func compileSOAP(c SOAPCall, w *WSDL, fields, config map[string]string) (*soapPlan, []error) {
	if w == nil {
		return nil, []error{declErr([]string{"soap", "wsdl"}, "no WSDL")}
	}
	op, errs := w.operation(c.Service, c.Operation, c.Version)
	if op == nil {
		return nil, errs
	}
	p := &soapPlan{op: op}
	errs = append(errs, p.compileRequest(c.Request, config)...)

	record := op.output
	if c.Records != "" {
		steps, err := resolveSteps(op.output, c.Records)
		if err != nil {
			errs = append(errs, declErr([]string{"soap", "records"}, "%v", err))
			return nil, errs
		}
		p.records, record = steps, steps[len(steps)-1]
	}
	if !record.typ.complex {
		errs = append(errs, declErr([]string{"soap", "records"}, "%s is a value, not a record with elements", record.name.Local))
		return nil, errs
	}
	errs = append(errs, p.compileFields(record, fields)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// resolveSteps follows a dotted path of element names below from.
func resolveSteps(from *xsdElement, dotted string) ([]*xsdElement, error) {
	var steps []*xsdElement
	cur := from
	for _, seg := range strings.Split(dotted, ".") {
		t := cur.typ
		if !t.complex {
			return nil, fmt.Errorf("%s is a value (%s), it has no element %s", cur.name.Local, t.name, seg)
		}
		next := t.child(seg)
		if next == nil {
			if t.anyChild {
				return nil, fmt.Errorf("%s declares no element %s (its content is open, xs:any, and this reader needs declared elements)", cur.name.Local, seg)
			}
			return nil, fmt.Errorf("%s has no element %s (it has %s)", cur.name.Local, seg, t.childNames())
		}
		if next.typ.err != nil {
			return nil, fmt.Errorf("%s: %w", next.name.Local, next.typ.err)
		}
		steps = append(steps, next)
		cur = next
	}
	return steps, nil
}

// compileRequest checks the request paths and renders the input element.
func (p *soapPlan) compileRequest(request, config map[string]string) []error {
	var errs []error
	values := map[string][]soapTmplPart{}
	for _, path := range slices.Sorted(maps.Keys(request)) {
		key := []string{"soap", "request", path}
		parts, err := parseSOAPTemplate(request[path])
		if err != nil || checkDotted(path) != nil {
			continue // Validate reports it
		}
		steps, err := resolveSteps(p.op.input, path)
		if err != nil {
			errs = append(errs, declErr(key, "%v", err))
			continue
		}
		if last := steps[len(steps)-1]; last.typ.complex {
			errs = append(errs, declErr(key, "%s is not a value: it has elements (%s); give values to them", last.name.Local, last.typ.childNames()))
			continue
		}
		if config != nil {
			for _, part := range parts {
				if _, ok := config[part.config]; part.config != "" && !ok {
					errs = append(errs, declErr(key, "{config.%s}: the configuration sets no %s for this system", part.config, part.config))
				}
			}
		}
		values[path] = parts
	}
	if !p.op.input.typ.complex {
		return append(errs, declErr([]string{"soap", "request"}, "the input element %s is a value; request paths need elements", p.op.input.name.Local))
	}
	rw := &soapReqWriter{values: values, config: config, prefixes: map[string]string{}}
	rw.children(p.op.input, "", 0)
	errs = append(errs, rw.errs...)

	// The root element declares every namespace its descendants use.
	root := rw.name(p.op.input.name)
	var start strings.Builder
	start.WriteString("<" + root)
	for _, ns := range rw.order {
		start.WriteString(" xmlns:" + rw.prefixes[ns] + `="`)
		escapeXML(&start, ns)
		start.WriteString(`"`)
	}
	start.WriteString(">")
	rw.flush()
	p.body = mergeChunks(append(append([]soapChunk{{text: start.String()}}, rw.chunks...), soapChunk{text: "</" + root + ">"}))
	return errs
}

// soapReqWriter renders a request element in schema order.
type soapReqWriter struct {
	values   map[string][]soapTmplPart
	config   map[string]string
	prefixes map[string]string // namespace -> prefix
	order    []string          // namespaces in the order they were first used
	chunks   []soapChunk
	pending  strings.Builder
	errs     []error
}

// soapMaxRequestDepth bounds how deep required elements are written.
const soapMaxRequestDepth = 64

func (w *soapReqWriter) name(n xml.Name) string {
	if n.Space == "" {
		return n.Local // unqualified: no default namespace is ever declared
	}
	p, ok := w.prefixes[n.Space]
	if !ok {
		p = "m"
		if len(w.order) > 0 {
			p = "m" + strconv.Itoa(len(w.order))
		}
		w.prefixes[n.Space] = p
		w.order = append(w.order, n.Space)
	}
	return p + ":" + n.Local
}

func (w *soapReqWriter) flush() {
	if w.pending.Len() > 0 {
		w.chunks = append(w.chunks, soapChunk{text: w.pending.String()})
		w.pending.Reset()
	}
}

// hasBelow reports a value for a path below path.
func (w *soapReqWriter) hasBelow(path string) bool {
	for p := range w.values {
		if strings.HasPrefix(p, path+".") {
			return true
		}
	}
	return false
}

// children writes the child elements of e that have values, or values
// below them, or are required.
func (w *soapReqWriter) children(e *xsdElement, path string, depth int) {
	for _, c := range e.typ.children {
		cp := c.name.Local
		if path != "" {
			cp = path + "." + c.name.Local
		}
		if parts, ok := w.values[cp]; ok {
			name := w.name(c.name)
			if arg, isArg := argValue(parts); isArg {
				// An argument is an optional element's whole value: a null
				// argument leaves the element out.
				if len(parts) != 1 || c.min > 0 {
					w.errs = append(w.errs, declErr([]string{"soap", "request", cp}, "%s: an argument is the whole value of an optional element (minOccurs=\"0\"), which a null argument leaves out", argPlaceholder(arg)))
					continue
				}
				w.flush()
				w.chunks = append(w.chunks, soapChunk{arg: arg, elem: name})
				continue
			}
			w.pending.WriteString("<" + name + ">")
			for _, part := range parts {
				switch {
				case part.key:
					w.flush()
					w.chunks = append(w.chunks, soapChunk{key: true})
				case part.config != "":
					escapeXML(&w.pending, w.config[part.config])
				default:
					escapeXML(&w.pending, part.text)
				}
			}
			w.pending.WriteString("</" + name + ">")
			continue
		}
		required := c.min > 0
		switch {
		case !w.hasBelow(cp) && !required:
			continue
		case !c.typ.complex:
			w.errs = append(w.errs, declErr([]string{"soap", "request"}, "the required element %s has no value", cp))
			continue
		case depth >= soapMaxRequestDepth:
			w.errs = append(w.errs, declErr([]string{"soap", "request"}, "%s: required elements nest deeper than %d", cp, soapMaxRequestDepth))
			return
		}
		name := w.name(c.name)
		w.pending.WriteString("<" + name + ">")
		w.children(c, cp, depth+1)
		w.pending.WriteString("</" + name + ">")
	}
}

// argValue reports a template that uses an argument, and its first one.
func argValue(parts []soapTmplPart) (string, bool) {
	for _, p := range parts {
		if p.arg != "" {
			return p.arg, true
		}
	}
	return "", false
}

// mergeChunks joins neighbouring text chunks.
func mergeChunks(in []soapChunk) []soapChunk {
	var out []soapChunk
	for _, c := range in {
		if n := len(out); n > 0 && !c.key && c.arg == "" && !out[n-1].key && out[n-1].arg == "" {
			out[n-1].text += c.text
			continue
		}
		out = append(out, c)
	}
	return out
}

// compileFields checks the field names and their paths within a record.
func (p *soapPlan) compileFields(record *xsdElement, fields map[string]string) []error {
	if len(fields) == 0 {
		return []error{declErr([]string{"fields"}, "no fields: map at least one schema field to a path within a record")}
	}
	var errs []error
	names := slices.Sorted(maps.Keys(fields))
	for i, name := range names {
		key := []string{"fields", name}
		target := strings.Split(name, ".")
		if !slices.ContainsFunc(target, func(s string) bool { return !isFieldName(s) }) {
			// A name that is also an object of nested fields cannot be both.
			if i+1 < len(names) && strings.HasPrefix(names[i+1], name+".") {
				errs = append(errs, declErr(key, "is a field and also holds %s", names[i+1]))
				continue
			}
		} else {
			errs = append(errs, declErr(key, "is not a field name (nested objects: object.field)"))
			continue
		}
		path := fields[name]
		if err := checkDotted(path); err != nil {
			errs = append(errs, declErr(key, "%v", err))
			continue
		}
		steps, err := resolveSteps(record, path)
		if err != nil {
			errs = append(errs, declErr(key, "%v", err))
			continue
		}
		f := soapField{target: target, steps: steps}
		for _, s := range steps {
			f.list = f.list || s.repeated()
		}
		p.fields = append(p.fields, f)
		for i := len(target) - 1; i > 0; i-- {
			obj := target[:i]
			if !slices.ContainsFunc(p.objects, func(o []string) bool { return slices.Equal(o, obj) }) {
				p.objects = append(p.objects, obj)
			}
		}
	}
	slices.SortStableFunc(p.objects, func(a, b []string) int { return len(b) - len(a) })
	return errs
}

// decode reads the records of the response element.
func (p *soapPlan) decode(payload *soapNode) ([]Record, error) {
	switch {
	case payload == nil:
		return nil, errors.New("the Body is empty")
	case payload.name.Local != p.op.output.name.Local:
		return nil, fmt.Errorf("the Body holds %s, not %s", payload.name.Local, p.op.output.name.Local)
	}
	nodes := []*soapNode{payload}
	for _, s := range p.records {
		nodes = childrenNamed(nodes, s.name.Local)
	}
	recs := make([]Record, 0, len(nodes))
	for _, n := range nodes {
		if isXSINil(n) {
			continue
		}
		r := Record{}
		for _, f := range p.fields {
			v, err := f.value(n)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", strings.Join(f.target, "."), err)
			}
			setField(r, f.target, v)
		}
		nilEmptyObjects(r, p.objects)
		recs = append(recs, r)
	}
	return recs, nil
}

// value reads the field in a record: nil when absent, a list when a step
// may repeat (nil when nothing is there), else the first value.
func (f *soapField) value(record *soapNode) (any, error) {
	nodes := []*soapNode{record}
	for _, s := range f.steps {
		nodes = childrenNamed(nodes, s.name.Local)
	}
	last := f.steps[len(f.steps)-1]
	if len(nodes) == 0 {
		return nil, nil
	}
	if !f.list {
		return soapValue(nodes[0], last.typ, 0)
	}
	out := make([]any, 0, len(nodes))
	for _, n := range nodes {
		v, err := soapValue(n, last.typ, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// soapValue converts an element as a JSON decoder with UseNumber would
// give its JSON form: text as a string, numeric and boolean schema types as
// json.Number and bool, an element with children as a map by local name (repeated children
// as lists), xsi:nil as nil.
func soapValue(n *soapNode, t *xsdType, depth int) (any, error) {
	if isXSINil(n) {
		return nil, nil
	}
	if !t.complex {
		return soapScalar(n.text, t.kind)
	}
	if depth > soapMaxDepth {
		return nil, errors.New("nested too deep")
	}
	m := map[string]any{}
	for _, c := range t.children {
		cs := n.elems("", c.name.Local)
		if len(cs) == 0 {
			continue
		}
		if !c.repeated() {
			v, err := soapValue(cs[0], c.typ, depth+1)
			if err != nil {
				return nil, err
			}
			m[c.name.Local] = v
			continue
		}
		list := make([]any, 0, len(cs))
		for _, cn := range cs {
			v, err := soapValue(cn, c.typ, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		m[c.name.Local] = list
	}
	return m, nil
}

// soapScalar converts simple content by its schema kind. Empty content of
// a number or boolean is nil: services write absent values as empty elements.
func soapScalar(text string, kind valueKind) (any, error) {
	switch kind {
	case kindNumber:
		s := strings.TrimSpace(text)
		if s == "" {
			return nil, nil
		}
		return number(s)
	case kindBool:
		switch strings.TrimSpace(text) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		case "":
			return nil, nil
		}
		return nil, errors.New("a boolean element holds no boolean")
	}
	return text, nil
}

func isXSINil(n *soapNode) bool {
	v, ok := n.attrNS(nsXSI, "nil")
	return ok && (strings.TrimSpace(v) == "true" || strings.TrimSpace(v) == "1")
}

// childrenNamed returns the children named local of every node, in order.
// Names match by local name: services are not always exact about the
// namespaces of what they send, and the path is declared per operation.
func childrenNamed(nodes []*soapNode, local string) []*soapNode {
	var out []*soapNode
	for _, n := range nodes {
		for _, c := range n.children {
			if c.name.Local == local {
				out = append(out, c)
			}
		}
	}
	return out
}

// setField sets r's field target (nested for dotted names).
func setField(r Record, target []string, v any) {
	m := r
	for _, seg := range target[:len(target)-1] {
		next, ok := m[seg].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[seg] = next
		}
		m = next
	}
	m[target[len(target)-1]] = v
}

// escapeXML writes s as XML character data: markup characters become
// references, and characters XML cannot carry become U+FFFD, so that no
// value can end an element or open a new one.
func escapeXML(w io.Writer, s string) {
	_ = xml.EscapeText(w, []byte(s))
}
