package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// The case officer's address line of the demo policy: the tests withdraw it.
const caseOfficerAddressLine = "p, role:case-officer, Address.*, read, bygglov, clearance, allow\n"

// policyRoutes are every route of the policy API, with a body that would
// be accepted from a security officer.
var policyRoutes = []struct{ method, path, body string }{
	{"GET", "/admin/api/policy", ""},
	{"GET", "/admin/api/catalog", ""},
	{"POST", "/admin/api/dry-run", `{"text":"p, *, *, read, *, 0, allow\n"}`},
	{"POST", "/admin/api/proposals", `{"baseVersion":1,"text":"p, *, *, read, *, 0, allow\n","comment":"x"}`},
	{"GET", "/admin/api/proposals?status=proposed", ""},
	{"GET", "/admin/api/proposals/1", ""},
	{"POST", "/admin/api/proposals/1/approve", ""},
	{"POST", "/admin/api/proposals/1/reject", `{"reason":"x"}`},
	{"GET", "/admin/api/versions", ""},
	{"GET", "/admin/api/versions/1", ""},
	{"POST", "/admin/api/versions/1/restore", `{"comment":"x"}`},
	{"GET", "/admin/api/audit", ""},
	{"GET", "/admin/api/nothing-here", ""},
}

// policyCall calls the policy API as persona ("" for none) and decodes the
// JSON answer.
func (d *demo) policyCall(t *testing.T, persona, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, d.srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if persona != "" {
		req.Header.Set("Authorization", "Bearer "+d.token(t, persona))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != "application/problem+json" {
		t.Fatalf("%s %s: %d with Content-Type %q, want problem+json", method, path, resp.StatusCode, ct)
	}
	return resp.StatusCode, out
}

// mustCall is policyCall that insists on a status.
func (d *demo) mustCall(t *testing.T, persona, method, path, body string, status int) map[string]any {
	t.Helper()
	got, out := d.policyCall(t, persona, method, path, body)
	if got != status {
		t.Fatalf("%s %s as %s: %d, want %d: %v", method, path, persona, got, status, out)
	}
	return out
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cityForbidden asks as the case officer for an ordinary adult's address and
// reports whether the city came back FORBIDDEN.
func (d *demo) cityForbidden(t *testing.T) bool {
	t.Helper()
	p := someAdult(t)
	r := d.as(t, "case-officer").query(t, `{ person(personalNumber: "`+p.PersonalNumber+`") { givenName address { city } } }`)
	if !strings.Contains(string(r.Data), p.GivenName) {
		t.Fatalf("the case officer no longer reads names: %s", r.raw)
	}
	for _, e := range r.Errors {
		if e.Extensions["code"] == authz.CodeForbidden && slices.Equal(e.Path, []any{"person", "address", "city"}) {
			return true
		}
	}
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %s", r.raw)
	}
	return false
}

func TestPolicyAPIIsForSecurityOfficersOnly(t *testing.T) {
	d := startDemo(t, nil, 0, false)
	for _, persona := range []string{"", "case-officer", "social-secretary", "preschool-admin", "analyst", "open-data"} {
		for _, r := range policyRoutes {
			who := persona
			if who == "" {
				who = "anonymous"
			}
			t.Run(who+" "+r.method+" "+r.path, func(t *testing.T) {
				out := d.mustCall(t, persona, r.method, r.path, r.body, http.StatusForbidden)
				if out["code"] != "FORBIDDEN" || out["type"] != "about:blank" || out["status"] != 403.0 {
					t.Fatalf("problem %v", out)
				}
			})
		}
	}
	if v := d.gw.Authorizer().Version(); v != 1 {
		t.Fatalf("the refused calls changed the policy to version %d", v)
	}
}

func TestPolicyAPIWorkflow(t *testing.T) {
	d := startDemo(t, func(c *config.Config) { c.Authz.RequireApproval = boolPtr(true) }, 0, false)
	const officer, second = "security-officer", "security-officer-2"

	policy := d.mustCall(t, officer, "GET", "/admin/api/policy", "", 200)
	text, _ := policy["text"].(string)
	if policy["version"] != 1.0 || policy["requireApproval"] != true || !strings.Contains(text, caseOfficerAddressLine) {
		t.Fatalf("policy %v", policy)
	}
	if rules, _ := policy["rules"].([]any); len(rules) < 20 || !slices.Contains(rules, any(strings.TrimSpace(caseOfficerAddressLine))) {
		t.Fatalf("rules %v", policy["rules"])
	}
	withdrawn := strings.Replace(text, caseOfficerAddressLine, "", 1)

	t.Run("catalog", func(t *testing.T) {
		cat := d.mustCall(t, officer, "GET", "/admin/api/catalog", "", 200)
		fields, _ := cat["fields"].([]any)
		var city map[string]any
		for _, f := range fields {
			if m := f.(map[string]any); m["key"] == "Address.city" {
				city = m
			}
		}
		if city == nil || city["type"] != "Address" || city["field"] != "city" || city["level"] != 1.0 || city["personal"] != true ||
			city["health"] != false || city["owner"] == "" {
			t.Fatalf("Address.city %v", city)
		}
		want := map[string]any{"role": "case-officer", "client": "bygglov-app", "allowed": true, "protectedAllowed": false}
		if !slices.ContainsFunc(city["access"].([]any), func(a any) bool { return jsonBody(t, a) == jsonBody(t, want) }) {
			t.Fatalf("access %v, want %v among it", city["access"], want)
		}
		contracts, _ := cat["contracts"].([]any)
		if !slices.ContainsFunc(contracts, func(c any) bool {
			m := c.(map[string]any)
			return m["client"] == "bygglov-app" && m["ceiling"] == 2.0 && m["owner"] == "Bygg- och miljönämnden" && len(m["fields"].([]any)) > 0
		}) {
			t.Fatalf("contracts %v", contracts)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		out := d.mustCall(t, officer, "POST", "/admin/api/dry-run", jsonBody(t, map[string]string{"text": withdrawn}), 200)
		want := map[string]any{"role": "case-officer", "client": "bygglov-app", "field": "Address.city", "protected": false, "before": true, "after": false}
		if !slices.ContainsFunc(out["changes"].([]any), func(c any) bool {
			m := c.(map[string]any)
			for k, v := range want {
				if m[k] != v {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("changes %v, want %v among them", out["changes"], want)
		}
		// The registered operations the change reaches: the worklist
		// reads its stakeholders' cities.
		if !slices.ContainsFunc(out["operations"].([]any), func(o any) bool {
			m := o.(map[string]any)
			return m["name"] == "Worklist" && slices.Contains(m["fields"].([]any), any("Address.city"))
		}) {
			t.Fatalf("operations %v, want Worklist through Address.city among them", out["operations"])
		}
		for _, o := range out["operations"].([]any) {
			if name := o.(map[string]any)["name"]; name == "OpenSchoolUnits" || name == "OpenProperty" {
				t.Errorf("%s selects no address, yet the dry run lists it", name)
			}
		}
		recent, _ := out["recent"].(map[string]any)
		if _, ok := recent["examined"].(float64); !ok {
			t.Fatalf("recent %v", out["recent"])
		}
		if _, ok := recent["changed"].(float64); !ok {
			t.Fatalf("recent %v", out["recent"])
		}
	})

	t.Run("refusals", func(t *testing.T) {
		bad := text + "p, role:case-officer, Address.city, read, bygglov, allow\n, role:x, Address.city, read, *, 0, allow\n"
		for path, body := range map[string]map[string]any{
			"/admin/api/dry-run":   {"text": bad},
			"/admin/api/proposals": {"baseVersion": 1, "text": bad},
		} {
			out := d.mustCall(t, officer, "POST", path, jsonBody(t, body), 422)
			lines, _ := out["lines"].([]any)
			n := float64(strings.Count(text, "\n"))
			if out["code"] != "INVALID_POLICY" || len(lines) != 2 || lines[0].(map[string]any)["line"] != n+1 || lines[1].(map[string]any)["line"] != n+2 ||
				lines[0].(map[string]any)["message"] == "" || lines[0].(map[string]any)["text"] == "" {
				t.Fatalf("%s: %v", path, out)
			}
		}
		lockout := strings.Replace(text, `p, role:security-officer, "{policy,accesslog,cache}", admin, *, 0, allow`+"\n", "", 1)
		out := d.mustCall(t, officer, "POST", "/admin/api/proposals", jsonBody(t, map[string]any{"baseVersion": 1, "text": lockout}), 422)
		if out["code"] != "GUARD_RAIL" || !strings.Contains(jsonBody(t, out["rails"]), authz.RailAdminLockout) {
			t.Fatalf("lock-out: %v", out)
		}
		open := text + "p, authenticated, Placement.specialDiet, read, *, 3, allow\n"
		out = d.mustCall(t, officer, "POST", "/admin/api/proposals", jsonBody(t, map[string]any{"baseVersion": 1, "text": open}), 422)
		if out["code"] != "GUARD_RAIL" || !strings.Contains(jsonBody(t, out["rails"]), authz.RailLevel3Everyone) {
			t.Fatalf("level 3 to everyone: %v", out)
		}
		out = d.mustCall(t, officer, "POST", "/admin/api/proposals", jsonBody(t, map[string]any{"baseVersion": 7, "text": withdrawn}), 409)
		if out["code"] != "STALE_VERSION" || out["currentVersion"] != 1.0 {
			t.Fatalf("stale: %v", out)
		}
		for _, body := range []string{`{"text":"x"}`, `{"baseVersion":1}`, `{"baseVersion":1,"text":"","extra":1}`, `not json`} {
			if out := d.mustCall(t, officer, "POST", "/admin/api/proposals", body, 400); out["code"] != "BAD_REQUEST" {
				t.Fatalf("%s: %v", body, out)
			}
		}
		if out := d.mustCall(t, officer, "POST", "/admin/api/proposals/999/approve", "", 404); out["code"] != "NOT_FOUND" {
			t.Fatalf("unknown proposal: %v", out)
		}
		if d.gw.Authorizer().Version() != 1 || d.cityForbidden(t) {
			t.Fatal("a refused change touched the live policy")
		}
		if ps := d.mustCall(t, officer, "GET", "/admin/api/proposals", "", 200)["proposals"].([]any); len(ps) != 0 {
			t.Fatalf("refused changes were stored: %v", ps)
		}
	})

	t.Run("propose, approve by a second officer, restore", func(t *testing.T) {
		out := d.mustCall(t, officer, "POST", "/admin/api/proposals",
			jsonBody(t, map[string]any{"baseVersion": 1, "text": withdrawn, "comment": "no addresses for bygglov"}), 201)
		p, _ := out["proposal"].(map[string]any)
		if out["applied"] != false || p["status"] != "proposed" || p["author"] != "demo-security-officer" || p["baseVersion"] != 1.0 ||
			!strings.Contains(p["diff"].(string), "- "+strings.TrimSpace(caseOfficerAddressLine)) {
			t.Fatalf("proposal %v", out)
		}
		id := jsonBody(t, p["id"])
		list := d.mustCall(t, officer, "GET", "/admin/api/proposals?status=proposed", "", 200)["proposals"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["comment"] != "no addresses for bygglov" || list[0].(map[string]any)["createdAt"] == "" {
			t.Fatalf("open proposals %v", list)
		}
		if d.cityForbidden(t) {
			t.Fatal("the proposal took effect before approval")
		}
		if out := d.mustCall(t, officer, "POST", "/admin/api/proposals/"+id+"/approve", "", 403); out["code"] != "SELF_APPROVAL" {
			t.Fatalf("self-approval: %v", out)
		}
		out = d.mustCall(t, second, "POST", "/admin/api/proposals/"+id+"/approve", "", 200)
		if out["version"] != 2.0 {
			t.Fatalf("approve: %v", out)
		}
		if !d.cityForbidden(t) {
			t.Fatal("the approved change is not enforced")
		}
		versions := d.mustCall(t, officer, "GET", "/admin/api/versions", "", 200)["versions"].([]any)
		v2 := versions[0].(map[string]any)
		if len(versions) != 2 || v2["version"] != 2.0 || v2["author"] != "demo-security-officer" || v2["comment"] != "no addresses for bygglov" ||
			!strings.Contains(v2["diff"].(string), "- ") || v2["createdAt"] == "" {
			t.Fatalf("versions %v", versions)
		}

		out = d.mustCall(t, officer, "POST", "/admin/api/versions/1/restore", `{"comment":"addresses back"}`, 201)
		p, _ = out["proposal"].(map[string]any)
		if out["applied"] != false || p["restores"] != 1.0 || p["baseVersion"] != 2.0 {
			t.Fatalf("restore %v", out)
		}
		out = d.mustCall(t, second, "POST", "/admin/api/proposals/"+jsonBody(t, p["id"])+"/approve", "", 200)
		if out["version"] != 3.0 || d.cityForbidden(t) {
			t.Fatalf("after the restore: %v, city still forbidden %v", out, d.cityForbidden(t))
		}
		if v := d.mustCall(t, officer, "GET", "/admin/api/versions/3", "", 200); v["text"] != text {
			t.Fatalf("version 3 is not version 1's text: %v", v["text"])
		}

		// A rejected proposal changes nothing and says why.
		out = d.mustCall(t, officer, "POST", "/admin/api/proposals", jsonBody(t, map[string]any{"baseVersion": 3, "text": withdrawn}), 201)
		rid := jsonBody(t, out["proposal"].(map[string]any)["id"])
		out = d.mustCall(t, second, "POST", "/admin/api/proposals/"+rid+"/reject", `{"reason":"not now"}`, 200)
		if p := out["proposal"].(map[string]any); p["status"] != "rejected" || p["reason"] != "not now" || p["decidedBy"] != "demo-security-officer-2" {
			t.Fatalf("reject %v", out)
		}
		if out := d.mustCall(t, second, "POST", "/admin/api/proposals/"+rid+"/approve", "", 409); out["code"] != "PROPOSAL_CLOSED" {
			t.Fatalf("approving a rejected proposal: %v", out)
		}

		events := d.mustCall(t, officer, "GET", "/admin/api/audit", "", 200)["events"].([]any)
		var actions []string
		for _, e := range events {
			actions = append(actions, e.(map[string]any)["action"].(string))
		}
		want := []string{"reject", "propose", "apply", "approve", "restore", "apply", "approve", "propose", "apply"}
		if !slices.Equal(actions, want) {
			t.Fatalf("audit %v, want %v", actions, want)
		}
		if e := events[3].(map[string]any); e["actor"] != "demo-security-officer-2" || e["version"] != 3.0 || e["proposal"] == nil || e["at"] == "" {
			t.Fatalf("approve event %v", e)
		}
	})
}

// Two gateways sharing PostgreSQL and Redis: a change applied on one is
// enforced on the other within a second; with the other's Redis connection
// cut it still arrives, through the periodic reload.
func TestPolicyChangeReachesEveryReplica(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	shared := func(redis string, reload time.Duration) func(*config.Config) {
		return func(c *config.Config) {
			c.Authz.PolicyDatabaseURL = dsn
			c.Authz.PolicyReloadInterval = reload
			c.Redis.URL = redis
			c.Cache.Disabled = true // the announcements need Redis even so
		}
	}
	a := startDemo(t, func(c *config.Config) {
		shared(redisURL, time.Hour)(c)
		c.Cache.Disabled = false
		withRedis(redisURL, uniqueVersion(t), true)(c)
	}, 0, false)
	// b hears of changes only through Redis: its periodic reload is an hour.
	b := startDemo(t, shared(redisURL, time.Hour), 0, false)
	proxy := newTCPProxy(t, redisURL)
	c := startDemo(t, shared(proxy.url(redisURL), 200*time.Millisecond), 0, false)

	text := a.mustCall(t, "security-officer", "GET", "/admin/api/policy", "", 200)["text"].(string)
	withdrawn := strings.Replace(text, caseOfficerAddressLine, "", 1)

	converge := func(t *testing.T, r *demo, version uint64, forbidden bool, within time.Duration) {
		t.Helper()
		start := time.Now()
		for r.gw.Authorizer().Version() != version || r.cityForbidden(t) != forbidden {
			if time.Since(start) > within {
				t.Fatalf("replica at version %d (city forbidden %v) %v after version %d was applied", r.gw.Authorizer().Version(), r.cityForbidden(t), within, version)
			}
			time.Sleep(20 * time.Millisecond) // polling the other process's state
		}
	}
	out := a.mustCall(t, "security-officer", "POST", "/admin/api/proposals", jsonBody(t, map[string]any{"baseVersion": 1, "text": withdrawn}), 201)
	if out["applied"] != true || out["version"] != 2.0 {
		t.Fatalf("the demo applies without approval: %v", out)
	}
	converge(t, b, 2, true, time.Second)
	converge(t, c, 2, true, time.Second)

	proxy.cut()
	out = b.mustCall(t, "security-officer", "POST", "/admin/api/versions/1/restore", "", 201)
	if out["version"] != 3.0 {
		t.Fatalf("restore on b: %v", out)
	}
	converge(t, a, 3, false, time.Second)
	converge(t, c, 3, false, 3*time.Second) // Redis is cut: the periodic reload brings it
}

func boolPtr(b bool) *bool { return &b }
