package gateway_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// startLoggedDemo is startDemo with the gateway's log kept for the test.
func startLoggedDemo(t *testing.T) (*demo, *testenv.LogBuffer) {
	t.Helper()
	logs := &testenv.LogBuffer{}
	cfg := config.Demo()
	return serve(t, cfg, gateway.Options{
		Demo: true, World: testWorld(), Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}), logs
}

// TestAccessLogSearch: security staff search the access log by personnummer
// with POST /admin/api/access-log, as JSON, as a form and as a CSV extract,
// by bearer header or by the editor's session; the personnummer never
// travels in a URL and never reaches a log line.
func TestAccessLogSearch(t *testing.T) {
	d, logs := startLoggedDemo(t)
	w := testWorld()

	// The case officer's worklist reads the stakeholders; its request id
	// starts like a spreadsheet formula.
	body, _ := json.Marshal(map[string]string{"query": q1})
	req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+d.token(t, "case-officer"))
	req.Header.Set("X-Request-Id", "-formula")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := d.gw.AccessLog().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var someone string
	for _, s := range q1Errands()[0].Stakeholders {
		if p := w.ByPNR[w.PersonOfParty[s.PartyID]]; !isProtected(p) {
			someone = p.PersonalNumber
		}
	}
	dashed := someone[:8] + "-" + someone[8:]
	officer := d.token(t, "security-officer")
	today := time.Now().In(authz.Stockholm)
	offset := today.Format("-07:00")

	type answer struct {
		Entries  []authz.AccessEntry `json:"entries"`
		Count    int                 `json:"count"`
		Limit    int                 `json:"limit"`
		TimeZone string              `json:"timeZone"`
		Code     string              `json:"code"`
		Detail   string              `json:"detail"`
	}
	jsonType := map[string]string{"Content-Type": "application/json"}
	formType := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	with := func(a, b map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		req     adminRequest
		status  int
		entries int    // with status 200
		code    string // otherwise
	}{
		{"JSON by bearer", adminRequest{body: `{"person":"` + someone + `"}`, bearer: "security-officer", headers: jsonType}, 200, 1, ""},
		{"a dashed personnummer", adminRequest{body: `{"person":"` + dashed + `","limit":10}`, bearer: "security-officer", headers: jsonType}, 200, 1, ""},
		{"a form", adminRequest{body: url.Values{"person": {someone}, "client": {"bygglov-app"}}.Encode(), bearer: "security-officer", headers: formType}, 200, 1, ""},
		{"today as a Swedish date", adminRequest{body: `{"person":"` + someone + `","from":"` + today.Format(time.DateOnly) + `","to":"` + today.Format(time.DateOnly) + `"}`, bearer: "security-officer", headers: jsonType}, 200, 1, ""},
		{"from tomorrow", adminRequest{body: `{"person":"` + someone + `","from":"` + today.AddDate(0, 0, 1).Format(time.DateOnly) + `"}`, bearer: "security-officer", headers: jsonType}, 200, 0, ""},
		{"another client", adminRequest{body: `{"person":"` + someone + `","client":"preschool-app"}`, bearer: "security-officer", headers: jsonType}, 200, 0, ""},
		{"the subject", adminRequest{body: `{"person":"` + someone + `","subject":"demo-case-officer"}`, bearer: "security-officer", headers: jsonType}, 200, 1, ""},
		{"the session cookie with the CSRF header", adminRequest{body: `{"person":"` + someone + `"}`, cookie: officer, headers: with(jsonType, csrf)}, 200, 1, ""},
		{"the session cookie without it", adminRequest{body: `{"person":"` + someone + `"}`, cookie: officer, headers: jsonType}, 403, 0, "CSRF"},
		{"a case officer", adminRequest{body: `{"person":"` + someone + `"}`, bearer: "case-officer", headers: jsonType}, 403, 0, "FORBIDDEN"},
		{"anonymous", adminRequest{body: `{"person":"` + someone + `"}`, headers: jsonType}, 403, 0, "FORBIDDEN"},
		{"an invalid personnummer", adminRequest{body: `{"person":"19850101-0001"}`, bearer: "security-officer", headers: jsonType}, 400, 0, "BAD_REQUEST"},
		{"a bad date", adminRequest{body: `{"from":"1 December"}`, bearer: "security-officer", headers: jsonType}, 400, 0, "BAD_REQUEST"},
		{"a limit of 0", adminRequest{body: `{"limit":0}`, bearer: "security-officer", headers: jsonType}, 400, 0, "BAD_REQUEST"},
		{"a limit too large", adminRequest{body: `limit=10001`, bearer: "security-officer", headers: formType}, 400, 0, "BAD_REQUEST"},
		{"an unknown field", adminRequest{body: `{"personnummer":"` + someone + `"}`, bearer: "security-officer", headers: jsonType}, 400, 0, "BAD_REQUEST"},
		{"an unknown format", adminRequest{body: `{"format":"xlsx"}`, bearer: "security-officer", headers: jsonType}, 400, 0, "BAD_REQUEST"},
		{"plain text", adminRequest{body: someone, bearer: "security-officer", headers: map[string]string{"Content-Type": "text/plain"}}, 415, 0, "UNSUPPORTED_MEDIA_TYPE"},
		{"parameters in the URL", adminRequest{path: "/admin/api/access-log?from=2026-01-01", body: `{}`, bearer: "security-officer", headers: jsonType}, 400, 0, "BAD_REQUEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.method = "POST"
			if tc.req.path == "" {
				tc.req.path = "/admin/api/access-log"
			}
			resp, raw := d.admin(t, tc.req)
			var a answer
			if err := json.Unmarshal([]byte(raw), &a); err != nil {
				t.Fatalf("not JSON: %v: %s", err, raw)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if tc.status != 200 {
				if ct := resp.Header.Get("Content-Type"); a.Code != tc.code || ct != "application/problem+json" {
					t.Fatalf("%s %s, want problem+json %s", ct, raw, tc.code)
				}
				if strings.Contains(raw, "19850101") {
					t.Errorf("the problem repeats the personnummer sent: %s", raw)
				}
				return
			}
			if len(a.Entries) != tc.entries || a.Count != tc.entries || a.TimeZone != "Europe/Stockholm" || a.Limit < 1 {
				t.Fatalf("got %d entries (count %d, limit %d, zone %q), want %d: %s", len(a.Entries), a.Count, a.Limit, a.TimeZone, tc.entries, raw)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			for _, e := range a.Entries {
				if e.Client != "bygglov-app" || e.Subject != "demo-case-officer" || e.RequestID != "-formula" {
					t.Errorf("entry %+v", e)
				}
			}
			if tc.entries > 0 && !strings.Contains(raw, `"time":"`+today.Format(time.DateOnly)) || tc.entries > 0 && !strings.Contains(raw, offset+`"`) {
				t.Errorf("times are not RFC 3339 in Stockholm (%s): %s", offset, raw)
			}
		})
	}

	t.Run("CSV extract", func(t *testing.T) {
		for name, ar := range map[string]adminRequest{
			"Accept: text/csv": {body: `{"person":"` + dashed + `"}`, headers: with(jsonType, map[string]string{"Accept": "text/csv"})},
			"format csv":       {body: url.Values{"person": {someone}, "format": {"csv"}}.Encode(), headers: formType},
		} {
			t.Run(name, func(t *testing.T) {
				ar.method, ar.path, ar.bearer = "POST", "/admin/api/access-log", "security-officer"
				resp, raw := d.admin(t, ar)
				if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
					t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
				}
				cd := resp.Header.Get("Content-Disposition")
				if !strings.HasPrefix(cd, `attachment; filename="registerutdrag-`) || !strings.HasSuffix(cd, `.csv"`) || strings.Contains(cd, someone[:8]) {
					t.Errorf("Content-Disposition %q", cd)
				}
				rows, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
				if err != nil || len(rows) != 2 {
					t.Fatalf("%d rows, %v:\n%s", len(rows), err, raw)
				}
				want := []string{"when (Europe/Stockholm)", "subject", "unit", "client", "purposes", "operation", "fields read", "denied", "request id"}
				if !slices.Equal(rows[0], want) {
					t.Errorf("header %q", rows[0])
				}
				r := rows[1]
				when, err := time.Parse(time.RFC3339, r[0])
				if err != nil || !strings.HasSuffix(r[0], offset) || time.Since(when) > time.Hour {
					t.Errorf("when %q: %v", r[0], err)
				}
				if r[1] != "demo-case-officer" || r[3] != "bygglov-app" || r[4] != "bygglov" || !strings.Contains(r[6], "Person.givenName") {
					t.Errorf("row %q", r)
				}
				if r[8] != "'-formula" {
					t.Errorf("request id %q: a value starting with - must be neutralised", r[8])
				}
				if strings.Contains(raw, someone[:8]) {
					t.Error("the extract holds the personnummer")
				}
			})
		}
	})

	t.Run("the old GET route takes no personnummer", func(t *testing.T) {
		resp, raw := d.admin(t, adminRequest{method: "GET", path: "/admin/access-log?person=" + someone, bearer: "security-officer"})
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(raw, "POST /admin/api/access-log") {
			t.Fatalf("status %d: %s", resp.StatusCode, raw)
		}
		if strings.Contains(raw, someone) {
			t.Fatalf("the answer repeats the personnummer: %s", raw)
		}
	})

	for _, form := range []string{someone, dashed, someone[2:]} {
		if strings.Contains(logs.String(), form) {
			t.Fatalf("a log line holds the personnummer:\n%s", logs.String())
		}
	}
}

