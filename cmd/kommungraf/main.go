// Command kommungraf is the GraphQL federation gateway over the municipality's
// systems. With no arguments it serves the embedded demo on 127.0.0.1:8080.
//
//	kommungraf [serve] [--addr host:port] [--config FILE] [--demo-latency 20ms]
//	kommungraf sim [--navet-addr ...] [--etjanst-addr ...] [--geodata-addr ...]
//	kommungraf policy explain|test|lint|show|propose|... (security staff's policy tools)
//	kommungraf access-log --person YYYYMMDDNNNN [--from] [--to]
//	kommungraf probe URL (the container's health check)
//	kommungraf help [command]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the CLI prints Swedish time on machines without /usr/share/zoneinfo
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "kommungraf:", err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}

// stdio are the streams a command reads and writes, so tests can run it.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// usageError is a command line that names no command or a flag that does
// not exist: the process exits 2, as flag.ExitOnError would.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// commands are kommungraf's subcommands, with their one-line summaries, in
// the order help lists them.
var commands = []struct{ name, summary string }{
	{"serve", "run the gateway (the default command; without --config the embedded demo)"},
	{"sim", "run the simulated upstream systems alone, for a gateway started with --config"},
	{"policy", "explain, test and lint the access policy; show, dry-run, propose, approve, ... against a running gateway"},
	{"access-log", "who read a person's data: asks a running gateway, or reads the log (--jsonl, --database-url)"},
	{"operations", "trusted (persisted) operations: push FILE.graphql... and list, against a running gateway"},
	{"probe", "exit 0 when a URL answers 2xx: the container's health check (the image has no curl)"},
	{"help", "this text; help <command> prints a command's flags"},
}

func run(ctx context.Context, args []string, std stdio) error {
	cmd := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help":
			return mainUsage(std.out)
		case a != "" && a[0] != '-':
			cmd, args = a, args[1:]
		}
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, std)
	case "sim":
		err = simulate(ctx, args, std)
	case "access-log":
		err = accessLogCommand(ctx, args, std)
	case "policy":
		err = policyCommand(ctx, args, std)
	case "operations":
		err = operationsCommand(ctx, args, std)
	case "probe":
		err = probe(ctx, args, std)
	case "help":
		if len(args) == 0 {
			return mainUsage(std.out)
		}
		if args[0] == "help" {
			return mainUsage(std.out)
		}
		return run(ctx, []string{args[0], "--help"}, std)
	default:
		return usageError{fmt.Errorf("unknown command %q\n%s", cmd, commandList())}
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil // the usage went to stdout
	}
	return err
}

// commandList lists the subcommands, one line each.
func commandList() string {
	var b bytes.Buffer
	b.WriteString("commands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.summary)
	}
	return b.String()
}

// mainUsage is `kommungraf --help`: the commands and the flags of serve,
// the default command.
func mainUsage(w io.Writer) error {
	fmt.Fprintf(w, "usage: kommungraf [command] [flags]\n\n%s\n", commandList())
	fmt.Fprintln(w, "kommungraf <command> --help lists a command's flags. Without a command kommungraf serves; its flags:")
	fs, _ := serveFlags()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nCommands that talk to a running gateway use --url (default $KOMMUNGRAF_URL or "+defaultURL+").")
	return nil
}

// parseFlags parses args into fs. --help prints the usage to stdout and
// returns flag.ErrHelp, which run turns into success; a bad flag prints the
// usage to stderr and becomes a usageError.
func parseFlags(fs *flag.FlagSet, args []string, std stdio) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = buf.WriteTo(std.out)
		return flag.ErrHelp
	case err != nil:
		_, _ = buf.WriteTo(std.err)
		return usageError{err}
	}
	fs.SetOutput(std.err)
	return nil
}

// usageFunc prints head and then the flag set's defaults, for fs.Usage.
func usageFunc(fs *flag.FlagSet, head string) func() {
	return func() {
		fmt.Fprintln(fs.Output(), head)
		fmt.Fprintln(fs.Output(), "flags:")
		fs.PrintDefaults()
	}
}
