package authz

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://idp.orebro.test/realms/kommun"
	testAudience = "kommungraf"
)

// testRoles is the role table of the tests: clearance and purposes come from
// here, never from a token.
var testRoles = map[string]RoleGrant{
	"analyst":      {Clearance: Moderate, Purposes: []string{"statistics"}},
	"case-officer": {Clearance: Significant, Purposes: []string{"bygglov"}},
	"open-data":    {Clearance: Negligible, Purposes: []string{"open-data"}},
}

// testKeys are generated once: RSA key generation is slow under -race.
var testKeys = sync.OnceValue(func() [3]*rsa.PrivateKey {
	var keys [3]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// jwksServer is an identity provider's JWKS endpoint that counts its hits.
type jwksServer struct {
	*httptest.Server
	store *jwkset.MemoryJWKSet
	hits  atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{store: jwkset.NewMemoryStorage()}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, err := s.store.JSONPublic(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

// addKey publishes key's public half under kid.
func (s *jwksServer) addKey(t *testing.T, key *rsa.PrivateKey, kid string) {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgRS256, KID: kid, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatalf("JWK for %s: %v", kid, err)
	}
	if err := s.store.KeyWrite(context.Background(), jwk); err != nil {
		t.Fatalf("write JWK %s: %v", kid, err)
	}
}

// syncBuffer is a log sink safe for the JWKS refresh goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	idp  *jwksServer
	auth *Authenticator
	log  *syncBuffer
	key  *rsa.PrivateKey // published as "k1"
}

const testAPIKey = "kg_test-open-data-key_0123456789abcdefghijklmnopqrstu"

// newFixture starts a JWKS server with one key ("k1") and an Authenticator
// reading it; mutate may adjust the options.
func newFixture(t *testing.T, mutate func(*AuthenticatorOptions)) *fixture {
	t.Helper()
	f := &fixture{idp: newJWKSServer(t), log: &syncBuffer{}, key: testKeys()[0]}
	f.idp.addKey(t, f.key, "k1")
	opts := AuthenticatorOptions{
		JWKSURL:    f.idp.URL,
		HTTPClient: f.idp.Client(),
		Issuer:     testIssuer,
		Audience:   testAudience,
		Roles:      testRoles,
		APIKeys: []APIKey{{
			Name: "open-data-key", Client: "open-data-app", Roles: []string{"open-data"}, Unit: "external",
			SHA256: HashAPIKey(testAPIKey),
		}},
		Logger: slog.New(slog.NewJSONHandler(f.log, nil)),
	}
	if mutate != nil {
		mutate(&opts)
	}
	a, err := NewAuthenticator(opts)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	f.auth = a
	return f
}

// claims are valid claims for the fixture's issuer and audience; edit
// overrides or (with a nil value) deletes some.
func claims(edit map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":   testIssuer,
		"aud":   testAudience,
		"sub":   "u-4711",
		"azp":   "bygglov-app",
		"roles": []string{"case-officer", "no-such-role"},
		"unit":  "Bygg- och miljönämnden",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		// Clearance is never read from a token.
		"clearance": 3,
	}
	for k, v := range edit {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s token: %v", method.Alg(), err)
	}
	return s
}

// serve runs the middleware on one request and returns the response and the
// principal next saw (nil if next was not called).
func serve(t *testing.T, a *Authenticator, header http.Header) (*httptest.ResponseRecorder, *Principal) {
	t.Helper()
	var seen *Principal
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{__typename}"}`))
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, seen
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestAuthenticatorAccepts(t *testing.T) {
	f := newFixture(t, nil)
	key := f.key
	tests := []struct {
		name   string
		header http.Header
		want   *Principal
	}{
		{
			name:   "valid token, clearance from the role table, unknown role grants nothing",
			header: bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(nil))),
			want: &Principal{Subject: "u-4711", Client: "bygglov-app", Roles: []string{"case-officer", "no-such-role"},
				Unit: "Bygg- och miljönämnden", Clearance: Significant, Purposes: []string{"bygglov"}, Method: "oidc"},
		},
		{
			name: "several roles: highest clearance, union of purposes",
			header: bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{
				"roles": []string{"analyst", "case-officer", "analyst"}}))),
			want: &Principal{Subject: "u-4711", Client: "bygglov-app", Roles: []string{"analyst", "case-officer"},
				Unit: "Bygg- och miljönämnden", Clearance: Significant, Purposes: []string{"statistics", "bygglov"}, Method: "oidc"},
		},
		{
			name: "only unknown roles: clearance 0",
			header: bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{
				"roles": []string{"admin"}, "unit": nil}))),
			want: &Principal{Subject: "u-4711", Client: "bygglov-app", Roles: []string{"admin"}, Clearance: Negligible, Method: "oidc"},
		},
		{
			name: "client_id when there is no azp; aud as a list",
			header: bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{
				"azp": nil, "client_id": "graphiql", "roles": []string{"analyst"}, "aud": []string{"other", testAudience}}))),
			want: &Principal{Subject: "u-4711", Client: "graphiql", Roles: []string{"analyst"},
				Unit: "Bygg- och miljönämnden", Clearance: Moderate, Purposes: []string{"statistics"}, Method: "oidc"},
		},
		{
			name: "expired 10s ago, within the leeway",
			header: bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{
				"exp": time.Now().Add(-10 * time.Second).Unix(), "roles": nil}))),
			want: &Principal{Subject: "u-4711", Client: "bygglov-app", Unit: "Bygg- och miljönämnden", Method: "oidc"},
		},
		{
			name:   "API key as a bearer credential",
			header: bearer(testAPIKey),
			want: &Principal{Subject: "open-data-key", Client: "open-data-app", Roles: []string{"open-data"}, Unit: "external",
				Clearance: Negligible, Purposes: []string{"open-data"}, Method: "apikey"},
		},
		{
			name:   "API key in X-API-Key",
			header: http.Header{"X-Api-Key": {testAPIKey}},
			want: &Principal{Subject: "open-data-key", Client: "open-data-app", Roles: []string{"open-data"}, Unit: "external",
				Clearance: Negligible, Purposes: []string{"open-data"}, Method: "apikey"},
		},
		{
			name:   "lower-case bearer scheme",
			header: http.Header{"Authorization": {"bearer " + testAPIKey}},
			want: &Principal{Subject: "open-data-key", Client: "open-data-app", Roles: []string{"open-data"}, Unit: "external",
				Clearance: Negligible, Purposes: []string{"open-data"}, Method: "apikey"},
		},
		{
			name:   "no credentials: anonymous",
			header: http.Header{},
			want:   AnonymousPrincipal(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, got := serve(t, f.auth, tt.header)
			if w.Code != http.StatusNoContent {
				t.Fatalf("status %d, body %s; log:\n%s", w.Code, w.Body, f.log)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("principal\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestAuthenticatorRejects(t *testing.T) {
	f := newFixture(t, nil)
	key := f.key
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", claims(nil))
	now := time.Now()

	tests := []struct {
		name   string
		header http.Header
		reason string // in the log
	}{
		{"malformed token", bearer("eyJhbGciOi.not-base64!.x"), "token is malformed"},
		{"alg none", bearer(none), "signing method none is invalid"},
		{"RS256 public key (PEM) as HS256 secret", bearer(sign(t, jwt.SigningMethodHS256, pubPEM, "k1", claims(nil))), "signing method HS256 is invalid"},
		{"RS256 public key (DER) as HS256 secret", bearer(sign(t, jwt.SigningMethodHS256, pubDER, "k1", claims(nil))), "signing method HS256 is invalid"},
		{"alg RS512 not pinned", bearer(sign(t, jwt.SigningMethodRS512, key, "k1", claims(nil))), "signing method RS512 is invalid"},
		{"wrong audience", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"aud": "some-other-api"}))), "token has invalid audience"},
		{"no audience", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"aud": nil}))), "aud claim is required"},
		{"wrong issuer", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"iss": "https://evil.test"}))), "token has invalid issuer"},
		{"expired", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"exp": now.Add(-time.Hour).Unix()}))), "token is expired"},
		{"no exp", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"exp": nil}))), "exp claim is required"},
		{"nbf in the future", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"nbf": now.Add(time.Hour).Unix()}))), "token is not valid yet"},
		{"iat in the future", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"iat": now.Add(time.Hour).Unix()}))), "token used before issued"},
		{"signed by another key", bearer(sign(t, jwt.SigningMethodRS256, testKeys()[1], "k1", claims(nil))), "verification error"},
		{"unknown kid", bearer(sign(t, jwt.SigningMethodRS256, testKeys()[1], "k-unknown", claims(nil))), `key not found "k-unknown"`},
		{"no sub", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"sub": nil}))), "no sub claim"},
		{"no client", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"azp": nil}))), "neither azp nor client_id"},
		{"roles not an array", bearer(sign(t, jwt.SigningMethodRS256, key, "k1", claims(map[string]any{"roles": "case-officer"}))), "claim roles is not an array of strings"},
		{"unknown API key", bearer("kg_this-key-was-never-issued"), "unknown API key"},
		{"unknown X-API-Key", http.Header{"X-Api-Key": {"kg_this-key-was-never-issued"}}, "unknown API key"},
		{"JWT in X-API-Key", http.Header{"X-Api-Key": {sign(t, jwt.SigningMethodRS256, key, "k1", claims(nil))}}, "unknown API key"},
		{"Basic scheme", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, `Authorization scheme "Basic" is not Bearer`},
		{"bare credential", http.Header{"Authorization": {testAPIKey}}, `Authorization header is not "Bearer <credential>"`},
		{"empty Authorization", http.Header{"Authorization": {""}}, `Authorization header is not "Bearer <credential>"`},
		{"empty bearer", http.Header{"Authorization": {"Bearer    "}}, `Authorization header is not "Bearer <credential>"`},
		{"two credentials", http.Header{"Authorization": {"Bearer " + testAPIKey}, "X-Api-Key": {testAPIKey}}, "more than one credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.log.String())
			w, seen := serve(t, f.auth, tt.header)
			if seen != nil {
				t.Fatalf("next handler ran with principal %+v", seen)
			}
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", w.Code)
			}
			if got := w.Body.String(); got != unauthenticatedBody {
				t.Errorf("body %s, want %s", got, unauthenticatedBody)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
				t.Errorf("WWW-Authenticate %q", got)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			logged := f.log.String()[before:]
			var line struct{ Level, Msg, Reason string }
			if err := json.Unmarshal([]byte(logged), &line); err != nil {
				t.Fatalf("want one JSON log line, got %q: %v", logged, err)
			}
			if line.Level != "WARN" || !strings.Contains(line.Reason, tt.reason) {
				t.Errorf("log does not give the reason %q at warn level:\n%s", tt.reason, logged)
			}
			for _, vs := range tt.header {
				for _, v := range vs {
					_, cred, ok := strings.Cut(v, " ")
					if !ok {
						cred = v
					}
					if len(cred) > 8 && strings.Contains(logged, cred) {
						t.Errorf("log contains the credential:\n%s", logged)
					}
				}
			}
		})
	}
	// The body is a constant; pin it, since clients and checks match it.
	const want = `{"errors":[{"message":"invalid credentials","extensions":{"code":"UNAUTHENTICATED"}}],"data":null}`
	if unauthenticatedBody != want {
		t.Errorf("401 body changed: %s", unauthenticatedBody)
	}
}

