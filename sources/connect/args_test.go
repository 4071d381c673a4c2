package connect_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// pickupsByFraction is the real pickups declaration, the fraction its
// bound field's argument, with get as its batch call.
func pickupsByFraction(t *testing.T, get string) *declare.Resource {
	t.Helper()
	data, err := os.ReadFile("../../schema/avfall.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const batch = "get: api/v1/pickups?propertyIds={keys}&fraction={args.fraction}"
	y := strings.Replace(string(data), batch, "get: "+get, 1)
	if !strings.Contains(string(data), batch) {
		t.Fatal("schema/avfall.yaml has no batch call to rewrite")
	}
	r := declared(t, "schema/avfall.yaml", []byte(y)).Resource("avfall.pickups")
	if len(r.Args()) == 0 {
		t.Fatalf("%s: no arguments read", get)
	}
	return r
}

func fraction(f string) url.Values { return url.Values{"fraction": {f}} }

// TestHTTPArgsAgainstTheSimulator: keys asked with equal arguments share
// one batch call, each fraction a call of its own, and the simulator's
// filter answers each key with its fraction's pickups only; a key without
// the argument gets them all.
func TestHTTPArgsAgainstTheSimulator(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	stats := sim.NewStats()
	srv := httptest.NewServer(sim.NewAvfall(w, sim.AvfallOptions{Stats: stats}))
	defer srv.Close()
	h := newHTTP(t, pickupsByFraction(t, "api/v1/pickups?propertyIds={keys}&fraction={args.fraction}"), srv.URL, nil)

	var props []string
	for _, p := range w.Properties {
		if len(w.PickupsOf[p.ObjectID]) > 1 {
			props = append(props, p.ObjectID)
		}
		if len(props) == 6 {
			break
		}
	}
	if len(props) < 6 {
		t.Fatalf("%d properties with pickups", len(props))
	}
	var keys []string
	want := map[string][]string{} // loader key -> fractions of its pickups
	for i, p := range props {
		for _, f := range []string{"MAT", "REST"} {
			k := declare.ArgsKey(p, fraction(f))
			keys = append(keys, k)
			for _, pu := range w.PickupsOf[p] {
				if pu.Fraction == f {
					want[k] = append(want[k], f)
				}
			}
		}
		if i < 2 {
			k := declare.ArgsKey(p, nil) // fraction null
			keys = append(keys, k)
			for _, pu := range w.PickupsOf[p] {
				want[k] = append(want[k], pu.Fraction)
			}
		}
	}
	got, err := h.Fetch(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if c := stats.Snapshot()["avfall"]["pickups"]; c.Calls != 3 || c.Keys != int64(2*len(props)+2) {
		t.Errorf("simulator counted %+v: want 3 calls (MAT, REST, no fraction) for %d keys", c, 2*len(props)+2)
	}
	rests := 0
	for _, k := range keys {
		var fr []string
		for _, rec := range got[k] {
			fr = append(fr, rec["fraction"].(string))
		}
		if strings.Join(fr, ",") != strings.Join(want[k], ",") {
			t.Errorf("%q: fractions %v, want %v", k, fr, want[k])
		}
		if strings.HasPrefix(k, "fraction=REST\n") && len(fr) > 0 {
			rests++
		}
	}
	if rests == 0 {
		t.Fatal("no property has REST pickups: the test proves nothing")
	}
	// The same properties, another fraction: other keys, another call.
	more := []string{declare.ArgsKey(props[0], fraction("GLAS")), declare.ArgsKey(props[1], fraction("GLAS"))}
	if _, err := h.Fetch(context.Background(), more); err != nil {
		t.Fatal(err)
	}
	if c := stats.Calls("avfall", "pickups"); c != 4 {
		t.Errorf("%d calls after a GLAS batch, want 4", c)
	}
}

// TestHTTPArgsStayInert sends argument values with every character a URL,
// a SOAP body or SQL gives meaning to, and the call's own placeholders
// ({keys} filled in after the arguments): each stays the one value of its
// query parameter or its one path segment, and a dot segment is no call.
func TestHTTPArgsStayInert(t *testing.T) {
	hostile := []string{"../", "..", ".", "?&=", `"'`, "a'; DROP TABLE pickups; --", "<x>&amp;</x>", "]]>", "%2F%2E%2E", "a/b", "#frag", "a\nb", "Örebro ÅÄÖ", "MAT&propertyIds=other", " ",
		"{keys}", "{key}", "{args.fraction}", "{parent.kind}"} // placeholders as values: filled in once, never again
	t.Run("query", func(t *testing.T) {
		rec := &recorder{body: `{"pickups":[{"propertyId":"p1","fraction":"MAT"}]}`}
		srv := httptest.NewServer(rec)
		defer srv.Close()
		h := newHTTP(t, pickupsByFraction(t, "api/v1/pickups?propertyIds={keys}&fraction={args.fraction}"), srv.URL, nil)
		for _, v := range hostile {
			rec.uris = nil
			k := declare.ArgsKey("p1", fraction(v))
			got, err := h.Fetch(context.Background(), []string{k})
			if err != nil {
				t.Fatalf("%q: %v", v, err)
			}
			if len(got[k]) != 1 || len(rec.uris) != 1 {
				t.Fatalf("%q: answers %v after %d calls", v, got, len(rec.uris))
			}
			path, raw, _ := strings.Cut(rec.uris[0], "?")
			q, err := url.ParseQuery(raw)
			if path != "/api/v1/pickups" || err != nil || len(q) != 2 || q.Get("propertyIds") != "p1" || len(q["fraction"]) != 1 || q.Get("fraction") != v {
				t.Fatalf("%q: asked %s, want one fraction parameter with the value as it is", v, rec.uris[0])
			}
		}
	})
	t.Run("path", func(t *testing.T) {
		rec := &recorder{body: `{"pickups":[{"propertyId":"p1","fraction":"MAT"}]}`}
		srv := httptest.NewServer(rec)
		defer srv.Close()
		h := newHTTP(t, pickupsByFraction(t, "api/v1/fractions/{args.fraction}/pickups?propertyIds={keys}"), srv.URL, nil)
		for _, v := range hostile {
			rec.uris = nil
			k := declare.ArgsKey("p1", fraction(v))
			got, err := h.Fetch(context.Background(), []string{k})
			if err != nil {
				t.Fatalf("%q: %v", v, err)
			}
			if v == "." || v == ".." {
				if len(rec.uris) != 0 || len(got) != 0 {
					t.Fatalf("%q: %d calls, answers %v: a dot segment names nothing", v, len(rec.uris), got)
				}
				continue
			}
			if len(rec.uris) != 1 || len(got[k]) != 1 {
				t.Fatalf("%q: answers %v after %d calls", v, got, len(rec.uris))
			}
			path, raw, _ := strings.Cut(rec.uris[0], "?")
			segs := strings.Split(path, "/")
			seg, err := url.PathUnescape(segs[len(segs)-2])
			q, _ := url.ParseQuery(raw)
			if len(segs) != 6 || segs[3] != "fractions" || err != nil || seg != v || len(q) != 1 || q.Get("propertyIds") != "p1" {
				t.Fatalf("%q: asked %s, want the value as one path segment", v, rec.uris[0])
			}
		}
		// A null path argument names no record: no call.
		rec.uris = nil
		if got, err := h.Fetch(context.Background(), []string{declare.ArgsKey("p1", nil)}); err != nil || len(got) != 0 || len(rec.uris) != 0 {
			t.Fatalf("null: %v, %v after %d calls", got, err, len(rec.uris))
		}
	})
}

// TestListingArgsAgainstTheSimulator: a listing's window asked with an
// argument is the window of the filtered list, counted as such.
func TestListingArgsAgainstTheSimulator(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	all := sim.CollectionsOf(w)
	var prop string
	count := func(p string) (n int) {
		for _, c := range all[p] {
			if c.Fraction == "MAT" {
				n++
			}
		}
		return n
	}
	for _, p := range w.Properties {
		if count(p.ObjectID) > count(prop) {
			prop = p.ObjectID
		}
	}
	if count(prop) < 10 || count(prop) == len(all[prop]) {
		t.Fatalf("the property with most MAT emptyings has %d of %d", count(prop), len(all[prop]))
	}
	stats := sim.NewStats()
	srv := httptest.NewServer(sim.NewAvfall(w, sim.AvfallOptions{Stats: stats}))
	defer srv.Close()
	h := newHTTP(t, listingDecl(t, "api/v1/properties/{key}/collections?fraction={args.fraction}", "collections",
		"{style: limit+page, size: 7, maxPages: 3, total: _meta.totalRecords}", diggFields), srv.URL, nil)
	for _, tc := range []struct {
		args url.Values
		want int
	}{{fraction("MAT"), count(prop)}, {nil, len(all[prop])}} {
		k := connect.PageKey(declare.ArgsKey(prop, tc.args), 0, 5)
		got, err := h.Fetch(context.Background(), []string{k})
		if err != nil {
			t.Fatal(err)
		}
		meta, recs := connect.SplitPage(got[k])
		if meta.Total != tc.want || len(recs) != 5 {
			t.Fatalf("%v: total %d, %d records; want %d, 5", tc.args, meta.Total, len(recs), tc.want)
		}
		for _, rec := range recs {
			if tc.args != nil && rec["fraction"] != "MAT" {
				t.Fatalf("%v: a %v emptying", tc.args, rec["fraction"])
			}
		}
	}
}
