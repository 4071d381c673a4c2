package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/testenv"
)

// mtlsUpstream demands a client certificate of the PKI and the bearer
// token; it answers with the certificate's common name.
func mtlsUpstream(t *testing.T, pki *testenv.PKI, token string) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = pki.ServerTLS(true)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func credentialedClient(t *testing.T, pki *testenv.PKI, base, tokenURL, secret string, files TLSFiles) *Client {
	t.Helper()
	conf, err := files.Config()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(Options{
		Name: "avfall", BaseURL: base, Timeout: 2 * time.Second, RetryBackoff: time.Millisecond, Logger: quietLogger(),
		TLS: conf, OAuth2: &ClientCredentials{TokenURL: tokenURL, ClientID: "kommungraf", ClientSecret: secret, Scopes: []string{"pickups.read"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMutualTLSAndClientCredentials: concurrent calls to an upstream that
// demands a client certificate and a bearer token all get through with
// one token request between them; the readiness probe carries both too.
func TestMutualTLSAndClientCredentials(t *testing.T) {
	pki := testenv.NewPKI(t)
	idp := testenv.NewTokenEndpoint(t, pki, "kommungraf", "s3cret", "pickups.read", "tok-1")
	up := mtlsUpstream(t, pki, "tok-1")
	c := credentialedClient(t, pki, up.URL, idp.URL(), "s3cret",
		TLSFiles{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey})

	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			resp, err := c.Do(context.Background(), Request{Operation: "pickups", Method: http.MethodGet, Path: "api/v1/pickups", Idempotent: true})
			switch {
			case err != nil:
				errs <- err
			case string(resp.Body) != pki.ClientName:
				errs <- fmt.Errorf("upstream saw client %q", resp.Body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := idp.Requests(); n != 1 {
		t.Errorf("%d token requests for 32 calls, want 1 (the token is shared until it expires)", n)
	}
	if err := c.Ping(context.Background(), "health"); err != nil {
		t.Errorf("probe: %v", err)
	}
}

// TestCredentialsFailClosed: without the client certificate the handshake
// fails; a token endpoint that refuses the secret fails the call once (no
// retries), as UPSTREAM_UNAVAILABLE, without its body, and the probe says
// so too; the upstream never sees a call without a token.
func TestCredentialsFailClosed(t *testing.T) {
	pki := testenv.NewPKI(t)
	idp := testenv.NewTokenEndpoint(t, pki, "kommungraf", "s3cret", "pickups.read", "tok-1")
	up := mtlsUpstream(t, pki, "tok-1")
	ctx := context.Background()
	get := Request{Operation: "pickups", Method: http.MethodGet, Path: "api/v1/pickups", Idempotent: true}

	noCert := credentialedClient(t, pki, up.URL, idp.URL(), "s3cret", TLSFiles{CAFile: pki.CAFile})
	if _, err := noCert.Do(ctx, get); KindOf(err) != Unavailable {
		t.Errorf("without a client certificate: %v, want Unavailable", err)
	}

	wrong := credentialedClient(t, pki, up.URL, idp.URL(), "wrong",
		TLSFiles{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey})
	before := idp.Requests()
	_, err := wrong.Do(ctx, get)
	var ue *Error
	if !errors.As(err, &ue) || ue.Kind != Unavailable || !ue.permanent {
		t.Fatalf("refused secret: %v, want a permanent Unavailable", err)
	}
	if n := idp.Requests() - before; n != 1 {
		t.Errorf("%d token requests for one call, want 1 (a refusal is not retried)", n)
	}
	for _, s := range []string{err.Error(), ue.Public()} {
		if strings.Contains(s, "0xBEEF") || strings.Contains(s, "error_description") {
			t.Errorf("the token endpoint's body leaked: %s", s)
		}
	}
	if !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("log text %q should name the OAuth error code", err)
	}
	if err := wrong.Ping(ctx, "health"); err == nil || strings.Contains(err.Error(), "0xBEEF") {
		t.Errorf("probe with a refused secret: %v, want a failure without the body", err)
	}

	// A CA that did not issue the upstream's certificate: refused.
	other := testenv.NewPKI(t)
	strangers := credentialedClient(t, pki, up.URL, idp.URL(), "s3cret",
		TLSFiles{CAFile: other.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey})
	if _, err := strangers.Do(ctx, get); err == nil {
		t.Error("an upstream certificate from another CA was accepted")
	}
}

// TestCredentialSettingsAreChecked: settings that would send a secret or a
// token in clear, or that are incomplete, are refused before any call.
func TestCredentialSettingsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		base string
		cc   ClientCredentials
		want string
	}{
		{"token endpoint over http", "https://upstream.example", ClientCredentials{TokenURL: "http://idp.example/token", ClientID: "a", ClientSecret: "b"}, "in clear"},
		{"upstream over http", "http://upstream.example", ClientCredentials{TokenURL: "https://idp.example/token", ClientID: "a", ClientSecret: "b"}, "in clear"},
		{"no client id", "https://upstream.example", ClientCredentials{TokenURL: "https://idp.example/token", ClientSecret: "b"}, "clientId"},
		{"no secret", "https://upstream.example", ClientCredentials{TokenURL: "https://idp.example/token", ClientID: "a"}, "secret"},
		{"relative token URL", "https://upstream.example", ClientCredentials{TokenURL: "/token", ClientID: "a", ClientSecret: "b"}, "tokenURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(Options{Name: "x", BaseURL: tc.base, OAuth2: &tc.cc})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
	// On this host plain http exposes nothing: allowed, as the demo's simulators are.
	if _, err := NewClient(Options{Name: "x", BaseURL: "http://127.0.0.1:1", OAuth2: &ClientCredentials{TokenURL: "http://localhost:2/token", ClientID: "a", ClientSecret: "b"}}); err != nil {
		t.Errorf("loopback: %v", err)
	}
	for _, f := range []TLSFiles{{CAFile: "/nonexistent"}, {CertFile: "x"}, {CAFile: "credentials_test.go"}} {
		if _, err := f.Config(); err == nil {
			t.Errorf("%+v: accepted", f)
		}
	}
	if conf, err := (TLSFiles{}).Config(); err != nil || conf.MinVersion != tls.VersionTLS12 {
		t.Errorf("no files: %v", err)
	}
}
