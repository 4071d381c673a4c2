package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// runCLI runs kommungraf's run function with args and returns what it wrote.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	return out.String(), errOut.String(), err
}

// closedURL is the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// cleanEnv keeps the caller's KOMMUNGRAF_URL and KOMMUNGRAF_TOKEN out of a test.
func cleanEnv(t *testing.T) {
	t.Helper()
	t.Setenv("KOMMUNGRAF_URL", "")
	t.Setenv("KOMMUNGRAF_TOKEN", "")
}

func TestHelp(t *testing.T) {
	cleanEnv(t)
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}, {"help", "help"}} {
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"serve ", "sim ", "policy ", "access-log ", "help ", "-addr", "-config", "-demo-latency", "KOMMUNGRAF_URL"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v does not list %q:\n%s", args, want, out)
			}
		}
	}
	// Every command and policy subcommand has --help: usage on stdout, success.
	commands := [][]string{{"serve"}, {"sim"}, {"access-log"}, {"policy"}, {"probe"}}
	for _, sub := range append([]string{"explain", "test", "lint"}, policyAdminCommands...) {
		commands = append(commands, []string{"policy", sub})
	}
	for _, cmd := range commands {
		for _, h := range []string{"--help", "-h"} {
			args := append(append([]string{}, cmd...), h)
			out, errOut, err := runCLI(t, args...)
			if err != nil || !strings.Contains(out, "usage:") || strings.Contains(errOut, "help requested") {
				t.Errorf("%v: err %v\nstdout:\n%s\nstderr:\n%s", args, err, out, errOut)
			}
		}
	}
	if out, _, err := runCLI(t, "help", "access-log"); err != nil || !strings.Contains(out, "-person") || !strings.Contains(out, "-url") {
		t.Errorf("help access-log: %v\n%s", err, out)
	}
	if out, _, err := runCLI(t, "policy", "explain", "--help"); err != nil || !strings.Contains(out, "-admin-token") || !strings.Contains(out, "-offline") {
		t.Errorf("policy explain --help: %v\n%s", err, out)
	}

	t.Run("unknown command", func(t *testing.T) {
		_, _, err := runCLI(t, "serv")
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), `unknown command "serv"`) {
			t.Fatalf("serv: %v", err)
		}
		for _, c := range commands[:4] {
			if !strings.Contains(err.Error(), "  "+c[0]+" ") {
				t.Errorf("the message does not list %s: %v", c[0], err)
			}
		}
		if _, _, err := runCLI(t, "policy", "explian"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "explain") {
			t.Errorf("policy explian: %v", err)
		}
		if _, errOut, err := runCLI(t, "sim", "--no-such-flag"); !errors.As(err, &ue) || !strings.Contains(errOut, "-navet-addr") {
			t.Errorf("sim --no-such-flag: %v\n%s", err, errOut)
		}
	})
}

// envMainArgs makes the test binary run main with these arguments
// (separated by newlines): TestExitCodes's child process.
const envMainArgs = "KOMMUNGRAF_TEST_MAIN_ARGS"

// TestExitCodes runs main itself, as the built binary would run.
func TestExitCodes(t *testing.T) {
	if args := os.Getenv(envMainArgs); args != "" {
		os.Args = append([]string{"kommungraf"}, strings.Split(args, "\n")...)
		main()
		os.Exit(0)
	}
	for _, c := range []struct {
		args   []string
		exit   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, 0, "access-log", ""},
		{[]string{"policy", "explain", "--help"}, 0, "usage: kommungraf policy explain", ""},
		{[]string{"access-log", "-h"}, 0, "usage: kommungraf access-log", ""},
		{[]string{"frobnicate"}, 2, "", `kommungraf: unknown command "frobnicate"`},
		{[]string{"serve", "--no-such-flag"}, 2, "", "flag provided but not defined: -no-such-flag"},
		{[]string{"policy", "versions", "--url", closedURL(t), "--token", "x"}, 1, "", "--url URL or set KOMMUNGRAF_URL"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestExitCodes$", "-test.count=1")
			cmd.Env = append(os.Environ(), envMainArgs+"="+strings.Join(c.args, "\n"), "KOMMUNGRAF_URL=", "KOMMUNGRAF_TOKEN=")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.exit || !strings.Contains(stdout.String(), c.stdout) || !strings.Contains(stderr.String(), c.stderr) ||
				strings.Contains(stderr.String(), "help requested") {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.exit, stdout.String(), stderr.String())
			}
		})
	}
}

