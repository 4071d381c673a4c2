package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// generatedLine is Go's convention for generated files
// (https://go.dev/s/generatedcode).
var generatedLine = regexp.MustCompile(`^// Code generated .* DO NOT EDIT\.$`)

// TestDeclaredSystemsHaveNoHandWrittenGo: a system declared without
// builtin: true (the waste-collection system, its emptyings register) is
// named in no Go file of the gateway but generated ones. Only the
// simulators (sources/sim, and the sim command that starts them) and tests
// may name it, as `git grep -il avfall -- '*.go'` would show.
func TestDeclaredSystemsHaveNoHandWrittenGo(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	files, err := declarations(filepath.Join(root, "schema"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sys := range set.Systems {
		if !sys.Builtin {
			names = append(names, strings.ToLower(sys.Name))
		}
	}
	if len(names) < 2 {
		t.Fatalf("declared systems without Go: %v, want at least avfall and tomningar", names)
	}
	generated := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator)))
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") ||
			strings.HasPrefix(rel, "sources/sim/") || rel == "cmd/kommungraf/sim.go" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lower := bytes.ToLower(data)
		for _, name := range names {
			if !bytes.Contains(lower, []byte(name)) {
				continue
			}
			first, _, _ := bytes.Cut(data, []byte("\n"))
			if !generatedLine.Match(first) {
				t.Errorf("%s names the declared system %s but is not generated (its first line is %q)", rel, name, first)
			} else {
				generated++
			}
			break
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The bound fields' resolvers, the records' code, the declarations'
	// copy and gqlgen's executor at least.
	if generated < 5 {
		t.Errorf("%d generated files name the declared systems, want at least 5: the walk missed the repository", generated)
	}
}
