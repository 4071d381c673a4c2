package gateway

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/web"
)

// graphiqlCSP keeps GraphiQL to its own origin: its bundle, its stylesheet
// and /graphql. style-src allows inline styles because GraphiQL's dialogs
// and menus (Radix UI, react-remove-scroll) insert <style> elements and
// style attributes; scripts stay 'self' only, with no inline script and no
// eval.
const graphiqlCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// graphiqlDefaultPersona is the persona the demo page opens as when none,
// or an unknown one, is asked for.
const graphiqlDefaultPersona = "analyst"

// graphiqlPage serves GraphiQL from the bundle embedded in the binary
// (web/graphiql, built with esbuild): no CDN, so the page also works on a
// network without internet access. In demo mode `/?persona=<id>` opens it
// with that persona's development token as the default Authorization
// header, keeps each persona's editors apart, and shows a bar to switch
// persona. Outside the demo the page carries no credentials: the user
// pastes a token in the headers editor, and every request it makes,
// introspection included, is authorized like any other.
type graphiqlPage struct {
	dev  *authz.DevIssuer // nil outside demo mode
	page *template.Template
}

// graphiqlConfig is what the page hands the bundle, as a JSON data block
// (web/graphiql/src/main.jsx reads it), so no inline script is needed.
type graphiqlConfig struct {
	Endpoint      string `json:"endpoint"`
	StoragePrefix string `json:"storagePrefix"`
	Persona       string `json:"persona,omitempty"`
	Token         string `json:"token,omitempty"`
}

// graphiqlData fills web/graphiql/src/index.html.
type graphiqlData struct {
	Title    string
	Config   graphiqlConfig
	Persona  string
	Personas []string // the switcher bar; empty outside the demo
}

// graphiql returns the page handler (for GET /) and the handler of its
// static files (for GET /graphiql/: the content-hashed bundle under
// /graphiql/assets/ and /graphiql/LICENSES.txt). dev is nil outside demo
// mode.
func graphiql(dev *authz.DevIssuer) (page, static http.Handler) {
	files := web.GraphiQL()
	tmpl := template.Must(template.New("index.html").ParseFS(files, "index.html"))
	p := &graphiqlPage{dev: dev, page: tmpl}
	return graphiqlHeaders(http.HandlerFunc(p.serve)), graphiqlHeaders(graphiqlStatic(files))
}

func (p *graphiqlPage) serve(w http.ResponseWriter, r *http.Request) {
	data := graphiqlData{
		Title:  "Kommungraf GraphiQL",
		Config: graphiqlConfig{Endpoint: "/graphql", StoragePrefix: "kommungraf-"},
	}
	if p.dev != nil {
		persona := r.URL.Query().Get("persona")
		if !slices.Contains(p.dev.Personas(), persona) {
			persona = graphiqlDefaultPersona
		}
		token, err := p.dev.Token(persona)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "demo token unavailable"})
			return
		}
		data.Title = "Kommungraf GraphiQL (" + persona + ", synthetic data only)"
		data.Config.StoragePrefix = "kommungraf-" + persona + "-"
		data.Config.Persona = persona
		data.Config.Token = token
		data.Persona = persona
		data.Personas = p.dev.Personas()
	}
	var buf bytes.Buffer
	if err := p.page.Execute(&buf, data); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "page unavailable"})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The demo page holds a token; no page is worth caching.
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// graphiqlStatic serves the bundle's files: /graphiql/assets/<name> and
// /graphiql/LICENSES.txt, nothing else (not the page template, no directory
// listings). The bundle's names carry a content hash, so a browser may keep
// them; LICENSES.txt does not, so it is revalidated.
func graphiqlStatic(files fs.FS) http.Handler {
	server := http.StripPrefix("/graphiql/", http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, asset := strings.CutPrefix(r.URL.Path, "/graphiql/assets/")
		switch {
		case asset && name != "" && !strings.Contains(name, "/"):
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		case r.URL.Path == "/graphiql/LICENSES.txt":
			w.Header().Set("Cache-Control", "no-cache")
		default:
			http.NotFound(w, r)
			return
		}
		server.ServeHTTP(w, r)
	})
}

// graphiqlHeaders sets the page's and its files' security headers.
func graphiqlHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", graphiqlCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}
