package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configures Start.
type Options struct {
	// Seed and People select the synthetic world when World is nil.
	Seed   uint64
	People int
	// World is a pre-built world to serve (optional).
	World *World
	// Latency and Jitter are the initial latency of all four systems; each
	// can be changed later through its Faults or its /__faults endpoint.
	Latency, Jitter time.Duration
	// Stats counts the calls of all four systems (created if nil).
	Stats *Stats
	// NavetAddr, ETjanstAddr, GeodataAddr and AvfallAddr are the listen
	// addresses ("" means 127.0.0.1 on a free port).
	NavetAddr, ETjanstAddr, GeodataAddr, AvfallAddr string
}

// Running is the set of started simulators.
type Running struct {
	World *World
	Stats *Stats
	// NavetURL, ETjanstURL, GeodataURL and AvfallURL are the base URLs,
	// e.g. "http://127.0.0.1:41234".
	NavetURL, ETjanstURL, GeodataURL, AvfallURL string
	// NavetFaults, ETjanstFaults, GeodataFaults and AvfallFaults change each
	// system's behaviour while it runs.
	NavetFaults, ETjanstFaults, GeodataFaults, AvfallFaults *Faults

	servers   []*http.Server
	cancel    context.CancelFunc // cancels the requests still held by fault waits
	stopWatch func() bool
	closeOnce sync.Once
	closeErr  error
}

// URL returns the base URL of a simulated system by its source name
// (folkbokforing, etjanst, geodata, avfall, tomningar), or "" for a system the
// simulators do not have: the gateway points a declared system at its
// simulator by name.
func (r *Running) URL(system string) string {
	switch system {
	case "folkbokforing":
		return r.NavetURL
	case "etjanst":
		return r.ETjanstURL
	case "geodata":
		return r.GeodataURL
	case "avfall", "tomningar":
		// The emptyings register (tomningar) is an API of the
		// waste-collection system, served by its simulator.
		return r.AvfallURL
	}
	return ""
}

// Shutdown timing: how long Close lets requests in flight finish before it
// cuts them off.
const shutdownGrace = 3 * time.Second

// Start serves the population registry, the e-service platform, the
// property register and the waste-collection system over HTTP, each on its
// own server with its own Faults, all counting into one Stats. Every server
// also answers /__stats (the shared Stats) and /__faults (its own Faults). The servers stop when ctx is
// done or Close is called. The school database is not started here.
func Start(ctx context.Context, opts Options) (*Running, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sim: start: %w", err)
	}
	w := opts.World
	if w == nil {
		w = NewWorld(WorldOptions{Seed: opts.Seed, People: opts.People})
	}
	stats := opts.Stats
	if stats == nil {
		stats = NewStats()
	}
	run := &Running{
		World: w, Stats: stats,
		NavetFaults: NewFaults(), ETjanstFaults: NewFaults(), GeodataFaults: NewFaults(), AvfallFaults: NewFaults(),
	}
	for _, f := range []*Faults{run.NavetFaults, run.ETjanstFaults, run.GeodataFaults, run.AvfallFaults} {
		f.Set(FaultConfig{Latency: opts.Latency, Jitter: opts.Jitter})
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	run.cancel = cancel

	systems := []struct {
		name, addr string
		url        *string
		faults     *Faults
		handler    http.Handler
	}{
		{"folkbokforing", opts.NavetAddr, &run.NavetURL, run.NavetFaults,
			NewNavet(w, NavetOptions{Stats: stats, Faults: run.NavetFaults})},
		{"etjanst", opts.ETjanstAddr, &run.ETjanstURL, run.ETjanstFaults,
			NewETjanst(w, ETjanstOptions{Stats: stats, Faults: run.ETjanstFaults})},
		{"geodata", opts.GeodataAddr, &run.GeodataURL, run.GeodataFaults,
			NewGeodata(w, GeodataOptions{Stats: stats, Faults: run.GeodataFaults})},
		{"avfall", opts.AvfallAddr, &run.AvfallURL, run.AvfallFaults,
			NewAvfall(w, AvfallOptions{Stats: stats, Faults: run.AvfallFaults})},
	}
	var listeners []net.Listener
	for _, s := range systems {
		addr := s.addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			cancel()
			return nil, fmt.Errorf("sim: start %s: listen on %s: %w", s.name, addr, err)
		}
		listeners = append(listeners, ln)
		*s.url = "http://" + ln.Addr().String()
	}
	for i, s := range systems {
		mux := http.NewServeMux()
		mux.Handle("/__stats", stats)
		mux.Handle("/__faults", s.faults)
		mux.Handle("/", s.handler)
		srv := &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return base },
		}
		run.servers = append(run.servers, srv)
		go func(ln net.Listener) {
			// Serve returns ErrServerClosed after Close; there is nobody to
			// tell about any other error but the clients, who see it.
			_ = srv.Serve(ln)
		}(listeners[i])
	}
	run.stopWatch = context.AfterFunc(ctx, func() { _ = run.Close() })
	return run, nil
}

// Close shuts the servers down: requests in flight get a few seconds
// to finish, then their connections are closed. It is safe to call twice.
func (r *Running) Close() error {
	r.closeOnce.Do(func() {
		if r.stopWatch != nil {
			r.stopWatch()
		}
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, len(r.servers))
		for i, srv := range r.servers {
			wg.Go(func() {
				if err := srv.Shutdown(ctx); err != nil {
					// A request held by an injected timeout or latency would
					// keep the server up: release it and close what is left.
					r.cancel()
					errs[i] = errors.Join(fmt.Errorf("sim: shutdown: %w", err), srv.Close())
				}
			})
		}
		wg.Wait()
		r.cancel()
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}