func TestAuthenticateTokenErrors(t *testing.T) {
	f := newFixture(t, nil)
	tok := sign(t, jwt.SigningMethodRS256, f.key, "k1", claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	_, err := f.auth.AuthenticateToken(context.Background(), tok)
	if !errors.Is(err, ErrInvalidCredentials) || !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("err = %v, want ErrInvalidCredentials wrapping jwt.ErrTokenExpired", err)
	}
	p, err := f.auth.AuthenticateToken(context.Background(), sign(t, jwt.SigningMethodRS256, f.key, "k1", claims(nil)))
	if err != nil || p.Subject != "u-4711" || p.Clearance != Significant {
		t.Errorf("AuthenticateToken = %+v, %v", p, err)
	}
}

// A flood of tokens with made-up kids costs the identity provider one
// refetch per cooldown, not one per token.
func TestUnknownKIDRefetchIsRateLimited(t *testing.T) {
	f := newFixture(t, nil)
	if got := f.idp.hits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times at start, want 1", got)
	}
	for i := range 5 {
		tok := sign(t, jwt.SigningMethodRS256, testKeys()[1], fmt.Sprintf("forged-%d", i), claims(nil))
		if w, _ := serve(t, f.auth, bearer(tok)); w.Code != http.StatusUnauthorized {
			t.Fatalf("token %d: status %d, want 401", i, w.Code)
		}
	}
	if got := f.idp.hits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (start + one refetch within the cooldown)", got)
	}
	// The known key still works without a fetch.
	if w, _ := serve(t, f.auth, bearer(sign(t, jwt.SigningMethodRS256, f.key, "k1", claims(nil)))); w.Code != http.StatusNoContent {
		t.Errorf("known kid: status %d", w.Code)
	}
	if got := f.idp.hits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times after a known kid, want 2", got)
	}
}

