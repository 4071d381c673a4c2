package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve serves the gateway on ln until ctx ends (SIGTERM), then drains:
//
//  1. /readyz answers 503 at once, so the load balancer stops sending;
//  2. for server.drainDelay the listener stays open and every request is
//     still served, each response with Connection: close, so keep-alive
//     clients reconnect (to another replica) at a moment the server chose
//     instead of finding their idle connection closed under them;
//  3. the listener closes and the requests in flight get
//     server.shutdownTimeout to finish (http.Server.Shutdown); those still
//     running then are cut.
//
// Serve returns when the drain is complete; the caller then closes the
// gateway (Close), which stops the demo's simulators only after that.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	s := g.cfg.Server
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 5 * time.Second,
		// Bodies are read within the request's deadline (requestDeadline
		// sets the read deadline); this is the bound for the rest.
		ReadTimeout: s.WriteTimeout,
		// Longer than requestTimeout + the admission queue's wait
		// (config.WriteTimeoutMargin): the request's own deadline answers
		// REQUEST_TIMEOUT first, the write timeout never cuts an answer.
		WriteTimeout: s.WriteTimeout,
		IdleTimeout:  2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	delay := *s.DrainDelay
	g.readiness.drain()
	g.draining.Store(true)
	g.log.Info("draining: /readyz answers 503; serving until the listener closes",
		"drain_delay", delay.String(), "shutdown_timeout", s.ShutdownTimeout.String(),
		"graphql_in_flight", g.admission.Stats().InFlight)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return err
		}
	}
	g.log.Info("draining: listener closed; waiting for the requests in flight",
		"graphql_in_flight", g.admission.Stats().InFlight, "graphql_queued", g.admission.Stats().Queued)
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still running after server.shutdownTimeout %s were cut: %w", s.ShutdownTimeout, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	g.log.Info("drained")
	return nil
}

// closeWhileDraining asks every client to close its connection after the
// response while the replica drains.
func (g *Gateway) closeWhileDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
