package declare_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// withPost is good with its batch asked as a POST whose body names the
// keys, an argument and a field of the parent record.
var withPost = strings.Replace(good, `      batch: { get: "api/bins?ids={keys}", maxKeys: 50 }`, `      batch:
        post: api/bins/search
        body: { ids: "{keys}", size: "{args.size}", owner: "{parent.objectId}", paged: false, opts: [1, "a", null] }
        idempotent: true
        maxKeys: 50`, 1)

// TestGoodPost: a POST's body is read in the order written, its
// placeholders whole values, its literals JSON; its arguments and parent
// fields are the call's.
func TestGoodPost(t *testing.T) {
	if err := load(t, strings.Replace(withPost, `size: "{args.size}", `, ``, 1), ""); err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(withPost)}})
	if err != nil {
		t.Fatal(err)
	}
	c := set.Resource("sopor.bins").HTTP.Batch
	if c.Post != "api/bins/search" || c.Get != "" || !c.Idempotent || c.MaxKeys != 50 || c.Template() != "api/bins/search" {
		t.Fatalf("call %+v", c)
	}
	var names []string
	for _, m := range c.Body.Members {
		lit, _ := json.Marshal(m.Value)
		names = append(names, m.Name+"="+string(lit))
	}
	want := []string{`ids={"Place":"{keys}"}`, `size={"Place":"size"}`, `owner={"Place":"parent.objectId"}`, `paged={"Literal":false}`,
		`opts={"Items":[{"Literal":1},{"Literal":"a"},{"Literal":null}],"IsList":true}`}
	if !slices.Equal(names, want) {
		t.Fatalf("body %q\nwant %q", names, want)
	}
	args := set.Resource("sopor.bins").Args()
	if !slices.Equal(args, []declare.ArgRef{{Name: "size"}, {Name: "objectId", Parent: true}}) {
		t.Fatalf("args %v", args)
	}
}

// TestPostNumbersAsWritten: a number of a body is sent as written, digits
// JSON can carry beyond a float64's included.
func TestPostNumbersAsWritten(t *testing.T) {
	yaml := strings.Replace(strings.Replace(withPost, `size: "{args.size}", `, ``, 1), `paged: false`, `paged: false, big: 99999999999999999999, f: 1.50, e: -2E+3`, 1)
	if err := load(t, yaml, ""); err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(yaml)}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range set.Resource("sopor.bins").HTTP.Batch.Body.Members {
		got[m.Name] = string(m.Value.Literal)
	}
	for name, want := range map[string]string{"big": "99999999999999999999", "f": "1.50", "e": "-2E+3"} {
		if got[name] != want {
			t.Errorf("%s sent as %s, want %s as written", name, got[name], want)
		}
	}
}

// TestPostArgKinds: an Int argument is a number in a body, an enum or an
// ID a string, as Check found their types.
func TestPostArgKinds(t *testing.T) {
	yaml := strings.Replace(withArgs, `batch: { get: "api/{args.year}/bins?ids={keys}&kind={args.kind}" }`,
		`batch: { post: "api/bins", body: { ids: "{keys}", year: "{args.year}", kind: "{args.kind}", owner: "{parent.objectId}" } }`, 1)
	set, err := declare.Load([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(yaml)}}, schema(t, argsSchema), builtins)
	if err != nil {
		t.Fatal(err)
	}
	r := set.Resource("sopor.binsOf")
	for key, want := range map[string]string{"year": "number", "kind": "string", "parent.objectId": "string"} {
		if got := r.ArgKind(key); got != want {
			t.Errorf("ArgKind(%s) %s, want %s", key, got, want)
		}
	}
}

