package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// policyAdminUsage documents the policy workflow commands, which are
// clients of a running gateway's policy API.
const policyAdminUsage = `policy workflow (against a running gateway's /admin/api):
  show                                        print the current policy (stdout) and its version (stderr)
  dry-run  --file F                           which decisions F would change, and how many recent requests
  propose  --file F --comment C [--base N]    propose F as the new policy, written against version N (default: current)
  proposals [--status proposed]               list proposals
  approve  ID                                 approve proposal ID (not your own)
  reject   ID --reason R                      reject proposal ID
  versions                                    list the policy versions
  restore  N --comment C                      propose version N's rules again
  audit                                       the audit trail
These take --url (default $KOMMUNGRAF_URL or http://127.0.0.1:8080), --token (default
$KOMMUNGRAF_TOKEN; --persona P fetches a demo token instead) and --json. --file - reads stdin.
Times are Swedish time (Europe/Stockholm, zone shown); --json keeps the API's RFC 3339.`

// policyAdminCommands are the subcommands policyAdmin handles.
var policyAdminCommands = []string{"show", "dry-run", "propose", "proposals", "approve", "reject", "versions", "restore", "audit"}

// policyAdmin runs `kommungraf policy <sub>` for the workflow commands; it
// reports false for a subcommand that is not one of them.
func policyAdmin(ctx context.Context, sub string, args []string, std stdio) (handled bool, err error) {
	return policyAdminTo(ctx, std.out, std.err, std.in, sub, args)
}

func policyAdminTo(ctx context.Context, stdout, stderr io.Writer, stdin io.Reader, sub string, args []string) (bool, error) {
	if !slices.Contains(policyAdminCommands, sub) {
		return false, nil
	}
	fs := flag.NewFlagSet("policy "+sub, flag.ContinueOnError)
	cf := addClientFlags(fs, "")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	file := fs.String("file", "", "the whole policy file (dry-run, propose); - reads stdin")
	comment := fs.String("comment", "", "why (propose, restore)")
	baseVersion := fs.Uint64("base", 0, "the version the file was written against (propose; default: the current version)")
	reason := fs.String("reason", "", "why the proposal is rejected (reject)")
	status := fs.String("status", "", "only proposals of this status: proposed, applied, rejected or superseded (proposals)")
	fs.Usage = usageFunc(fs, "usage: kommungraf policy "+sub+" [flags]\n"+policyAdminUsage)

	// The ID or version may come before the flags: approve 12 --json.
	var pos []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = args[:1], args[1:]
	}
	if err := parseFlags(fs, args, stdio{in: stdin, out: stdout, err: stderr}); err != nil {
		return true, err
	}
	pos = append(pos, fs.Args()...)
	wantPos := sub == "approve" || sub == "reject" || sub == "restore"
	switch {
	case wantPos && len(pos) != 1:
		return true, fmt.Errorf("policy %s: give exactly one %s", sub, map[bool]string{true: "version number", false: "proposal id"}[sub == "restore"])
	case !wantPos && len(pos) > 0:
		return true, fmt.Errorf("policy %s: unexpected argument %q", sub, pos[0])
	}
	c, err := cf.client(ctx, "policy "+sub)
	if err != nil {
		return true, err
	}
	readFile := func() (string, error) {
		switch *file {
		case "":
			return "", fmt.Errorf("policy %s: --file is required", sub)
		case "-":
			b, err := io.ReadAll(stdin)
			return string(b), err
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return "", fmt.Errorf("policy %s: %w", sub, err)
		}
		return string(b), nil
	}

	var out map[string]any
	switch sub {
	case "show":
		out, err = c.call(ctx, "GET", "/admin/api/policy", nil)
	case "dry-run":
		var text string
		if text, err = readFile(); err == nil {
			out, err = c.call(ctx, "POST", "/admin/api/dry-run", map[string]any{"text": text})
		}
	case "propose":
		var text string
		if text, err = readFile(); err != nil {
			break
		}
		n := *baseVersion
		if n == 0 {
			var cur map[string]any
			if cur, err = c.call(ctx, "GET", "/admin/api/policy", nil); err != nil {
				break
			}
			n = uint64(jsonNum(cur["version"]))
			fmt.Fprintf(stderr, "proposing against version %d, the current one (--base N to name the version the file was written against)\n", n)
		}
		out, err = c.call(ctx, "POST", "/admin/api/proposals", map[string]any{"baseVersion": n, "text": text, "comment": *comment})
	case "proposals":
		q := ""
		if *status != "" {
			q = "?status=" + url.QueryEscape(*status)
		}
		out, err = c.call(ctx, "GET", "/admin/api/proposals"+q, nil)
	case "approve":
		out, err = c.call(ctx, "POST", "/admin/api/proposals/"+url.PathEscape(pos[0])+"/approve", nil)
	case "reject":
		out, err = c.call(ctx, "POST", "/admin/api/proposals/"+url.PathEscape(pos[0])+"/reject", map[string]any{"reason": *reason})
	case "versions":
		out, err = c.call(ctx, "GET", "/admin/api/versions", nil)
	case "restore":
		out, err = c.call(ctx, "POST", "/admin/api/versions/"+url.PathEscape(pos[0])+"/restore", map[string]any{"comment": *comment})
	case "audit":
		out, err = c.call(ctx, "GET", "/admin/api/audit", nil)
	}
	if err != nil {
		return true, err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return true, enc.Encode(out)
	}
	return true, printPolicyAnswer(stdout, stderr, sub, pos, out)
}

