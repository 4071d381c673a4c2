package opendata

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Dataset is rows an aggregate counts, read server-side from a source.
// Its rows may be classified data (errands, placements): this is the only
// path by which they reach /open/, and only as cells of at least the
// declared threshold.
type Dataset struct {
	// Name is the name declarations use.
	Name string
	// Description says what one row is.
	Description string
	// Source is the upstream system the rows come from; its cache TTL is
	// how long a computed aggregate is kept.
	Source string
	// Dimensions are the row attributes an aggregate may group by, each
	// with its description.
	Dimensions map[string]string
	// Rows reads every row: each the dimension values, never an identity.
	Rows func(ctx context.Context) ([]Row, error)
}

// Row is one row's dimension values.
type Row map[string]string

// Cell is one published cell of an aggregate.
type Cell struct {
	// Values are the cell's dimension values, by dimension.
	Values map[string]string
	// Count is the number of rows, never below the threshold.
	Count int
}

type boundAggregate struct {
	decl    *Aggregate
	dataset *Dataset
	ttl     time.Duration
	now     func() time.Time

	group singleflight.Group
	mu    sync.Mutex
	cells []Cell
	at    time.Time
}

func bindAggregate(opts *Options, a *Aggregate) (*boundAggregate, error) {
	var ds *Dataset
	for _, d := range opts.Datasets {
		if d.Name == a.Dataset {
			ds = d
		}
	}
	if ds == nil {
		names := make([]string, len(opts.Datasets))
		for i, d := range opts.Datasets {
			names[i] = d.Name
		}
		return nil, fmt.Errorf("dataset %q is not one of this gateway's (%s)", a.Dataset, strings.Join(names, ", "))
	}
	for _, by := range a.By {
		if _, ok := ds.Dimensions[by]; !ok {
			return nil, fmt.Errorf("dataset %s has no dimension %q", ds.Name, by)
		}
	}
	if a.Suppress == nil || a.Suppress.Below < MinThreshold {
		// validate() refused this already; a bound aggregate never lacks it.
		return nil, fmt.Errorf("no suppression of small counts")
	}
	ttl, _ := opts.SourceTTL(ds.Source)
	return &boundAggregate{decl: a, dataset: ds, ttl: ttl, now: opts.Now}, nil
}

// Suppressed groups rows by the dimensions and keeps the cells of at least
// threshold rows, ordered by their values. It is the one place an
// aggregate's cells are made: every served cell passes through it.
func Suppressed(rows []Row, by []string, threshold int) []Cell {
	counts := map[string]int{}
	values := map[string]map[string]string{}
	for _, r := range rows {
		parts := make([]string, len(by))
		for i, d := range by {
			parts[i] = r[d]
		}
		k := strings.Join(parts, "\x00")
		if counts[k] == 0 {
			v := make(map[string]string, len(by))
			for i, d := range by {
				v[d] = parts[i]
			}
			values[k] = v
		}
		counts[k]++
	}
	var out []Cell
	for k, n := range counts {
		if n >= threshold {
			out = append(out, Cell{Values: values[k], Count: n})
		}
	}
	slices.SortFunc(out, func(a, b Cell) int {
		for _, d := range by {
			if c := cmp.Compare(a.Values[d], b.Values[d]); c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

// compute returns the aggregate's published cells, kept for the source's
// TTL; concurrent requests share one computation.
func (b *boundAggregate) compute(ctx context.Context) ([]Cell, error) {
	b.mu.Lock()
	if b.cells != nil && b.now().Sub(b.at) < b.ttl {
		cells := b.cells
		b.mu.Unlock()
		return cells, nil
	}
	b.mu.Unlock()
	v, err, _ := b.group.Do("", func() (any, error) {
		// The computation outlives one request's cancellation: others share it.
		rows, err := b.dataset.Rows(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		cells := Suppressed(rows, b.decl.By, b.decl.Suppress.Below)
		if cells == nil {
			cells = []Cell{}
		}
		b.mu.Lock()
		b.cells, b.at = cells, b.now()
		b.mu.Unlock()
		return cells, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]Cell), nil
}
