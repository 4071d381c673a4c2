package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestSimCommand runs `kommungraf sim` on free ports and calls every
// simulator it lists, the waste-collection system's health probe and data
// included.
func TestSimCommand(t *testing.T) {
	out, _, err := runCLI(t, "sim", "--help")
	if err != nil || !strings.Contains(out, "-avfall-addr") || !strings.Contains(out, "127.0.0.1:8084") || !strings.Contains(out, "waste-collection") {
		t.Fatalf("sim --help: %v\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		args := []string{"--seed", "3", "--people", "200"}
		for _, name := range []string{"navet", "etjanst", "geodata", "avfall"} {
			args = append(args, "--"+name+"-addr", "127.0.0.1:0")
		}
		err := simulate(ctx, args, stdio{in: strings.NewReader(""), out: io.Discard, err: pw})
		pw.Close()
		done <- err
	}()

	// The command lists each system with its URL, then where the counters are.
	urls := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], "http://127.0.0.1:") {
			urls[f[0]] = f[1]
		}
		if strings.HasPrefix(line, "counters at /__stats") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // whatever else it says
	if len(urls) != 4 || urls["avfall"] == "" {
		t.Fatalf("the command listed %v, want four systems", urls)
	}
	for _, c := range []struct{ url, want string }{
		{urls["avfall"] + "/api/v1/health", `{"status":"UP"}`},
		{urls["avfall"] + "/api/v1/pickups?limit=1", `"fraction":"REST"`},
		{urls["etjanst"] + "/api/v1/errands?limit=1", `"errands":[{`},
		{urls["geodata"] + "/conformance", `"conformsTo"`},
		// One Stats for all: the registry's server counts the waste-collection calls too.
		{urls["folkbokforing"] + "/__stats", `"avfall":{"health":{"calls":1,"keys":0},"pickups":{"calls":1,"keys":0}}`},
	} {
		path, want := c.url, c.want
		resp, err := http.Get(path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %v %s, want %s", path, resp.StatusCode, err, body, want)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("sim ended with %v", err)
	}
}
