package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/sources/model"
)

// CodeForbidden is the extensions.code of a field the caller may not see.
const CodeForbidden = "FORBIDDEN"

// CodeAccessLogUnavailable is the extensions.code of a personal field
// withheld because the access log could not promise to record the read.
const CodeAccessLogUnavailable = "ACCESS_LOG_UNAVAILABLE"

// People is what the row-level rule asks about persons. The school database,
// the property register and the e-service platform cannot tell who is
// protected, so the enforcement asks the registry through the request's
// loaders (batched and cached like any other read).
type People interface {
	// Person is the registry's record of a personnummer, through the
	// request's loaders and the record cache; nil when the registry does not
	// know the number.
	Person(ctx context.Context, personalNumber string) (model.Protectable, error)
	// Fresh asks the registry itself, past every cache: for a record whose
	// flags are older than the protection bound.
	Fresh(ctx context.Context, personalNumber string) (model.Protectable, error)
	// PersonalNumber resolves an e-service party id; "" when unknown.
	PersonalNumber(ctx context.Context, partyID string) (string, error)
	// Hidden says that the enforcement removed the person from the
	// response: nothing else in it (a stale-record report) may show that the
	// registry knows them.
	Hidden(ctx context.Context, personalNumber string)
}

// DefaultProtectionMaxAge is how old a protection flag may be when a
// decision reads it.
const DefaultProtectionMaxAge = 60 * time.Second

// EnforcementOptions configure the GraphQL enforcement.
type EnforcementOptions struct {
	// Authorizer makes the decisions (required). Its catalog must have been
	// bound to the records (Catalog.Bind), so that every personal type
	// declares its data subjects.
	Authorizer *Authorizer
	// People answers the row-level questions about persons (required).
	People People
	// ProtectionMaxAge bounds the age of a protection flag a decision
	// reads (default DefaultProtectionMaxAge): an older one is asked again,
	// and when the registry cannot answer the person counts as protected.
	ProtectionMaxAge time.Duration
	// AccessLog receives an entry for every response with personal data or
	// a denial (required: access to personal data must be traceable). It
	// must reserve room (AccessReserver, as AsyncAccessLog does): a
	// response's personal fields are served only once the log has promised
	// to record them, and withheld with ACCESS_LOG_UNAVAILABLE otherwise.
	AccessLog AccessLog
	// Hasher turns personnummer into the keyed hashes the access log stores (required).
	Hasher *PersonHasher
	// RequestID returns the request id for the access log; nil logs none.
	RequestID func(context.Context) string
	// Logger gets access log failures.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Usage, when set, is told once per operation which fields the
	// client application was served (the integration catalog's reads per
	// client and fields actually read). It is called on the response path
	// and must not block: batch and write elsewhere.
	Usage UsageRecorder
}

