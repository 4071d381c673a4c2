package graph_test

import (
	"bytes"
	"flag"
	"path/filepath"
	"testing"

	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// update rewrites the golden files under testdata.
var update = flag.Bool("update", false, "rewrite graph/testdata/schema.golden.graphqls")

// TestSchemaGolden pins the served schema, the product's contract: any
// change to a type, a field, a description or a classification shows up
// here as a diff to review. Run go test ./graph -update to accept it.
func TestSchemaGolden(t *testing.T) {
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(graph.NewExecutableSchema(graph.Config{}).Schema())
	testenv.Golden(t, filepath.Join("testdata", "schema.golden.graphqls"), buf.Bytes(), *update)
}
