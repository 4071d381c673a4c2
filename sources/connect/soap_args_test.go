package connect_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// thingsArgsDecl calls GetThing with the key as Id, the argument colour
// as the optional Colour and a fixed Kind.
func thingsArgsDecl(t *testing.T, request map[string]string) connect.SOAPCall {
	t.Helper()
	wsdl, err := os.ReadFile("testdata/things-args.wsdl")
	if err != nil {
		t.Fatal(err)
	}
	return connect.SOAPCall{
		WSDL: "things.wsdl", Operation: "GetThing", Request: request, Records: "Thing", Idempotent: true,
		Files: fstest.MapFS{"things.wsdl": {Data: wsdl}},
	}
}

// thingsServer is a GetThing service that answers no things and hands
// each request's body to seen.
func thingsServer(t *testing.T, seen func(body []byte)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen(body)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><t:GetThingResponse xmlns:t="urn:kommungraf:test:things"/></s:Body></s:Envelope>`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// thingRequest is GetThing as the service reads it.
type thingRequest struct {
	Id     string
	Colour []string
	Kind   string
}

// TestSOAPArguments: a request value {args.colour} carries the argument
// of each declare.ArgsKey, XML-escaped, so that a hostile value (markup,
// an entity, a CDATA end, quotes) arrives as the same text and opens no
// element; a null argument leaves the optional element out; one call per
// key and argument set.
func TestSOAPArguments(t *testing.T) {
	var mu sync.Mutex
	var got []thingRequest
	srv := thingsServer(t, func(body []byte) {
		var env struct {
			Body struct {
				Req thingRequest `xml:"GetThing"`
			}
		}
		if err := xml.Unmarshal(body, &env); err != nil {
			t.Errorf("request is not well-formed: %v\n%s", err, body)
		}
		mu.Lock()
		got = append(got, env.Body.Req)
		mu.Unlock()
	})
	up, err := upstream.NewClient(upstream.Options{Name: "things", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := connect.NewSOAP(t.Context(), up, thingsArgsDecl(t, map[string]string{"Id": "{key}", "Colour": "{args.colour}", "Kind": "thing"}),
		map[string]string{"id": "Id"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hostile := []string{"</Colour><Kind>x</Kind><Colour>", "]]>", "<![CDATA[x]]>", "&amp;&xxe;", `"'><`, "red"}
	var keys []string
	for _, h := range hostile {
		keys = append(keys, declare.ArgsKey("k1", url.Values{"colour": {h}}))
	}
	keys = append(keys, declare.ArgsKey("k1", url.Values{}), declare.ArgsKey("k2", url.Values{"colour": {"red"}}))
	if _, err := c.Fetch(t.Context(), keys); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("%d calls, want %d: one per key and argument set", len(got), len(keys))
	}
	seen := map[string]bool{}
	for _, r := range got {
		if r.Kind != "thing" || (r.Id != "k1" && r.Id != "k2") || len(r.Colour) > 1 {
			t.Errorf("request %+v: an argument changed the request's elements", r)
		}
		switch len(r.Colour) {
		case 0:
			seen["null "+r.Id] = true
		case 1:
			seen[r.Colour[0]+" "+r.Id] = true
		}
	}
	for _, want := range append(hostile, "null") {
		if !seen[want+" k1"] {
			t.Errorf("no request for k1 carried Colour %q as text (or left it out for null): %v", want, seen)
		}
	}
	if !seen["red k2"] {
		t.Errorf("no request for k2 with Colour red: %v", seen)
	}
}

// TestSOAPArgumentMisuse: an argument is the whole value of an optional
// element; anything else is a located declaration problem.
func TestSOAPArgumentMisuse(t *testing.T) {
	up, err := upstream.NewClient(upstream.Options{Name: "things", BaseURL: "http://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		request map[string]string
		want    string
	}{
		"in a required element": {map[string]string{"Id": "{key}", "Kind": "{args.kind}"}, "soap.request.Kind: {args.kind}: an argument is the whole value of an optional element"},
		"part of a value":       {map[string]string{"Id": "{key}", "Colour": "c-{args.colour}", "Kind": "x"}, "soap.request.Colour: {args.colour}: an argument is the whole value of an optional element"},
		"not a name":            {map[string]string{"Id": "{key}", "Colour": "{args.col-our}", "Kind": "x"}, "unknown placeholder {args.col-our}: use {key}, {config.<name>}, {args.<name>} or {parent.<field>}"},
		// An argument's name has no dot: {args.parent.colour} is neither an
		// argument nor the parent's field (declare would see neither).
		"an argument named like a parent field": {map[string]string{"Id": "{key}", "Colour": "{args.parent.colour}", "Kind": "x"}, "unknown placeholder {args.parent.colour}"},
		"a parent field with a dot":             {map[string]string{"Id": "{key}", "Colour": "{parent.a.b}", "Kind": "x"}, "unknown placeholder {parent.a.b}"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := connect.NewSOAP(t.Context(), up, thingsArgsDecl(t, tc.request), map[string]string{"id": "Id"}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewSOAP: %v\nwant it to say %s", err, tc.want)
			}
		})
	}
}
