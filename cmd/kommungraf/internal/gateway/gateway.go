// Package gateway wires Kommungraf together: sources, loaders, the GraphQL
// handler and the HTTP endpoints around it. In demo mode it also starts the
// simulated upstream systems and seeds the school database.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/admission"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/catalog"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/opendata"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/ratelimit"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/resolvers"
	"github.com/kommungraf/kommungraf/sources/cache"
	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/rest"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/soap"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// DemoOrder is the registry order the demo's simulated registry accepts.
const (
	DemoOrgNr = "212000-0000"
	DemoOrder = "KOMMUNGRAF-DEMO"
)

// Options are the gateway's start-up choices beyond the config file.
type Options struct {
	// Demo starts the simulators in process and points the sources at them.
	Demo bool
	// DemoLatency and DemoJitter are added to every simulated upstream call.
	DemoLatency, DemoJitter time.Duration
	// Seed and People select the demo's synthetic world.
	Seed   uint64
	People int
	// World reuses a generated world (tests); nil generates one.
	World *sim.World
	// DisableBatching makes every loader key its own upstream call (benchmarks).
	DisableBatching bool
	// InsecureSkipAuthorization serves every field to every caller. It exists
	// for the benchmark that measures what authorization costs and for tests of
	// the data path alone; no flag or config key reaches it.
	InsecureSkipAuthorization bool
	// Logger is the gateway's logger.
	Logger *slog.Logger
	// TracerProvider records the spans instead of the configured OTLP
	// exporter (tests: the SDK's in-memory exporter); it is installed as
	// the process's provider.
	TracerProvider trace.TracerProvider
	// Declarations replaces the source declarations go generate embedded
	// (graph/declared): for tests of the start's checks. The config's
	// sources.<system> still follow the embedded ones.
	Declarations []declare.File
}

// Gateway is an assembled Kommungraf.
type Gateway struct {
	cfg      *config.Config
	log      *slog.Logger
	handler  http.Handler
	sim      *sim.Running
	store    *sqldb.Store
	checks   map[string]func(context.Context) error
	cache    *cache.Cache
	redis    redis.UniversalClient
	tmpDir   string
	registry *prometheus.Registry
	metrics  *upstream.Metrics
	sec      *security
	// operations is the registry of trusted operations (trusted.go).
	operations     *operations.Registry
	operationStore operations.Store
	// tracing says spans are recorded (tracing.go); stopTracing flushes
	// and stops the exporter.
	tracing     bool
	stopTracing func() error
	// declared are the source declarations, checked against the schema.
	declared *declare.Set
	// declaredStores are the databases of declared sql systems that have
	// their own (sources.<system>.dsn).
	declaredStores []*sqldb.Store
	// builtinEnvs are the built-in systems' upstream clients or databases,
	// which the resources declared for them share (openSources).
	builtinEnvs map[string]connect.Env
	// limiter keeps the rate limits (ratelimit.go); nil when they are off.
	limiter *ratelimit.Limiter
	// admission bounds the GraphQL requests in flight (admission.go).
	admission *admission.Controller
	// readiness answers /readyz from cached checks (readiness.go).
	readiness *readiness
	// open serves the open REST APIs (opendata.go); nil when disabled.
	open *opendata.Service
	// draining is set on SIGTERM (drain.go).
	draining atomic.Bool
	// usage counts what clients read, for the integration catalog
	// (catalog.go); catalogSystems and catalogAttribution describe the
	// systems.
	usage              *catalog.Usage
	catalogSystems     []catalog.System
	catalogAttribution *catalog.Attribution
}

// New assembles the gateway. In demo mode cfg's sources are filled in here.
// If a step fails, New closes what the earlier steps started (simulators,
// pools, clients, the cache, the access log, the policy store and their
// goroutines, the demo's temp dir) and returns the step's error, which says
// what failed; it never returns a partly started gateway.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	g := &Gateway{cfg: cfg, log: opts.Logger, registry: prometheus.NewRegistry(), checks: map[string]func(context.Context) error{}}
	if err := g.assemble(ctx, opts); err != nil {
		if cerr := g.Close(); cerr != nil {
			// The start-up error is the one to report; this one is only logged.
			g.log.Warn("start-up failed; closing what had started failed too", "error", cerr.Error())
		}
		return nil, err
	}
	return g, nil
}

