// Package admin is Kommungraf's administrative HTTP surface under /admin:
// the policy workflow's API (policy, dry run, proposals, approval,
// versions, restore, audit, the editor's field catalog and vocabulary,
// explain), the trusted operations' API, the access log search, the cache
// invalidation, the effect goals' report, and the policy editor page with
// its cookie session (its templates and assets are in web/admin).
//
// It depends on the small interfaces below, not on the gateway: the
// composition root (internal/gateway) builds the parts, hands them over in
// Options and mounts Handler. Every route but the page's own (the page,
// its assets and the session) sits behind an authorization the route
// declares, an action on an admin object decided by the live policy; a
// further section (the integration catalog, say) joins through
// Options.Routes on the same terms.
package admin

import (
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/report"
	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/web"
)

// Authenticator establishes who calls: a request's bearer or API key (the
// API authenticates exactly as /graphql does), or a pasted token (the
// page's sign-in, the explain API). *authz.Authenticator.
type Authenticator interface {
	// Middleware puts the request's principal in its context (anonymous
	// without a credential) and answers 401 for a credential that fails.
	Middleware(next http.Handler) http.Handler
	Authenticate(ctx context.Context, r *http.Request) (*authz.Principal, error)
	AuthenticateToken(ctx context.Context, token string) (*authz.Principal, error)
}

// Policy is the live access policy: its decisions on admin actions, and
// what the editor shows of it. *authz.Authorizer.
type Policy interface {
	DecideAction(s *authz.Subject, act, obj string) authz.Decision
	Version() uint64
	Rules() []authz.Rule
	Contracts() *authz.Contracts
	Catalog() *authz.Catalog
}

// ExplainFunc decides one question of the live policy for p, the line
// that decided it included: authz.Explain on the live Authorizer.
type ExplainFunc func(p *authz.Principal, field, action, object string, protected bool) (authz.Decision, error)

// Workflow is the policy workflow: proposals, approval, versions and audit
// in the policy store. *authz.PolicyFlow.
type Workflow interface {
	Store() authz.PolicyStore
	RequireApproval() bool
	Catalog() []authz.FieldAccess
	DryRun(ctx context.Context, text string) (authz.DryRunReport, error)
	Propose(ctx context.Context, actor string, baseVersion uint64, text, comment string) (authz.ProposeResult, error)
	Approve(ctx context.Context, actor string, id int64) (authz.PolicyVersion, authz.Proposal, error)
	Reject(ctx context.Context, actor string, id int64, reason string) (authz.Proposal, error)
	Restore(ctx context.Context, actor string, version uint64, comment string) (authz.ProposeResult, error)
}

// Operations is the registry of trusted operations. *operations.Registry.
type Operations interface {
	List(ctx context.Context) ([]*operations.Operation, error)
	Push(ctx context.Context, by string, files map[string]string) ([]*operations.Operation, error)
	// Affected are the operations that select a field reached says is
	// reached (the dry run's report).
	Affected(ctx context.Context, reached func(field string) bool) ([]operations.Affected, error)
}

// AccessLog is the GDPR access log (who read whose personal data), which
// the search reads and records itself in. *authz.AsyncAccessLog.
type AccessLog interface {
	Append(ctx context.Context, e authz.AccessEntry) error
	Query(ctx context.Context, q authz.AccessQuery) ([]authz.AccessEntry, error)
}

// PersonHasher hashes a personnummer as the access log keeps it.
// *authz.PersonHasher.
type PersonHasher interface {
	Hash(personnummer string) string
}

// Cache drops cached records. *cache.Cache.
type Cache interface {
	Invalidate(ctx context.Context, source, entity string, keys ...string) error
}

// ReportSource gathers what the effect goals' report is computed from, for
// the period [from, to).
type ReportSource interface {
	ReportInputs(ctx context.Context, from, to time.Time) (report.Inputs, error)
}

// ReportSourceFunc is a function as a ReportSource.
type ReportSourceFunc func(ctx context.Context, from, to time.Time) (report.Inputs, error)

