package declare

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"gopkg.in/yaml.v3"
)

// Arguments of bound fields. A field bound with @resource may take
// arguments of its own (scalars and enums), and its resource's HTTP call
// template names them as {args.<name>}: as a whole query value
// (pickups?propertyIds={keys}&fraction={args.fraction}, query-escaped; a
// null argument leaves its parameter out) or as a whole path segment
// (items/{key}/{args.year}, path-escaped; the argument must be non-null).
// Arguments belong to a call, not to a key: the keys asked with equal
// arguments share batch calls, keys asked with different ones never do,
// so every batch form carries them. An SQL query binds {args.<name>} as
// one text parameter where it stands, as often as it stands (NULL for a
// null argument; sqldb). A SOAP request takes {args.<name>} as the whole
// value of an optional element, XML-escaped, the element left out when
// the argument is null (connect checks that against the WSDL). A
// listing's field has first and after besides (the connection's); a
// listing's key and arguments ask for windows one call at a time.
//
// A parent field, {parent.<field>}, stands where an argument may stand (an
// HTTP call's path segment, query value or POST body value, an SQL
// query's value, a SOAP request's optional element) and is escaped or
// bound alike; its value is the parent record's field, which the
// generated resolver passes with the key as it passes the arguments (under
// the name parent.<field>), so keys whose parents differ there never share
// a call. The field must be a plain field of the bound field's type, of a
// built-in scalar or an enum (isCallValue): not a list, not bound with
// @resource, taking no arguments.

// placeRE is one {args.<name>} or {parent.<field>} of an HTTP call.
var placeRE = regexp.MustCompile(`\{(args|parent)\.([A-Za-z_][A-Za-z0-9_]*)\}`)

// ArgRef is where a call template uses an argument, or a parent field.
type ArgRef struct {
	Name string
	// InPath says it is a path segment (else a query or body value).
	InPath bool
	// Parent says it is a field of the parent record ({parent.<field>}),
	// not an argument of the field.
	Parent bool
}

// Key is the name the reference's value has in an ArgsKey: the argument's
// name, or parent.<field>.
func (a ArgRef) Key() string {
	if a.Parent {
		return "parent." + a.Name
	}
	return a.Name
}

// Placeholder is the reference as written: {args.<name>} or
// {parent.<field>}.
func (a ArgRef) Placeholder() string {
	if a.Parent {
		return "{parent." + a.Name + "}"
	}
	return "{args." + a.Name + "}"
}

// refOf is the ArgRef of a body placeholder's Place (BodyNode).
func refOf(place string) (ArgRef, bool) {
	switch place {
	case "", KeyPlace, KeysPlace:
		return ArgRef{}, false
	}
	if f, ok := strings.CutPrefix(place, "parent."); ok {
		return ArgRef{Name: f, Parent: true}, true
	}
	return ArgRef{Name: place}, true
}

// Args are the arguments a resource's call template uses, in order of
// appearance (an SQL query's each once: it may use one more than once);
// nil for a resource without an HTTP or SQL part.
func (r *Resource) Args() []ArgRef {
	if r == nil {
		return nil
	}
	if r.SQL != nil {
		return sqlArgs(r.SQL)
	}
	if r.SOAP != nil {
		return soapArgs(r.SOAP)
	}
	if r.HTTP == nil {
		return nil
	}
	c := r.HTTP.Batch
	if c == nil {
		c = r.HTTP.One
	}
	if c == nil {
		return nil
	}
	out := templateArgs(c.Template())
	for _, p := range c.Body.placeholders() {
		if a, ok := refOf(p); ok && !slices.ContainsFunc(out, func(b ArgRef) bool { return b.Key() == a.Key() }) {
			out = append(out, a)
		}
	}
	return out
}

// sqlArgs are the arguments an sql part's query names. The connector's
// checks (sqldb) refuse one inside a string literal.
func sqlArgs(n *yaml.Node) []ArgRef {
	var part struct {
		Query string `yaml:"query"`
	}
	if n.Decode(&part) != nil {
		return nil
	}
	return uniqueRefs(nil, part.Query)
}

// uniqueRefs adds the {args.<name>} and {parent.<field>} of text to refs,
// each once.
func uniqueRefs(refs []ArgRef, text string) []ArgRef {
	for _, m := range placeRE.FindAllStringSubmatch(text, -1) {
		a := ArgRef{Name: m[2], Parent: m[1] == "parent"}
		if !slices.ContainsFunc(refs, func(b ArgRef) bool { return b.Key() == a.Key() }) {
			refs = append(refs, a)
		}
	}
	return refs
}

// soapArgs are the arguments a soap part's request values name, in the
// order of the request's paths.
func soapArgs(n *yaml.Node) []ArgRef {
	var part struct {
		Request map[string]string `yaml:"request"`
	}
	if n.Decode(&part) != nil {
		return nil
	}
	var out []ArgRef
	for _, p := range slices.Sorted(maps.Keys(part.Request)) {
		out = uniqueRefs(out, part.Request[p])
	}
	return out
}