// assemble does New's steps in order. Each step records what it started in
// g as soon as it has started it, so that Close, which copes with a gateway
// built only part of the way, releases it whichever step fails later.
func (g *Gateway) assemble(ctx context.Context, opts Options) error {
	cfg := g.cfg
	g.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := g.openTracing(ctx, opts); err != nil {
		return err
	}

	// The declarations are checked against the schema first, with the
	// function go generate uses: a bad one stops the start, every problem
	// located, before anything runs.
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	files := opts.Declarations
	if files == nil {
		files = declared.Files()
	}
	set, err := declare.Load(files, schema, loaders.Builtins(), connect.CheckParts)
	if err == nil && opts.Declarations != nil {
		// The resolvers pass the parent fields the embedded ones name.
		var generated *declare.Set
		if generated, err = declare.Parse(declared.Files()); err == nil {
			err = set.CheckParentsPassed(generated)
		}
	}
	if err != nil {
		return fmt.Errorf("source declarations: %w", err)
	}
	g.declared = set

	if opts.Demo {
		if err := g.startDemo(ctx, opts); err != nil {
			return err
		}
	}
	if err := cfg.ValidateSourcesFor(g.declared); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	src, err := g.openSources(ctx)
	if err != nil {
		return err
	}
	if opts.Demo {
		// Before the declared systems: an sql one checks its query against
		// the school database's tables.
		if err := sim.SeedSchoolDB(ctx, g.store, g.sim.World); err != nil {
			return fmt.Errorf("demo: seeding school database: %w", err)
		}
	}
	resources, err := g.openDeclared(ctx, g.upstreamMetrics())
	if err != nil {
		return err
	}

	catalog, err := authz.Classify(schema)
	if err != nil {
		return fmt.Errorf("schema: classification: %w", err)
	}
	// Every personal type names its data subjects, every @row type its row
	// attribute, on the records it is bound to (the declared ones on the
	// code go generate wrote from their declarations): or the gateway does
	// not start.
	if err := catalog.Bind(graph.Records()); err != nil {
		return fmt.Errorf("schema: records: %w", err)
	}
	// openSecurity returns what it has built even when it fails, for Close.
	if g.sec, err = g.openSecurity(ctx, opts.Demo, catalog); err != nil {
		return err
	}
	hopts := graph.HandlerOptions{
		Resolvers:             &resolvers.Resolver{},
		MaxComplexity:         cfg.Server.MaxComplexity,
		MaxDepth:              cfg.Server.MaxDepth,
		MaxIntrospectionDepth: cfg.Server.MaxIntrospectionDepth,
		MaxAliases:            cfg.Server.MaxAliases,
		MaxFields:             cfg.Server.MaxFields,
		Introspection:         *cfg.Server.Introspection,
		CostBudgets:           cfg.Cost.Budgets,
		DefaultCostBudget:     cfg.Cost.DefaultBudget,
		Declared:              g.declared,
		MaySeeSchema:          g.maySeeSchema(opts.InsecureSkipAuthorization),
		Registerer:            g.registry,
		Logger:                g.log,
		AroundResponses:       staleExtension,
		Dispatch:              loaders.NewLevels(),
	}
	// One REQUEST_TIMEOUT for a request past its deadline (deadline.go).
	hopts.Extensions = append(hopts.Extensions, deadlineExtension{log: g.log})
	if err := g.openOperations(ctx, opts.Demo, schema); err != nil {
		return err
	}
	hopts.Trusted = g.trustedOptions()
	if !opts.InsecureSkipAuthorization {
		hopts.Extensions = append(hopts.Extensions, g.sec.enforcement)
	}
	gql := graph.NewHandler(hopts)
	caching, err := g.openCache(opts.Demo)
	if err != nil {
		return err
	}
	if err := g.openPolicyAdmin(ctx, opts.Demo); err != nil {
		return fmt.Errorf("policy store: %w", err)
	}
	factory := loaders.NewFactory(src, loaders.Options{
		Wait: cfg.Batching.Wait, Registerer: g.registry,
		Disabled: opts.DisableBatching, Caching: caching,
		Rows: g.rowScope(opts.InsecureSkipAuthorization), ProtectionMaxAge: cfg.Authz.ProtectionMaxAge,
		Resources: resources, Declared: g.declared,
	})

	limit, err := g.openRateLimit()
	if err != nil {
		return fmt.Errorf("rate limits: %w", err)
	}
	// The request's deadline runs from its arrival, admission queue
	// included; the rate limits and admission come after authentication,
	// which names the client application they count and share slots by
	// (ratelimit.go, admission.go). A request over its rate limit is
	// refused before it takes a place in the queue.
	g.admission = newAdmission(cfg.Server.Admission, g.registry)
	mux := http.NewServeMux()
	mux.Handle("/graphql", requestDeadline(cfg.Server.RequestTimeout, graphqlCORS(cfg.Server.CORS, graphqlOnly(
		graphqlBody(cfg.Server.MaxBodyBytes, g.sec.authn.Middleware(limit(g.admit(cfg.Server.Admission, factory.Middleware(gql)))))))))
	// The open REST APIs (opendata.go): their operations run as the
	// anonymous principal through the same loaders, handler and admission
	// as /graphql; a declaration that would serve anything above level 0
	// stops the start here.
	open, err := g.openOpenData(ctx, schema, catalog, src, g.admit(cfg.Server.Admission, factory.Middleware(gql)))
	if err != nil {
		return err
	}
	if open != nil {
		g.open = open
		mux.Handle("/open/", requestDeadline(cfg.Server.RequestTimeout, open.Handler()))
	}
	if *cfg.Server.GraphiQL {
		page, static := graphiql(g.sec.dev) // graphiql.go
		if g.sec.dev != nil {
			// The demo's page carries a persona's token: loopback only, like /demo/token.
			page = loopbackOnly(page)
		}
		mux.Handle("GET /{$}", page)
		mux.Handle("GET /graphiql/", static) // the bundle: no credentials, no data
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	g.readiness = newReadiness(g.checks, cfg.Server.Readiness, g.redisDegraded(), g.registry, g.log)
	mux.Handle("GET /readyz", g.readiness)
	// OpenMetrics on request: the latency histograms carry trace ids as exemplars.
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.registry, promhttp.HandlerOpts{Registry: g.registry, EnableOpenMetrics: true}))
	if g.sim != nil {
		mux.Handle("/demo/upstream-stats", loopbackOnly(g.sim.Stats))
	}
	// The admin surface (internal/admin, wired in admin.go): the policy
	// editor page and its session, the policy, operations, access log,
	// cache and report APIs, each route behind its declared authorization.
	adm, err := g.openAdmin()
	if err != nil {
		return err
	}
	mux.Handle("/admin", adm.Handler())
	mux.Handle("/admin/", adm.Handler())
	if g.sec.dev != nil {
		dev := loopbackOnly(g.sec.dev.Handler())
		mux.Handle("GET /demo/token", dev)
		mux.Handle("GET /demo/jwks.json", dev)
	}
	g.handler = requestID(accessLog(g.log, recoverPanics(g.log, g.closeWhileDraining(limitBody(cfg.Server.MaxBodyBytes, mux)))))
	if g.tracing {
		g.handler = traceRequests(g.handler) // tracing.go
	}
	return nil
}