// ReportInputs calls f.
func (f ReportSourceFunc) ReportInputs(ctx context.Context, from, to time.Time) (report.Inputs, error) {
	return f(ctx, from, to)
}

// Route is one authorized route of the admin surface. The report is one;
// a further section (the integration catalog) joins through
// Options.Routes the same way.
type Route struct {
	// Pattern is a net/http ServeMux pattern under /admin/, with its
	// method ("GET /admin/api/report"). Under /admin/api/ the page's
	// session reaches it too (and must prove it comes from the page
	// before it changes anything).
	Pattern string
	// Action and Object are what the caller needs of the live policy
	// (authz.ActAdmin on authz.ObjPolicy for the security staff's API);
	// the route is served to nobody else. Both are required.
	Action, Object string
	// Handler serves the route to the callers the policy allows; the
	// request's context holds the principal (authz.FromContext).
	Handler http.Handler
}

// Options are what the admin surface is built on. Every interface is
// required unless said otherwise: New refuses to build without one.
type Options struct {
	// Authn authenticates the API's requests and the page's session.
	Authn Authenticator
	// Policy is the live policy: it decides every route's authorization.
	Policy Policy
	// Explain answers POST /admin/api/explain.
	Explain ExplainFunc
	// Workflow is the policy workflow behind the policy API.
	Workflow Workflow
	// Roles is the role table, for the editor's vocabulary and the
	// explain API's personas.
	Roles map[string]authz.RoleGrant
	// Units are units known beside those the policy names (the demo's
	// personas'): the identity provider, not Kommungraf, keeps units.
	Units []string
	// Demo says the gateway runs the demo: the explain API takes persona
	// names, and the login view offers Personas' buttons.
	Demo     bool
	Personas []string
	// Operations is the registry of trusted operations.
	Operations Operations
	// AccessLog and Hasher serve the access log search.
	AccessLog AccessLog
	Hasher    PersonHasher
	// Cache serves POST /admin/cache/invalidate for CacheSources, the
	// sources it knows; nil when the cache is off (no route then).
	Cache        Cache
	CacheSources []string
	// Report serves GET /admin/api/report.
	Report ReportSource
	// Routes are further sections, each behind its own authorization.
	Routes []Route
	// Logger is the admin surface's logger.
	Logger *slog.Logger
}

// Admin is the assembled admin surface.
type Admin struct {
	opts    Options
	log     *slog.Logger
	handler http.Handler
	// routes are every authorized route mounted, in mounting order: the
	// fail-closed test walks them.
	routes []Route
}

// New builds the admin surface. A missing part, a route without an
// authorization, or one outside /admin/ stops the start with an error that
// says which.
func New(opts Options) (*Admin, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var missing []string
	for name, ok := range map[string]bool{
		"Authn": opts.Authn != nil, "Policy": opts.Policy != nil, "Explain": opts.Explain != nil,
		"Workflow": opts.Workflow != nil, "Operations": opts.Operations != nil, "AccessLog": opts.AccessLog != nil,
		"Hasher": opts.Hasher != nil, "Report": opts.Report != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("admin: Options.%s required", strings.Join(missing, ", Options."))
	}
	a := &Admin{opts: opts, log: opts.Logger}
	api, err := a.apiMux()
	if err != nil {
		return nil, err
	}
	page, err := newPage(opts)
	if err != nil {
		return nil, err
	}
	a.handler = page.mux(api)
	return a, nil
}

// Handler serves /admin and everything under /admin/; the gateway mounts
// it on both.
func (a *Admin) Handler() http.Handler { return a.handler }

// Routes are the authorized routes the surface serves (the page's own
// routes, which authorize inside, are not among them).
func (a *Admin) Routes() []Route { return append([]Route(nil), a.routes...) }

