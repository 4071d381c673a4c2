package config

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// cleanEnv clears the production overrides, which CI may have set, and the
// variables the tests expand, so that every test starts from the file alone.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{EnvDatabaseURL, EnvRedisURL, "KG_TEST_NAVET_URL", "KG_TEST_ORDER", "KG_TEST_MISSING", "KG_TEST_LEVEL", "KG_TEST_EMPTY", EnvRequireApproval} {
		t.Setenv(name, "") // restores the old value after the test
		if err := os.Unsetenv(name); err != nil {
			t.Fatal(err)
		}
	}
}

func boolp(b bool) *bool { return &b }

// stripEnvState clears what Config records about the environment and the
// mode, which the tests check through Overrides and errors, so that the
// rest compares with reflect.DeepEqual.
func stripEnvState(c *Config) *Config {
	c.overrides, c.dbFromEnv, c.demo = nil, false, false
	return c
}

// authzDefaults are the policy workflow's defaults; approval is off in the demo.
func authzDefaults(requireApproval bool) Authz {
	return Authz{PolicyStoreFile: "kommungraf-policy.db", RequireApproval: boolp(requireApproval),
		PolicyReloadInterval: 5 * time.Second, DryRunLimit: 10000, ProtectionMaxAge: time.Minute}
}

// minimal is the smallest configuration that validates. It has no blank
// line, comment or flow style, so that line numbers in errors are the same
// in the file and in the document Parse decodes after expansion.
const minimal = `sources:
  folkbokforing:
    url: http://127.0.0.1:9001
    orgNr: 212000-1880
    bestallningsId: KOMMUNGRAF-DEMO
  etjanst:
    url: http://127.0.0.1:9002
  geodata:
    url: http://127.0.0.1:9003
  skoldatabas:
    dsn: /var/lib/kommungraf/skola.db
  tomningar:
    url: http://127.0.0.1:9004/tomningar
  avfall:
    url: http://127.0.0.1:9004
`

// minimalWant is what minimal parses to, defaults included.
func minimalWant() *Config {
	return &Config{
		Server: serverDefaults(5 * time.Second),
		Sources: Sources{
			Folkbokforing: Registry{HTTPSource: HTTPSource{URL: "http://127.0.0.1:9001", MaxConcurrent: registryMaxConcurrent}, OrgNr: "212000-1880", BestallningsID: "KOMMUNGRAF-DEMO"},
			Etjanst:       HTTPSource{URL: "http://127.0.0.1:9002"},
			Geodata:       HTTPSource{URL: "http://127.0.0.1:9003"},
			Skoldatabas:   Database{Driver: "sqlite", DSN: "/var/lib/kommungraf/skola.db"},
			Declared:      map[string]DeclaredSource{"avfall": avfallDefaults("http://127.0.0.1:9004"), "tomningar": tomningarDefaults("http://127.0.0.1:9004/tomningar")},
		},
		Cache:     Cache{Sources: defaultPolicies()},
		Authz:     authzDefaults(true),
		Log:       Log{Level: "info", Format: "json"},
		RateLimit: rateLimitDefaults(),
		OpenData:  openDataDefaults(),
		Cost:      costDefaults(),
		Tracing:   tracingDefaults(),
	}
}

// rateLimitDefaults are the rate limits of a file that sets none.
func rateLimitDefaults() RateLimit {
	open := Rate{Rate: 20, Period: time.Second, Burst: 40}
	return RateLimit{
		Default: ClientLimits{Client: Rate{Rate: 200, Period: time.Second, Burst: 400}, User: Rate{Rate: 50, Period: time.Second, Burst: 100}},
		// The public shares ten times what one anonymous address gets.
		Clients: map[string]ClientLimits{"anonymous": {Client: Rate{Rate: 200, Period: time.Second, Burst: 400}, User: open},
			"open-data-app": {Client: open, User: open}},
		RedisTimeout: 50 * time.Millisecond,
	}
}

// openDataDefaults: the built-in declarations, each client IP 20/s.
func openDataDefaults() OpenData {
	return OpenData{PerClient: Rate{Rate: 20, Period: time.Second, Burst: 40}}
}

// costDefaults are the upstream budgets of a file that sets none.
func costDefaults() Cost {
	return Cost{Budgets: map[string]int{"folkbokforing": 2000}, DefaultBudget: 5000}
}

// tracingDefaults: no endpoint, one trace in ten.
func tracingDefaults() Tracing {
	r := 0.1
	return Tracing{SampleRatio: &r, ServiceName: "kommungraf"}
}

