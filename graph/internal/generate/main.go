// Command generate is `go generate` for graph/: gqlgen (configured by
// gqlgen.yml, as its CLI would be) with Kommungraf's resource plugin, which
// binds the fields marked @resource to the source declarations in
// schema/*.yaml. Run from the repository root (graph/generate.go does).
// A declaration that does not fit the schema fails the run with every
// problem listed, file and line, and nothing generated is kept.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/99designs/gqlgen/plugin/modelgen"

	"github.com/kommungraf/kommungraf/graph/internal/resourceplugin"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/loaders"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "go generate:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.LoadConfig("gqlgen.yml")
	if err != nil {
		return fmt.Errorf("gqlgen.yml: %w", err)
	}
	files, err := declarations("schema")
	if err != nil {
		return err
	}
	// The records' code of a previous run would not compile against the
	// models gqlgen is about to regenerate: it goes first, as gqlgen's own
	// outputs do.
	_ = os.Remove(filepath.Join(cfg.Model.Dir(), resourceplugin.RecordsFile))
	rp := resourceplugin.New(files, loaders.Builtins())
	// gqlgen's models, but each nested part's type that carries data
	// subjects gets a field for them (resourceplugin.MutateModels).
	models := modelgen.New().(*modelgen.Plugin)
	models.MutateHook = rp.MutateModels
	return api.Generate(cfg, api.PrependPlugin(rp), api.ReplacePlugin(models))
}

// declarations reads dir/*.yaml and the WSDL files beside them
// (dir/*.wsdl), which a SOAP declaration names; sorted, named from the
// repository root. The gateway gets them all from graph/declared.
func declarations(dir string) ([]declare.File, error) {
	var names []string
	for _, pattern := range []string{"*.yaml", "*.wsdl"} {
		found, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		names = append(names, found...)
	}
	sort.Strings(names)
	files := make([]declare.File, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		files = append(files, declare.File{Name: filepath.ToSlash(n), Data: data})
	}
	return files, nil
}
