package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/problem"
	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// security is the gateway's authentication, authorization and access log.
type security struct {
	authn       *authz.Authenticator
	authorizer  *authz.Authorizer
	enforcement *authz.Enforcement
	accessLog   *authz.AsyncAccessLog
	hasher      *authz.PersonHasher
	dev         *authz.DevIssuer // demo only
	policyDB    *pgxpool.Pool
	policyStore *authz.PostgresAdapter
	roles       map[string]authz.RoleGrant
	log         *slog.Logger
	// The policy workflow (policystore.go): versions, proposals and audit,
	// and what keeps this replica at the current version.
	policyVersions authz.PolicyStore
	policyFlow     *authz.PolicyFlow
	policySync     *authz.PolicySync
	// accessLogWhere says where the access log is written (a file path, or
	// the PostgreSQL setting); demoKey is the hash key the demo generated
	// for this run, which the CLI needs to read the file.
	accessLogWhere, demoKey string
}

// PolicySource reads the policy text from the configured file, or the
// embedded default.
func PolicySource(cfg *config.Config) (string, error) {
	return readOr(cfg.Authz.PolicyFile, authz.DefaultPolicy)
}

func readOr(path string, def func() string) (string, error) {
	if path == "" {
		return def(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("authz: %w", err)
	}
	return string(b), nil
}

// LoadAuthorizer builds the Authorizer from the configured policy,
// contracts and the schema's catalog; the CLI's policy commands use it too.
func LoadAuthorizer(ctx context.Context, cfg *config.Config, cat *authz.Catalog) (*authz.Authorizer, *authz.PostgresAdapter, *pgxpool.Pool, error) {
	text, err := PolicySource(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	rules, err := authz.ParsePolicy(text, cat)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("authz: policy %s: %w", nameOr(cfg.Authz.PolicyFile, "(embedded)"), err)
	}
	// The contracts are read before the policy database is opened, so that
	// a bad file leaves no pool behind.
	contractsText, err := readOr(cfg.Authz.ContractsFile, authz.DefaultContracts)
	if err != nil {
		return nil, nil, nil, err
	}
	contracts, err := authz.ParseContracts([]byte(contractsText), cat)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("authz: %s: %w", nameOr(cfg.Authz.ContractsFile, "embedded contracts"), err)
	}
	var store *authz.PostgresAdapter
	var pool *pgxpool.Pool
	if u := cfg.Authz.PolicyDatabaseURL; u != "" {
		pool, err = pgxpool.New(ctx, u)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("authz: policy database: %w", err)
		}
		store, err = authz.NewPostgresAdapter(ctx, pool, "")
		if err != nil {
			pool.Close()
			return nil, nil, nil, fmt.Errorf("authz: policy database: %w", err)
		}
		stored, err := store.Rules(ctx, "p")
		if err != nil {
			pool.Close()
			return nil, nil, nil, fmt.Errorf("authz: policy database: %w", err)
		}
		if len(stored) == 0 { // first start: seed from the file
			lines := make([][]string, len(rules))
			for i, r := range rules {
				lines[i] = r
			}
			if err := store.ReplaceAll(ctx, lines, "p"); err != nil {
				pool.Close()
				return nil, nil, nil, fmt.Errorf("authz: seeding the policy database: %w", err)
			}
		} else if rules, err = authz.ValidateRules(stored, cat); err != nil {
			pool.Close()
			return nil, nil, nil, fmt.Errorf("authz: policy database: %w", err)
		}
	}
	a, err := authz.NewAuthorizer(authz.AuthorizerOptions{Catalog: cat, Policy: rules, Contracts: contracts})
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, nil, nil, err
	}
	return a, store, pool, nil
}

