// Package config is Kommungraf's one typed configuration: a YAML file with
// ${ENV} expansion, unknown keys rejected and every error reported at once.
// No file at all means the embedded demo.
package config

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// Config is the whole configuration.
type Config struct {
	Server   Server   `yaml:"server"`
	Sources  Sources  `yaml:"sources"`
	Batching Batching `yaml:"batching"`
	Redis    Redis    `yaml:"redis"`
	Cache    Cache    `yaml:"cache"`
	Auth     Auth     `yaml:"auth"`
	Authz    Authz    `yaml:"authz"`
	Log      Log      `yaml:"log"`
	Tracing  Tracing  `yaml:"tracing"`
	// Operations is the registry of trusted (persisted) operations.
	Operations Operations `yaml:"operations"`
	// RateLimit and Cost are the request rate limits and the per-request
	// budgets of upstream calls (limits.go).
	RateLimit RateLimit `yaml:"rateLimit"`
	Cost      Cost      `yaml:"cost"`
	// OpenData is the open REST APIs under /open/ (limits.go).
	OpenData OpenData `yaml:"openData"`

	// envProblems are environment overrides that did not parse.
	envProblems []error
	// overrides are the settings environment variables took from the file
	// (or from the demo's defaults); dbFromEnv says the school database's
	// DSN came from EnvDatabaseURL, so that an error about it names it.
	overrides []Override
	dbFromEnv bool
	demo      bool
	// declared, while ValidateSourcesFor runs, are the declarations to
	// check sources.<system> against instead of the embedded ones.
	declared *declare.Set
}

// Override is a setting an environment variable decided instead of the
// configuration file (or the demo's default). serve logs each at start, so
// that which setting won, and why, is never a surprise.
type Override struct {
	// What is the part of the gateway concerned ("school database").
	What string
	// Variable is the environment variable that won.
	Variable string
	// Setting is what it overrides ("sources.skoldatabas").
	Setting string
	// Change says what changed ("driver sqlite → postgres").
	Change string
}

func (o Override) String() string {
	return fmt.Sprintf("%s: %s overrides %s (%s)", o.What, o.Variable, o.Setting, o.Change)
}

// Overrides are the settings environment variables decided, in the order
// ApplyEnv applied them.
func (c *Config) Overrides() []Override { return c.overrides }

// Auth configures authentication. In the demo a built-in development issuer
// signs tokens for the personas; it cannot be turned on from this file.
type Auth struct {
	// OIDC verifies bearer tokens from the municipality's identity provider.
	OIDC OIDC `yaml:"oidc"`
	// APIKeys are system clients' keys, stored as SHA-256 hex only.
	APIKeys []APIKey `yaml:"apiKeys"`
}

// OIDC configures bearer token verification.
type OIDC struct {
	// Issuer is the expected iss; empty turns OIDC off (only API keys and
	// anonymous requests are then accepted).
	Issuer string `yaml:"issuer"`
	// JWKSURL is where the issuer publishes its keys.
	JWKSURL string `yaml:"jwksUrl"`
	// Audience is the expected aud (default kommungraf).
	Audience string `yaml:"audience"`
	// Algorithms are the accepted signing algorithms (default [RS256]).
	Algorithms []string `yaml:"algorithms"`
	// RolesClaim and UnitClaim name the claims with the roles and the
	// organisational unit (default roles and unit).
	RolesClaim string `yaml:"rolesClaim"`
	UnitClaim  string `yaml:"unitClaim"`
	// RefreshCooldown is the least time between two JWKS fetches caused by an
	// unknown kid (default 1m).
	RefreshCooldown time.Duration `yaml:"refreshCooldown"`
}

// APIKey is one system client's key.
type APIKey struct {
	// Name identifies the key in logs and in the access log.
	Name string `yaml:"name"`
	// Client is the client application, whose information contract applies.
	Client string `yaml:"client"`
	// Roles and Unit are the key's principal attributes.
	Roles []string `yaml:"roles"`
	Unit  string   `yaml:"unit"`
	// SHA256 is the hex SHA-256 of the key (kommungraf apikey prints both).
	SHA256 string `yaml:"sha256"`
}

// Authz configures authorization and the access log.
type Authz struct {
	// PolicyFile is the Casbin policy (default: the embedded
	// authz/policy/policy.csv).
	PolicyFile string `yaml:"policyFile"`
	// PolicyDatabaseURL stores the policy in PostgreSQL (table casbin_rule)
	// instead of a file; an empty table is seeded from PolicyFile.
	PolicyDatabaseURL string `yaml:"policyDatabaseUrl"`
	// ContractsFile holds the information contracts (default: the embedded
	// authz/policy/contracts.yaml).
	ContractsFile string `yaml:"contractsFile"`
	// RolesFile holds each role's clearance and purposes (default: the
	// embedded authz/policy/roles.yaml).
	RolesFile string `yaml:"rolesFile"`
	// AccessLog is where access to personal data is recorded.
	AccessLog AccessLog `yaml:"accessLog"`
	// PolicyStoreFile is the SQLite file that keeps policy versions,
	// proposals and their audit when PolicyDatabaseURL is not set (default
	// kommungraf-policy.db; the demo uses its temp dir). Such a store serves
	// one gateway instance: replicas need PolicyDatabaseURL.
	PolicyStoreFile string `yaml:"policyStoreFile"`
	// RequireApproval makes every policy change wait for a second security
	// officer (default true; false in the demo, where
	// KOMMUNGRAF_REQUIRE_APPROVAL=true turns it on).
	RequireApproval *bool `yaml:"requireApproval"`
	// PolicyReloadInterval is how often a replica compares its live policy
	// with the store's current version (default 5s): the backstop for a
	// change announcement missed while Redis was away.
	PolicyReloadInterval time.Duration `yaml:"policyReloadInterval"`
	// DryRunLimit caps the access log entries of the last 24 hours a dry
	// run replays (default 10000).
	DryRunLimit int `yaml:"dryRunLimit"`
	// ProtectionMaxAge bounds the age of a protection flag (skyddad
	// folkbokföring, sekretessmarkering) that a decision reads (default
	// 60s): the registry's records are cached no longer than this, an older
	// flag is asked again, and when the registry cannot answer the person
	// counts as protected.
	ProtectionMaxAge time.Duration `yaml:"protectionMaxAge"`
}

