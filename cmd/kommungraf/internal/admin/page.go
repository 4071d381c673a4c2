package admin

import (
	"encoding/json"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// The policy editor's session. A browser navigation cannot send a bearer
// header, so the page keeps the security officer's token in a cookie that
// only /admin sees, and the bridge turns it back into a bearer header for
// the policy API: the API authenticates exactly as it does for scripts.
const (
	// adminCookie holds the bearer credential of the page's session.
	adminCookie = "kommungraf_admin"
	// csrfHeader must accompany every state-changing request the session
	// cookie authenticates. A cross-site page cannot set a custom header
	// without a CORS preflight, which the gateway never grants.
	csrfHeader = "X-Kommungraf-CSRF"
	// maxCookieToken is what a browser reliably stores in one cookie.
	maxCookieToken = 3800
)

// adminPage serves the policy editor page, its login and its session.
type adminPage struct {
	authn      Authenticator
	authorizer Policy
	demo       bool     // the demo: persona buttons on the login view
	personas   []string // the demo's personas
	log        *slog.Logger
	login, app *template.Template
	forbidden  *template.Template
	assets     http.Handler
}

// mux serves the policy editor (GET /admin, its assets, POST /admin/session
// and /admin/session/logout), lets the session cookie authenticate
// /admin/api/* and passes every other request to api unchanged. It wraps
// rather than joins api so that the cookie bridge runs before whatever api
// registers under /admin/api/.
func (p *adminPage) mux(api http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /admin", PageHeaders(http.HandlerFunc(p.page)))
	mux.Handle("GET /admin/{$}", PageHeaders(http.HandlerFunc(p.page)))
	mux.Handle("GET /admin/assets/", PageHeaders(p.assets))
	mux.Handle("POST /admin/session", http.HandlerFunc(p.signIn))
	mux.Handle("POST /admin/session/logout", http.HandlerFunc(p.signOut))
	mux.Handle("/admin/api/", p.bridge(api))
	mux.Handle("/", api)
	return mux
}

// PageHeaders keeps a page of the admin surface to its own origin's scripts
// and styles, out of frames and out of caches: the editor, the printable
// report, and a further section's page.
func PageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// credential is where a page request's credential came from.
type credential int

const (
	credNone credential = iota
	credHeader
	credCookie
)

// principal authenticates a page request: a bearer or API key header wins
// (scripts and tests), else the session cookie.
func (p *adminPage) principal(r *http.Request) (*authz.Principal, credential, error) {
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-API-Key") != "" {
		pr, err := p.authn.Authenticate(r.Context(), r)
		return pr, credHeader, err
	}
	c, err := r.Cookie(adminCookie)
	if err != nil || c.Value == "" {
		return authz.AnonymousPrincipal(), credNone, nil
	}
	pr, err := p.authn.AuthenticateToken(r.Context(), c.Value)
	return pr, credCookie, err
}

// mayAdminister is the one question the page asks of the policy.
func (p *adminPage) mayAdminister(pr *authz.Principal) authz.Decision {
	return p.authorizer.DecideAction(authz.Prepare(pr), authz.ActAdmin, authz.ObjPolicy)
}

type loginView struct {
	Notice   string
	Demo     bool
	Personas []string
}

type appView struct {
	Subject, Client, Unit string
	Roles                 []string
	Demo                  bool
	// AccessLog: the principal may search the access log (admin on
	// accesslog), so the page shows its tab.
	AccessLog bool
}

type forbiddenView struct {
	Subject, Reason string
	Session         bool
}

// page serves the editor to security officers, the login view to callers
// without a session, and 403 to everyone else.
func (p *adminPage) page(w http.ResponseWriter, r *http.Request) {
	pr, cred, err := p.principal(r)
	switch {
	case err != nil && cred == credCookie:
		// An expired or foreign token: end the session, ask again.
		http.SetCookie(w, sessionCookie(r, "", -1, time.Time{}))
		p.render(w, http.StatusOK, p.login, p.loginView("Your session has ended. Sign in again."))
		return
	case err != nil:
		p.log.WarnContext(r.Context(), "admin: authentication failed", "reason", err.Error(), "remote_addr", r.RemoteAddr)
		writeProblem(w, http.StatusUnauthorized, "UNAUTHENTICATED", "invalid credentials", nil)
		return
	case pr.Anonymous:
		p.render(w, http.StatusOK, p.login, p.loginView(""))
		return
	}
	if d := p.mayAdminister(pr); !d.Allow {
		if !acceptsHTML(r) {
			writeProblem(w, http.StatusForbidden, "FORBIDDEN", "not authorised for the policy editor", nil)
			return
		}
		p.render(w, http.StatusForbidden, p.forbidden, forbiddenView{Subject: pr.Subject, Reason: "the policy editor is for security staff", Session: cred == credCookie})
		return
	}
	accessLog := p.authorizer.DecideAction(authz.Prepare(pr), authz.ActAdmin, authz.ObjAccessLog).Allow
	p.render(w, http.StatusOK, p.app, appView{Subject: pr.Subject, Client: pr.Client, Unit: pr.Unit, Roles: pr.Roles, Demo: p.demo, AccessLog: accessLog})
}