func TestRefusedConnectionNamesTheURL(t *testing.T) {
	cleanEnv(t)
	u := closedURL(t)
	for _, args := range [][]string{
		{"policy", "show", "--url", u, "--token", "t"},
		{"policy", "versions", "--url", u, "--persona", "security-officer"},
		{"access-log", "--person", someone(t).PersonalNumber, "--url", u, "--token", "t"},
		{"policy", "explain", "--url", u, "--admin-token", "t", "--persona", "case-officer", "--field", "Person.address"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			out, errOut, err := runCLI(t, args...)
			msg := errOut
			if err != nil {
				msg += err.Error()
			}
			if !strings.Contains(msg, "could not reach") || !strings.Contains(msg, u) || !strings.Contains(msg, "connection refused") {
				t.Fatalf("%v: err %v\nstdout:\n%s\nstderr:\n%s", args, err, out, errOut)
			}
			if !strings.Contains(msg, "--url URL or set KOMMUNGRAF_URL") {
				t.Fatalf("%v does not say how to change the URL: %s", args, msg)
			}
			if args[1] == "explain" {
				// explain falls back to the embedded policy, and says so.
				if err != nil || !strings.Contains(errOut, "explaining the embedded default policy (version 1) instead, which may differ from the live one") ||
					!strings.Contains(out, "decision:  ALLOW") || !strings.Contains(out, "not the live policy") {
					t.Fatalf("explain fallback: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
				}
			}
		})
	}
}

func someone(t *testing.T) *model.Person {
	t.Helper()
	for _, p := range sim.NewWorld(sim.WorldOptions{Seed: 3, People: 300}).People {
		if !p.ProtectedIdentity {
			return p
		}
	}
	t.Fatal("no person")
	return nil
}

// fakeAccessLogAPI implements the contract of POST /admin/api/access-log
// (and /demo/token) minimally, recording what it was asked.
type fakeAccessLogAPI struct {
	t        *testing.T
	requests []accessLogRequest
	rawURLs  []string
}

type accessLogRequest struct {
	Person   string `json:"person"`
	From     string `json:"from"`
	To       string `json:"to"`
	Client   string `json:"client"`
	Subject  string `json:"subject"`
	Limit    int    `json:"limit"`
	Searches bool   `json:"includeSearches"`
}

func (f *fakeAccessLogAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.rawURLs = append(f.rawURLs, r.URL.String())
	problem := func(status int, code, detail string) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "detail": detail})
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/demo/token" && r.URL.Query().Get("persona") == "security-officer":
		_ = json.NewEncoder(w).Encode(map[string]string{"token": "officer-token"})
		return
	case r.Method != "POST" || r.URL.Path != "/admin/api/access-log":
		problem(http.StatusNotFound, "NOT_FOUND", "no such route")
		return
	case r.Header.Get("Authorization") != "Bearer officer-token":
		problem(http.StatusForbidden, "FORBIDDEN", "not authorised for this administrative function")
		return
	}
	var q accessLogRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		problem(http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	f.requests = append(f.requests, q)
	if q.From == "2099-01-01" {
		problem(http.StatusBadRequest, "BAD_USER_INPUT", "from: in the future")
		return
	}
	entries := []authz.AccessEntry{
		{ID: "2", Time: time.Date(2026, 12, 6, 14, 20, 29, 0, time.UTC), Subject: "demo-case-officer", Client: "bygglov-app",
			Purposes: []string{"bygglov"}, Fields: []string{"Person.givenName"}, Persons: []string{"h"}, Outcome: authz.OutcomeServed},
		{ID: "1", Time: time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC), Subject: "demo-social-secretary", Client: "case-app",
			Purposes: []string{"socialtjanst"}, Fields: []string{"Person.address"}, Persons: []string{"h"}, Outcome: authz.OutcomeServed},
	}
	if q.Limit == 1 {
		entries = entries[:1]
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"entries": entries, "count": len(entries), "limit": q.Limit, "timeZone": "Europe/Stockholm"})
}

