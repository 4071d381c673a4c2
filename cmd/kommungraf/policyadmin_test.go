package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// cliGateway is a demo gateway with approval required, served over HTTP.
func cliGateway(t *testing.T) string {
	t.Helper()
	cfg := config.Demo()
	on := true
	cfg.Authz.RequireApproval = &on
	u, _ := serveGateway(t, cfg, gateway.Options{Demo: true, World: sim.NewWorld(sim.WorldOptions{Seed: 3, People: 300})})
	return u
}

func TestPolicyAdminCommands(t *testing.T) {
	url := cliGateway(t)
	t.Setenv("KOMMUNGRAF_TOKEN", "")
	dir := t.TempDir()
	run := func(t *testing.T, persona string, stdin string, sub string, args ...string) (string, string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(args, "--url", url, "--persona", persona)
		handled, err := policyAdminTo(context.Background(), &out, &errOut, strings.NewReader(stdin), sub, args)
		if !handled {
			t.Fatalf("policy %s not handled", sub)
		}
		return out.String(), errOut.String(), err
	}
	must := func(t *testing.T, persona, sub string, args ...string) string {
		t.Helper()
		out, _, err := run(t, persona, "", sub, args...)
		if err != nil {
			t.Fatalf("policy %s %v: %v", sub, args, err)
		}
		return out
	}

	policy, notes, err := run(t, "security-officer", "", "show")
	if err != nil || !strings.Contains(notes, "policy version 1 (approval required: true)") || !strings.Contains(policy, "p, role:case-officer, Address.*") {
		t.Fatalf("show: %v\n%s\n%s", err, notes, policy)
	}
	withdrawn := strings.Replace(policy, "p, role:case-officer, Address.*, read, bygglov, clearance, allow\n", "", 1)
	file := filepath.Join(dir, "policy.csv")
	if err := os.WriteFile(file, []byte(withdrawn), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("dry-run", func(t *testing.T) {
		out := must(t, "security-officer", "dry-run", "--file", file)
		if !strings.Contains(out, "case-officer") || !strings.Contains(out, "Address.city") || !strings.Contains(out, "allow   deny") ||
			!strings.Contains(out, "would have been answered differently") {
			t.Fatalf("dry-run output:\n%s", out)
		}
		out, _, err := run(t, "security-officer", withdrawn, "dry-run", "--file", "-", "--json")
		var rep map[string]any
		if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep["changes"].([]any)) == 0 {
			t.Fatalf("dry-run --json from stdin: %v\n%s", err, out)
		}
	})
	t.Run("invalid lines are listed", func(t *testing.T) {
		_, _, err := run(t, "security-officer", policy+"p, role:x, Address.city, read\n", "propose", "--file", "-", "--comment", "broken")
		if err == nil || !strings.Contains(err.Error(), "422 INVALID_POLICY") || !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), "4 fields") {
			t.Fatalf("propose of an invalid file: %v", err)
		}
	})
	t.Run("not for a case officer", func(t *testing.T) {
		if _, _, err := run(t, "case-officer", "", "versions"); err == nil || !strings.Contains(err.Error(), "403 FORBIDDEN") {
			t.Fatalf("versions as the case officer: %v", err)
		}
	})

	t.Run("propose, approve, restore, reject", func(t *testing.T) {
		out := must(t, "security-officer", "propose", "--file", file, "--comment", "no addresses", "--base", "1")
		if !strings.Contains(out, "proposal #1 is waiting for a second security officer") || !strings.Contains(out, "- p, role:case-officer, Address.*") {
			t.Fatalf("propose:\n%s", out)
		}
		if out := must(t, "security-officer", "proposals", "--status", "proposed"); !strings.Contains(out, "no addresses") {
			t.Fatalf("proposals:\n%s", out)
		}
		if _, _, err := run(t, "security-officer", "", "approve", "1"); err == nil || !strings.Contains(err.Error(), "SELF_APPROVAL") {
			t.Fatalf("self-approval: %v", err)
		}
		if out := must(t, "security-officer-2", "approve", "1"); !strings.Contains(out, "proposal #1 approved: version 2 is live") {
			t.Fatalf("approve:\n%s", out)
		}
		if _, _, err := run(t, "security-officer", "", "propose", "--file", file, "--base", "1"); err == nil || !strings.Contains(err.Error(), "409 STALE_VERSION") {
			t.Fatalf("a stale proposal: %v", err)
		}
		if out := must(t, "security-officer", "restore", "1", "--comment", "addresses back"); !strings.Contains(out, "proposal #2 is waiting") {
			t.Fatalf("restore:\n%s", out)
		}
		if out := must(t, "security-officer-2", "reject", "2", "--reason", "not yet"); !strings.Contains(out, "proposal #2 rejected") {
			t.Fatalf("reject:\n%s", out)
		}
		out = must(t, "security-officer", "versions")
		if !strings.Contains(out, "VERSION") || !strings.Contains(out, "demo-security-officer-2") || !strings.Contains(out, "no addresses") {
			t.Fatalf("versions:\n%s", out)
		}
		out = must(t, "security-officer", "audit")
		for _, action := range []string{"reject", "restore", "approve", "propose", "apply"} {
			if !strings.Contains(out, action) {
				t.Fatalf("audit lacks %s:\n%s", action, out)
			}
		}
	})

	t.Run("usage", func(t *testing.T) {
		if handled, _ := policyAdminTo(context.Background(), io.Discard, io.Discard, nil, "explain", nil); handled {
			t.Fatal("policyAdmin took a command that is not its own")
		}
		for _, args := range [][]string{{"approve"}, {"approve", "1", "2"}, {"versions", "extra"}} {
			if _, _, err := run(t, "security-officer", "", args[0], args[1:]...); err == nil {
				t.Errorf("%v: no error", args)
			}
		}
	})
}
