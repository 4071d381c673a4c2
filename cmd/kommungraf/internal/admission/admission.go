// Package admission bounds the work one gateway replica takes on: at most
// MaxInFlight requests run at once, at most MaxQueue wait for a slot, none
// waits longer than MaxQueueWait, and the rest are refused at once so the
// client can go elsewhere or come back (503 with Retry-After).
//
// The queue is fair between clients: each client (a client application, or
// an address for anonymous callers) has its own FIFO, and a freed slot goes
// to the next client in turn, not to the oldest request overall. A client
// that floods the gateway therefore waits behind itself; another client's
// request waits for about one slot's worth of work. When the queue is full,
// a newcomer with fewer waiting requests than the busiest client takes that
// client's newest place (which is refused), so a flood cannot keep the queue
// to itself either.
package admission

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a request is refused, as the refusal metric's reason label says.
const (
	// ReasonQueueFull: every slot busy, the queue full, and the client
	// already holds at least as many places as any other.
	ReasonQueueFull = "queue_full"
	// ReasonDisplaced: the request was waiting, and a client with fewer
	// waiting requests took its place.
	ReasonDisplaced = "displaced"
	// ReasonQueueTimeout: no slot freed within MaxQueueWait.
	ReasonQueueTimeout = "queue_timeout"
	// ReasonCanceled: the request's context ended while it waited (the
	// client went away, or its deadline passed).
	ReasonCanceled = "canceled"
)

// ErrRefused is returned by Acquire for a request that was not admitted;
// errors.As with *Refusal gives the reason.
var ErrRefused = errors.New("admission: overloaded")

// Refusal says why a request was not admitted.
type Refusal struct {
	// Reason is one of the Reason constants.
	Reason string
	// Waited is how long the request waited in the queue.
	Waited time.Duration
}

func (r *Refusal) Error() string { return "admission: overloaded (" + r.Reason + ")" }
func (r *Refusal) Unwrap() error { return ErrRefused }

