package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
)

const operationsUsage = `usage: kommungraf operations <push FILE.graphql... | list> [flags]
trusted (persisted) operations, against a running gateway's /admin/api/operations:
  push FILE.graphql...   register the named operations of the files (all or none; each checked
                         against the schema); prints each operation's id, which clients send as
                         extensions.persistedQuery.sha256Hash
  list                   the registered operations
These take --url (default $KOMMUNGRAF_URL or http://127.0.0.1:8080), --token (default
$KOMMUNGRAF_TOKEN; --persona P fetches a demo token instead) and --json.`

// operationsCommand runs `kommungraf operations push|list`.
func operationsCommand(ctx context.Context, args []string, std stdio) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(std.out, operationsUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	if sub != "push" && sub != "list" {
		return usageError{fmt.Errorf("operations: unknown subcommand %q\n%s", sub, operationsUsage)}
	}
	fs := flag.NewFlagSet("operations "+sub, flag.ContinueOnError)
	cf := addClientFlags(fs, "")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	fs.Usage = usageFunc(fs, operationsUsage)
	// The files may come before the flags: push a.graphql --persona p.
	var files []string
	for len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		files, args = append(files, args[0]), args[1:]
	}
	if err := parseFlags(fs, args, std); err != nil {
		return err
	}
	files = append(files, fs.Args()...)
	switch {
	case sub == "push" && len(files) == 0:
		return usageError{fmt.Errorf("operations push: name one or more .graphql files")}
	case sub == "list" && len(files) > 0:
		return usageError{fmt.Errorf("operations list: unexpected argument %q", files[0])}
	}
	c, err := cf.client(ctx, "operations "+sub)
	if err != nil {
		return err
	}
	var out map[string]any
	if sub == "push" {
		body := map[string]map[string]string{"files": {}}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("operations push: %w", err)
			}
			body["files"][f] = string(b)
		}
		out, err = c.call(ctx, "POST", "/admin/api/operations", body)
	} else {
		out, err = c.call(ctx, "GET", "/admin/api/operations", nil)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tFIELDS\tPUSHED BY")
	for _, o := range jsonList(out["operations"]) {
		m := jsonObj(o)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", jsonStr(m["id"]), jsonStr(m["name"]), len(jsonList(m["fields"])), jsonStr(m["pushedBy"]))
	}
	return tw.Flush()
}