// LoadRoles reads the configured role table, or the embedded default.
func LoadRoles(cfg *config.Config) (map[string]authz.RoleGrant, error) {
	text, err := readOr(cfg.Authz.RolesFile, authz.DefaultRoles)
	if err != nil {
		return nil, err
	}
	roles, err := authz.ParseRoles([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("authz: %s: %w", nameOr(cfg.Authz.RolesFile, "embedded roles"), err)
	}
	return roles, nil
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// openSecurity assembles authentication (OIDC and API keys; the development
// issuer in demo mode only), the Authorizer and the access log.
func (g *Gateway) openSecurity(ctx context.Context, demo bool, cat *authz.Catalog) (*security, error) {
	s := &security{log: g.log}
	var err error
	s.authorizer, s.policyStore, s.policyDB, err = LoadAuthorizer(ctx, g.cfg, cat)
	if err != nil {
		return nil, err
	}
	roles, err := LoadRoles(g.cfg)
	if err != nil {
		return s, err
	}
	s.roles = roles
	ao := authz.AuthenticatorOptions{}
	if demo {
		s.dev, err = authz.NewDevIssuer(authz.DevIssuerOptions{Demo: true})
		if err != nil {
			return s, err
		}
		ao = s.dev.AuthenticatorOptions()
	}
	if o := g.cfg.Auth.OIDC; o.Issuer != "" {
		if demo {
			return s, errors.New("auth.oidc: the demo uses its development issuer; pass --config to use an identity provider")
		}
		ao = authz.AuthenticatorOptions{
			JWKSURL: o.JWKSURL, Issuer: o.Issuer, Audience: nameOr(o.Audience, "kommungraf"), Algorithms: o.Algorithms,
			RefreshCooldown: o.RefreshCooldown, RolesClaim: o.RolesClaim, UnitClaim: o.UnitClaim,
		}
	}
	for _, k := range g.cfg.Auth.APIKeys {
		ao.APIKeys = append(ao.APIKeys, authz.APIKey{Name: k.Name, Client: k.Client, Roles: k.Roles, Unit: k.Unit, SHA256: k.SHA256})
	}
	ao.Roles, ao.Logger = roles, g.log
	if s.authn, err = authz.NewAuthenticator(ao); err != nil {
		return s, err
	}

	key := os.Getenv(config.EnvAccessLogKey)
	if key == "" {
		if !demo {
			return s, fmt.Errorf("%s is required: the base64 key (at least 32 bytes) that hashes personnummer in the access log", config.EnvAccessLogKey)
		}
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		key = base64.StdEncoding.EncodeToString(k)
		s.demoKey = key // serve prints it with the demo's credentials
	}
	if s.hasher, err = authz.NewPersonHasherBase64(key); err != nil {
		return s, fmt.Errorf("%s: %w", config.EnvAccessLogKey, err)
	}
	var store authz.AccessLog
	if u := g.cfg.Authz.AccessLog.DatabaseURL; u != "" {
		if store, err = authz.NewPostgresAccessLog(ctx, u, ""); err != nil {
			return s, err
		}
		s.accessLogWhere = "PostgreSQL (authz.accessLog.databaseUrl)"
	} else {
		path := g.accessLogFile()
		if store, err = authz.NewJSONLAccessLog(path); err != nil {
			return s, err
		}
		s.accessLogWhere = path
	}
	spool := g.localFile(g.cfg.Authz.AccessLog.Spool, "access.spool.jsonl", "kommungraf-access.spool.jsonl")
	if s.accessLog, err = authz.NewAsyncAccessLog(authz.AsyncAccessLogOptions{Store: store, SpoolPath: spool,
		SpoolMaxEntries: g.cfg.Authz.AccessLog.SpoolMaxEntries, Logger: g.log}); err != nil {
		_ = store.Close()
		return s, err
	}
	al := s.accessLog
	g.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kommungraf_access_log_dropped_total",
			Help: "Access log entries lost (a ticket used twice, or an entry the store refused for good). Should stay 0; alert on any increase.",
		}, func() float64 { return float64(al.Dropped()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kommungraf_access_log_unavailable_total",
			Help: "Responses whose personal fields were withheld (ACCESS_LOG_UNAVAILABLE) because the access log's queue and spool were full. Alert on any increase.",
		}, func() float64 { return float64(al.Unavailable()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kommungraf_access_log_spooled",
			Help: "Access log entries waiting in the local spool for the store to answer again.",
		}, func() float64 { return float64(al.Spooled()) }),
	)
	// The usage counts live in the access log's store: opened after it,
	// so that its problems are the ones a start reports (catalog.go).
	if err := g.openUsage(ctx, cat); err != nil {
		return s, fmt.Errorf("integration catalog: %w", err)
	}
	s.enforcement, err = authz.NewEnforcement(authz.EnforcementOptions{
		Authorizer: s.authorizer, AccessLog: s.accessLog, Hasher: s.hasher, Logger: g.log,
		RequestID: upstream.RequestIDFromContext, People: people{},
		ProtectionMaxAge: g.cfg.Authz.ProtectionMaxAge, Usage: g.usage,
	})
	return s, err
}

// people answers the enforcement's questions about persons through the
// request's loaders: batched, and cached as the registry's policy says.
type people struct{}

func (people) Person(ctx context.Context, pnr string) (model.Protectable, error) {
	return protectable(loaders.FromContext(ctx).Person.Load(ctx, pnr)())
}

func (people) Fresh(ctx context.Context, pnr string) (model.Protectable, error) {
	return protectable(loaders.FromContext(ctx).PersonFresh.Load(ctx, pnr)())
}

func (people) PersonalNumber(ctx context.Context, partyID string) (string, error) {
	return loaders.FromContext(ctx).PersonalNumber.Load(ctx, partyID)()
}

func (people) Hidden(ctx context.Context, pnr string) {
	loaders.FromContext(ctx).HidePerson(pnr)
}

// protectable keeps "unknown" a nil interface rather than a typed nil.
func protectable(p *model.Person, err error) (model.Protectable, error) {
	if p == nil || err != nil {
		return nil, err
	}
	return p, nil
}

var _ authz.People = people{}

func (s *security) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	if s.policySync != nil {
		errs = append(errs, s.policySync.Close())
	}
	if s.policyVersions != nil {
		errs = append(errs, s.policyVersions.Close())
	}
	if s.accessLog != nil {
		errs = append(errs, s.accessLog.Close())
	}
	if s.authn != nil {
		errs = append(errs, s.authn.Close())
	}
	if s.policyDB != nil {
		s.policyDB.Close()
	}
	return errors.Join(errs...)
}

// writeProblem answers with an RFC 9457 problem+json body (problem.Write,
// the one writer the admin surface uses too).
func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	problem.Write(w, status, code, detail, nil)
}

// accessLogFile is the access log's JSON-lines file when it has no
// database: configured, else in the demo's temporary directory, else in
// the working directory. The catalog's usage counts live beside it.
func (g *Gateway) accessLogFile() string {
	return g.localFile(g.cfg.Authz.AccessLog.File, "access.jsonl", "kommungraf-access.jsonl")
}

// localFile is configured, or the file named tmpName in the demo's
// temporary directory, or defaultName in the working directory.
func (g *Gateway) localFile(configured, tmpName, defaultName string) string {
	switch {
	case configured != "":
		return configured
	case g.tmpDir != "":
		return filepath.Join(g.tmpDir, tmpName)
	}
	return defaultName
}
