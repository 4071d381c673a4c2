package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TLSFiles are an upstream's own trust and identity, as PEM files: the CA
// bundle its certificate must chain to (instead of the system's roots), and
// the client certificate and key Kommungraf presents to it (mutual TLS).
// Empty fields keep Go's defaults.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Config reads the files into a TLS configuration (TLS 1.2 at least).
func (f TLSFiles) Config() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.caFile %s: no PEM certificate in it", f.CAFile)
		}
		conf.RootCAs = pool
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("tls: certFile and keyFile go together")
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			// The error names the files, never the key's content.
			return nil, fmt.Errorf("tls.certFile/keyFile: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// ClientCredentials gets the upstream's bearer tokens from an OAuth 2.0
// token endpoint with the client credentials grant (RFC 6749, 4.4). A token
// is fetched on the first call, shared by every call and request, and
// fetched again shortly before it expires.
type ClientCredentials struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// Params are extra form values of the token request, such as audience
	// or resource (RFC 8707).
	Params map[string]string
}

// Check says what is wrong with the settings: the token endpoint must be
// https (the client secret goes to it) unless it is on this host.
func (cc ClientCredentials) Check() error {
	u, err := url.Parse(cc.TokenURL)
	switch {
	case cc.TokenURL == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("oauth2.tokenURL %q: want an absolute https URL", cc.TokenURL)
	case u.Scheme == "http" && !IsLoopback(u):
		return fmt.Errorf("oauth2.tokenURL %q: the client secret would travel in clear; want https", cc.TokenURL)
	case cc.ClientID == "":
		return errors.New("oauth2.clientId is required")
	case cc.ClientSecret == "":
		return errors.New("oauth2: the client secret is empty")
	}
	return nil
}

// IsLoopback says whether u names this host (localhost or a loopback
// address), where plain http exposes nothing on the network.
func IsLoopback(u *url.URL) bool { return IsLoopbackHost(u.Host) }

// IsLoopbackHost says whether a host, with or without its port (a URL's
// host or a request's Host header), names this machine: localhost or a
// loopback address.
func IsLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tokenSource is the cached, self-renewing token source. The token
// endpoint is asked with its own client: the upstream's TLS settings,
// a bound on each attempt, no redirects followed with the secret.
func (cc ClientCredentials) tokenSource(conf *tls.Config, timeout time.Duration) oauth2.TokenSource {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = conf
	hc := &http.Client{Transport: t, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	params := url.Values{}
	for k, v := range cc.Params {
		params.Set(k, v)
	}
	c := clientcredentials.Config{
		ClientID: cc.ClientID, ClientSecret: cc.ClientSecret, TokenURL: cc.TokenURL,
		Scopes: cc.Scopes, EndpointParams: params,
		// HTTP Basic, which RFC 6749 (2.3.1) requires every token endpoint
		// to support; no second request with the secret in the form.
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	return c.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
}

// tokenError is the failed call of a token endpoint that answered with
// an error, without its body (which may carry the identity provider's
// detail). A refusal (4xx) is not tried again (the credentials are wrong;
// asking again with them changes nothing) but counts against the
// breaker, which then spares the identity provider a token request for
// every call; a 5xx is tried again like any unavailable upstream.
func (c *Client) tokenError(op string, err error) *Error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return nil
	}
	status := re.Response.StatusCode
	msg := fmt.Errorf("the token endpoint answered HTTP %d", status)
	if re.ErrorCode != "" {
		msg = fmt.Errorf("the token endpoint answered HTTP %d %s", status, re.ErrorCode)
	}
	return &Error{Source: c.opts.Name, Operation: op, Kind: Unavailable, Err: msg, permanent: status < 500}
}