// AccessLog configures the access log. The key that hashes personnummer comes
// from KOMMUNGRAF_ACCESS_LOG_KEY (base64, at least 32 bytes).
type AccessLog struct {
	// DatabaseURL stores entries append-only in PostgreSQL (table access_log).
	DatabaseURL string `yaml:"databaseUrl"`
	// File stores entries as JSON lines when no database is configured
	// (default kommungraf-access.jsonl; the demo uses its temp dir).
	File string `yaml:"file"`
	// Spool is the local file that holds entries while the store fails,
	// synced to disk and drained into the store when it answers again
	// (default kommungraf-access.spool.jsonl; the demo uses its temp dir).
	// One gateway process per file.
	Spool string `yaml:"spool"`
	// SpoolMaxEntries bounds the entries waiting in the spool (default
	// 100000): beyond it, responses with personal data have those fields
	// withheld with ACCESS_LOG_UNAVAILABLE.
	SpoolMaxEntries int `yaml:"spoolMaxEntries"`
}

// Cache configures the record cache: an in-process tier, and Redis when
// redis.url is set.
type Cache struct {
	// Disabled turns caching off altogether.
	Disabled bool `yaml:"disabled"`
	// Version is part of every cache key; change it when a mapping changes
	// (default v1).
	Version string `yaml:"version"`
	// LocalMaxEntries bounds the in-process tier (default 100000; -1 turns it off).
	LocalMaxEntries int `yaml:"localMaxEntries"`
	// RedisTimeout bounds one Redis round trip (default 50ms).
	RedisTimeout time.Duration `yaml:"redisTimeout"`
	// Sources holds the policy per built-in source (folkbokforing, etjanst,
	// geodata, skoldatabas). A source left out uses its declaration's
	// (schema/<name>.yaml); ttl 0 turns it off.
	Sources map[string]CachePolicy `yaml:"sources"`
}

// CachePolicy is the freshness policy of one source.
type CachePolicy struct {
	// TTL is how long a record is fresh.
	TTL time.Duration `yaml:"ttl"`
	// NegativeTTL is how long a not-found is remembered.
	NegativeTTL time.Duration `yaml:"negativeTtl"`
	// StaleIfError is how long past its TTL a record may be served while
	// the upstream fails; the response then says so in extensions.stale.
	StaleIfError time.Duration `yaml:"staleIfError"`
}

// DefaultCachePolicies are used for the built-in sources the file leaves
// out: each one's declared cache policy (schema/<name>.yaml, cache). A
// built-in source without one is not cached unless the file says so.
func DefaultCachePolicies() map[string]CachePolicy {
	out := map[string]CachePolicy{}
	set, err := Declarations()
	if err != nil {
		return out // reported by validate
	}
	for _, sys := range set.Systems {
		if sys.Builtin {
			p := CachePolicy{}
			if sys.CacheDeclared {
				p = CachePolicy{TTL: sys.Cache.TTL, NegativeTTL: sys.Cache.NegativeTTL, StaleIfError: sys.Cache.StaleIfError}
			}
			out[sys.Name] = p
		}
	}
	return out
}

// Server configures the HTTP side.
type Server struct {
	// Addr is host:port to listen on (default 127.0.0.1:8080).
	Addr string `yaml:"addr"`
	// MaxBodyBytes caps a request body (default 1 MiB).
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// RequestTimeout bounds one GraphQL request, upstream calls included (default 15s).
	RequestTimeout time.Duration `yaml:"requestTimeout"`
	// ShutdownTimeout is how long in-flight requests get to finish once the
	// listener is closed after SIGTERM (default 20s).
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// DrainDelay is how long after SIGTERM the listener stays open and
	// serves while /readyz answers 503, so the load balancer takes the
	// replica out before it closes (default 5s; 0 closes at once).
	DrainDelay *time.Duration `yaml:"drainDelay"`
	// WriteTimeout bounds writing a response, counted from the end of the
	// request's headers (default requestTimeout + admission.maxQueueWait +
	// 5s; it must exceed their sum by 2s).
	WriteTimeout time.Duration `yaml:"writeTimeout"`
	// Admission bounds the GraphQL requests in flight and queued (operations.go).
	Admission Admission `yaml:"admission"`
	// Readiness configures /readyz's cached upstream checks.
	Readiness Readiness `yaml:"readiness"`
	// MaxComplexity and MaxDepth limit an operation's cost and nesting.
	MaxComplexity int `yaml:"maxComplexity"`
	MaxDepth      int `yaml:"maxDepth"`
	// MaxIntrospectionDepth limits the nesting below __schema and __type
	// instead of MaxDepth (default 20; the standard introspection query of
	// GraphiQL and graphql-codegen nests 15 levels).
	MaxIntrospectionDepth int `yaml:"maxIntrospectionDepth"`
	// MaxAliases limits an operation's aliased fields (default 50).
	MaxAliases int `yaml:"maxAliases"`
	// MaxFields limits an operation's fields with every fragment spread
	// expanded (default 2000; GraphiQL's introspection query has 227).
	MaxFields int `yaml:"maxFields"`
	// Introspection and GraphiQL are on by default; turn them off for a
	// gateway that only serves known clients.
	Introspection *bool `yaml:"introspection"`
	GraphiQL      *bool `yaml:"graphiql"`
	// CORS lets browser applications on other origins call /graphql.
	CORS CORS `yaml:"cors"`
}

