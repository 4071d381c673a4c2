package loaders

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// Levels is the handler extension that keeps each request's dispatcher
// counting (see dispatcher): it follows gqlgen's execution of the operation
// field by field, so that the dispatcher knows at every moment how many of
// the request's goroutines can still make progress.
//
// It must be the outermost field interceptor: what it counts below a field
// is the value authorization let through, so a denied field has no children
// and costs no upstream call.
//
// What it mirrors of gqlgen (v0.17, graphql.FieldSet and
// graphql.MarshalSliceConcurrently): a field's value is marshalled by the
// goroutine that resolved it. For an object, that goroutine resolves the
// fields without a resolver ("inline") one after another, each with its
// whole subtree, and then the fields with a resolver all at once. Every
// element of a list of objects gets its own goroutine. So, below a field:
// an object whose selection has an inline field can go on in one place (its
// first inline field), and the next only when that field's subtree is
// complete; an object without inline fields goes on in as many places as it
// has resolver fields.
type Levels struct {
	schema *ast.Schema
	// implementor lists, per object type, the names a fragment may use for
	// it: its own and its interfaces', as the generated code passes them to
	// graphql.CollectFields.
	implementor map[string][]string
	// concurrent caches, per type and field, whether gqlgen resolves the
	// field in a goroutine of its own (it has a resolver).
	concurrent sync.Map // typeField -> bool
}

type typeField struct{ typ, field string }

// NewLevels returns the extension; the handler's schema arrives in Validate.
func NewLevels() *Levels { return &Levels{} }

// ExtensionName implements graphql.HandlerExtension.
func (*Levels) ExtensionName() string { return "LoaderDispatch" }

// Validate takes the schema. Counting the fields below a value needs its
// concrete type; for an interface or a union that takes the generated type
// switch, which this extension does not have, so a schema with one is
// refused until the count learns it.
func (x *Levels) Validate(es graphql.ExecutableSchema) error {
	s := es.Schema()
	x.schema = s
	x.implementor = map[string][]string{}
	for name, def := range s.Types {
		switch def.Kind {
		case ast.Interface, ast.Union:
			if !strings.HasPrefix(name, "__") {
				return fmt.Errorf("loaders: the dispatcher cannot count the fields below %s %s", strings.ToLower(string(def.Kind)), name)
			}
		case ast.Object:
			imp := []string{name}
			for _, i := range s.GetImplements(def) {
				imp = append(imp, i.Name)
			}
			x.implementor[name] = imp
		}
	}
	return nil
}

// InterceptResponse starts the count of a query with its root fields: the
// generated code resolves every root field with a resolver concurrently and
// __schema and __type inline. Other operations are not counted: their
// thunks flush their loaders when called, as outside GraphQL.
func (x *Levels) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	l, ok := Lookup(ctx)
	if ok && !l.opts.Disabled && graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation != nil && oc.Operation.Operation == ast.Query {
			var fields []childField
			for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, x.implementor[x.schema.Query.Name]) {
				if f.Name != "__typename" {
					fields = append(fields, childField{alias: f.Alias, concurrent: !strings.HasPrefix(f.Name, "__")})
				}
			}
			// The root fields find the operation's node here, a few
			// contexts up rather than past the whole HTTP stack.
			ctx = context.WithValue(ctx, nodeKey{}, l.disp.begin(fields))
		}
	}
	return next(ctx)
}

// nodeKey is the context key of the nearest node: a field finds the node
// whose objects it is a field of one or two contexts up, and the fields
// below its own value find its node (see InterceptField).
type nodeKey struct{}

