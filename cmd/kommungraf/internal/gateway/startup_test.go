package gateway_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

var (
	smallWorldOnce sync.Once
	smallWorld     *sim.World
)

// tinyWorld keeps the failing starts cheap: they never serve a query.
func tinyWorld() *sim.World {
	smallWorldOnce.Do(func() { smallWorld = sim.NewWorld(sim.WorldOptions{Seed: 5, People: 60}) })
	return smallWorld
}

// startCase is one way for New to fail.
type startCase struct {
	name string
	// nonDemo starts from a configuration with real (unreachable) sources
	// instead of the demo's simulators.
	nonDemo bool
	env     map[string]string
	// mod changes the configuration; dir is the case's own directory.
	mod func(t *testing.T, c *config.Config, dir string)
	// want are parts of the error message: what failed and why.
	want []string
	// notWant must not appear in it (secrets).
	notWant []string
	// afterNew runs once New has returned, before the checks.
	afterNew func()
	// declarations replace the embedded source declarations.
	declarations []declare.File
}

// TestStartupFailureLeavesNothingRunning fails New at each of its steps and
// checks that the error says what failed, that New neither panics nor
// returns a gateway, and that nothing it started is left: no goroutine, no
// listening socket, no open file, no demo temp dir.
//
// Not parallel: it sets environment variables and compares the process's
// goroutines and file descriptors before and after.
func TestStartupFailureLeavesNothingRunning(t *testing.T) {
	goodKey := base64.StdEncoding.EncodeToString(make([]byte, 32))
	shortKey := base64.StdEncoding.EncodeToString(make([]byte, 16))
	writeFile := func(t *testing.T, path, text string) string {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var idp *httptest.Server
	const unreachablePG = "postgres://postgres:hemligt-pg@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"

	cases := []startCase{
		{name: "demo temp dir cannot be made", env: map[string]string{"TMPDIR": "/nonexistent/kommungraf-startup-test"},
			want: []string{"demo: temp dir", "/nonexistent/kommungraf-startup-test"}},
		{name: "invalid source config", mod: func(_ *testing.T, c *config.Config, _ string) { c.Sources.Geodata.Timeout = -time.Second },
			want: []string{"config: ", "sources.geodata: timeouts, sizes and retries must not be negative"}},
		{name: "school database with an unknown driver", mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Sources.Skoldatabas.Driver, c.Sources.Skoldatabas.DSN = "oracle", "x"
		}, want: []string{"config: ", `sources.skoldatabas.driver "oracle"`}},
		{name: "school database unreachable", mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Sources.Skoldatabas.Driver, c.Sources.Skoldatabas.DSN = "postgres", unreachablePG
		}, want: []string{"skoldatabas: "}, notWant: []string{"hemligt-pg"}},
		{name: "school database file in a missing directory", mod: func(_ *testing.T, c *config.Config, dir string) {
			c.Sources.Skoldatabas.Driver, c.Sources.Skoldatabas.DSN = "sqlite", filepath.Join(dir, "missing", "skola.db")
		}, want: []string{"skoldatabas: "}},
		{name: "policy file missing", mod: func(_ *testing.T, c *config.Config, dir string) {
			c.Authz.PolicyFile = filepath.Join(dir, "none.csv")
		}, want: []string{"authz: ", "none.csv", "no such file"}},
		{name: "policy file with a bad line", mod: func(t *testing.T, c *config.Config, dir string) {
			c.Authz.PolicyFile = writeFile(t, filepath.Join(dir, "policy.csv"), "p, nobody, nothing\n")
		}, want: []string{"authz: policy ", "policy.csv"}},
		{name: "policy database unreachable", mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Authz.PolicyDatabaseURL = unreachablePG
		}, want: []string{"authz: policy database"}, notWant: []string{"hemligt-pg"}},
		{name: "contracts file invalid", mod: func(t *testing.T, c *config.Config, dir string) {
			c.Authz.ContractsFile = writeFile(t, filepath.Join(dir, "contracts.yaml"), "contracts: [unclosed\n")
		}, want: []string{"contracts.yaml", "contracts"}},
		{name: "contracts file invalid, policy database configured", mod: func(t *testing.T, c *config.Config, dir string) {
			c.Authz.PolicyDatabaseURL = unreachablePG
			c.Authz.ContractsFile = writeFile(t, filepath.Join(dir, "contracts.yaml"), "contracts: [unclosed\n")
		}, want: []string{"contracts.yaml"}},
		{name: "roles file invalid", mod: func(t *testing.T, c *config.Config, dir string) {
			c.Authz.RolesFile = writeFile(t, filepath.Join(dir, "roles.yaml"), "roles: [unclosed\n")
		}, want: []string{"roles.yaml", "roles"}},
		{name: "OIDC configured in the demo", mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Auth.OIDC.Issuer = "https://idp.example"
		}, want: []string{"auth.oidc: the demo uses its development issuer"}},
		{name: "API key without a hash", mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Auth.APIKeys = []config.APIKey{{Name: "skolplattformen", Client: "skolplattformen", SHA256: "not-hex"}}
		}, want: []string{"authz: authenticator options"}},
		{name: "access log key not base64", env: map[string]string{config.EnvAccessLogKey: "not-base64"},
			want: []string{config.EnvAccessLogKey + ": "}, notWant: []string{"not-base64"}},
		{name: "access log key too short", env: map[string]string{config.EnvAccessLogKey: shortKey},
			want: []string{config.EnvAccessLogKey + ": "}},
		{name: "access log file in a missing directory", mod: func(_ *testing.T, c *config.Config, dir string) {
			c.Authz.AccessLog.File = filepath.Join(dir, "missing", "access.jsonl")
		}, want: []string{"access log", "no such file"}},
		{name: "access log database unreachable", mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Authz.AccessLog.DatabaseURL = unreachablePG
		}, want: []string{"access log"}, notWant: []string{"hemligt-pg"}},
		{name: "cache keys not base64", env: map[string]string{config.EnvCacheKeys: "not-base64"},
			want: []string{config.EnvCacheKeys + ": cache: seal key 1: not standard base64"}},
		{name: "cache key too short", env: map[string]string{config.EnvCacheKeys: goodKey + "," + shortKey},
			want: []string{config.EnvCacheKeys + ": cache: seal key 2: 16 bytes, want 32"}, notWant: []string{shortKey}},
		{name: "redis URL invalid", mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Redis.URL = "http://127.0.0.1:6379"
		}, want: []string{"cache: redis URL"}},
		{name: "cache version invalid, redis client made", mod: func(_ *testing.T, c *config.Config, _ string) {
			c.Redis.URL, c.Cache.Version = "redis://127.0.0.1:1/0", "v1:bad"
		}, want: []string{`cache: version "v1:bad"`}},

		{name: "production without an access log key", nonDemo: true,
			want: []string{config.EnvAccessLogKey + " is required"}},
		{name: "production with OIDC started, then the access log key missing", nonDemo: true,
			mod: func(t *testing.T, c *config.Config, _ string) {
				idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.WriteString(w, `{"keys":[]}`)
				}))
				t.Cleanup(idp.Close)
				c.Auth.OIDC.Issuer, c.Auth.OIDC.JWKSURL = "https://idp.example", idp.URL
			},
			// The test's IdP goes before the check. The JWKS client's idle
			// keep-alive connection to it lives in http.DefaultTransport,
			// shared by the process, not in anything New started.
			afterNew: func() { idp.Close() },
			want:     []string{config.EnvAccessLogKey + " is required"}},
		{name: "production policy store in a missing directory", nonDemo: true, env: map[string]string{config.EnvAccessLogKey: goodKey},
			mod: func(_ *testing.T, c *config.Config, dir string) {
				c.Authz.PolicyStoreFile = filepath.Join(dir, "missing", "policy.db")
			}, want: []string{"policy store: ", "policy.db"}},
	}
	// With the real services: what fails comes after a pool or a
	// subscription has really been opened.
	cases = append(cases,
		startCase{name: "roles file invalid, policy database open", mod: func(t *testing.T, c *config.Config, dir string) {
			c.Authz.PolicyDatabaseURL = testenv.PostgresURL(t)
			c.Authz.RolesFile = writeFile(t, filepath.Join(dir, "roles.yaml"), "roles: [unclosed\n")
		}, want: []string{"roles.yaml"}},
		startCase{name: "cache keys invalid, access log database open", env: map[string]string{config.EnvCacheKeys: "not-base64"},
			mod:  func(t *testing.T, c *config.Config, _ string) { c.Authz.AccessLog.DatabaseURL = testenv.PostgresURL(t) },
			want: []string{config.EnvCacheKeys + ": "}},
		startCase{name: "policy store fails, cache subscribed to redis and school database on postgres", nonDemo: true,
			env: map[string]string{config.EnvAccessLogKey: goodKey, config.EnvCacheKeys: goodKey},
			mod: func(t *testing.T, c *config.Config, dir string) {
				c.Redis.URL = testenv.RedisURL(t)
				c.Sources.Skoldatabas.Driver, c.Sources.Skoldatabas.DSN = "postgres", testenv.PostgresURL(t)
				c.Authz.PolicyStoreFile = filepath.Join(dir, "missing", "policy.db")
			}, want: []string{"policy store: ", "policy.db"}},
	)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { failStart(t, tc) })
	}
}

