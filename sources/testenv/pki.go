package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority for a test, with a server
// certificate for 127.0.0.1 and localhost and a client certificate, all
// written as PEM files in the test's temporary directory: an upstream
// that demands mutual TLS, as a municipality's internal systems do.
type PKI struct {
	// CAFile, ClientCert and ClientKey are the files a gateway is
	// configured with.
	CAFile, ClientCert, ClientKey string
	// ClientName is the client certificate's common name.
	ClientName string
	pool       *x509.CertPool
	server     tls.Certificate
}

// NewPKI makes the authority and its two certificates.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kommungraf test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &PKI{ClientName: "kommungraf-test-client", pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.CAFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)

	issue := func(serial int64, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	serverDER, serverKey := issue(2, &x509.Certificate{
		Subject: pkix.Name{CommonName: "127.0.0.1"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	})
	p.server = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}
	clientDER, clientKey := issue(3, &x509.Certificate{
		Subject: pkix.Name{CommonName: p.ClientName}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.ClientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", clientDER)
	keyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ClientKey = writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER)
	return p
}

// ServerTLS is a server's TLS configuration with the authority's server
// certificate; with requireClient it refuses a client without a
// certificate the authority issued.
func (p *PKI) ServerTLS(requireClient bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if requireClient {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
	}
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TokenEndpoint is an OAuth 2.0 token endpoint (client credentials grant,
// HTTP Basic client authentication, TLS from the PKI) that grants one
// client one token for the scope it names, and counts the requests.
type TokenEndpoint struct {
	srv      *httptest.Server
	requests atomic.Int64
}

// NewTokenEndpoint starts the endpoint. A wrong client, secret, grant or
// scope gets 401 invalid_client with a description that must never reach
// a gateway's client: it carries the marker 0xBEEF.
func NewTokenEndpoint(t testing.TB, pki *PKI, id, secret, scope, token string) *TokenEndpoint {
	e := &TokenEndpoint{}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		user, pass, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		if user != id || pass != secret || r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != scope {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"detail for the identity provider's own log: 0xBEEF"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, token)
	}))
	e.srv.TLS = pki.ServerTLS(false)
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	return e
}

// URL is the token endpoint's URL.
func (e *TokenEndpoint) URL() string { return e.srv.URL + "/token" }

// Requests is how many token requests it has answered.
func (e *TokenEndpoint) Requests() int64 { return e.requests.Load() }
