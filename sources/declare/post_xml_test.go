package declare_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// withXMLPost is good as a format: xml resource whose batch is a POST of
// an XML body: the root element search, the keys' element id, a parent
// field and a repeated literal element.
var withXMLPost = strings.Replace(strings.Replace(good, `      batch: { get: "api/bins?ids={keys}", maxKeys: 50 }`, `      batch:
        post: api/bins/search.xml
        body:
          search:
            id: "{keys}"
            owner: "{parent.objectId}"
            tag: [a, 1]
        maxKeys: 50`, 1), "      records: items\n", "      records: item\n      format: xml\n", 1)

// xmlLine is the file:line of withXMLPost's batch call's line n (0 the
// batch key, 1 post, 2 body, 3 search, 4 id …).
func xmlLine(n int) string {
	return "schema/sopor.yaml:" + itoa(strings.Count(withXMLPost[:strings.Index(withXMLPost, "      batch")], "\n")+1+n) + ": "
}

// TestGoodXMLPost: a format: xml resource's POST body is read as a JSON
// one's, its root element the one member.
func TestGoodXMLPost(t *testing.T) {
	if err := load(t, withXMLPost, ""); err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(withXMLPost)}})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Resource("sopor.bins")
	got, _ := json.Marshal(r.HTTP.Batch.Body)
	want := `{"Members":[{"Name":"search","Value":{"Members":[{"Name":"id","Value":{"Place":"{keys}"}},` +
		`{"Name":"owner","Value":{"Place":"parent.objectId"}},{"Name":"tag","Value":{"Items":[{"Literal":"a"},{"Literal":1}],"IsList":true}}]}}]}`
	if r.HTTP.Format != "xml" || r.HTTP.Batch.Post != "api/bins/search.xml" || string(got) != want {
		t.Fatalf("format %q, body %s\nwant %s", r.HTTP.Format, got, want)
	}
}

// TestBadXMLPostsAreLocated: each way an XML body can be wrong is a
// problem at the line to fix.
func TestBadXMLPostsAreLocated(t *testing.T) {
	tests := []struct {
		name, from, to string
		want           []string
	}{
		{"two roots", `            tag: [a, 1]`, "            tag: [a, 1]\n          other: {a: b}",
			[]string{xmlLine(7) + `resource sopor.bins.http.batch.body: "other" is a second root element: an XML body is a mapping of one key, its root element`}},
		{"a root of text", "          search:\n            id: \"{keys}\"\n            owner: \"{parent.objectId}\"\n            tag: [a, 1]", `          search: "{keys}"`,
			[]string{xmlLine(3) + `resource sopor.bins.http.batch.body.search: the root element's value is a mapping of its child elements`}},
		{"a list as the body", "          search:\n            id: \"{keys}\"\n            owner: \"{parent.objectId}\"\n            tag: [a, 1]", `          - {id: "{keys}"}`,
			[]string{xmlLine(3) + `resource sopor.bins.http.batch.body: an XML body is a mapping of one key`}},
		{"an invalid element name", `            owner: "{parent.objectId}"`, "            owner: \"{parent.objectId}\"\n            1st: a\n            a b: a\n            ns:x: a\n            \"@attr\": a\n            xmlns: a\n            \"\": a",
			[]string{xmlLine(6) + `resource sopor.bins.http.batch.body.search: "1st" is not an XML element name`,
				xmlLine(7) + `resource sopor.bins.http.batch.body.search: "a b" is not an XML element name`,
				xmlLine(8) + `resource sopor.bins.http.batch.body.search: "ns:x" is not an XML element name`,
				xmlLine(9) + `resource sopor.bins.http.batch.body.search: "@attr" is not an XML element name`,
				xmlLine(10) + `resource sopor.bins.http.batch.body.search: "xmlns" is not an XML element name`,
				xmlLine(11) + `resource sopor.bins.http.batch.body.search: "" is not an XML element name`}},
		{"an invalid root name", `          search:`, `          "<search>":`,
			[]string{xmlLine(3) + `resource sopor.bins.http.batch.body: "<search>" is not an XML element name`}},
		{"a placeholder inside a text", `id: "{keys}"`, `id: "a{keys}"`,
			[]string{xmlLine(4) + `resource sopor.bins.http.batch.body.search.id "a{keys}": a placeholder is a whole value`}},
		{"keys twice", `            tag: [a, 1]`, "            tag: [a, \"{keys}\"]",
			[]string{xmlLine(1) + `resource sopor.bins.http.batch.post "api/bins/search.xml": want {keys} exactly once`}},
		{"no keys", `            id: "{keys}"`, `            id: x`,
			[]string{xmlLine(1) + `resource sopor.bins.http.batch.post "api/bins/search.xml": want {keys} exactly once`}},
		{"a list in a list", `tag: [a, 1]`, `tag: [a, [1]]`,
			[]string{xmlLine(6) + `resource sopor.bins.http.batch.body.search.tag[]: a list in a list has no XML form`}},
		{"a nested bad name", `tag: [a, 1]`, `tag: [{"x y": a}]`,
			[]string{xmlLine(6) + `resource sopor.bins.http.batch.body.search.tag[]: "x y" is not an XML element name`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(withXMLPost, tc.from) {
				t.Fatalf("%q is not in the declaration", tc.from)
			}
			wantProblems(t, strings.Replace(withXMLPost, tc.from, tc.to, 1), "", tc.want)
		})
	}
}
