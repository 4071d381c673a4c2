package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/model"
)

// accessLogCommand answers "who read this person's data in this period" from
// the GDPR access log, for security staff:
//
//	kommungraf access-log --person YYYYMMDDNNNC [--from 2026-01-01] [--to 2026-12-31]
//	    [--subject s] [--client c] (--jsonl FILE | --database-url postgres://...)
//	    [--hash-key-env KOMMUNGRAF_ACCESS_LOG_KEY] [--json]
func accessLogCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("access-log", flag.ContinueOnError)
	person := fs.String("person", "", "personnummer whose reads to list, YYYYMMDDNNNC or YYYYMMDD-NNNC (required)")
	from := fs.String("from", "", "first day (YYYY-MM-DD, Swedish time) or instant (RFC 3339) to include")
	to := fs.String("to", "", "last day to include (YYYY-MM-DD, Swedish time), or the instant (RFC 3339) to stop before")
	subject := fs.String("subject", "", "only entries of this subject")
	client := fs.String("client", "", "only entries of this client application")
	jsonl := fs.String("jsonl", "", "the access log is this JSON lines file")
	dbURL := fs.String("database-url", "", "the access log is in this PostgreSQL database")
	schema := fs.String("database-schema", "", "PostgreSQL schema of the access_log table (default: the URL's search_path)")
	keyEnv := fs.String("hash-key-env", "KOMMUNGRAF_ACCESS_LOG_KEY", "environment variable holding the gateway's access log hash key (base64 of at least 32 bytes)")
	limit := fs.Int("limit", authz.DefaultAccessQueryLimit, "at most this many entries, newest first")
	asJSON := fs.Bool("json", false, "print the entries as JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("access-log: unexpected argument %q", fs.Arg(0))
	}
	if *person == "" {
		return errors.New("access-log: --person is required")
	}
	pn, err := model.ParsePersonalNumber(*person)
	if err != nil {
		return fmt.Errorf("access-log: --person: %w", err)
	}
	key := os.Getenv(*keyEnv)
	if key == "" {
		return fmt.Errorf("access-log: environment variable %s is not set: it must hold the access log hash key the gateway uses (base64 of at least 32 bytes)", *keyEnv)
	}
	hasher, err := authz.NewPersonHasherBase64(key)
	if err != nil {
		return fmt.Errorf("access-log: %s: %w", *keyEnv, err)
	}
	q := authz.AccessQuery{PersonHash: hasher.Hash(pn), Subject: *subject, Client: *client, Limit: *limit}
	if q.From, err = authz.ParseAccessTime(*from, false); err != nil {
		return fmt.Errorf("access-log: --from: %w", err)
	}
	if q.To, err = authz.ParseAccessTime(*to, true); err != nil {
		return fmt.Errorf("access-log: --to: %w", err)
	}

	var store authz.AccessLog
	switch {
	case (*jsonl == "") == (*dbURL == ""):
		return errors.New("access-log: give exactly one of --jsonl FILE and --database-url URL")
	case *jsonl != "":
		if _, err := os.Stat(*jsonl); err != nil {
			return fmt.Errorf("access-log: --jsonl: %w", err) // do not create an empty log
		}
		store, err = authz.NewJSONLAccessLog(*jsonl)
	default:
		store, err = authz.NewPostgresAccessLog(ctx, *dbURL, *schema)
	}
	if err != nil {
		return fmt.Errorf("access-log: %w", err)
	}
	defer store.Close()
	entries, err := store.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("access-log: %w", err)
	}

	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if entries == nil {
			entries = []authz.AccessEntry{}
		}
		return enc.Encode(entries)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSUBJECT\tCLIENT\tPURPOSES\tFIELDS\tOUTCOME")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.In(authz.Stockholm).Format("2006-01-02 15:04:05"),
			e.Subject, e.Client, strings.Join(e.Purposes, ","), strings.Join(e.Fields, ","), e.Outcome)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d entries for %s (newest first, times in Europe/Stockholm)\n", len(entries), model.MaskPersonalNumber(pn))
	if lim := cmp.Or(max(q.Limit, 0), authz.DefaultAccessQueryLimit); len(entries) == lim {
		fmt.Fprintf(os.Stderr, "limit of %d reached: narrow the period or raise --limit\n", lim)
	}
	return nil
}
