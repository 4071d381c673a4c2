package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/resolvers"
)

// gqlRequest sends a GraphQL request body as persona ("" anonymous).
func gqlRequest(t *testing.T, d *demo, persona string, body map[string]any) response {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if persona != "" {
		req.Header.Set("Authorization", "Bearer "+d.token(t, persona))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, b)
	}
	r.raw = string(b)
	return r
}

func apq(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func onlyCode(t *testing.T, r response, code string) {
	t.Helper()
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != code || string(r.Data) != "null" {
		t.Fatalf("got %s, want only %s", r.raw, code)
	}
}

// demoOperation is a registered operation of the demo's file, by name.
func demoOperation(t *testing.T, d *demo, name string) *operations.Operation {
	t.Helper()
	ops, err := operations.Parse(graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema(), "demo.graphql", operations.DemoFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if op.Name == name {
			return op
		}
	}
	t.Fatalf("no operation %s in the demo's file", name)
	return nil
}

// TestPersistedOnlyClient: the open-data portal (persisted-only) runs its
// registered operation by id, and as text whatever the text's layout; a
// free-form document, an unknown id and a hash that is not the text's
// are refused, each with its code, before any upstream call.
func TestPersistedOnlyClient(t *testing.T) {
	d := newSecureDemo(t)
	op := demoOperation(t, d, "OpenSchoolUnits")
	vars := map[string]any{"first": 2}

	byID := gqlRequest(t, d, "open-data", map[string]any{"extensions": apq(op.ID), "variables": vars})
	mustNoErrors(t, byID)
	if !strings.Contains(string(byID.Data), `"schoolUnits":{"totalCount":`) {
		t.Fatalf("by id: %s", byID.raw)
	}
	// The same operation as the client wrote it: other layout, a comment,
	// the fragment first.
	text := "fragment OpenSchoolUnit on SchoolUnit { code name schoolForm }\n# the units\n" +
		"query OpenSchoolUnits($first: Int = 20, $after: String) { schoolUnits(first: $first, after: $after) {" +
		" totalCount edges { node { ...OpenSchoolUnit } } pageInfo { hasNextPage endCursor } } }"
	asText := gqlRequest(t, d, "open-data", map[string]any{"query": text, "variables": vars})
	mustNoErrors(t, asText)
	if string(asText.Data) != string(byID.Data) {
		t.Fatalf("as text %s, by id %s", asText.Data, byID.Data)
	}

	d.gw.Sim().Stats.Reset()
	free := `{ schoolUnits(first: 2) { totalCount } }`
	onlyCode(t, gqlRequest(t, d, "open-data", map[string]any{"query": free}), "PERSISTED_QUERY_REQUIRED")
	// A free-form text with its own APQ hash does not register it either.
	onlyCode(t, gqlRequest(t, d, "open-data", map[string]any{"query": free, "extensions": apq(sha(free))}), "PERSISTED_QUERY_REQUIRED")
	onlyCode(t, gqlRequest(t, d, "open-data", map[string]any{"extensions": apq(sha(free))}), "PERSISTED_QUERY_NOT_FOUND")
	onlyCode(t, gqlRequest(t, d, "open-data", map[string]any{"query": free, "extensions": apq(op.ID)}), "PERSISTED_QUERY_HASH_MISMATCH")
	onlyCode(t, gqlRequest(t, d, "open-data", map[string]any{"extensions": apq("not-a-hash")}), "PERSISTED_QUERY_NOT_FOUND")
	onlyCode(t, gqlRequest(t, d, "open-data", map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 2, "sha256Hash": op.ID}}}), "BAD_USER_INPUT")
	if n := totalCalls(d); n != 0 {
		t.Errorf("refused documents made %d upstream calls", n)
	}
}

// totalCalls is every upstream call the simulators counted.
func totalCalls(d *demo) int64 {
	var n int64
	for _, ops := range d.gw.Sim().Stats.Snapshot() {
		for _, s := range ops {
			n += s.Calls
		}
	}
	return n
}

