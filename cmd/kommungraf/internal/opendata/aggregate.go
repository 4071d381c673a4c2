package opendata

import (
	"cmp"
	"context"
	"fmt"
	"maps"
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
	// Rows reads every row as of the reference date asOf (the rows of
	// before it, or in force on it): each the dimension values, never an
	// identity. A row registered later must not change the result, so
	// that two versions of an aggregate never differ by what just
	// happened to one person.
	Rows func(ctx context.Context, asOf time.Time) ([]Row, error)
	// Scope (optional) names what else Rows depends on, such as the
	// policy's case types: when it changes the rows are counted again,
	// before the reference date moves.
	Scope func() string
}

// ReferenceDate is the date an aggregate counts as of: the start of the
// current month (UTC). A published table changes once a month, by a
// month's worth of rows, not by each errand or placement as it happens.
func ReferenceDate(now time.Time) time.Time {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
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
	// key is the reference date and scope cells were counted for.
	key string
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
//
// Small cells are dropped (primary suppression), and then as many more as
// it takes (complementary suppression, smallest first) until every line of
// the table, the cells that share all values but one dimension's, and the
// table itself, hides either nothing or at least threshold rows: a line's
// total may be published elsewhere (children per school unit, errands per
// month), and that total less the line's shown cells must not be a small
// count.
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
	keys := slices.Sorted(maps.Keys(counts))
	hidden := map[string]bool{}
	for _, k := range keys {
		hidden[k] = counts[k] < threshold
	}
	for changed := true; changed; {
		changed = false
		for i := range by {
			lines := map[string][]string{}
			for _, k := range keys {
				parts := strings.Split(k, "\x00")
				line := strings.Join(slices.Delete(parts, i, i+1), "\x00")
				lines[line] = append(lines[line], k)
			}
			for _, line := range slices.Sorted(maps.Keys(lines)) {
				changed = hideUpTo(lines[line], counts, hidden, threshold) || changed
			}
		}
	}
	var out []Cell
	for _, k := range keys {
		if !hidden[k] {
			out = append(out, Cell{Values: values[k], Count: counts[k]})
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

// hideUpTo hides a line's smallest shown cells (keys in order) while it
// hides more than nothing and less than threshold rows; it reports
// whether it hid one.
func hideUpTo(line []string, counts map[string]int, hidden map[string]bool, threshold int) bool {
	sum := 0
	for _, k := range line {
		if hidden[k] {
			sum += counts[k]
		}
	}
	changed := false
	for sum > 0 && sum < threshold {
		pick := ""
		for _, k := range line {
			if !hidden[k] && (pick == "" || counts[k] < counts[pick]) {
				pick = k
			}
		}
		if pick == "" {
			return changed // the whole line is hidden
		}
		hidden[pick] = true
		sum += counts[pick]
		changed = true
	}
	return changed
}

// compute returns the aggregate's published cells as of the current
// reference date, counted once and kept until the reference date (or the
// dataset's scope) changes: recounting within a period could only reveal
// rows registered late. Concurrent requests share one computation.
func (b *boundAggregate) compute(ctx context.Context) ([]Cell, error) {
	asOf := ReferenceDate(b.now())
	key := asOf.Format(time.DateOnly)
	if b.dataset.Scope != nil {
		key += "\x00" + b.dataset.Scope()
	}
	b.mu.Lock()
	if b.cells != nil && b.key == key {
		cells := b.cells
		b.mu.Unlock()
		return cells, nil
	}
	b.mu.Unlock()
	v, err, _ := b.group.Do(key, func() (any, error) {
		// The computation outlives one request's cancellation: others share it.
		rows, err := b.dataset.Rows(context.WithoutCancel(ctx), asOf)
		if err != nil {
			return nil, err
		}
		cells := Suppressed(rows, b.decl.By, b.decl.Suppress.Below)
		if cells == nil {
			cells = []Cell{}
		}
		b.mu.Lock()
		b.cells, b.key = cells, key
		b.mu.Unlock()
		return cells, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]Cell), nil
}
