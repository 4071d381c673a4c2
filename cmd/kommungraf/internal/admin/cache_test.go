package admin_test

import (
	"net/http"
	"testing"
)

// TestInvalidationAnswersCodedProblems: a refused invalidation answers the
// one problem+json of the admin surface, with its code, not sniffable.
func TestInvalidationAnswersCodedProblems(t *testing.T) {
	d := newDemo(t, demoOptions{})
	for body, code := range map[string]string{
		`{"source":"etjanst","keys":["E-1"]}`: "INVALID_INVALIDATION", // keys need an entity
		`{"source":"etjanst","extra":1}`:      "INVALID_INVALIDATION",
		`{"source":"nosuchsystem"}`:           "UNKNOWN_SOURCE",
	} {
		resp, _ := d.admin(t, adminRequest{method: "POST", path: "/admin/cache/invalidate", body: body, bearer: "security-officer"})
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", body)
		}
		status, out := d.policyCall(t, "security-officer", "POST", "/admin/cache/invalidate", body)
		if status != http.StatusBadRequest || out["code"] != code || out["title"] != http.StatusText(status) || out["type"] != "about:blank" {
			t.Errorf("%s: %d %v, want 400 %s", body, status, out, code)
		}
	}
	if resp, _ := d.admin(t, adminRequest{method: "POST", path: "/admin/cache/invalidate", body: `{"source":"etjanst"}`, bearer: "security-officer"}); resp.StatusCode != http.StatusNoContent {
		t.Errorf("a good invalidation: %d, want 204", resp.StatusCode)
	}
}
