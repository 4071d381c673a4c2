package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/sources/model"
)

// accessLogUsage heads `kommungraf access-log --help`.
const accessLogUsage = `usage: kommungraf access-log --person YYYYMMDDNNNC [--from 2026-01-01] [--to 2026-12-31] [--subject s] [--client c] [--json]
  who read this person's data in this period, newest first, from the GDPR access log:
  by default asks a running gateway (--url, default $KOMMUNGRAF_URL or ` + defaultURL + `) as a security
  officer (--token or KOMMUNGRAF_TOKEN; --persona security-officer on a demo gateway);
  with --jsonl FILE or --database-url URL reads the log itself, hashing the personnummer with the
  key in $KOMMUNGRAF_ACCESS_LOG_KEY (the demo prints the file and the key at start).
  Times are Swedish time (Europe/Stockholm, zone shown); --json keeps RFC 3339.`

// accessLogCommand answers "who read this person's data in this period" from
// the GDPR access log, for security staff:
//
//	kommungraf access-log --person YYYYMMDDNNNC [--from 2026-01-01] [--to 2026-12-31]
//	    [--subject s] [--client c] [--limit n] [--json]
//	    [--url URL] [--token T | --persona security-officer]           (ask a gateway, the default)
//	    (--jsonl FILE | --database-url postgres://...) [--hash-key-env KOMMUNGRAF_ACCESS_LOG_KEY]
func accessLogCommand(ctx context.Context, args []string, std stdio) error {
	fs := flag.NewFlagSet("access-log", flag.ContinueOnError)
	person := fs.String("person", "", "personnummer whose reads to list, YYYYMMDDNNNC or YYYYMMDD-NNNC (required)")
	from := fs.String("from", "", "first day (YYYY-MM-DD, Swedish time) or instant (RFC 3339) to include")
	to := fs.String("to", "", "last day to include (YYYY-MM-DD, Swedish time), or the instant (RFC 3339) to stop before")
	subject := fs.String("subject", "", "only entries of this subject")
	client := fs.String("client", "", "only entries of this client application")
	searches := fs.Bool("include-searches", false, "also list the searches of the log that looked the person up (every search through a gateway is logged)")
	cf := addClientFlags(fs, "")
	jsonl := fs.String("jsonl", "", "read the access log from this JSON lines file instead of asking a gateway")
	dbURL := fs.String("database-url", "", "read the access log from this PostgreSQL database instead of asking a gateway")
	schema := fs.String("database-schema", "", "with --database-url: schema of the access_log table (default: the URL's search_path)")
	keyEnv := fs.String("hash-key-env", config.EnvAccessLogKey, "with --jsonl or --database-url: environment variable holding the gateway's access log hash key (base64 of at least 32 bytes)")
	limit := fs.Int("limit", authz.DefaultAccessQueryLimit, "at most this many entries, newest first")
	asJSON := fs.Bool("json", false, "print the entries as JSON (times in RFC 3339) instead of a table")
	fs.Usage = usageFunc(fs, accessLogUsage)
	if err := parseFlags(fs, args, std); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("access-log: unexpected argument %q", fs.Arg(0))}
	}
	if *person == "" {
		return usageError{errors.New("access-log: --person is required")}
	}
	pn, err := model.ParsePersonalNumber(*person)
	if err != nil {
		return fmt.Errorf("access-log: --person: %w", err)
	}
	q := authz.AccessQuery{Subject: *subject, Client: *client, Limit: *limit, IncludeSearches: *searches}
	if q.From, err = authz.ParseAccessTime(*from, false); err != nil {
		return fmt.Errorf("access-log: --from: %w", err)
	}
	if q.To, err = authz.ParseAccessTime(*to, true); err != nil {
		return fmt.Errorf("access-log: --to: %w", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	remote := *jsonl == "" && *dbURL == ""
	switch {
	case *jsonl != "" && *dbURL != "":
		return usageError{errors.New("access-log: give --jsonl FILE or --database-url URL, not both")}
	case !remote && (set["url"] || set["token"] || set["persona"]):
		return usageError{errors.New("access-log: --url, --token and --persona ask a gateway; --jsonl and --database-url read the log itself: give one kind")}
	}

	var entries []authz.AccessEntry
	lim := cmp.Or(max(q.Limit, 0), authz.DefaultAccessQueryLimit)
	if remote {
		c, err := cf.client(ctx, "access-log")
		if err != nil {
			return err
		}
		var ans struct {
			Entries []authz.AccessEntry `json:"entries"`
			Limit   int                 `json:"limit"`
		}
		// The personnummer goes in the body: never in a URL, which proxies and
		// request logs keep.
		body := map[string]any{"person": pn, "from": *from, "to": *to, "client": *client, "subject": *subject, "limit": *limit, "includeSearches": *searches}
		if err := c.do(ctx, "POST", "/admin/api/access-log", body, &ans); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.status == http.StatusNotFound && ae.code == "NOT_FOUND" {
				return fmt.Errorf("%w\n  (this gateway has no access log API: read the log itself with --jsonl FILE or --database-url URL)", err)
			}
			return err
		}
		entries, lim = ans.Entries, cmp.Or(ans.Limit, lim)
	} else {
		key := os.Getenv(*keyEnv)
		if key == "" {
			return fmt.Errorf("access-log: environment variable %s is not set: it must hold the access log hash key the gateway uses (base64 of at least 32 bytes; the demo prints it at start)", *keyEnv)
		}
		hasher, err := authz.NewPersonHasherBase64(key)
		if err != nil {
			return fmt.Errorf("access-log: %s: %w", *keyEnv, err)
		}
		q.PersonHash = hasher.Hash(pn)
		if entries, err = readAccessLog(ctx, q, *jsonl, *dbURL, *schema); err != nil {
			return err
		}
	}

	if *asJSON {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		if entries == nil {
			entries = []authz.AccessEntry{}
		}
		return enc.Encode(entries)
	}
	tw := tabwriter.NewWriter(std.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSUBJECT\tCLIENT\tPURPOSES\tFIELDS\tOUTCOME")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", localTime(e.Time),
			e.Subject, e.Client, strings.Join(e.Purposes, ","), strings.Join(e.Fields, ","), e.Outcome)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(std.err, "%d entries for %s (newest first, times in Europe/Stockholm)\n", len(entries), model.MaskPersonalNumber(pn))
	if len(entries) >= lim {
		fmt.Fprintf(std.err, "limit of %d reached: narrow the period or raise --limit\n", lim)
	}
	return nil
}

// readAccessLog queries the log's own store: the JSON lines file or the
// PostgreSQL table.
func readAccessLog(ctx context.Context, q authz.AccessQuery, jsonl, dbURL, schema string) ([]authz.AccessEntry, error) {
	var store authz.AccessLog
	var err error
	if jsonl != "" {
		if _, err := os.Stat(jsonl); err != nil {
			return nil, fmt.Errorf("access-log: --jsonl: %w", err) // do not create an empty log
		}
		store, err = authz.NewJSONLAccessLog(jsonl)
	} else {
		store, err = authz.NewPostgresAccessLog(ctx, dbURL, schema)
	}
	if err != nil {
		return nil, fmt.Errorf("access-log: %w", err)
	}
	defer store.Close()
	entries, err := store.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("access-log: %w", err)
	}
	return entries, nil
}
