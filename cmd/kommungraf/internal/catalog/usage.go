package catalog

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultFlushInterval is how often the counts gathered in memory are
// added to the store.
const DefaultFlushInterval = 10 * time.Second

// UsageOptions configure Usage.
type UsageOptions struct {
	// Store keeps the counts (required).
	Store Store
	// Attribution says which system and resource serve a field.
	Attribution *Attribution
	// Upstream returns the upstream calls since the process started, per
	// system: all, and those that answered (the metrics'
	// kommungraf_upstream_calls_total). Each flush adds what was counted
	// since the last. Nil counts none.
	Upstream func() map[string]Calls
	// FlushInterval is how often to write (default DefaultFlushInterval).
	FlushInterval time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Calls are an upstream system's calls, and those that answered.
type Calls struct{ Total, OK int64 }

// Usage gathers, in memory, what client applications read (Served: an
// addition to a map under a lock, on the response path) and adds it to
// the store every FlushInterval and on Close, off the request path. When
// the store fails, the counts wait for the next flush.
type Usage struct {
	opts    UsageOptions
	mu      sync.Mutex
	pending map[Count]int64 // N zero: the key
	last    map[string]Calls
	flushMu sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	closed  sync.Once
}

// NewUsage starts the flusher.
func NewUsage(opts UsageOptions) *Usage {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	u := &Usage{opts: opts, pending: map[Count]int64{}, last: map[string]Calls{}, stop: make(chan struct{}), done: make(chan struct{})}
	go u.run()
	return u
}

func (u *Usage) run() {
	defer close(u.done)
	t := time.NewTicker(u.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), u.opts.FlushInterval)
			if err := u.Flush(ctx); err != nil {
				u.opts.Logger.Warn("catalog: usage counts not written; they are kept for the next try", "error", err.Error())
			}
			cancel()
		}
	}
}

// Served counts one operation of client that was served fields: one
// request, one read of each system and resource the fields come from, one
// read of each field. It implements authz.UsageRecorder.
func (u *Usage) Served(client string, fields []string) {
	if u == nil {
		return
	}
	day := Day(u.opts.Now())
	items := make(map[string]struct{}, 2*len(fields)+1)
	items[ItemRequests] = struct{}{}
	for _, f := range fields {
		items[ItemField+f] = struct{}{}
		if sys, res := u.opts.Attribution.Of(f); sys != "" {
			items[ItemSource+sys] = struct{}{}
			if res != "" {
				items[ItemResource+sys+"."+res] = struct{}{}
			}
		}
	}
	u.mu.Lock()
	for it := range items {
		u.pending[Count{Day: day, Client: client, Item: it}]++
	}
	u.mu.Unlock()
}

// Flush adds what was gathered to the store now.
func (u *Usage) Flush(ctx context.Context) error {
	u.flushMu.Lock()
	defer u.flushMu.Unlock()
	day := Day(u.opts.Now())
	var calls map[string]Calls
	if u.opts.Upstream != nil {
		calls = u.opts.Upstream()
	}
	u.mu.Lock()
	batch := make([]Count, 0, len(u.pending)+2*len(calls))
	for k, n := range u.pending {
		k.N = n
		batch = append(batch, k)
	}
	clear(u.pending)
	u.mu.Unlock()
	for sys, c := range calls {
		prev := u.last[sys]
		if d := c.Total - prev.Total; d > 0 {
			batch = append(batch, Count{Day: day, Item: ItemCalls + sys, N: d})
		}
		if d := c.OK - prev.OK; d > 0 {
			batch = append(batch, Count{Day: day, Item: ItemOK + sys, N: d})
		}
	}
	if len(batch) == 0 {
		return nil
	}
	// One order for every writer: two instances adding the same rows in
	// one PostgreSQL cannot deadlock.
	slices.SortFunc(batch, func(a, b Count) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Client, b.Client), strings.Compare(a.Item, b.Item))
	})
	if err := u.opts.Store.Add(ctx, batch); err != nil {
		u.mu.Lock()
		for _, c := range batch {
			if strings.HasPrefix(c.Item, ItemCalls) || strings.HasPrefix(c.Item, ItemOK) {
				continue // the calls' deltas are taken again from the metrics
			}
			n := c.N
			c.N = 0
			u.pending[c] += n
		}
		u.mu.Unlock()
		return err
	}
	for sys, c := range calls {
		u.last[sys] = c
	}
	return nil
}

// Counts flushes and returns the counts from day on.
// Each step has its own bound, so a hung store answers the page with an
// error in seconds and never holds the flusher's lock for longer.
func (u *Usage) Counts(ctx context.Context, day string) ([]Count, error) {
	fctx, cancel := context.WithTimeout(ctx, countsTimeout)
	err := u.Flush(fctx)
	cancel()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, countsTimeout)
	defer cancel()
	return u.opts.Store.Since(sctx, day)
}

// countsTimeout bounds each of Counts' two steps.
const countsTimeout = 5 * time.Second

// Close stops the flusher, writes what is pending and closes the store.
func (u *Usage) Close() error {
	var err error
	u.closed.Do(func() {
		close(u.stop)
		<-u.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = u.Flush(ctx)
		if cerr := u.opts.Store.Close(); err == nil {
			err = cerr
		}
	})
	return err
}
