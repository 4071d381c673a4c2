package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// DevIssuerOptions configures the demo token issuer.
type DevIssuerOptions struct {
	// Demo must be true. The gateway creates a DevIssuer only in demo mode
	// (and serves its Handler on loopback only); the flag makes constructing
	// one anywhere else an explicit, reviewable act rather than an accident.
	Demo bool
	// Issuer is the iss of every token (default "kommungraf-demo").
	Issuer string
	// Audience is the aud of every token (default "kommungraf").
	Audience string
	// TTL is how long a token is valid (default 8h: a working day).
	TTL time.Duration
}

// DevIssuer mints tokens for the demo personas (DOMAIN.md) with a key that
// exists only in this process, and holds the open-data persona's API key.
// Nothing it issues is valid anywhere but the gateway that created it.
type DevIssuer struct {
	issuer, audience string
	ttl              time.Duration
	key              *ecdsa.PrivateKey
	kid              string
	keyfunc          keyfunc.Keyfunc
	jwks             []byte
	apiKey           string
	apiKeyConfig     APIKey
}

// devAlgorithm is the dev issuer's only algorithm: P-256 keys are quick to
// generate at every start.
const devAlgorithm = "ES256"

// OpenDataPersona is the persona that authenticates with an API key.
const OpenDataPersona = "open-data"

// devPersona is a persona's identity in its token.
type devPersona struct {
	id, subject, client, role, unit string
}

// devPersonas are DOMAIN.md's token personas, in its order; the ids are
// fixed, scripts use them.
var devPersonas = []devPersona{
	{"analyst", "demo-analyst", "graphiql", "analyst", "Strategi och analys"},
	{"case-officer", "demo-case-officer", "bygglov-app", "case-officer", "Bygg- och miljönämnden"},
	{"preschool-admin", "demo-preschool-admin", "preschool-app", "preschool-admin", "Förskolenämnden"},
	{"social-secretary", "demo-social-secretary", "case-app", "social-secretary", "Socialnämnden"},
	{"security-officer", "demo-security-officer", "policy-editor", "security-officer", "Informationssäkerhet"},
	// A second security officer, so that the demo can show a change
	// approved by someone other than its author.
	{"security-officer-2", "demo-security-officer-2", "policy-editor", "security-officer", "Informationssäkerhet"},
}

// NewDevIssuer generates a fresh signing key and open-data API key. It fails
// unless opts.Demo is set.
func NewDevIssuer(opts DevIssuerOptions) (*DevIssuer, error) {
	if !opts.Demo {
		return nil, errors.New("authz: the dev issuer exists only in demo mode (DevIssuerOptions.Demo is false)")
	}
	if opts.Issuer == "" {
		opts.Issuer = "kommungraf-demo"
	}
	if opts.Audience == "" {
		opts.Audience = "kommungraf"
	}
	if opts.TTL <= 0 {
		opts.TTL = 8 * time.Hour
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("authz: dev issuer key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("authz: dev issuer key: %w", err)
	}
	sum := sha256.Sum256(der)
	kid := "demo-" + base64.RawURLEncoding.EncodeToString(sum[:9])

	jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgES256, KID: kid, USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, fmt.Errorf("authz: dev issuer JWK: %w", err)
	}
	store := jwkset.NewMemoryStorage()
	ctx := context.Background()
	if err := store.KeyWrite(ctx, jwk); err != nil {
		return nil, fmt.Errorf("authz: dev issuer JWK: %w", err)
	}
	jwks, err := store.JSONPublic(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: dev issuer JWKS: %w", err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: store})
	if err != nil {
		return nil, fmt.Errorf("authz: dev issuer keyfunc: %w", err)
	}

	apiKey, err := NewAPIKey()
	if err != nil {
		return nil, err
	}
	return &DevIssuer{
		issuer:   opts.Issuer,
		audience: opts.Audience,
		ttl:      opts.TTL,
		key:      key,
		kid:      kid,
		keyfunc:  kf,
		jwks:     jwks,
		apiKey:   apiKey,
		apiKeyConfig: APIKey{
			Name:   "demo-open-data",
			Client: "open-data-app",
			Roles:  []string{"open-data"},
			Unit:   "external",
			SHA256: HashAPIKey(apiKey),
		},
	}, nil
}

// Personas lists the persona ids Token accepts, in DOMAIN.md's order with
// open-data last.
func (d *DevIssuer) Personas() []string {
	ids := make([]string, 0, len(devPersonas)+1)
	for _, p := range devPersonas {
		ids = append(ids, p.id)
	}
	return append(ids, OpenDataPersona)
}

// Token returns the bearer credential of a persona: a signed JWT, or for
// open-data its API key.
func (d *DevIssuer) Token(persona string) (string, error) {
	if persona == OpenDataPersona {
		return d.apiKey, nil
	}
	i := slices.IndexFunc(devPersonas, func(p devPersona) bool { return p.id == persona })
	if i < 0 {
		return "", fmt.Errorf("authz: unknown demo persona %q (known: %v)", persona, d.Personas())
	}
	p := devPersonas[i]
	now := time.Now()
	jti, err := NewAPIKey() // any 256 random bits will do
	if err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss":   d.issuer,
		"aud":   d.audience,
		"sub":   p.subject,
		"azp":   p.client,
		"roles": []string{p.role},
		"unit":  p.unit,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(d.ttl).Unix(),
		"jti":   jti[len(APIKeyPrefix):],
	})
	tok.Header["kid"] = d.kid
	s, err := tok.SignedString(d.key)
	if err != nil {
		return "", fmt.Errorf("authz: sign demo token for %s: %w", persona, err)
	}
	return s, nil
}