func TestAccessLogAsksTheGateway(t *testing.T) {
	cleanEnv(t)
	t.Setenv(config.EnvAccessLogKey, "") // asking the gateway needs no hash key
	fake := &fakeAccessLogAPI{t: t}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	pn := someone(t).PersonalNumber

	out, errOut, err := runCLI(t, "access-log", "--url", srv.URL, "--persona", "security-officer",
		"--person", pn[:8]+"-"+pn[8:], "--from", "2026-01-01", "--to", "2026-12-31T23:00:00Z", "--client", "bygglov-app", "--subject", "s")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := accessLogRequest{Person: pn, From: "2026-01-01", To: "2026-12-31T23:00:00Z", Client: "bygglov-app", Subject: "s", Limit: authz.DefaultAccessQueryLimit}
	if len(fake.requests) != 1 || fake.requests[0] != want {
		t.Fatalf("asked %+v, want %+v", fake.requests, want)
	}
	for _, u := range fake.rawURLs {
		if strings.Contains(u, pn) || strings.Contains(u, pn[2:8]) {
			t.Fatalf("the personnummer is in a URL: %s", u)
		}
	}
	// Swedish time with its zone, winter and summer.
	for _, row := range [][2]string{{"2026-12-06 15:20:29 CET ", "demo-case-officer"}, {"2026-07-01 12:00:00 CEST ", "demo-social-secretary"}} {
		if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.HasPrefix(l, row[0]) && strings.Contains(l, row[1]) }) {
			t.Errorf("the table lacks a row %q ... %q:\n%s", row[0], row[1], out)
		}
	}
	if !strings.Contains(errOut, "2 entries for ") || strings.Contains(errOut, pn) {
		t.Errorf("stderr: %s", errOut)
	}

	t.Run("json keeps RFC 3339", func(t *testing.T) {
		t.Setenv("KOMMUNGRAF_URL", srv.URL)
		t.Setenv("KOMMUNGRAF_TOKEN", "officer-token")
		out, _, err := runCLI(t, "access-log", "--person", pn, "--json", "--limit", "1")
		var entries []map[string]any
		if err != nil || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != 1 || entries[0]["time"] != "2026-12-06T14:20:29Z" {
			t.Fatalf("%v\n%s", err, out)
		}
	})
	t.Run("problems", func(t *testing.T) {
		_, _, err := runCLI(t, "access-log", "--url", srv.URL, "--persona", "security-officer", "--person", pn, "--from", "2099-01-01")
		if err == nil || !strings.Contains(err.Error(), "400 BAD_USER_INPUT: from: in the future") {
			t.Errorf("a refused question: %v", err)
		}
		_, _, err = runCLI(t, "access-log", "--url", srv.URL, "--person", pn)
		if err == nil || !strings.Contains(err.Error(), "403 FORBIDDEN") || !strings.Contains(err.Error(), "KOMMUNGRAF_TOKEN") {
			t.Errorf("without a credential: %v", err)
		}
		old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"status":404,"code":"NOT_FOUND","detail":"no such policy API route"}`)
		}))
		defer old.Close()
		_, _, err = runCLI(t, "access-log", "--url", old.URL, "--token", "t", "--person", pn)
		if err == nil || !strings.Contains(err.Error(), "no access log API: read the log itself with --jsonl FILE") {
			t.Errorf("a gateway without the route: %v", err)
		}
		_, _, err = runCLI(t, "access-log", "--url", srv.URL, "--jsonl", "x.jsonl", "--person", pn)
		if err == nil || !strings.Contains(err.Error(), "give one kind") {
			t.Errorf("--url with --jsonl: %v", err)
		}
	})
}

// demoGateway is an in-process demo gateway (approval off, as in the demo)
// served over HTTP.
func demoGateway(t *testing.T) (string, *gateway.Gateway) {
	t.Helper()
	return serveGateway(t, config.Demo(), gateway.Options{Demo: true, World: sim.NewWorld(sim.WorldOptions{Seed: 3, People: 300})})
}

// serveGateway starts a gateway in process, serves it over HTTP until the
// test ends, and returns its URL. Its log is discarded.
func serveGateway(t *testing.T, cfg *config.Config, opts gateway.Options) (string, *gateway.Gateway) {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	gw, err := gateway.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		srv.Close()
		gw.Close()
	})
	return srv.URL, gw
}

func TestExplainAsksTheLivePolicy(t *testing.T) {
	cleanEnv(t)
	t.Setenv(config.EnvRequireApproval, "")
	u, _ := demoGateway(t)
	explain := func(t *testing.T, args ...string) (string, string) {
		t.Helper()
		out, errOut, err := runCLI(t, append([]string{"policy", "explain"}, args...)...)
		if err != nil {
			t.Fatalf("explain %v: %v\n%s", args, err, errOut)
		}
		return out, errOut
	}
	if out, _ := explain(t, "--url", u, "--persona", "case-officer", "--field", "Person.address"); !strings.Contains(out, "decision:  ALLOW") ||
		!strings.Contains(out, "policy:    version 1 (live, at "+u+")") {
		t.Fatalf("before the change:\n%s", out)
	}

	// Version 2 takes the address from the case officer.
	var policy bytes.Buffer
	if _, err := policyAdminTo(context.Background(), &policy, io.Discard, nil, "show", []string{"--url", u, "--persona", "security-officer"}); err != nil {
		t.Fatal(err)
	}
	const line = "Person.{personalNumber,givenName,middleName,surname,address,errands}"
	if !strings.Contains(policy.String(), line) {
		t.Fatalf("the demo policy lacks %s", line)
	}
	file := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(file, []byte(strings.Replace(policy.String(), line, strings.Replace(line, "address,", "", 1), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var res bytes.Buffer
	if _, err := policyAdminTo(context.Background(), &res, io.Discard, nil, "propose",
		[]string{"--url", u, "--persona", "security-officer", "--file", file, "--comment", "no addresses"}); err != nil || !strings.Contains(res.String(), "version 2 is live") {
		t.Fatalf("propose: %v\n%s", err, res.String())
	}

	out, _ := explain(t, "--url", u, "--persona", "case-officer", "--field", "Person.address")
	if !strings.Contains(out, "decision:  DENY") || !strings.Contains(out, "policy:    version 2 (live, at "+u+")") {
		t.Fatalf("after the change:\n%s", out)
	}
	t.Run("KOMMUNGRAF_URL and a token to explain", func(t *testing.T) {
		t.Setenv("KOMMUNGRAF_URL", u)
		tok := demoTokenFor(t, u, "case-officer")
		out, _ := explain(t, "--token", tok, "--field", "Person.address")
		if !strings.Contains(out, "decision:  DENY") || !strings.Contains(out, "subject=demo-case-officer") || !strings.Contains(out, "version 2 (live") {
			t.Fatalf("--token:\n%s", out)
		}
	})
	t.Run("offline, on request", func(t *testing.T) {
		out, errOut := explain(t, "--url", u, "--offline", "--persona", "case-officer", "--field", "Person.address")
		if !strings.Contains(out, "decision:  ALLOW") || !strings.Contains(out, "version 1 (the embedded default policy, not the live policy)") || errOut != "" {
			t.Fatalf("--offline:\n%s\n%s", out, errOut)
		}
		policyFile := filepath.Join(t.TempDir(), "p.csv")
		if err := os.WriteFile(policyFile, []byte(authz.DefaultPolicy()), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, _ := explain(t, "--file", policyFile, "--persona", "case-officer", "--field", "Person.address"); !strings.Contains(out, "the policy in "+policyFile) {
			t.Fatalf("--file:\n%s", out)
		}
	})
	t.Run("not for a case officer", func(t *testing.T) {
		_, _, err := runCLI(t, "policy", "explain", "--url", u, "--admin-token", demoTokenFor(t, u, "case-officer"), "--persona", "analyst", "--field", "Person.address")
		if err == nil || !strings.Contains(err.Error(), "403 FORBIDDEN") {
			t.Fatalf("explain as the case officer: %v", err)
		}
	})
}

func demoTokenFor(t *testing.T, base, persona string) string {
	t.Helper()
	c, err := newGatewayClient(context.Background(), "test", base, "", persona)
	if err != nil {
		t.Fatal(err)
	}
	return c.token
}

// TestDemoPrintsTheAccessLog: what the demo prints at start is enough to
// read its access log with the CLI.
func TestDemoPrintsTheAccessLog(t *testing.T) {
	cleanEnv(t)
	t.Setenv(config.EnvAccessLogKey, "")
	u, gw := demoGateway(t)
	where, key := gw.AccessLogLocation(), gw.DemoAccessLogKey()
	var banner bytes.Buffer
	printDemoAccessLog(&banner, where, key, u)
	for _, want := range []string{where, "export KOMMUNGRAF_ACCESS_LOG_KEY=" + key + " ", "--jsonl " + where, "--persona security-officer --url " + u} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, banner.String())
		}
	}
	if filepath.Base(where) != "access.jsonl" || key == "" {
		t.Fatalf("location %q, key %q", where, key)
	}

	p := someone(t)
	req, _ := http.NewRequest("POST", u+"/graphql", strings.NewReader(`{"query":"{ person(personalNumber: \"`+p.PersonalNumber+`\") { givenName } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+demoTokenFor(t, u, "case-officer"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), p.GivenName) {
		t.Fatalf("the query: %s", body)
	}
	if err := gw.AccessLog().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvAccessLogKey, key)
	out, errOut, err := runCLI(t, "access-log", "--person", p.PersonalNumber, "--jsonl", where)
	if err != nil || !strings.Contains(out, "demo-case-officer") || !strings.Contains(errOut, "1 entries") {
		t.Fatalf("access-log --jsonl: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(out, " CET ") && !strings.Contains(out, " CEST ") {
		t.Fatalf("times without their zone:\n%s", out)
	}

	t.Run("asking the gateway", func(t *testing.T) {
		t.Setenv(config.EnvAccessLogKey, "") // the gateway hashes
		out, errOut, err := runCLI(t, "access-log", "--person", p.PersonalNumber, "--url", u, "--persona", "security-officer")
		if err != nil || !strings.Contains(out, "demo-case-officer") || !strings.Contains(errOut, "1 entries") {
			t.Fatalf("access-log --url: %v\n%s\n%s", err, out, errOut)
		}
	})
}

