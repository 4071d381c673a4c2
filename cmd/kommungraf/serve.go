package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/sim"
)

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "", "listen address host:port (default 127.0.0.1:8080, or server.addr of the config)")
	file := fs.String("config", "", "configuration file; without it Kommungraf serves the embedded demo")
	latency := fs.Duration("demo-latency", 0, "demo: latency added to every simulated upstream call")
	jitter := fs.Duration("demo-jitter", 0, "demo: random extra latency, 0 to this")
	seed := fs.Uint64("seed", 1, "demo: seed of the synthetic data")
	people := fs.Int("people", sim.DefaultPeople, "demo: number of synthetic people")
	batchWait := fs.Duration("batch-wait", 0, "how long loaders collect keys before calling an upstream (default 2ms, or batching.wait of the config)")
	noBatch := fs.Bool("no-batching", false, "turn dataloader batching off (for comparisons only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	demo := *file == ""
	var cfg *config.Config
	if demo {
		cfg = config.Demo()
	} else {
		c, err := config.Load(*file)
		if err != nil {
			return err
		}
		cfg = c
	}
	if *addr != "" {
		cfg.Server.Addr = *addr
	}
	if *batchWait > 0 {
		cfg.Batching.Wait = *batchWait
	}
	log := newLogger(cfg.Log)
	slog.SetDefault(log)

	start := time.Now()
	gw, err := gateway.New(ctx, cfg, gateway.Options{
		Demo: demo, DemoLatency: *latency, DemoJitter: *jitter, Seed: *seed, People: *people,
		DisableBatching: *noBatch, Logger: log,
	})
	if err != nil {
		return err
	}
	defer gw.Close()

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           gw.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.Server.RequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	url := "http://" + ln.Addr().String()
	log.Info("kommungraf listening", "url", url, "demo", demo, "startup", time.Since(start).Round(time.Millisecond).String())
	if demo {
		fmt.Fprintf(os.Stderr, "\nKommungraf demo (synthetic data only) is up:\n  GraphiQL  %s/  (?persona=case-officer, ...)\n  GraphQL   %s/graphql\n  upstream call counters  %s/demo/upstream-stats\n", url, url, url)
		printDemoTokens(gw.DevIssuer(), url)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// printDemoTokens prints the development credentials of the demo personas:
// they exist only in this process and are valid only against it.
func printDemoTokens(dev *authz.DevIssuer, url string) {
	if dev == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "\nDemo credentials (Authorization: Bearer <credential>; also at %s/demo/token?persona=<id>):\n", url)
	for _, p := range dev.Personas() {
		tok, err := dev.Token(p)
		if err != nil {
			continue
		}
		fmt.Fprintf(os.Stderr, "  %-17s %s\n", p, tok)
	}
	fmt.Fprintln(os.Stderr)
}
