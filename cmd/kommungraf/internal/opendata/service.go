package opendata

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rs/cors"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/ratelimit"
	"github.com/kommungraf/kommungraf/graph/operations"
)

// Options configure the open APIs.
type Options struct {
	// Files holds the declarations (Builtin(), or Dir(openData.dir));
	// Where names it in messages.
	Files fs.FS
	Where string
	// Schema, Catalog and Anonymous check every operation at start: its
	// fields level 0 in Catalog and allowed to the anonymous principal.
	Schema    *ast.Schema
	Catalog   *authz.Catalog
	Anonymous Anonymous
	// Registry holds the operations the resources run; the declarations'
	// own files are pushed into it at start.
	Registry *operations.Registry
	// GraphQL runs a GraphQL request (POST, JSON) as the principal of its
	// context: the gateway's per-request loaders around its GraphQL
	// handler, so that an open API runs the same executor, authorization
	// and access log as /graphql.
	GraphQL http.Handler
	// Datasets are the rows declared aggregates may count.
	Datasets []*Dataset
	// SourceTTL is a source's cache TTL (false: no such source).
	SourceTTL func(source string) (time.Duration, bool)
	// BaseURL is the absolute URL the gateway is reached at; empty takes
	// the request's scheme and Host.
	BaseURL string
	// Limiter and PerClient limit each client address; Public is the
	// anonymous client's budget, which every anonymous caller of /graphql
	// and of the open APIs shares. A nil Limiter does not limit
	// (rateLimit.disabled).
	Limiter   *ratelimit.Limiter
	PerClient ratelimit.Limit
	Public    ratelimit.Limit
	Logger    *slog.Logger
	// Now is the clock of the aggregates' memory (default time.Now).
	Now func() time.Time
}

// Service serves the open APIs.
type Service struct {
	opts    Options
	apis    []*api
	byName  map[string]*api
	handler http.Handler
}

// New loads and checks the declarations: a declaration that would serve a
// field above level 0, or one the anonymous principal may not read, an
// aggregate without suppression, or anything else wrong stops the start
// with every problem located.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch {
	case opts.Files == nil, opts.Schema == nil, opts.Catalog == nil, opts.Anonymous == nil,
		opts.Registry == nil, opts.GraphQL == nil, opts.SourceTTL == nil:
		return nil, errors.New("open APIs: incomplete options")
	}
	if opts.BaseURL != "" && !strings.HasPrefix(opts.BaseURL, "https://") && !strings.HasPrefix(opts.BaseURL, "http://") {
		return nil, fmt.Errorf("openData.baseUrl %q: want an absolute http(s) URL", opts.BaseURL)
	}
	opts.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
	decls, err := Load(opts.Files, opts.Where)
	if err != nil {
		return nil, fmt.Errorf("open APIs: %w", err)
	}
	apis, err := bind(ctx, &opts, decls)
	if err != nil {
		return nil, err
	}
	s := &Service{opts: opts, apis: apis, byName: map[string]*api{}}
	for _, a := range apis {
		s.byName[a.decl.API] = a
	}
	s.handler = s.routes()
	return s, nil
}

// Handler serves /open/.
func (s *Service) Handler() http.Handler { return s.handler }

// Summary is what the catalog and the report need of one API.
type Summary struct {
	API, Title, Version, Status, Owner, Base string
	Sources                                  []string
	// Operations are the registered operations' names; Aggregates the
	// datasets counted.
	Operations, Aggregates []string
	// Fields are what the operations select ("Type.field"); AggregateSources
	// the systems the datasets count (the integration catalog's open APIs
	// built on each system).
	Fields, AggregateSources []string
}

// APIs summarises the served APIs.
func (s *Service) APIs() []Summary {
	out := make([]Summary, 0, len(s.apis))
	for _, a := range s.apis {
		sum := Summary{API: a.decl.API, Title: a.decl.Title, Version: a.decl.Version, Status: a.decl.Status,
			Owner: a.decl.Owner, Base: a.decl.Base(), Sources: a.decl.Sources}
		for _, r := range a.resources {
			for _, b := range []*boundOp{r.list, r.item} {
				if b != nil {
					sum.Operations = append(sum.Operations, b.op.Name)
					sum.Fields = append(sum.Fields, b.op.Fields...)
				}
			}
			if r.agg != nil {
				sum.Aggregates = append(sum.Aggregates, r.agg.dataset.Name)
				sum.AggregateSources = append(sum.AggregateSources, r.agg.dataset.Source)
			}
		}
		out = append(out, sum)
	}
	return out
}

