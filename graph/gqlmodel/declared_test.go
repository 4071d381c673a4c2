package gqlmodel

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/model"
)

// TestNestedPartsDecode: the generated DecodeRecord of a record with
// nested parts (schema/tomningar.yaml: vehicle, fee) fills the nested
// objects and lists, reads an object where a list is declared as a list of
// one, refuses a value of the wrong type with the field's path, and hands
// the record's data subjects to the nested parts with personal data; a
// nested value not decoded as a part of a record names an unknown person.
func TestNestedPartsDecode(t *testing.T) {
	var c WasteCollection
	err := c.DecodeRecord(map[string]any{
		"id": "c1", "invoicePartyId": "party-1",
		"vehicle": map[string]any{"registration": "AVF101", "route": "MAT-MON"},
		"fee":     []any{map[string]any{"text": "Tömning", "amountSek": json.Number("25")}, map[string]any{"text": "Vikt"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Vehicle == nil || *c.Vehicle.Registration != "AVF101" || *c.Vehicle.Route != "MAT-MON" ||
		len(c.Fee) != 2 || *c.Fee[0].Text != "Tömning" || *c.Fee[0].AmountSek != 25 || c.Fee[1].AmountSek != nil {
		t.Fatalf("decoded %+v", c)
	}
	for _, f := range c.Fee {
		if s := f.DataSubjects(); s.Len() != 1 || s.At(0) != (model.Subject{PartyID: "party-1"}) {
			t.Fatalf("fee line's subjects %+v, want the record's party", s)
		}
	}

	var one WasteCollection
	if err := one.DecodeRecord(map[string]any{"fee": map[string]any{"text": "Tömning"}}); err != nil || len(one.Fee) != 1 {
		t.Fatalf("an object where a list is declared: %+v, %v", one.Fee, err)
	}
	// The fee is there but its person is not: unknown, which counts as
	// protected, on the record and on its lines.
	for _, s := range []model.Subjects{one.DataSubjects(), one.Fee[0].DataSubjects()} {
		if s.Len() != 1 || s.At(0) != (model.Subject{}) {
			t.Fatalf("subjects %+v, want one unknown person", s)
		}
	}
	var none WasteCollection
	if err := none.DecodeRecord(map[string]any{"id": "c2"}); err != nil || none.DataSubjects().Len() != 0 {
		t.Fatalf("a record without a subject or a fee: %v, subjects %+v", err, none.DataSubjects())
	}
	if s := (&WasteCollectionFee{}).DataSubjects(); s.Len() != 1 || s.At(0) != (model.Subject{}) {
		t.Fatalf("a fee line built outside a record: subjects %+v, want one unknown person", s)
	}

	for _, tc := range []struct {
		rec  map[string]any
		want string
	}{
		{map[string]any{"vehicle": "AVF101"}, "vehicle: want an object"},
		{map[string]any{"vehicle": map[string]any{"route": []any{"x"}}}, "vehicle: route:"},
		{map[string]any{"fee": "25"}, "fee: want a list of objects"},
		{map[string]any{"fee": []any{"25"}}, "fee[0]: want an object"},
		// [WasteCollectionFee!]: a null line does not fit, a bad
		// response, not an internal error at the element.
		{map[string]any{"fee": []any{map[string]any{"text": "Tömning"}, nil}}, "fee[1]: null, where the schema has a non-null WasteCollectionFee"},
		{map[string]any{"fee": []any{map[string]any{}, map[string]any{"amountSek": "many"}}}, "fee[1]: amountSek:"},
	} {
		var x WasteCollection
		if err := x.DecodeRecord(tc.rec); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %s...", tc.rec, err, tc.want)
		}
	}
}