// TestBadPostsAreLocated: each way a POST call or a parent field can be
// wrong is a problem at the line to fix.
func TestBadPostsAreLocated(t *testing.T) {
	batch := "schema/sopor.yaml:" + itoa(strings.Count(good[:strings.Index(good, "      batch")], "\n")+2) + ": " // the call's mapping, at post:
	post := "schema/sopor.yaml:" + itoa(strings.Count(good[:strings.Index(good, "      batch")], "\n")+2) + ": "
	body := "schema/sopor.yaml:" + itoa(strings.Count(good[:strings.Index(good, "      batch")], "\n")+3) + ": "
	binding := "schema/sopor.graphqls:6: "
	noArg := strings.Replace(withPost, `size: "{args.size}", `, ``, 1)
	tests := []struct {
		name, yaml, schema string
		want               []string
	}{
		{name: "a post without a body",
			yaml: strings.Replace(noArg, "        body: { ids: \"{keys}\", owner: \"{parent.objectId}\", paged: false, opts: [1, \"a\", null] }\n", "", 1),
			want: []string{post + `resource sopor.bins.http.batch: a POST needs its body`}},
		{name: "a placeholder inside a text",
			yaml: strings.Replace(noArg, `ids: "{keys}"`, `ids: "a{keys}"`, 1),
			want: []string{body + `resource sopor.bins.http.batch.body.ids "a{keys}": a placeholder is a whole value`}},
		{name: "an unquoted placeholder",
			yaml: strings.Replace(noArg, `ids: "{keys}"`, `ids: {keys}`, 1),
			want: []string{body + `resource sopor.bins.http.batch.body.ids: {keys} unquoted is a YAML mapping: write the placeholder quoted, "{keys}"`}},
		{name: "no keys in the body",
			yaml: strings.Replace(noArg, `ids: "{keys}"`, `ids: "{key}"`, 1),
			want: []string{post + `resource sopor.bins.http.batch.post "api/bins/search": {key} belongs to the other form`}},
		{name: "keys in the path",
			yaml: strings.Replace(noArg, `post: api/bins/search`, `post: "api/bins/search?ids={keys}"`, 1),
			want: []string{post + `resource sopor.bins.http.batch.post "api/bins/search?ids={keys}": a POST's {keys} belongs in its body`}},
		{name: "a body with get",
			yaml: strings.Replace(noArg, `post: api/bins/search`, `get: "api/bins?ids={keys}"`, 1),
			want: []string{body + `resource sopor.bins.http.batch.body: a body is a POST's`, `idempotent: a GET is always idempotent`}},
		{name: "get and post",
			yaml: strings.Replace(noArg, `post: api/bins/search`, "post: api/bins/search\n        get: \"api/bins?ids={keys}\"", 1),
			want: []string{post + `resource sopor.bins.http.batch: want one of get or post, not both`}},
		{name: "an XML resource with a JSON body",
			yaml: strings.Replace(noArg, "      records: items", "      records: items\n      format: xml", 1),
			want: []string{body + `resource sopor.bins.http.batch.body: "owner" is a second root element`}},
		{name: "a number JSON does not write",
			yaml: strings.Replace(noArg, `paged: false`, `paged: 0x10, more: [1_000, +1, .5]`, 1),
			want: []string{body + `resource sopor.bins.http.batch.body.paged "0x10": write the number as JSON does`,
				`body.more[] "1_000": write the number`, `body.more[] "+1": write the number`, `body.more[] ".5": write the number`}},
		{name: "a YAML merge key",
			yaml: strings.Replace(noArg, `paged: false`, `<<: {a: 1}, paged: false`, 1),
			want: []string{body + `resource sopor.bins.http.batch.body: a YAML merge key (<<) is not accepted in a body: write the members out`}},
		{name: "a null body",
			yaml: strings.Replace(noArg, `body: { ids: "{keys}", owner: "{parent.objectId}", paged: false, opts: [1, "a", null] }`, `body: null`, 1),
			want: []string{post + `resource sopor.bins.http.batch: a POST needs its body`}},
		{name: "a YAML alias in the body",
			yaml: strings.Replace(noArg, `paged: false, opts: [1, "a", null]`, `paged: &p false, opts: [*p]`, 1),
			want: []string{body + `resource sopor.bins.http.batch.body.opts[]: anchors and aliases are not accepted`}},
		{name: "a parent field the type does not have",
			yaml: strings.Replace(noArg, `{parent.objectId}`, `{parent.nope}`, 1),
			want: []string{binding + `Property.bins: resource sopor.bins's call (` + strings.TrimSuffix(batch, ": ") + `) uses {parent.nope}, but Property has no field nope`}},
		{name: "a parent field that is a resolver's",
			yaml: strings.Replace(noArg, `{parent.objectId}`, `{parent.bins}`, 1),
			want: []string{binding + `Property.bins: resource sopor.bins's call (` + strings.TrimSuffix(batch, ": ") + `) uses {parent.bins}, but Property.bins is a resolver's field`}},
		{name: "a parent field that is a list",
			yaml:   strings.Replace(noArg, `{parent.objectId}`, `{parent.tags}`, 1),
			schema: `extend type Property { tags: [String!] }`,
			want:   []string{binding + `Property.bins: resource sopor.bins's call (` + strings.TrimSuffix(batch, ": ") + `) uses {parent.tags}, but Property.tags is a [String!]: a call takes a field of a built-in scalar`}},
		{name: "a parent field of a custom scalar",
			yaml:   strings.Replace(noArg, `{parent.objectId}`, `{parent.built}`, 1),
			schema: `extend type Property { built: Date }`,
			want:   []string{binding + `Property.bins: resource sopor.bins's call (` + strings.TrimSuffix(batch, ": ") + `) uses {parent.built}, but Property.built is a Date: a call takes a field of a built-in scalar (ID, String, Int, Float, Boolean) or an enum`}},
		{name: "a nullable parent field as a path segment",
			yaml: strings.Replace(noArg, `post: api/bins/search`, `post: "api/{parent.objectId}/bins"`, 1),
			want: []string{binding + `Property.bins: resource sopor.bins's call (` + strings.TrimSuffix(batch, ": ") + `) has {parent.objectId} as a path segment, but Property.objectId is nullable (ID)`}},
		{name: "a parent field in a GET's query, misspelt",
			yaml: strings.Replace(good, `"api/bins?ids={keys}"`, `"api/bins?ids={keys}&o={parent.objectID}"`, 1),
			want: []string{binding + `Property.bins: resource sopor.bins's call (schema/sopor.yaml:11) uses {parent.objectID}, but Property has no field objectID`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantProblems(t, tc.yaml, tc.schema, tc.want) })
	}
}

