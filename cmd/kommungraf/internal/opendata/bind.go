package opendata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/graph/operations"
)

// api is a declaration bound to the schema, its operations and datasets.
type api struct {
	decl      *Declaration
	resources []*resource
	// maxAge is the shortest cache TTL of the API's sources.
	maxAge time.Duration
}

type resource struct {
	decl *Resource
	list *boundOp
	item *boundOp
	agg  *boundAggregate
}

// boundOp is a registered operation and the place in its result a resource
// serves.
type boundOp struct {
	op  *operations.Operation
	def *ast.OperationDefinition
	// path leads from the data to the list or object.
	path []string
	// connection says the list is a Relay connection (paged by $first and
	// $after); otherwise a list field, paged here.
	connection bool
	// elem is the selection of one served object (a connection's node, a
	// list's element, an item), of type elemType.
	elem     ast.SelectionSet
	elemType *ast.Definition
	// field is the selected field at the end of path (its description).
	field *ast.FieldDefinition
	// params are the query parameters; id the item's path parameter.
	params []*boundParam
	id     *boundParam
}

// boundParam is a parameter with its variable's type.
type boundParam struct {
	decl *Parameter
	// typ is the variable's named type; kind one of string, integer,
	// number, boolean, enum.
	typ     string
	kind    string
	enum    []string
	desc    string
	notNull bool
}

// Anonymous decides, for the start check, whether the anonymous principal
// may read a field: the gateway's live authorizer, so that the check and
// the requests are one decision.
type Anonymous func(f *authz.Field) authz.Decision

// bind checks every declaration against the schema, the catalog, the
// anonymous principal's decisions, the registry and the datasets, and
// returns the APIs ready to serve; every problem located, all at once.
func bind(ctx context.Context, opts *Options, decls []*Declaration) ([]*api, error) {
	var problems []string
	var out []*api
	registered, err := opts.Registry.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("open APIs: %w", err)
	}
	// One table per dataset: two tables over the same rows grouped
	// differently give the suppressed cells of one away by difference with
	// the other's margins (secondary disclosure).
	tables := map[string]string{}
	for _, d := range decls {
		a := &api{decl: d}
		bad := func(format string, args ...any) {
			problems = append(problems, d.File+": "+fmt.Sprintf(format, args...))
		}
		// The operations named by the file beside it are registered first
		// (they are part of what was reviewed with the declaration).
		ops := map[string]*operations.Operation{}
		ambiguous := map[string]bool{}
		for _, op := range registered {
			if prev := ops[op.Name]; prev != nil && prev.ID != op.ID {
				ambiguous[op.Name] = true // two registered documents of one name
			}
			ops[op.Name] = op
		}
		for name := range ambiguous {
			ops[name] = nil
		}
		if d.OperationsText != "" {
			pushed, err := opts.Registry.Push(ctx, "openData:"+d.File, map[string]string{d.Operations: d.OperationsText})
			if err != nil {
				bad("operations %s: %v", d.Operations, err)
				continue
			}
			for _, op := range pushed {
				ops[op.Name] = op
			}
		}
		for _, s := range d.Sources {
			ttl, ok := opts.SourceTTL(s)
			if !ok {
				bad("sources: %q is not a source of this gateway", s)
				continue
			}
			if a.maxAge == 0 || ttl < a.maxAge {
				a.maxAge = ttl
			}
		}
		for i, rd := range d.Resources {
			at := fmt.Sprintf("resources[%d] (%s)", i, rd.Name)
			r := &resource{decl: rd}
			if rd.Aggregate != nil {
				ag, err := bindAggregate(opts, rd.Aggregate)
				if err != nil {
					bad("%s: aggregate: %v", at, err)
				}
				where := d.File + " " + at
				if prev, dup := tables[rd.Aggregate.Dataset]; dup {
					bad("%s: aggregate: dataset %s is already published by %s: a second table over the same rows could reveal suppressed cells by difference", at, rd.Aggregate.Dataset, prev)
				}
				tables[rd.Aggregate.Dataset] = where
				r.agg = ag
				a.resources = append(a.resources, r)
				continue
			}
			var ps []string
			r.list, ps = bindOp(opts, ops, rd.List.Operation, rd.List.Path, true)
			for _, p := range ps {
				bad("%s: list: %s", at, p)
			}
			if r.list != nil {
				for _, p := range rd.List.Parameters {
					bp, err := bindParam(opts, r.list, p)
					if err != nil {
						bad("%s: list: parameter %s: %v", at, p.Name, err)
						continue
					}
					r.list.params = append(r.list.params, bp)
				}
			}
			if rd.Item != nil {
				r.item, ps = bindOp(opts, ops, rd.Item.Operation, rd.Item.Path, false)
				for _, p := range ps {
					bad("%s: item: %s", at, p)
				}
				if r.item != nil {
					bp, err := bindParam(opts, r.item, rd.Item.ID)
					switch {
					case err != nil:
						bad("%s: item: id %s: %v", at, rd.Item.ID.Name, err)
					case !bp.notNull:
						bad("%s: item: id %s: variable $%s must be non-null", at, rd.Item.ID.Name, rd.Item.ID.Variable)
					case bp.kind != "string" && bp.kind != "integer":
						bad("%s: item: id %s: variable $%s must be a string or an integer", at, rd.Item.ID.Name, rd.Item.ID.Variable)
					}
					r.item.id = bp
				}
			}
			a.resources = append(a.resources, r)
		}
		out = append(out, a)
	}
	if len(problems) > 0 {
		return nil, errors.New("open APIs:\n  " + strings.Join(problems, "\n  "))
	}
	return out, nil
}