// A key the identity provider rotates in after start is picked up on the
// first token that names it.
func TestRotatedKeyAcceptedAfterOneRefetch(t *testing.T) {
	f := newFixture(t, nil)
	f.idp.addKey(t, testKeys()[2], "k2")
	tok := sign(t, jwt.SigningMethodRS256, testKeys()[2], "k2", claims(nil))
	for i := range 3 {
		w, p := serve(t, f.auth, bearer(tok))
		if w.Code != http.StatusNoContent || p.Subject != "u-4711" {
			t.Fatalf("attempt %d: status %d, principal %+v; log:\n%s", i, w.Code, p, f.log)
		}
	}
	if got := f.idp.hits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (start + one refetch)", got)
	}
	if w, _ := serve(t, f.auth, bearer(sign(t, jwt.SigningMethodRS256, f.key, "k1", claims(nil)))); w.Code != http.StatusNoContent {
		t.Errorf("old key after rotation: status %d", w.Code)
	}
}

func TestAuthenticatorClaimNames(t *testing.T) {
	f := newFixture(t, func(o *AuthenticatorOptions) {
		o.RolesClaim = "realm_access.roles"
		o.UnitClaim = "https://orebro.se/claims/unit"
	})
	tok := sign(t, jwt.SigningMethodRS256, f.key, "k1", claims(map[string]any{
		"roles":                         nil,
		"unit":                          nil,
		"realm_access":                  map[string]any{"roles": []string{"analyst"}},
		"https://orebro.se/claims/unit": "Strategi och analys",
	}))
	p, err := f.auth.AuthenticateToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Roles, []string{"analyst"}) || p.Unit != "Strategi och analys" || p.Clearance != Moderate {
		t.Errorf("principal %+v", p)
	}
}