// Options configure a Controller.
type Options struct {
	// MaxInFlight is how many requests run at once (at least 1).
	MaxInFlight int
	// MaxQueue is how many requests may wait for a slot (0: none wait).
	MaxQueue int
	// MaxQueueWait is the longest a request waits (at least 1ms).
	MaxQueueWait time.Duration
	// Registerer receives the admission metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Controller admits requests. Its zero value is not usable; use New.
type Controller struct {
	opts Options
	m    *metrics

	mu       sync.Mutex
	inFlight int
	queued   int
	clients  map[string]*client // clients with waiting requests
	turn     []*client          // the same clients, in the order slots go round
	next     int                // index into turn of the client served next
}

type client struct {
	key     string
	waiting []*waiter // oldest first
}

type waiter struct {
	c     *client
	ready chan struct{} // closed when admitted or displaced
	// admitted is true when ready was closed for a slot, false when the
	// waiter was displaced. Written under Controller.mu before ready closes.
	admitted bool
}

// New returns a controller with opts.
func New(opts Options) *Controller {
	opts.MaxInFlight = max(opts.MaxInFlight, 1)
	opts.MaxQueue = max(opts.MaxQueue, 0)
	opts.MaxQueueWait = max(opts.MaxQueueWait, time.Millisecond)
	return &Controller{opts: opts, m: newMetrics(opts), clients: map[string]*client{}}
}

// Acquire admits a request of the client key, waiting in its queue if every
// slot is busy. On success the caller must call release exactly once when
// the request is done. Otherwise the error is a *Refusal (ErrRefused).
func (c *Controller) Acquire(ctx context.Context, key string) (release func(), err error) {
	c.mu.Lock()
	if c.inFlight < c.opts.MaxInFlight && c.queued == 0 {
		c.inFlight++
		c.gauges()
		c.mu.Unlock()
		c.m.admitted(false, 0)
		return c.release, nil
	}
	w, displaced := c.enqueue(key)
	c.gauges()
	c.mu.Unlock()
	if displaced != nil {
		close(displaced.ready) // refused: displaced.admitted stays false
	}
	if w == nil {
		c.m.refused(ReasonQueueFull, 0)
		return nil, &Refusal{Reason: ReasonQueueFull}
	}

	start := time.Now()
	timer := time.NewTimer(c.opts.MaxQueueWait)
	defer timer.Stop()
	reason := ""
	select {
	case <-w.ready:
	case <-timer.C:
		reason = ReasonQueueTimeout
	case <-ctx.Done():
		reason = ReasonCanceled
	}
	waited := time.Since(start)
	if reason != "" {
		c.mu.Lock()
		if c.remove(w) {
			c.gauges()
			c.mu.Unlock()
			c.m.refused(reason, waited)
			return nil, &Refusal{Reason: reason, Waited: waited}
		}
		c.mu.Unlock()
		// It was admitted or displaced just as it gave up: ready is closed.
	}
	if !w.admitted {
		c.m.refused(ReasonDisplaced, waited)
		return nil, &Refusal{Reason: ReasonDisplaced, Waited: waited}
	}
	c.m.admitted(true, waited)
	return c.release, nil
}

// enqueue puts a waiter for key in its client's queue; it returns nil when
// the queue is full and key may not take another client's place, and the
// waiter it displaced, if any. c.mu is held.
func (c *Controller) enqueue(key string) (w, displaced *waiter) {
	cl := c.clients[key]
	mine := 0
	if cl != nil {
		mine = len(cl.waiting)
	}
	if c.queued >= c.opts.MaxQueue {
		// Full: take the newest place of the client with the most waiting,
		// if it has more than this client would have.
		var busiest *client
		for _, o := range c.turn {
			if busiest == nil || len(o.waiting) > len(busiest.waiting) {
				busiest = o
			}
		}
		if busiest == nil || len(busiest.waiting) <= mine+1 {
			return nil, nil
		}
		displaced = busiest.waiting[len(busiest.waiting)-1]
		c.remove(displaced)
	}
	if cl = c.clients[key]; cl == nil {
		cl = &client{key: key}
		c.clients[key] = cl
		c.turn = append(c.turn, cl)
	}
	w = &waiter{c: cl, ready: make(chan struct{})}
	cl.waiting = append(cl.waiting, w)
	c.queued++
	return w, displaced
}

// remove takes w out of its client's queue; false if it is no longer
// there (admitted or displaced already). c.mu is held.
func (c *Controller) remove(w *waiter) bool {
	cl := w.c
	for i, o := range cl.waiting {
		if o == w {
			cl.waiting = append(cl.waiting[:i], cl.waiting[i+1:]...)
			c.queued--
			if len(cl.waiting) == 0 {
				c.dropClient(cl)
			}
			return true
		}
	}
	return false
}

// dropClient forgets a client without waiting requests. c.mu is held.
func (c *Controller) dropClient(cl *client) {
	delete(c.clients, cl.key)
	for i, o := range c.turn {
		if o == cl {
			c.turn = append(c.turn[:i], c.turn[i+1:]...)
			if i < c.next {
				c.next--
			}
			break
		}
	}
	if c.next >= len(c.turn) {
		c.next = 0
	}
}

// release frees a slot and hands it to the next client in turn.
func (c *Controller) release() {
	c.mu.Lock()
	c.inFlight--
	var w *waiter
	if len(c.turn) > 0 {
		cl := c.turn[c.next]
		w = cl.waiting[0]
		cl.waiting = cl.waiting[1:]
		c.queued--
		c.inFlight++
		w.admitted = true
		if len(cl.waiting) == 0 {
			c.dropClient(cl) // the next client moves into this index
		} else {
			c.next = (c.next + 1) % len(c.turn)
		}
	}
	c.gauges()
	c.mu.Unlock()
	if w != nil {
		close(w.ready)
	}
}

// Stats are the controller's counts right now.
type Stats struct {
	InFlight, Queued, Clients int
}

// Stats returns the requests in flight and waiting, and the clients waiting.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{InFlight: c.inFlight, Queued: c.queued, Clients: len(c.turn)}
}

// gauges updates the in-flight and queue gauges. c.mu is held.
func (c *Controller) gauges() {
	if c.m != nil {
		c.m.inFlight.Set(float64(c.inFlight))
		c.m.queued.Set(float64(c.queued))
	}
}
