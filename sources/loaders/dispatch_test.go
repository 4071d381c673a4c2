package loaders

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/vektah/gqlparser/v2/ast"
)

// recorder is a batch function that records its batches.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
}

func (r *recorder) batch(_ context.Context, keys []string) []*dataloader.Result[string] {
	r.mu.Lock()
	r.batches = append(r.batches, slices.Sorted(slices.Values(keys)))
	r.mu.Unlock()
	out := make([]*dataloader.Result[string], len(keys))
	for i, k := range keys {
		out[i] = &dataloader.Result[string]{Data: "v" + k}
	}
	return out
}

func (r *recorder) got() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func rootField(alias string) *graphql.FieldContext {
	return &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Alias: alias}}}
}

func (d *dispatcher) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runnable
}

// TestLevelIsOneBatchHoweverLateItsLastKey: two of three concurrent fields
// load and block; the third loads only after them. The batch waits for it,
// with a safety net far longer than the test, and the keys the answers lead
// to (a chained load) are the next batch, again one.
func TestLevelIsOneBatchHoweverLateItsLastKey(t *testing.T) {
	d := newDispatcher(time.Hour, newFlushMetrics(nil))
	rec := &recorder{}
	b := newBatched(Options{}, d, loaderName{"test", "keys"}, rec.batch)
	ctx := context.Background()
	root := d.begin([]childField{{"a", true}, {"b", true}, {"c", true}})

	field := func(alias, key, chained string) {
		fc := rootField(alias)
		if v, err := b.Load(ctx, key)(); err != nil || v != "v"+key {
			t.Errorf("%s: %q, %v", key, v, err)
		}
		if chained != "" {
			if v, _ := b.Load(ctx, chained)(); v != "v"+chained {
				t.Errorf("%s: %q", chained, v)
			}
		}
		d.exit(root, fc, nil, 0, nil)
	}
	var wg sync.WaitGroup
	for _, f := range []struct{ alias, key, chained string }{{"a", "1", "4"}, {"b", "2", "5"}} {
		wg.Go(func() { field(f.alias, f.key, f.chained) })
	}
	// c starts only once a and b are blocked on their keys.
	for d.count() != 1 {
		runtime.Gosched()
	}
	field("c", "3", "")
	wg.Wait()

	want := [][]string{{"1", "2", "3"}, {"4", "5"}}
	if got := rec.got(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	if n := d.count(); n != 0 {
		t.Fatalf("%d places still counted after every field returned", n)
	}
}

// TestThunkOutsideAnOperationDoesNotWait: loaders used outside a counted
// operation flush when a thunk is called, not after the safety net.
func TestThunkOutsideAnOperationDoesNotWait(t *testing.T) {
	d := newDispatcher(time.Hour, newFlushMetrics(nil))
	rec := &recorder{}
	b := newBatched(Options{}, d, loaderName{"test", "keys"}, rec.batch)
	th1 := b.Load(context.Background(), "1")
	th2 := b.Load(context.Background(), "2")
	if v, err := th1(); err != nil || v != "v1" {
		t.Fatalf("%q, %v", v, err)
	}
	if v, _ := th2(); v != "v2" {
		t.Fatalf("%q", v)
	}
	if got := rec.got(); len(got) != 1 {
		t.Fatalf("batches %v, want one", got)
	}
}

// TestPrimedKeyDoesNotBlock: a primed key answers at once and is not
// counted as waiting.
func TestPrimedKeyDoesNotBlock(t *testing.T) {
	d := newDispatcher(time.Hour, newFlushMetrics(nil))
	rec := &recorder{}
	b := newBatched(Options{}, d, loaderName{"test", "keys"}, rec.batch)
	root := d.begin([]childField{{"a", true}})
	fc := rootField("a")
	b.Prime(context.Background(), "1", "primed")
	if v, _ := b.Load(context.Background(), "1")(); v != "primed" {
		t.Fatalf("%q", v)
	}
	if c := d.count(); c != 1 {
		t.Fatalf("runnable %d, want 1: the field never waited", c)
	}
	d.exit(root, fc, nil, 0, nil)
	if got := rec.got(); len(got) != 0 {
		t.Fatalf("batches %v, want none", got)
	}
}
