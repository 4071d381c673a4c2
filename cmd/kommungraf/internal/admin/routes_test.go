package admin_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/admin"
)

// wantRoutes are every authorized route of the admin surface and the admin
// object each needs: a route added, dropped or moved to another object
// fails TestEveryRouteFailsClosed until this table says so.
var wantRoutes = map[string]string{
	"GET /admin/api/policy":                      authz.ObjPolicy,
	"GET /admin/api/catalog":                     authz.ObjPolicy,
	"POST /admin/api/dry-run":                    authz.ObjPolicy,
	"POST /admin/api/proposals":                  authz.ObjPolicy,
	"GET /admin/api/proposals":                   authz.ObjPolicy,
	"GET /admin/api/proposals/{id}":              authz.ObjPolicy,
	"POST /admin/api/proposals/{id}/approve":     authz.ObjPolicy,
	"POST /admin/api/proposals/{id}/reject":      authz.ObjPolicy,
	"GET /admin/api/versions":                    authz.ObjPolicy,
	"GET /admin/api/versions/{version}":          authz.ObjPolicy,
	"POST /admin/api/versions/{version}/restore": authz.ObjPolicy,
	"GET /admin/api/audit":                       authz.ObjPolicy,
	"POST /admin/api/explain":                    authz.ObjPolicy,
	"GET /admin/api/operations":                  authz.ObjPolicy,
	"POST /admin/api/operations":                 authz.ObjPolicy,
	"GET /admin/api/report":                      authz.ObjPolicy,
	"POST /admin/api/access-log":                 authz.ObjAccessLog,
	"GET /admin/access-log":                      authz.ObjAccessLog,
	"POST /admin/cache/invalidate":               authz.ObjCache,
	"/admin/api/":                                authz.ObjPolicy,
}

// bodies an administrator's call would be accepted with.
var routeBodies = map[string]string{
	"POST /admin/api/dry-run":                    `{"text":"p, *, *, read, *, 0, allow\n"}`,
	"POST /admin/api/proposals":                  `{"baseVersion":1,"text":"p, *, *, read, *, 0, allow\n","comment":"x"}`,
	"POST /admin/api/proposals/{id}/reject":      `{"reason":"x"}`,
	"POST /admin/api/versions/{version}/restore": `{"comment":"x"}`,
	"POST /admin/api/explain":                    `{"field":"Person.givenName"}`,
	"POST /admin/api/operations":                 `{"files":{"a.graphql":"query A { schoolUnits(first: 1) { totalCount } }"}}`,
	"POST /admin/api/access-log":                 `{"from":"2026-01-01","to":"2026-01-31"}`,
	"POST /admin/cache/invalidate":               `{"source":"etjanst"}`,
}

// request is a concrete request to a route's pattern.
func request(rt admin.Route) adminRequest {
	method, path, ok := strings.Cut(rt.Pattern, " ")
	if !ok {
		method, path = "GET", rt.Pattern+"nothing-here"
	}
	path = strings.NewReplacer("{id}", "1", "{version}", "1").Replace(path)
	return adminRequest{method: method, path: path, body: routeBodies[rt.Pattern]}
}

// The policy's line that gives security officers the admin objects.
const officerAdminLine = `p, role:security-officer, "{policy,accesslog,cache}", admin, *, 0, allow`