// CORS configures cross-origin requests to /graphql from the browser
// clients of internal web apps. The default allows no other origin. Only
// /graphql is ever shared: the policy editor and the admin API rely on the
// browser refusing cross-origin requests.
type CORS struct {
	// AllowedOrigins are the origins (scheme://host[:port]) whose pages may
	// call /graphql, for example https://forskola.intranet.orebro.se; one
	// "*" may stand for a subdomain level (https://*.intranet.orebro.se).
	// A bare "*" is refused: internal data is not for every page.
	AllowedOrigins []string `yaml:"allowedOrigins"`
	// MaxAge is how long a browser may cache a preflight answer (default 10m).
	MaxAge time.Duration `yaml:"maxAge"`
}

// HTTPSource configures the client of one HTTP upstream.
type HTTPSource struct {
	// URL is the upstream's base URL.
	URL string `yaml:"url"`
	// Timeout bounds one attempt (default 3s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxBodyBytes caps a response body (default 4 MiB).
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// Retries for idempotent calls (default 2; -1 for none).
	Retries int `yaml:"retries"`
	// RetryBackoff is the first wait between attempts (default 50ms).
	RetryBackoff time.Duration `yaml:"retryBackoff"`
	// BreakerFailures consecutive failures open the circuit (default 5) for
	// BreakerOpen (default 10s).
	BreakerFailures uint32        `yaml:"breakerFailures"`
	BreakerOpen     time.Duration `yaml:"breakerOpen"`
	// MaxConcurrent bounds the calls to this upstream in flight at once,
	// shared by every request of this replica (default 64): what the
	// upstream's contract allows one client. Calls over it queue
	// (kommungraf_upstream_queue_seconds).
	MaxConcurrent int `yaml:"maxConcurrent"`
	// TLS is the connection's own trust and identity: the CA bundle the
	// upstream's certificate must chain to (instead of the system's
	// roots) and a client certificate for mutual TLS, as PEM files.
	TLS *UpstreamTLS `yaml:"tls"`
	// OAuth2 puts a bearer token on every call, fetched with the client
	// credentials grant and renewed before it expires.
	OAuth2 *UpstreamOAuth2 `yaml:"oauth2"`
}

// UpstreamTLS names an upstream's CA bundle and Kommungraf's client
// certificate and key for it (PEM files; keep the key readable by the
// gateway only).
type UpstreamTLS struct {
	CAFile   string `yaml:"caFile"`
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
}

// UpstreamOAuth2 is an upstream's OAuth 2.0 client: its token endpoint,
// the client id, and the environment variable that holds the client
// secret (never the secret itself).
type UpstreamOAuth2 struct {
	TokenURL        string   `yaml:"tokenURL"`
	ClientID        string   `yaml:"clientId"`
	ClientSecretEnv string   `yaml:"clientSecretEnv"`
	Scopes          []string `yaml:"scopes"`
	// Params are extra form values of the token request, such as
	// audience or resource.
	Params map[string]string `yaml:"params"`
}

// Credentials are the upstream client's TLS configuration and OAuth 2.0
// client, read from the files and the environment they name.
func (s HTTPSource) Credentials() (*tls.Config, *upstream.ClientCredentials, error) {
	var conf *tls.Config
	if s.TLS != nil {
		c, err := upstream.TLSFiles{CAFile: s.TLS.CAFile, CertFile: s.TLS.CertFile, KeyFile: s.TLS.KeyFile}.Config()
		if err != nil {
			return nil, nil, err
		}
		conf = c
	}
	if s.OAuth2 == nil {
		return conf, nil, nil
	}
	o := s.OAuth2
	if o.ClientSecretEnv == "" {
		return nil, nil, errors.New("oauth2.clientSecretEnv is required (the environment variable with the client secret)")
	}
	secret := os.Getenv(o.ClientSecretEnv)
	if secret == "" {
		return nil, nil, fmt.Errorf("oauth2: environment variable %s is not set", o.ClientSecretEnv)
	}
	cc := &upstream.ClientCredentials{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: secret, Scopes: o.Scopes, Params: o.Params}
	if err := cc.Check(); err != nil {
		return nil, nil, err
	}
	if u, err := url.Parse(s.URL); err == nil && u.Scheme == "http" && !upstream.IsLoopback(u) {
		return nil, nil, fmt.Errorf("url %q: a bearer token would travel in clear; want https with oauth2", s.URL)
	}
	return conf, cc, nil
}

// Registry configures the population registry (SOAP).
type Registry struct {
	HTTPSource `yaml:",inline"`
	// OrgNr is the municipality's organisation number.
	OrgNr string `yaml:"orgNr"`
	// BestallningsID is the registry's id of the authorised order.
	BestallningsID string `yaml:"bestallningsId"`
}