func (p *adminPage) loginView(notice string) loginView {
	v := loginView{Notice: notice, Demo: p.demo}
	if p.demo {
		v.Personas = slices.DeleteFunc(slices.Clone(p.personas), func(s string) bool { return s == authz.OpenDataPersona })
	}
	return v
}

func (p *adminPage) render(w http.ResponseWriter, status int, t *template.Template, data any) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		p.log.Error("admin: rendering the page", "template", t.Name(), "error", err)
		writeProblem(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "the page could not be rendered", nil)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// acceptsHTML tells a browser navigation from an API client.
func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// signIn verifies a pasted token as the API would (authentication, then the
// policy's admin on policy) and keeps it in the session cookie.
func (p *adminPage) signIn(w http.ResponseWriter, r *http.Request) {
	if !p.sameSite(w, r) {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", `POST {"token":"..."} with Content-Type: application/json`, nil)
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", `the body is not {"token":"..."}`, nil)
		return
	}
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(body.Token), "Bearer "))
	if len(token) > maxCookieToken {
		writeProblem(w, http.StatusBadRequest, "TOKEN_TOO_LARGE", "the token is too long to keep in a browser session; use the API with a bearer header", nil)
		return
	}
	pr, err := p.authn.AuthenticateToken(r.Context(), token)
	if err != nil {
		p.log.WarnContext(r.Context(), "admin: sign-in refused", "reason", err.Error(), "remote_addr", r.RemoteAddr)
		writeProblem(w, http.StatusUnauthorized, "UNAUTHENTICATED", "invalid credentials", nil)
		return
	}
	if d := p.mayAdminister(pr); !d.Allow {
		p.log.InfoContext(r.Context(), "admin: sign-in forbidden", "subject", pr.Subject, "reason", d.Reason)
		writeProblem(w, http.StatusForbidden, "FORBIDDEN", "not authorised for the policy editor", nil)
		return
	}
	http.SetCookie(w, sessionCookie(r, token, 0, tokenExpiry(token)))
	p.log.InfoContext(r.Context(), "admin: signed in", "subject", pr.Subject, "client", pr.Client)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"subject": pr.Subject, "roles": pr.Roles})
}

// signOut ends the session.
func (p *adminPage) signOut(w http.ResponseWriter, r *http.Request) {
	if !p.sameSite(w, r) {
		return
	}
	http.SetCookie(w, sessionCookie(r, "", -1, time.Time{}))
	w.WriteHeader(http.StatusNoContent)
}

// bridge lets the session cookie authenticate the policy API: the cookie
// becomes the bearer header the API's own authentication reads. A request
// that brings its own credential is left alone, and one the cookie
// authenticates must prove it comes from the page before it changes anything.
func (p *adminPage) bridge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(adminCookie)
		if err != nil || c.Value == "" || r.Header.Get("Authorization") != "" || r.Header.Get("X-API-Key") != "" {
			next.ServeHTTP(w, r)
			return
		}
		if !safeMethod(r.Method) && !p.sameSite(w, r) {
			return
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+c.Value)
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameSite answers 403 CSRF and returns false unless r carries the page's
// custom header and, when the browser says where it comes from, comes from
// this origin.
func (p *adminPage) sameSite(w http.ResponseWriter, r *http.Request) bool {
	reason := ""
	switch {
	case r.Header.Get(csrfHeader) != "1":
		reason = "the request lacks the " + csrfHeader + ": 1 header the policy editor sends"
	case r.Header.Get("Sec-Fetch-Site") == "cross-site":
		reason = "the request comes from another site"
	case r.Header.Get("Origin") != "" && !sameHost(r.Header.Get("Origin"), r.Host):
		reason = "the request's Origin is not this gateway"
	}
	if reason == "" {
		return true
	}
	p.log.WarnContext(r.Context(), "admin: cross-site request refused", "path", r.URL.Path, "reason", reason, "remote_addr", r.RemoteAddr)
	writeProblem(w, http.StatusForbidden, "CSRF", reason, nil)
	return false
}

// sameHost compares an Origin with the request's Host. The scheme is not
// compared: a TLS-terminating proxy in front of the gateway changes it.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// sessionCookie is the session cookie: HttpOnly so page scripts never hold
// the token, SameSite=Strict and Path=/admin so no other site and no other
// part of the gateway receives it, and Secure unless the page is served on
// loopback (the demo) without TLS: behind a TLS-terminating proxy the
// gateway sees plain HTTP, yet the browser reached it over https.
func sessionCookie(r *http.Request, value string, maxAge int, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name: adminCookie, Value: value, Path: "/admin", MaxAge: maxAge, Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || !upstream.IsLoopbackHost(r.Host),
	}
}

// tokenExpiry is a verified JWT's exp, so the browser drops the cookie when
// the token stops working; zero (a browser session cookie) for API keys.
func tokenExpiry(token string) time.Time {
	if strings.Count(token, ".") != 2 {
		return time.Time{}
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		return time.Time{}
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return time.Time{}
	}
	return exp.Time
}
