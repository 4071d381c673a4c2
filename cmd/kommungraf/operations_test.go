package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOperationsPushAndList: `kommungraf operations push` registers a
// file's operations on a running gateway and prints their ids;
// `operations list` shows them beside the demo's; a bad file names its
// place and registers nothing; the command needs an administrator.
func TestOperationsPushAndList(t *testing.T) {
	url := cliGateway(t)
	t.Setenv("KOMMUNGRAF_TOKEN", "")
	dir := t.TempDir()
	good := filepath.Join(dir, "units.graphql")
	if err := os.WriteFile(good, []byte("query UnitNames { schoolUnits(first: 5) { edges { node { name } } } }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.graphql")
	if err := os.WriteFile(bad, []byte("query Bad {\n  schoolUnits { nope }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"operations"}, args...), stdio{in: strings.NewReader(""), out: &out, err: &errOut})
		return out.String() + errOut.String(), err
	}
	out, err := run("push", good, "--url", url, "--persona", "security-officer")
	if err != nil || !regexp.MustCompile(`(?m)^[0-9a-f]{64}\s+UnitNames\s+4\s+demo-security-officer$`).MatchString(out) {
		t.Fatalf("push: %v\n%s", err, out)
	}
	out, err = run("push", good, bad, "--url", url, "--persona", "security-officer")
	if err == nil || !strings.Contains(err.Error(), "bad.graphql:2") {
		t.Fatalf("push of a bad file: %v\n%s", err, out)
	}
	if _, err := run("push", good, "--url", url, "--persona", "case-officer"); err == nil || !strings.Contains(err.Error(), "FORBIDDEN") {
		t.Fatalf("push by a case officer: %v", err)
	}
	out, err = run("list", "--url", url, "--persona", "security-officer")
	if err != nil || !strings.Contains(out, "UnitNames") || !strings.Contains(out, "OpenSchoolUnits") || strings.Contains(out, "Bad") {
		t.Fatalf("list: %v\n%s", err, out)
	}
}
