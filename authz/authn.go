package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// ErrInvalidCredentials is wrapped by every authentication failure: a
// credential was presented and it does not prove who the caller is. The
// wrapped detail is for logs; clients only ever learn "invalid credentials".
var ErrInvalidCredentials = errors.New("invalid credentials")

// RoleGrant is what holding a role gives: the principal's clearance and
// purposes come from here, never from the token, so an identity provider
// cannot raise a clearance by minting a claim.
type RoleGrant struct {
	// Clearance is the highest KLASSA level the role is cleared for
	// (0..MaxServed).
	Clearance Level
	// Purposes are the purposes (ändamål) the role acts for.
	Purposes []string
}

// AuthenticatorOptions configures an Authenticator. Bearer JWTs are verified
// with keys from JWKSURL or from Keyfunc (exactly one of them, or neither for
// an API-key-only gateway); API keys are checked against APIKeys.
type AuthenticatorOptions struct {
	// JWKSURL is the identity provider's JWK Set (jwks_uri). It is fetched at
	// start (a failure is logged, not fatal: tokens are rejected until a
	// refetch succeeds), refreshed every RefreshInterval, and refetched when a
	// token names an unknown kid, at most once per RefreshCooldown.
	JWKSURL string
	// Keyfunc supplies verification keys in process instead of a JWKS, e.g.
	// DevIssuer.Keyfunc in demo mode, or a test's key. Algorithms still pins
	// the accepted algorithms.
	Keyfunc jwt.Keyfunc
	// Issuer is the required iss of every token (required with JWKSURL or
	// Keyfunc).
	Issuer string
	// Audience is the required aud of every token: the gateway's client id or
	// resource identifier (required with JWKSURL or Keyfunc).
	Audience string
	// Algorithms are the accepted JWS algorithms (default ["RS256"]). A token
	// with any other alg is rejected before a key is looked up. "none" and the
	// HMAC algorithms are refused here: a JWKS holds public keys, and a public
	// key must never double as an HMAC secret.
	Algorithms []string
	// Leeway absorbs clock skew when checking exp, nbf and iat (default 30s;
	// negative means none).
	Leeway time.Duration
	// RefreshCooldown is the least time between two JWKS refetches caused by
	// unknown kids (default 1 minute), so a flood of forged kids costs the
	// identity provider at most one request per cooldown.
	RefreshCooldown time.Duration
	// RefreshInterval is how often the JWKS is refetched in the background to
	// pick up rotations and revocations (default 1 hour).
	RefreshInterval time.Duration
	// HTTPClient fetches the JWKS (default http.DefaultClient).
	HTTPClient *http.Client
	// HTTPTimeout bounds one JWKS fetch (default 5s). A request whose token
	// names an unknown kid waits at most this long for the refetch.
	HTTPTimeout time.Duration
	// RolesClaim is the claim holding the roles, an array of strings (default
	// "roles"). A name with dots that is not itself a claim is read as a path
	// into nested objects, e.g. "realm_access.roles".
	RolesClaim string
	// UnitClaim is the claim holding the organisational unit, a string
	// (default "unit"); dotted paths work as for RolesClaim.
	UnitClaim string
	// Roles maps a role to what it grants. A principal's clearance is the
	// highest over its roles, its purposes the union; roles missing here grant
	// nothing (clearance 0, no purposes) but stay in Principal.Roles.
	Roles map[string]RoleGrant
	// APIKeys are the system clients that authenticate with a static key.
	APIKeys []APIKey
	// Method is recorded as Principal.Method for token principals: "oidc"
	// (the default) or "demo" when Keyfunc is the dev issuer's. API key
	// principals always get "apikey".
	Method string
	// Logger receives the reason for every rejected credential, at warn level
	// (default slog.Default()). Credentials themselves are never logged.
	Logger *slog.Logger
}

// Authenticator turns a request's credential into a Principal: a bearer JWT
// from the identity provider, an API key, or nothing (anonymous).
type Authenticator struct {
	parser   *jwt.Parser
	keyfunc  func(ctx context.Context) jwt.Keyfunc // nil: tokens are not accepted
	roles    map[string]RoleGrant
	apiKeys  []apiKeyEntry
	rolesAt  []string
	unitAt   []string
	rolesRaw string
	unitRaw  string
	method   string
	log      *slog.Logger
	cancel   context.CancelFunc
}

// maxCredentialBytes bounds the work spent on one presented credential.
const maxCredentialBytes = 16 << 10

