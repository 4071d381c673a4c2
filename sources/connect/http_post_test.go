package connect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// postPickups declares the pickups asked with the simulator's search form,
// POST api/v1/pickups/search; call is the http part's call.
func postPickups(t *testing.T, call string) *declare.Resource {
	t.Helper()
	return pickupsDeclared(t, call+"\n      records: pickups")
}

// pickupsDeclared declares the waste system's pickups with http as the
// resource's http part (its call, records and format).
func pickupsDeclared(t *testing.T, http string) *declare.Resource {
	t.Helper()
	decl := `system: avfall
owner: Avfallshämtning (Tekniska nämnden)
connector: http
probe: api/v1/health
resources:
  pickups:
    type: WastePickup
    by: propertyId
    list: true
    http:
` + http + `
    fields:
      propertyId: propertyId
      fraction: fraction
`
	return declared(t, "schema/avfall.yaml", []byte(decl)).Resource("avfall.pickups")
}

const postBatch = `      batch:
        post: api/v1/pickups/search
        body: { propertyIds: "{keys}", fraction: "{args.fraction}" }
        maxKeys: 100`

// bodies is an upstream in front of the simulator that notes every call's
// method, content type and body.
type bodies struct {
	next  http.Handler
	mu    sync.Mutex
	calls []string // "METHOD content-type body"
	raw   [][]byte
}

func (b *bodies) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.calls = append(b.calls, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(data))
	b.raw = append(b.raw, data)
	b.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(data))
	b.next.ServeHTTP(w, r)
}

func (b *bodies) seen() ([]string, [][]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls), slices.Clone(b.raw)
}