// rowScope is what the loaders push down to upstream filters: the row
// values the request's caller may read, as the enforcement decides them.
func (g *Gateway) rowScope(skipAuthorization bool) loaders.RowScope {
	if !skipAuthorization {
		return g.sec.enforcement.RowValues
	}
	a := g.sec.authorizer // every value some row line names: the data path alone, for benchmarks
	return func(_ context.Context, typ string) []string { return a.AllRowValues(typ) }
}

func (g *Gateway) startDemo(ctx context.Context, opts Options) error {
	running, err := sim.Start(ctx, sim.Options{
		Seed: opts.Seed, People: opts.People, World: opts.World, Latency: opts.DemoLatency, Jitter: opts.DemoJitter,
	})
	if err != nil {
		return fmt.Errorf("demo: starting simulators: %w", err)
	}
	g.sim = running
	s := &g.cfg.Sources
	for _, b := range s.BuiltinHTTP() {
		b.Source.URL = running.URL(b.Name)
	}
	s.Folkbokforing.OrgNr, s.Folkbokforing.BestallningsID = DemoOrgNr, DemoOrder
	for _, sys := range g.declared.Systems {
		// A declared system the simulators have is pointed at its
		// simulator unless the configuration names another URL; one they
		// do not have keeps the configuration's (without one, the
		// config's check says so). An sql system has no URL.
		if sys.Builtin {
			continue // pointed at its simulator above
		}
		d := s.Declared[sys.Name]
		if u := running.URL(sys.Name); u != "" && d.URL == "" && sys.Connector != declare.ConnectorSQL {
			d.URL = u
			s.Declared[sys.Name] = d
		}
	}
	// The demo keeps its state (SQLite school database, access log) in a
	// temp dir that Close removes.
	dir, err := os.MkdirTemp("", "kommungraf-demo-")
	if err != nil {
		return fmt.Errorf("demo: temp dir: %w", err)
	}
	g.tmpDir = dir
	if s.Skoldatabas.DSN == "" {
		s.Skoldatabas.Driver, s.Skoldatabas.DSN = "sqlite", filepath.Join(dir, "skoldatabas.db")
	}
	return nil
}