func durp(d time.Duration) *time.Duration { return &d }

// serverDefaults is server with its defaults and the given drainDelay:
// admission 8 in flight and 16 queued on two cores (4 per CPU, at least 4).
func serverDefaults(drain time.Duration) Server {
	inFlight := max(4, 4*runtime.GOMAXPROCS(0))
	return Server{
		Addr: "127.0.0.1:8080", MaxBodyBytes: 1 << 20, RequestTimeout: 15 * time.Second, ShutdownTimeout: 20 * time.Second,
		DrainDelay: &drain, WriteTimeout: 20500 * time.Millisecond,
		Admission:     Admission{MaxInFlight: inFlight, MaxQueue: 2 * inFlight, MaxQueueWait: 500 * time.Millisecond, RetryAfter: time.Second},
		Readiness:     Readiness{Interval: 5 * time.Second, CheckTimeout: 2 * time.Second},
		Introspection: boolp(true), GraphiQL: boolp(true), CORS: CORS{MaxAge: 10 * time.Minute},
	}
}

// tomningarDefaults is sources.tomningar with the defaults of
// schema/tomningar.yaml.
func tomningarDefaults(url string) DeclaredSource {
	return DeclaredSource{HTTPSource: HTTPSource{URL: url, Timeout: 3 * time.Second, MaxConcurrent: 16}}
}

// avfallDefaults is sources.avfall with the defaults of schema/avfall.yaml.
func avfallDefaults(url string) DeclaredSource {
	return DeclaredSource{HTTPSource: HTTPSource{URL: url, Timeout: 3 * time.Second, MaxConcurrent: 32}}
}

// registryMaxConcurrent is schema/folkbokforing.yaml's defaults.maxConcurrent.
const registryMaxConcurrent = 128

func defaultPolicies() map[string]CachePolicy { return DefaultCachePolicies() }

// TestBuiltinDefaultsComeFromTheDeclarations: the built-in systems' cache
// policies, cost budget and bound are their declarations' (schema/*.yaml),
// the figures the configuration had as Go before.
func TestBuiltinDefaultsComeFromTheDeclarations(t *testing.T) {
	want := map[string]CachePolicy{
		"folkbokforing": {TTL: 10 * time.Minute, NegativeTTL: time.Minute, StaleIfError: time.Hour},
		"etjanst":       {TTL: time.Minute, NegativeTTL: 30 * time.Second, StaleIfError: 10 * time.Minute},
		"geodata":       {TTL: time.Hour, NegativeTTL: 10 * time.Minute, StaleIfError: 24 * time.Hour},
		"skoldatabas":   {TTL: 5 * time.Minute, NegativeTTL: time.Minute, StaleIfError: time.Hour},
	}
	if got := DefaultCachePolicies(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultCachePolicies() = %v, want %v", got, want)
	}
	if got := DefaultCostBudgets(); !reflect.DeepEqual(got, map[string]int{"folkbokforing": 2000}) {
		t.Errorf("DefaultCostBudgets() = %v, want folkbokforing: 2000", got)
	}
	c := Demo()
	if got := c.Sources.Folkbokforing.MaxConcurrent; got != registryMaxConcurrent {
		t.Errorf("sources.folkbokforing.maxConcurrent = %d, want the declaration's %d", got, registryMaxConcurrent)
	}
	if got := c.Sources.Etjanst.MaxConcurrent; got != 0 {
		t.Errorf("sources.etjanst.maxConcurrent = %d, want 0 (the upstream stack's default: its declaration has none)", got)
	}
}

