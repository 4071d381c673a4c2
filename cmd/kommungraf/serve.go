package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/logsample"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/tracing"
)

// serveOptions are serve's flags.
type serveOptions struct {
	addr, file      *string
	latency, jitter *time.Duration
	seed            *uint64
	people          *int
	batchWait       *time.Duration
	noBatch         *bool
	noRateLimits    *bool
}

// serveFlags defines serve's flags; `kommungraf --help` prints them too.
func serveFlags() (*flag.FlagSet, serveOptions) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	o := serveOptions{
		addr:         fs.String("addr", "", "listen address host:port (default 127.0.0.1:8080, or server.addr of the config)"),
		file:         fs.String("config", "", "configuration file; without it Kommungraf serves the embedded demo"),
		latency:      fs.Duration("demo-latency", 0, "demo: latency added to every simulated upstream call"),
		jitter:       fs.Duration("demo-jitter", 0, "demo: random extra latency, 0 to this"),
		seed:         fs.Uint64("seed", 1, "demo: seed of the synthetic data"),
		people:       fs.Int("people", sim.DefaultPeople, "demo: number of synthetic people"),
		batchWait:    fs.Duration("batch-wait", 0, "the dispatcher's safety net: loaders call their upstream after a request made no progress for this long (default 1s, or batching.wait of the config)"),
		noBatch:      fs.Bool("no-batching", false, "turn dataloader batching off (for comparisons only)"),
		noRateLimits: fs.Bool("no-rate-limits", false, "turn the rate limits off, as rateLimit.disabled does (load tests that replay one user's requests)"),
	}
	fs.Usage = usageFunc(fs, "usage: kommungraf [serve] [flags]\n  runs the gateway; without --config the embedded demo (simulators, SQLite, development tokens)")
	return fs, o
}

func serve(ctx context.Context, args []string, std stdio) error {
	fs, o := serveFlags()
	if err := parseFlags(fs, args, std); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("serve: unexpected argument %q (kommungraf help lists the commands)", fs.Arg(0))}
	}
	demo := *o.file == ""
	var cfg *config.Config
	if demo {
		cfg = config.Demo()
	} else {
		c, err := config.Load(*o.file)
		if err != nil {
			return err
		}
		cfg = c
	}
	if *o.addr != "" {
		cfg.Server.Addr = *o.addr
	}
	if *o.noRateLimits {
		cfg.RateLimit.Disabled = true
	}
	if *o.batchWait > 0 {
		cfg.Batching.Wait = *o.batchWait
	}
	log, closeLog := newLogger(cfg.Log)
	defer closeLog()
	slog.SetDefault(log)
	logOverrides(log, cfg)

	start := time.Now()
	gw, err := gateway.New(ctx, cfg, gateway.Options{
		Demo: demo, DemoLatency: *o.latency, DemoJitter: *o.jitter, Seed: *o.seed, People: *o.people,
		DisableBatching: *o.noBatch, Logger: log,
	})
	if err != nil {
		return err
	}
	defer gw.Close()

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	log.Info("kommungraf listening", "url", url, "demo", demo, "startup", time.Since(start).Round(time.Millisecond).String())
	if demo {
		fmt.Fprintf(std.err, "\nKommungraf demo (synthetic data only) is up:\n  GraphiQL  %s/  (?persona=case-officer, ...)\n  GraphQL   %s/graphql\n  upstream call counters  %s/demo/upstream-stats\n", url, url, url)
		printDemoTokens(std.err, gw.DevIssuer(), url)
		printDemoAccessLog(std.err, gw.AccessLogLocation(), gw.DemoAccessLogKey(), url)
	}
	// Serve drains on SIGTERM (ctx): /readyz 503, the listener open for
	// server.drainDelay, then in-flight requests finish; gw.Close (deferred)
	// stops the demo's simulators only after that.
	return gw.Serve(ctx, ln)
}

// logOverrides says at start which settings environment variables decided
// instead of the file, and why.
func logOverrides(log *slog.Logger, cfg *config.Config) {
	for _, o := range cfg.Overrides() {
		log.Info(o.String(), "variable", o.Variable, "overrides", o.Setting)
	}
}

// newLogger is the gateway's logger: repeated lines are sampled (the first
// logsample.DefaultFirst of a kind per logsample.DefaultInterval, then one
// line with the count), so a failing upstream cannot flood the log. close
// reports what is still counted.
func newLogger(c config.Log) (log *slog.Logger, close func()) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(os.Stderr, opts)
	if c.Format == "text" {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	// The HTTP request log ("http request", gateway/http.go) has one line
	// per request by design: it is not sampled. Lines logged with a
	// request's context carry its trace_id and span_id.
	sampled := logsample.New(h, logsample.Options{Unsampled: []string{"http request"}})
	return slog.New(tracing.LogHandler(sampled)), sampled.Close
}

// printDemoTokens prints the development credentials of the demo personas:
// they exist only in this process and are valid only against it.
func printDemoTokens(w io.Writer, dev *authz.DevIssuer, url string) {
	if dev == nil {
		return
	}
	fmt.Fprintf(w, "\nDemo credentials (Authorization: Bearer <credential>; also at %s/demo/token?persona=<id>):\n", url)
	for _, p := range dev.Personas() {
		tok, err := dev.Token(p)
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "  %-17s %s\n", p, tok)
	}
	fmt.Fprintln(w)
}

// printDemoAccessLog tells security staff where the demo's access log is
// and the key that hashes its personnummer, which `kommungraf access-log
// --jsonl` needs; asking the gateway needs neither.
func printDemoAccessLog(w io.Writer, where, key, url string) {
	fmt.Fprintf(w, "Access log (who read whose data; personnummer stored as keyed hashes):\n  %s\n", where)
	if key != "" {
		fmt.Fprintf(w, "  export %s=%s   # generated for this run\n", config.EnvAccessLogKey, key)
	} else {
		fmt.Fprintf(w, "  hashed with the key in %s\n", config.EnvAccessLogKey)
	}
	urlFlag := ""
	if url != defaultURL {
		urlFlag = " --url " + url
	}
	fmt.Fprintf(w, "  kommungraf access-log --person YYYYMMDDNNNC --persona security-officer%s   # asks this gateway\n", urlFlag)
	if !strings.HasPrefix(where, "PostgreSQL") {
		fmt.Fprintf(w, "  kommungraf access-log --person YYYYMMDDNNNC --jsonl %s   # reads the file, needs the key\n", where)
	}
	fmt.Fprintln(w)
}
