package graph_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/kommungraf/kommungraf/graph"
)

// update rewrites the golden files under testdata.
var update = flag.Bool("update", false, "rewrite graph/testdata/schema.golden.graphqls")

// TestSchemaGolden pins the served schema, the product's contract: any
// change to a type, a field, a description or a classification shows up
// here as a diff to review. Run go test ./graph -update to accept it.
func TestSchemaGolden(t *testing.T) {
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(graph.NewExecutableSchema(graph.Config{}).Schema())
	got := buf.Bytes()
	path := filepath.Join("testdata", "schema.golden.graphqls")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test ./graph -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		line, g, w := firstDifference(got, want)
		t.Errorf("the printed schema differs from %s at line %d (run go test ./graph -update after reviewing the change)\n got: %q\nwant: %q",
			path, line, g, w)
	}
}

// firstDifference returns the first line (1-based) where a and b differ, and
// that line of each ("" past the end).
func firstDifference(a, b []byte) (int, string, string) {
	al, bl := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y []byte
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if i >= len(al) || i >= len(bl) || !bytes.Equal(x, y) {
			return i + 1, string(x), string(y)
		}
	}
	return 0, "", ""
}
