package loaders

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/kommungraf/kommungraf/sources/tracing"
)

// A dispatcher decides when one request's loaders call their upstreams: when
// the request is exhausted, that is, when none of its field resolutions can
// make progress without a loader's answer (the Go form of graphql-java's
// "exhausted" dispatch strategy). Then every loader holding keys is flushed
// at once, so each level of the query is one batch per loader however slowly
// the goroutines that resolve the level are scheduled. A timer
// (Options.Wait) stays only as a safety net for a count that is off: it
// fires only after the request has made no progress for that long. Each
// flush is counted in kommungraf_loader_flushes_total{trigger}.
//
// The count. runnable is the number of places in the request's execution
// that can go on without a loader's answer. Levels follows gqlgen's
// execution to keep it: a field that is running or about to run counts; a
// thunk called on keys not answered yet stops its field counting, and the
// batch that answers its last key counts it again before the thunk returns,
// so a goroutine woken but not yet scheduled still counts. Below a field,
// gqlgen resolves each object of its value: the object's fields without a
// resolver one after another in one goroutine (one place, the next only
// when the previous one's subtree is complete), then its fields with a
// resolver each in a goroutine of its own (one place each).
//
// When runnable reaches 0, no resolution can add a key before some batch
// answers, so the pending keys are complete: they are flushed. A count that
// is too high only waits for the safety timer; one that is too low only
// splits a batch. Neither changes an answer.
type dispatcher struct {
	mu       sync.Mutex
	active   bool
	runnable int
	dirty    map[flusher]struct{}
	metrics  *flushMetrics
	// The safety net: timer fires after wait while loaders hold keys; it
	// flushes them only when the request made no progress (no field
	// started or returned, no batch answered) since it was armed, so a
	// request that is merely slow, on a loaded machine, is not cut short.
	wait     time.Duration
	timer    *time.Timer
	progress uint64
	armedAt  uint64

	fieldsMu sync.Mutex
	fields   map[selectionKey][]childField
}

type flusher interface{ flush() }

func newDispatcher(wait time.Duration, m *flushMetrics) *dispatcher {
	return &dispatcher{dirty: map[flusher]struct{}{}, wait: wait, metrics: m, fields: map[selectionKey][]childField{}}
}

// flushMetrics count the dispatcher's flushes by what triggered them:
// "exhausted" (the request could not go on without an answer) or "timer"
// (the safety net; in a healthy gateway it stays at 0).
type flushMetrics struct {
	exhausted, timer prometheus.Counter
}

func newFlushMetrics(reg prometheus.Registerer) *flushMetrics {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kommungraf_loader_flushes_total",
		Help: "Flushes of a request's loaders, by trigger: exhausted (no field could go on without an answer) or timer (the safety net).",
	}, []string{"trigger"})
	if reg != nil {
		reg.MustRegister(v)
	}
	return &flushMetrics{exhausted: v.WithLabelValues("exhausted"), timer: v.WithLabelValues("timer")}
}

// node is the operation, or a field execution whose value may hold
// objects. Every object below one node has the same fields (one selection
// set on one type: the dispatcher refuses schemas with interfaces and
// unions), so an object needs no record of its own: a field of it is
// found by its owner node and its place among the fields, and the node
// counts the fields of all its objects that are not complete yet.
// A field without objects below it (a scalar, an enum, null) has no node.
type node struct {
	d     *dispatcher
	owner *node // the node whose objects the field is a field of; nil: the operation
	pos   int   // the field's place among owner.fields
	// fields are the fields gqlgen resolves on each object below the node.
	fields []childField
	// remaining is the number of fields of the objects below the node that
	// are not complete.
	remaining int
}

// begin starts counting a query whose root object has fields, and returns
// the operation's node.
func (d *dispatcher) begin(fields []childField) *node {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active = true
	d.runnable += placesFrom(fields, -1)
	return &node{d: d, fields: fields}
}

// placesFrom counts the places an object with fields goes on in after its
// field at pos (-1: at its start) is complete: the next field without a
// resolver if there is one (only such a field completes in order), else all
// fields with a resolver.
func placesFrom(fields []childField, pos int) int {
	for i := pos + 1; i < len(fields); i++ {
		if !fields[i].concurrent {
			return 1
		}
	}
	if pos >= 0 && fields[pos].concurrent {
		return 0 // the fields with a resolver were counted together
	}
	n := 0
	for _, f := range fields {
		if f.concurrent {
			n++
		}
	}
	return n
}

