package authz

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func newDevIssuer(t *testing.T) *DevIssuer {
	t.Helper()
	d, err := NewDevIssuer(DevIssuerOptions{Demo: true})
	if err != nil {
		t.Fatalf("NewDevIssuer: %v", err)
	}
	return d
}

func newDevAuthenticator(t *testing.T, d *DevIssuer) *Authenticator {
	t.Helper()
	opts := d.AuthenticatorOptions()
	opts.Roles = testRoles
	opts.Logger = slog.New(slog.DiscardHandler)
	a, err := NewAuthenticator(opts)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func TestDevIssuerPersonas(t *testing.T) {
	d := newDevIssuer(t)
	a := newDevAuthenticator(t, d)
	tests := []struct {
		persona string
		want    Principal
	}{
		{"analyst", Principal{Subject: "demo-analyst", Client: "graphiql", Roles: []string{"analyst"},
			Unit: "Strategi och analys", Clearance: Moderate, Purposes: []string{"statistics"}, Method: "demo"}},
		{"case-officer", Principal{Subject: "demo-case-officer", Client: "bygglov-app", Roles: []string{"case-officer"},
			Unit: "Bygg- och miljönämnden", Clearance: Significant, Purposes: []string{"bygglov"}, Method: "demo"}},
		{"preschool-admin", Principal{Subject: "demo-preschool-admin", Client: "preschool-app", Roles: []string{"preschool-admin"},
			Unit: "Förskolenämnden", Method: "demo"}},
		{"social-secretary", Principal{Subject: "demo-social-secretary", Client: "case-app", Roles: []string{"social-secretary"},
			Unit: "Socialnämnden", Method: "demo"}},
		{"security-officer", Principal{Subject: "demo-security-officer", Client: "policy-editor", Roles: []string{"security-officer"},
			Unit: "Informationssäkerhet", Method: "demo"}},
		{"security-officer-2", Principal{Subject: "demo-security-officer-2", Client: "policy-editor", Roles: []string{"security-officer"},
			Unit: "Informationssäkerhet", Method: "demo"}},
		{"open-data", Principal{Subject: "demo-open-data", Client: "open-data-app", Roles: []string{"open-data"},
			Unit: "external", Purposes: []string{"open-data"}, Method: "apikey"}},
	}
	var ids []string
	for _, tt := range tests {
		ids = append(ids, tt.persona)
		t.Run(tt.persona, func(t *testing.T) {
			tok, err := d.Token(tt.persona)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			w, got := serve(t, a, bearer(tok))
			if w.Code != http.StatusNoContent {
				t.Fatalf("status %d", w.Code)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("principal\n got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
	if got := d.Personas(); !reflect.DeepEqual(got, ids) {
		t.Errorf("Personas() = %v, want %v", got, ids)
	}
	if tok, _ := d.Token(OpenDataPersona); tok != d.APIKey() || d.APIKeyConfig().SHA256 != HashAPIKey(tok) {
		t.Errorf("Token(open-data) is not APIKey, or APIKeyConfig does not hold its hash")
	}
	if _, err := d.Token("mayor"); err == nil {
		t.Error("Token(mayor) succeeded")
	}
}

func TestDevTokenClaims(t *testing.T) {
	d := newDevIssuer(t)
	tok, err := d.Token("case-officer")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.NewParser(jwt.WithValidMethods([]string{d.Algorithm()})).Parse(tok, d.Keyfunc())
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["kid"] == "" || parsed.Header["kid"] == nil {
		t.Error("no kid in the header")
	}
	c := parsed.Claims.(jwt.MapClaims)
	iat, _ := c.GetIssuedAt()
	nbf, _ := c.GetNotBefore()
	exp, _ := c.GetExpirationTime()
	iss, _ := c.GetIssuer()
	aud, _ := c.GetAudience()
	if iss != "kommungraf-demo" || !reflect.DeepEqual([]string(aud), []string{"kommungraf"}) {
		t.Errorf("iss %q aud %v", iss, aud)
	}
	if iat == nil || nbf == nil || exp == nil || !nbf.Equal(iat.Time) || exp.Sub(iat.Time) != 8*time.Hour {
		t.Errorf("iat %v nbf %v exp %v, want nbf = iat and exp = iat + 8h", iat, nbf, exp)
	}
}

func TestDevIssuerRequiresDemo(t *testing.T) {
	if d, err := NewDevIssuer(DevIssuerOptions{Issuer: "kommungraf-demo"}); err == nil || d != nil {
		t.Errorf("NewDevIssuer without Demo = %v, %v; want an error", d, err)
	}
}

// Another process's dev tokens are worthless here: the key is per process.
func TestDevTokenFromAnotherIssuerRejected(t *testing.T) {
	a := newDevAuthenticator(t, newDevIssuer(t))
	tok, err := newDevIssuer(t).Token("social-secretary")
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := serve(t, a, bearer(tok)); w.Code != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", w.Code)
	}
}

func TestDevIssuerHandler(t *testing.T) {
	d := newDevIssuer(t)
	a := newDevAuthenticator(t, d)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)

	get := func(t *testing.T, method, path string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if resp.StatusCode != http.StatusMethodNotAllowed {
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/") || !strings.Contains(ct, "json") {
				t.Errorf("Content-Type %q", ct)
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("decode: %v", err)
			}
		}
		return resp.StatusCode, body
	}

	tests := []struct {
		name, method, path string
		status             int
		subject            string // of the token, if any
	}{
		{"case officer", http.MethodGet, "/demo/token?persona=case-officer", http.StatusOK, "demo-case-officer"},
		{"open data API key", http.MethodGet, "/demo/token?persona=open-data", http.StatusOK, "demo-open-data"},
		{"unknown persona", http.MethodGet, "/demo/token?persona=mayor", http.StatusBadRequest, ""},
		{"no persona", http.MethodGet, "/demo/token", http.StatusBadRequest, ""},
		{"POST", http.MethodPost, "/demo/token?persona=analyst", http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, tt.method, tt.path)
			if status != tt.status {
				t.Fatalf("status %d, want %d (body %v)", status, tt.status, body)
			}
			switch tt.status {
			case http.StatusOK:
				tok, _ := body["token"].(string)
				p, err := a.AuthenticateToken(context.Background(), tok)
				if err != nil || p.Subject != tt.subject {
					t.Errorf("token: %+v, %v", p, err)
				}
			case http.StatusBadRequest:
				if !reflect.DeepEqual(body["personas"], toAny(d.Personas())) || body["error"] == nil {
					t.Errorf("body %v does not list the personas", body)
				}
			}
		})
	}

	// The published JWKS lets an ordinary JWKS-configured Authenticator
	// verify the dev tokens.
	t.Run("jwks.json", func(t *testing.T) {
		jwksAuth, err := NewAuthenticator(AuthenticatorOptions{
			JWKSURL: srv.URL + "/demo/jwks.json", HTTPClient: srv.Client(),
			Issuer: d.Issuer(), Audience: d.Audience(), Algorithms: []string{d.Algorithm()},
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = jwksAuth.Close() })
		tok, err := d.Token("analyst")
		if err != nil {
			t.Fatal(err)
		}
		p, err := jwksAuth.AuthenticateToken(context.Background(), tok)
		if err != nil || p.Subject != "demo-analyst" || p.Method != "oidc" {
			t.Errorf("%+v, %v", p, err)
		}
		if strings.Contains(string(d.JWKS()), `"d"`) {
			t.Errorf("JWKS holds the private key: %s", d.JWKS())
		}
	})
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
