package declare_test

import (
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// listing is good with a listing resource, bound by a connection field.
const listing = good + `  emptyings:
    type: Emptying
    list: true
    http:
      one: { get: "api/properties/{key}/emptyings" }
      records: items
      page: { style: limit+page, size: 50, maxPages: 4, total: meta.total }
    fields:
      date: date
`

const listingSchema = `
extend type Property {
  emptyings(first: Int, after: String): EmptyingConnection @resource(name: "sopor.emptyings", key: "objectId")
}
type Emptying @classification(level: 0) @owner(name: "Sopor (Tekniska nämnden)") { date: String }
type EmptyingConnection @classification(level: 0) @owner(name: "K") {
  edges: [EmptyingEdge!]!
  pageInfo: PageInfo!
  totalCount: Int
}
type EmptyingEdge @classification(level: 0) @owner(name: "K") { cursor: String! node: Emptying! }
`

func TestGoodListing(t *testing.T) {
	if err := load(t, listing, listingSchema); err != nil {
		t.Fatal(err)
	}
	for _, style := range []string{"style: limit+offset", "style: links"} {
		y := strings.Replace(listing, "style: limit+page", style, 1)
		if err := load(t, y, listingSchema); err != nil {
			t.Fatalf("%s: %v", style, err)
		}
	}
	// The key may be a filter in the query (OGC API Features' items?x={key}).
	y := strings.Replace(listing, `"api/properties/{key}/emptyings"`, `"collections/e/items?property={key}"`, 1)
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(y)}})
	if err != nil {
		t.Fatal(err)
	}
	p := set.Resource("sopor.emptyings").Paging()
	if p == nil || p.Style != declare.PageLimitPage || p.Limit != "limit" || p.Number != "page" || p.First != 1 ||
		p.Size != 50 || p.MaxPages != 4 || strings.Join(p.Total, ".") != "meta.total" {
		t.Fatalf("parsed %+v", p)
	}
	if set.Resource("sopor.bins").Paging() != nil {
		t.Fatal("a resource without page is a listing")
	}
}

// TestPageCalls: the most upstream calls of a client page, which the cost
// estimate counts.
func TestPageCalls(t *testing.T) {
	p := &declare.Page{Style: declare.PageLimitPage, Size: 50, MaxPages: 4}
	for first, want := range map[int]int{1: 2, 20: 2, 50: 2, 51: 3, 100: 3, 1000: 4} {
		if got := p.Calls(first); got != want {
			t.Errorf("Calls(%d) = %d, want %d", first, got, want)
		}
	}
	links := &declare.Page{Style: declare.PageLinks, Size: 50, MaxPages: 4}
	if links.Calls(1) != 4 || links.Reach() != 200 || p.Reach() != 0 {
		t.Errorf("links: Calls(1) %d, Reach %d; page Reach %d", links.Calls(1), links.Reach(), p.Reach())
	}
}

