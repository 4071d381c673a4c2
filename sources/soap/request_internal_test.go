package soap

import (
	"bytes"
	"testing"
)

// TestRequestTemplateIsMarshal: the envelope a call writes from the
// template is byte for byte the one Marshal builds, whatever the
// personnummer and the order hold (markup, entities, the template's own
// element, control characters, invalid UTF-8).
func TestRequestTemplateIsMarshal(t *testing.T) {
	orders := []Bestallning{
		{OrgNr: "212000-0000", BestallningsID: "KOMMUNGRAF-DEMO"},
		{OrgNr: "<PersonId></PersonId>", BestallningsID: `&"'<>`},
	}
	pnrs := []string{"198112189876", "", `<x>&amp;"'`, "</PersonId><PersonId>1", "]]>", "a\tb\nc\rd", "\x00\x7f\xff\xfe", "Örebro ✓", `<!DOCTYPE x [<!ENTITY e "e">]>&e;`}
	for _, order := range orders {
		tmpl, err := newRequestTemplate(order)
		if err != nil {
			t.Fatal(err)
		}
		for _, pnr := range pnrs {
			want, err := Marshal(PersonpostRequest{NS: NavetNamespace, Bestallning: order, PersonID: pnr})
			if err != nil {
				t.Fatal(err)
			}
			if got := tmpl.body(pnr); !bytes.Equal(got, want) {
				t.Errorf("order %+v, PersonId %q:\n got %s\nwant %s", order, pnr, got, want)
			}
		}
	}
}
