package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kommungraf/kommungraf/graph/gqlmodel"
	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/tracing"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// Error codes the gateway itself sets (gqlgen sets GRAPHQL_PARSE_FAILED,
// GRAPHQL_VALIDATION_FAILED and COMPLEXITY_LIMIT_EXCEEDED).
const (
	CodeInternal      = "INTERNAL_SERVER_ERROR"
	CodeBadUserInput  = "BAD_USER_INPUT"
	CodeDepthExceeded = "DEPTH_LIMIT_EXCEEDED"
	CodeAliasExceeded = "ALIAS_LIMIT_EXCEEDED"
	// CodeFieldsExceeded: too many fields once fragments are expanded.
	CodeFieldsExceeded = "FIELD_LIMIT_EXCEEDED"
	// CodeRequestTimeout: the request ran past its deadline
	// (server.requestTimeout); the response carries this one error.
	CodeRequestTimeout = "REQUEST_TIMEOUT"
	// CodeOverloaded: admission control refused the request (503 with
	// Retry-After); nothing of it ran.
	CodeOverloaded = "OVERLOADED"
	// CodePayloadTooLarge: the request body is over server.maxBodyBytes (413).
	CodePayloadTooLarge = "PAYLOAD_TOO_LARGE"
)

// HandlerOptions assemble the GraphQL handler.
type HandlerOptions struct {
	// Resolvers is the resolver root.
	Resolvers ResolverRoot
	// MaxComplexity caps an operation's cost; list fields cost their page
	// size times their children (default 30000).
	MaxComplexity int
	// MaxDepth caps the nesting of selections (default 12).
	MaxDepth int
	// MaxIntrospectionDepth caps the nesting below __schema and __type
	// instead of MaxDepth (default 20): the introspection query that
	// GraphiQL, graphql-codegen and Apollo Sandbox send nests 15 levels, and
	// its depth comes from the type-reference chain, not from data.
	MaxIntrospectionDepth int
	// MaxAliases caps the aliased fields of an operation, fragments counted
	// as often as they are spread (default 50), so one request cannot ask
	// for the same upstream record hundreds of times under other names.
	MaxAliases int
	// MaxFields caps an operation's fields with every fragment spread
	// expanded as often as it is spread (default 2000). It bounds the work
	// of every later walk of the operation, the complexity limit's
	// included, which would otherwise grow exponentially with fragments
	// that spread each other more than once.
	MaxFields int
	// Trusted, when set, enforces each client application's operation mode
	// and serves registered operations and Automatic Persisted Queries
	// (persisted.go).
	Trusted *TrustedOptions
	// Introspection enables __schema and __type.
	Introspection bool
	// CostBudgets cap the calls an operation is estimated to make to each
	// upstream system (cost.go); an upstream it does not name has
	// DefaultCostBudget (default 5000).
	CostBudgets       map[string]int
	DefaultCostBudget int
	// Declared are the source declarations the gateway serves: a field
	// bound to a declared listing costs the upstream pages its first takes
	// (declare.Page.Calls). Without them such a field costs one call per
	// parent.
	Declared *declare.Set
	// MaySeeSchema says whether the request's caller may see the schema
	// (introspect it): only then do validation errors keep gqlparser's
	// suggestions ("Did you mean ...?"), which name fields, arguments,
	// types and enum values. nil: nobody may.
	MaySeeSchema func(context.Context) bool
	// Registerer receives the request metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger gets internal errors and recovered panics.
	Logger *slog.Logger
	// AroundResponses may add response extensions (stale records).
	AroundResponses graphql.ResponseMiddleware
	// Extensions are further handler extensions: the authorization, whose
	// field interceptor decides on every field before its resolver runs and
	// whose operation interceptor prepares the caller and writes the access log.
	Extensions []graphql.HandlerExtension
	// Dispatch is the loaders' dispatcher extension (loaders.Levels). It is
	// used before every other extension, so that its field interceptor is
	// the outermost (gqlgen runs the first extension used outermost): it
	// counts what a field returns after authorization.
	Dispatch graphql.HandlerExtension
}