// defaultURL is where the CLI looks for a gateway without --url or
// KOMMUNGRAF_URL: the demo's address.
const defaultURL = "http://127.0.0.1:8080"

// clientFlags are the flags of every command that asks a running gateway.
type clientFlags struct{ url, token, persona *string }

// addClientFlags defines --url, and unless personaMeans says --persona and
// --token mean something else in this command, --token and --persona.
func addClientFlags(fs *flag.FlagSet, personaMeans string) clientFlags {
	f := clientFlags{url: fs.String("url", envOr("KOMMUNGRAF_URL", defaultURL), "the gateway's base URL; $KOMMUNGRAF_URL, when set, is the default")}
	if personaMeans == "" {
		f.token = fs.String("token", "", "bearer token or API key of a security officer (default $KOMMUNGRAF_TOKEN)")
		f.persona = fs.String("persona", "", "demo gateways only: use a token for this persona from /demo/token (security-officer)")
	}
	return f
}

// client builds the gateway client the flags describe.
func (f clientFlags) client(ctx context.Context, name string) (*gatewayClient, error) {
	return newGatewayClient(ctx, name, *f.url, *f.token, *f.persona)
}

// gatewayClient calls a running gateway's admin API (/admin/api/...): the
// policy workflow, explain and the access log.
type gatewayClient struct {
	base, token string
	// name is the command, for messages: "policy show", "access-log".
	name string
	http *http.Client
}

// newGatewayClient is a client of the gateway at base that authenticates
// with token, else $KOMMUNGRAF_TOKEN, else (demo gateways only) a
// development token for persona fetched from /demo/token.
func newGatewayClient(ctx context.Context, name, base, token, persona string) (*gatewayClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: --url %q: want the gateway's base URL, such as %s", name, base, defaultURL)
	}
	c := &gatewayClient{base: strings.TrimRight(base, "/"), token: cmp.Or(token, os.Getenv("KOMMUNGRAF_TOKEN")),
		http: &http.Client{Timeout: 60 * time.Second, CheckRedirect: refuseRedirects}, name: name}
	if u.Scheme == "http" && !upstream.IsLoopback(u) {
		fmt.Fprintf(os.Stderr, "%s: warning: %s is plain http on another host: the credential and any personnummer travel unencrypted (use https)\n", name, base)
	}
	if persona != "" {
		if token != "" {
			return nil, fmt.Errorf("%s: give --token or --persona, not both", name)
		}
		if err := c.demoToken(ctx, persona); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// unreachableError is a gateway that did not answer at all (refused, no
// such host, timed out), as opposed to one that answered with an error.
type unreachableError struct {
	name, url string
	err       error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("%s: could not reach the gateway at %s: %v\n  (give its address with --url URL or set KOMMUNGRAF_URL)", e.name, e.url, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// send does req; a transport failure becomes an unreachableError.
func (c *gatewayClient) send(ctx context.Context, req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", c.name, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without "Post \"http://...\"", which the message says anyway
		}
		return nil, &unreachableError{name: c.name, url: c.base, err: err}
	}
	return resp, nil
}

// demoToken fetches a persona's token from a demo gateway.
func (c *gatewayClient) demoToken(ctx context.Context, persona string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/demo/token?persona="+url.QueryEscape(persona), nil)
	if err != nil {
		return fmt.Errorf("%s: --url: %w", c.name, err)
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.Token == "" {
		return fmt.Errorf("%s: --persona %s: the gateway at %s gave no demo token (HTTP %d): demo tokens exist only on a demo gateway, asked from its own host; elsewhere give --token or set KOMMUNGRAF_TOKEN",
			c.name, persona, c.base, resp.StatusCode)
	}
	c.token = body.Token
	return nil
}

// call sends one request and decodes the answer; a problem+json answer
// becomes an error that says everything the problem says.
func (c *gatewayClient) call(ctx context.Context, method, path string, body any) (map[string]any, error) {
	var out map[string]any
	err := c.do(ctx, method, path, body, &out)
	return out, err
}

// do sends one request and decodes a successful answer into dst.
func (c *gatewayClient) do(ctx context.Context, method, path string, body, dst any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s: --url: %w", c.name, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", c.name, err)
	}
	if resp.StatusCode >= 300 {
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil || p == nil {
			return fmt.Errorf("%s: %s answered HTTP %d, not JSON: %.200s", c.name, c.base+path, resp.StatusCode, raw)
		}
		return c.problem(resp.StatusCode, p)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s: HTTP %d, and the answer is not the expected JSON (%v): %.200s", c.name, resp.StatusCode, err, raw)
	}
	return nil
}