func templateArgs(tmpl string) []ArgRef {
	path, query, _ := strings.Cut(tmpl, "?")
	var out []ArgRef
	for _, m := range placeRE.FindAllStringSubmatch(path, -1) {
		out = append(out, ArgRef{Name: m[2], InPath: true, Parent: m[1] == "parent"})
	}
	for _, m := range placeRE.FindAllStringSubmatch(query, -1) {
		out = append(out, ArgRef{Name: m[2], Parent: m[1] == "parent"})
	}
	return out
}

// checkArgPlaces checks the {args.<name>} and {parent.<field>} of a call
// template: each a whole path segment or a whole query value, each name
// once. It returns the template with them taken out, for the placeholder
// checks.
func checkArgPlaces(ps *Problems, pos Pos, what, tmpl string) string {
	path, query, hasQuery := strings.Cut(tmpl, "?")
	seen := map[string]bool{}
	for _, a := range templateArgs(tmpl) {
		if seen[a.Key()] {
			ps.add(pos, "%s %q: %s more than once", what, tmpl, a.Placeholder())
		}
		seen[a.Key()] = true
	}
	for _, seg := range strings.Split(path, "/") {
		if placeRE.MatchString(seg) && placeRE.FindString(seg) != seg {
			ps.add(pos, "%s %q: an argument is a whole path segment, as is a parent field (items/{args.year})", what, tmpl)
		}
	}
	if hasQuery {
		for _, part := range strings.Split(query, "&") {
			_, v, _ := strings.Cut(part, "=")
			if placeRE.MatchString(part) && placeRE.FindString(v) != v {
				ps.add(pos, "%s %q: an argument is a whole query value, as is a parent field (fraction={args.fraction})", what, tmpl)
			}
		}
	}
	return placeRE.ReplaceAllString(tmpl, "a")
}

// checkArgs checks a bound field's arguments against its resource's call:
// every argument the template names is one of the field's, of a scalar or
// enum type, non-null when it is a path segment; every argument of the
// field is used (an argument the call ignores would answer every value
// alike); a resource without an HTTP call, or a listing, takes none.
func checkArgs(ps *Problems, schema *ast.Schema, b Binding, f *ast.FieldDefinition, r *Resource, where string) {
	refs := r.Args()
	own := f.Arguments
	if r.Paging() != nil {
		// first and after are the connection's (checkConnection).
		own = nil
		for _, a := range f.Arguments {
			if a.Name != ArgFirst && a.Name != ArgAfter {
				own = append(own, a)
			}
		}
	}
	if len(own) > 0 && r.HTTP == nil && r.SQL == nil && r.SOAP == nil {
		ps.add(b.Pos, "%s: a field bound with @resource to %s takes no arguments of its own: it has no call to take them", where, r.FullName())
		return
	}
	used := map[string]bool{}
	for _, a := range refs {
		if a.Parent {
			checkParentField(ps, schema, b, a, r, where)
			continue
		}
		used[a.Name] = true
		fa := own.ForName(a.Name)
		if fa == nil {
			ps.add(b.Pos, "%s: resource %s's call (%s) uses {args.%s}, but the field has no argument %s", where, r.FullName(), r.callPos(), a.Name, a.Name)
			continue
		}
		if a.InPath && !fa.Type.NonNull {
			ps.add(schemaPos(fa.Position), "%s(%s: %s): the argument is a path segment of %s's call: make it non-null (%s!)", where, fa.Name, fa.Type.String(), r.FullName(), fa.Type.String())
		}
		r.setArgType(ps, b, a, fa.Type, where)
	}
	for _, fa := range own {
		switch {
		case fa.Type.Elem != nil || !isCallValue(schema, fa.Type.Name()):
			ps.add(schemaPos(fa.Position), "%s(%s: %s): an argument of a field bound with @resource is a built-in scalar (ID, String, Int, Float, Boolean) or an enum", where, fa.Name, fa.Type.String())
		case !used[fa.Name]:
			ps.add(schemaPos(fa.Position), "%s(%s): resource %s's call (%s) does not use {args.%s}: the argument would change nothing", where, fa.Name, r.FullName(), r.callPos(), fa.Name)
		}
	}
}