// TestCatalogNamesTheVocabulary: the catalog API names what a policy line's
// columns may name, for the editor's choices.
func TestCatalogNamesTheVocabulary(t *testing.T) {
	d := startDemo(t, nil, 0, false)
	resp, raw := d.admin(t, adminRequest{method: "GET", path: "/admin/api/catalog", bearer: "security-officer"})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	var c struct {
		Roles []struct {
			Name      string   `json:"name"`
			Clearance int      `json:"clearance"`
			Purposes  []string `json:"purposes"`
		} `json:"roles"`
		Units, Clients, Purposes, Types, Actions, AdminObjects []string
	}
	if err := json.NewDecoder(io.NopCloser(strings.NewReader(raw))).Decode(&c); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(c.Roles, func(r struct {
		Name      string   `json:"name"`
		Clearance int      `json:"clearance"`
		Purposes  []string `json:"purposes"`
	}) bool {
		return r.Name == "case-officer"
	})
	if i < 0 || c.Roles[i].Clearance != 2 || !slices.Equal(c.Roles[i].Purposes, []string{"bygglov"}) {
		t.Errorf("roles %+v", c.Roles)
	}
	for name, tc := range map[string]struct {
		got  []string
		want string
	}{
		"clients": {c.Clients, "bygglov-app"}, "purposes": {c.Purposes, "forskoleplacering"}, "types": {c.Types, "Person"},
		"actions": {c.Actions, "row"}, "adminObjects": {c.AdminObjects, "accesslog"}, "units": {c.Units, "Informationssäkerhet"},
	} {
		if !slices.Contains(tc.got, tc.want) || !slices.IsSorted(tc.got) && name != "actions" && name != "adminObjects" {
			t.Errorf("%s %q lacks %q or is not sorted", name, tc.got, tc.want)
		}
	}
}