// TestEveryRouteFailsClosed walks every authorized route the admin
// surface mounts: it matches wantRoutes; anonymous callers, the personas
// without an admin line (by bearer, and by a session cookie with the
// page's CSRF header) and a forged credential are refused each; and a
// security officer allowed admin on one object only is served exactly the
// routes of that object.
func TestEveryRouteFailsClosed(t *testing.T) {
	d := newDemo(t, demoOptions{})
	routes := d.adm.Routes()
	got := map[string]string{}
	for _, rt := range routes {
		if rt.Action != authz.ActAdmin {
			t.Errorf("%s needs %s %s, want admin", rt.Pattern, rt.Action, rt.Object)
		}
		got[rt.Pattern] = rt.Object
	}
	if !mapsEqual(got, wantRoutes) {
		t.Fatalf("routes\n got %v\nwant %v", got, wantRoutes)
	}
	officer := d.token(t, "security-officer")
	forged := officer[:len(officer)-4] + "AAAA"
	for _, rt := range routes {
		for _, persona := range []string{"", "case-officer", "social-secretary", "preschool-admin", "analyst", "open-data"} {
			who := persona
			if who == "" {
				who = "anonymous"
			}
			t.Run(who+" "+rt.Pattern, func(t *testing.T) {
				req := request(rt)
				req.bearer = persona
				mustRefuse(t, d, req, http.StatusForbidden, "FORBIDDEN")
				if persona != "" && persona != "open-data" {
					// The same persona through the page's session.
					req.bearer, req.cookie, req.headers = "", d.token(t, persona), map[string]string{"X-Kommungraf-CSRF": "1"}
					mustRefuse(t, d, req, http.StatusForbidden, "FORBIDDEN")
				}
			})
		}
		t.Run("forged "+rt.Pattern, func(t *testing.T) {
			req := request(rt)
			req.headers = map[string]string{"Authorization": "Bearer " + forged}
			resp, body := d.admin(t, req)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "UNAUTHENTICATED") {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
	if v := d.flow.Store(); v != nil {
		if cur, err := v.Current(t.Context()); err != nil || cur.Number != 1 {
			t.Fatalf("the refused calls changed the policy store: version %d, %v", cur.Number, err)
		}
	}

	for _, obj := range []string{authz.ObjPolicy, authz.ObjAccessLog, authz.ObjCache} {
		t.Run("officer with admin on "+obj+" only", func(t *testing.T) {
			policy := authz.DefaultPolicy()
			if !strings.Contains(policy, officerAdminLine) {
				t.Fatalf("the embedded policy no longer has %q", officerAdminLine)
			}
			d := newDemo(t, demoOptions{policy: strings.Replace(policy, officerAdminLine, "p, role:security-officer, "+obj+", admin, *, 0, allow", 1)})
			for _, rt := range d.adm.Routes() {
				resp, body := d.admin(t, withBearer(request(rt), "security-officer"))
				refused := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden && strings.Contains(body, `"FORBIDDEN"`)
				if refused != (rt.Object != obj) {
					t.Errorf("%s (needs admin on %s): status %d: %.300s", rt.Pattern, rt.Object, resp.StatusCode, body)
				}
			}
		})
	}
}

func withBearer(r adminRequest, persona string) adminRequest {
	r.bearer = persona
	return r
}

func mustRefuse(t *testing.T, d *demo, req adminRequest, status int, code string) {
	t.Helper()
	resp, body := d.admin(t, req)
	var p struct {
		Type, Code string
		Status     int
	}
	_ = json.Unmarshal([]byte(body), &p)
	if resp.StatusCode != status || p.Code != code || p.Status != status || p.Type != "about:blank" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%s %s: status %d (%s): %s; want %d %s", req.method, req.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, status, code)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestFurtherSectionsJoinBehindTheirAuthorization: a section given in
// Options.Routes (the integration catalog, say) is served to those the
// policy allows, refused to everyone else, reached by the page's session
// under /admin/api/, and walked by Routes; one without an authorization,
// outside /admin/, or clashing with a route already there stops New.
func TestFurtherSectionsJoinBehindTheirAuthorization(t *testing.T) {
	section := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"section":"` + authz.FromContext(r.Context()).Subject + `"}`))
	})
	d := newDemo(t, demoOptions{routes: []admin.Route{{Pattern: "GET /admin/api/integrations", Action: authz.ActAdmin, Object: authz.ObjPolicy, Handler: section}}})
	if !slices.ContainsFunc(d.adm.Routes(), func(r admin.Route) bool { return r.Pattern == "GET /admin/api/integrations" }) {
		t.Fatal("Routes leaves the section out")
	}
	officer := d.token(t, "security-officer")
	for _, tc := range []struct {
		name   string
		req    adminRequest
		status int
		want   string
	}{
		{"security officer", adminRequest{bearer: "security-officer"}, 200, `"section":"demo-security-officer"`},
		{"security officer's session", adminRequest{cookie: officer}, 200, `"section":"demo-security-officer"`},
		{"case officer", adminRequest{bearer: "case-officer"}, 403, `"FORBIDDEN"`},
		{"case officer's session", adminRequest{cookie: d.token(t, "case-officer")}, 403, `"FORBIDDEN"`},
		{"anonymous", adminRequest{}, 403, `"FORBIDDEN"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.method, tc.req.path = "GET", "/admin/api/integrations"
			resp, body := d.admin(t, tc.req)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d, want %d with %s: %s", resp.StatusCode, tc.status, tc.want, body)
			}
		})
	}

	for name, rt := range map[string]admin.Route{
		"declares no authorization": {Pattern: "GET /admin/api/x", Handler: section},
		"declares no object":        {Pattern: "GET /admin/api/x", Action: authz.ActAdmin, Handler: section},
		"not under /admin/":         {Pattern: "GET /integrations", Action: authz.ActAdmin, Object: authz.ObjPolicy, Handler: section},
		"no handler":                {Pattern: "GET /admin/api/x", Action: authz.ActAdmin, Object: authz.ObjPolicy},
		"a route already there":     {Pattern: "GET /admin/api/report", Action: authz.ActAdmin, Object: authz.ObjPolicy, Handler: section},
	} {
		t.Run("New refuses a route that "+name, func(t *testing.T) {
			o := admin.Options{Routes: []admin.Route{rt}}
			fillRequired(t, &o)
			if _, err := admin.New(o); err == nil || !strings.Contains(err.Error(), rt.Pattern) {
				t.Fatalf("New: %v, want an error naming %q", err, rt.Pattern)
			}
		})
	}
	t.Run("New names the missing parts", func(t *testing.T) {
		_, err := admin.New(admin.Options{})
		if err == nil || !strings.Contains(err.Error(), "Options.Authn") || !strings.Contains(err.Error(), "Options.Workflow") {
			t.Fatalf("New without parts: %v", err)
		}
	})
}

// fillRequired gives o the real parts of a demo, so that New gets as far
// as the routes.
func fillRequired(t *testing.T, o *admin.Options) {
	t.Helper()
	full := newDemoOptions(t)
	routes := o.Routes
	*o = full
	o.Routes = routes
}
