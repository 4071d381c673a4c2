// Command kommungraf is the GraphQL federation gateway over the municipality's
// systems. With no arguments it serves the embedded demo on 127.0.0.1:8080.
//
//	kommungraf [serve] [--addr host:port] [--config FILE] [--demo-latency 20ms]
//	kommungraf sim [--navet-addr ...] [--etjanst-addr ...] [--geodata-addr ...]
//	kommungraf policy explain|test|lint ...   (security staff's policy tools)
//	kommungraf access-log --person YYYYMMDDNNNN [--from] [--to]
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kommungraf:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args)
	case "sim":
		return simulate(ctx, args)
	case "access-log":
		return accessLogCommand(ctx, args)
	case "policy":
		return policyCommand(ctx, args, os.Stdout)
	case "help":
		fmt.Println("usage: kommungraf [serve|sim|policy|access-log] [flags]; kommungraf <command> -h lists the flags")
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve, sim, policy or access-log)", cmd)
}