func TestNewAuthenticatorOptions(t *testing.T) {
	kf := func(*jwt.Token) (any, error) { return nil, errors.New("unused") }
	tests := []struct {
		name    string
		opts    AuthenticatorOptions
		wantErr string // "" means valid
	}{
		{"nothing configured: anonymous and nothing else", AuthenticatorOptions{}, ""},
		{"keyfunc", AuthenticatorOptions{Keyfunc: kf, Issuer: "i", Audience: "a"}, ""},
		{"no issuer", AuthenticatorOptions{Keyfunc: kf, Audience: "a"}, "Issuer is required"},
		{"no audience", AuthenticatorOptions{Keyfunc: kf, Issuer: "i"}, "Audience is required"},
		{"two key sources", AuthenticatorOptions{Keyfunc: kf, JWKSURL: "http://127.0.0.1:1/jwks", Issuer: "i", Audience: "a"}, "exclusive"},
		{"HS256", AuthenticatorOptions{Keyfunc: kf, Issuer: "i", Audience: "a", Algorithms: []string{"RS256", "HS256"}}, `"HS256" is not accepted`},
		{"none", AuthenticatorOptions{Keyfunc: kf, Issuer: "i", Audience: "a", Algorithms: []string{"none"}}, `"none" is not accepted`},
		{"unknown alg", AuthenticatorOptions{Keyfunc: kf, Issuer: "i", Audience: "a", Algorithms: []string{"XX1"}}, `"XX1" is unknown`},
		{"clearance 4", AuthenticatorOptions{Roles: map[string]RoleGrant{"spy": {Clearance: 4}}}, "outside 0..3"},
		{"bad method", AuthenticatorOptions{Method: "saml"}, `Method "saml"`},
		{"bad hash", AuthenticatorOptions{APIKeys: []APIKey{{Name: "k", Client: "c", SHA256: "abc"}}}, "not 64 hex digits"},
		{"key twice", AuthenticatorOptions{APIKeys: []APIKey{
			{Name: "a", Client: "c", SHA256: HashAPIKey("x")}, {Name: "b", Client: "c", SHA256: HashAPIKey("x")}}}, "configured twice"},
		{"API key without client", AuthenticatorOptions{APIKeys: []APIKey{{Name: "a", SHA256: HashAPIKey("x")}}}, "empty Client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAuthenticator(tt.opts)
			if a != nil {
				defer a.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewAuthenticatorReportsAllProblems(t *testing.T) {
	_, err := NewAuthenticator(AuthenticatorOptions{Keyfunc: func(*jwt.Token) (any, error) { return nil, nil }, Algorithms: []string{"HS512"}})
	for _, want := range []string{"Issuer is required", "Audience is required", `"HS512" is not accepted`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

func TestAPIKeyHelpers(t *testing.T) {
	k1, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := NewAPIKey()
	if !strings.HasPrefix(k1, APIKeyPrefix) || strings.Contains(k1, ".") || len(k1) != len(APIKeyPrefix)+43 || k1 == k2 {
		t.Errorf("NewAPIKey = %q, %q", k1, k2)
	}
	// sha256("abc"), FIPS 180-2 appendix B.1.
	if got := HashAPIKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashAPIKey(abc) = %s", got)
	}
}

// Upper-case hex in the configuration works as well as lower-case.
func TestAPIKeyHashCase(t *testing.T) {
	a, err := NewAuthenticator(AuthenticatorOptions{APIKeys: []APIKey{
		{Name: "a", Client: "c1", SHA256: HashAPIKey("kg_a")},
		{Name: "b", Client: "c2", SHA256: strings.ToUpper(HashAPIKey("kg_b"))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"kg_a": "a", "kg_b": "b"} {
		p, err := a.AuthenticateToken(context.Background(), key)
		if err != nil || p.Subject != want || p.Method != "apikey" {
			t.Errorf("%s: %+v, %v", key, p, err)
		}
	}
	if _, err := a.AuthenticateToken(context.Background(), "a.b.c"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("JWT-shaped credential without token verification: %v", err)
	}
}