// TestAccessLogSearchesAreLogged: looking a person up in the access log is
// itself a look at the person (it tells which units and purposes read
// them), so every search leaves an entry: who searched, for whom (hashed),
// how (filters, CSV). A plain search answers with reads of data only;
// includeSearches adds the searches.
func TestAccessLogSearchesAreLogged(t *testing.T) {
	d := newSecureDemo(t)
	p := protectedAdultWithAddress(t) // a search reveals nothing about protection either
	for _, body := range []string{
		`{"person":"` + p.PersonalNumber + `","client":"case-app"}`,
		`{"person":"` + p.PersonalNumber + `","format":"csv"}`,
	} {
		if resp, text := d.admin(t, adminRequest{method: "POST", path: "/admin/api/access-log", body: body, bearer: "security-officer"}); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
	}
	if err := d.gw.AccessLog().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	search := func(body string) []authz.AccessEntry {
		t.Helper()
		resp, text := d.admin(t, adminRequest{method: "POST", path: "/admin/api/access-log", body: body, bearer: "security-officer-2"})
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
		var a struct{ Entries []authz.AccessEntry }
		if err := json.Unmarshal([]byte(text), &a); err != nil {
			t.Fatal(err)
		}
		// A search's own entry may reach the log before the search reads
		// it: the search is not among what it found.
		own := resp.Header.Get("X-Request-Id")
		return slices.DeleteFunc(a.Entries, func(e authz.AccessEntry) bool { return own != "" && e.RequestID == own })
	}
	if got := search(`{"person":"` + p.PersonalNumber + `"}`); len(got) != 0 {
		t.Fatalf("a plain search lists searches: %+v", got)
	}
	// A search's own entry is written like any other, after its answer (the
	// handler may still be appending it when the client has read the
	// answer): wait until the log holds the three searches so far, asking
	// the store directly so that the waiting leaves no entries of its own.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := d.gw.AccessLog().Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		all, err := d.gw.AccessLog().Query(context.Background(), authz.AccessQuery{IncludeSearches: true})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(slices.DeleteFunc(all, func(e authz.AccessEntry) bool { return e.Operation != authz.OperationAccessLogSearch })); n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the three searches did not all reach the access log")
		}
		time.Sleep(10 * time.Millisecond) // polling the log, not waiting for a goroutine by time
	}
	// The two searches of the first officer and the plain search of the
	// second, oldest first.
	got := search(`{"person":"` + p.PersonalNumber + `","includeSearches":true}`)
	if len(got) != 3 {
		t.Fatalf("want three searches, got %+v", got)
	}
	slices.SortFunc(got, func(a, b authz.AccessEntry) int { return a.Time.Compare(b.Time) })
	for i, want := range []struct {
		subject string
		fields  []string
	}{
		{"demo-security-officer", []string{"AccessLog.search", "AccessLog.search(client=case-app)"}},
		{"demo-security-officer", []string{"AccessLog.search", "AccessLog.search(csv)"}},
		{"demo-security-officer-2", []string{"AccessLog.search"}},
	} {
		e := got[i]
		if e.Subject != want.subject || e.Operation != authz.OperationAccessLogSearch || !slices.Equal(e.Fields, want.fields) ||
			len(e.Persons) != 1 || strings.Contains(e.Persons[0], p.PersonalNumber[2:]) || e.Outcome != authz.OutcomeServed {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
}