// apiMux is every authorized route: the policy API (policyapi.go), the
// explain API (explain.go), the operations API (operations.go), the
// report (report.go), the caller's further sections, the access log search
// (accesslog.go) and the cache invalidation (cache.go), with anything else
// under /admin/api/ a 404 for administrators only.
func (a *Admin) apiMux() (*http.ServeMux, error) {
	o := a.opts
	policyAPI := &policyAPI{flow: o.Workflow, a: o.Policy, roles: o.Roles, units: o.Units, ops: o.Operations, log: a.log.With("component", "policy-api")}
	routes := policyAPI.routes()
	routes = append(routes, Route{"POST /admin/api/explain", authz.ActAdmin, authz.ObjPolicy, a.explainAPI()})
	routes = append(routes, a.operationRoutes()...)
	routes = append(routes, Route{"GET /admin/api/report", authz.ActAdmin, authz.ObjPolicy, a.reportHandler()})
	routes = append(routes, o.Routes...)
	// The access log search; the old GET route took the personnummer in
	// the URL and now only says where to go.
	routes = append(routes,
		Route{"POST /admin/api/access-log", authz.ActAdmin, authz.ObjAccessLog, http.HandlerFunc(a.searchAccessLog)},
		Route{"GET /admin/access-log", authz.ActAdmin, authz.ObjAccessLog, http.HandlerFunc(oldAccessLog)},
	)
	if o.Cache != nil {
		routes = append(routes, Route{"POST /admin/cache/invalidate", authz.ActAdmin, authz.ObjCache, http.HandlerFunc(a.invalidate)})
	}
	// Anything else under the API is a 404 for administrators only, so the
	// API's shape is not revealed to others either.
	routes = append(routes, Route{"/admin/api/", authz.ActAdmin, authz.ObjPolicy, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "NOT_FOUND", "no such policy API route: "+r.Method+" "+r.URL.Path, nil)
	})})
	mux := http.NewServeMux()
	for _, rt := range routes {
		if err := a.mount(mux, rt); err != nil {
			return nil, err
		}
	}
	return mux, nil
}

// mount registers one route behind its authorization. ServeMux panics on
// a bad or conflicting pattern; that becomes the start's error.
func (a *Admin) mount(mux *http.ServeMux, rt Route) (err error) {
	path := rt.Pattern
	if _, p, ok := strings.Cut(rt.Pattern, " "); ok {
		path = p
	}
	switch {
	case !strings.HasPrefix(path, "/admin/"):
		return fmt.Errorf("admin: route %q: not under /admin/", rt.Pattern)
	case rt.Action == "" || rt.Object == "":
		return fmt.Errorf("admin: route %q: declares no authorization (Action and Object)", rt.Pattern)
	case rt.Handler == nil:
		return fmt.Errorf("admin: route %q: no handler", rt.Pattern)
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("admin: route %q: %v", rt.Pattern, v)
		}
	}()
	mux.Handle(rt.Pattern, a.require(rt.Action, rt.Object, rt.Handler))
	a.routes = append(a.routes, rt)
	return nil
}

// require serves next only to principals the live policy allows act on
// obj, after authenticating the request as /graphql does.
func (a *Admin) require(act, obj string, next http.Handler) http.Handler {
	return a.opts.Authn.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := authz.FromContext(r.Context())
		d := a.opts.Policy.DecideAction(authz.Prepare(p), act, obj)
		if !d.Allow {
			// The reason names clients, contracts and purposes: it goes to the
			// log, not to the caller.
			a.log.WarnContext(r.Context(), "admin access refused", "subject", p.Subject, "client", p.Client, "action", act, "object", obj, "reason", d.Reason)
			writeProblem(w, http.StatusForbidden, "FORBIDDEN", "not authorised for this administrative function", nil)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// newPage loads the editor's templates and assets (web/admin).
func newPage(o Options) (*adminPage, error) {
	assets := web.Admin()
	p := &adminPage{authn: o.Authn, authorizer: o.Policy, demo: o.Demo, personas: o.Personas, log: o.Logger}
	var err error
	for name, t := range map[string]**template.Template{"login.html": &p.login, "app.html": &p.app, "forbidden.html": &p.forbidden} {
		if *t, err = template.New(name).ParseFS(assets, name); err != nil {
			return nil, fmt.Errorf("admin: page template: %w", err)
		}
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("admin: page assets: %w", err)
	}
	p.assets = http.StripPrefix("/admin/assets/", http.FileServerFS(static))
	return p, nil
}