// httpOptions are the call stack's options of an HTTP or SOAP system, from
// its configuration, credentials included.
func httpOptions(name string, s config.HTTPSource, m *upstream.Metrics, log *slog.Logger) (upstream.Options, error) {
	conf, oauth, err := s.Credentials()
	if err != nil {
		return upstream.Options{}, fmt.Errorf("sources.%s.%w", name, err)
	}
	return upstream.Options{
		Name: name, BaseURL: s.URL, Timeout: s.Timeout, MaxBodyBytes: s.MaxBodyBytes,
		Retries: s.Retries, RetryBackoff: s.RetryBackoff,
		BreakerFailures: s.BreakerFailures, BreakerOpen: s.BreakerOpen,
		MaxConcurrent: s.MaxConcurrent, TLS: conf, OAuth2: oauth, Metrics: m, Logger: log,
	}, nil
}

// builtinSystem opens a built-in system's Go client from its
// configuration and declaration, sets it in the loaders' sources, and
// returns what the resources declared for it run on.
type builtinSystem func(ctx context.Context, g *Gateway, sys *declare.System, m *upstream.Metrics, src *loaders.Sources) (connect.Env, error)

// builtinSystems are the systems whose clients are Go code, by the name
// their declaration (schema/<name>.yaml, builtin: true) gives them: the
// one place a built-in system's name meets its Go client. Everything else
// (metrics' and traces' source name, readiness probe, cache policy and
// sealing, config defaults) comes from the declaration.
var builtinSystems = map[string]builtinSystem{
	"folkbokforing": func(_ context.Context, g *Gateway, sys *declare.System, m *upstream.Metrics, src *loaders.Sources) (connect.Env, error) {
		c := g.cfg.Sources.Folkbokforing
		opts, err := httpOptions(sys.Name, c.HTTPSource, m, g.log)
		if err != nil {
			return connect.Env{}, err
		}
		src.Registry, err = soap.NewNavet(soap.NavetOptions{Options: opts, OrgNr: c.OrgNr, BestallningsID: c.BestallningsID})
		if err != nil {
			return connect.Env{}, err
		}
		return connect.Env{Client: src.Registry.Upstream(), Header: http.Header{}}, nil
	},
	"etjanst": func(_ context.Context, g *Gateway, sys *declare.System, m *upstream.Metrics, src *loaders.Sources) (connect.Env, error) {
		opts, err := httpOptions(sys.Name, g.cfg.Sources.Etjanst, m, g.log)
		if err != nil {
			return connect.Env{}, err
		}
		if src.Errands, err = rest.NewETjanst(opts); err != nil {
			return connect.Env{}, err
		}
		return connect.Env{Client: src.Errands.Upstream(), Header: http.Header{}}, nil
	},
	"geodata": func(_ context.Context, g *Gateway, sys *declare.System, m *upstream.Metrics, src *loaders.Sources) (connect.Env, error) {
		opts, err := httpOptions(sys.Name, g.cfg.Sources.Geodata, m, g.log)
		if err != nil {
			return connect.Env{}, err
		}
		if src.Geodata, err = rest.NewGeodata(opts); err != nil {
			return connect.Env{}, err
		}
		return connect.Env{Client: src.Geodata.Upstream(), Header: http.Header{}}, nil
	},
	"skoldatabas": func(ctx context.Context, g *Gateway, sys *declare.System, m *upstream.Metrics, src *loaders.Sources) (connect.Env, error) {
		db := g.cfg.Sources.Skoldatabas
		var rec sqldb.Recorder
		if g.sim != nil {
			rec = g.sim.Stats
		}
		store, err := sqldb.Open(ctx, sqldb.Options{
			Driver: db.Driver, DSN: db.DSN, MaxOpenConns: db.MaxOpenConns, QueryTimeout: db.QueryTimeout,
			Recorder: rec, Metrics: m, Logger: g.log, System: sys.Name,
		})
		if err != nil {
			return connect.Env{}, err
		}
		g.store, src.School = store, store
		return connect.Env{Store: store}, nil
	},
}

