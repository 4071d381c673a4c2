package loaders

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/kommungraf/kommungraf/sources/connect"
)

// TestNumbersReachTheNestedParts: a record back from the cache has
// float64s in its nested objects and lists too; each becomes the
// json.Number the scalars read, and the cached record is not written to.
func TestNumbersReachTheNestedParts(t *testing.T) {
	cached := connect.Record{
		"weightKg": 12.5, "id": "c1",
		"vehicle": map[string]any{"seats": float64(3), "route": "R1"},
		"fee":     []any{map[string]any{"amountSek": 25.0}, nil, "x"},
	}
	got := numbers(cached)
	want := `map[fee:[map[amountSek:25] <nil> x] id:c1 vehicle:map[route:R1 seats:3] weightKg:12.5]`
	if fmt.Sprint(got) != want {
		t.Fatalf("numbers %v, want %v", got, want)
	}
	if _, ok := got["fee"].([]any)[0].(map[string]any)["amountSek"].(json.Number); !ok {
		t.Fatalf("a list's object's number is a %T", got["fee"].([]any)[0].(map[string]any)["amountSek"])
	}
	if _, ok := got["vehicle"].(map[string]any)["seats"].(json.Number); !ok {
		t.Fatal("a nested object's number is not a json.Number")
	}
	if _, ok := cached["fee"].([]any)[0].(map[string]any)["amountSek"].(float64); !ok {
		t.Fatal("the cached record was written to")
	}
	plain := connect.Record{"id": "c1"}
	if got := numbers(plain); fmt.Sprintf("%p", got) != fmt.Sprintf("%p", plain) {
		t.Fatal("a record without numbers was copied")
	}
}