// exit is called when the resolver of the field fc, a field of an object
// below owner, has returned (after every interceptor inside the
// dispatcher's): the field stops counting, and the objects below its value,
// objects of them with fields each (n holds them; nil or 0 objects: none),
// start. A field that was not counted (owner does not resolve it) changes
// nothing. Everything a field changes in the count happens here, under one
// lock: until it returns, the field counts as running, and the object it
// belongs to cannot be complete.
func (d *dispatcher) exit(owner *node, fc *graphql.FieldContext, n *node, objects int, fields []childField) {
	if fc == nil || owner == nil {
		return
	}
	d.mu.Lock()
	pos := -1
	for i, f := range owner.fields {
		if f.alias == fc.Field.Alias {
			pos = i
			break
		}
	}
	if pos < 0 {
		d.mu.Unlock()
		return
	}
	d.progress++
	d.runnable--
	if n != nil && objects > 0 && len(fields) > 0 {
		n.owner, n.pos, n.fields = owner, pos, fields
		n.remaining = objects * len(fields)
		d.runnable += objects * placesFrom(fields, -1)
	} else {
		d.completeLocked(owner, pos)
	}
	fl := d.exhaustedLocked()
	d.mu.Unlock()
	for _, f := range fl {
		f.flush()
	}
}

// completeLocked handles the field at pos of an object below owner once its
// subtree is complete, and the fields above it that this completes in turn.
func (d *dispatcher) completeLocked(owner *node, pos int) {
	for {
		if !owner.fields[pos].concurrent {
			d.runnable += placesFrom(owner.fields, pos)
		}
		if owner.owner == nil { // a field of the operation
			return
		}
		if owner.remaining--; owner.remaining > 0 {
			return
		}
		owner, pos = owner.owner, owner.pos
	}
}

// exhaustedLocked takes the loaders to flush when nothing is runnable.
func (d *dispatcher) exhaustedLocked() []flusher {
	if d.runnable > 0 || len(d.dirty) == 0 {
		return nil
	}
	d.metrics.exhausted.Inc()
	return d.takeDirtyLocked()
}

func (d *dispatcher) takeDirtyLocked() []flusher {
	out := make([]flusher, 0, len(d.dirty))
	for f := range d.dirty {
		out = append(out, f)
	}
	clear(d.dirty)
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	return out
}

// stalled is the safety net's timer: it flushes what the loaders hold if
// the request has not moved since the timer was armed, and waits again
// otherwise.
func (d *dispatcher) stalled() {
	d.mu.Lock()
	if d.timer == nil || len(d.dirty) == 0 {
		d.mu.Unlock()
		return
	}
	if d.progress != d.armedAt {
		d.armedAt = d.progress
		d.timer.Reset(d.wait)
		d.mu.Unlock()
		return
	}
	fl := d.takeDirtyLocked()
	d.mu.Unlock()
	d.metrics.timer.Inc()
	for _, f := range fl {
		f.flush()
	}
}

// waiter is one thunk call waiting for its keys.
type waiter struct{ pending int }

// track is one loader's part of the dispatcher: which of its keys are
// answered and who waits for the others. It shares the dispatcher's lock.
type track[K comparable] struct {
	d       *dispatcher // nil: untracked (batching disabled)
	dl      interface{ Flush() }
	loads   map[K]struct{} // keys asked for, answered or not
	done    map[K]struct{}
	waiters map[K][]*waiter
}

func newTrack[K comparable](d *dispatcher) *track[K] {
	return &track[K]{d: d, loads: map[K]struct{}{}, done: map[K]struct{}{}, waiters: map[K][]*waiter{}}
}

func (t *track[K]) flush() { t.dl.Flush() }

// loaded notes that the loader may hold pending keys, and arms the safety
// net.
func (t *track[K]) loaded(keys ...K) {
	d := t.d
	if d == nil {
		return
	}
	d.mu.Lock()
	for _, k := range keys {
		t.loads[k] = struct{}{}
	}
	d.dirty[t] = struct{}{}
	if d.timer == nil {
		d.armedAt = d.progress
		d.timer = time.AfterFunc(d.wait, d.stalled)
	}
	d.mu.Unlock()
}