// Database configures the school database.
type Database struct {
	// Driver is "sqlite" or "postgres".
	Driver string `yaml:"driver"`
	// DSN is a file path (sqlite) or a postgres:// URL. Keep passwords in the
	// environment: dsn: ${KOMMUNGRAF_DATABASE_URL}.
	DSN string `yaml:"dsn"`
	// MaxOpenConns caps the pool (default 10).
	MaxOpenConns int `yaml:"maxOpenConns"`
	// QueryTimeout bounds one query (default 2s).
	QueryTimeout time.Duration `yaml:"queryTimeout"`
}

// Sources are the upstream systems: the four built in, and those declared
// in schema/*.yaml (sources/declare), each under its own name.
type Sources struct {
	Folkbokforing Registry   `yaml:"folkbokforing"`
	Etjanst       HTTPSource `yaml:"etjanst"`
	Geodata       HTTPSource `yaml:"geodata"`
	Skoldatabas   Database   `yaml:"skoldatabas"`
	// Declared holds sources.<system> of every declared system; its
	// defaults come from the declaration. A name no declaration has is
	// refused.
	Declared map[string]DeclaredSource `yaml:",inline"`
}

// BuiltinSource is one built-in system's HTTP settings, by its config key.
type BuiltinSource struct {
	Name   string
	Source *HTTPSource
}

// BuiltinHTTP are the built-in http and soap systems' settings in field
// order, each by its yaml key (which its declaration names alike): the
// config's one mention of each.
func (s *Sources) BuiltinHTTP() []BuiltinSource {
	var out []BuiltinSource
	v := reflect.ValueOf(s).Elem()
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		switch f := v.Field(i).Addr().Interface().(type) {
		case *HTTPSource:
			out = append(out, BuiltinSource{name, f})
		case *Registry:
			out = append(out, BuiltinSource{name, &f.HTTPSource})
		}
	}
	return out
}

// DeclaredSource configures a declared system (schema/<system>.yaml):
// an http or soap system's upstream client, or an sql system's database.
type DeclaredSource struct {
	// HTTPSource is an http or soap system's client: url (required),
	// timeout, maxConcurrent, ...
	HTTPSource `yaml:",inline"`
	// APIKey sends a key from the environment in a header with every call
	// (http systems).
	APIKey *APIKeyHeader `yaml:"apiKey"`
	// Database is an sql system's own database (driver, dsn, maxOpenConns,
	// queryTimeout). Without a dsn the system reads the school database
	// (sources.skoldatabas), on its pool.
	Database `yaml:",inline"`
	// Values are the system's other keys: the values of a SOAP request's
	// {config.<name>} (sources.<system>.<name>, such as orgNr). A name that
	// no {config.<name>} of the system's declaration uses is refused.
	Values map[string]string `yaml:",inline"`
}

// APIKeyHeader names an upstream's API key: the header it goes in and the
// environment variable that holds it (never the key itself).
type APIKeyHeader struct {
	// Header is the request header, such as X-Api-Key.
	Header string `yaml:"header"`
	// Env is the environment variable with the key.
	Env string `yaml:"env"`
}

// Declarations are the source declarations the configuration knows
// (graph/declared, written by go generate); parsed once.
var Declarations = sync.OnceValues(func() (*declare.Set, error) { return declare.Parse(declared.Files()) })

// Batching tunes the dataloaders.
type Batching struct {
	// Wait is the dispatcher's safety net (default 1s): loaders call their
	// upstream when a request's level is complete, and otherwise only after
	// the request has made no progress for Wait, which takes a count gone
	// wrong (kommungraf_loader_flushes_total{trigger="timer"}).
	Wait time.Duration `yaml:"wait"`
}

// Redis configures the shared cache tier and the announcements of policy
// changes to the other replicas.
type Redis struct {
	// URL such as redis://host:6379/0; empty means no Redis.
	URL string `yaml:"url"`
}

// Operations configures the registry of trusted (persisted) operations,
// which client applications in persisted-only mode are held to (their
// contract's operations).
type Operations struct {
	// File seeds the registry at start with the named operations of a
	// .graphql file; the demo's embedded file when empty in the demo.
	File string `yaml:"file"`
	// DatabaseURL keeps the registry in PostgreSQL (table
	// kommungraf_operations), shared by every replica and filled with
	// `kommungraf operations push`; empty keeps it in the process.
	DatabaseURL string `yaml:"databaseUrl"`
}