// UsageRecorder counts what client applications read.
type UsageRecorder interface {
	// Served says that client was served fields ("Type.field", the ones
	// the operation selected and the enforcement allowed) in one operation.
	Served(client string, fields []string)
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
	case opts.People == nil:
		return nil, errors.New("authz: enforcement needs People for the row-level rule")
	case !opts.Authorizer.Catalog().bound:
		return nil, errors.New("authz: enforcement needs a catalog bound to its records (Catalog.Bind)")
	case opts.AccessLog == nil || opts.Hasher == nil:
		return nil, errors.New("authz: enforcement needs an access log and a person hasher")
	}
	if _, ok := opts.AccessLog.(AccessReserver); !ok {
		return nil, fmt.Errorf("authz: enforcement needs an access log that reserves room before data is served (AsyncAccessLog), not %T", opts.AccessLog)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ProtectionMaxAge <= 0 {
		opts.ProtectionMaxAge = DefaultProtectionMaxAge
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
	// served marks the fields already in the access log's entry (index:
	// field.Index), so that a field read for every element of a list is
	// recorded once without a lookup in the recorder's set.
	served []atomic.Bool
	// people holds what the request learnt about persons, so that each is
	// decided once: whether a personnummer is protected, and the
	// personnummer of a party id ("" unknown).
	peopleMu  sync.RWMutex
	protected map[string]bool
	parties   map[string]string
	rowsMu    sync.Mutex
	rows      map[rowKey]bool // decided rows, for this policy version
	rowValues sync.Map        // type -> []string

	// ticket is the access log's promise to record this response's
	// personal data, taken at the first personal field.
	ticketOnce sync.Once
	ticket     *AccessTicket
	ticketErr  error
}

// reserve takes the access log's promise for the response once; the
// personal fields are withheld when it cannot be had.
func (st *requestState) reserve(ctx context.Context, e *Enforcement) error {
	st.ticketOnce.Do(func() {
		st.ticket, st.ticketErr = e.opts.AccessLog.(AccessReserver).Reserve()
		if st.ticketErr != nil {
			e.opts.Logger.ErrorContext(ctx, "authz: personal data withheld: the access log cannot record it", "error", st.ticketErr.Error())
		}
	})
	return st.ticketErr
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
		served:    make([]atomic.Bool, a.Catalog().Len()),
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

// allowedFields are the fields this operation decided to serve, from the
// request's decisions table: one pass over the catalog, no work on the
// fields' path. A decision the policy changed under it is not counted.
func (st *requestState) allowedFields(a *Authorizer) []string {
	if st.version != a.Version() {
		return nil
	}
	var out []string
	for i, f := range a.Catalog().Fields() {
		if st.decisions[2*i].Load() == allowed {
			out = append(out, f.Key)
		}
	}
	return out
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
			op = model.LoggableOperationName(oc.Operation.Name)
		}
		entry, ok := st.rec.Entry(st.subject.Principal, e.opts.RequestID(ctx), op, e.opts.Hasher, e.opts.Now())
		if info := operations.InfoFrom(ctx); info != nil {
			entry.OperationID = info.ID
		}
		switch {
		case ok && st.ticket != nil:
			st.ticket.Append(entry) // room promised before the data was served
		case ok:
			// Denials only: no personal data was served, so nothing is
			// withheld when the log is full; the loss is counted and logged.
			if err := e.opts.AccessLog.Append(ctx, entry); err != nil {
				e.opts.Logger.ErrorContext(ctx, "access log: denial entry not written", "error", err.Error())
			}
		default:
			st.ticket.Release()
		}
		if e.opts.Usage != nil {
			if fields := st.allowedFields(e.opts.Authorizer); len(fields) > 0 {
				e.opts.Usage.Served(st.subject.Principal.Client, fields)
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
	if !f.Personal && f.RowAttribute == "" && !f.ReturnsPerson {
		return next(ctx)
	}
	return e.guarded(ctx, st, fc, f, next)
}

// guarded serves a field that the row-level rules concern: a personal
// field (raised to level 3 when its row belongs to a protected person), a
// field whose value is a row with a purpose (rows outside the caller's
// purposes are removed, as if they did not exist), or a field whose value
// is a person (a protected person is removed for a caller not cleared for
// it, exactly as an unknown one).
//
//go:noinline
func (e *Enforcement) guarded(ctx context.Context, st *requestState, fc *graphql.FieldContext, f *Field, next graphql.Resolver) (any, error) {
	a := e.opts.Authorizer
	obj := parentObject(fc)
	// The row's data subjects, asked for once: both the row-level rule and
	// the access log need them.
	var subjects model.Subjects
	if ds, ok := obj.(model.DataSubjects); ok && f.Personal {
		subjects = ds.DataSubjects()
	}
	if f.Personal && unnamed(subjects) {
		// Counts as protected for a caller not cleared for it (below), and
		// for a cleared one the access log could not name whose data it
		// served: refused alike, whoever asks.
		return nil, deny(st, fc, f.Key)
	}
	if f.Personal && !st.decide(a, f, true) {
		// The row-level rule matters only where it would change the answer.
		// A field whose value is a person is decided on that person below,
		// so that a protected one looks exactly like an unknown one.
		if _, own := obj.(model.Protectable); own || !f.ReturnsPerson {
			protected, err := e.protected(ctx, st, obj, subjects)
			if err != nil {
				return nil, err
			}
			if protected {
				return nil, deny(st, fc, f.Key)
			}
		}
	}
	if f.Personal {
		if err := st.reserve(ctx, e); err != nil {
			return nil, accessLogUnavailable()
		}
	}
	res, err := next(ctx)
	if err != nil || isNil(res) {
		return res, err
	}
	if f.RowAttribute != "" {
		res = e.keepRows(st, fc, f, res)
	}
	if f.ReturnsPerson {
		if res, err = e.hideProtected(ctx, st, fc, f, res); err != nil {
			return nil, err
		}
	}
	if f.Personal && !isNil(res) {
		if err := e.recordRead(ctx, st, f, subjects, res); err != nil {
			return nil, err
		}
	}
	return res, nil
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

//go:noinline
func deny(st *requestState, fc *graphql.FieldContext, key string) error {
	st.rec.Deny(key, fc.Path().String())
	return forbidden(key)
}

// protected applies the row-level rule to obj, the row a field belongs to:
// it belongs to a person with protected identity or a confidentiality
// marking. The row says who its data subjects are (model.DataSubjects); a
// row that does not, a party or a person the registry does not know, and a
// flag that cannot be refreshed all count as protected. A failed lookup is
// its error (the field is null with the upstream's code, never open).
// subjects are obj's data subjects (model.DataSubjects).
func (e *Enforcement) protected(ctx context.Context, st *requestState, obj any, subjects model.Subjects) (bool, error) {
	if p, ok := obj.(model.Protectable); ok {
		pnr := ""
		if subjects.Len() == 1 {
			pnr = subjects.At(0).PersonalNumber
		}
		return e.flag(ctx, st, p, pnr)
	}
	if _, ok := obj.(model.DataSubjects); !ok {
		return true, nil // undeclared (Bind makes this unreachable): fail closed
	}
	for i := range subjects.Len() {
		pnr, err := e.personalNumber(ctx, st, subjects.At(i))
		if err != nil {
			return false, err
		}
		if pnr == "" {
			return true, nil
		}
		if p, ok := st.knownProtected(pnr); ok {
			if p {
				return true, nil
			}
			continue
		}
		rec, err := e.opts.People.Person(ctx, pnr)
		if err != nil {
			return false, err
		}
		prot := true // unknown to the registry: nobody can vouch that they are not protected
		if rec != nil {
			if prot, err = e.flag(ctx, st, rec, pnr); err != nil {
				return false, err
			}
		}
		st.setProtected(pnr, prot)
		if prot {
			return true, nil
		}
	}
	return false, nil
}

// flag is a person's protection, from a record no older than the bound: an
// older record is asked again of the registry itself, and when that fails
// the person counts as protected. pnr is the person's personnummer when the
// caller knows it ("": flag finds it where it needs it).
func (e *Enforcement) flag(ctx context.Context, st *requestState, p model.Protectable, pnr string) (bool, error) {
	if p.IsProtected() {
		return true, nil
	}
	// Replicas' clocks differ a little: a record from slightly ahead is fresh.
	if now, at := e.opts.Now(), p.FlagsAt(); !at.IsZero() && now.Sub(at) <= e.opts.ProtectionMaxAge && at.Sub(now) <= e.opts.ProtectionMaxAge {
		return false, nil
	}
	if pnr == "" {
		pnr = subjectNumber(p)
	}
	if v, ok := st.knownProtected(pnr); ok && pnr != "" {
		return v, nil
	}
	fresh, err := e.opts.People.Fresh(ctx, pnr)
	prot := err != nil || fresh == nil || fresh.IsProtected()
	if err != nil {
		e.opts.Logger.WarnContext(ctx, "authz: protection flag past its bound could not be refreshed; the person counts as protected", "error", err.Error())
	}
	if pnr != "" {
		st.setProtected(pnr, prot)
	}
	return prot, nil
}

func subjectNumber(v any) string {
	if ds, ok := v.(model.DataSubjects); ok {
		if s := ds.DataSubjects(); s.Len() == 1 {
			return s.At(0).PersonalNumber
		}
	}
	return ""
}

// personalNumber resolves a subject to its personnummer ("" unknown).
func (e *Enforcement) personalNumber(ctx context.Context, st *requestState, s model.Subject) (string, error) {
	if s.PersonalNumber != "" || s.PartyID == "" {
		return s.PersonalNumber, nil
	}
	st.peopleMu.RLock()
	pnr, ok := st.parties[s.PartyID]
	st.peopleMu.RUnlock()
	if ok {
		return pnr, nil
	}
	pnr, err := e.opts.People.PersonalNumber(ctx, s.PartyID)
	if err != nil {
		return "", err
	}
	st.peopleMu.Lock()
	if st.parties == nil {
		st.parties = map[string]string{}
	}
	st.parties[s.PartyID] = pnr
	st.peopleMu.Unlock()
	return pnr, nil
}

// unnamed says subjects hold a person their record does not identify: the
// generated DataSubjects of a declared record whose subject is null
// (model.Subject{}, an unknown person).
func unnamed(subjects model.Subjects) bool {
	for i := range subjects.Len() {
		if subjects.At(i) == (model.Subject{}) {
			return true
		}
	}
	return false
}

// recordRead notes the persons whose data a served personal field carried:
// the persons it returned, or else rows, the data subjects of the row it
// is a field of. It runs for every personal field of every list element,
// at the deepest point of gqlgen's goroutines, so it is kept shallow.
func (e *Enforcement) recordRead(ctx context.Context, st *requestState, f *Field, rows model.Subjects, res any) error {
	if !f.ReturnsPerson {
		if rows.Len() == 0 {
			st.readField(f)
		}
		return e.readSubjects(ctx, st, f, rows)
	}
	n := 0
	var err error
	forEach(res, func(v any) {
		if ds, ok := v.(model.DataSubjects); ok && err == nil {
			s := ds.DataSubjects()
			n += s.Len()
			err = e.readSubjects(ctx, st, f, s)
		}
	})
	if err == nil && n == 0 {
		st.readField(f)
	}
	return err
}

// readSubjects records field f as served about each of subjects.
func (e *Enforcement) readSubjects(ctx context.Context, st *requestState, f *Field, subjects model.Subjects) error {
	for i := range subjects.Len() {
		pnr, err := e.personalNumber(ctx, st, subjects.At(i))
		if err != nil {
			return err // no personal data without knowing whose it is
		}
		st.readField(f)
		st.rec.ReadPerson(pnr)
	}
	return nil
}

// readField records that f was served.
func (st *requestState) readField(f *Field) {
	if !st.served[f.Index].Load() {
		st.served[f.Index].Store(true)
		st.rec.Read(f.Key, "")
	}
}

// keepRows removes from a field's value the rows outside the caller's
// purposes: a single row becomes null, a list loses it, exactly as if the
// upstream had not returned it. A row without a value (a declared record's
// null attribute) names no purpose and is read by no one.
func (e *Enforcement) keepRows(st *requestState, fc *graphql.FieldContext, f *Field, res any) any {
	removed := false
	out := filter(res, func(v any) bool {
		row, ok := v.(model.Row)
		if ok {
			var value string
			value, ok = row.RowAttribute(f.RowAttribute)
			ok = ok && value != "" && st.rowAllowed(e.opts.Authorizer, f.Returns, value)
		}
		removed = removed || !ok // not a row (fail closed), no value, or outside the purposes
		return ok
	})
	if removed {
		// For security staff only: the caller sees no trace of the row.
		st.rec.Deny(f.Key, fc.Path().String())
		if rv := reflect.ValueOf(out); out == nil || (rv.Kind() == reflect.Slice && rv.Len() == 0 && !f.Bound) {
			// A list emptied of hidden rows answers as the field answers
			// for no rows: a hand-written one like no list at all (a
			// person without errands is null, not []), a field bound with
			// @resource [] (loaders.List's answer for no records).
			return nil
		}
	}
	return out
}

// hideProtected removes protected persons from a field's value when the
// caller is not cleared for them (the field's decision at level 3): the
// answer is then exactly the one for a personnummer the registry does not
// know. The attempt is recorded as a denial in the access log.
func (e *Enforcement) hideProtected(ctx context.Context, st *requestState, fc *graphql.FieldContext, f *Field, res any) (any, error) {
	if st.decide(e.opts.Authorizer, f, true) {
		return res, nil
	}
	var ferr error
	hidden := false
	out := filter(res, func(v any) bool {
		p, ok := v.(model.Protectable)
		if !ok {
			return false
		}
		prot, err := e.flag(ctx, st, p, subjectNumber(v))
		if err != nil && ferr == nil {
			ferr = err
		}
		if prot {
			e.opts.People.Hidden(ctx, subjectNumber(v))
		}
		hidden = hidden || prot
		return err == nil && !prot
	})
	if ferr != nil {
		return nil, ferr
	}
	if hidden {
		st.rec.Deny(f.Key, fc.Path().String())
	}
	return out, nil
}

// knownProtected is what the request decided about pnr, if anything.
func (st *requestState) knownProtected(pnr string) (protected, known bool) {
	st.peopleMu.RLock()
	protected, known = st.protected[pnr]
	st.peopleMu.RUnlock()
	return protected, known
}

// setProtected records the request's decision about pnr.
func (st *requestState) setProtected(pnr string, protected bool) {
	st.peopleMu.Lock()
	if st.protected == nil {
		st.protected = map[string]bool{}
	}
	st.protected[pnr] = protected
	st.peopleMu.Unlock()
}

// rowKey is a row's type and the value of its row attribute.
type rowKey struct{ typ, value string }

// rowAllowed decides a row once per request (and again after a policy change).
func (st *requestState) rowAllowed(a *Authorizer, typ, value string) bool {
	k := rowKey{typ, value}
	if st.version == a.Version() {
		st.rowsMu.Lock()
		v, ok := st.rows[k]
		st.rowsMu.Unlock()
		if ok {
			return v
		}
	}
	d := a.DecideRow(st.subject, typ, value)
	if d.PolicyVersion == st.version {
		st.rowsMu.Lock()
		if st.rows == nil {
			st.rows = map[rowKey]bool{}
		}
		st.rows[k] = d.Allow
		st.rowsMu.Unlock()
	}
	return d.Allow
}

// RowValues are the values of typ's row attribute (Catalog.RowAttribute)
// whose rows the request's caller may read, for loaders that push the
// constraint down to an upstream filter. Outside an operation that the
// enforcement prepared it is empty: nothing is readable.
func (e *Enforcement) RowValues(ctx context.Context, typ string) []string {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	if st == nil {
		return nil
	}
	if v, ok := st.rowValues.Load(typ); ok {
		return v.([]string)
	}
	vals := e.opts.Authorizer.RowValues(st.subject, typ)
	st.rowValues.Store(typ, vals)
	return vals
}

// parentObject is the object whose field is being resolved: the parent
// field's result, or a list element (gqlgen stores &slice[i]).
func parentObject(fc *graphql.FieldContext) any {
	if fc.Parent == nil {
		return nil
	}
	return unwrap(fc.Parent.Result)
}

// unwrap turns the pointer to a list slot gqlgen hands over (**T) into the
// record (*T).
func unwrap(v any) any {
	switch v.(type) {
	case nil, model.DataSubjects, model.Row, model.Protectable:
		return v
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Pointer {
		return rv.Elem().Interface()
	}
	return v
}

// forEach calls fn with a value, or with each element of a list value.
func forEach(res any, fn func(any)) {
	rv := reflect.ValueOf(res)
	if rv.Kind() != reflect.Slice {
		fn(res)
		return
	}
	for i := range rv.Len() {
		fn(rv.Index(i).Interface())
	}
}

// filter keeps a value, or the elements of a list value, for which keep is
// true; a single value that is not kept becomes nil. The list keeps its type.
func filter(res any, keep func(any) bool) any {
	rv := reflect.ValueOf(res)
	if rv.Kind() != reflect.Slice {
		if keep(res) {
			return res
		}
		return nil
	}
	out := reflect.MakeSlice(rv.Type(), 0, rv.Len())
	for i := range rv.Len() {
		if el := rv.Index(i); keep(el.Interface()) {
			out = reflect.Append(out, el)
		}
	}
	return out.Interface()
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	if s, ok := v.(string); ok {
		return s == ""
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

func accessLogUnavailable() error {
	return &gqlerror.Error{
		Message:    "personal data withheld: the access log cannot record this read now; try again later",
		Extensions: map[string]any{"code": CodeAccessLogUnavailable},
	}
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
