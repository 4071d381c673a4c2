package gateway

import (
	"bytes"
	"html"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql/playground"

	"github.com/kommungraf/kommungraf/authz"
)

// graphiql serves GraphiQL. In demo mode `/?persona=<id>` opens it with that
// persona's development token in the request headers, and a bar on the page
// switches persona; each persona keeps its own editor state. Outside the demo
// the page carries no credentials: the user pastes a token in the headers
// editor, and every request it makes, introspection included, is authorized.
func graphiql(dev *authz.DevIssuer) http.Handler {
	if dev == nil {
		return playground.Handler("Kommungraf", "/graphql")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		persona := r.URL.Query().Get("persona")
		if !slices.Contains(dev.Personas(), persona) {
			persona = "analyst"
		}
		token, err := dev.Token(persona)
		if err != nil {
			http.Error(w, "demo token unavailable", http.StatusInternalServerError)
			return
		}
		headers := map[string]string{"Authorization": "Bearer " + token}
		rec := httptest.NewRecorder()
		playground.Handler("Kommungraf ("+persona+")", "/graphql",
			playground.WithGraphiqlUiHeaders(headers), playground.WithStoragePrefix("kommungraf-"+persona+"-"),
		).ServeHTTP(rec, r)
		var bar strings.Builder
		bar.WriteString(`<div style="position:fixed;bottom:8px;right:12px;z-index:10;font:13px sans-serif;background:#fff;border:1px solid #ccc;border-radius:6px;padding:6px 10px">Demo persona: `)
		for _, p := range dev.Personas() {
			style := ""
			if p == persona {
				style = ` style="font-weight:bold"`
			}
			bar.WriteString(`<a` + style + ` href="/?persona=` + html.EscapeString(p) + `">` + html.EscapeString(p) + `</a> `)
		}
		bar.WriteString(`(synthetic data only)</div>`)
		page := bytes.Replace(rec.Body.Bytes(), []byte("<body>"), []byte("<body>"+bar.String()), 1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
}