// InterceptField tells the dispatcher, once a field's resolver (and every
// interceptor inside this one) has returned, which objects gqlgen will
// resolve below its value. A field whose type holds objects gets a node,
// in the context its resolver is called with: gqlgen resolves the fields
// below the value with that context, and they find the node there.
func (x *Levels) InterceptField(ctx context.Context, next graphql.Resolver) (res any, err error) {
	owner, ok := ctx.Value(nodeKey{}).(*node)
	if !ok {
		return next(ctx)
	}
	fc := graphql.GetFieldContext(ctx)
	var n *node
	var objects int
	var fields []childField
	defer func() { owner.d.exit(owner, fc, n, objects, fields) }() // also when next panics
	if fc == nil || fc.Field.Definition == nil {
		return next(ctx)
	}
	t := fc.Field.Definition.Type
	if _, composite := x.implementor[innermost(t).NamedType]; !composite {
		return next(ctx)
	}
	n = &node{d: owner.d}
	res, err = next(context.WithValue(ctx, nodeKey{}, n))
	if err == nil {
		if objects = countObjects(t, reflect.ValueOf(res)); objects > 0 {
			fields = x.fields(ctx, owner.d, fc, innermost(t).NamedType)
		}
	}
	return res, err
}

// childField is one field gqlgen resolves on an object.
type childField struct {
	alias      string
	concurrent bool
}

// innermost is the named type of a list's elements, or t itself.
func innermost(t *ast.Type) *ast.Type {
	for t.Elem != nil {
		t = t.Elem
	}
	return t
}

// countObjects counts the objects gqlgen marshals in the value v of type t,
// whose innermost type is an object type: the value itself, or the non-null
// elements of a list (of lists).
func countObjects(t *ast.Type, v reflect.Value) int {
	v, ok := deref(v)
	if !ok {
		return 0
	}
	if t.Elem == nil {
		return 1
	}
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return 0
	}
	n := 0
	for i := range v.Len() {
		n += countObjects(t.Elem, v.Index(i))
	}
	return n
}

// fields are the fields selected on an object of type typ below fc that go
// through the field interceptors (all but __typename); nil for a scalar or
// an enum. They are computed once per selection set and type in a request.
func (x *Levels) fields(ctx context.Context, d *dispatcher, fc *graphql.FieldContext, typ string) []childField {
	imp, ok := x.implementor[typ]
	if !ok || len(fc.Field.Selections) == 0 {
		return nil
	}
	k := selectionKey{&fc.Field.Selections[0], len(fc.Field.Selections), typ}
	d.fieldsMu.Lock()
	out, ok := d.fields[k]
	d.fieldsMu.Unlock()
	if ok {
		return out
	}
	collected := graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, imp)
	out = make([]childField, 0, len(collected))
	for _, f := range collected {
		if f.Name != "__typename" {
			out = append(out, childField{alias: f.Alias, concurrent: x.isConcurrent(ctx, fc, typ, f)})
		}
	}
	d.fieldsMu.Lock()
	d.fields[k] = out
	d.fieldsMu.Unlock()
	return out
}

// selectionKey names a selection set of the operation (its AST, which lives
// as long as the request) and the type it is collected for.
type selectionKey struct {
	first *ast.Selection
	n     int
	typ   string
}

// isConcurrent says whether gqlgen resolves field f of typ in a goroutine of
// its own: it does for a field with a resolver (codegen's Field.IsConcurrent;
// the models have no methods that take a context, the other case).
func (x *Levels) isConcurrent(ctx context.Context, fc *graphql.FieldContext, typ string, f graphql.CollectedField) bool {
	k := typeField{typ, f.Name}
	if v, ok := x.concurrent.Load(k); ok {
		return v.(bool)
	}
	c := false
	if fc.Child != nil {
		if child, err := fc.Child(ctx, f); err == nil && child != nil {
			c = child.IsResolver
		}
	}
	x.concurrent.Store(k, c)
	return c
}

func deref(v reflect.Value) (reflect.Value, bool) {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return v, false
		}
		v = v.Elem()
	}
	return v, v.IsValid()
}

var (
	_ graphql.HandlerExtension    = (*Levels)(nil)
	_ graphql.ResponseInterceptor = (*Levels)(nil)
	_ graphql.FieldInterceptor    = (*Levels)(nil)
)
