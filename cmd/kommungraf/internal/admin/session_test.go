package admin_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

var csrf = map[string]string{"X-Kommungraf-CSRF": "1"}

func sessionBody(token string) string {
	b, _ := json.Marshal(map[string]string{"token": token})
	return string(b)
}

func sessionCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "kommungraf_admin" {
			return c
		}
	}
	return nil
}

func TestAdminPageServesOnlySecurityOfficers(t *testing.T) {
	d := newDemo(t, demoOptions{})
	html := map[string]string{"Accept": "text/html"}
	for _, tc := range []struct {
		name   string
		req    adminRequest
		status int
		want   string // in the body
	}{
		{"no session: the login view", adminRequest{method: "GET", path: "/admin"}, 200, `data-persona="security-officer"`},
		{"trailing slash too", adminRequest{method: "GET", path: "/admin/"}, 200, `id="token-form"`},
		{"security officer by bearer: the editor", adminRequest{method: "GET", path: "/admin", bearer: "security-officer"}, 200, `id="policy-text"`},
		{"case officer by bearer: FORBIDDEN", adminRequest{method: "GET", path: "/admin", bearer: "case-officer"}, 403, `"code":"FORBIDDEN"`},
		{"case officer in a browser: a FORBIDDEN page", adminRequest{method: "GET", path: "/admin", bearer: "case-officer", headers: html}, 403, `FORBIDDEN`},
		{"analyst by bearer: FORBIDDEN", adminRequest{method: "GET", path: "/admin", bearer: "analyst"}, 403, `"code":"FORBIDDEN"`},
		{"a bad bearer: 401", adminRequest{method: "GET", path: "/admin", headers: map[string]string{"Authorization": "Bearer x.y.z"}}, 401, `UNAUTHENTICATED`},
		{"an expired session: the login view again", adminRequest{method: "GET", path: "/admin", cookie: "x.y.z"}, 200, `Your session has ended`},
		{"assets without a session", adminRequest{method: "GET", path: "/admin/assets/admin.js"}, 200, `'/admin/api/policy'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := d.admin(t, tc.req)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d, want %d with %q in:\n%.600s", resp.StatusCode, tc.status, tc.want, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode == 200 && !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

func TestAdminSession(t *testing.T) {
	d := newDemo(t, demoOptions{})
	officer := d.token(t, "security-officer")
	for _, tc := range []struct {
		name   string
		req    adminRequest
		status int
		code   string
	}{
		{"case officer: FORBIDDEN", adminRequest{body: sessionBody(d.token(t, "case-officer")), headers: csrf}, 403, "FORBIDDEN"},
		{"open-data API key: FORBIDDEN", adminRequest{body: sessionBody(d.token(t, "open-data")), headers: csrf}, 403, "FORBIDDEN"},
		{"a forged token: 401", adminRequest{body: sessionBody(officer[:len(officer)-4] + "AAAA"), headers: csrf}, 401, "UNAUTHENTICATED"},
		{"an empty token: 401", adminRequest{body: `{"token":""}`, headers: csrf}, 401, "UNAUTHENTICATED"},
		{"without the CSRF header", adminRequest{body: sessionBody(officer)}, 403, "CSRF"},
		{"from another site", adminRequest{body: sessionBody(officer), headers: map[string]string{"X-Kommungraf-CSRF": "1", "Origin": "https://evil.example"}}, 403, "CSRF"},
		{"Sec-Fetch-Site cross-site", adminRequest{body: sessionBody(officer), headers: map[string]string{"X-Kommungraf-CSRF": "1", "Sec-Fetch-Site": "cross-site"}}, 403, "CSRF"},
		{"not JSON", adminRequest{body: "token=" + officer, headers: map[string]string{"X-Kommungraf-CSRF": "1", "Content-Type": "application/x-www-form-urlencoded"}}, 415, "UNSUPPORTED_MEDIA_TYPE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.method, tc.req.path = "POST", "/admin/session"
			resp, body := d.admin(t, tc.req)
			var p struct{ Code string }
			_ = json.Unmarshal([]byte(body), &p)
			if resp.StatusCode != tc.status || p.Code != tc.code {
				t.Fatalf("status %d code %q, want %d %s: %s", resp.StatusCode, p.Code, tc.status, tc.code, body)
			}
			if c := sessionCookieOf(t, resp); c != nil {
				t.Fatalf("a refused sign-in set a cookie: %v", c)
			}
		})
	}

	t.Run("security officer: a strict HttpOnly cookie that opens the editor", func(t *testing.T) {
		resp, body := d.admin(t, adminRequest{method: "POST", path: "/admin/session", body: sessionBody(officer), headers: csrf})
		if resp.StatusCode != 200 || !strings.Contains(body, `"subject":"demo-security-officer"`) {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		c := sessionCookieOf(t, resp)
		if c == nil || c.Value != officer || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/admin" || c.Secure || c.Expires.IsZero() {
			t.Fatalf("session cookie %+v", c)
		}
		resp, body = d.admin(t, adminRequest{method: "GET", path: "/admin", cookie: c.Value})
		if resp.StatusCode != 200 || !strings.Contains(body, "demo-security-officer") || !strings.Contains(body, `id="policy-text"`) {
			t.Fatalf("editor with the session: %d\n%.400s", resp.StatusCode, body)
		}
		// The cookie is for the editor's API only; elsewhere it is nobody.
		resp, _ = d.admin(t, adminRequest{method: "GET", path: "/admin/access-log", cookie: c.Value})
		if resp.StatusCode != 403 {
			t.Fatalf("/admin/access-log with the session cookie: %d, want 403 (anonymous)", resp.StatusCode)
		}
	})

	t.Run("sign out clears the cookie", func(t *testing.T) {
		resp, _ := d.admin(t, adminRequest{method: "POST", path: "/admin/session/logout", cookie: officer, headers: csrf})
		c := sessionCookieOf(t, resp)
		if resp.StatusCode != 204 || c == nil || c.MaxAge >= 0 || c.Value != "" {
			t.Fatalf("status %d, cookie %+v", resp.StatusCode, c)
		}
		resp, _ = d.admin(t, adminRequest{method: "POST", path: "/admin/session/logout", cookie: officer})
		if resp.StatusCode != 403 {
			t.Fatalf("sign-out without the CSRF header: %d, want 403", resp.StatusCode)
		}
	})
}

// The session cookie authenticates the policy API as the bearer token would,
// and only with the page's CSRF header does it change anything.
func TestAdminSessionReachesThePolicyAPI(t *testing.T) {
	d := newDemo(t, demoOptions{})
	officer := d.token(t, "security-officer")
	dryRun := `{"text":"p, role:security-officer, policy, admin, *, 0, allow\n"}`
	for _, tc := range []struct {
		name   string
		req    adminRequest
		status int
		want   string
	}{
		{"GET with the cookie", adminRequest{method: "GET", path: "/admin/api/policy", cookie: officer}, 200, `"requireApproval":`},
		{"POST with the cookie and the CSRF header", adminRequest{method: "POST", path: "/admin/api/dry-run", cookie: officer, body: dryRun, headers: csrf}, 200, `"changes":`},
		{"POST with the cookie, no CSRF header", adminRequest{method: "POST", path: "/admin/api/dry-run", cookie: officer, body: dryRun}, 403, `"code":"CSRF"`},
		{"a case officer's cookie", adminRequest{method: "GET", path: "/admin/api/policy", cookie: d.token(t, "case-officer")}, 403, `"code":"FORBIDDEN"`},
		{"a case officer's bearer", adminRequest{method: "GET", path: "/admin/api/policy", bearer: "case-officer"}, 403, `"code":"FORBIDDEN"`},
		{"a forged cookie", adminRequest{method: "GET", path: "/admin/api/policy", cookie: officer[:len(officer)-4] + "AAAA"}, 401, `UNAUTHENTICATED`},
		{"no session", adminRequest{method: "GET", path: "/admin/api/policy"}, 403, `"code":"FORBIDDEN"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := d.admin(t, tc.req)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d, want %d with %q in:\n%.600s", resp.StatusCode, tc.status, tc.want, body)
			}
		})
	}
}
