package gateway_test

import (
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
)

// get fetches path from the demo without credentials.
func (d *demo) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(d.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

var (
	// A reference that makes the browser load something from another
	// origin: src=, href= or url() with a scheme or a protocol-relative
	// URL, or a CSS @import of one, ending at its "//". externalRefIn
	// applies it just before each "//": a regexp over a whole 1 MB bundle is
	// slow under -race.
	externalRef = regexp.MustCompile(`(?:\b(?:src|href|action|srcset)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)\s*(?:[a-z][a-z0-9+.-]*:)?//$`)
	pageRef     = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*"([^"]*)"`)
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	configBlock = regexp.MustCompile(`(?s)<script type="application/json" id="kommungraf-config">(.*?)</script>`)
)

// externalRefIn returns the first reference to another origin in text.
func externalRefIn(text string) string {
	lower := strings.ToLower(text)
	for from := 0; ; {
		i := strings.Index(lower[from:], "//")
		if i < 0 {
			return ""
		}
		end := from + i + 2
		if m := externalRef.FindString(lower[max(0, end-48):end]); m != "" {
			return m
		}
		from = end
	}
}

func checkGraphiQLHeaders(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "http") {
		t.Errorf("%s: Content-Security-Policy %q allows eval or another origin", what, csp)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
}