// TestParentFieldsInSQLAndSOAP: an sql query's and a soap request's
// {parent.<field>} are the call's, checked against the parent type as an
// HTTP call's are.
func TestParentFieldsInSQLAndSOAP(t *testing.T) {
	field := "schema/sopor.graphqls:" + itoa(strings.Count(testSchema, "\n")+3) + ": "
	for _, tc := range []struct{ name, yaml, old, new string }{
		{"sql", sqlArgs, "AND ar = {args.year}", "AND ar = {args.year} AND agare = {parent.objectId}"},
		{"soap", soapArgs, `Ar: "{args.year}"`, `Ar: "{args.year}"` + "\n        Agare: \"{parent.objectId}\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(tc.yaml, tc.old, tc.new, 1)
			set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(yaml)}})
			if err != nil {
				t.Fatal(err)
			}
			if got := set.Resource("sopor.binsOf").Args(); !slices.Contains(got, declare.ArgRef{Name: "objectId", Parent: true}) {
				t.Fatalf("args %v: no {parent.objectId}", got)
			}
			err = load(t, strings.Replace(yaml, "{parent.objectId}", "{parent.nope}", 1), argsSchema)
			if want := field + "Property.binsOf: resource sopor.binsOf's call (schema/sopor.yaml:17) uses {parent.nope}, but Property has no field nope"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want it to say\n  %s", err, want)
			}
		})
	}
}

// TestPostArgumentsNamedKeyAndKeys: an argument named keys or key is an
// argument in a body, "{args.keys}", never the batch's keys ("{keys}") or
// the one form's key: a body whose only keys are an argument's lacks them.
func TestPostArgumentsNamedKeyAndKeys(t *testing.T) {
	yaml := strings.Replace(withArgs, `batch: { get: "api/{args.year}/bins?ids={keys}&kind={args.kind}" }`,
		`batch: { post: "api/bins", body: { ids: "{keys}", year: "{args.year}", kind: "{args.kind}", k: "{args.keys}", k1: "{args.key}" } }`, 1)
	schema := strings.Replace(argsSchema, "year: Int!)", "year: Int!, keys: String, key: String)", 1)
	if err := load(t, yaml, schema); err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(yaml)}})
	if err != nil {
		t.Fatal(err)
	}
	args := set.Resource("sopor.binsOf").Args()
	if !slices.Contains(args, declare.ArgRef{Name: "keys"}) || !slices.Contains(args, declare.ArgRef{Name: "key"}) {
		t.Fatalf("args %v: want the arguments keys and key", args)
	}
	onlyArg := strings.Replace(yaml, `ids: "{keys}"`, `ids: "{args.keys}"`, 1)
	if err := load(t, strings.Replace(onlyArg, `, k: "{args.keys}"`, ``, 1), schema); err == nil || !strings.Contains(err.Error(), "want {keys} exactly once") {
		t.Fatalf("a body whose keys are an argument's: error %v, want it refused", err)
	}
}