// NewAuthenticator checks opts and, with a JWKSURL, fetches the JWKS. It
// reports every problem with opts at once. Call Close to stop the background
// JWKS refresh.
func NewAuthenticator(opts AuthenticatorOptions) (*Authenticator, error) {
	var problems []error
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	}
	if opts.Leeway < 0 {
		opts.Leeway = 0
	}
	if opts.RefreshCooldown == 0 {
		opts.RefreshCooldown = time.Minute
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = time.Hour
	}
	if opts.HTTPTimeout == 0 {
		opts.HTTPTimeout = 5 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.RolesClaim == "" {
		opts.RolesClaim = "roles"
	}
	if opts.UnitClaim == "" {
		opts.UnitClaim = "unit"
	}
	if opts.Method == "" {
		opts.Method = "oidc"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = []string{"RS256"}
	}

	if opts.RefreshCooldown < 0 || opts.RefreshInterval < 0 || opts.HTTPTimeout < 0 {
		bad("RefreshCooldown, RefreshInterval and HTTPTimeout must not be negative")
	}
	if opts.Method != "oidc" && opts.Method != "demo" {
		bad("Method %q: want \"oidc\" or \"demo\"", opts.Method)
	}
	verifies := opts.JWKSURL != "" || opts.Keyfunc != nil
	if opts.JWKSURL != "" && opts.Keyfunc != nil {
		bad("JWKSURL and Keyfunc are exclusive: give one source of verification keys")
	}
	if verifies && opts.Issuer == "" {
		bad("Issuer is required to verify tokens")
	}
	if verifies && opts.Audience == "" {
		bad("Audience is required to verify tokens")
	}
	for _, alg := range opts.Algorithms {
		switch {
		case alg == "none" || strings.HasPrefix(alg, "HS"):
			bad("algorithm %q is not accepted: tokens must be signed with a private key", alg)
		case jwt.GetSigningMethod(alg) == nil:
			bad("algorithm %q is unknown", alg)
		}
	}
	for role, g := range opts.Roles {
		if role == "" {
			bad("Roles: empty role name")
		}
		if g.Clearance < Negligible || g.Clearance > MaxServed {
			bad("Roles[%q]: clearance %d is outside 0..%d", role, g.Clearance, MaxServed)
		}
	}
	apiKeys, err := newAPIKeyEntries(opts.APIKeys)
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("authz: authenticator options: %w", errors.Join(problems...))
	}

	a := &Authenticator{
		parser: jwt.NewParser(
			jwt.WithValidMethods(slices.Clone(opts.Algorithms)),
			jwt.WithIssuer(opts.Issuer),
			jwt.WithAudience(opts.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(opts.Leeway),
		),
		roles:    cloneRoles(opts.Roles),
		apiKeys:  apiKeys,
		rolesRaw: opts.RolesClaim,
		rolesAt:  strings.Split(opts.RolesClaim, "."),
		unitRaw:  opts.UnitClaim,
		unitAt:   strings.Split(opts.UnitClaim, "."),
		method:   opts.Method,
		log:      opts.Logger,
		cancel:   func() {},
	}
	switch {
	case opts.Keyfunc != nil:
		kf := opts.Keyfunc
		a.keyfunc = func(context.Context) jwt.Keyfunc { return kf }
	case opts.JWKSURL != "":
		ctx, cancel := context.WithCancel(context.Background())
		log := opts.Logger
		kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{opts.JWKSURL}, keyfunc.Override{
			Client:      opts.HTTPClient,
			HTTPTimeout: opts.HTTPTimeout,
			// The unknown-kid refetch runs under this deadline, wait
			// included. The limiter refuses at once (instead of waiting)
			// when its next slot is further away than that, so a forged kid
			// within the cooldown costs neither the IdP nor the caller.
			RateLimitWaitMax:  opts.HTTPTimeout,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(opts.RefreshCooldown), 1),
			RefreshInterval:   opts.RefreshInterval,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					log.ErrorContext(ctx, "authz: JWKS fetch failed", "url", u, "error", err)
				}
			},
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("authz: JWKS %s: %w", opts.JWKSURL, err)
		}
		a.keyfunc = kf.KeyfuncCtx
		a.cancel = cancel
	}
	return a, nil
}

// Close stops the background JWKS refresh. The Authenticator keeps working
// with the keys it has.
func (a *Authenticator) Close() error {
	a.cancel()
	return nil
}

// Middleware authenticates every request before next sees it. A request
// without credentials goes on as the anonymous principal; a request with a
// credential that fails for any reason is answered 401 with one fixed body,
// so a caller cannot probe which check failed. It never falls back to
// anonymous once a credential was presented.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r.Context(), r)
		if err != nil {
			a.log.LogAttrs(r.Context(), slog.LevelWarn, "authz: authentication failed",
				slog.String("reason", err.Error()),
				slog.String("path", r.URL.Path),
				slog.String("remote_addr", r.RemoteAddr))
			writeUnauthenticated(w)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// unauthenticatedBody is the one answer to every rejected credential.
const unauthenticatedBody = `{"errors":[{"message":"invalid credentials","extensions":{"code":"UNAUTHENTICATED"}}],"data":null}`

func writeUnauthenticated(w http.ResponseWriter) {
	h := w.Header()
	h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(unauthenticatedBody))
}

