package admin

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The bridge in isolation: what the policy API behind it receives.
func TestAdminBridge(t *testing.T) {
	p := &adminPage{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var got string
	api := p.bridge(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization") + "|" + r.Header.Get("X-API-Key")
		w.WriteHeader(http.StatusOK)
	}))
	for _, tc := range []struct {
		name           string
		method         string
		cookie         string
		headers        map[string]string
		status         int
		authorizations string // what the API saw; "" when it was not called
	}{
		{"GET with the cookie becomes a bearer", "GET", "tok", nil, 200, "Bearer tok|"},
		{"POST with the cookie and the CSRF header", "POST", "tok", map[string]string{csrfHeader: "1"}, 200, "Bearer tok|"},
		{"POST with the cookie from the same origin", "POST", "tok", map[string]string{csrfHeader: "1", "Origin": "http://gw.test"}, 200, "Bearer tok|"},
		{"POST with the cookie but no CSRF header", "POST", "tok", nil, 403, ""},
		{"DELETE with the cookie but no CSRF header", "DELETE", "tok", nil, 403, ""},
		{"POST with the cookie from another origin", "POST", "tok", map[string]string{csrfHeader: "1", "Origin": "http://evil.test"}, 403, ""},
		{"an Authorization header wins over the cookie", "POST", "tok", map[string]string{"Authorization": "Bearer own"}, 200, "Bearer own|"},
		{"an API key wins over the cookie", "GET", "tok", map[string]string{"X-API-Key": "key"}, 200, "|key"},
		{"no cookie: untouched", "POST", "", nil, 200, "|"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = ""
			r := httptest.NewRequest(tc.method, "http://gw.test/admin/api/proposals", nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: adminCookie, Value: tc.cookie})
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			api.ServeHTTP(w, r)
			if w.Code != tc.status || got != tc.authorizations {
				t.Fatalf("status %d, API saw %q; want %d, %q (%s)", w.Code, got, tc.status, tc.authorizations, w.Body)
			}
			if r.Header.Get("Authorization") != tc.headers["Authorization"] {
				t.Fatal("the bridge changed the caller's request instead of a copy")
			}
		})
	}
}

// TestSessionCookieIsSecureOffLoopback: behind a TLS-terminating proxy the
// gateway sees plain HTTP for a public host name; the cookie, which holds a
// bearer token, must still be Secure. Only the loopback demo goes without.
func TestSessionCookieIsSecureOffLoopback(t *testing.T) {
	for host, secure := range map[string]bool{
		"127.0.0.1:8080": false, "localhost:8080": false, "[::1]:8080": false,
		"kommungraf.orebro.example": true, "10.0.0.5:8080": true,
	} {
		r := httptest.NewRequest(http.MethodPost, "http://"+host+"/admin/session", nil)
		r.Host = host
		if c := sessionCookie(r, "t", 60, time.Now()); c.Secure != secure {
			t.Errorf("%s: Secure = %v, want %v", host, c.Secure, secure)
		}
	}
}