func (c *gatewayClient) problem(status int, p map[string]any) error {
	var b strings.Builder
	code, detail := jsonStr(p["code"]), jsonStr(p["detail"])
	if code == "" { // the gateway's 401 is GraphQL-shaped: {"errors": [{"message", "extensions": {"code"}}]}
		if errs := jsonList(p["errors"]); len(errs) > 0 {
			e := jsonObj(errs[0])
			code, detail = jsonStr(jsonObj(e["extensions"])["code"]), jsonStr(e["message"])
		}
	}
	fmt.Fprintf(&b, "%s: %d %s: %s", c.name, status, code, detail)
	for _, l := range jsonList(p["lines"]) {
		m := jsonObj(l)
		fmt.Fprintf(&b, "\n  line %d: %s: %s", int(jsonNum(m["line"])), jsonStr(m["message"]), jsonStr(m["text"]))
	}
	for _, r := range jsonList(p["rails"]) {
		fmt.Fprintf(&b, "\n  %s: %s", jsonStr(jsonObj(r)["code"]), jsonStr(jsonObj(r)["detail"]))
	}
	switch {
	case status == http.StatusForbidden && code == "FORBIDDEN" && c.token == "":
		b.WriteString("\n  (no credential was sent: give --token or set KOMMUNGRAF_TOKEN)")
	case status == http.StatusUnauthorized:
		b.WriteString("\n  (the gateway refused the credential: check --token or KOMMUNGRAF_TOKEN; a demo token is valid only against the gateway that issued it)")
	}
	return &apiError{status: status, code: code, msg: b.String()}
}

