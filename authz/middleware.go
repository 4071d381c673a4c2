package authz

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kommungraf/kommungraf/sources/model"
)

// CodeForbidden is the extensions.code of a field the caller may not see.
const CodeForbidden = "FORBIDDEN"

// ProtectedLookup tells whether the person with a personnummer has protected
// identity or a confidentiality marking. The school database and the
// property register cannot tell, so the field middleware asks the registry
// (through the request's loaders, so the question is batched and cached like
// any other). A person the registry does not know must count as protected:
// the rule fails closed.
type ProtectedLookup func(ctx context.Context, personalNumber string) (bool, error)

// EnforcementOptions configure the GraphQL enforcement.
type EnforcementOptions struct {
	// Authorizer makes the decisions (required).
	Authorizer *Authorizer
	// Protected answers the row-level question for placements (required).
	Protected ProtectedLookup
	// AccessLog receives an entry for every response with personal data or
	// a denial (required: access to personal data must be traceable).
	AccessLog AccessLog
	// Hasher turns personnummer into the keyed hashes the access log stores (required).
	Hasher *PersonHasher
	// RequestID returns the request id for the access log; nil logs none.
	RequestID func(context.Context) string
	// Logger gets access log failures.
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Enforcement is Kommungraf's authorization inside GraphQL execution, one
// handler extension: a field interceptor that decides on every field before
// its resolver runs (so a denied field costs no upstream call), and an
// operation interceptor that prepares the caller once per request and writes
// the access log entry.
type Enforcement struct {
	opts EnforcementOptions
}

// NewEnforcement checks the options.
func NewEnforcement(opts EnforcementOptions) (*Enforcement, error) {
	switch {
	case opts.Authorizer == nil:
		return nil, errors.New("authz: enforcement needs an Authorizer")
	case opts.Protected == nil:
		return nil, errors.New("authz: enforcement needs a ProtectedLookup")
	case opts.AccessLog == nil || opts.Hasher == nil:
		return nil, errors.New("authz: enforcement needs an access log and a person hasher")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RequestID == nil {
		opts.RequestID = func(context.Context) string { return "" }
	}
	return &Enforcement{opts: opts}, nil
}

// requestState is one operation's authorization state. Its decisions table
// holds, per catalog field and row level, 0 (not decided yet), allowed or
// denied: a lock-free read per field, however long the lists.
type requestState struct {
	subject   *Subject
	rec       *AccessRecorder
	version   uint64
	decisions []atomic.Uint32 // index: 2*field.Index + protected
	protected sync.Map        // personnummer -> bool, for placements and owners
}

const (
	undecided uint32 = iota
	allowed
	denied
)

func (e *Enforcement) newState(ctx context.Context) *requestState {
	a := e.opts.Authorizer
	return &requestState{
		subject:   Prepare(FromContext(ctx)),
		rec:       NewAccessRecorder(),
		version:   a.Version(),
		decisions: make([]atomic.Uint32, 2*a.Catalog().Len()),
	}
}

// decide answers from the request's table, or asks the Authorizer once. A
// policy change during the operation is noticed: the table then starts over.
func (st *requestState) decide(a *Authorizer, f *Field, protected bool) bool {
	i := 2 * f.Index
	if protected {
		i++
	}
	if st.version == a.Version() {
		switch st.decisions[i].Load() {
		case allowed:
			return true
		case denied:
			return false
		}
	}
	d := a.Decide(st.subject, f, protected)
	if d.PolicyVersion == st.version {
		v := denied
		if d.Allow {
			v = allowed
		}
		st.decisions[i].Store(v)
	}
	return d.Allow
}

type stateKey struct{}

// ExtensionName implements graphql.HandlerExtension.
func (*Enforcement) ExtensionName() string { return "Authorization" }

// Validate implements graphql.HandlerExtension: the served schema must classify.
func (e *Enforcement) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation prepares the principal once for the whole operation and,
// when the response is complete, records what personal data it carried.
func (e *Enforcement) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	st := e.newState(ctx)
	ctx = context.WithValue(ctx, stateKey{}, st)
	h := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		ctx = context.WithValue(ctx, stateKey{}, st)
		resp := h(ctx)
		if resp == nil { // the end of the operation's responses
			return resp
		}
		op := ""
		if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil {
			op = oc.Operation.Name
		}
		if entry, ok := st.rec.Entry(st.subject.Principal, e.opts.RequestID(ctx), op, e.opts.Hasher, e.opts.Now()); ok {
			if err := e.opts.AccessLog.Append(ctx, entry); err != nil {
				e.opts.Logger.ErrorContext(ctx, "access log: entry not written", "error", err.Error())
			}
		}
		return resp
	}
}