// TestHTTPPostBatchAgainstTheSimulator: the batch form as a POST sends
// the keys asked with equal arguments as one JSON body, keys with other
// arguments in a call of their own, a null argument's member left out;
// every record comes back under its property, of the fraction asked.
func TestHTTPPostBatchAgainstTheSimulator(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	stats := sim.NewStats()
	up := &bodies{next: sim.NewAvfall(w, sim.AvfallOptions{Stats: stats})}
	srv := httptest.NewServer(up)
	defer srv.Close()
	h := newHTTP(t, postPickups(t, postBatch), srv.URL, nil)

	props := []string{w.Properties[0].ObjectID, w.Properties[1].ObjectID, w.Properties[2].ObjectID}
	mat := url.Values{"fraction": {"MAT"}}
	keys := []string{declare.ArgsKey(props[0], mat), declare.ArgsKey(props[1], mat), declare.ArgsKey(props[2], mat),
		declare.ArgsKey(props[0], url.Values{}), declare.ArgsKey(props[1], url.Values{})}
	got, err := h.Fetch(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if n := stats.Calls("avfall", "pickups-search"); n != 2 {
		t.Fatalf("%d search calls, want 2: one per distinct arguments", n)
	}
	calls, _ := up.seen()
	slices.Sort(calls)
	want := []string{
		`POST /api/v1/pickups/search application/json {"propertyIds":["` + props[0] + `","` + props[1] + `","` + props[2] + `"],"fraction":"MAT"}`,
		`POST /api/v1/pickups/search application/json {"propertyIds":["` + props[0] + `","` + props[1] + `"]}`,
	}
	for _, c := range calls {
		// The keys of a group are in no set order.
		ok := false
		for _, wnt := range want {
			ok = ok || sameIDs(c, wnt)
		}
		if !ok {
			t.Errorf("call %s\nwant one of %q", c, want)
		}
	}
	for i, k := range keys {
		var wantN int
		for _, pu := range w.PickupsOf[props[i%3]] {
			if i >= 3 || pu.Fraction == "MAT" {
				wantN++
			}
		}
		if len(got[k]) != wantN {
			t.Errorf("key %d: %d records, want %d", i, len(got[k]), wantN)
		}
		for _, rec := range got[k] {
			if rec["propertyId"] != props[i%3] || i < 3 && rec["fraction"] != "MAT" {
				t.Errorf("key %d: record %v", i, rec)
			}
		}
	}
}

// sameIDs says two noted calls are alike but for the order of their
// propertyIds.
func sameIDs(a, b string) bool {
	ids := func(s string) (string, []string) {
		i, j := strings.Index(s, "["), strings.Index(s, "]")
		if i < 0 || j < i {
			return s, nil
		}
		l := strings.Split(s[i+1:j], ",")
		slices.Sort(l)
		return s[:i] + s[j:], l
	}
	ra, la := ids(a)
	rb, lb := ids(b)
	return ra == rb && slices.Equal(la, lb)
}

// TestHTTPPostHostileValues: keys and an argument that would break a body
// spliced as text arrive as the exact text, in valid JSON, and answer
// nothing (no such properties) rather than failing.
func TestHTTPPostHostileValues(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	up := &bodies{next: sim.NewAvfall(w, sim.AvfallOptions{})}
	srv := httptest.NewServer(up)
	defer srv.Close()
	h := newHTTP(t, postPickups(t, postBatch), srv.URL, nil)
	hostile := []string{`"]}`, "a\u0000b", `</x>`, `'; DROP TABLE pickups; --`, `{keys}`, `\u0022`, "x,y"}
	fraction := `"],"fraction":"MAT"}</x>'; DROP` + "\u0000"
	var keys []string
	for _, k := range hostile {
		keys = append(keys, declare.ArgsKey(k, url.Values{"fraction": {fraction}}))
	}
	got, err := h.Fetch(context.Background(), keys)
	if err != nil || len(got) != 0 {
		t.Fatalf("records %v, error %v: want none, no error", got, err)
	}
	_, raw := up.seen()
	if len(raw) != 1 || !json.Valid(raw[0]) {
		t.Fatalf("bodies %q, want one valid JSON body", raw)
	}
	var sent struct {
		PropertyIDs []string `json:"propertyIds"`
		Fraction    string   `json:"fraction"`
	}
	if err := json.Unmarshal(raw[0], &sent); err != nil {
		t.Fatal(err)
	}
	slices.Sort(sent.PropertyIDs)
	want := slices.Sorted(slices.Values(hostile))
	if !slices.Equal(sent.PropertyIDs, want) || sent.Fraction != fraction {
		t.Fatalf("sent %q / %q\nwant %q / %q", sent.PropertyIDs, sent.Fraction, want, fraction)
	}
}

// TestHTTPPostRetriesOnlyIdempotent: a POST, of JSON or XML, that met a
// 503 is not tried again unless the declaration says idempotent: true; a
// GET always is.
func TestHTTPPostRetriesOnlyIdempotent(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	key := w.Properties[0].ObjectID
	for _, tc := range []struct {
		name, call string
		attempts   int
		xml        bool
	}{
		{"post", postBatch, 1, false},
		{"idempotent post", postBatch + "\n        idempotent: true", 3, false},
		{"get", "      batch: { get: \"api/v1/pickups?propertyIds={keys}\" }", 3, false},
		{"xml post", xmlSearch, 1, true},
		{"idempotent xml post", xmlSearch + "\n        idempotent: true", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faults := sim.NewFaults()
			faults.Set(sim.FaultConfig{ErrorRate: 1})
			up := &bodies{next: sim.NewAvfall(w, sim.AvfallOptions{Faults: faults})}
			srv := httptest.NewServer(up)
			defer srv.Close()
			c, err := upstream.NewClient(upstream.Options{Name: "avfall", BaseURL: srv.URL, Retries: 2})
			if err != nil {
				t.Fatal(err)
			}
			var res *declare.Resource
			if tc.xml {
				res = postPickupsXML(t, tc.call)
			} else {
				res = postPickups(t, tc.call)
			}
			h, err := connect.NewHTTP(connect.HTTPOptions{Resource: res, Client: c})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Fetch(context.Background(), []string{declare.ArgsKey(key, url.Values{})}); upstream.KindOf(err) != upstream.Unavailable {
				t.Fatalf("error %v, want the 503 as unavailable", err)
			}
			if calls, _ := up.seen(); len(calls) != tc.attempts {
				t.Fatalf("%d attempts, want %d: %q", len(calls), tc.attempts, calls)
			}
		})
	}
}

