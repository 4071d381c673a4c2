package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Outside the demo the page carries no credentials and no persona bar: the
// user pastes a token into the headers editor.
func TestGraphiQLPageOutsideTheDemo(t *testing.T) {
	page, _ := graphiql(nil)
	for _, target := range []string{"/", "/?persona=case-officer"} {
		w := httptest.NewRecorder()
		page.ServeHTTP(w, httptest.NewRequest("GET", "http://gw.example"+target, nil))
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", target, w.Code)
		}
		want := `<script type="application/json" id="kommungraf-config">{"endpoint":"/graphql","storagePrefix":"kommungraf-"}</script>`
		if !strings.Contains(body, want) {
			t.Errorf("GET %s: want the config block %s in\n%s", target, want, body)
		}
		for _, leak := range []string{"token", "Bearer", "persona", "synthetic data"} {
			if strings.Contains(body, leak) {
				t.Errorf("GET %s: the page outside the demo mentions %q", target, leak)
			}
		}
		if got := w.Header().Get("Content-Security-Policy"); got != graphiqlCSP {
			t.Errorf("GET %s: Content-Security-Policy %q", target, got)
		}
	}
}
