package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// probe is the container's health check: the image is FROM scratch, with no
// shell, curl or wget, so docker compose's healthcheck runs the binary
// itself (`kommungraf probe http://127.0.0.1:8080/readyz`). It exits 0 when
// the URL answers 2xx, 1 otherwise; it never follows a redirect.
func probe(ctx context.Context, args []string, std stdio) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.Usage = usageFunc(fs, "usage: kommungraf probe [--timeout 3s] URL\n  exits 0 when GET URL answers 2xx, 1 otherwise: the health check of the FROM scratch image, which has no curl")
	if err := parseFlags(fs, args, std); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("probe: want exactly one URL")}
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("probe: %q is not an http(s) URL", fs.Arg(0))}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("probe: %s answered %s", u.Redacted(), resp.Status)
	}
	fmt.Fprintf(std.out, "%s: %s\n", u.Redacted(), resp.Status)
	return nil
}