// TestHTTPPostOneForm: the one form as a POST asks each key in a body of
// its own, the key a JSON string inside a list of the template.
func TestHTTPPostOneForm(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	stats := sim.NewStats()
	up := &bodies{next: sim.NewAvfall(w, sim.AvfallOptions{Stats: stats})}
	srv := httptest.NewServer(up)
	defer srv.Close()
	h := newHTTP(t, postPickups(t, `      one:
        post: api/v1/pickups/search
        body: { propertyIds: ["{key}"], fraction: null }`), srv.URL, nil)
	if h.MaxKeys() != 0 {
		t.Fatalf("MaxKeys %d: the one form carries one key", h.MaxKeys())
	}
	keys := []string{w.Properties[0].ObjectID, w.Properties[1].ObjectID}
	got, err := h.Fetch(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if n := stats.Calls("avfall", "pickups-search"); n != 2 {
		t.Fatalf("%d search calls, want one per key", n)
	}
	calls, _ := up.seen()
	slices.Sort(calls)
	want := []string{
		`POST /api/v1/pickups/search application/json {"propertyIds":["` + keys[0] + `"],"fraction":null}`,
		`POST /api/v1/pickups/search application/json {"propertyIds":["` + keys[1] + `"],"fraction":null}`,
	}
	slices.Sort(want)
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %q\nwant %q", calls, want)
	}
	for _, k := range keys {
		if len(got[k]) != len(w.PickupsOf[k]) {
			t.Errorf("%s: %d records, want %d", k, len(got[k]), len(w.PickupsOf[k]))
		}
	}
}

// TestHTTPParentFields: {parent.<field>} takes its value from the key
// (the generated resolver puts the parent's field there as parent.<field>):
// keys whose parents differ never share a call, and the value is escaped
// as an argument is, in the query and in a body.
func TestHTTPParentFields(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	for _, call := range []string{
		`      batch: { get: "api/v1/pickups?propertyIds={keys}&fraction={parent.kind}" }`,
		`      batch: { post: api/v1/pickups/search, body: { propertyIds: "{keys}", fraction: "{parent.kind}" } }`,
	} {
		stats := sim.NewStats()
		up := &bodies{next: sim.NewAvfall(w, sim.AvfallOptions{Stats: stats})}
		srv := httptest.NewServer(up)
		h := newHTTP(t, postPickups(t, call), srv.URL, nil)
		p0, p1 := w.Properties[0].ObjectID, w.Properties[1].ObjectID
		keys := []string{
			declare.ArgsKey(p0, url.Values{"parent.kind": {"REST"}}),
			declare.ArgsKey(p1, url.Values{"parent.kind": {"REST"}}),
			declare.ArgsKey(p0, url.Values{"parent.kind": {"MAT&fraction=REST"}}),
		}
		got, err := h.Fetch(context.Background(), keys)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n := stats.Calls("avfall", "pickups") + stats.Calls("avfall", "pickups-search"); n != 2 {
			t.Errorf("%s: %d calls, want one per parent value", call, n)
		}
		if len(got[keys[0]]) != 1 || got[keys[0]][0]["fraction"] != "REST" || len(got[keys[1]]) != 1 {
			t.Errorf("%s: REST pickups %v", call, got)
		}
		if len(got[keys[2]]) != 0 {
			t.Errorf("%s: the hostile value was read as a filter: %v", call, got[keys[2]])
		}
	}
}

