// Package logsample is a slog.Handler that samples repeated log lines: per
// interval, the first lines of each kind pass, the rest are counted, and
// one line per kind reports how many were suppressed. A failing upstream or
// database then costs a few lines a second, not one per request (one
// overloaded minute wrote 173,929 warnings before), and an operator still
// sees every kind of line and how often it happened.
//
// Lines are of one kind when they have the same level, message, attributes
// bound with Logger.With, and values of the key attributes (Options.Keys):
// "source", "operation", ... tell the failures of two systems apart, while a
// request id or a duration does not make a line new.
package logsample

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultFirst    = 10
	DefaultInterval = 10 * time.Second
)

// DefaultKeys are the attributes that tell lines of one message apart.
var DefaultKeys = []string{"source", "system", "operation", "op", "kind", "code", "component", "reason", "status"}

// Options configure a Handler.
type Options struct {
	// First is how many lines of a kind pass per interval (default
	// DefaultFirst).
	First int
	// Interval is the sampling window and how often suppressed counts are
	// reported (default DefaultInterval).
	Interval time.Duration
	// Keys are the record attributes whose values tell kinds apart
	// (default DefaultKeys).
	Keys []string
	// Unsampled are messages that always pass: a log whose lines are all
	// meant to be there (one line per HTTP request) is not a flood.
	Unsampled []string
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
}

// Handler samples the lines it passes to the next handler. Close it to stop
// its reporter and report what is still counted.
type Handler struct {
	next  slog.Handler
	s     *state
	bound string // fingerprint of With attributes and groups
}

type state struct {
	first    int
	interval time.Duration
	keys     map[string]bool
	pass     map[string]bool
	now      func() time.Time

	mu     sync.Mutex
	start  time.Time
	counts map[string]*kind

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// kind is one kind of line in the current window.
type kind struct {
	passed, suppressed int
	level              slog.Level
	msg                string
	attrs              []slog.Attr  // its key attributes
	next               slog.Handler // reports go where its lines go
}

// New wraps next. It starts a goroutine that reports suppressed lines every
// interval, until Close.
func New(next slog.Handler, opts Options) *Handler {
	if opts.First <= 0 {
		opts.First = DefaultFirst
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Keys == nil {
		opts.Keys = DefaultKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &state{
		first: opts.First, interval: opts.Interval, now: opts.Now,
		keys: make(map[string]bool), pass: make(map[string]bool), counts: make(map[string]*kind),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for _, k := range opts.Keys {
		s.keys[k] = true
	}
	for _, m := range opts.Unsampled {
		s.pass[m] = true
	}
	s.start = s.now()
	h := &Handler{next: next, s: s}
	go func() {
		defer close(s.done)
		t := time.NewTicker(opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				h.Flush()
			}
		}
	}()
	return h
}

// Enabled reports whether the next handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes the record on, unless its kind already had Options.First
// lines in this interval; then it only counts it.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if h.s.pass[r.Message] {
		return h.next.Handle(ctx, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d\x00%s\x00%s", r.Level, r.Message, h.bound)
	var attrs []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		if h.s.keys[a.Key] {
			fmt.Fprintf(&b, "\x00%s=%s", a.Key, a.Value.Resolve().String())
			attrs = append(attrs, a)
		}
		return true
	})
	key := b.String()
	s := h.s
	s.mu.Lock()
	reports := s.roll(false)
	k := s.counts[key]
	if k == nil {
		k = &kind{level: r.Level, msg: r.Message, attrs: attrs, next: h.next}
		s.counts[key] = k
	}
	pass := k.passed < s.first
	if pass {
		k.passed++
	} else {
		k.suppressed++
	}
	s.mu.Unlock()
	report(ctx, reports)
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// roll starts a new window when the current one is over (or when forced)
// and returns the reports of the old one. s.mu is held.
func (s *state) roll(force bool) []*kind {
	now := s.now()
	if !force && now.Sub(s.start) < s.interval {
		return nil
	}
	var reports []*kind
	for _, k := range s.counts {
		if k.suppressed > 0 {
			reports = append(reports, k)
		}
	}
	clear(s.counts)
	s.start = now
	slices.SortFunc(reports, func(a, b *kind) int { return strings.Compare(a.msg, b.msg) })
	return reports
}

func report(ctx context.Context, reports []*kind) {
	for _, k := range reports {
		r := slog.NewRecord(time.Now(), k.level, "repeated log lines suppressed", 0)
		r.AddAttrs(slog.String("message", k.msg), slog.Int("suppressed", k.suppressed), slog.Int("passed", k.passed))
		r.AddAttrs(k.attrs...)
		_ = k.next.Handle(ctx, r)
	}
}

// Flush reports the lines suppressed so far and starts a new window.
func (h *Handler) Flush() {
	h.s.mu.Lock()
	reports := h.s.roll(true)
	h.s.mu.Unlock()
	report(context.Background(), reports)
}

// Close stops the reporter and reports what is still counted.
func (h *Handler) Close() {
	h.s.closeOnce.Do(func() {
		close(h.s.stop)
		<-h.s.done
		h.Flush()
	})
}

// WithAttrs returns a Handler whose lines carry attrs; it shares the
// counts and the reporter.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.bound)
	for _, a := range attrs {
		fmt.Fprintf(&b, "\x00%s=%s", a.Key, a.Value.Resolve().String())
	}
	return &Handler{next: h.next.WithAttrs(attrs), s: h.s, bound: b.String()}
}

// WithGroup returns a Handler that puts later attributes in the group.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), s: h.s, bound: h.bound + "\x00group=" + name}
}

var _ slog.Handler = (*Handler)(nil)
