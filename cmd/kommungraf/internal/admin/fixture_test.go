package admin_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/admin"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/report"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/resolvers"
	"github.com/kommungraf/kommungraf/sources/cache"
)

// demo is the admin surface on the real parts the gateway gives it in demo
// mode: the schema's catalog, the embedded policy, contracts and role
// table, the development issuer's tokens, a SQLite policy store, a JSON
// lines access log, an operation registry and an in-process cache. Only
// the gateway around it is missing: what these tests exercise is the
// admin package alone.
type demo struct {
	srv   *httptest.Server
	adm   *admin.Admin
	dev   *authz.DevIssuer
	log   *authz.AsyncAccessLog
	flow  *authz.PolicyFlow
	cache *cache.Cache
}

type demoOptions struct {
	// policy replaces the embedded policy's text.
	policy string
	// routes are further sections.
	routes []admin.Route
}

func newDemo(t testing.TB, o demoOptions) *demo {
	t.Helper()
	opts, d := demoParts(t, o)
	adm, err := admin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	d.adm = adm
	d.srv = httptest.NewServer(adm.Handler())
	t.Cleanup(d.srv.Close)
	return d
}

// newDemoOptions are the admin surface's options on a demo's parts.
func newDemoOptions(t testing.TB) admin.Options {
	t.Helper()
	opts, _ := demoParts(t, demoOptions{})
	return opts
}

// demoParts builds the parts; the demo it returns has no surface yet.
func demoParts(t testing.TB, o demoOptions) (admin.Options, *demo) {
	t.Helper()
	ctx := context.Background()
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	cat, err := authz.Classify(schema)
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Bind(graph.Records()); err != nil {
		t.Fatal(err)
	}
	text := o.policy
	if text == "" {
		text = authz.DefaultPolicy()
	}
	rules, err := authz.ParsePolicy(text, cat)
	if err != nil {
		t.Fatal(err)
	}
	contracts, err := authz.ParseContracts([]byte(authz.DefaultContracts()), cat)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := authz.ParseRoles([]byte(authz.DefaultRoles()))
	if err != nil {
		t.Fatal(err)
	}
	a, err := authz.NewAuthorizer(authz.AuthorizerOptions{Catalog: cat, Policy: rules, Contracts: contracts})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := authz.NewDevIssuer(authz.DevIssuerOptions{Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ao := dev.AuthenticatorOptions()
	ao.Roles, ao.Logger = roles, quiet
	authn, err := authz.NewAuthenticator(ao)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authn.Close() })

	dir := t.TempDir()
	jsonl, err := authz.NewJSONLAccessLog(filepath.Join(dir, "access.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	accessLog, err := authz.NewAsyncAccessLog(authz.AsyncAccessLogOptions{Store: jsonl, SpoolPath: filepath.Join(dir, "spool.jsonl"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = accessLog.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	hasher, err := authz.NewPersonHasherBase64(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	store, err := authz.NewSQLitePolicyStore(ctx, filepath.Join(dir, "policy.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	flow, err := authz.NewPolicyFlow(ctx, authz.PolicyFlowOptions{
		Store: store, Authorizer: a, Roles: roles, RequireApproval: false, // as the demo's configuration
		AccessLog: accessLog, Seed: text, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	opts := admin.Options{
		Authn: authn, Policy: a, Workflow: flow, Roles: roles,
		Explain: func(p *authz.Principal, field, action, object string, protected bool) (authz.Decision, error) {
			return authz.Explain(a, p, field, action, object, protected)
		},
		Demo: true, Personas: dev.Personas(),
		Operations: operations.NewRegistry(schema, operations.NewMemoryStore()),
		AccessLog:  accessLog, Hasher: hasher,
		Cache: c, CacheSources: []string{"folkbokforing", "etjanst", "geodata", "skoldatabas"},
		Report: admin.ReportSourceFunc(func(ctx context.Context, from, to time.Time) (report.Inputs, error) {
			entries, err := accessLog.Query(ctx, authz.AccessQuery{From: from, To: to})
			return report.Inputs{Fields: flow.Catalog(), Contracts: a.Contracts().List(), From: from, To: to, Access: entries}, err
		}),
		Routes: o.routes,
		Logger: quiet,
	}
	return opts, &demo{dev: dev, log: accessLog, flow: flow, cache: c}
}

// token is a persona's bearer credential.
func (d *demo) token(t testing.TB, persona string) string {
	t.Helper()
	tok, err := d.dev.Token(persona)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// adminRequest sends one request to the admin surface.
type adminRequest struct {
	method, path, body string
	bearer             string // persona whose token goes in the Authorization header
	cookie             string // session cookie value
	headers            map[string]string
}

func (d *demo) admin(t *testing.T, ar adminRequest) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(ar.method, d.srv.URL+ar.path, strings.NewReader(ar.body))
	if err != nil {
		t.Fatal(err)
	}
	if ar.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if ar.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+d.token(t, ar.bearer))
	}
	if ar.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "kommungraf_admin", Value: ar.cookie})
	}
	for k, v := range ar.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// policyCall calls the admin API as persona ("" for none) and decodes the
// JSON answer.
func (d *demo) policyCall(t *testing.T, persona, method, path, body string) (int, map[string]any) {
	t.Helper()
	resp, raw := d.admin(t, adminRequest{method: method, path: path, body: body, bearer: persona})
	var out map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != "application/problem+json" {
		t.Fatalf("%s %s: %d with Content-Type %q, want problem+json", method, path, resp.StatusCode, ct)
	}
	return resp.StatusCode, out
}

// mustCall is policyCall that insists on a status.
func (d *demo) mustCall(t *testing.T, persona, method, path, body string, status int) map[string]any {
	t.Helper()
	got, out := d.policyCall(t, persona, method, path, body)
	if got != status {
		t.Fatalf("%s %s as %s: %d, want %d: %v", method, path, persona, got, status, out)
	}
	return out
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