// NewHandler assembles the GraphQL handler: explicit transports (POST, and GET
// for queries only), a bounded query cache, parser and complexity limits, the
// error presenter that turns every failure into a coded error, and a recover
// func that never lets a panic or stack trace reach the client.
func NewHandler(opts HandlerOptions) *handler.Server {
	if opts.MaxComplexity <= 0 {
		opts.MaxComplexity = 30000
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = 12
	}
	if opts.MaxIntrospectionDepth <= 0 {
		opts.MaxIntrospectionDepth = 20
	}
	if opts.MaxAliases <= 0 {
		opts.MaxAliases = 50
	}
	if opts.MaxFields <= 0 {
		opts.MaxFields = 2000
	}
	if opts.DefaultCostBudget <= 0 {
		opts.DefaultCostBudget = 5000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg := Config{Resolvers: opts.Resolvers}
	setComplexity(&cfg.Complexity)
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	validated := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(validated)
	srv.SetParserTokenLimit(operations.MaxTokens)
	// gqlparser's suggestions stay on; the error presenter removes them for
	// callers who may not see the schema (hideSuggestions).
	srv.SetDisableSuggestion(false)
	// gqlparser's overlap rule is quadratic; it runs only on a document
	// within bounds (overlap.go).
	srv.SetValidationRulesFn(validationRules(opts.MaxFields))
	if opts.Dispatch != nil {
		// gqlgen runs the first extension used outermost.
		srv.Use(opts.Dispatch)
	}
	srv.Use(operationTrace{}) // tracing.go
	if opts.Trusted != nil {
		srv.Use(newTrusted(*opts.Trusted)) // persisted.go
	}
	// After the trusted operations have put the document in place, and
	// before gqlgen validates it (overlap.go).
	srv.Use(documentBound{maxFields: opts.MaxFields, validated: validated})
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(shapeLimit{maxDepth: opts.MaxDepth, maxIntrospectionDepth: opts.MaxIntrospectionDepth, maxAliases: opts.MaxAliases, maxFields: opts.MaxFields})
	srv.Use(extension.FixedComplexityLimit(opts.MaxComplexity))
	srv.Use(newCostLimit(opts.CostBudgets, opts.DefaultCostBudget, opts.Declared))
	if opts.Registerer != nil {
		srv.Use(newRequestMetrics(opts.Registerer))
	}
	for _, ext := range opts.Extensions {
		srv.Use(ext)
	}
	if opts.AroundResponses != nil {
		srv.AroundResponses(opts.AroundResponses)
	}
	srv.AroundResponses(capRequestErrors)
	log := opts.Logger
	maySee := opts.MaySeeSchema
	srv.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error {
		out := presentError(ctx, log, err)
		if maySee == nil || !maySee(ctx) {
			out = hideSuggestions(out)
		}
		return out
	})
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "panic in GraphQL execution", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		return &gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": CodeInternal}}
	})
	return srv
}

// maxRequestErrors caps the errors of an answer without data, such as a
// document validation refused. gqlparser reports an unknown field or
// directive each time it walks it, so a 3 KB document within the
// validation bounds (overlap.go) can be answered with 18,000 errors, 5 MB;
// graphql-js stops validating at 100 errors for the same reason.
const maxRequestErrors = 100

// capRequestErrors keeps the first maxRequestErrors errors of an answer
// without data and says how many more there were.
func capRequestErrors(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || len(resp.Data) != 0 || len(resp.Errors) <= maxRequestErrors {
		return resp
	}
	more := len(resp.Errors) - maxRequestErrors
	resp.Errors = append(resp.Errors[:maxRequestErrors:maxRequestErrors], &gqlerror.Error{
		Message:    fmt.Sprintf("%d more errors not shown", more),
		Extensions: map[string]any{"code": errcode.ValidationFailed},
	})
	return resp
}