// openSources opens the built-in systems' Go clients, each from its
// declaration: a built-in system Kommungraf has no client for, or a
// client without its declaration, stops the start. The readiness check of
// each is its declared probe on its client (an sql system's: its
// database's ping).
func (g *Gateway) openSources(ctx context.Context) (loaders.Sources, error) {
	m := g.upstreamMetrics()
	var src loaders.Sources
	g.builtinEnvs = map[string]connect.Env{}
	for _, sys := range g.declared.Systems {
		if !sys.Builtin {
			continue
		}
		open, ok := builtinSystems[sys.Name]
		if !ok {
			return src, fmt.Errorf("source declarations: %s: system %s says builtin: true, but Kommungraf has no Go client of that name (built in: %s); declare its calls (http, soap or sql) instead", sys.Pos, sys.Name, strings.Join(slices.Sorted(maps.Keys(builtinSystems)), ", "))
		}
		env, err := open(ctx, g, sys, m, &src)
		if err != nil {
			return src, fmt.Errorf("%s: %w", sys.Name, err)
		}
		g.builtinEnvs[sys.Name] = env
		g.checks[sys.Name] = probe(sys, env)
	}
	for _, name := range slices.Sorted(maps.Keys(builtinSystems)) {
		if sys := g.declared.System(name); sys == nil || !sys.Builtin {
			return src, fmt.Errorf("source declarations: the built-in system %s has no declaration (schema/%s.yaml with builtin: true): its cache policy, sealing, readiness probe and defaults are declared there", name, name)
		}
	}
	if err := loaders.CheckBuiltins(g.declared); err != nil {
		return src, fmt.Errorf("source declarations: %w", err)
	}
	return src, nil
}

// probe is a system's readiness check from its declaration: its probe path
// on its upstream client (a soap system without one: ?wsdl, a built-in
// one: its own URL), or its database's ping.
func probe(sys *declare.System, env connect.Env) func(context.Context) error {
	if env.Store != nil {
		return env.Store.Ping
	}
	path := sys.Probe
	if path == "" && sys.Connector == declare.ConnectorSOAP && !sys.Builtin {
		path = "?wsdl" // a SOAP service publishes its description there
	}
	var header http.Header // credentials, when the system has them
	if len(env.Header) > 0 {
		header = env.Header
	}
	return func(ctx context.Context) error { return env.Client.PingWith(ctx, path, header) }
}

