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

// argRE is one {args.<name>} placeholder.
var argRE = regexp.MustCompile(`\{args\.([A-Za-z_][A-Za-z0-9_]*)\}`)

// ArgRef is where a call template uses an argument.
type ArgRef struct {
	Name string
	// InPath says it is a path segment (else a query value).
	InPath bool
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
	return templateArgs(c.Get)
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
	var out []ArgRef
	for _, m := range argRE.FindAllStringSubmatch(part.Query, -1) {
		if !slices.ContainsFunc(out, func(a ArgRef) bool { return a.Name == m[1] }) {
			out = append(out, ArgRef{Name: m[1]})
		}
	}
	return out
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
		for _, m := range argRE.FindAllStringSubmatch(part.Request[p], -1) {
			if !slices.ContainsFunc(out, func(a ArgRef) bool { return a.Name == m[1] }) {
				out = append(out, ArgRef{Name: m[1]})
			}
		}
	}
	return out
}

func templateArgs(tmpl string) []ArgRef {
	path, query, _ := strings.Cut(tmpl, "?")
	var out []ArgRef
	for _, m := range argRE.FindAllStringSubmatch(path, -1) {
		out = append(out, ArgRef{Name: m[1], InPath: true})
	}
	for _, m := range argRE.FindAllStringSubmatch(query, -1) {
		out = append(out, ArgRef{Name: m[1]})
	}
	return out
}

// checkArgPlaces checks the {args.<name>} of a call template: each a whole
// path segment or a whole query value, each name once. It returns the
// template with them taken out, for the placeholder checks.
func checkArgPlaces(ps *Problems, pos Pos, what, tmpl string) string {
	path, query, hasQuery := strings.Cut(tmpl, "?")
	seen := map[string]bool{}
	for _, a := range templateArgs(tmpl) {
		if seen[a.Name] {
			ps.add(pos, "%s %q: {args.%s} more than once", what, tmpl, a.Name)
		}
		seen[a.Name] = true
	}
	for _, seg := range strings.Split(path, "/") {
		if argRE.MatchString(seg) && argRE.FindString(seg) != seg {
			ps.add(pos, "%s %q: an argument is a whole path segment (items/{args.year})", what, tmpl)
		}
	}
	if hasQuery {
		for _, part := range strings.Split(query, "&") {
			_, v, _ := strings.Cut(part, "=")
			if argRE.MatchString(part) && argRE.FindString(v) != v {
				ps.add(pos, "%s %q: an argument is a whole query value (fraction={args.fraction})", what, tmpl)
			}
		}
	}
	return argRE.ReplaceAllString(tmpl, "a")
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
		used[a.Name] = true
		fa := own.ForName(a.Name)
		if fa == nil {
			ps.add(b.Pos, "%s: resource %s's call (%s) uses {args.%s}, but the field has no argument %s", where, r.FullName(), r.callPos(), a.Name, a.Name)
			continue
		}
		if a.InPath && !fa.Type.NonNull {
			ps.add(schemaPos(fa.Position), "%s(%s: %s): the argument is a path segment of %s's call: make it non-null (%s!)", where, fa.Name, fa.Type.String(), r.FullName(), fa.Type.String())
		}
	}
	for _, fa := range own {
		switch {
		case fa.Type.Elem != nil || !isLeaf(schema, fa.Type.Name()):
			ps.add(schemaPos(fa.Position), "%s(%s: %s): an argument of a field bound with @resource is a scalar or an enum", where, fa.Name, fa.Type.String())
		case !used[fa.Name]:
			ps.add(schemaPos(fa.Position), "%s(%s): resource %s's call (%s) does not use {args.%s}: the argument would change nothing", where, fa.Name, r.FullName(), r.callPos(), fa.Name)
		}
	}
}

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