func TestLocalTime(t *testing.T) {
	for _, c := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 12, 6, 14, 20, 29, 0, time.UTC), "2026-12-06 15:20:29 CET"},
		{time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC), "2026-07-01 12:00:00 CEST"},
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), "2026-03-29 03:00:00 CEST"}, // the hour that does not exist in Sweden
		{time.Time{}, "-"},
	} {
		if got := localTime(c.in); got != c.want {
			t.Errorf("localTime(%v) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := apiTime("2026-12-06T14:20:29.5Z"); got != "2026-12-06 15:20:29 CET" {
		t.Errorf("apiTime = %q", got)
	}
	if got := apiTime("not a time"); got != "not a time" {
		t.Errorf("apiTime of a non-time = %q", got)
	}
}

// TestBinaryCarriesTZData: the zone data is linked in, so a machine
// without /usr/share/zoneinfo (a distroless image) still prints Stockholm
// time.
func TestBinaryCarriesTZData(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the binary's packages")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if !strings.Contains("\n"+string(out), "\ntime/tzdata\n") {
		t.Fatal("kommungraf does not link time/tzdata")
	}
}

func TestLogOverrides(t *testing.T) {
	t.Setenv(config.EnvDatabaseURL, "postgres://u@127.0.0.1:5432/skola")
	t.Setenv(config.EnvRedisURL, "")
	t.Setenv(config.EnvRequireApproval, "")
	var buf bytes.Buffer
	logOverrides(slog.New(slog.NewTextHandler(&buf, nil)), config.Demo())
	if !strings.Contains(buf.String(), "school database: KOMMUNGRAF_DATABASE_URL overrides the demo's embedded SQLite database") ||
		strings.Contains(buf.String(), "127.0.0.1:5432") {
		t.Fatalf("log:\n%s", buf.String())
	}
}

// TestGatewayClientRefusesRedirects: a redirect would re-send the body (a
// personnummer) and could carry the credential elsewhere; the client stops.
func TestGatewayClientRefusesRedirects(t *testing.T) {
	cleanEnv(t)
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	_, _, err := runCLI(t, "access-log", "--url", redirecting.URL, "--token", "t", "--person", someone(t).PersonalNumber)
	if err == nil || !strings.Contains(err.Error(), "redirected") {
		t.Fatalf("err %v, want a refused redirect", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
}
