package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// without is files less the one named.
func without(files []declare.File, name string) []declare.File {
	var out []declare.File
	for _, f := range files {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}

// TestStartRefusesABuiltinSystemOutOfStepWithItsDeclaration: the four
// built-in systems are declared like the others (schema/<name>.yaml,
// builtin: true), and the Go code and the declarations must agree: a
// built-in system without its declaration, a Go loader without its
// resource, a declared Go loader that does not exist, a builtin system
// without a Go client, and a Go loader's level-3 records left unsealed
// each stop the start with a located message, before anything runs.
func TestStartRefusesABuiltinSystemOutOfStepWithItsDeclaration(t *testing.T) {
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile("../../../../" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	geodata, folkbokforing := read("schema/geodata.yaml"), read("schema/folkbokforing.yaml")
	replace := func(src, old, new string) []byte {
		t.Helper()
		if !strings.Contains(src, old) {
			t.Fatalf("the declaration has no %q", old)
		}
		return []byte(strings.Replace(src, old, new, 1))
	}
	for _, tc := range []startCase{
		{
			name:         "a built-in system without its declaration",
			declarations: without(declared.Files(), "schema/geodata.yaml"),
			want:         []string{"source declarations: the built-in system geodata has no declaration (schema/geodata.yaml with builtin: true)"},
		},
		{
			name: "a Go loader without its resource",
			declarations: withFile(declared.Files(), "schema/geodata.yaml",
				replace(geodata, "  owners:\n", "  lagfart:\n")),
			want: []string{
				"schema/geodata.yaml:7: resource geodata.owners (a Go loader) is not declared",
				"schema/geodata.yaml:33: resource geodata.lagfart has a builtin part, but no Go loader serves it",
			},
		},
		{
			name: "a built-in system no Go client has",
			declarations: append(declared.Files(), declare.File{Name: "schema/sopor.yaml", Data: []byte(
				"system: sopor\nowner: Sopor\nconnector: http\nbuiltin: true\nprobe: health\nresources:\n  bins:\n    type: String\n    list: true\n    builtin: { form: one }\n")}),
			want: []string{"schema/sopor.yaml:1: system sopor says builtin: true, but Kommungraf has no Go client of that name (built in: etjanst, folkbokforing, geodata, skoldatabas)"},
		},
		{
			name: "a Go loader's level-3 records left unsealed",
			declarations: withFile(declared.Files(), "schema/folkbokforing.yaml",
				replace(folkbokforing, "    level3: true\n", "    level3: false\n")),
			want: []string{"schema/folkbokforing.yaml:", "resource folkbokforing.person: type Person has level-3 or health data, so its records must be sealed in the cache: set level3: true"},
		},
		{
			name: "a Go record that names no data subjects",
			declarations: withFile(declared.Files(), "schema/geodata.yaml",
				replace(geodata, "    builtin: { form: batch, maxKeys: 100 }\n", "    builtin: { form: batch, maxKeys: 100 }\n    subjects: model\n")),
			want: []string{"resource geodata.property: subjects: model, but sources/model has no record of type Property that names its data subjects"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { failStart(t, tc) })
	}
}

// TestAGoLoaderKeepsItsDeclaredMaxKeys: a Go batch loader asks for at
// most its declared maxKeys per call (schema/geodata.yaml's property), the
// calls of one batch sent together; a level stays one batch.
func TestAGoLoaderKeepsItsDeclaredMaxKeys(t *testing.T) {
	b, err := os.ReadFile("../../../../schema/geodata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const maxKeys = 7
	old := "    builtin: { form: batch, maxKeys: 100 }\n"
	if !strings.Contains(string(b), old) {
		t.Fatalf("schema/geodata.yaml has no %q", old)
	}
	geodata := strings.Replace(string(b), old, fmt.Sprintf("    builtin: { form: batch, maxKeys: %d }\n", maxKeys), 1)
	w := sim.NewWorld(sim.WorldOptions{Seed: 7, People: 400})
	cfg := config.Demo()
	cfg.Sources.Skoldatabas.QueryTimeout = 15 * time.Second // as startDemo, for -race
	d := serve(t, cfg, gateway.Options{
		Demo: true, World: w, Declarations: withFile(declared.Files(), "schema/geodata.yaml", []byte(geodata)),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	d.gw.Sim().Stats.Reset()
	raw := postAs(t, d, "case-officer", "maxkeys", `{ errands(first: 50, caseType: "BYGGLOV") { edges { node { property { objectId designation } } } } }`)
	var r struct {
		Data struct {
			Errands struct {
				Edges []struct {
					Node struct {
						Property *struct{ ObjectID, Designation string }
					}
				}
			}
		}
		Errors []gqlError
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 {
		t.Fatalf("answer %.2000s (%v)", raw, err)
	}
	ids := map[string]bool{}
	for _, e := range r.Data.Errands.Edges {
		if p := e.Node.Property; p != nil {
			if p.ObjectID == "" || p.Designation == "" {
				t.Fatalf("property %+v: want its designation", p)
			}
			ids[p.ObjectID] = true
		}
	}
	if len(ids) <= maxKeys {
		t.Fatalf("%d distinct properties: the world gives too few to split", len(ids))
	}
	want := (len(ids) + maxKeys - 1) / maxKeys
	if got := d.gw.Sim().Stats.Calls("geodata", "items"); got != int64(want) {
		t.Errorf("%d properties in %d items calls, want %d (at most %d keys each)", len(ids), got, want, maxKeys)
	}
}