// Tracing exports OpenTelemetry traces over OTLP/HTTP: a span per GraphQL
// operation, loader batch and upstream call (sources/tracing).
type Tracing struct {
	// Endpoint is the collector's OTLP/HTTP base URL, such as
	// http://otel-collector:4318 (traces go to /v1/traces); empty exports
	// nothing. Headers the collector needs come from the SDK's own
	// environment variable OTEL_EXPORTER_OTLP_HEADERS.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the share of traces recorded (default 0.1): one begun
	// here by its trace id, so replicas with the same ratio agree; one a
	// caller began by chance (the caller chose its id).
	SampleRatio *float64 `yaml:"sampleRatio"`
	// HonourCallerSampling records every trace whose caller's traceparent
	// says it records it, and none it says it does not (default false: a
	// caller cannot make the gateway record and export its requests, nor
	// hide them). Set it where every caller is a service of your own.
	HonourCallerSampling bool `yaml:"honourCallerSampling"`
	// ServiceName is service.name on every span (default kommungraf).
	ServiceName string `yaml:"serviceName"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error (default info).
	Level string `yaml:"level"`
	// Format is json or text (default json outside demo mode).
	Format string `yaml:"format"`
}

// Environment variables that override the file in every mode, demo included.
const (
	EnvDatabaseURL = "KOMMUNGRAF_DATABASE_URL"
	EnvRedisURL    = "KOMMUNGRAF_REDIS_URL"
	// EnvCacheKeys holds the AES-256 keys that seal level-3 records in Redis:
	// comma-separated base64, the first seals, all open.
	EnvCacheKeys = "KOMMUNGRAF_CACHE_KEYS"
	// EnvAccessLogKey is the base64 key (at least 32 bytes) that turns
	// personnummer into keyed hashes in the access log.
	EnvAccessLogKey = "KOMMUNGRAF_ACCESS_LOG_KEY"
	// EnvRequireApproval ("true" or "false") sets authz.requireApproval,
	// the demo's included.
	EnvRequireApproval = "KOMMUNGRAF_REQUIRE_APPROVAL"
)

// Load reads, expands and validates a configuration file.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(raw)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Parse expands ${VAR} and ${VAR:-default} in values (not in comments or
// keys, and an expanded value can never add structure), decodes strictly and
// validates. All problems are returned together.
func Parse(raw []byte) (*Config, error) {
	var problems []error
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	expandNode(&doc, &problems)
	expanded, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if doc.Kind == 0 {
		expanded = nil // an empty file
	}
	// Unknown keys are found in the file as written, so their line numbers
	// are the user's; values are decoded from the expanded copy.
	var probe Config
	for _, e := range decodeErrors(raw, &probe) {
		if strings.Contains(e, "not found in type") {
			problems = append(problems, errors.New(e))
		}
	}
	var c Config
	for _, e := range decodeErrors(expanded, &c) {
		if !strings.Contains(e, "not found in type") {
			problems = append(problems, errors.New(e))
		}
	}
	c.ApplyEnv()
	c.defaults()
	problems = append(problems, c.validate(false, keyLines(&doc, "sources"))...)
	if len(problems) > 0 {
		return nil, fmt.Errorf("config: %w", errors.Join(problems...))
	}
	return &c, nil
}

// decodeErrors decodes strictly and returns every problem yaml reports.
func decodeErrors(raw []byte, c *Config) []string {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if err == nil || errors.Is(err, io.EOF) { // an empty file is an empty configuration
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return te.Errors
	}
	return []string{err.Error()}
}

func expandNode(n *yaml.Node, problems *[]error) {
	if n.Kind == yaml.ScalarNode {
		before := n.Value
		defer func() {
			if n.Value != before {
				n.Tag, n.Style = "", 0 // let the expanded text resolve to its own type
			}
		}()
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			sub := envRef.FindStringSubmatch(m)
			if v, ok := os.LookupEnv(sub[1]); ok {
				return v
			}
			if strings.HasPrefix(sub[2], ":-") {
				return sub[3]
			}
			*problems = append(*problems, fmt.Errorf("environment variable %s is not set (line %d)", sub[1], n.Line))
			return ""
		})
		return
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue // keys are not expanded
		}
		expandNode(c, problems)
	}
}

// Demo is the configuration of the embedded demo: every source is filled in
// at start by the in-process simulators and the embedded database.
func Demo() *Config {
	c := &Config{demo: true}
	c.Log.Format = "text"
	off := false
	c.Authz.RequireApproval = &off // one person can try the policy editor
	var noDrain time.Duration
	c.Server.DrainDelay = &noDrain // no load balancer to tell: Ctrl-C stops at once (in-flight requests still finish)
	c.ApplyEnv()
	c.defaults()
	return c
}

// ApplyEnv applies the environment overrides of the production services.
// Each override that changes something is recorded (Overrides).
func (c *Config) ApplyEnv() {
	if v := os.Getenv(EnvDatabaseURL); v != "" {
		db := &c.Sources.Skoldatabas
		before := db.Driver
		if before == "" {
			before = "sqlite" // the default
		}
		setting, change := "sources.skoldatabas", "driver "+before+" → postgres"
		if c.demo {
			setting = "the demo's embedded SQLite database"
			change = "PostgreSQL, seeded by the demo"
		} else if before == "postgres" {
			change = "its dsn"
		}
		if before != "postgres" || db.DSN != v { // not when the file says dsn: ${KOMMUNGRAF_DATABASE_URL}
			c.overrides = append(c.overrides, Override{"school database", EnvDatabaseURL, setting, change})
		}
		db.Driver, db.DSN, c.dbFromEnv = "postgres", v, true
	}
	if v := os.Getenv(EnvRedisURL); v != "" {
		if c.Redis.URL != v {
			change := "Redis instead of the in-process tier alone"
			if c.Redis.URL != "" {
				change = "another Redis than the file's"
			}
			c.overrides = append(c.overrides, Override{"cache", EnvRedisURL, "redis.url", change})
		}
		c.Redis.URL = v
	}
	if v := os.Getenv(EnvRequireApproval); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			if cur := c.Authz.RequireApproval == nil || *c.Authz.RequireApproval; cur != b { // unset means the default, true
				c.overrides = append(c.overrides, Override{"policy changes", EnvRequireApproval, "authz.requireApproval", fmt.Sprintf("approval required: %v", b)})
			}
			c.Authz.RequireApproval = &b
		} else {
			c.envProblems = append(c.envProblems, fmt.Errorf("%s=%q: want true or false", EnvRequireApproval, v))
		}
	}
}

func (c *Config) defaults() {
	if c.Server.Addr == "" {
		c.Server.Addr = "127.0.0.1:8080"
	}
	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = 1 << 20
	}
	if c.Server.RequestTimeout == 0 {
		c.Server.RequestTimeout = 15 * time.Second
	}
	if c.Server.ShutdownTimeout == 0 {
		c.Server.ShutdownTimeout = 20 * time.Second
	}
	t := true
	if c.Server.Introspection == nil {
		c.Server.Introspection = &t
	}
	if c.Server.CORS.MaxAge == 0 {
		c.Server.CORS.MaxAge = 10 * time.Minute
	}
	if c.Server.GraphiQL == nil {
		c.Server.GraphiQL = &t
	}
	c.Server.operationsDefaults()
	if c.Sources.Skoldatabas.Driver == "" {
		c.Sources.Skoldatabas.Driver = "sqlite"
	}
	c.declaredDefaults()
	if c.Cache.Sources == nil {
		c.Cache.Sources = map[string]CachePolicy{}
	}
	for name, p := range DefaultCachePolicies() {
		if _, ok := c.Cache.Sources[name]; !ok {
			c.Cache.Sources[name] = p
		}
	}
	if c.Authz.PolicyStoreFile == "" {
		c.Authz.PolicyStoreFile = "kommungraf-policy.db"
	}
	if c.Authz.RequireApproval == nil {
		c.Authz.RequireApproval = &t
	}
	if c.Authz.PolicyReloadInterval == 0 {
		c.Authz.PolicyReloadInterval = 5 * time.Second
	}
	if c.Authz.ProtectionMaxAge == 0 {
		c.Authz.ProtectionMaxAge = 60 * time.Second
	}
	if c.Authz.DryRunLimit == 0 {
		c.Authz.DryRunLimit = 10000
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Tracing.SampleRatio == nil {
		r := 0.1
		c.Tracing.SampleRatio = &r
	}
	if c.Tracing.ServiceName == "" {
		c.Tracing.ServiceName = "kommungraf"
	}
	c.limitsDefaults()
}

// ValidateSources checks the upstream settings; the demo calls it once the
// simulators have filled them in.
func (c *Config) ValidateSources() error { return errors.Join(c.validate(true, nil)...) }

// ValidateSourcesFor checks the upstream settings against set, the
// declarations the gateway runs (a test's own, Options.Declarations), not
// the ones go generate embedded.
func (c *Config) ValidateSourcesFor(set *declare.Set) error {
	c.declared = set
	defer func() { c.declared = nil }()
	return c.ValidateSources()
}

// validate checks the configuration; sourceLines are the file's lines of
// the keys under sources, for errors about a source's name.
func (c *Config) validate(sourcesOnly bool, sourceLines map[string]int) []error {
	var p []error
	bad := func(format string, args ...any) { p = append(p, fmt.Errorf(format, args...)) }
	if !sourcesOnly {
		if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
			bad("server.addr %q: %v", c.Server.Addr, err)
		}
		if c.Server.MaxBodyBytes < 1024 {
			bad("server.maxBodyBytes must be at least 1024")
		}
		if c.Server.RequestTimeout < 0 || c.Server.ShutdownTimeout < 0 {
			bad("server timeouts must not be negative")
		}
		p = append(p, c.Server.CORS.validate()...)
		p = append(p, c.Server.validateOperations()...)
		if c.Server.MaxComplexity < 0 || c.Server.MaxDepth < 0 || c.Server.MaxIntrospectionDepth < 0 || c.Server.MaxAliases < 0 || c.Server.MaxFields < 0 {
			bad("server.maxComplexity, maxDepth, maxIntrospectionDepth, maxAliases and maxFields must not be negative (0 means the default)")
		}
		switch c.Log.Level {
		case "debug", "info", "warn", "error":
		default:
			bad("log.level %q: want debug, info, warn or error", c.Log.Level)
		}
		switch c.Log.Format {
		case "json", "text":
		default:
			bad("log.format %q: want json or text", c.Log.Format)
		}
		if c.Redis.URL != "" {
			if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
				bad("redis.url: want redis:// or rediss://")
			}
		}
		builtin := DefaultCachePolicies()
		for name, p := range c.Cache.Sources {
			if _, ok := builtin[name]; !ok {
				bad("cache.sources.%s: unknown source (want one of %s)", name, strings.Join(slices.Sorted(maps.Keys(builtin)), ", "))
			}
			if p.TTL < 0 || p.NegativeTTL < 0 || p.StaleIfError < 0 {
				bad("cache.sources.%s: durations must not be negative", name)
			}
		}
		if c.Cache.RedisTimeout < 0 {
			bad("cache.redisTimeout must not be negative")
		}
		if o := c.Auth.OIDC; o.Issuer != "" {
			if u, err := url.Parse(o.JWKSURL); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
				bad("auth.oidc.jwksUrl: want the issuer's JWKS URL (https://...)")
			}
			for _, alg := range o.Algorithms {
				if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "ES") && !strings.HasPrefix(alg, "PS") && alg != "EdDSA" {
					bad("auth.oidc.algorithms: %q is not an asymmetric signing algorithm", alg)
				}
			}
		}
		for i, k := range c.Auth.APIKeys {
			if k.Name == "" || k.Client == "" {
				bad("auth.apiKeys[%d]: name and client are required", i)
			}
			if len(k.SHA256) != 64 || strings.Trim(strings.ToLower(k.SHA256), "0123456789abcdef") != "" {
				bad("auth.apiKeys[%d] (%s): sha256 must be the 64 hex digits of the key's SHA-256", i, k.Name)
			}
		}
		for name, u := range map[string]string{"authz.policyDatabaseUrl": c.Authz.PolicyDatabaseURL, "authz.accessLog.databaseUrl": c.Authz.AccessLog.DatabaseURL} {
			if u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
				bad("%s: want a postgres:// URL", name)
			}
		}
		if c.Authz.PolicyReloadInterval < 50*time.Millisecond || c.Authz.PolicyReloadInterval > time.Hour {
			bad("authz.policyReloadInterval must be between 50ms and 1h")
		}
		if c.Authz.DryRunLimit < 1 || c.Authz.DryRunLimit > 1000000 {
			bad("authz.dryRunLimit must be between 1 and 1000000")
		}
		if c.Authz.AccessLog.SpoolMaxEntries < 0 {
			bad("authz.accessLog.spoolMaxEntries must not be negative")
		}
		if c.Authz.ProtectionMaxAge < time.Second || c.Authz.ProtectionMaxAge > time.Hour {
			bad("authz.protectionMaxAge must be between 1s and 1h")
		}
		if c.Batching.Wait < 0 || c.Batching.Wait > 10*time.Second {
			bad("batching.wait must be between 0 and 10s")
		}
		if r := *c.Tracing.SampleRatio; r < 0 || r > 1 {
			bad("tracing.sampleRatio must be between 0 and 1")
		}
		if e := c.Tracing.Endpoint; e != "" {
			if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("tracing.endpoint %q: want the collector's OTLP/HTTP URL, such as http://otel-collector:4318", e)
			}
		}
		p = append(p, c.validateLimits()...)
	}
	// Environment overrides apply in the demo too, which validates only here.
	p = append(p, c.envProblems...)
	checkHTTP := func(name string, s HTTPSource) {
		u, err := url.Parse(s.URL)
		if s.URL == "" {
			bad("sources.%s.url is required", name)
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("sources.%s.url %q: want an absolute http(s) URL", name, s.URL)
		}
		if s.Timeout < 0 || s.RetryBackoff < 0 || s.BreakerOpen < 0 || s.MaxBodyBytes < 0 || s.Retries < -1 || s.MaxConcurrent < 0 {
			bad("sources.%s: timeouts, sizes and retries must not be negative", name)
		}
		if _, _, err := s.Credentials(); err != nil {
			bad("sources.%s.%v", name, err)
		}
	}
	for _, b := range c.Sources.BuiltinHTTP() {
		checkHTTP(b.Name, *b.Source)
	}
	if c.Sources.Folkbokforing.OrgNr == "" || c.Sources.Folkbokforing.BestallningsID == "" {
		bad("sources.folkbokforing.orgNr and bestallningsId are required")
	}
	db := c.Sources.Skoldatabas
	switch db.Driver {
	case "sqlite", "postgres":
	default:
		bad("sources.skoldatabas.driver %q: want sqlite or postgres", db.Driver)
	}
	if db.DSN == "" {
		bad("sources.skoldatabas.dsn is required (or set %s)", EnvDatabaseURL)
	} else if db.Driver == "postgres" && !strings.HasPrefix(db.DSN, "postgres://") && !strings.HasPrefix(db.DSN, "postgresql://") {
		if c.dbFromEnv {
			// The value came from the environment, not from the file the
			// user is looking at: say so, or the error is a riddle.
			bad("%s: want a postgres:// URL: when set, it overrides sources.skoldatabas (the driver becomes postgres); unset it to use the file's setting", EnvDatabaseURL)
		} else {
			bad("sources.skoldatabas.dsn: want a postgres:// URL")
		}
	}
	return append(p, c.validateDeclared(checkHTTP, sourceLines)...)
}

// validate checks each allowed origin: a scheme, a host, nothing else.
func (c CORS) validate() []error {
	var p []error
	for i, o := range c.AllowedOrigins {
		bad := func(why string) {
			p = append(p, fmt.Errorf("server.cors.allowedOrigins[%d] %q: %s", i, o, why))
		}
		if o == "*" || o == "null" {
			bad("name each origin (scheme://host[:port]); a bare * or null would let any page read internal data")
			continue
		}
		u, err := url.Parse(o)
		switch {
		case err != nil:
			bad(err.Error())
		case u.Scheme != "https" && u.Scheme != "http":
			bad("want an http or https origin, scheme://host[:port]")
		case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			bad("want an origin only, scheme://host[:port], without path, query or credentials")
		case strings.Count(u.Host, "*") > 1 || strings.Contains(u.Host, "*") && !strings.HasPrefix(u.Host, "*."):
			bad("a wildcard may only stand for the first label of the host (https://*.example.se)")
		case strings.HasPrefix(u.Host, "*.") && strings.Count(strings.TrimPrefix(u.Host, "*."), ".") < 1:
			bad("a wildcard needs a domain of at least two labels after it (https://*.example.se, not https://*.se)")
		}
	}
	if c.MaxAge < 0 {
		p = append(p, errors.New("server.cors.maxAge must not be negative"))
	}
	return p
}

// declaredDefaults gives every declared system its sources.<system>, with
// the declaration's defaults where the file sets nothing.
func (c *Config) declaredDefaults() {
	set, err := Declarations()
	if err != nil {
		return // reported by validate
	}
	if c.Sources.Declared == nil {
		c.Sources.Declared = map[string]DeclaredSource{}
	}
	for _, b := range c.Sources.BuiltinHTTP() {
		if sys := set.System(b.Name); sys != nil {
			sys.Defaults.Apply(&b.Source.Timeout, &b.Source.MaxConcurrent, &b.Source.MaxBodyBytes, &b.Source.Retries)
		}
	}
	for _, sys := range set.Systems {
		if sys.Builtin {
			continue // configured as sources.<system> of its own (Sources)
		}
		s := c.Sources.Declared[sys.Name]
		d := sys.Defaults
		if sys.Connector == declare.ConnectorSQL {
			// The defaults are its own database's; the school database
			// has its own settings.
			if s.DSN != "" {
				if s.Driver == "" {
					s.Driver = "sqlite"
				}
				if s.QueryTimeout == 0 {
					s.QueryTimeout = d.Timeout
				}
				if s.MaxOpenConns == 0 {
					s.MaxOpenConns = d.MaxConcurrent
				}
			}
			c.Sources.Declared[sys.Name] = s
			continue
		}
		d.Apply(&s.Timeout, &s.MaxConcurrent, &s.MaxBodyBytes, &s.Retries)
		c.Sources.Declared[sys.Name] = s
	}
}

// validateDeclared checks sources.<system> of the declared systems and
// refuses the names of systems nobody declared.
func (c *Config) validateDeclared(checkHTTP func(string, HTTPSource), sourceLines map[string]int) []error {
	var p []error
	set, err := Declarations()
	if c.declared != nil {
		set, err = c.declared, nil
	}
	if err != nil {
		return []error{fmt.Errorf("source declarations: %w", err)}
	}
	names := make([]string, 0, len(c.Sources.Declared))
	for name := range c.Sources.Declared {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := c.Sources.Declared[name]
		if set.System(name) == nil || set.System(name).Builtin {
			var names []string
			for _, sys := range set.Systems {
				names = append(names, sys.Name)
			}
			known := strings.Join(names, ", ")
			at := ""
			if line := sourceLines[name]; line > 0 {
				at = fmt.Sprintf("line %d: ", line)
			}
			p = append(p, fmt.Errorf("%ssources.%s: unknown source (want one of %s; a new system is declared in schema/<system>.yaml)", at, name, known))
			continue
		}
		sys := set.System(name)
		if sys.Connector == declare.ConnectorSQL {
			p = append(p, validateSQLSource(name, s)...)
		} else {
			checkHTTP(name, s.HTTPSource)
			if s.Database != (Database{}) {
				p = append(p, fmt.Errorf("sources.%s: driver, dsn, maxOpenConns and queryTimeout are an sql system's; %s is a %s system", name, name, sys.Connector))
			}
		}
		if k := s.APIKey; k != nil {
			switch {
			case sys.Connector != declare.ConnectorHTTP:
				p = append(p, fmt.Errorf("sources.%s.apiKey: only an http system sends an API key header (a soap system declares WS-Security)", name))
			case k.Header == "" || k.Env == "":
				p = append(p, fmt.Errorf("sources.%s.apiKey: header and env are required", name))
			case os.Getenv(k.Env) == "":
				p = append(p, fmt.Errorf("sources.%s.apiKey: environment variable %s is not set", name, k.Env))
			}
		}
		used := map[string]bool{}
		if sys.Connector == declare.ConnectorSOAP {
			for _, r := range sys.Resources {
				call, _, _ := connect.SOAPPart(set, r) // its problems are the declaration's
				for _, n := range call.ConfigNames() {
					used[n] = true
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(s.Values)) {
			if !used[k] {
				at := ""
				if line := sourceLines[name+"."+k]; line > 0 {
					at = fmt.Sprintf("line %d: ", line)
				}
				p = append(p, fmt.Errorf("%ssources.%s.%s: unknown key (connector %s has no such setting, and no {config.%s} in the declaration uses it)", at, name, k, sys.Connector, k))
			}
		}
	}
	return p
}

// validateSQLSource checks an sql system's sources.<system>: its own
// database, or none (the school database's).
func validateSQLSource(name string, s DeclaredSource) []error {
	var p []error
	if s.HTTPSource != (HTTPSource{}) {
		p = append(p, fmt.Errorf("sources.%s: %s is an sql system: it has no url or HTTP settings, only its own database's driver and dsn (or none: the school database)", name, name))
	}
	db := s.Database
	switch {
	case db.DSN == "":
		if db != (Database{}) {
			p = append(p, fmt.Errorf("sources.%s: driver, maxOpenConns and queryTimeout need a dsn (without one, %s reads the school database with its settings)", name, name))
		}
	case db.Driver != "sqlite" && db.Driver != "postgres":
		p = append(p, fmt.Errorf("sources.%s.driver %q: want sqlite or postgres", name, db.Driver))
	case db.Driver == "postgres" && !strings.HasPrefix(db.DSN, "postgres://") && !strings.HasPrefix(db.DSN, "postgresql://"):
		p = append(p, fmt.Errorf("sources.%s.dsn: want a postgres:// URL", name))
	}
	if db.MaxOpenConns < 0 || db.QueryTimeout < 0 {
		p = append(p, fmt.Errorf("sources.%s: maxOpenConns and queryTimeout must not be negative", name))
	}
	return p
}

// keyLines gives the line of each key of the top-level mapping key, and of
// each key below those (name.key).
func keyLines(doc *yaml.Node, key string) map[string]int {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if top[i].Value != key || top[i+1].Kind != yaml.MappingNode {
			continue
		}
		out := map[string]int{}
		for j := 0; j+1 < len(top[i+1].Content); j += 2 {
			k, v := top[i+1].Content[j], top[i+1].Content[j+1]
			out[k.Value] = k.Line
			if v.Kind == yaml.MappingNode {
				for n := 0; n+1 < len(v.Content); n += 2 {
					out[k.Value+"."+v.Content[n].Value] = v.Content[n].Line
				}
			}
		}
		return out
	}
	return nil
}