// InterceptField (graphql.FieldInterceptor, the AroundFields middleware of
// gqlgen, taken directly rather than through AroundFields so that it costs
// one frame less) decides on a field before its resolver runs. A denied
// field resolves to null with a FORBIDDEN error at its path; the rest of the
// response is served. It runs for every field of every list element, nested
// once per level of the query inside each of gqlgen's goroutines, so the
// common path (an allowed field, decided before in this request) is one lean
// frame; everything else is in helpers.
func (e *Enforcement) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	st, _ := ctx.Value(stateKey{}).(*requestState)
	a := e.opts.Authorizer
	var f *Field
	if fc == nil || st == nil || strings.HasPrefix(fc.Object, "__") || fc.Object == "Query" {
		var done bool
		var res any
		var err error
		if st, f, done, res, err = e.unusual(ctx, fc, st, next); done {
			return res, err
		}
	} else if f = a.Catalog().Field(fc.Object, fc.Field.Name); f == nil {
		return nil, forbidden(fc.Object + "." + fc.Field.Name) // unclassified: never served
	}
	if !st.decide(a, f, false) {
		return nil, deny(st, fc, f.Key)
	}
	if !f.Personal {
		return next(ctx)
	}
	obj := parentObject(fc)
	// The row-level rule matters only where it would change the answer:
	// then, and only then, is the value's person looked up.
	if !st.decide(a, f, true) {
		if err := e.rowLevel(ctx, st, fc, f, obj); err != nil {
			return nil, err
		}
	}
	res, err := next(ctx)
	if err == nil && !isNil(res) {
		st.rec.Read(f.Key, personOf(obj))
	}
	return res, err
}

// unusual handles root fields, introspection, and a context that did not
// pass through InterceptOperation (decided all the same, never failing
// open). done means it has answered; otherwise the field f is decided by the
// common path.
//
//go:noinline
func (e *Enforcement) unusual(ctx context.Context, fc *graphql.FieldContext, st *requestState, next graphql.Resolver) (_ *requestState, f *Field, done bool, res any, err error) {
	if fc == nil {
		return st, nil, true, nil, forbidden("")
	}
	if st == nil {
		st = e.newState(ctx)
	}
	a := e.opts.Authorizer
	switch {
	case strings.HasPrefix(fc.Object, "__"):
		// Introspection types are only reachable through __schema and
		// __type, which are decided below.
		res, err = next(ctx)
		return st, nil, true, res, err
	case fc.Object == "Query" && strings.HasPrefix(fc.Field.Name, "__"):
		if d := a.DecideAction(st.subject, ActIntrospect, ObjSchema); !d.Allow {
			return st, nil, true, nil, deny(st, fc, "Query."+fc.Field.Name)
		}
		res, err = next(ctx)
		return st, nil, true, res, err
	}
	if f = a.Catalog().Field(fc.Object, fc.Field.Name); f == nil {
		return st, nil, true, nil, forbidden(fc.Object + "." + fc.Field.Name)
	}
	return st, f, false, nil, nil
}

// rowLevel refuses f when obj belongs to a protected person; a failed
// lookup is the registry's error (null with its code, never an open field).
//
//go:noinline
func (e *Enforcement) rowLevel(ctx context.Context, st *requestState, fc *graphql.FieldContext, f *Field, obj any) error {
	protected, err := e.protected(ctx, st, obj)
	if err != nil {
		return err
	}
	if protected {
		return deny(st, fc, f.Key)
	}
	return nil
}

//go:noinline
func deny(st *requestState, fc *graphql.FieldContext, key string) error {
	st.rec.Deny(key, fc.Path().String())
	return forbidden(key)
}

// protected applies the row-level rule: the value belongs to a person with
// protected identity or a confidentiality marking.
func (e *Enforcement) protected(ctx context.Context, st *requestState, obj any) (bool, error) {
	var pnr string
	switch o := obj.(type) {
	case *model.Person:
		return o.ProtectedIdentity || o.ConfidentialityMarking, nil
	case *model.Placement:
		pnr = o.PersonalNumber
	case *model.PropertyOwner:
		if o.PersonalNumber == "" {
			return false, nil // a legal person: no protected identity
		}
		pnr = o.PersonalNumber
	default:
		return false, nil
	}
	if p, ok := st.protected.Load(pnr); ok {
		return p.(bool), nil
	}
	p, err := e.opts.Protected(ctx, pnr)
	if err != nil {
		return false, err
	}
	st.protected.Store(pnr, p)
	return p, nil
}

// parentObject is the object whose field is being resolved: the parent
// field's result, or a list element (gqlgen stores &slice[i]).
func parentObject(fc *graphql.FieldContext) any {
	if fc.Parent == nil {
		return nil
	}
	switch v := fc.Parent.Result.(type) {
	case **model.Person:
		return *v
	case **model.Placement:
		return *v
	case **model.PropertyOwner:
		return *v
	default:
		return v
	}
}

// personOf is the personnummer an object's personal data is about.
func personOf(obj any) string {
	switch o := obj.(type) {
	case *model.Person:
		return o.PersonalNumber
	case *model.Placement:
		return o.PersonalNumber
	case *model.PropertyOwner:
		return o.PersonalNumber
	}
	return ""
}

func isNil(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case *model.Person:
		return x == nil
	case *model.Address:
		return x == nil
	case string:
		return x == ""
	}
	return false
}

func forbidden(what string) error {
	msg := "not authorised to read this field"
	if what != "" {
		msg = "not authorised to read " + what
	}
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": CodeForbidden}}
}

var (
	_ graphql.HandlerExtension     = (*Enforcement)(nil)
	_ graphql.OperationInterceptor = (*Enforcement)(nil)
	_ graphql.FieldInterceptor     = (*Enforcement)(nil)
)