// presentError maps every error to a message a client may see and an
// extensions.code. Upstream details, SQL text and faultstrings stay in the log.
func presentError(ctx context.Context, log *slog.Logger, err error) *gqlerror.Error {
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return &gqlerror.Error{
			Message:    ue.Public(),
			Path:       graphql.GetPath(ctx),
			Extensions: map[string]any{"code": ue.Kind.Code(), "source": ue.Source},
		}
	}
	var ge *gqlerror.Error
	if errors.As(err, &ge) {
		if ge.Rule == overlapLimitRule {
			out := *ge
			errcode.Set(&out, CodeFieldsExceeded)
			return &out
		}
		if _, ok := ge.Extensions["code"]; ok {
			if ge.Path == nil {
				ge.Path = graphql.GetPath(ctx)
			}
			return ge
		}
		if ge.Err == nil {
			// gqlgen's own messages about arguments and variables (coercion).
			out := *ge
			if out.Path == nil {
				out.Path = graphql.GetPath(ctx)
			}
			errcode.Set(&out, CodeBadUserInput)
			return &out
		}
	}
	if ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		// The request's own deadline passed (or its client left): not a
		// bug, and not worth a line per field. The response is answered
		// with one REQUEST_TIMEOUT and one log line for the whole request
		// (gateway's deadline.go).
		return &gqlerror.Error{
			Message:    "the request ran out of time",
			Path:       graphql.GetPath(ctx),
			Extensions: map[string]any{"code": CodeRequestTimeout},
		}
	}
	log.ErrorContext(ctx, "internal error", "error", err.Error(), "path", graphql.GetPath(ctx).String())
	return &gqlerror.Error{
		Message:    "internal error",
		Path:       graphql.GetPath(ctx),
		Extensions: map[string]any{"code": CodeInternal},
	}
}

// setComplexity makes list fields cost their page size times their children,
// so a deeply nested query of large pages is refused before it reaches
// upstreams. Page and list sizes are the cost estimate's (cost.go).
func setComplexity(c *ComplexityRoot) {
	page := func(first *int) int {
		if first == nil || *first < 1 {
			return defaultPage
		}
		return *first
	}
	c.Query.Errands = func(child int, first *int, _ *string, _ *model.ErrandStatus, _ *string) int {
		return 1 + page(first)*child
	}
	c.Query.SchoolUnits = func(child int, first *int, _ *string, _ *model.SchoolForm) int { return 1 + page(first)*child }
	c.Query.Properties = func(child int, first *int, _ *string) int { return 1 + page(first)*child }
	c.SchoolUnit.Placements = func(child int, first *int, _ *string) int { return 1 + page(first)*child }
	// People lists are short (a family), but each member costs a registry call.
	list := func(name string) func(int) int {
		n := listSizes[name]
		return func(child int) int { return 1 + n*child }
	}
	c.Person.Guardians = list("Person.guardians")
	c.Person.Children = list("Person.children")
	c.Person.Errands = list("Person.errands")
	c.Person.Placements = list("Person.placements")
	c.Errand.Stakeholders = list("Errand.stakeholders")
	c.Property.Owners = list("Property.owners")
	setListingComplexity(c, func(child int, first *int, _ *string) int { return 1 + page(first)*child })
}

