package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The admin surface's own tests are in internal/admin; these helpers are
// for the tests here that reach it through the whole gateway (the access
// log search after real reads, the policy workflow's effect on GraphQL).

// adminRequest sends one request to the admin surface's routes.
type adminRequest struct {
	method, path, body string
	bearer             string // persona whose token goes in the Authorization header
	cookie             string // session cookie value
	headers            map[string]string
}

func (d *demo) admin(t *testing.T, ar adminRequest) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(ar.method, d.srv.URL+ar.path, strings.NewReader(ar.body))
	if err != nil {
		t.Fatal(err)
	}
	if ar.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if ar.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+d.token(t, ar.bearer))
	}
	if ar.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "kommungraf_admin", Value: ar.cookie})
	}
	for k, v := range ar.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// csrf is the header the policy editor sends with every state-changing request.
var csrf = map[string]string{"X-Kommungraf-CSRF": "1"}