func TestParseFullConfig(t *testing.T) {
	cleanEnv(t)
	t.Setenv("KG_TEST_AVFALL_KEY", "not-a-real-key")
	raw := `
server:
  addr: 0.0.0.0:9090
  maxBodyBytes: 2097152
  requestTimeout: 10s
  shutdownTimeout: 1m30s
  drainDelay: 10s
  writeTimeout: 15s
  admission: {maxInFlight: 24, maxQueue: 12, maxQueueWait: 500ms, retryAfter: 3s}
  readiness: {interval: 10s, checkTimeout: 1s}
  maxComplexity: 5000
  maxDepth: 8
  maxIntrospectionDepth: 16
  maxAliases: 10
  introspection: false
  graphiql: false
  cors:
    allowedOrigins: [https://forskola.intranet.example.se, "https://*.apps.example.se"]
    maxAge: 1m
sources:
  folkbokforing:
    # The inline HTTPSource fields sit next to the registry's own.
    url: https://navet.example.se/personpost
    timeout: 2s
    maxBodyBytes: 1048576
    retries: 1
    retryBackoff: 100ms
    breakerFailures: 3
    breakerOpen: 30s
    orgNr: 212000-1880
    bestallningsId: ORDER-1
  etjanst:
    url: http://etjanst.internal:8080
    retries: -1
  geodata:
    url: http://geodata.internal:8081/ogc
    timeout: 500ms
    maxConcurrent: 16
  skoldatabas:
    driver: postgres
    dsn: postgres://kg@db:5432/skola?sslmode=disable
    maxOpenConns: 20
    queryTimeout: 1500ms
  tomningar:
    url: https://avfall.example.se/tomningar
  avfall:
    # A declared system: its defaults come from schema/avfall.yaml.
    url: https://avfall.example.se
    timeout: 1s
    apiKey: { header: X-Api-Key, env: KG_TEST_AVFALL_KEY }
batching:
  wait: 3ms
redis:
  url: rediss://cache:6380/1
log:
  level: debug
  format: text
`
	want := &Config{
		Server: Server{
			Addr: "0.0.0.0:9090", MaxBodyBytes: 2 << 20, RequestTimeout: 10 * time.Second, ShutdownTimeout: 90 * time.Second,
			DrainDelay: durp(10 * time.Second), WriteTimeout: 15 * time.Second,
			Admission:     Admission{MaxInFlight: 24, MaxQueue: 12, MaxQueueWait: 500 * time.Millisecond, RetryAfter: 3 * time.Second},
			Readiness:     Readiness{Interval: 10 * time.Second, CheckTimeout: time.Second},
			MaxComplexity: 5000, MaxDepth: 8, MaxIntrospectionDepth: 16, MaxAliases: 10, Introspection: boolp(false), GraphiQL: boolp(false),
			CORS: CORS{AllowedOrigins: []string{"https://forskola.intranet.example.se", "https://*.apps.example.se"}, MaxAge: time.Minute},
		},
		Sources: Sources{
			Folkbokforing: Registry{
				HTTPSource: HTTPSource{
					URL: "https://navet.example.se/personpost", Timeout: 2 * time.Second, MaxBodyBytes: 1 << 20,
					Retries: 1, RetryBackoff: 100 * time.Millisecond, BreakerFailures: 3, BreakerOpen: 30 * time.Second,
					MaxConcurrent: registryMaxConcurrent, // the default
				},
				OrgNr: "212000-1880", BestallningsID: "ORDER-1",
			},
			Etjanst: HTTPSource{URL: "http://etjanst.internal:8080", Retries: -1},
			Geodata: HTTPSource{URL: "http://geodata.internal:8081/ogc", Timeout: 500 * time.Millisecond, MaxConcurrent: 16},
			Skoldatabas: Database{
				Driver: "postgres", DSN: "postgres://kg@db:5432/skola?sslmode=disable", MaxOpenConns: 20, QueryTimeout: 1500 * time.Millisecond,
			},
			Declared: map[string]DeclaredSource{"avfall": {
				HTTPSource: HTTPSource{URL: "https://avfall.example.se", Timeout: time.Second, MaxConcurrent: 32},
				APIKey:     &APIKeyHeader{Header: "X-Api-Key", Env: "KG_TEST_AVFALL_KEY"},
			}, "tomningar": tomningarDefaults("https://avfall.example.se/tomningar")},
		},
		Batching:  Batching{Wait: 3 * time.Millisecond},
		Redis:     Redis{URL: "rediss://cache:6380/1"},
		Cache:     Cache{Sources: defaultPolicies()},
		Authz:     authzDefaults(true),
		Log:       Log{Level: "debug", Format: "text"},
		RateLimit: rateLimitDefaults(),
		OpenData:  openDataDefaults(),
		Cost:      costDefaults(),
		Tracing:   tracingDefaults(),
	}

	t.Run("Parse", func(t *testing.T) {
		got, err := Parse([]byte(raw))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse\n got %+v\nwant %+v", *got, *want)
		}
	})
	t.Run("Load", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "kommungraf.yaml")
		if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Load\n got %+v\nwant %+v", *got, *want)
		}
	})
	t.Run("Load of a missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.yaml")
		got, err := Load(path)
		if got != nil || err == nil || err.Error() != "config: open "+path+": no such file or directory" {
			t.Errorf("Load(%s) = %v, %v", path, got, err)
		}
	})
	t.Run("minimal file gets the defaults", func(t *testing.T) {
		got, err := Parse([]byte(minimal))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if want := minimalWant(); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse\n got %+v\nwant %+v", *got, *want)
		}
	})
}

func TestParseExpandsEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string // variables to set; the others are unset
		raw  string
		edit func(*Config) // applied to minimalWant
	}{
		{
			name: "${VAR} set",
			env:  map[string]string{"KG_TEST_NAVET_URL": "https://navet.example.se"},
			raw:  strings.Replace(minimal, "http://127.0.0.1:9001", "${KG_TEST_NAVET_URL}", 1),
			edit: func(c *Config) { c.Sources.Folkbokforing.URL = "https://navet.example.se" },
		},
		{
			name: "${VAR:-default} unset takes the default",
			raw:  strings.Replace(minimal, "KOMMUNGRAF-DEMO", "${KG_TEST_ORDER:-FALLBACK-ORDER}", 1),
			edit: func(c *Config) { c.Sources.Folkbokforing.BestallningsID = "FALLBACK-ORDER" },
		},
		{
			name: "${VAR:-default} set takes the variable",
			env:  map[string]string{"KG_TEST_ORDER": "FROM-ENV"},
			raw:  strings.Replace(minimal, "KOMMUNGRAF-DEMO", "${KG_TEST_ORDER:-FALLBACK-ORDER}", 1),
			edit: func(c *Config) { c.Sources.Folkbokforing.BestallningsID = "FROM-ENV" },
		},
		{
			name: "a variable set to empty is set",
			env:  map[string]string{"KG_TEST_EMPTY": ""},
			raw:  minimal + "log:\n  format: ${KG_TEST_EMPTY:-text}\n",
			edit: func(c *Config) {}, // empty format takes the default, json
		},
		{
			name: "empty default",
			raw:  minimal + "redis:\n  url: ${KG_TEST_MISSING:-}\n",
			edit: func(c *Config) {},
		},
		{
			name: "two variables in one value",
			env:  map[string]string{"KG_TEST_NAVET_URL": "http://navet", "KG_TEST_ORDER": "7000"},
			raw:  strings.Replace(minimal, "http://127.0.0.1:9001", "${KG_TEST_NAVET_URL}:${KG_TEST_ORDER}/pp", 1),
			edit: func(c *Config) { c.Sources.Folkbokforing.URL = "http://navet:7000/pp" },
		},
		{
			name: "$VAR without braces is left alone",
			raw:  strings.Replace(minimal, "KOMMUNGRAF-DEMO", "$KG_TEST_ORDER", 1),
			edit: func(c *Config) { c.Sources.Folkbokforing.BestallningsID = "$KG_TEST_ORDER" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := Parse([]byte(tc.raw))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := minimalWant()
			tc.edit(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse\n got %+v\nwant %+v", *got, *want)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	const missingSources = "sources.folkbokforing.url is required\n" +
		"sources.etjanst.url is required\n" +
		"sources.geodata.url is required\n" +
		"sources.folkbokforing.orgNr and bestallningsId are required\n" +
		"sources.skoldatabas.dsn is required (or set KOMMUNGRAF_DATABASE_URL)\n" +
		"sources.avfall.url is required\n" +
		"sources.tomningar.url is required"
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{
			name: "empty file is only the missing sources",
			raw:  "",
			want: "config: " + missingSources,
		},
		{
			name: "comments and blank lines only",
			raw:  "# nothing configured yet\n\n   \n",
			want: "config: " + missingSources,
		},
		{
			name: "two unknown keys at different levels",
			raw:  minimal + "server:\n  adress: 0.0.0.0:80\ncaching:\n  ttl: 5s\n",
			want: "config: line 17: field adress not found in type config.Server\n" +
				"line 18: field caching not found in type config.Config",
		},
		{
			name: "a source no declaration has",
			raw:  minimal + "  avfal:\n    url: http://127.0.0.1:9005\n",
			want: "config: line 16: sources.avfal: unknown source (want one of avfall, etjanst, folkbokforing, geodata, skoldatabas, tomningar; a new system is declared in schema/<system>.yaml)",
		},
		{
			name: "an unknown key in a declared source",
			raw:  minimal + "    timout: 1s\n",
			want: "config: line 16: sources.avfall.timout: unknown key (connector http has no such setting, and no {config.timout} in the declaration uses it)",
		},
		{
			name: "an API key from an unset variable",
			raw:  minimal + "    apiKey: {header: X-Api-Key, env: KG_TEST_UNSET_KEY}\n",
			want: "config: sources.avfall.apiKey: environment variable KG_TEST_UNSET_KEY is not set",
		},
		{
			name: "unknown key in an inline struct's parent",
			raw:  strings.Replace(minimal, "    orgNr:", "    orgnr: x\n    orgNr:", 1),
			want: "config: line 4: field orgnr not found in type config.Registry",
		},
		{
			name: "semantic errors together",
			raw: strings.NewReplacer("http://127.0.0.1:9002", "ftp://etjanst.internal", "    dsn:", "    driver: mysql\n    dsn:").Replace(minimal) +
				"log:\n  level: verbose\n",
			want: `config: log.level "verbose": want debug, info, warn or error` + "\n" +
				`sources.etjanst.url "ftp://etjanst.internal": want an absolute http(s) URL` + "\n" +
				`sources.skoldatabas.driver "mysql": want sqlite or postgres`,
		},
		{
			name: "CORS origins that would share internal data too widely",
			raw:  minimal + "server:\n  cors:\n    allowedOrigins: ['*', 'null', 'https://ok.example.se', 'forskola.example.se', 'https://x.example.se/app', 'https://user@x.example.se', 'https://a.*.example.se', 'https://*.example.se', 'https://*.se']\n    maxAge: -1s\n",
			want: `config: server.cors.allowedOrigins[0] "*": name each origin (scheme://host[:port]); a bare * or null would let any page read internal data` + "\n" +
				`server.cors.allowedOrigins[1] "null": name each origin (scheme://host[:port]); a bare * or null would let any page read internal data` + "\n" +
				`server.cors.allowedOrigins[3] "forskola.example.se": want an http or https origin, scheme://host[:port]` + "\n" +
				`server.cors.allowedOrigins[4] "https://x.example.se/app": want an origin only, scheme://host[:port], without path, query or credentials` + "\n" +
				`server.cors.allowedOrigins[5] "https://user@x.example.se": want an origin only, scheme://host[:port], without path, query or credentials` + "\n" +
				`server.cors.allowedOrigins[6] "https://a.*.example.se": a wildcard may only stand for the first label of the host (https://*.example.se)` + "\n" +
				`server.cors.allowedOrigins[8] "https://*.se": a wildcard needs a domain of at least two labels after it (https://*.example.se, not https://*.se)` + "\n" +
				"server.cors.maxAge must not be negative",
		},
		{
			name: "decode and semantic errors together",
			raw:  strings.Replace(minimal, "url: http://127.0.0.1:9003", "url: geodata.internal\n    timeout: 5", 1) + "server:\n  addr: localhost\n",
			want: "config: line 10: cannot unmarshal !!int `5` into time.Duration\n" +
				`server.addr "localhost": address localhost: missing port in address` + "\n" +
				`sources.geodata.url "geodata.internal": want an absolute http(s) URL`,
		},
		{
			name: "missing environment variable",
			raw:  strings.Replace(minimal, "http://127.0.0.1:9002", "${KG_TEST_MISSING}", 1),
			want: "config: environment variable KG_TEST_MISSING is not set (line 7)\n" +
				"sources.etjanst.url is required",
		},
		{
			name: "several missing environment variables",
			raw:  strings.NewReplacer("http://127.0.0.1:9002", "${KG_TEST_MISSING}", "KOMMUNGRAF-DEMO", "${KG_TEST_ORDER}").Replace(minimal),
			want: "config: environment variable KG_TEST_ORDER is not set (line 5)\n" +
				"environment variable KG_TEST_MISSING is not set (line 7)\n" +
				"sources.etjanst.url is required\n" +
				"sources.folkbokforing.orgNr and bestallningsId are required",
		},
		{
			name: "limits out of range",
			raw: minimal + "server:\n  maxBodyBytes: 10\n  requestTimeout: -1s\nbatching:\n  wait: 20s\n" +
				"redis:\n  url: http://cache:6379\n",
			want: "config: server.maxBodyBytes must be at least 1024\n" +
				"server timeouts must not be negative\n" +
				"redis.url: want redis:// or rediss://\n" +
				"batching.wait must be between 0 and 10s",
		},
		{
			name: "postgres driver needs a postgres URL",
			raw:  strings.Replace(minimal, "    dsn:", "    driver: postgres\n    dsn:", 1),
			want: "config: sources.skoldatabas.dsn: want a postgres:// URL",
		},
		{
			name: "negative source settings",
			raw:  strings.Replace(minimal, "url: http://127.0.0.1:9003", "url: http://127.0.0.1:9003\n    retries: -2\n    timeout: -1s", 1),
			want: "config: sources.geodata: timeouts, sizes and retries must not be negative",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			got, err := Parse([]byte(tc.raw))
			if got != nil {
				t.Errorf("Parse returned a configuration with the error: %+v", *got)
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse error\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	const dsn = "postgres://kommungraf:secret@db.internal:5432/skola?sslmode=require"
	const sqliteToPostgres = "school database: KOMMUNGRAF_DATABASE_URL overrides sources.skoldatabas (driver sqlite → postgres)"
	tests := []struct {
		name string
		env  map[string]string
		raw  string
		edit func(*Config)
		err  string
		// logged are the overrides serve logs at start.
		logged []string
	}{
		{
			name:   "KOMMUNGRAF_DATABASE_URL switches the school database to postgres",
			env:    map[string]string{EnvDatabaseURL: dsn},
			raw:    minimal,
			edit:   func(c *Config) { c.Sources.Skoldatabas.Driver, c.Sources.Skoldatabas.DSN = "postgres", dsn },
			logged: []string{sqliteToPostgres},
		},
		{
			name:   "KOMMUNGRAF_DATABASE_URL wins over an explicit sqlite driver",
			env:    map[string]string{EnvDatabaseURL: dsn},
			raw:    strings.Replace(minimal, "    dsn:", "    driver: sqlite\n    dsn:", 1),
			edit:   func(c *Config) { c.Sources.Skoldatabas.Driver, c.Sources.Skoldatabas.DSN = "postgres", dsn },
			logged: []string{sqliteToPostgres},
		},
		{
			name:   "KOMMUNGRAF_DATABASE_URL wins over another postgres dsn",
			env:    map[string]string{EnvDatabaseURL: dsn},
			raw:    strings.Replace(minimal, "    dsn: /var/lib/kommungraf/skola.db", "    driver: postgres\n    dsn: postgres://elsewhere/skola", 1),
			edit:   func(c *Config) { c.Sources.Skoldatabas.Driver, c.Sources.Skoldatabas.DSN = "postgres", dsn },
			logged: []string{"school database: KOMMUNGRAF_DATABASE_URL overrides sources.skoldatabas (its dsn)"},
		},
		{
			name: "KOMMUNGRAF_DATABASE_URL that the file names itself is no override",
			env:  map[string]string{EnvDatabaseURL: dsn},
			raw:  strings.Replace(minimal, "    dsn: /var/lib/kommungraf/skola.db", "    driver: postgres\n    dsn: ${KOMMUNGRAF_DATABASE_URL}", 1),
			edit: func(c *Config) { c.Sources.Skoldatabas.Driver, c.Sources.Skoldatabas.DSN = "postgres", dsn },
		},
		{
			name: "KOMMUNGRAF_DATABASE_URL fills a missing dsn",
			env:  map[string]string{EnvDatabaseURL: dsn},
			raw:  strings.Replace(minimal, "    dsn: /var/lib/kommungraf/skola.db\n", "    maxOpenConns: 4\n", 1),
			edit: func(c *Config) {
				c.Sources.Skoldatabas = Database{Driver: "postgres", DSN: dsn, MaxOpenConns: 4}
			},
			logged: []string{sqliteToPostgres},
		},
		{
			name: "KOMMUNGRAF_DATABASE_URL that is not postgres is named in the error",
			env:  map[string]string{EnvDatabaseURL: "/tmp/skola.db"},
			raw:  strings.Replace(minimal, "    dsn:", "    driver: sqlite\n    dsn:", 1),
			err: "config: KOMMUNGRAF_DATABASE_URL: want a postgres:// URL: when set, it overrides sources.skoldatabas " +
				"(the driver becomes postgres); unset it to use the file's setting",
		},
		{
			name: "a dsn of the file that is not postgres",
			raw:  strings.Replace(minimal, "    dsn: /var/lib/kommungraf/skola.db", "    driver: postgres\n    dsn: /tmp/skola.db", 1),
			err:  "config: sources.skoldatabas.dsn: want a postgres:// URL",
		},
		{
			name:   "KOMMUNGRAF_REDIS_URL sets redis.url",
			env:    map[string]string{EnvRedisURL: "redis://cache.internal:6379/2"},
			raw:    minimal,
			edit:   func(c *Config) { c.Redis.URL = "redis://cache.internal:6379/2" },
			logged: []string{"cache: KOMMUNGRAF_REDIS_URL overrides redis.url (Redis instead of the in-process tier alone)"},
		},
		{
			name:   "KOMMUNGRAF_REDIS_URL wins over the file",
			env:    map[string]string{EnvRedisURL: "redis://cache.internal:6379/2"},
			raw:    minimal + "redis:\n  url: redis://other:6379/0\n",
			edit:   func(c *Config) { c.Redis.URL = "redis://cache.internal:6379/2" },
			logged: []string{"cache: KOMMUNGRAF_REDIS_URL overrides redis.url (another Redis than the file's)"},
		},
		{
			name: "KOMMUNGRAF_REDIS_URL that is not redis",
			env:  map[string]string{EnvRedisURL: "memcached://cache:11211"},
			raw:  minimal,
			err:  "config: redis.url: want redis:// or rediss://",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := Parse([]byte(tc.raw))
			if tc.err != "" {
				if got != nil || err == nil || err.Error() != tc.err {
					t.Errorf("Parse = %v, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var logged []string
			for _, o := range got.Overrides() {
				logged = append(logged, o.String())
			}
			if !slices.Equal(logged, tc.logged) {
				t.Errorf("Overrides() = %q, want %q", logged, tc.logged)
			}
			want := minimalWant()
			tc.edit(want)
			stripEnvState(got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse\n got %+v\nwant %+v", *got, *want)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	demoWant := func() *Config {
		return &Config{
			Server:    serverDefaults(0), // the demo has no load balancer to wait for
			Sources:   Sources{Folkbokforing: Registry{HTTPSource: HTTPSource{MaxConcurrent: registryMaxConcurrent}}, Skoldatabas: Database{Driver: "sqlite"}, Declared: map[string]DeclaredSource{"avfall": avfallDefaults(""), "tomningar": tomningarDefaults("")}},
			Cache:     Cache{Sources: defaultPolicies()},
			Authz:     authzDefaults(false),
			Log:       Log{Level: "info", Format: "text"},
			RateLimit: rateLimitDefaults(),
			OpenData:  openDataDefaults(),
			Cost:      costDefaults(),
			Tracing:   tracingDefaults(),
		}
	}
	t.Run("defaults", func(t *testing.T) {
		cleanEnv(t)
		if got, want := stripEnvState(Demo()), demoWant(); !reflect.DeepEqual(got, want) {
			t.Errorf("Demo()\n got %+v\nwant %+v", *got, *want)
		}
	})
	t.Run("production overrides apply in demo mode too", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv(EnvDatabaseURL, "postgres://postgres@127.0.0.1:5432/test")
		t.Setenv(EnvRedisURL, "redis://127.0.0.1:6379/0")
		want := demoWant()
		want.Sources.Skoldatabas = Database{Driver: "postgres", DSN: "postgres://postgres@127.0.0.1:5432/test"}
		want.Redis.URL = "redis://127.0.0.1:6379/0"
		got := Demo()
		var logged []string
		for _, o := range got.Overrides() {
			logged = append(logged, o.String())
		}
		if wantLogged := []string{
			"school database: KOMMUNGRAF_DATABASE_URL overrides the demo's embedded SQLite database (PostgreSQL, seeded by the demo)",
			"cache: KOMMUNGRAF_REDIS_URL overrides redis.url (Redis instead of the in-process tier alone)",
		}; !slices.Equal(logged, wantLogged) {
			t.Errorf("Overrides() = %q, want %q", logged, wantLogged)
		}
		if stripEnvState(got); !reflect.DeepEqual(got, want) {
			t.Errorf("Demo()\n got %+v\nwant %+v", *got, *want)
		}
	})
	t.Run("sources are validated once the simulators fill them in", func(t *testing.T) {
		cleanEnv(t)
		c := Demo()
		const want = "sources.folkbokforing.url is required\n" +
			"sources.etjanst.url is required\n" +
			"sources.geodata.url is required\n" +
			"sources.folkbokforing.orgNr and bestallningsId are required\n" +
			"sources.skoldatabas.dsn is required (or set KOMMUNGRAF_DATABASE_URL)\n" +
			"sources.avfall.url is required\n" +
			"sources.tomningar.url is required"
		if err := c.ValidateSources(); err == nil || err.Error() != want {
			t.Errorf("ValidateSources() = %v, want\n%s", err, want)
		}
		c.Sources.Folkbokforing = Registry{HTTPSource: HTTPSource{URL: "http://127.0.0.1:1"}, OrgNr: "212000-1880", BestallningsID: "X"}
		c.Sources.Etjanst.URL = "http://127.0.0.1:2"
		c.Sources.Geodata.URL = "http://127.0.0.1:3"
		c.Sources.Skoldatabas.DSN = "file::memory:"
		for _, name := range []string{"avfall", "tomningar"} {
			s := c.Sources.Declared[name]
			s.URL = "http://127.0.0.1:4"
			c.Sources.Declared[name] = s
		}
		if err := c.ValidateSources(); err != nil {
			t.Errorf("ValidateSources() after filling in = %v", err)
		}
	})
}

func TestPolicyWorkflowKeys(t *testing.T) {
	cleanEnv(t)
	file := minimal + `
authz:
  policyStoreFile: /var/lib/kommungraf/policy.db
  requireApproval: false
  policyReloadInterval: 250ms
  dryRunLimit: 500
`
	c, err := Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Authz; a.PolicyStoreFile != "/var/lib/kommungraf/policy.db" || *a.RequireApproval || a.PolicyReloadInterval != 250*time.Millisecond || a.DryRunLimit != 500 {
		t.Fatalf("authz %+v", a)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"reload too often", "authz:\n  policyReloadInterval: 1ms\n", "authz.policyReloadInterval must be between 50ms and 1h"},
		{"dry run limit", "authz:\n  dryRunLimit: -1\n", "authz.dryRunLimit must be between 1 and 1000000"},
		{"protection max age", "authz:\n  protectionMaxAge: 2h\n", "authz.protectionMaxAge must be between 1s and 1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(minimal + tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("the environment turns approval on in the demo", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv(EnvRequireApproval, "true")
		if c := Demo(); !*c.Authz.RequireApproval {
			t.Fatal("approval still off")
		}
		t.Setenv(EnvRequireApproval, "sometimes")
		c := Demo()
		if err := c.ValidateSources(); err == nil || !strings.Contains(err.Error(), EnvRequireApproval) {
			t.Fatalf("a bad %s: %v", EnvRequireApproval, err)
		}
		if _, err := Parse([]byte(minimal)); err == nil || !strings.Contains(err.Error(), EnvRequireApproval) {
			t.Fatalf("a bad %s in Parse: %v", EnvRequireApproval, err)
		}
	})
}

// TestRateLimitAndCostConfig: limits per client and role are filled from
// the defaults where left out; bad limits and unknown upstreams are refused.
func TestRateLimitAndCostConfig(t *testing.T) {
	cleanEnv(t)
	got, err := Parse([]byte(minimal + `
rateLimit:
  default: { client: { rate: 100 } }
  clients:
    bygglov-app: { user: { rate: 10, period: 1m } }
  roles:
    analyst: { rate: 5, burst: 20 }
cost:
  budgets: { folkbokforing: 500, avfall: 100 }
`))
	if err != nil {
		t.Fatal(err)
	}
	want := rateLimitDefaults()
	want.Default.Client = Rate{Rate: 100, Period: time.Second, Burst: 200}
	want.Clients["bygglov-app"] = ClientLimits{Client: want.Default.Client, User: Rate{Rate: 10, Period: time.Minute, Burst: 20}}
	want.Roles = map[string]Rate{"analyst": {Rate: 5, Period: time.Second, Burst: 20}}
	if !reflect.DeepEqual(got.RateLimit, want) {
		t.Errorf("rateLimit\n got %+v\nwant %+v", got.RateLimit, want)
	}
	if wantCost := (Cost{Budgets: map[string]int{"folkbokforing": 500, "avfall": 100}, DefaultBudget: 5000}); !reflect.DeepEqual(got.Cost, wantCost) {
		t.Errorf("cost %+v, want %+v", got.Cost, wantCost)
	}
	_, err = Parse([]byte(minimal + `
rateLimit:
  clients:
    bygglov-app: { client: { rate: -1 } }
cost:
  budgets: { navet: 10, folkbokforing: 0 }
`))
	for _, want := range []string{
		"rateLimit.clients.bygglov-app.client: rate and burst must be at least 1",
		"cost.budgets.navet: unknown upstream",
		"cost.budgets.folkbokforing must be at least 1",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to say %q", err, want)
		}
	}
}
