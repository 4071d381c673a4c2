package connect_test

import (
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// The same resource, "things", declared once per connector: each upstream
// holds thing k1 (a count beyond 2^53, a price, a name with markup) and
// thing k2 (no name).
const (
	thingsHTTP = `system: things
owner: T
connector: http
probe: health
resources:
  things:
    type: Thing
    by: id
    list: false
    http:
      batch: { get: "things?ids={keys}" }
      records: items
    fields: { id: id, count: count, price: price, name: name }
`
	thingsSOAP = `system: things
owner: T
connector: soap
resources:
  things:
    type: Thing
    list: false
    soap:
      wsdl: things.wsdl
      operation: GetThing
      request: { Id: "{key}" }
      records: Thing
      idempotent: true
    fields: { id: Id, count: Count, price: Price, name: Name }
`
	thingsSQL = `system: things
owner: T
connector: sql
resources:
  things:
    type: Thing
    list: false
    sql:
      query: SELECT id, count, price, name FROM things WHERE id IN ({keys}) ORDER BY id
      key: id
    fields: { id: id, count: count, price: price, name: name }
`
)

// thingsUpstream is one connector's upstream and what it was asked.
type thingsUpstream struct {
	env connect.Env
	// asked returns the keys the upstream was asked for, each once per call.
	asked func() []string
}

// thingsHTTPUpstream answers GET /things?ids=a,b with JSON.
func thingsHTTPUpstream(t *testing.T) thingsUpstream {
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids := strings.Split(r.URL.Query().Get("ids"), ",")
		mu.Lock()
		asked = append(asked, ids...)
		mu.Unlock()
		var items []string
		for _, id := range ids {
			switch id {
			case "k1":
				items = append(items, `{"id": "k1", "count": 9007199254740993, "price": 12.5, "name": "Ä & <b>"}`)
			case "k2":
				items = append(items, `{"id": "k2", "count": 0, "price": 0.25, "name": null}`)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items": [`+strings.Join(items, ",")+`]}`)
	}))
	t.Cleanup(srv.Close)
	return thingsUpstream{
		env:   connect.Env{Client: newThingsClient(t, srv.URL)},
		asked: func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), asked...) },
	}
}

var thingsIDRE = regexp.MustCompile(`<m:Id>(.*?)</m:Id>`)

// thingsSOAPUpstream answers GetThing, one key per call.
func thingsSOAPUpstream(t *testing.T) thingsUpstream {
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := thingsIDRE.FindSubmatch(body)
		if m == nil {
			http.Error(w, "no Id", http.StatusBadRequest)
			return
		}
		id := html.UnescapeString(string(m[1]))
		mu.Lock()
		asked = append(asked, id)
		mu.Unlock()
		thing := ""
		switch id {
		case "k1":
			thing = `<t:Thing><t:Id>k1</t:Id><t:Count>9007199254740993</t:Count><t:Price>12.5</t:Price><t:Name>Ä &amp; &lt;b&gt;</t:Name></t:Thing>`
		case "k2":
			thing = `<t:Thing><t:Id>k2</t:Id><t:Count>0</t:Count><t:Price>0.25</t:Price><t:Name xsi:nil="true"/></t:Thing>`
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = io.WriteString(w, `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`+
			`<t:GetThingResponse xmlns:t="urn:kommungraf:test:things" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`+thing+
			`</t:GetThingResponse></soap:Body></soap:Envelope>`)
	}))
	t.Cleanup(srv.Close)
	return thingsUpstream{
		env:   connect.Env{Client: newThingsClient(t, srv.URL)},
		asked: func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), asked...) },
	}
}

