package admin_test

import (
	"net/http"
	"strings"
	"testing"
)

// The case officer's Person line of the demo policy; the test takes the
// address out of it.
const caseOfficerPersonFields = "Person.{personalNumber,givenName,middleName,surname,address,errands}"

func TestExplainAPI(t *testing.T) {
	d := newDemo(t, demoOptions{}) // the demo: approval off
	const officer = "security-officer"
	explain := func(t *testing.T, caller string, body map[string]any, status int) map[string]any {
		t.Helper()
		return d.mustCall(t, caller, "POST", "/admin/api/explain", jsonBody(t, body), status)
	}

	t.Run("only for security officers", func(t *testing.T) {
		for _, caller := range []string{"", "case-officer", "social-secretary", "analyst", "open-data"} {
			out := explain(t, caller, map[string]any{"persona": "social-secretary", "field": "Person.address"}, http.StatusForbidden)
			if out["code"] != "FORBIDDEN" {
				t.Errorf("as %q: %v", caller, out)
			}
		}
	})

	// One line per case: who is explained, the question, the answer.
	caseOfficerToken := d.token(t, "case-officer")
	for _, c := range []struct {
		name     string
		body     map[string]any
		decision string
		subject  string
		rule     string
	}{
		{"persona", map[string]any{"persona": "case-officer", "field": "Person.address"}, "ALLOW", "demo-case-officer", caseOfficerPersonFields},
		{"persona, protected", map[string]any{"persona": "case-officer", "field": "Person.address", "protected": true}, "DENY", "demo-case-officer", ""},
		{"token, verified as a request's", map[string]any{"token": caseOfficerToken, "field": "Person.address"}, "ALLOW", "demo-case-officer", caseOfficerPersonFields},
		{"row", map[string]any{"persona": "case-officer", "action": "row", "object": "Errand(caseType=EKONOMISKT_BISTAND)"}, "DENY", "demo-case-officer", ""},
		{"anonymous", map[string]any{"persona": "anonymous", "field": "Person.givenName"}, "DENY", "anonymous", ""},
		{"the caller itself", map[string]any{"action": "admin", "object": "policy"}, "ALLOW", "demo-security-officer", "admin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := explain(t, officer, c.body, http.StatusOK)
			p, _ := out["principal"].(map[string]any)
			if out["decision"] != c.decision || out["version"] != 1.0 || p["subject"] != c.subject || out["reason"] == "" ||
				!strings.Contains(out["rule"].(string), c.rule) {
				t.Fatalf("explain %v: %v", c.body, out)
			}
		})
	}

	t.Run("refused questions", func(t *testing.T) {
		for _, c := range []struct {
			body   map[string]any
			status int
			code   string
		}{
			{map[string]any{"token": "kg_not-a-key", "field": "Person.address"}, http.StatusUnprocessableEntity, "INVALID_CREDENTIAL"},
			{map[string]any{"token": caseOfficerToken[:len(caseOfficerToken)-4] + "AAAA", "field": "Person.address"}, http.StatusUnprocessableEntity, "INVALID_CREDENTIAL"},
			{map[string]any{"persona": "case-officer", "token": caseOfficerToken, "field": "Person.address"}, http.StatusBadRequest, "BAD_REQUEST"},
			{map[string]any{"persona": "nobody", "field": "Person.address"}, http.StatusBadRequest, "BAD_REQUEST"},
			{map[string]any{"persona": "case-officer"}, http.StatusBadRequest, "BAD_REQUEST"},
			{map[string]any{"persona": "case-officer", "field": "Person.nothing"}, http.StatusBadRequest, "BAD_REQUEST"},
			{map[string]any{"persona": "case-officer", "field": "Person.address", "extra": 1}, http.StatusBadRequest, "BAD_REQUEST"},
		} {
			if out := explain(t, officer, c.body, c.status); out["code"] != c.code {
				t.Errorf("%v: %v, want %s", c.body, out, c.code)
			}
		}
	})

	t.Run("the live policy, after a change", func(t *testing.T) {
		policy := d.mustCall(t, officer, "GET", "/admin/api/policy", "", http.StatusOK)
		text := policy["text"].(string)
		if !strings.Contains(text, caseOfficerPersonFields) {
			t.Fatalf("the demo policy has no line %q", caseOfficerPersonFields)
		}
		changed := strings.Replace(text, caseOfficerPersonFields, strings.Replace(caseOfficerPersonFields, "address,", "", 1), 1)
		out := d.mustCall(t, officer, "POST", "/admin/api/proposals", jsonBody(t, map[string]any{"baseVersion": 1, "text": changed, "comment": "no addresses"}), http.StatusCreated)
		if out["applied"] != true || out["version"] != 2.0 {
			t.Fatalf("propose: %v", out)
		}
		got := explain(t, officer, map[string]any{"persona": "case-officer", "field": "Person.address"}, http.StatusOK)
		if got["decision"] != "DENY" || got["version"] != 2.0 {
			t.Fatalf("after version 2: %v", got)
		}
	})
}