// TestHTTPPostArgumentKinds: in a body, an Int or Float argument or parent
// field is a JSON number, a Boolean true or false, an enum or ID a string,
// as the schema's types say (declare.Check); a null one leaves its member
// out. An argument named keys is an argument, "{args.keys}", not the
// batch's keys, and its value "{keys}" is a text.
func TestHTTPPostArgumentKinds(t *testing.T) {
	dirs, err := os.ReadFile("../../schema/directives.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema/directives.graphqls", Input: string(dirs)}, &ast.Source{Name: "schema/sopor.graphqls", Input: `
type Query @classification(level: 0) @owner(name: "K") { property(id: ID!): Property }
type Property @classification(level: 0) @owner(name: "Geodata") {
  objectId: ID
  area: Float
  bins(size: Int, lidded: Boolean, kind: Kind, year: Int, keys: String): [Bin!] @resource(name: "sopor.bins", key: "objectId")
}
enum Kind { PAPER GLASS }
type Bin @classification(level: 0) @owner(name: "Sopor") { propertyId: ID }
`})
	if gerr != nil {
		t.Fatal(gerr)
	}
	set, err := declare.Load([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(`system: sopor
owner: Sopor
connector: http
probe: api/health
resources:
  bins:
    type: Bin
    by: propertyId
    list: true
    http:
      batch:
        post: api/bins
        body: { ids: "{keys}", size: "{args.size}", lidded: "{args.lidded}", kind: "{args.kind}", year: "{args.year}", area: "{parent.area}", of: ["{parent.objectId}", "{args.year}"], k: "{args.keys}" }
      records: items
    fields: { propertyId: propertyId }
    subjects: []
`)}}, schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	up := &bodies{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[]}`))
	})}
	srv := httptest.NewServer(up)
	defer srv.Close()
	h := newHTTP(t, set.Resource("sopor.bins"), srv.URL, nil)
	args := url.Values{"size": {"240"}, "lidded": {"true"}, "kind": {"PAPER"}, "parent.area": {"1.5e+06"}, "parent.objectId": {"p-1"}, "keys": {"{keys}"}}
	if _, err := h.Fetch(context.Background(), []string{declare.ArgsKey("k", args)}); err != nil {
		t.Fatal(err)
	}
	want := `{"ids":["k"],"size":240,"lidded":true,"kind":"PAPER","area":1.5e+06,"of":["p-1",null],"k":"{keys}"}`
	if _, got := up.seen(); len(got) != 1 || string(got[0]) != want {
		t.Fatalf("bodies %q\nwant %q", got, want)
	}
}

// TestHTTPPostProblem: a POST the upstream refuses (a 400 problem+json)
// fails as rejected, its problem's title in the error and its detail,
// which may echo the request, not.
func TestHTTPPostProblem(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	srv := httptest.NewServer(sim.NewAvfall(w, sim.AvfallOptions{}))
	defer srv.Close()
	// The search takes a list of ids: a text is a bad request.
	h := newHTTP(t, postPickups(t, `      one: { post: api/v1/pickups/search, body: { propertyIds: "{key}" } }`), srv.URL, nil)
	_, err := h.Fetch(context.Background(), []string{w.Properties[0].ObjectID})
	if upstream.KindOf(err) != upstream.Rejected || !strings.Contains(err.Error(), `problem "Bad Request"`) || strings.Contains(err.Error(), "invalid pickup search") {
		t.Fatalf("error %v: want it rejected with the problem's title only", err)
	}
}

// TestHTTPPostBareArray: body: "{keys}" sends the keys as the body itself,
// a JSON array.
func TestHTTPPostBareArray(t *testing.T) {
	up := &bodies{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"pickups":[{"propertyId":"a","fraction":"MAT"}]}`))
	})}
	srv := httptest.NewServer(up)
	defer srv.Close()
	h := newHTTP(t, postPickups(t, `      batch: { post: api/v1/pickups/by-ids, body: "{keys}" }`), srv.URL, nil)
	got, err := h.Fetch(context.Background(), []string{"a", `b"]`})
	if err != nil || len(got["a"]) != 1 {
		t.Fatalf("records %v, error %v", got, err)
	}
	calls, raw := up.seen()
	var sent []string
	if len(raw) != 1 || json.Unmarshal(raw[0], &sent) != nil || !strings.HasPrefix(calls[0], "POST /api/v1/pickups/by-ids application/json [") {
		t.Fatalf("calls %q", calls)
	}
	if slices.Sort(sent); !slices.Equal(sent, []string{"a", `b"]`}) {
		t.Fatalf("sent %q", sent)
	}
}