// upstreamMetrics are the upstream call metrics, registered once.
func (g *Gateway) upstreamMetrics() *upstream.Metrics {
	if g.metrics == nil {
		g.metrics = upstream.NewMetrics(g.registry)
	}
	return g.metrics
}

// openDeclared builds every declared system from its declaration: its
// upstream client from sources.<system> (whose defaults are the
// declaration's) for http and soap, its database for sql (its own from
// sources.<system>, else the school database's pool), a connector per
// resource, and the system's readiness check. Metrics, cache stores and
// errors carry the declaration's system and resource names. What only now
// can be checked (a WSDL fetched with ?wsdl, {config.<name>} values,
// credentials, the query against the database) stops the start with every
// problem, located in the declarations.
func (g *Gateway) openDeclared(ctx context.Context, m *upstream.Metrics) ([]loaders.Resource, error) {
	var out []loaders.Resource
	var problems declare.Problems
	for _, sys := range g.declared.Systems {
		var env connect.Env
		var check func(context.Context) error
		if sys.Builtin {
			// Its client, configuration and readiness check are the
			// built-in source's (openSources).
			var err error
			if env, err = g.builtinEnv(sys); err != nil {
				return nil, err
			}
		} else {
			sc, ok := g.cfg.Sources.Declared[sys.Name]
			if !ok {
				return nil, fmt.Errorf("%s: system %s has no sources.%s in the configuration (run go generate after changing schema/*.yaml)", sys.Pos, sys.Name, sys.Name)
			}
			var err error
			if env, check, err = g.declaredEnv(ctx, sys, sc, m); err != nil {
				return nil, err
			}
		}
		for _, r := range sys.Resources {
			if r.Builtin != nil {
				continue // a Go loader's (sources/loaders), its identity checked by CheckBuiltins
			}
			conn, err := connect.Open(ctx, g.declared, r, env)
			var ps declare.Problems
			switch {
			case errors.As(err, &ps):
				problems = append(problems, ps...)
				continue
			case err != nil:
				return nil, err
			}
			policy := cache.Policy{TTL: r.Cache.TTL, NegativeTTL: r.Cache.NegativeTTL, StaleIfError: r.Cache.StaleIfError}
			if sys.Builtin && !r.CacheDeclared {
				p := g.cfg.Cache.Sources[sys.Name] // the built-in source's policy, as its own records have
				policy = cache.Policy{TTL: p.TTL, NegativeTTL: p.NegativeTTL, StaleIfError: p.StaleIfError}
			}
			out = append(out, loaders.Resource{
				System: sys.Name, Name: r.Name, Connector: conn, Level3: r.Level3, Cache: policy, Shape: r.Shape(),
			})
		}
		if check != nil {
			g.checks[sys.Name] = check
		}
	}
	if err := problems.Err(); err != nil {
		return nil, fmt.Errorf("source declarations: %w", err)
	}
	return out, nil
}

// builtinEnv is what the declared resources of a built-in system run on:
// its own upstream client or database, shared with its Go code.
func (g *Gateway) builtinEnv(sys *declare.System) (connect.Env, error) {
	env, ok := g.builtinEnvs[sys.Name]
	if !ok {
		return connect.Env{}, fmt.Errorf("%s: system %s: no built-in client is open", sys.Pos, sys.Name)
	}
	return env, nil
}