// Authenticate returns the principal of r: anonymous without an
// Authorization or X-API-Key header, else the principal the credential
// proves. Every failure wraps ErrInvalidCredentials and says why; none
// contains the credential.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	auth := r.Header.Values("Authorization")
	keys := r.Header.Values("X-API-Key")
	switch {
	case len(auth) == 0 && len(keys) == 0:
		return AnonymousPrincipal(), nil
	case len(auth)+len(keys) > 1:
		return nil, invalid("more than one credential (Authorization and X-API-Key headers)")
	case len(keys) == 1:
		key := strings.TrimSpace(keys[0])
		if key == "" {
			return nil, invalid("empty X-API-Key header")
		}
		return a.authenticateAPIKey(key)
	}
	// The scheme is logged only when it is a short token: a header without a
	// space may be a bare credential.
	scheme, cred, ok := strings.Cut(strings.TrimSpace(auth[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		if ok && len(scheme) <= 16 {
			return nil, invalid("Authorization scheme %q is not Bearer", scheme)
		}
		return nil, invalid("Authorization header is not \"Bearer <credential>\"")
	}
	cred = strings.TrimSpace(cred)
	if cred == "" {
		return nil, invalid("empty bearer credential")
	}
	return a.AuthenticateToken(ctx, cred)
}

// AuthenticateToken returns the principal a raw bearer credential proves: a
// JWT (three dot-separated parts) is verified as a token, anything else is
// looked up as an API key. The CLI uses it for "policy explain --token".
func (a *Authenticator) AuthenticateToken(ctx context.Context, raw string) (*Principal, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return nil, invalid("empty credential")
	case len(raw) > maxCredentialBytes:
		return nil, invalid("credential longer than %d bytes", maxCredentialBytes)
	case strings.Count(raw, ".") == 2:
		return a.authenticateJWT(ctx, raw)
	default:
		return a.authenticateAPIKey(raw)
	}
}

func (a *Authenticator) authenticateJWT(ctx context.Context, raw string) (*Principal, error) {
	if a.keyfunc == nil {
		return nil, invalid("bearer token presented but no token verification is configured")
	}
	claims := jwt.MapClaims{}
	if _, err := a.parser.ParseWithClaims(raw, claims, a.keyfunc(ctx)); err != nil {
		return nil, invalid("bearer token: %w", err)
	}
	sub, err := claims.GetSubject()
	if err != nil || sub == "" {
		return nil, invalid("bearer token: no sub claim")
	}
	client, err := clientOf(claims)
	if err != nil {
		return nil, invalid("bearer token: %w", err)
	}
	roles, err := stringsClaim(claims, a.rolesRaw, a.rolesAt)
	if err != nil {
		return nil, invalid("bearer token: %w", err)
	}
	unit, err := stringClaim(claims, a.unitRaw, a.unitAt)
	if err != nil {
		return nil, invalid("bearer token: %w", err)
	}
	return a.principal(sub, client, roles, unit, a.method), nil
}

// principal builds a fresh Principal; clearance and purposes come from the
// role table only.
func (a *Authenticator) principal(subject, client string, roles []string, unit, method string) *Principal {
	return NewPrincipal(subject, client, roles, unit, method, a.roles)
}

// clientOf reads the client application: azp (OIDC), else client_id
// (RFC 9068). A token naming no client is refused: the client's information
// contract bounds what the principal may see.
func clientOf(claims jwt.MapClaims) (string, error) {
	for _, name := range []string{"azp", "client_id"} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		s, ok := v.(string)
		if !ok || s == "" {
			return "", fmt.Errorf("claim %s is not a non-empty string", name)
		}
		return s, nil
	}
	return "", errors.New("neither azp nor client_id claim")
}

// lookupClaim finds a claim by its exact name, else by a dotted path into
// nested objects.
func lookupClaim(claims jwt.MapClaims, raw string, path []string) (any, bool) {
	if v, ok := claims[raw]; ok || len(path) < 2 {
		return v, ok
	}
	var cur any = map[string]any(claims)
	for _, seg := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// stringsClaim reads an optional array-of-strings claim; a claim of another
// shape is an error rather than no roles, so a misconfigured identity provider
// is noticed.
func stringsClaim(claims jwt.MapClaims, raw string, path []string) ([]string, error) {
	v, ok := lookupClaim(claims, raw, path)
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("claim %s is not an array of strings", raw)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("claim %s is not an array of strings", raw)
		}
		out = append(out, s)
	}
	return out, nil
}

// stringClaim reads an optional string claim.
func stringClaim(claims jwt.MapClaims, raw string, path []string) (string, error) {
	v, ok := lookupClaim(claims, raw, path)
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("claim %s is not a string", raw)
	}
	return s, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("authz: %w: "+format, append([]any{ErrInvalidCredentials}, args...)...)
}

func cloneRoles(in map[string]RoleGrant) map[string]RoleGrant {
	out := make(map[string]RoleGrant, len(in))
	for role, g := range in {
		out[role] = RoleGrant{Clearance: g.Clearance, Purposes: slices.Clone(g.Purposes)}
	}
	return out
}
