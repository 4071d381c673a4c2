package gateway_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestAlertRulesNameExportedMetrics: every metric the alerting rules and
// the dashboard use is one the gateway's code registers, so that renaming
// a metric cannot silently blind an alert (promtool's own tests feed the
// rules made-up series; they cannot know). CI also runs promtool check
// rules and promtool test rules.
func TestAlertRulesNameExportedMetrics(t *testing.T) {
	root := filepath.Join("..", "..", "..", "..")
	defined := map[string]bool{}
	literal := regexp.MustCompile(`"(kommungraf_[a-z_]+)"`)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllSubmatch(src, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`kommungraf_[a-z_]+`)
	for _, file := range []string{"deploy/prometheus/kommungraf-rules.yml", "deploy/grafana/kommungraf.json"} {
		src, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(file, ".json") {
			checkDashboard(t, src)
		}
		var names []string
		for _, m := range used.FindAll(src, -1) {
			name := string(m)
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if n, ok := strings.CutSuffix(name, suffix); ok && defined[n] {
					name = n
				}
			}
			if !defined[name] && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			t.Errorf("%s uses metrics no code registers: %v", file, names)
		}
	}
}

// checkDashboard: the Grafana dashboard is JSON whose every panel but the
// rows has at least one query, each with an expression.
func checkDashboard(t *testing.T, src []byte) {
	t.Helper()
	var d struct {
		Title  string
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(src, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if d.Title == "" || len(d.Panels) == 0 {
		t.Fatal("dashboard: no title or no panels")
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("dashboard panel %q has an empty query", p.Title)
			}
		}
	}
}
