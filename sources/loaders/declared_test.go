package loaders

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// fakeConnector answers each key with one record {"n": key} and fails the
// keys in fail; it records its calls.
type fakeConnector struct {
	max   int
	fail  map[string]bool
	mu    sync.Mutex
	calls [][]string
}

func (f *fakeConnector) MaxKeys() int { return f.max }

func (f *fakeConnector) Fetch(_ context.Context, keys []string) (map[string][]connect.Record, error) {
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(keys))
	f.mu.Unlock()
	out := map[string][]connect.Record{}
	for _, k := range keys {
		if f.fail[k] {
			return nil, upstream.Errorf("fake", "things", upstream.Unavailable, "down")
		}
		if k != "missing" {
			out[k] = []connect.Record{{"n": k, "size": json.Number("3")}, {"n": k + "-2", "size": json.Number("4")}}
		}
	}
	return out, nil
}

// thing is a declared record type, as the generator writes them.
type thing struct {
	N    string
	Size int
}

func (t *thing) DecodeRecord(rec map[string]any) error {
	t.N, _ = rec["n"].(string)
	n, ok := rec["size"].(json.Number)
	if !ok {
		return errors.New("size is not a number")
	}
	v, err := n.Int64()
	t.Size = int(v)
	return err
}

// TestChunksSplitAtMaxKeys: a batch over the connector's cap goes out as
// calls of at most MaxKeys keys, and a failed call fails its own keys only.
func TestChunksSplitAtMaxKeys(t *testing.T) {
	c := &fakeConnector{max: 2, fail: map[string]bool{"d": true}}
	got, err := chunks(c)(context.Background(), []string{"a", "b", "c", "a", "d", "e"})
	if len(c.calls) != 3 {
		t.Fatalf("calls %v, want 3 of at most 2 distinct keys", c.calls)
	}
	for _, k := range []string{"a", "b", "e"} {
		if len(got[k]) != 2 || keyError(err, k) != nil {
			t.Errorf("key %s: %v, %v", k, got[k], keyError(err, k))
		}
	}
	for _, k := range []string{"c", "d"} { // one call
		if upstream.KindOf(keyError(err, k)) != upstream.Unavailable {
			t.Errorf("key %s: error %v, want its call's", k, keyError(err, k))
		}
	}
}

// TestOneAndListDecode: the declared resource's records decode into the
// field's type; an unknown key is an empty list, or nil.
func TestOneAndListDecode(t *testing.T) {
	f := NewFactory(Sources{}, Options{Resources: []Resource{{System: "fake", Name: "things", Connector: &fakeConnector{}}}})
	ctx := NewContext(context.Background(), f.New())
	list, err := List[thing](ctx, "fake.things", "k")
	if err != nil || len(list) != 2 || *list[0] != (thing{"k", 3}) || *list[1] != (thing{"k-2", 4}) {
		t.Fatalf("List = %v, %v", list, err)
	}
	again, _ := List[thing](ctx, "fake.things", "k")
	if again[0] != list[0] {
		t.Error("a key's records were decoded twice in one request")
	}
	one, err := One[thing](ctx, "fake.things", "k")
	if err != nil || one == nil || one.N != "k" {
		t.Fatalf("One = %v, %v", one, err)
	}
	if l, err := List[thing](ctx, "fake.things", "missing"); err != nil || l == nil || len(l) != 0 {
		t.Fatalf("List of an unknown key = %#v, %v; want empty", l, err)
	}
	if o, err := One[thing](ctx, "fake.things", ""); err != nil || o != nil {
		t.Fatalf("One of no key = %v, %v", o, err)
	}
	if _, err := One[thing](ctx, "fake.nothing", "k"); err == nil {
		t.Fatal("an undeclared resource answered")
	}
	if _, err := List[struct{ N string }](ctx, "fake.things", "k2"); err == nil {
		t.Fatal("a type without DecodeRecord decoded")
	}
}