// The page and every file it loads come from the gateway itself: no CDN, no
// inline script, and the headers keep it that way.
func TestGraphiQLPageIsSelfContained(t *testing.T) {
	// The check itself: what the page served before (jsdelivr) is caught.
	for _, bad := range []string{
		`<script src="https://cdn.jsdelivr.net/npm/graphiql@3/graphiql.min.js">`,
		`<link rel="stylesheet" href='//cdn.example/x.css'>`, `background:url( "http://x/y.png")`,
		`@import "https://fonts.googleapis.com/css"`, `src:url(//fonts.gstatic.com/r.woff2)`,
	} {
		if externalRefIn(bad) == "" {
			t.Fatalf("externalRef misses %s", bad)
		}
	}
	for _, ok := range []string{`src="/graphiql/assets/a.js"`, `url(data:font/woff2;base64,AAAA)`, `xmlns="http://www.w3.org/2000/svg"`} {
		if externalRefIn(ok) != "" {
			t.Fatalf("externalRef flags %s", ok)
		}
	}
	d := startDemo(t, nil, 0, true)
	resp, page := d.get(t, "/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checkGraphiQLHeaders(t, "GET /", resp)
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("the page, which holds a token, has Cache-Control %q", got)
	}
	if m := externalRefIn(page); m != "" {
		t.Errorf("the page refers to another origin: %q", m)
	}
	for _, m := range scriptTag.FindAllStringSubmatch(page, -1) {
		attrs, body := m[1], strings.TrimSpace(m[2])
		if body != "" && !strings.Contains(attrs, `type="application/json"`) {
			t.Errorf("inline script <script%s>: %.80s", attrs, body)
		}
	}

	assets := bundleFiles(page)
	if len(assets) != 2 {
		t.Fatalf("want the bundle's script and stylesheet, found %q in\n%s", assets, page)
	}
	for _, a := range append(assets, "/graphiql/LICENSES.txt") {
		resp, body := d.get(t, a)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes", a, resp.StatusCode, len(body))
			continue
		}
		checkGraphiQLHeaders(t, "GET "+a, resp)
		if m := externalRefIn(body); m != "" {
			t.Errorf("%s refers to another origin: %q", a, m)
		}
	}
	if !strings.Contains(func() string { _, b := d.get(t, "/graphiql/LICENSES.txt"); return b }(), "graphiql@") {
		t.Error("LICENSES.txt does not name graphiql")
	}
	// Only the bundle's files: not the page template, no directory listing.
	for _, p := range []string{"/graphiql/", "/graphiql/index.html", "/graphiql/assets/", "/graphiql/assets/nope.js", "/graphiql/../web.go"} {
		if resp, _ := d.get(t, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// bundleFiles are the page's references to the bundle's files.
func bundleFiles(page string) []string {
	var files []string
	for _, m := range pageRef.FindAllStringSubmatch(page, -1) {
		if strings.HasPrefix(m[1], "/graphiql/assets/") {
			files = append(files, m[1])
		}
	}
	return files
}

type graphiqlConfig struct {
	Endpoint      string `json:"endpoint"`
	StoragePrefix string `json:"storagePrefix"`
	Persona       string `json:"persona"`
	Token         string `json:"token"`
}

func pageConfig(t *testing.T, page string) graphiqlConfig {
	t.Helper()
	m := configBlock.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no kommungraf-config block in\n%s", page)
	}
	var c graphiqlConfig
	if err := json.Unmarshal([]byte(m[1]), &c); err != nil {
		t.Fatalf("kommungraf-config is not JSON: %v: %s", err, m[1])
	}
	return c
}

// In the demo, ?persona= opens GraphiQL with that persona's token; anything
// else opens it as the analyst, and the value asked for is not echoed.
func TestGraphiQLDemoPersona(t *testing.T) {
	d := startDemo(t, nil, 0, false)
	for _, tc := range []struct{ asked, want string }{
		{"case-officer", "case-officer"},
		{"open-data", "open-data"},
		{"", "analyst"},
		{"nobody", "analyst"},
		{`x"></script><script>alert(1)</script>`, "analyst"},
		{`case-officer<b>`, "analyst"},
	} {
		t.Run(tc.asked, func(t *testing.T) {
			resp, page := d.get(t, "/?persona="+url.QueryEscape(tc.asked))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			c := pageConfig(t, page)
			if c.Persona != tc.want || c.StoragePrefix != "kommungraf-"+tc.want+"-" || c.Endpoint != "/graphql" {
				t.Errorf("config %+v, want persona %s", c, tc.want)
			}
			if tc.asked != tc.want && tc.asked != "" {
				for _, echo := range []string{tc.asked, template.HTMLEscapeString(tc.asked), url.QueryEscape(tc.asked)} {
					if strings.Contains(page, echo) {
						t.Errorf("the page echoes the unknown persona %q as %q", tc.asked, echo)
					}
				}
			}
			if strings.Contains(page, "<script>alert") {
				t.Error("unescaped script in the page")
			}
			current := `<a href="/?persona=` + tc.want + `" aria-current="page">` + tc.want + `</a>`
			if !strings.Contains(page, current) || !strings.Contains(page, "(synthetic data only)") {
				t.Errorf("the persona bar does not mark %s:\n%s", tc.want, page)
			}
			// The token is the persona's: it authenticates, and the
			// analyst's allows introspection.
			r := d.withAuth("Bearer "+c.Token).query(t, "{ __schema { queryType { name } } }")
			for _, e := range r.Errors {
				if e.Extensions["code"] == "UNAUTHENTICATED" {
					t.Fatalf("the page's token is not accepted: %s", r.raw)
				}
			}
			if tc.want == "analyst" && len(r.Errors) > 0 {
				t.Errorf("the analyst's token cannot introspect: %s", r.raw)
			}
		})
	}
}

func (d *demo) withAuth(auth string) *demo { return &demo{gw: d.gw, srv: d.srv, auth: auth} }

// The demo page holds a token: like /demo/token it answers on loopback only.
// Its files hold none and are served to everyone.
func TestGraphiQLDemoPageIsLoopbackOnly(t *testing.T) {
	d := startDemo(t, nil, 0, true)
	_, page := d.get(t, "/")
	assets := bundleFiles(page)
	if len(assets) == 0 {
		t.Fatalf("no bundle files in\n%s", page)
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/", http.StatusForbidden},
		{"/?persona=case-officer", http.StatusForbidden},
		{assets[0], http.StatusOK},
		{"/graphiql/LICENSES.txt", http.StatusOK},
	} {
		r := httptest.NewRequest("GET", "http://gw.example"+tc.path, nil)
		r.RemoteAddr = "192.0.2.10:40000"
		w := httptest.NewRecorder()
		d.gw.Handler().ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("GET %s from another host: %d, want %d", tc.path, w.Code, tc.status)
		}
		if strings.Contains(w.Body.String(), "Bearer") || strings.Contains(w.Body.String(), `"token"`) {
			t.Errorf("GET %s from another host carries a token", tc.path)
		}
	}
	// DNS rebinding: another site's name re-pointed at 127.0.0.1 reaches the
	// loopback listener from the victim's browser, with its own Host.
	for _, path := range []string{"/", "/?persona=security-officer", "/demo/token?persona=security-officer", "/demo/upstream-stats", "/demo/jwks.json"} {
		for _, host := range []string{"attacker.example:8080", "attacker.example", "127.0.0.1.nip.io:8080"} {
			r := httptest.NewRequest("GET", "http://"+host+path, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			w := httptest.NewRecorder()
			d.gw.Handler().ServeHTTP(w, r)
			if w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "eyJ") {
				t.Errorf("GET %s with Host %s on loopback: %d %.80s", path, host, w.Code, w.Body.String())
			}
		}
		for _, host := range []string{"localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST"} {
			r := httptest.NewRequest("GET", "http://"+host+path, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			w := httptest.NewRecorder()
			d.gw.Handler().ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Errorf("GET %s with Host %s on loopback: %d, want 200", path, host, w.Code)
			}
		}
	}
}

// server.graphiql: false removes the page and its files.
func TestGraphiQLOff(t *testing.T) {
	off := false
	d := startDemo(t, func(c *config.Config) { c.Server.GraphiQL = &off }, 0, true)
	_, on := startDemo(t, nil, 0, true).get(t, "/")
	files := bundleFiles(on)
	if len(files) == 0 {
		t.Fatalf("no bundle files in\n%s", on)
	}
	for _, p := range append(files, "/", "/?persona=analyst", "/graphiql/LICENSES.txt") {
		if resp, _ := d.get(t, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s with server.graphiql false: %d, want 404", p, resp.StatusCode)
		}
	}
}
