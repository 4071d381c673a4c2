package admin_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
)

// TestAdminAPITimesAreStockholm: the admin API gives every time in RFC 3339
// with the Europe/Stockholm offset.
func TestAdminAPITimesAreStockholm(t *testing.T) {
	d := newDemo(t, demoOptions{})
	offset := time.Now().In(authz.Stockholm).Format("-07:00")
	for _, path := range []string{"/admin/api/policy", "/admin/api/versions", "/admin/api/audit"} {
		resp, raw := d.admin(t, adminRequest{method: "GET", path: path, bearer: "security-officer"})
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
		}
		var probe struct {
			CreatedAt time.Time `json:"createdAt"`
			Versions  []struct {
				CreatedAt string `json:"createdAt"`
			} `json:"versions"`
			Events []struct {
				At string `json:"at"`
			} `json:"events"`
		}
		_ = json.Unmarshal([]byte(raw), &probe)
		var times []string
		if strings.Contains(raw, `"createdAt"`) {
			_, after, _ := strings.Cut(raw, `"createdAt":"`)
			times = append(times, strings.SplitN(after, `"`, 2)[0])
		}
		for _, e := range probe.Events {
			times = append(times, e.At)
		}
		if len(times) == 0 {
			t.Fatalf("%s: no times in %s", path, raw)
		}
		for _, s := range times {
			if _, err := time.Parse(time.RFC3339, s); err != nil || !strings.HasSuffix(s, offset) {
				t.Errorf("%s: time %q is not RFC 3339 with the Stockholm offset %s", path, s, offset)
			}
		}
	}
}

// TestAccessLogTabFollowsThePolicy: the editor shows the access log tab,
// and the API answers, only to principals the policy allows admin on
// accesslog; an officer of the policy alone sees neither.
func TestAccessLogTabFollowsThePolicy(t *testing.T) {
	const all = `p, role:security-officer, "{policy,accesslog,cache}", admin, *, 0, allow`
	if !strings.Contains(authz.DefaultPolicy(), all) {
		t.Fatalf("the default policy no longer has %q", all)
	}
	policyOnly := strings.Replace(authz.DefaultPolicy(), all, `p, role:security-officer, "{policy,cache}", admin, *, 0, allow`, 1)
	for _, tc := range []struct {
		name   string
		policy string
		tab    bool
		status int
	}{
		{"the default policy", "", true, 200},
		{"admin on policy only", policyOnly, false, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemo(t, demoOptions{policy: tc.policy})
			resp, page := d.admin(t, adminRequest{method: "GET", path: "/admin", bearer: "security-officer"})
			if resp.StatusCode != 200 || strings.Contains(page, `href="#accesslog"`) != tc.tab || strings.Contains(page, `id="accesslog-form"`) != tc.tab {
				t.Fatalf("status %d, access log tab %v: %.300s", resp.StatusCode, !tc.tab, page)
			}
			resp, body := d.admin(t, adminRequest{method: "POST", path: "/admin/api/access-log", body: `{}`, bearer: "security-officer"})
			if resp.StatusCode != tc.status {
				t.Fatalf("search: %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
		})
	}
}