// checkParentField checks a {parent.<field>} of the call of a field bound
// on type b.Type: a plain field of that type, of a built-in scalar or an
// enum (isCallValue), not a list, not bound with @resource, taking no
// arguments (a resolver's), non-null when it is a path segment.
func checkParentField(ps *Problems, schema *ast.Schema, b Binding, a ArgRef, r *Resource, where string) {
	def := schema.Types[b.Type]
	var pf *ast.FieldDefinition
	if def != nil {
		pf = def.Fields.ForName(a.Name)
	}
	switch {
	case pf == nil:
		ps.add(b.Pos, "%s: resource %s's call (%s) uses {parent.%s}, but %s has no field %s", where, r.FullName(), r.callPos(), a.Name, b.Type, a.Name)
	case pf.Directives.ForName(ResourceDirective) != nil || len(pf.Arguments) > 0:
		ps.add(b.Pos, "%s: resource %s's call (%s) uses {parent.%s}, but %s.%s is a resolver's field (bound, or taking arguments): a call takes a plain field of the parent record", where, r.FullName(), r.callPos(), a.Name, b.Type, a.Name)
	case pf.Type.Elem != nil || !isCallValue(schema, pf.Type.Name()):
		ps.add(b.Pos, "%s: resource %s's call (%s) uses {parent.%s}, but %s.%s is a %s: a call takes a field of a built-in scalar (ID, String, Int, Float, Boolean) or an enum", where, r.FullName(), r.callPos(), a.Name, b.Type, a.Name, pf.Type.String())
	case a.InPath && !pf.Type.NonNull:
		ps.add(b.Pos, "%s: resource %s's call (%s) has {parent.%s} as a path segment, but %s.%s is nullable (%s): a path segment is non-null", where, r.FullName(), r.callPos(), a.Name, b.Type, a.Name, pf.Type.String())
	default:
		r.setArgType(ps, b, a, pf.Type, where)
	}
}

// isCallValue says a value of type typ goes into a call as its text
// (loaders.WithArgs writes it with fmt): a built-in scalar or an enum. A
// custom scalar's Go value is not its GraphQL text (a Date is a time.Time,
// written "2026-01-20 00:00:00 +0000 UTC"; a GeoJSON a byte list).
func isCallValue(schema *ast.Schema, typ string) bool {
	switch typ {
	case "ID", "String", "Int", "Float", "Boolean":
		return true
	}
	def := schema.Types[typ]
	return def != nil && def.Kind == ast.Enum
}

// setArgType notes the schema type of an argument or parent field the call
// uses, for a POST body's JSON (ArgType); two bindings that give it types
// of different JSON kinds are refused.
func (r *Resource) setArgType(ps *Problems, b Binding, a ArgRef, t *ast.Type, where string) {
	if r.argTypes == nil {
		r.argTypes = map[string]string{}
	}
	name := t.Name()
	if prev, ok := r.argTypes[a.Key()]; ok && jsonKind(prev) != jsonKind(name) {
		ps.add(b.Pos, "%s: %s is a %s here, but a %s in another field bound to %s: its JSON in the call's body would differ", where, a.Placeholder(), name, prev, r.FullName())
		return
	}
	r.argTypes[a.Key()] = name
}

// jsonKind is how a value of a scalar type is written in a JSON body:
// "number", "boolean" or "string".
func jsonKind(typ string) string {
	switch typ {
	case "Int", "Float":
		return "number"
	case "Boolean":
		return "boolean"
	}
	return "string"
}

// ArgKind is how the value of an argument or parent field (by its
// ArgRef.Key) is written in a POST body: "number", "boolean" or "string"
// (also for one Check has not seen).
func (r *Resource) ArgKind(key string) string { return jsonKind(r.argTypes[key]) }

// callPos is the position of the resource's HTTP call template, or its
// SQL or SOAP part.
func (r *Resource) callPos() Pos {
	if r.SQL != nil {
		return Pos{File: r.Pos.File, Line: r.SQL.Line}
	}
	if r.SOAP != nil {
		return Pos{File: r.Pos.File, Line: r.SOAP.Line}
	}
	if r.HTTP != nil && r.HTTP.Batch != nil {
		return r.HTTP.Batch.Pos
	}
	if r.HTTP != nil && r.HTTP.One != nil {
		return r.HTTP.One.Pos
	}
	return r.Pos
}

// ArgsKey is the loader key of key asked with arguments: its values
// (strings; a null argument is absent) query-encoded, sorted by name, a
// newline, the key. Equal arguments make equal prefixes, so the key is the
// cache's and the batches' alike; the prefix holds no newline, so the key
// after it may be anything.
func ArgsKey(key string, args url.Values) string {
	return args.Encode() + "\n" + key
}

// ParseArgsKey reads an ArgsKey: the arguments' encoded prefix (the batch
// group), their values and the key.
func ParseArgsKey(k string) (group string, args url.Values, key string, err error) {
	group, key, ok := strings.Cut(k, "\n")
	if !ok {
		return "", nil, "", fmt.Errorf("not a key with arguments")
	}
	args, err = url.ParseQuery(group)
	return group, args, key, err
}

// CheckParentsPassed refuses a call that names a parent field the
// generated resolvers do not pass with its keys. They pass those that the
// declarations `go generate` read (generated) name; declarations given
// at start instead (a test's) may name no other, or the field's value
// would silently be null.
func (s *Set) CheckParentsPassed(generated *Set) error {
	var ps Problems
	for _, sys := range s.Systems {
		for _, r := range sys.Resources {
			gen := generated.Resource(r.FullName())
			for _, a := range r.Args() {
				if a.Parent && !slices.ContainsFunc(gen.Args(), func(b ArgRef) bool { return b.Key() == a.Key() }) {
					ps.add(r.callPos(), "resource %s's call uses {parent.%s}, which the generated resolvers do not pass (they follow the declarations go generate read): run go generate", r.FullName(), a.Name)
				}
			}
		}
	}
	return ps.err()
}
