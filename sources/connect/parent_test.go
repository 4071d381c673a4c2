package connect_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// TestSQLParentFields: a query's {parent.<field>} is bound as an
// argument is, its value the key's parent.<field>: keys whose parents
// differ are queries of their own, a hostile value matches nothing, and a
// parent field inside a string is refused.
func TestSQLParentFields(t *testing.T) {
	w := sqlWorld()
	var p1 string
	for pnr, ds := range w.Diets {
		if len(ds) > 0 && (p1 == "" || pnr < p1) {
			p1 = pnr
		}
	}
	d1 := w.Diets[p1][0]
	const d2 = "NO SUCH DIET"
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			op := "diets by parent"
			c := newSQL(t, db.store, op, connect.SQLQuery{Key: "personnummer",
				Query: "SELECT personnummer, kost FROM specialkost WHERE personnummer IN ({keys}) AND kost = {parent.kost} ORDER BY kost"},
				map[string]string{"diet": "kost"})
			k := func(kost string) string { return declare.ArgsKey(p1, url.Values{"parent.kost": {kost}}) }
			hostile := `' OR '1'='1`
			got, err := c.Fetch(t.Context(), []string{k(d1), k(d2), k(hostile)})
			if err != nil {
				t.Fatal(err)
			}
			if n := db.calls(t, op)["ok"]; n != 3 {
				t.Errorf("%v queries, want 3: one per parent value", n)
			}
			if g := got[k(d1)]; len(g) != 1 || g[0]["diet"] != d1 {
				t.Errorf("parent kost %q: %v", d1, g)
			}
			if g := got[k(d2)]; len(g) != 0 {
				t.Errorf("parent kost %q: %v", d2, g)
			}
			if g := got[k(hostile)]; len(g) != 0 {
				t.Errorf("parent kost %q matched %v", hostile, g)
			}
		})
	}
	err := connect.SQLQuery{Key: "personnummer", Query: "SELECT personnummer, kost FROM specialkost WHERE personnummer IN ({keys}) AND kost = '{parent.kost}'"}.Validate()
	if msg := fmt.Sprint(err); !strings.Contains(msg, "an argument in a string is not bound") {
		t.Errorf("a parent field in a string: %v", msg)
	}
}

// TestSOAPParentFields: a request value {parent.<field>} carries the key's
// parent.<field>, XML-escaped, as an argument is; in a required element it
// is refused, named as written.
func TestSOAPParentFields(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := thingsServer(t, func(body []byte) {
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
	})
	up, err := upstream.NewClient(upstream.Options{Name: "things", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := connect.NewSOAP(t.Context(), up, thingsArgsDecl(t, map[string]string{"Id": "{key}", "Colour": "{parent.colour}", "Kind": "thing"}), map[string]string{"id": "Id"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hostile := "</Colour><Kind>x</Kind>&"
	if _, err := c.Fetch(t.Context(), []string{declare.ArgsKey("k1", url.Values{"parent.colour": {hostile}}), declare.ArgsKey("k1", url.Values{})}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(bodies, func(a, b string) int { return len(b) - len(a) })
	if len(bodies) != 2 || !strings.Contains(bodies[0], "<m:Colour>&lt;/Colour&gt;&lt;Kind&gt;x&lt;/Kind&gt;&amp;</m:Colour><m:Kind>thing</m:Kind>") || strings.Contains(bodies[1], "Colour") {
		t.Errorf("requests %q: want the parent's colour escaped in one, left out of the other", bodies)
	}
	_, err = connect.NewSOAP(t.Context(), up, thingsArgsDecl(t, map[string]string{"Id": "{key}", "Kind": "{parent.kind}"}), map[string]string{"id": "Id"}, nil)
	if want := `soap.request.Kind: {parent.kind}: an argument is the whole value of an optional element`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("NewSOAP: %v\nwant it to say %s", err, want)
	}
}
