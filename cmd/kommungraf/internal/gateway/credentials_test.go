package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// guardedUpstream stands in front of a simulator as a municipality's
// internal system does: mutual TLS with a certificate of its CA, and a
// bearer token from the identity provider. It counts the calls it let
// through; anything else gets 401 and never reaches the simulator.
type guardedUpstream struct {
	srv              *httptest.Server
	target           atomic.Pointer[url.URL]
	passed, refused  atomic.Int64
	clientCommonName atomic.Value
}

func newGuardedUpstream(t *testing.T, pki *testenv.PKI, token string) *guardedUpstream {
	g := &guardedUpstream{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(g.target.Load())
	}}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || g.target.Load() == nil {
			g.refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		g.passed.Add(1)
		g.clientCommonName.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		proxy.ServeHTTP(w, r)
	}))
	g.srv.TLS = pki.ServerTLS(true)
	g.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	g.srv.StartTLS()
	t.Cleanup(g.srv.Close)
	return g
}

// TestDeclaredSourceBehindMutualTLSAndOAuth2: the waste-collection system
// configured as production would reach it (sources.avfall with tls and
// oauth2; the secret in the environment) answers Q1's pickups through the
// guard: one token for every call, the gateway's client certificate
// presented, nothing refused.
func TestDeclaredSourceBehindMutualTLSAndOAuth2(t *testing.T) {
	pki := testenv.NewPKI(t)
	idp := testenv.NewTokenEndpoint(t, pki, "kommungraf", "s3cret", "pickups.read", "tok-avfall")
	guard := newGuardedUpstream(t, pki, "tok-avfall")
	t.Setenv("KG_TEST_AVFALL_SECRET", "s3cret")
	d := startDemo(t, func(c *config.Config) {
		c.Sources.Declared["avfall"] = config.DeclaredSource{HTTPSource: config.HTTPSource{
			URL: guard.srv.URL,
			TLS: &config.UpstreamTLS{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey},
			OAuth2: &config.UpstreamOAuth2{TokenURL: idp.URL(), ClientID: "kommungraf",
				ClientSecretEnv: "KG_TEST_AVFALL_SECRET", Scopes: []string{"pickups.read"}},
		}}
	}, 0, false)
	target, err := url.Parse(d.gw.Sim().URL("avfall"))
	if err != nil || target.Host == "" {
		t.Fatalf("the demo has no avfall simulator: %q", d.gw.Sim().URL("avfall"))
	}
	guard.target.Store(target)

	var r response
	if err := json.Unmarshal(postAs(t, d, "case-officer", "guarded", q1Pickups), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != 0 {
		t.Fatalf("errors: %+v", r.Errors)
	}
	if !strings.Contains(string(r.Data), `"wastePickups":[{"fraction"`) {
		t.Fatalf("no pickups in the answer: %.300s", r.Data)
	}
	if guard.passed.Load() == 0 || guard.refused.Load() != 0 {
		t.Errorf("guard: %d calls passed, %d refused", guard.passed.Load(), guard.refused.Load())
	}
	if cn := guard.clientCommonName.Load(); cn != pki.ClientName {
		t.Errorf("the upstream saw client certificate %v, want %s", cn, pki.ClientName)
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// TestUpstreamCredentialsStopTheStart: credentials that cannot be used
// stop the start with a message naming the setting, not at the first call.
func TestUpstreamCredentialsStopTheStart(t *testing.T) {
	pki := testenv.NewPKI(t)
	for _, tc := range []struct {
		name string
		src  config.HTTPSource
		want string
	}{
		{"secret not in the environment", config.HTTPSource{URL: "https://127.0.0.1:1",
			OAuth2: &config.UpstreamOAuth2{TokenURL: "https://127.0.0.1:2/token", ClientID: "k", ClientSecretEnv: "KG_TEST_UNSET_SECRET"}},
			"sources.avfall.oauth2: environment variable KG_TEST_UNSET_SECRET is not set"},
		{"token endpoint in clear", config.HTTPSource{URL: "https://upstream.example",
			OAuth2: &config.UpstreamOAuth2{TokenURL: "http://idp.example/token", ClientID: "k", ClientSecretEnv: "KG_TEST_SECRET"}},
			"sources.avfall.oauth2.tokenURL"},
		{"key file missing", config.HTTPSource{URL: "https://127.0.0.1:1",
			TLS: &config.UpstreamTLS{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey + ".missing"}},
			"sources.avfall.tls.certFile/keyFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KG_TEST_SECRET", "s")
			c := config.Demo()
			c.Sources.Declared["avfall"] = config.DeclaredSource{HTTPSource: tc.src}
			gw, err := gateway.New(context.Background(), c, gateway.Options{Demo: true, World: testWorld(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err == nil {
				gw.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a problem naming %q", err, tc.want)
			}
		})
	}
}