// setListingComplexity gives every field bound to a declared listing (a
// connection field with @resource and first) the complexity of the
// hand-written connections, its page times what is asked below it. The
// generated ComplexityRoot's func is found by the field's name, so that
// no declared system's field is named in Go.
func setListingComplexity(c *ComplexityRoot, paged func(child int, first *int, after *string) int) {
	fn := reflect.ValueOf(paged)
	root := reflect.ValueOf(c).Elem()
	for _, def := range parsedSchema.Types {
		for _, f := range def.Fields {
			if f.Directives.ForName("resource") == nil || f.Arguments.ForName("first") == nil {
				continue
			}
			obj := root.FieldByName(def.Name)
			if !obj.IsValid() || obj.Kind() != reflect.Struct {
				continue
			}
			v := obj.FieldByName(strings.ToUpper(f.Name[:1]) + f.Name[1:])
			switch {
			case !v.IsValid() || v.Kind() != reflect.Func || !v.IsNil():
			case v.Type() == fn.Type():
				v.Set(fn)
			case pagedPrefix(v.Type(), fn.Type()):
				// The field's own arguments (declare.ArgRef) after first
				// and after change what a page holds, not its size.
				v.Set(reflect.MakeFunc(v.Type(), func(in []reflect.Value) []reflect.Value {
					return fn.Call(in[:fn.Type().NumIn()])
				}))
			}
		}
	}
}

// pagedPrefix says t is fn's type with arguments after fn's.
func pagedPrefix(t, fn reflect.Type) bool {
	if t.NumIn() <= fn.NumIn() || t.NumOut() != 1 || t.Out(0) != fn.Out(0) {
		return false
	}
	for i := range fn.NumIn() {
		if t.In(i) != fn.In(i) {
			return false
		}
	}
	return true
}

// requestMetrics records request latency by operation and errors by code.
type requestMetrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	seen     sync.Map // operation names in use as labels
	labels   atomic.Int64
}

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	m := &requestMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kommungraf_graphql_request_duration_seconds",
			Help:    "GraphQL request latency by operation name.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_graphql_errors_total",
			Help: "GraphQL errors returned to clients, by extensions.code.",
		}, []string{"code"}),
	}
	reg.MustRegister(m.duration, m.errors)
	return m
}

func (*requestMetrics) ExtensionName() string                   { return "RequestMetrics" }
func (*requestMetrics) Validate(graphql.ExecutableSchema) error { return nil }

func (m *requestMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	op := "unknown"
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		name := oc.OperationName
		if oc.Operation != nil {
			name = oc.Operation.Name
		}
		op = m.operationLabel(name)
	}
	tracing.Observe(ctx, m.duration.WithLabelValues(op), time.Since(start).Seconds())
	if resp != nil {
		for _, e := range resp.Errors {
			code, _ := e.Extensions["code"].(string)
			if code == "" {
				code = "UNKNOWN"
			}
			m.errors.WithLabelValues(code).Inc()
		}
	}
	return resp
}

// maxOperationLabels bounds the operation label's values: clients choose
// operation names, and each new one would be a new series.
const maxOperationLabels = 200

// operationLabel is the metric label of an operation: its name while it is
// loggable (model.LoggableOperationName: no personnummer-like digits) and
// one of the first maxOperationLabels names seen, else "other".
func (m *requestMetrics) operationLabel(name string) string {
	if name == "" {
		return "anonymous"
	}
	if name = model.LoggableOperationName(name); name == "" {
		return "other"
	}
	if _, ok := m.seen.Load(name); ok {
		return name
	}
	if m.labels.Add(1) > maxOperationLabels {
		m.labels.Add(-1)
		return "other"
	}
	if _, loaded := m.seen.LoadOrStore(name, struct{}{}); loaded {
		m.labels.Add(-1)
	}
	return name
}

var (
	_ graphql.HandlerExtension        = shapeLimit{}
	_ graphql.OperationContextMutator = shapeLimit{}
	_ graphql.HandlerExtension        = (*requestMetrics)(nil)
	_ graphql.ResponseInterceptor     = (*requestMetrics)(nil)
)

// Records maps every object type of the schema bound to a record to a zero
// value of it, for authz's Bind: the hand-written records of sources/model
// and the declared ones go generate wrote (gqlmodel.DeclaredRecords).
func Records() map[string]any {
	out := model.Records()
	maps.Copy(out, gqlmodel.DeclaredRecords())
	return out
}
