package connect_test

import (
	"context"
	"encoding/xml"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// postPickupsXML declares the pickups asked with the simulator's XML
// search form, POST api/v1/pickups/search.xml; body is the call's body.
func postPickupsXML(t *testing.T, body string) *declare.Resource {
	t.Helper()
	return pickupsDeclared(t, `      batch:
        post: api/v1/pickups/search.xml
        body: `+body+`
        maxKeys: 100
      records: pickup
      format: xml`)
}

const xmlSearch = `{ search: { propertyId: "{keys}", fraction: "{args.fraction}" } }`

// sentSearch is an XML search body as the simulator reads it.
type sentSearch struct {
	XMLName     xml.Name `xml:"search"`
	PropertyIDs []string `xml:"propertyId"`
	Fraction    *string  `xml:"fraction"`
}

// TestHTTPPostXMLBatchAgainstTheSimulator: a format: xml resource's batch
// POST sends the keys asked with equal arguments as one XML body, the
// propertyId element once per key; keys with other arguments are a call
// of their own, a null argument's element is left out; every record comes
// back under its property, of the fraction asked.
func TestHTTPPostXMLBatchAgainstTheSimulator(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	stats := sim.NewStats()
	up := &bodies{next: sim.NewAvfall(w, sim.AvfallOptions{Stats: stats})}
	srv := httptest.NewServer(up)
	defer srv.Close()
	h := newHTTP(t, postPickupsXML(t, xmlSearch), srv.URL, nil)

	var props []string // three properties with food waste (MAT) pickups
	for _, p := range w.Properties {
		if len(props) < 3 && slices.ContainsFunc(w.PickupsOf[p.ObjectID], func(pu *sim.Pickup) bool { return pu.Fraction == "MAT" }) {
			props = append(props, p.ObjectID)
		}
	}
	mat := url.Values{"fraction": {"MAT"}}
	keys := []string{declare.ArgsKey(props[0], mat), declare.ArgsKey(props[1], mat), declare.ArgsKey(props[2], mat),
		declare.ArgsKey(props[0], url.Values{}), declare.ArgsKey(props[1], url.Values{})}
	got, err := h.Fetch(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if n := stats.Calls("avfall", "pickups-search-xml"); n != 2 {
		t.Fatalf("%d XML search calls, want 2: one per distinct arguments", n)
	}
	calls, raw := up.seen()
	sorted := slices.Sorted(slices.Values(props))
	var withFraction, without int
	for i, c := range calls {
		if !strings.HasPrefix(c, "POST /api/v1/pickups/search.xml application/xml; charset=utf-8 "+xml.Header) {
			t.Errorf("call %q: want a POST of an XML document", c)
		}
		var s sentSearch
		if err := xml.Unmarshal(raw[i], &s); err != nil {
			t.Fatal(err)
		}
		slices.Sort(s.PropertyIDs)
		switch {
		case s.Fraction != nil && *s.Fraction == "MAT" && slices.Equal(s.PropertyIDs, sorted):
			withFraction++
		case s.Fraction == nil && slices.Equal(s.PropertyIDs, slices.Sorted(slices.Values(props[:2]))) && !strings.Contains(string(raw[i]), "fraction"):
			without++
		default:
			t.Errorf("body %s", raw[i])
		}
	}
	if withFraction != 1 || without != 1 {
		t.Fatalf("bodies %q: want one with the fraction and the three properties, one without it and two", raw)
	}
	for i, k := range keys {
		var wantN int
		for _, pu := range w.PickupsOf[props[i%3]] {
			if i >= 3 || pu.Fraction == "MAT" {
				wantN++
			}
		}
		if wantN == 0 || len(got[k]) != wantN {
			t.Errorf("key %d: %d records, want %d", i, len(got[k]), wantN)
		}
		for _, rec := range got[k] {
			if rec["propertyId"] != props[i%3] || i < 3 && rec["fraction"] != "MAT" {
				t.Errorf("key %d: record %v", i, rec)
			}
		}
	}
}

// TestHTTPPostXMLHostileValues: keys and an argument that would break an
// XML body spliced as text (a closing tag, a CDATA end, an entity
// reference, quotes) arrive as the exact text of their elements, in one
// well-formed document, and answer nothing rather than failing.
func TestHTTPPostXMLHostileValues(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	stats := sim.NewStats()
	up := &bodies{next: sim.NewAvfall(w, sim.AvfallOptions{Stats: stats})}
	srv := httptest.NewServer(up)
	defer srv.Close()
	h := newHTTP(t, postPickupsXML(t, xmlSearch), srv.URL, nil)
	hostile := []string{`</propertyId><x>`, `]]>`, `&xxe;`, `"'<>`, `<![CDATA[a]]>`, "a\nb\tc", `{keys}`}
	fraction := `</fraction><fraction>MAT</fraction>&amp;]]>"'`
	var keys []string
	for _, k := range hostile {
		keys = append(keys, declare.ArgsKey(k, url.Values{"fraction": {fraction}}))
	}
	got, err := h.Fetch(context.Background(), keys)
	if err != nil || len(got) != 0 {
		t.Fatalf("records %v, error %v: want none, no error", got, err)
	}
	if n := stats.Calls("avfall", "pickups-search-xml"); n != 1 {
		t.Fatalf("%d XML search calls, want 1 (the simulator read the body)", n)
	}
	_, raw := up.seen()
	if len(raw) != 1 {
		t.Fatalf("bodies %q, want one", raw)
	}
	var sent sentSearch
	if err := xml.Unmarshal(raw[0], &sent); err != nil {
		t.Fatalf("%v: %s", err, raw[0])
	}
	slices.Sort(sent.PropertyIDs)
	want := slices.Sorted(slices.Values(hostile))
	if !slices.Equal(sent.PropertyIDs, want) || sent.Fraction == nil || *sent.Fraction != fraction {
		t.Fatalf("sent %q / %v\nwant %q / %q\n%s", sent.PropertyIDs, sent.Fraction, want, fraction, raw[0])
	}
}