// APIKey is the open-data persona's key, generated at start.
func (d *DevIssuer) APIKey() string { return d.apiKey }

// APIKeyConfig is the open-data persona's key as the Authenticator is
// configured with it (hash only).
func (d *DevIssuer) APIKeyConfig() APIKey {
	c := d.apiKeyConfig
	c.Roles = slices.Clone(c.Roles)
	return c
}

// Keyfunc verifies the issuer's tokens in process (AuthenticatorOptions.Keyfunc).
func (d *DevIssuer) Keyfunc() jwt.Keyfunc { return d.keyfunc.Keyfunc }

// Algorithm is the issuer's signing algorithm, for AuthenticatorOptions.Algorithms.
func (d *DevIssuer) Algorithm() string { return devAlgorithm }

// Issuer is the iss of the issuer's tokens.
func (d *DevIssuer) Issuer() string { return d.issuer }

// Audience is the aud of the issuer's tokens.
func (d *DevIssuer) Audience() string { return d.audience }

// JWKS is the public JWK Set of the issuer's key, as served at /demo/jwks.json.
func (d *DevIssuer) JWKS() []byte { return slices.Clone(d.jwks) }

// AuthenticatorOptions returns the options that make an Authenticator accept
// exactly what this issuer hands out: its tokens (Method "demo") and the
// open-data API key. The caller adds Roles, Logger and any further APIKeys.
func (d *DevIssuer) AuthenticatorOptions() AuthenticatorOptions {
	return AuthenticatorOptions{
		Keyfunc:    d.Keyfunc(),
		Issuer:     d.issuer,
		Audience:   d.audience,
		Algorithms: []string{devAlgorithm},
		APIKeys:    []APIKey{d.APIKeyConfig()},
		Method:     "demo",
	}
}

// Handler serves GET /demo/token?persona=<id> → {"token":"..."} and
// GET /demo/jwks.json. Mount it at "/demo/"; the gateway restricts it to
// loopback.
func (d *DevIssuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo/token", func(w http.ResponseWriter, r *http.Request) {
		persona := r.URL.Query().Get("persona")
		if !slices.Contains(d.Personas(), persona) {
			writeDevJSON(w, http.StatusBadRequest, map[string]any{
				"error":    fmt.Sprintf("unknown persona %q", persona),
				"personas": d.Personas(),
			})
			return
		}
		tok, err := d.Token(persona)
		if err != nil {
			writeDevJSON(w, http.StatusInternalServerError, map[string]any{"error": "could not issue a token"})
			return
		}
		writeDevJSON(w, http.StatusOK, map[string]string{"token": tok})
	})
	mux.HandleFunc("GET /demo/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(d.jwks)
	})
	return mux
}

func writeDevJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