// failStart runs one case: New must fail and leave nothing behind.
func failStart(t *testing.T, tc startCase) {
	t.Helper()
	dir := t.TempDir()
	tmp := t.TempDir() // the demo's temp dir goes here
	t.Chdir(dir)       // files a production start creates in its working directory
	for _, k := range []string{config.EnvDatabaseURL, config.EnvRedisURL, config.EnvCacheKeys, config.EnvAccessLogKey, config.EnvRequireApproval} {
		t.Setenv(k, "")
	}
	t.Setenv("TMPDIR", tmp)
	for k, v := range tc.env {
		t.Setenv(k, v)
	}
	var cfg *config.Config
	if tc.nonDemo {
		cfg = productionConfig(t, dir)
	} else {
		cfg = config.Demo()
	}
	if tc.mod != nil {
		tc.mod(t, cfg, dir)
	}

	goroutines := goleak.IgnoreCurrent()
	sockets, files := listeningSockets(t), openFiles(t)

	var gw *gateway.Gateway
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("New panicked: %v", r)
			}
		}()
		gw, err = gateway.New(context.Background(), cfg, gateway.Options{
			Demo: !tc.nonDemo, World: tinyWorld(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Declarations: tc.declarations,
		})
	}()
	if tc.afterNew != nil {
		tc.afterNew()
	}
	if err == nil {
		gw.Close()
		t.Fatal("New succeeded; want an error")
	}
	if gw != nil {
		t.Errorf("New returned a gateway with its error %q", err)
	}
	msg := err.Error()
	for _, w := range tc.want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
	for _, w := range tc.notWant {
		if strings.Contains(msg, w) {
			t.Errorf("error %q shows %q", msg, w)
		}
	}
	t.Logf("error: %s", msg)

	// Whatever was started is closed by the time New returns; goroutines
	// and sockets may take a moment to wind down after their Close.
	goleak.VerifyNone(t, goroutines)
	eventuallyEqual(t, "listening sockets", sockets, func() []string { return listeningSockets(t) })
	eventuallyEqual(t, "open files", files, func() []string { return openFiles(t) })
	if left, err := os.ReadDir(tmp); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	} else if len(left) > 0 {
		names := make([]string, len(left))
		for i, e := range left {
			names[i] = e.Name()
		}
		t.Errorf("left in the temp dir: %v", names)
	}
}

