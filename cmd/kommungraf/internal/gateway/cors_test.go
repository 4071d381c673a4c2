package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
)

// send makes one request with an Origin header, as a browser would.
func (d *demo) send(t *testing.T, method, path, origin string, header map[string]string, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, d.srv.URL+path, strings.NewReader(body))
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestCORSForInternalWebApps: only configured origins may call /graphql
// from a browser; preflights are answered before authentication; no
// credentials rule is granted; the admin surface is never shared.
func TestCORSForInternalWebApps(t *testing.T) {
	const app = "https://forskola.intranet.example.se"
	d := startDemo(t, func(c *config.Config) {
		c.Server.CORS.AllowedOrigins = []string{app, "https://*.apps.example.se"}
	}, 0, false)
	preflight := func(origin, path, method, headers string) *http.Response {
		return d.send(t, http.MethodOptions, path, origin, map[string]string{
			"Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers,
		}, "")
	}
	query := `{"query":"{ schoolUnits(first: 1) { totalCount } }"}`
	bearer := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + d.token(t, "preschool-admin")}

	t.Run("preflight from an allowed origin", func(t *testing.T) {
		for _, origin := range []string{app, "https://kost.apps.example.se"} {
			resp := preflight(origin, "/graphql", "POST", "authorization,content-type")
			h := resp.Header
			if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
				!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Access-Control-Max-Age") != "600" {
				t.Fatalf("%s: %d %v", origin, resp.StatusCode, h)
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("credentials granted: %v", h)
			}
		}
	})
	t.Run("the request itself carries the origin and Vary", func(t *testing.T) {
		resp := d.send(t, http.MethodPost, "/graphql", app, bearer, query)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != app ||
			!strings.Contains(resp.Header.Get("Vary"), "Origin") || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
			t.Fatalf("X-Request-Id not exposed: %v", resp.Header)
		}
		// A refused credential's 401 is readable by the page too.
		resp = d.send(t, http.MethodPost, "/graphql", app, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer broken"}, query)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != app {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("a cross-origin GET is not shared", func(t *testing.T) {
		resp := d.send(t, http.MethodGet, "/graphql?query=%7B__typename%7D", app, nil, "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("other origins get nothing", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "https://forskola.intranet.example.se.evil.example", "http://forskola.intranet.example.se", "null", "https://a.b.apps.example.se"} {
			for _, resp := range []*http.Response{
				preflight(origin, "/graphql", "POST", "authorization,content-type"),
				d.send(t, http.MethodPost, "/graphql", origin, bearer, query),
			} {
				if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
					t.Fatalf("%s: Allow-Origin %q", origin, v)
				}
			}
		}
	})
	t.Run("a method or header outside the list is not granted", func(t *testing.T) {
		for _, method := range []string{"PUT", "GET"} {
			resp := preflight(app, "/graphql", method, "authorization")
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("%s granted: %v", method, resp.Header)
			}
		}
		resp := preflight(app, "/graphql", "POST", "x-kommungraf-csrf")
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("the admin page's CSRF header granted: %v", resp.Header)
		}
	})
	t.Run("the admin surface is never shared", func(t *testing.T) {
		for _, path := range []string{"/admin/api/policy", "/admin/session", "/admin/api/access-log", "/admin/cache/invalidate", "/demo/token"} {
			resp := preflight(app, path, "POST", "content-type,x-kommungraf-csrf")
			if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Fatalf("%s: Allow-Origin %q", path, v)
			}
		}
	})
}

// TestNoCORSByDefault: the shipped default allows no other origin.
func TestNoCORSByDefault(t *testing.T) {
	d := newSecureDemo(t)
	resp := d.send(t, http.MethodOptions, "/graphql", "https://forskola.intranet.example.se",
		map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}, "")
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Fatalf("default configuration sends %s: %v", k, resp.Header)
		}
	}
}