// wait is called by a thunk before it blocks on keys. A call outside a
// counted operation flushes the loader: its caller needs the answer now.
func (t *track[K]) wait(keys []K) {
	d := t.d
	if d == nil {
		return
	}
	d.mu.Lock()
	if !d.active {
		d.mu.Unlock()
		t.flush()
		return
	}
	var w *waiter
	for _, k := range keys {
		if _, ok := t.done[k]; ok {
			continue
		}
		if w == nil {
			w = &waiter{}
		}
		w.pending++
		t.waiters[k] = append(t.waiters[k], w)
	}
	if w == nil {
		d.mu.Unlock()
		return
	}
	d.runnable--
	fl := d.exhaustedLocked()
	d.mu.Unlock()
	for _, f := range fl {
		f.flush()
	}
}

// answered marks keys answered and counts again every waiter whose last key
// this was. It runs before the loader hands the results to the thunks.
func (t *track[K]) answered(keys []K) {
	d := t.d
	if d == nil {
		return
	}
	d.mu.Lock()
	d.progress++
	for _, k := range keys {
		t.done[k] = struct{}{}
		for _, w := range t.waiters[k] {
			if w.pending--; w.pending == 0 {
				d.runnable++
			}
		}
		delete(t.waiters, k)
	}
	d.mu.Unlock()
}

// primed marks a primed key answered, unless it was asked for before: the
// loader keeps the value it is fetching then, and its batch answers it.
func (t *track[K]) primed(key K) {
	d := t.d
	if d == nil {
		return
	}
	d.mu.Lock()
	if _, ok := t.loads[key]; !ok {
		t.done[key] = struct{}{}
	}
	d.mu.Unlock()
}

// Batched is a per-request dataloader whose batches the request's
// dispatcher starts.
type Batched[K comparable, V any] struct {
	dl *dataloader.Loader[K, V]
	t  *track[K]
}

func newBatched[K comparable, V any](o Options, d *dispatcher, n loaderName, batch dataloader.BatchFunc[K, V]) *Batched[K, V] {
	if o.Disabled {
		d = nil
	}
	t := newTrack[K](d)
	wrapped := func(ctx context.Context, keys []K) []*dataloader.Result[V] {
		defer t.answered(keys)
		ctx, span := tracing.Tracer().Start(ctx, "loader.batch", trace.WithAttributes(
			tracing.Source.String(n.source), tracing.Entity.String(n.entity), tracing.Keys.Int(len(keys))))
		defer span.End()
		return batch(ctx, keys)
	}
	var dl *dataloader.Loader[K, V]
	if o.Disabled {
		dl = dataloader.NewBatchedLoader(wrapped, dataloader.WithBatchCapacity[K, V](1), dataloader.WithWait[K, V](0))
	} else {
		// No batch capacity: a level is one batch however many keys it has;
		// a source whose upstream caps a call splits it and issues the
		// calls together. The dispatcher flushes, and its own timer is
		// the safety net, so the library's timer never fires first.
		dl = dataloader.NewBatchedLoader(wrapped, dataloader.WithWait[K, V](time.Hour), dataloader.WithInputCapacity[K, V](4096))
	}
	t.dl = dl
	return &Batched[K, V]{dl: dl, t: t}
}

// loaderName is what a loader's batches are called in traces: its source and
// entity, as its cache store's.
type loaderName struct{ source, entity string }

// Load returns a thunk of the key's value.
func (b *Batched[K, V]) Load(ctx context.Context, key K) dataloader.Thunk[V] {
	th := b.dl.Load(ctx, key)
	b.t.loaded(key)
	return func() (V, error) {
		b.t.wait([]K{key})
		return th()
	}
}

// LoadMany returns a thunk of the keys' values, in key order.
func (b *Batched[K, V]) LoadMany(ctx context.Context, keys []K) dataloader.ThunkMany[V] {
	ths := make([]dataloader.Thunk[V], len(keys))
	for i, k := range keys {
		ths[i] = b.dl.Load(ctx, k)
	}
	b.t.loaded(keys...)
	return func() ([]V, []error) {
		b.t.wait(keys)
		vals := make([]V, len(keys))
		var errs []error
		for i, th := range ths {
			v, err := th()
			vals[i] = v
			if err != nil {
				if errs == nil {
					errs = make([]error, len(keys))
				}
				errs[i] = err
			}
		}
		return vals, errs
	}
}

// Prime puts a value the request already has into the loader.
func (b *Batched[K, V]) Prime(ctx context.Context, key K, v V) {
	b.t.primed(key)
	b.dl.Prime(ctx, key, v)
}