// TestAutomaticPersistedQueries: a log-unknown client (the case officer's
// app) uses APQ as Apollo Client does: the hash alone first
// (PERSISTED_QUERY_NOT_FOUND), then the hash with the text, then the hash
// alone again, which runs. A registered operation runs by id for it too,
// and its access log entry names the operation's id.
func TestAutomaticPersistedQueries(t *testing.T) {
	d := newSecureDemo(t)
	q := `query Mine { errands(first: 2, caseType: "BYGGLOV") { edges { node { errandNumber } } } }`
	onlyCode(t, gqlRequest(t, d, "case-officer", map[string]any{"extensions": apq(sha(q))}), "PERSISTED_QUERY_NOT_FOUND")
	mustNoErrors(t, gqlRequest(t, d, "case-officer", map[string]any{"query": q, "extensions": apq(sha(q))}))
	again := gqlRequest(t, d, "case-officer", map[string]any{"extensions": apq(sha(q))})
	mustNoErrors(t, again)
	if !strings.Contains(string(again.Data), "errandNumber") {
		t.Fatalf("by hash: %s", again.raw)
	}
	onlyCode(t, gqlRequest(t, d, "case-officer", map[string]any{"query": q + " ", "extensions": apq(sha(q))}), "PERSISTED_QUERY_HASH_MISMATCH")

	op := demoOperation(t, d, "Worklist")
	body, _ := json.Marshal(map[string]any{"extensions": apq(op.ID), "variables": map[string]any{"first": 3}})
	req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+d.token(t, "case-officer"))
	req.Header.Set("X-Request-Id", "registered-worklist")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if e := accessEntry(t, d, "registered-worklist"); e.OperationID != op.ID || e.Operation != "Worklist" {
		t.Errorf("access log entry names operation %q id %q, want Worklist %s", e.Operation, e.OperationID, op.ID)
	}
	m := metric(t, d, `kommungraf_graphql_operations_total{client="bygglov-app",kind="registered"}`)
	if m == "0" || m == "" {
		t.Errorf("registered operations not counted: %q", m)
	}
}

// TestPushOperations: security staff register an operation through the
// API (what `kommungraf operations push` sends); the persisted-only
// portal can run it by id at once. Others may not push; a document that
// does not fit the schema is refused with its place and nothing stored.
func TestPushOperations(t *testing.T) {
	d := newSecureDemo(t)
	text := "query PickupsOf($designation: String!) {\n  property(designation: $designation) { wastePickups { fraction nextDate } }\n}\n"
	body := jsonBody(t, map[string]any{"files": map[string]string{"pickups.graphql": text}})
	for _, persona := range []string{"", "open-data", "case-officer"} {
		if code, _ := d.policyCall(t, persona, "POST", "/admin/api/operations", body); code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("%s pushed an operation: HTTP %d", nameOr(persona, "anonymous"), code)
		}
	}
	bad := jsonBody(t, map[string]any{"files": map[string]string{"pickups.graphql": text, "bad.graphql": "query Bad {\n  propertee { x }\n}"}})
	code, out := d.policyCall(t, "security-officer", "POST", "/admin/api/operations", bad)
	if code != http.StatusUnprocessableEntity || !strings.Contains(jsonBody(t, out), "bad.graphql:2") {
		t.Fatalf("bad push: HTTP %d %v", code, out)
	}
	out = d.mustCall(t, "security-officer", "POST", "/admin/api/operations", body, 200)
	ops := out["operations"].([]any)
	if len(ops) != 1 {
		t.Fatalf("pushed %v", ops)
	}
	id := ops[0].(map[string]any)["id"].(string)
	if by := ops[0].(map[string]any)["pushedBy"]; by != "demo-security-officer" {
		t.Errorf("pushed by %v", by)
	}
	var designation string
	for _, p := range testWorld().Properties {
		designation = p.Designation
		break
	}
	r := gqlRequest(t, d, "open-data", map[string]any{"extensions": apq(id), "variables": map[string]any{"designation": designation}})
	mustNoErrors(t, r)
	if !strings.Contains(string(r.Data), `"wastePickups":[{"fraction"`) {
		t.Fatalf("the pushed operation: %s", r.raw)
	}
	list := d.mustCall(t, "security-officer", "GET", "/admin/api/operations", "", 200)
	if !strings.Contains(jsonBody(t, list), `"name":"PickupsOf"`) || !strings.Contains(jsonBody(t, list), `"name":"Worklist"`) {
		t.Errorf("list: %v", list)
	}
}