// productionConfig is a configuration with real sources, as a file would
// give it: nothing listens at the upstream URLs, which New does not call.
func productionConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	c := config.Demo()
	s := &c.Sources
	s.Folkbokforing.URL, s.Folkbokforing.OrgNr, s.Folkbokforing.BestallningsID = "http://127.0.0.1:1/navet", gateway.DemoOrgNr, gateway.DemoOrder
	s.Etjanst.URL, s.Geodata.URL = "http://127.0.0.1:1/etjanst", "http://127.0.0.1:1/geodata"
	for name, d := range s.Declared {
		d.URL = "http://127.0.0.1:1/" + name
		s.Declared[name] = d
	}
	s.Skoldatabas.Driver, s.Skoldatabas.DSN = "sqlite", filepath.Join(dir, "skola.db")
	c.Authz.AccessLog.File = filepath.Join(dir, "access.jsonl")
	c.Authz.PolicyStoreFile = filepath.Join(dir, "policy.db")
	return c
}

// eventuallyEqual waits until now() no longer holds anything that before
// did not (things that closed meanwhile are fine).
func eventuallyEqual(t *testing.T, what string, before []string, now func() []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var extra []string
		for _, s := range now() {
			if !slices.Contains(before, s) {
				extra = append(extra, s)
			}
		}
		if len(extra) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s left open: %v", what, extra)
			return
		}
		time.Sleep(10 * time.Millisecond) // paces the polling only
	}
}

// openFiles lists this process's open files and sockets as "fd -> target",
// leaving out the runtime's own pollers, pipes and event fds.
func openFiles(t *testing.T) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		return nil
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || strings.HasPrefix(target, "anon_inode:") || strings.HasPrefix(target, "pipe:") || strings.HasPrefix(target, "/proc/") {
			continue // closed meanwhile, or not a resource New opens
		}
		out = append(out, e.Name()+" -> "+target)
	}
	return out
}

// listeningSockets lists the TCP sockets this process listens on, by local
// address (from /proc: the gateway does not expose its simulators once New
// has failed).
func listeningSockets(t *testing.T) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		return nil
	}
	mine := map[string]bool{}
	for _, f := range openFiles(t) {
		if _, target, ok := strings.Cut(f, " -> "); ok && strings.HasPrefix(target, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			if mine[f[9]] {
				out = append(out, f[1])
			}
		}
	}
	return out
}