// bindOp finds the named operation and checks it: every field it selects
// level 0 and allowed to the anonymous principal, path leading to a list
// (a connection with edges.node and totalCount, paged by $first and
// $after, or a list field) or to an object.
func bindOp(opts *Options, ops map[string]*operations.Operation, name, dotted string, list bool) (*boundOp, []string) {
	op, known := ops[name]
	switch {
	case !known:
		return nil, []string{fmt.Sprintf("operation %s is not registered (name it in the file of operations: or push it first)", name)}
	case op == nil:
		return nil, []string{fmt.Sprintf("operation %s: two registered operations have that name", name)}
	}
	var ps []string
	// The check that matters most: nothing above level 0, nothing the
	// anonymous principal may not read.
	cat := opts.Catalog
	for _, key := range op.Fields {
		typ, field, _ := strings.Cut(key, ".")
		f := cat.Field(typ, field)
		switch {
		case f == nil:
			ps = append(ps, fmt.Sprintf("operation %s selects %s, which has no classification", name, key))
		case f.Level > authz.Negligible:
			ps = append(ps, fmt.Sprintf("operation %s selects %s, which is level %d: an open API serves level 0 only", name, key, f.Level))
		default:
			if d := opts.Anonymous(f); !d.Allow {
				ps = append(ps, fmt.Sprintf("operation %s selects %s, which the anonymous principal may not read: %s", name, key, d.Reason))
			}
		}
	}
	doc, err := parser.ParseQuery(&ast.Source{Name: name, Input: op.Document})
	if err == nil {
		if errs := validator.Validate(opts.Schema, doc); len(errs) > 0 {
			err = errs
		}
	}
	if err != nil {
		return nil, append(ps, fmt.Sprintf("operation %s does not validate against the schema: %v", name, err))
	}
	def := doc.Operations.ForName(name)
	if def == nil || def.Operation != ast.Query {
		return nil, append(ps, fmt.Sprintf("operation %s is not a query", name))
	}
	b := &boundOp{op: op, def: def, path: strings.Split(dotted, ".")}
	set := def.SelectionSet
	var fld *ast.Field
	for _, seg := range b.path {
		fld = selected(set, seg)
		if fld == nil {
			return nil, append(ps, fmt.Sprintf("operation %s selects no %q on the path %s", name, seg, dotted))
		}
		set = fld.SelectionSet
	}
	b.field = fld.Definition
	named := opts.Schema.Types[fld.Definition.Type.Name()]
	isList := fld.Definition.Type.Elem != nil
	switch {
	case !list && isList:
		return nil, append(ps, fmt.Sprintf("path %s is a list: an item needs one object", dotted))
	case !list:
		b.elem, b.elemType = fld.SelectionSet, named
	case isList:
		b.elem, b.elemType = fld.SelectionSet, named
	case named.Fields.ForName("edges") != nil && named.Fields.ForName("pageInfo") != nil:
		b.connection = true
		edges := selected(fld.SelectionSet, "edges")
		var node *ast.Field
		if edges != nil {
			node = selected(edges.SelectionSet, "node")
		}
		if node == nil {
			return nil, append(ps, fmt.Sprintf("operation %s: the connection at %s selects no edges { node }", name, dotted))
		}
		if selected(fld.SelectionSet, "totalCount") == nil {
			ps = append(ps, fmt.Sprintf("operation %s: the connection at %s must select totalCount (the profile's paging metadata)", name, dotted))
		}
		b.elem, b.elemType = node.SelectionSet, opts.Schema.Types[node.Definition.Type.Name()]
		for v, want := range map[string]string{"first": "Int", "after": "String"} {
			vd := def.VariableDefinitions.ForName(v)
			if vd == nil || vd.Type.Name() != want || vd.Type.Elem != nil || !passed(fld, v) {
				ps = append(ps, fmt.Sprintf("operation %s: a connection is paged by $first: Int and $after: String passed to %s", name, dotted))
				break
			}
		}
	default:
		return nil, append(ps, fmt.Sprintf("path %s is neither a list nor a connection", dotted))
	}
	if b.elemType == nil || b.elemType.Kind != ast.Object {
		return nil, append(ps, fmt.Sprintf("path %s does not lead to objects", dotted))
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return b, nil
}

// selected returns the field of set whose response key is key, looking
// into fragments.
func selected(set ast.SelectionSet, key string) *ast.Field {
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if s.Alias == key {
				return s
			}
		case *ast.InlineFragment:
			if f := selected(s.SelectionSet, key); f != nil {
				return f
			}
		case *ast.FragmentSpread:
			if s.Definition != nil {
				if f := selected(s.Definition.SelectionSet, key); f != nil {
					return f
				}
			}
		}
	}
	return nil
}

