package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// declared parses one declaration; the schema is not consulted here.
func declared(t *testing.T, name string, data []byte) *declare.Set {
	t.Helper()
	set, err := declare.Parse([]declare.File{{Name: name, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// pickups is the real declaration of the waste-collection system's pickups.
func pickups(t *testing.T) *declare.Resource {
	t.Helper()
	data, err := os.ReadFile("../../schema/avfall.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return declared(t, "schema/avfall.yaml", data).Resource("avfall.pickups")
}

func newClient(t *testing.T, url string) *upstream.Client {
	t.Helper()
	c, err := upstream.NewClient(upstream.Options{Name: "avfall", BaseURL: url, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newHTTP(t *testing.T, r *declare.Resource, url string, header http.Header) *connect.HTTP {
	t.Helper()
	h, err := connect.NewHTTP(connect.HTTPOptions{Resource: r, Client: newClient(t, url), Header: header})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHTTPBatchAgainstTheSimulator asks the simulated waste-collection
// system for three properties and an unknown one: one call, every record
// under its property, only the declared fields (the upstream's
// invoiceRecipient with its personnummer is not selected).
func TestHTTPBatchAgainstTheSimulator(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	stats := sim.NewStats()
	srv := httptest.NewServer(sim.NewAvfall(w, sim.AvfallOptions{Stats: stats}))
	defer srv.Close()
	h := newHTTP(t, pickups(t), srv.URL, http.Header{"X-Api-Key": {"k"}})
	if h.MaxKeys() != 100 {
		t.Fatalf("MaxKeys %d, want the declared 100", h.MaxKeys())
	}
	keys := []string{w.Properties[0].ObjectID, w.Properties[1].ObjectID, w.Properties[2].ObjectID, "00000000-0000-0000-0000-000000000000"}
	got, err := h.Fetch(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if n := stats.Calls("avfall", "pickups"); n != 1 {
		t.Fatalf("%d pickups calls, want 1", n)
	}
	if _, ok := got[keys[3]]; ok || len(got) != 3 {
		t.Fatalf("answered keys %v, want the three known properties", slices.Collect(mapsKeys(got)))
	}
	for _, k := range keys[:3] {
		want := w.PickupsOf[k]
		if len(got[k]) != len(want) {
			t.Fatalf("%s: %d records, want %d", k, len(got[k]), len(want))
		}
		for i, rec := range got[k] {
			pu := want[i]
			if rec["propertyId"] != k || rec["fraction"] != pu.Fraction || rec["nextDate"] != pu.NextDate.Format("2006-01-02") || rec["containerLitres"] != json.Number(strconv.Itoa(pu.ContainerLitres)) {
				t.Errorf("%s record %d: %v, want %+v", k, i, rec, pu)
			}
			for field := range rec {
				if !slices.Contains([]string{"propertyId", "fraction", "weekday", "nextDate", "containerLitres", "invoicePartyId"}, field) {
					t.Errorf("record carries an undeclared field %q", field)
				}
			}
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// recorder is an upstream that answers every call with the same pickups
// and notes what it was asked.
type recorder struct {
	mu   sync.Mutex
	uris []string
	body string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.uris = append(r.uris, req.URL.RequestURI())
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(r.body))
}

// TestHTTPHostileKeysStayInert sends keys with every character a URL
// gives meaning to, unicode, dot segments and an overlong one, in the batch
// form and the one-key form. Each key stays one value: the query keeps one
// parameter, the path one segment, and an upstream that splits a key at its
// comma cannot give it another key's records.
func TestHTTPHostileKeysStayInert(t *testing.T) {
	long := strings.Repeat("x", connect.MaxKeyBytes+1)
	hostile := []string{"a,b", "x&admin=1", "q?x=1", "../../etc/passwd", "..", ".", "#frag", "%2C", "100%", "Örebro ÅÄÖ ü", "a/b", long}

	t.Run("batch", func(t *testing.T) {
		// The upstream answers records of "a" and "b" whatever it is asked:
		// as a system that splits "a,b" at its comma would.
		rec := &recorder{body: `{"pickups":[{"propertyId":"a","fraction":"MAT"},{"propertyId":"b","fraction":"GLAS"},{"propertyId":"a,b","fraction":"REST"}]}`}
		srv := httptest.NewServer(rec)
		defer srv.Close()
		h := newHTTP(t, pickups(t), srv.URL, nil)
		got, err := h.Fetch(context.Background(), hostile)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(got["a,b"]) != 1 || got["a,b"][0]["fraction"] != "REST" {
			t.Fatalf("answers %v: want only key \"a,b\"'s own record", got)
		}
		// The key with a comma goes in a call of its own (it cannot make
		// the others' call fail); the others together.
		if len(rec.uris) != 2 {
			t.Fatalf("%d calls, want 2", len(rec.uris))
		}
		values := 0
		for _, uri := range rec.uris {
			path, query, _ := strings.Cut(uri, "?")
			if path != "/api/v1/pickups" {
				t.Errorf("path %q", path)
			}
			if strings.Count(query, "=") != 1 || strings.Contains(query, "&") || strings.Contains(uri, "#") {
				t.Errorf("query %q: a key added a parameter", query)
			}
			if strings.Contains(uri, long) {
				t.Error("the overlong key was sent")
			}
			values += len(strings.Split(strings.TrimPrefix(query, "propertyIds="), ","))
		}
		if values != len(hostile)-1 {
			t.Errorf("queries %q carry %d values, want %d", rec.uris, values, len(hostile)-1)
		}
	})

	t.Run("one", func(t *testing.T) {
		set := declared(t, "schema/avfallone.yaml", []byte(`
system: avfallone
owner: O
connector: http
probe: api/v1/health
resources:
  pickup:
    type: WastePickup
    list: false
    http:
      one: { get: "api/v1/pickups/{key}" }
    fields: { fraction: fraction }
`))
		rec := &recorder{body: `{"fraction":"MAT"}`}
		srv := httptest.NewServer(rec)
		defer srv.Close()
		h := newHTTP(t, set.Resource("avfallone.pickup"), srv.URL, nil)
		got, err := h.Fetch(context.Background(), hostile)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.uris) != len(hostile)-3 || len(got) != len(hostile)-3 {
			t.Fatalf("%d calls and %d answers, want %d of each (not the overlong key, nor the dot segments)", len(rec.uris), len(got), len(hostile)-3)
		}
		for _, uri := range rec.uris {
			seg, ok := strings.CutPrefix(uri, "/api/v1/pickups/")
			if !ok || seg == "" || strings.ContainsAny(seg, "/?#&") || seg == "." || seg == ".." {
				t.Errorf("request URI %q: the key left its path segment", uri)
			}
		}
	})
}

// TestHTTPErrorsCarryNoUpstreamText: a problem+json answer, an HTML error
// page and a 404 of the batch form become *upstream.Error whose public
// message names the system only; a 404 of the one-key form is "not found".
func TestHTTPErrorsCarryNoUpstreamText(t *testing.T) {
	const secret = "198901011234 Eva Lindgren"
	for _, tc := range []struct {
		name, ct string
		status   int
		kind     upstream.Kind
	}{
		{"problem 500", "application/problem+json", 500, upstream.Unavailable},
		{"problem 400", "application/problem+json", 400, upstream.Rejected},
		{"html 200", "text/html", 200, upstream.BadResponse},
		{"batch 404", "application/problem+json", 404, upstream.BadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ct)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"title":"` + secret + `","detail":"` + secret + `"}`))
			}))
			defer srv.Close()
			_, err := newHTTP(t, pickups(t), srv.URL, nil).Fetch(context.Background(), []string{"p1"})
			var ue *upstream.Error
			if !errors.As(err, &ue) || ue.Kind != tc.kind {
				t.Fatalf("error %v, want an *upstream.Error of kind %s", err, tc.kind.Code())
			}
			if strings.Contains(ue.Public(), "1989") || strings.Contains(ue.Public(), "Eva") {
				t.Fatalf("public message %q carries upstream text", ue.Public())
			}
		})
	}
}

// TestHTTPXMLBodies: a declared resource with format: xml reads the same
// records from an XML answer (a single record and repeated ones alike,
// attributes by @name), none from an empty holder, and refuses a DOCTYPE
// and an answer of other elements.
func TestHTTPXMLBodies(t *testing.T) {
	set := declared(t, "schema/avfallxml.yaml", []byte(`
system: avfallxml
owner: O
connector: http
probe: api/health
resources:
  pickups:
    type: WastePickup
    by: propertyId
    list: true
    http:
      batch: { get: "api/pickups?ids={keys}" }
      records: pickup
      format: xml
    fields:
      propertyId: "@property"
      fraction: fraction
      containerLitres: container.litres
`))
	for _, tc := range []struct {
		name, body string
		want       map[string][]connect.Record
		err        bool
	}{
		{name: "repeated", body: `<?xml version="1.0"?><pickups>
			<pickup property="p1"><fraction>MAT</fraction><container><litres>140</litres></container></pickup>
			<pickup property="p2"><fraction>REST</fraction></pickup>
			<pickup property="p1"><fraction>GLAS</fraction></pickup></pickups>`,
			want: map[string][]connect.Record{
				"p1": {{"propertyId": "p1", "fraction": "MAT", "containerLitres": "140"}, {"propertyId": "p1", "fraction": "GLAS"}},
				"p2": {{"propertyId": "p2", "fraction": "REST"}},
			}},
		{name: "one", body: `<pickups><pickup property="p2"><fraction>REST</fraction></pickup></pickups>`,
			want: map[string][]connect.Record{"p2": {{"propertyId": "p2", "fraction": "REST"}}}},
		{name: "doctype", body: `<!DOCTYPE x [<!ENTITY a "aaaa">]><pickups/>`, err: true},
		// XML has no empty list: an empty holder, or one with attributes
		// only, holds no records; one with other children is no answer.
		{name: "none", body: `<pickups/>`, want: map[string][]connect.Record{}},
		{name: "none with attributes", body: `<pickups count="0"></pickups>`, want: map[string][]connect.Record{}},
		{name: "another answer", body: `<error><message>no</message></error>`, err: true},
		{name: "text", body: `<pickups>no</pickups>`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/xml")
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			got, err := newHTTP(t, set.Resource("avfallxml.pickups"), srv.URL, nil).Fetch(context.Background(), []string{"p1", "p2"})
			if tc.err {
				if upstream.KindOf(err) != upstream.BadResponse {
					t.Fatalf("error %v, want a bad response", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("records %v, want %v", got, tc.want)
			}
		})
	}
}