// thingsSQLUpstream is a SQLite database with a things table.
func thingsSQLUpstream(t *testing.T) thingsUpstream {
	stats := sim.NewStats()
	store, err := sqldb.Open(t.Context(), sqldb.Options{
		DSN: filepath.Join(t.TempDir(), "things.db"), System: "things", Recorder: stats, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.DB().ExecContext(t.Context(), `CREATE TABLE things (id TEXT PRIMARY KEY, count INTEGER, price REAL, name TEXT);
INSERT INTO things VALUES ('k1', 9007199254740993, 12.5, 'Ä & <b>'), ('k2', 0, 0.25, NULL)`); err != nil {
		t.Fatal(err)
	}
	return thingsUpstream{
		env: connect.Env{Store: store},
		// A query's keys are not recorded one by one: the count stands in.
		asked: func() []string {
			c := stats.Snapshot()["things"]["things"]
			return make([]string, c.Keys)
		},
	}
}

func newThingsClient(t *testing.T, url string) *upstream.Client {
	t.Helper()
	c, err := upstream.NewClient(upstream.Options{Name: "things", BaseURL: url, Retries: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEveryConnectorAnswersAlike: the three connectors, each built from its
// declaration as the gateway builds it (connect.Open), give the same records
// for the same upstream data: numbers as json.Number exactly as written
// (a count beyond 2^53 intact), text as strings, null as an absent value;
// and all three answer a key longer than MaxKeyBytes as not found without
// asking their upstream for it, as they do an empty key.
func TestEveryConnectorAnswersAlike(t *testing.T) {
	wsdl, err := os.ReadFile("testdata/things.wsdl")
	if err != nil {
		t.Fatal(err)
	}
	overlong := strings.Repeat("k", connect.MaxKeyBytes+1)
	want := map[string][]connect.Record{
		"k1": {{"id": "k1", "count": json.Number("9007199254740993"), "price": json.Number("12.5"), "name": "Ä & <b>"}},
		"k2": {{"id": "k2", "count": json.Number("0"), "price": json.Number("0.25")}},
	}
	for _, tc := range []struct {
		name, decl string
		upstream   func(*testing.T) thingsUpstream
	}{
		{"http", thingsHTTP, thingsHTTPUpstream},
		{"soap", thingsSOAP, thingsSOAPUpstream},
		{"sql", thingsSQL, thingsSQLUpstream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := declare.Parse([]declare.File{
				{Name: "schema/things.yaml", Data: []byte(tc.decl)},
				{Name: "schema/things.wsdl", Data: wsdl},
			})
			if err != nil {
				t.Fatal(err)
			}
			if ps := connect.CheckParts(set); len(ps) > 0 {
				t.Fatalf("CheckParts: %v", ps.Err())
			}
			up := tc.upstream(t)
			c, err := connect.Open(t.Context(), set, set.Resource("things.things"), up.env)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Fetch(t.Context(), []string{"k1", overlong, "k2", "", "k1", "nothing"})
			if err != nil {
				t.Fatal(err)
			}
			// SQL leaves a NULL column in the record as nil; absent and nil
			// decode alike (null), so compare without them.
			for _, recs := range got {
				for _, r := range recs {
					for k, v := range r {
						if v == nil {
							delete(r, k)
						}
					}
				}
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("records %s\n%#v\nwant %#v", g, got, want)
			}
			if asked := up.asked(); len(asked) != 3 || strings.Contains(strings.Join(asked, ","), overlong) {
				t.Errorf("the upstream was asked for %d keys (%.80q), want k1, k2 and nothing only", len(asked), asked)
			}
		})
	}
}

// TestBadConnectorPartsAreLocated: a mistake in a soap or sql part is a
// problem at its line in the declaration, found by `go generate`'s and the
// start's check (CheckParts), or, for what only the database or the
// configuration can say, when the gateway opens the connector (Open).
func TestBadConnectorPartsAreLocated(t *testing.T) {
	wsdl, err := os.ReadFile("testdata/things.wsdl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, decl, from, to string
		open                 bool // the problem is found by Open, not CheckParts
		want                 []string
	}{
		{name: "soap: a misspelt key", decl: thingsSOAP, from: "      operation: GetThing", to: "      opration: GetThing",
			want: []string{`schema/things.yaml:10: resource things.things: soap: unknown key "opration" (want faults, idempotent, operation, records, request, security, service, version, wsdl)`}},
		{name: "soap: an operation the WSDL lacks", decl: thingsSOAP, from: "operation: GetThing", to: "operation: GetThings",
			want: []string{`schema/things.yaml:10: resource things.things: soap.operation: service ThingsService has no operation "GetThings" (it has GetThing)`}},
		{name: "soap: a field the record lacks", decl: thingsSOAP, from: "name: Name", to: "name: Namn",
			want: []string{`schema/things.yaml:14: resource things.things: fields.name: Thing has no element Namn (it has Id, Count, Price, Name)`}},
		{name: "soap: no such WSDL", decl: thingsSOAP, from: "wsdl: things.wsdl", to: "wsdl: thing.wsdl",
			want: []string{`schema/things.yaml:9: resource things.things: soap.wsdl: open thing.wsdl: file does not exist`}},
		{name: "soap: a value of the wrong type", decl: thingsSOAP, from: "idempotent: true", to: "idempotent: [yes]",
			want: []string{`schema/things.yaml:13: resource things.things: soap: cannot unmarshal a list into bool`}},
		{name: "soap: an unset config value", decl: thingsSOAP, from: `{ Id: "{key}" }`, to: `{ Id: "{key}{config.suffix}" }`, open: true,
			want: []string{`schema/things.yaml:11: resource things.things: soap.request.Id: {config.suffix}: the configuration sets no suffix for this system`}},
		{name: "sql: a query that writes", decl: thingsSQL, from: "query: SELECT", to: "query: DELETE FROM things; SELECT",
			want: []string{`schema/things.yaml:9: resource things.things: sql.query: `, "may only read"}},
		{name: "sql: no key column", decl: thingsSQL, from: "      key: id\n", to: "",
			want: []string{`schema/things.yaml:8: resource things.things: sql.key: is required`}},
		{name: "sql: maxKeys that is no number", decl: thingsSQL, from: "      key: id\n", to: "      key: id\n      maxKeys: lots\n",
			want: []string{`schema/things.yaml:11: resource things.things: sql: cannot unmarshal text ` + "`lots`" + ` into int`}},
		{name: "sql: a column the result lacks", decl: thingsSQL, from: "name: name }", to: "name: nam }", open: true,
			want: []string{`schema/things.yaml:11: resource things.things: fields.name: column "nam"`}},
		{name: "sql: a table the database lacks", decl: thingsSQL, from: "FROM things", to: "FROM thinks", open: true,
			want: []string{`schema/things.yaml:9: resource things.things: sql.query: `, "thinks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decl := strings.Replace(tc.decl, tc.from, tc.to, 1)
			if decl == tc.decl {
				t.Fatalf("%q is not in the declaration", tc.from)
			}
			set, err := declare.Parse([]declare.File{{Name: "schema/things.yaml", Data: []byte(decl)}, {Name: "schema/things.wsdl", Data: wsdl}})
			if err != nil {
				t.Fatal(err)
			}
			err = connect.CheckParts(set).Err()
			if tc.open {
				if err != nil {
					t.Fatalf("CheckParts found %v; want it found at Open only", err)
				}
				up := thingsSQLUpstream(t)
				if strings.Contains(decl, "connector: soap") {
					up = thingsSOAPUpstream(t)
				}
				_, err = connect.Open(t.Context(), set, set.Resource("things.things"), up.env)
			}
			var ps declare.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %v (%T), want declare.Problems", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say\n  %s\nit says\n%s", w, err)
				}
			}
		})
	}
}