// passed reports whether the field's arguments use $v.
func passed(f *ast.Field, v string) bool {
	return slices.ContainsFunc(f.Arguments, func(a *ast.Argument) bool {
		return a.Value != nil && a.Value.Kind == ast.Variable && a.Value.Raw == v
	})
}

// bindParam types a parameter by its variable: a scalar or an enum.
func bindParam(opts *Options, b *boundOp, p *Parameter) (*boundParam, error) {
	vd := b.def.VariableDefinitions.ForName(p.Variable)
	if vd == nil {
		return nil, fmt.Errorf("operation %s has no variable $%s", b.op.Name, p.Variable)
	}
	if vd.Type.Elem != nil {
		return nil, fmt.Errorf("variable $%s is a list: a parameter takes one value", p.Variable)
	}
	if b.connection && (p.Variable == "first" || p.Variable == "after") {
		return nil, fmt.Errorf("$%s is set by the paging (limit, page)", p.Variable)
	}
	bp := &boundParam{decl: p, typ: vd.Type.Name(), notNull: vd.Type.NonNull, desc: p.Description}
	if bp.desc == "" {
		bp.desc = argumentDescription(b.def.SelectionSet, p.Variable)
	}
	def := opts.Schema.Types[bp.typ]
	switch {
	case bp.typ == "Int":
		bp.kind = "integer"
	case bp.typ == "Float":
		bp.kind = "number"
	case bp.typ == "Boolean":
		bp.kind = "boolean"
	case def != nil && def.Kind == ast.Enum:
		bp.kind = "enum"
		for _, v := range def.EnumValues {
			bp.enum = append(bp.enum, v.Name)
		}
	case def != nil && def.Kind == ast.Scalar:
		bp.kind = "string" // String, ID and the custom scalars taken as text (Date: YYYY-MM-DD)
	default:
		return nil, fmt.Errorf("variable $%s is of type %s: a parameter maps to a scalar or an enum", p.Variable, bp.typ)
	}
	if p.Pattern != "" && bp.kind != "string" {
		return nil, fmt.Errorf("a pattern applies to a string parameter, not %s", bp.typ)
	}
	return bp, nil
}

// argumentDescription is the schema's description of the argument $v is
// passed to, wherever in the selection.
func argumentDescription(set ast.SelectionSet, v string) string {
	for _, s := range set {
		f, ok := s.(*ast.Field)
		if !ok {
			continue
		}
		for _, a := range f.Arguments {
			if a.Value != nil && a.Value.Kind == ast.Variable && a.Value.Raw == v && f.Definition != nil {
				if ad := f.Definition.Arguments.ForName(a.Name); ad != nil {
					return ad.Description
				}
			}
		}
		if d := argumentDescription(f.SelectionSet, v); d != "" {
			return d
		}
	}
	return ""
}