// TestBadListingsAreLocated: each mistake in a listing's declaration or
// its binding is a located problem.
func TestBadListingsAreLocated(t *testing.T) {
	tests := []struct {
		name, yaml, schema string
		want               []string
	}{
		{name: "an unknown style",
			yaml: strings.Replace(listing, "style: limit+page", "style: cursor", 1), schema: listingSchema,
			want: []string{`schema/sopor.yaml:26: resource sopor.emptyings.http.page.style "cursor": want limit+page, limit+offset or links`}},
		{name: "a page too large, too many pages",
			yaml: strings.Replace(listing, "size: 50, maxPages: 4", "size: 5000, maxPages: 500", 1), schema: listingSchema,
			want: []string{"schema/sopor.yaml:26: resource sopor.emptyings.http.page.size: at most 1000",
				"schema/sopor.yaml:26: resource sopor.emptyings.http.page.maxPages: at most 50"}},
		{name: "a negative size",
			yaml: strings.Replace(listing, "size: 50", "size: -3", 1), schema: listingSchema,
			want: []string{`schema/sopor.yaml:26: resource sopor.emptyings.http.page.size: want a whole number of at least 1, not "-3"`}},
		{name: "a parameter of another style",
			yaml: strings.Replace(listing, "total: meta.total", "total: meta.total, offset: skip", 1), schema: listingSchema,
			want: []string{"schema/sopor.yaml:26: resource sopor.emptyings.http.page.offset: only the limit+offset style has it"}},
		{name: "the paging's parameter in the template",
			yaml: strings.Replace(listing, `"api/properties/{key}/emptyings"`, `"api/properties/{key}/emptyings?limit=5000"`, 1), schema: listingSchema,
			want: []string{`limit is the paging's own parameter: leave it out`}},
		{name: "a hostile parameter name",
			yaml: strings.Replace(listing, "style: limit+page,", "style: limit+page, limit: \"x&admin=1\",", 1), schema: listingSchema,
			want: []string{`page.limit "x&admin=1": want a query parameter's name`}},
		{name: "a listing in the batch form",
			yaml: strings.Replace(listing, `one: { get: "api/properties/{key}/emptyings" }`, `batch: { get: "api/emptyings?ids={keys}" }`, 1), schema: listingSchema,
			want: []string{"a listing is asked one key at a time: use one, not batch"}},
		{name: "a listing of one record",
			yaml: strings.Replace(listing, "    list: true\n    http:\n      one", "    list: false\n    http:\n      one", 1), schema: listingSchema,
			want: []string{"schema/sopor.yaml:22: resource sopor.emptyings: a listing (http.page) answers many records per key: list: true"}},
		{name: "bound by a plain list",
			yaml:   listing,
			schema: strings.Replace(listingSchema, "emptyings(first: Int, after: String): EmptyingConnection", "emptyings: [Emptying!]", 1),
			want: []string{"schema/sopor.graphqls:19: Property.emptyings: resource sopor.emptyings is a listing: the field needs the argument first: Int",
				"resource sopor.emptyings is a listing: bind it with a connection type"}},
		{name: "an argument besides first and after that the call does not use",
			yaml:   listing,
			schema: strings.Replace(listingSchema, "after: String)", "after: String, year: Int)", 1),
			want:   []string{"schema/sopor.graphqls:19: Property.emptyings(year): resource sopor.emptyings's call (schema/sopor.yaml:", "does not use {args.year}: the argument would change nothing"}},
		{name: "a required first",
			yaml:   listing,
			schema: strings.Replace(listingSchema, "first: Int,", "first: Int!,", 1),
			want:   []string{"Property.emptyings: argument first is a Int!; want Int"}},
		{name: "edges of another type",
			yaml:   listing,
			schema: strings.Replace(listingSchema, "node: Emptying!", "node: Bin!", 1),
			want:   []string{"schema/sopor.graphqls:27: EmptyingEdge.node: an edge of sopor.emptyings has cursor: String! and node: Emptying only"}},
		{name: "a count the upstream does not give",
			yaml:   strings.Replace(listing, ", total: meta.total", "", 1),
			schema: listingSchema,
			want:   []string{"schema/sopor.yaml:26: resource sopor.emptyings: EmptyingConnection has totalCount but the page part has no total"}},
		{name: "a required count",
			yaml:   listing,
			schema: strings.Replace(listingSchema, "totalCount: Int", "totalCount: Int!", 1),
			want:   []string{"EmptyingConnection.totalCount: want Int, nullable"}},
		{name: "arguments on a field bound to a resource that is no listing",
			yaml:   listing,
			schema: listingSchema + `extend type Property { binsPaged(first: Int): [Bin!] @resource(name: "sopor.bins", key: "objectId") }`,
			want:   []string{"Property.binsPaged(first): resource sopor.bins's call (schema/sopor.yaml:", "does not use {args.first}"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantProblems(t, tc.yaml, tc.schema, tc.want) })
	}
}

// TestShapeFollowsThePaging: a listing's cache keys change with its paging
// (another size cuts other windows).
func TestShapeFollowsThePaging(t *testing.T) {
	shape := func(y string) string {
		set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(y)}})
		if err != nil {
			t.Fatal(err)
		}
		return set.Resource("sopor.emptyings").Shape()
	}
	if shape(listing) == shape(strings.Replace(listing, "size: 50", "size: 40", 1)) {
		t.Fatal("the shape does not follow the page size")
	}
	if shape(listing) != shape("# a comment\n"+listing) {
		t.Fatal("the shape follows a comment")
	}
}