// declaredEnv opens what a declared system's connectors run on, and its
// readiness check: an http or soap system's upstream client (with an http
// system's API key header, a soap system's {config.<name>} values), an sql
// system's database.
func (g *Gateway) declaredEnv(ctx context.Context, sys *declare.System, sc config.DeclaredSource, m *upstream.Metrics) (connect.Env, func(context.Context) error, error) {
	if sys.Connector == declare.ConnectorSQL {
		if sc.DSN == "" {
			store := g.store.As(sys.Name) // the school database, counted under the system's name
			return connect.Env{Store: store}, store.Ping, nil
		}
		var rec sqldb.Recorder
		if g.sim != nil {
			rec = g.sim.Stats
		}
		store, err := sqldb.Open(ctx, sqldb.Options{
			Driver: sc.Driver, DSN: sc.DSN, MaxOpenConns: sc.MaxOpenConns, QueryTimeout: sc.QueryTimeout,
			Recorder: rec, Metrics: m, Logger: g.log, System: sys.Name,
		})
		if err != nil {
			return connect.Env{}, nil, fmt.Errorf("%s: %w", sys.Name, err)
		}
		g.declaredStores = append(g.declaredStores, store)
		return connect.Env{Store: store}, store.Ping, nil
	}
	opts, err := httpOptions(sys.Name, sc.HTTPSource, m, g.log)
	if err != nil {
		return connect.Env{}, nil, err
	}
	client, err := upstream.NewClient(opts)
	if err != nil {
		return connect.Env{}, nil, fmt.Errorf("%s: %w", sys.Name, err)
	}
	env := connect.Env{Client: client, Header: http.Header{}, Config: sc.Values}
	if k := sc.APIKey; k != nil {
		key := os.Getenv(k.Env)
		if key == "" {
			return connect.Env{}, nil, fmt.Errorf("sources.%s.apiKey: environment variable %s is not set", sys.Name, k.Env)
		}
		env.Header.Set(k.Header, key)
	}
	return env, probe(sys, env), nil
}

// Handler is the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// OpenData returns the open REST APIs, or nil when they are off.
func (g *Gateway) OpenData() *opendata.Service { return g.open }

// Sim returns the in-process simulators (demo mode), or nil.
func (g *Gateway) Sim() *sim.Running { return g.sim }

// DevIssuer returns the demo's development token issuer, or nil outside demo mode.
func (g *Gateway) DevIssuer() *authz.DevIssuer {
	if g.sec == nil {
		return nil
	}
	return g.sec.dev
}

// AccessLogLocation says where the access log is written: the JSON lines
// file's path, or that it is in PostgreSQL.
func (g *Gateway) AccessLogLocation() string { return g.sec.accessLogWhere }

// DemoAccessLogKey is the access log hash key the demo generated for this
// run (base64), or "" when KOMMUNGRAF_ACCESS_LOG_KEY supplied it or outside
// demo mode. The CLI needs it to search the log file by personnummer.
func (g *Gateway) DemoAccessLogKey() string { return g.sec.demoKey }

// Authorizer returns the live access policy.
func (g *Gateway) Authorizer() *authz.Authorizer { return g.sec.authorizer }

// AccessLog returns the access log (tests flush it).
func (g *Gateway) AccessLog() *authz.AsyncAccessLog { return g.sec.accessLog }

// PersonHasher returns the access log's personnummer hasher.
func (g *Gateway) PersonHasher() *authz.PersonHasher { return g.sec.hasher }

// Config returns the effective configuration.
func (g *Gateway) Config() *config.Config { return g.cfg }

// Close releases what the gateway started, in the reverse order of New:
// the policy sync and store, the access log and authentication, the cache,
// the Redis client, the declared systems' own databases, the school
// database, the simulators and the demo's temp files. It copes with a
// gateway that New built only part of the way.
func (g *Gateway) Close() error {
	var errs []error
	if g.readiness != nil {
		g.readiness.close()
	}
	if g.sec != nil {
		errs = append(errs, g.sec.Close())
	}
	if g.usage != nil {
		errs = append(errs, g.usage.Close())
	}
	if g.cache != nil {
		errs = append(errs, g.cache.Close())
	}
	if g.redis != nil {
		errs = append(errs, g.redis.Close())
	}
	for _, s := range g.declaredStores {
		errs = append(errs, s.Close())
	}
	if g.store != nil {
		errs = append(errs, g.store.Close())
	}
	if g.sim != nil {
		errs = append(errs, g.sim.Close())
	}
	if g.tmpDir != "" {
		errs = append(errs, os.RemoveAll(g.tmpDir))
	}
	if g.operationStore != nil {
		errs = append(errs, g.operationStore.Close())
	}
	if g.stopTracing != nil {
		errs = append(errs, g.stopTracing())
	}
	return errors.Join(errs...)
}