// routes: CORS open to every origin (GET only, no credentials), then the
// method and Accept checks and the per-IP rate limit, then the routes;
// whatever else is asked is a problem+json 404.
func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /open/{$}", s.index)
	mux.HandleFunc("GET /open/dcat.jsonld", s.dcatJSONLD)
	mux.HandleFunc("GET /open/dcat.rdf", s.dcatRDF)
	mux.HandleFunc("GET /open/{api}/{version}/api-info", s.withAPI(s.apiInfo))
	mux.HandleFunc("GET /open/{api}/{version}/openapi.json", s.withAPI(s.openAPI))
	mux.HandleFunc("GET /open/{api}/{version}/{resource}", s.withAPI(s.list))
	mux.HandleFunc("GET /open/{api}/{version}/{resource}/{id}", s.withAPI(s.item))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no open API resource at this path")
	})
	var h http.Handler = mux
	h = s.rateLimit(h)
	h = acceptable(h)
	h = onlyGet(h)
	return cors.New(cors.Options{
		AllowedOrigins:   []string{"*"},
		AllowedMethods:   []string{http.MethodGet, http.MethodHead},
		AllowedHeaders:   []string{"If-None-Match", "Accept", "X-Request-Id"},
		ExposedHeaders:   []string{"ETag", "Link", "Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-Id"},
		AllowCredentials: false,
		MaxAge:           600,
	}).Handler(h)
}

// withAPI resolves {api} and {version} (v{major}) or answers 404.
func (s *Service) withAPI(next func(http.ResponseWriter, *http.Request, *api)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.byName[r.PathValue("api")]
		if a == nil {
			writeProblem(w, r, http.StatusNotFound, fmt.Sprintf("no open API %q; GET /open/ lists them", r.PathValue("api")))
			return
		}
		if r.PathValue("version") != fmt.Sprintf("v%d", a.decl.Major()) {
			writeProblem(w, r, http.StatusNotFound, fmt.Sprintf("open API %s has no version %q; it is at %s", a.decl.API, r.PathValue("version"), a.decl.Base()))
			return
		}
		next(w, r, a)
	}
}

// onlyGet answers every method but GET and HEAD (and CORS preflights,
// answered before) with 405.
func onlyGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, r, http.StatusMethodNotAllowed, "the open APIs are read-only: GET or HEAD")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// acceptable answers 406 to a request whose Accept admits none of the
// media types the path serves.
func acceptable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept := r.Header.Get("Accept")
		want := []string{"application/json"}
		switch {
		case strings.HasSuffix(r.URL.Path, ".jsonld"):
			want = []string{"application/ld+json", "application/json"}
		case strings.HasSuffix(r.URL.Path, ".rdf"):
			want = []string{"application/rdf+xml", "application/xml", "text/xml"}
		}
		if accept != "" && !accepts(accept, want) {
			writeProblem(w, r, http.StatusNotAcceptable, "this resource is served as "+want[0]+" only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// accepts reports whether an Accept header admits one of the types (with
// a non-zero quality).
func accepts(header string, types []string) bool {
	for _, part := range strings.Split(header, ",") {
		media, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		media = strings.ToLower(strings.TrimSpace(media))
		if q := strings.ReplaceAll(strings.ToLower(params), " ", ""); strings.Contains(q, "q=0") && !strings.Contains(q, "q=0.") {
			continue
		}
		for _, t := range types {
			mt, _, _ := strings.Cut(t, "/")
			if media == "*/*" || media == t || media == mt+"/*" {
				return true
			}
		}
		// application/problem+json answers are always acceptable to a
		// client asking for them, but the resource itself is not.
	}
	return false
}
