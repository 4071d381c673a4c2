package gateway_test

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/loaders"
)

// snippet is a fenced block of the README with the marker before it.
type snippet struct {
	marker, arg, text string
	line              int
}

var markerRE = regexp.MustCompile(`^<!-- (file|lines of|tutorial query|the error of a typo)(?:: (.*?))? -->$`)

// readmeSnippets returns the README's marked blocks of the "Add a system"
// tutorial.
func readmeSnippets(t *testing.T) []snippet {
	t.Helper()
	f, err := os.Open("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []snippet
	var cur *snippet
	inBlock := false
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil:
			if m := markerRE.FindStringSubmatch(line); m != nil {
				cur = &snippet{marker: m[1], arg: m[2], line: n}
			}
		case !inBlock && strings.HasPrefix(line, "```"):
			inBlock = true
			b.Reset()
		case inBlock && line == "```":
			cur.text = b.String()
			out = append(out, *cur)
			cur, inBlock = nil, false
		case inBlock:
			b.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTheTutorialFollowsTheRealFiles: every file the README's "Add a
// system" quotes is quoted as it is (whole files exactly, policy lines
// line by line), its example error is the one a typo really gives, and
// its query, as the case officer against the demo, makes one pickups call.
func TestTheTutorialFollowsTheRealFiles(t *testing.T) {
	snippets := readmeSnippets(t)
	kinds := map[string]int{}
	for _, s := range snippets {
		kinds[s.marker]++
		switch s.marker {
		case "file":
			data, err := os.ReadFile("../../../../" + s.arg)
			if err != nil {
				t.Fatalf("README.md:%d quotes %s: %v", s.line, s.arg, err)
			}
			if string(data) != s.text {
				t.Errorf("README.md:%d quotes %s, which differs from the file", s.line, s.arg)
			}
		case "lines of":
			data, err := os.ReadFile("../../../../" + s.arg)
			if err != nil {
				t.Fatalf("README.md:%d quotes %s: %v", s.line, s.arg, err)
			}
			lines := strings.Split(string(data), "\n")
			for _, l := range strings.Split(strings.TrimSuffix(s.text, "\n"), "\n") {
				if !containsLine(lines, l) {
					t.Errorf("README.md:%d quotes a line %s does not have: %q", s.line, s.arg, l)
				}
			}
		case "the error of a typo":
			data, err := os.ReadFile("../../../../schema/avfall.yaml")
			if err != nil {
				t.Fatal(err)
			}
			typo := strings.Replace(string(data), "type: WastePickup", strings.TrimSpace(s.arg), 1)
			// Every declaration, as go generate reads them, with the typo in avfall's.
			_, err = declare.Load(withFile(declared.Files(), "schema/avfall.yaml", []byte(typo)),
				graph.NewExecutableSchema(graph.Config{}).Schema(), loaders.Builtins(), connect.CheckParts)
			if got := "go generate: " + errString(err) + "\n"; got != s.text {
				t.Errorf("README.md:%d shows the error\n%s\nbut the typo gives\n%s", s.line, s.text, got)
			}
		case "tutorial query":
			d := startDemo(t, nil, 0, false)
			raw := postAs(t, d, "case-officer", "tutorial", s.text)
			var r response
			if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 || !strings.Contains(string(raw), `"wastePickups":[{"fraction"`) {
				t.Fatalf("the tutorial's query answered %s", raw)
			}
			_, stats := getBody(t, d.srv.URL+"/demo/upstream-stats")
			var counts map[string]map[string]struct{ Calls, Keys int64 }
			if err := json.Unmarshal([]byte(stats), &counts); err != nil {
				t.Fatal(err)
			}
			if c := counts["avfall"]["pickups"]; c.Calls != 1 || c.Keys < 2 {
				t.Errorf("/demo/upstream-stats after the tutorial's query: avfall pickups %+v, want one call for all the properties", c)
			}
		}
	}
	for _, k := range []string{"file", "lines of", "the error of a typo", "tutorial query"} {
		if kinds[k] == 0 {
			t.Errorf("the README's tutorial has no %q block", k)
		}
	}
	if kinds["file"] < 2 {
		t.Error("the tutorial quotes fewer than the declaration and the schema")
	}
}

func containsLine(lines []string, l string) bool {
	for _, x := range lines {
		if x == l {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