// apiError is an answer of the gateway's API that is not a success.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// printPolicyAnswer prints an answer for people.
func printPolicyAnswer(w, notes io.Writer, sub string, pos []string, out map[string]any) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	switch sub {
	case "show":
		fmt.Fprintf(notes, "policy version %d (approval required: %v)\n", int(jsonNum(out["version"])), out["requireApproval"])
		_, err := io.WriteString(w, jsonStr(out["text"]))
		return err
	case "dry-run":
		changes := jsonList(out["changes"])
		if len(changes) > 0 {
			fmt.Fprintln(tw, "ROLE\tCLIENT\tFIELD\tPROTECTED\tBEFORE\tAFTER\tLINE")
		}
		for _, ch := range changes {
			m := jsonObj(ch)
			field := jsonStr(m["field"])
			if a := jsonStr(m["action"]); a != "" && a != "read" {
				field = a + " " + field
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", jsonStr(m["role"]), jsonStr(m["client"]), field,
				yesNo(m["protected"] == true), allowOrDeny(m["before"] == true), allowOrDeny(m["after"] == true), jsonStr(m["rule"]))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		recent := jsonObj(out["recent"])
		fmt.Fprintf(w, "%d decision(s) would change (policy version %d).\n", len(changes), int(jsonNum(out["baseVersion"])))
		if recent["unavailable"] == true {
			fmt.Fprintln(w, "The access log could not be read: recent requests were not replayed.")
		} else {
			fmt.Fprintf(w, "Of %d request(s) in the access log's last 24 hours, %d would have been answered differently.\n",
				int(jsonNum(recent["examined"])), int(jsonNum(recent["changed"])))
		}
		for _, r := range jsonList(out["guardRails"]) {
			fmt.Fprintf(w, "REFUSED if proposed: %s: %s\n", jsonStr(jsonObj(r)["code"]), jsonStr(jsonObj(r)["detail"]))
		}
	case "propose", "restore":
		p := jsonObj(out["proposal"])
		if out["applied"] == true {
			fmt.Fprintf(w, "proposal #%d applied: version %d is live\n", int(jsonNum(p["id"])), int(jsonNum(out["version"])))
		} else {
			fmt.Fprintf(w, "proposal #%d is waiting for a second security officer: kommungraf policy approve %d\n", int(jsonNum(p["id"])), int(jsonNum(p["id"])))
		}
		if d := jsonStr(p["diff"]); d != "" {
			fmt.Fprint(w, d)
		}
	case "approve":
		fmt.Fprintf(w, "proposal #%s approved: version %d is live\n", pos[0], int(jsonNum(out["version"])))
	case "reject":
		fmt.Fprintf(w, "proposal #%s rejected\n", pos[0])
	case "proposals":
		fmt.Fprintln(tw, "ID\tSTATUS\tBASE\tCREATED\tAUTHOR\tCOMMENT")
		for _, x := range jsonList(out["proposals"]) {
			m := jsonObj(x)
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", int(jsonNum(m["id"])), jsonStr(m["status"]), int(jsonNum(m["baseVersion"])),
				apiTime(m["createdAt"]), jsonStr(m["author"]), jsonStr(m["comment"]))
		}
	case "versions":
		fmt.Fprintln(tw, "VERSION\tCREATED\tAUTHOR\tAPPROVED BY\tCOMMENT")
		for _, x := range jsonList(out["versions"]) {
			m := jsonObj(x)
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", int(jsonNum(m["version"])), apiTime(m["createdAt"]), jsonStr(m["author"]),
				cmp.Or(jsonStr(m["approvedBy"]), "-"), jsonStr(m["comment"]))
		}
	case "audit":
		fmt.Fprintln(tw, "AT\tACTOR\tACTION\tPROPOSAL\tVERSION\tCOMMENT")
		for _, x := range jsonList(out["events"]) {
			m := jsonObj(x)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", apiTime(m["at"]), jsonStr(m["actor"]), jsonStr(m["action"]),
				jsonRef("#", m["proposal"]), jsonRef("", m["version"]), jsonStr(m["comment"]))
		}
	}
	return tw.Flush()
}

func envOr(name, def string) string { return cmp.Or(os.Getenv(name), def) }

func jsonStr(v any) string {
	s, _ := v.(string)
	return s
}

func jsonNum(v any) float64 {
	n, _ := v.(float64)
	return n
}

func jsonList(v any) []any {
	l, _ := v.([]any)
	return l
}

func jsonObj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func jsonRef(prefix string, v any) string {
	if n, ok := v.(float64); ok {
		return prefix + strconv.FormatInt(int64(n), 10)
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func allowOrDeny(b bool) string {
	if b {
		return "allow"
	}
	return "deny"
}

// apiTime prints an API time (RFC 3339) as the CLI prints every time.
func apiTime(v any) string {
	t, err := time.Parse(time.RFC3339Nano, jsonStr(v))
	if err != nil {
		return jsonStr(v)
	}
	return localTime(t)
}

// localTime is the CLI's one way of printing a time for people: Swedish
// local time with its zone, 2026-12-06 15:20:29 CET. JSON output keeps RFC
// 3339 instead.
func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(authz.Stockholm).Format("2006-01-02 15:04:05 MST")
}

// refuseRedirects keeps a request where it was sent: Go's client would
// re-send a 307 or 308's body (a personnummer, a policy) and could carry
// the credential to wherever the redirect points.
func refuseRedirects(req *http.Request, via []*http.Request) error {
	return fmt.Errorf("the gateway redirected to %s: refused; give the final address with --url", req.URL.Redacted())
}
