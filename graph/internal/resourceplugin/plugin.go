// Package resourceplugin is the gqlgen plugin that binds schema fields to
// declared source resources. It reads @resource in the schema and the
// declarations (schema/*.yaml, checked by sources/declare.Load, as the
// gateway's start does), marks the bound fields as resolvers, writes their
// resolver bodies (plugin.ResolverImplementer), and writes, next to the
// generated models, each declared record's DecodeRecord, the DataSubjects
// of those that hold personal data, the RowAttribute of those with @row,
// and DeclaredRecords for authz's Bind;
// the declarations themselves go to graph/declared for the gateway.
// Nothing of a declared system is written by hand.
package resourceplugin

import (
	"errors"
	"fmt"
	"go/format"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/99designs/gqlgen/codegen/templates"
	"github.com/99designs/gqlgen/plugin"
	"github.com/99designs/gqlgen/plugin/modelgen"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
)

// Import paths the generated code calls.
const (
	loadersPkg = "github.com/kommungraf/kommungraf/sources/loaders"
	modelPkg   = "github.com/kommungraf/kommungraf/sources/model"
)

// Output files, relative to the repository root.
const (
	// RecordsFile is written into the models' package.
	RecordsFile = "declared_gen.go"
	// DeclaredFile holds the declarations for the gateway's start.
	DeclaredFile = "graph/declared/declared_gen.go"
)

// Plugin binds @resource fields; see the package documentation.
type Plugin struct {
	files    []declare.File
	builtins []declare.Builtin
	set      *declare.Set
	bindings map[fieldKey]declare.Binding
	// bodies are the resolver bodies, computed once the code's types are
	// known (GenerateCode) and handed to resolvergen through Implement.
	bodies map[fieldKey]func() string
	// whole are the schema files whose every resolver is bound: their
	// resolver files hold nothing written by hand (WholeFiles).
	whole []string
	// nested are the types of the declarations' nested parts, by name.
	nested map[string]*nestedType
	// subjectsType is sources/model's Subjects, for MutateModels; err is
	// why it could not be read, reported by GenerateCode.
	subjectsType types.Type
	err          error
}

// nestedType is the type of a declaration's nested part: its mapping (as
// the first resource declares it; declare.Check has every one map all the
// type's fields) and whether it holds personal data, directly or in its own
// nested parts, so that it carries the enclosing record's data subjects.
type nestedType struct {
	name     string
	part     declare.FieldMap
	res      *declare.Resource
	subjects bool
}

// subjectsField is the unexported field of a nested type's model that
// holds the enclosing record's data subjects (nil: not decoded as part of
// a record, an unknown person).
const subjectsField = "declaredSubjects"

type fieldKey struct{ typ, field string }

// New returns the plugin for the declaration files (schema/*.yaml, and the
// WSDLs beside them, named from the repository root) and the hand-written
// loaders a field may bind to.
func New(files []declare.File, builtins []declare.Builtin) *Plugin {
	return &Plugin{files: files, builtins: builtins}
}

// Name implements plugin.Plugin.
func (*Plugin) Name() string { return "resourceplugin" }

// MutateConfig checks the declarations against the schema (every problem,
// located) and makes every bound field a resolver.
func (p *Plugin) MutateConfig(cfg *config.Config) error {
	set, err := declare.Load(p.files, cfg.Schema, p.builtins, connect.CheckParts)
	if err != nil {
		return err
	}
	p.set = set
	p.nested = nestedTypes(set, cfg)
	if pkg := cfg.Packages.LoadWithTypes(modelPkg); pkg == nil || pkg.Types == nil || pkg.Types.Scope().Lookup("Subjects") == nil {
		p.err = fmt.Errorf("resourceplugin: cannot read %s.Subjects", modelPkg)
	} else {
		p.subjectsType = pkg.Types.Scope().Lookup("Subjects").Type()
	}
	if cfg.Directives == nil {
		cfg.Directives = map[string]config.DirectiveConfig{}
	}
	cfg.Directives[declare.ResourceDirective] = config.DirectiveConfig{SkipRuntime: true}
	p.bindings = map[fieldKey]declare.Binding{}
	for _, b := range declare.Bindings(cfg.Schema) {
		p.bindings[fieldKey{b.Type, b.Field}] = b
		entry := cfg.Models[b.Type]
		if entry.Fields == nil {
			entry.Fields = map[string]config.TypeMapField{}
		}
		f := entry.Fields[b.Field]
		f.Resolver = true
		entry.Fields[b.Field] = f
		cfg.Models[b.Type] = entry
	}
	return nil
}

// nestedTypes finds the types of the declarations' nested parts, and which
// of them carry data subjects.
func nestedTypes(set *declare.Set, cfg *config.Config) map[string]*nestedType {
	out := map[string]*nestedType{}
	var walk func(r *declare.Resource, typ string, fields []declare.FieldMap)
	walk = func(r *declare.Resource, typ string, fields []declare.FieldMap) {
		def := cfg.Schema.Types[typ]
		if def == nil {
			return
		}
		for _, fm := range fields {
			f := def.Fields.ForName(fm.Name)
			if !fm.Nested || f == nil {
				continue
			}
			name := f.Type.Name()
			if out[name] == nil {
				out[name] = &nestedType{name: name, part: fm, res: r}
			}
			walk(r, name, fm.Fields)
		}
	}
	for _, sys := range set.Systems {
		for _, r := range sys.Resources {
			if r.Builtin == nil {
				walk(r, r.Type, r.Fields)
			}
		}
	}
	// A type carries subjects when it holds personal data or one of its
	// nested parts' types does (which is set from it); to a fixed point, as
	// parts nest.
	for changed := true; changed; {
		changed = false
		for _, n := range out {
			if n.subjects {
				continue
			}
			def := cfg.Schema.Types[n.name]
			n.subjects = def.Directives.ForName("personal") != nil
			for _, f := range def.Fields {
				n.subjects = n.subjects || f.Directives.ForName("personal") != nil || f.Directives.ForName("health") != nil
				if fm := n.part.Field(f.Name); fm != nil && fm.Nested && out[f.Type.Name()] != nil && out[f.Type.Name()].subjects {
					n.subjects = true
				}
			}
			changed = changed || n.subjects
		}
	}
	return out
}

// MutateModels is modelgen's build hook: each nested type that carries
// data subjects gets an unexported field for them, which the enclosing
// record's DecodeRecord sets and the type's DataSubjects returns.
func (p *Plugin) MutateModels(b *modelgen.ModelBuild) *modelgen.ModelBuild {
	for _, m := range b.Models {
		if n := p.nested[m.Name]; n != nil && n.subjects && p.subjectsType != nil {
			m.Fields = append(m.Fields, &modelgen.Field{
				Description: "The data subjects of the declared record this is a part of (resourceplugin).",
				GoName:      subjectsField,
				Type:        types.NewPointer(p.subjectsType),
				Tag:         `json:"-"`,
			})
		}
	}
	return b
}

// GenerateCode prepares the resolver bodies and writes the records' code
// and the declarations. It runs before resolvergen (the plugin is
// prepended), so a body that cannot be written fails the run before any
// resolver file changes.
func (p *Plugin) GenerateCode(data *codegen.Data) error {
	if p.err != nil {
		return p.err
	}
	var problems []string
	p.bodies = map[fieldKey]func() string{}
	for _, o := range data.Objects {
		for _, f := range o.Fields {
			b, ok := p.bindings[fieldKey{o.Name, f.Name}]
			if !ok {
				continue
			}
			body, err := p.body(data, o, f, b)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s.%s: %v", b.Pos, o.Name, f.Name, err))
				continue
			}
			p.bodies[fieldKey{o.Name, f.Name}] = body
		}
	}
	p.whole = wholeFiles(data, p.bindings)
	if err := p.writeRecords(data); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New("resource bindings:\n  " + strings.Join(problems, "\n  "))
	}
	return p.writeDeclared()
}

// wholeFiles are the schema files (as gqlgen names them) whose resolver
// fields are all bound with @resource, sorted.
func wholeFiles(data *codegen.Data, bindings map[fieldKey]declare.Binding) []string {
	whole := map[string]bool{}
	for _, o := range data.Objects {
		for _, f := range o.Fields {
			if !f.IsResolver || f.Position == nil || f.Position.Src == nil {
				continue
			}
			src := f.Position.Src.Name
			_, bound := bindings[fieldKey{o.Name, f.Name}]
			if prev, seen := whole[src]; !seen || prev {
				whole[src] = bound
			}
		}
	}
	var out []string
	for src, all := range whole {
		if all {
			out = append(out, src)
		}
	}
	sort.Strings(out)
	return out
}

// WholeFiles are the schema files whose resolvers the plugin writes all of
// (after GenerateCode): their resolver files are generated through and
// through, and the generate command marks them so.
func (p *Plugin) WholeFiles() []string { return p.whole }

// Implement gives a bound field its body and every other resolver the one
// it has (gqlgen's default for a new one).
func (p *Plugin) Implement(prev string, f *codegen.Field) string {
	if body, ok := p.bodies[fieldKey{f.Object.Name, f.Name}]; ok {
		return body()
	}
	if prev != "" {
		return prev
	}
	return fmt.Sprintf("panic(fmt.Errorf(\"not implemented: %v - %v\"))", f.GoFieldName, f.Name)
}

// body returns a function that writes a bound field's resolver body; it
// runs while resolvergen renders, so that the imports it names are added
// to the resolver file.
func (p *Plugin) body(data *codegen.Data, o *codegen.Object, f *codegen.Field, b declare.Binding) (func() string, error) {
	var key *codegen.Field
	for _, kf := range o.Fields {
		if kf.Name == b.Key {
			key = kf
		}
	}
	if key == nil || key.IsResolver || key.GoFieldType == codegen.GoFieldMap {
		return nil, fmt.Errorf("the key %s must be a field of the Go type itself, not a resolver", b.Key)
	}
	access := "obj." + key.GoFieldName
	if key.GoFieldType == codegen.GoFieldMethod {
		if key.MethodHasContext || !key.NoErr {
			return nil, fmt.Errorf("the key %s is a method with a context or an error", b.Key)
		}
		access += "()"
	}
	keyType := key.TypeReference.GO
	ptr := false
	if pt, ok := keyType.(*types.Pointer); ok {
		keyType, ptr = pt.Elem(), true
	}
	if basic, ok := keyType.Underlying().(*types.Basic); !ok || basic.Kind() != types.String {
		return nil, fmt.Errorf("the key %s is a %s; keys are strings", b.Key, key.TypeReference.GO)
	}
	elem := f.TypeReference.GO
	for {
		switch t := elem.(type) {
		case *types.Pointer:
			elem = t.Elem()
			continue
		case *types.Slice:
			elem = t.Elem()
			continue
		}
		break
	}
	if _, ok := elem.(*types.Named); !ok {
		return nil, fmt.Errorf("its Go type %s is not a named type", f.TypeReference.GO)
	}
	keyExpr := func() string {
		switch {
		case ptr:
			return templates.CurrentImports.Lookup(loadersPkg) + ".Deref(" + access + ")"
		case types.Identical(keyType, types.Typ[types.String]):
			return access
		default:
			return "string(" + access + ")"
		}
	}
	r := p.set.Resource(b.Resource)
	parents, err := parentArgs(o, r)
	if err != nil {
		return nil, err
	}
	if own := ownArgs(f, r.Paging() != nil); len(own) > 0 || len(parents) > 0 {
		// Its arguments go with the key (declare.ArgsKey): declare.Check
		// has matched them with the call's {args.<name>}.
		bare := keyExpr
		keyExpr = func() string {
			var b strings.Builder
			fmt.Fprintf(&b, "%s.WithArgs(%s", templates.CurrentImports.Lookup(loadersPkg), bare())
			for _, a := range own {
				fmt.Fprintf(&b, ", %q, %s", a.Name, a.VarName)
			}
			for _, pa := range parents {
				b.WriteString(", " + pa)
			}
			b.WriteString(")")
			return b.String()
		}
	}
	if r.Paging() != nil {
		return listingBody(data, f, b, keyExpr)
	}
	fn := "One"
	if b.List {
		fn = "List"
	}
	return func() string {
		loaders := templates.CurrentImports.Lookup(loadersPkg)
		return fmt.Sprintf("return %s.%s[%s](ctx, %q, %s)", loaders, fn, templates.CurrentImports.LookupType(elem), b.Resource, keyExpr())
	}, nil
}

// parentArgs are the parent record's fields the resource's call names
// ({parent.<field>}), each as WithArgs takes it: its key's name and obj's
// Go field. declare.Check has found them scalar fields of the type; here
// they must be plain fields of its Go type, not resolvers or methods.
func parentArgs(o *codegen.Object, r *declare.Resource) ([]string, error) {
	var out []string
	for _, a := range r.Args() {
		if !a.Parent {
			continue
		}
		pf, err := goField(o, a.Name)
		if err != nil {
			return nil, fmt.Errorf("{parent.%s}: %w", a.Name, err)
		}
		out = append(out, fmt.Sprintf("%q, obj.%s", a.Key(), pf.GoFieldName))
	}
	return out, nil
}

// ownArgs are a bound field's arguments that go with its key
// (declare.ArgsKey): all of them, but a listing's first and after.
func ownArgs(f *codegen.Field, listing bool) []*codegen.FieldArgument {
	var out []*codegen.FieldArgument
	for _, a := range f.Args {
		if listing && (a.Name == declare.ArgFirst || a.Name == declare.ArgAfter) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// goField is the Go name of a plain field of a generated object.
func goField(o *codegen.Object, name string) (*codegen.Field, error) {
	for _, f := range o.Fields {
		if f.Name == name {
			if f.IsResolver || f.GoFieldType != codegen.GoFieldVariable {
				return nil, fmt.Errorf("%s.%s must be a plain field of the generated model", o.Name, name)
			}
			return f, nil
		}
	}
	return nil, fmt.Errorf("%s has no field %s", o.Name, name)
}

// listingBody writes the body of a connection field bound to a declared
// listing: resolvers' declaredPage reads first and after as every
// connection's, and loads the window; the body builds the connection of
// the generated types.
func listingBody(data *codegen.Data, f *codegen.Field, b declare.Binding, key func() string) (func() string, error) {
	connObj := data.Objects.ByName(f.TypeReference.Definition.Name)
	if connObj == nil {
		return nil, fmt.Errorf("its type %s is not a generated object", f.TypeReference.Definition.Name)
	}
	edgesF, err := goField(connObj, "edges")
	if err != nil {
		return nil, err
	}
	infoF, err := goField(connObj, "pageInfo")
	if err != nil {
		return nil, err
	}
	totalF, _ := goField(connObj, "totalCount")
	edgeObj := data.Objects.ByName(edgesF.TypeReference.Definition.Name)
	if edgeObj == nil {
		return nil, fmt.Errorf("its edge type %s is not a generated object", edgesF.TypeReference.Definition.Name)
	}
	cursorF, err := goField(edgeObj, "cursor")
	if err != nil {
		return nil, err
	}
	nodeF, err := goField(edgeObj, "node")
	if err != nil {
		return nil, err
	}
	if totalF != nil {
		if pt, ok := totalF.TypeReference.GO.(*types.Pointer); !ok || !types.Identical(pt.Elem(), types.Typ[types.Int]) {
			return nil, fmt.Errorf("%s.totalCount's Go type %s is not *int", connObj.Name, totalF.TypeReference.GO)
		}
	}
	conn, ok1 := f.TypeReference.GO.(*types.Pointer)
	edge, ok2 := edgesF.TypeReference.GO.(*types.Slice)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("the connection %s and its edges %s are not a pointer and a slice", f.TypeReference.GO, edgesF.TypeReference.GO)
	}
	edgeElem, ok := edge.Elem().(*types.Pointer)
	if !ok {
		return nil, fmt.Errorf("its edges' Go type %s is not a slice of pointers", edgesF.TypeReference.GO)
	}
	node, nodePtr := nodeF.TypeReference.GO, false
	if pt, ok := node.(*types.Pointer); ok {
		node, nodePtr = pt.Elem(), true
	}
	var first, after string
	for _, a := range f.Args {
		switch a.Name {
		case declare.ArgFirst:
			first = a.VarName
		case declare.ArgAfter:
			after = a.VarName
		}
	}
	if first == "" || after == "" {
		return nil, fmt.Errorf("a listing's field takes first and after")
	}
	return func() string {
		nodeType := templates.CurrentImports.LookupType(node)
		nodeVal := "n"
		if !nodePtr {
			nodeVal = "*n"
		}
		var b2 strings.Builder
		fmt.Fprintf(&b2, "edges, info, total, err := declaredPage(ctx, %q, %s, %s, %s, func(c string, n *%s) %s {\n", b.Resource, key(), first, after, nodeType, templates.CurrentImports.LookupType(edgeElem))
		fmt.Fprintf(&b2, "\treturn &%s{%s: c, %s: %s}\n})\n", templates.CurrentImports.LookupType(edgeElem.Elem()), cursorF.GoFieldName, nodeF.GoFieldName, nodeVal)
		b2.WriteString("if err != nil {\n\treturn nil, err\n}\n")
		fmt.Fprintf(&b2, "return &%s{%s: edges, %s: info", templates.CurrentImports.LookupType(conn.Elem()), edgesF.GoFieldName, infoF.GoFieldName)
		if totalF != nil {
			fmt.Fprintf(&b2, ", %s: total", totalF.GoFieldName)
		} else {
			b2.WriteString(" /* no totalCount */")
		}
		b2.WriteString("}, nil")
		if totalF == nil {
			return strings.Replace(b2.String(), "edges, info, total, err :=", "edges, info, _, err :=", 1)
		}
		return b2.String()
	}, nil
}

// writeRecords writes, in the models' package, DecodeRecord for each
// declared type, DataSubjects for those with subjects, RowAttribute for
// those with @row, and DeclaredRecords.
func (p *Plugin) writeRecords(data *codegen.Data) error {
	filename := filepath.Join(data.Config.Model.Dir(), RecordsFile)
	type typed struct {
		obj *codegen.Object
		res *declare.Resource
		// nested is set for a nested part's type.
		nested *nestedType
	}
	var decl []typed
	generated := func(r *declare.Resource, typ string) (*codegen.Object, error) {
		o := data.Objects.ByName(typ)
		if o == nil {
			return nil, fmt.Errorf("%s: type %s is not generated", r.Pos, typ)
		}
		named, ok := o.Type.(*types.Named)
		if !ok || named.Obj().Pkg() == nil || named.Obj().Pkg().Path() != data.Config.Model.ImportPath() {
			return nil, fmt.Errorf("%s: type %s is bound to %s; a declared type must be one gqlgen generates in %s (remove its binding)",
				r.Pos, typ, o.Type, data.Config.Model.ImportPath())
		}
		return o, nil
	}
	seen := map[string]bool{}
	for _, sys := range p.set.Systems {
		for _, r := range sys.Resources {
			if seen[r.Type] || r.Builtin != nil { // a Go loader's records are sources/model's
				continue
			}
			seen[r.Type] = true
			o, err := generated(r, r.Type)
			if err != nil {
				return err
			}
			decl = append(decl, typed{obj: o, res: r})
		}
	}
	for _, n := range p.nested {
		o, err := generated(n.res, n.name)
		if err != nil {
			return err
		}
		if n.subjects && n.res.Subjects == nil {
			// declare.Check refuses it; the generated code must not guess.
			return fmt.Errorf("%s: type %s holds personal data in resource %s, which names no subjects", n.part.Pos, n.name, n.res.FullName())
		}
		decl = append(decl, typed{obj: o, res: n.res, nested: n})
	}
	sort.Slice(decl, func(i, j int) bool { return decl[i].obj.Name < decl[j].obj.Name })
	if len(decl) == 0 {
		_ = os.Remove(filename)
		return nil
	}
	var genErr error
	code := func() string {
		var b strings.Builder
		model := templates.CurrentImports.Lookup(modelPkg)
		for _, d := range decl {
			fields, from := d.res.Fields, d.res.FullName()
			if d.nested != nil {
				fields, from = d.nested.part.Fields, "a nested part of "+from
			}
			s, err := p.decodeFunc(data.Objects, d.obj, fields, from, d.nested == nil && d.res.Subjects != nil)
			if err != nil && genErr == nil {
				genErr = err
			}
			b.WriteString(s)
			switch {
			case d.nested != nil && d.nested.subjects:
				s, err := p.nestedSubjectsFuncs(data.Objects, d.obj, d.nested, model)
				if err != nil && genErr == nil {
					genErr = err
				}
				b.WriteString(s)
			case d.nested == nil && d.res.Subjects != nil:
				b.WriteString(p.subjectsFunc(d.obj, d.res, model))
			}
			if row := d.obj.Definition.Directives.ForName("row"); row != nil {
				s, err := rowFunc(d.obj, d.res, row)
				if err != nil && genErr == nil {
					genErr = err
				}
				b.WriteString(s)
			}
		}
		b.WriteString("// DeclaredRecords maps each declared type to a zero record of it, for\n")
		b.WriteString("// authz's Bind beside model.Records.\n")
		b.WriteString("func DeclaredRecords() map[string]any {\n\treturn map[string]any{\n")
		for _, d := range decl {
			fmt.Fprintf(&b, "\t\t%q: (*%s)(nil),\n", d.obj.Name, d.obj.Name)
		}
		b.WriteString("\t}\n}\n\n")
		b.WriteString("// declaredString is a subject's identifier: \"\" for null.\n")
		b.WriteString("func declaredString[S ~string](s *S) string {\n\tif s == nil {\n\t\treturn \"\"\n\t}\n\treturn string(*s)\n}\n")
		return b.String()
	}
	err := templates.Render(templates.Options{
		PackageName:     data.Config.Model.Package,
		Filename:        filename,
		GeneratedHeader: true,
		PackageDoc:      "",
		FileNotice:      "// The declared records (schema/*.yaml), written by graph/internal/resourceplugin.",
		Template:        "{{ code }}",
		Funcs:           map[string]any{"code": code},
		Packages:        data.Config.Packages,
		PruneOptions:    data.Config.GetPruneOptions(),
	})
	if genErr != nil {
		return genErr
	}
	return err
}

// decodeFunc writes DecodeRecord: each mapped field from its record value
// through the scalar's own unmarshaler, as gqlgen's generated code reads
// an argument.
func (p *Plugin) decodeFunc(objs codegen.Objects, o *codegen.Object, fields []declare.FieldMap, from string, root bool) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "// DecodeRecord fills a %s from a record of %s (fields in the\n// schema's names); a value of the wrong type is an error.\n", o.Name, from)
	fmt.Fprintf(&b, "func (r *%s) DecodeRecord(rec map[string]any) error {\n", o.Name)
	for _, fm := range fields {
		if fm.Nested {
			s, err := decodeNested(objs, o, fm)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			continue
		}
		var f *codegen.Field
		for _, of := range o.Fields {
			if of.Name == fm.Name {
				f = of
			}
		}
		if f == nil || f.IsResolver || f.GoFieldType != codegen.GoFieldVariable {
			return "", fmt.Errorf("%s: %s.%s is not a plain field of the generated model", fm.Pos, o.Name, fm.Name)
		}
		ref := f.TypeReference
		goType := ref.GO
		ptr := false
		if pt, ok := goType.(*types.Pointer); ok {
			goType, ptr = pt.Elem(), true
		}
		var conv string
		switch {
		case ref.Unmarshaler != nil && !ref.IsContext && !ref.HasEnumValues():
			call := templates.Call(ref.Unmarshaler)
			if ref.CastType != nil {
				conv = fmt.Sprintf("tmp, err := %s(v)\n\t\tres := %s(tmp)", call, templates.CurrentImports.LookupType(goType))
			} else {
				conv = fmt.Sprintf("res, err := %s(v)", call)
			}
		case ref.Unmarshaler != nil && ref.IsContext && !ref.HasEnumValues():
			// A context unmarshaler (Float's) reads no request state.
			call := templates.Call(ref.Unmarshaler)
			conv = fmt.Sprintf("res, err := %s(%s.Background(), v)", call, templates.CurrentImports.Lookup("context"))
		case ref.IsMarshaler && !ref.IsContext:
			conv = fmt.Sprintf("var res %s\n\t\terr := res.UnmarshalGQL(v)", templates.CurrentImports.LookupType(goType))
		default:
			return "", fmt.Errorf("%s: %s.%s: its Go type %s has no unmarshaler the generator knows", fm.Pos, o.Name, fm.Name, ref.GO)
		}
		assign := "res"
		if ptr {
			assign = "&res"
		}
		fmt.Fprintf(&b, "\tif v, ok := rec[%q]; ok && v != nil {\n\t\t%s\n\t\tif err != nil {\n\t\t\treturn fmt.Errorf(\"%s: %%w\", err)\n\t\t}\n\t\tr.%s = %s\n\t}\n",
			fm.Name, conv, fm.Name, f.GoFieldName, assign)
	}
	if down, err := p.subjectsDown(objs, o, fields); err != nil {
		return "", err
	} else if down != "" && root {
		// The nested parts' personal data is about the record's subjects.
		b.WriteString("\ts := r.DataSubjects()\n" + down)
	}
	b.WriteString("\treturn nil\n}\n\n")
	templates.CurrentImports.Lookup("fmt")
	return b.String(), nil
}

// nestedGo is the Go form of a nested part's field: a pointer to (or a
// value of) its named type, or a slice of them.
type nestedGo struct {
	field   *codegen.Field
	elem    types.Type // the named type
	ptr     bool       // elements (or the field) are pointers
	list    bool
	typeObj *codegen.Object
}

func nestedField(objs codegen.Objects, o *codegen.Object, fm declare.FieldMap) (nestedGo, error) {
	f, err := goField(o, fm.Name)
	if err != nil {
		return nestedGo{}, fmt.Errorf("%s: %w", fm.Pos, err)
	}
	n := nestedGo{field: f, elem: f.TypeReference.GO}
	if sl, ok := n.elem.(*types.Slice); ok {
		n.elem, n.list = sl.Elem(), true
	}
	if pt, ok := n.elem.(*types.Pointer); ok {
		n.elem, n.ptr = pt.Elem(), true
	}
	n.typeObj = objs.ByName(f.TypeReference.Definition.Name)
	if _, named := n.elem.(*types.Named); !named || n.typeObj == nil {
		return nestedGo{}, fmt.Errorf("%s: %s.%s: its Go type %s is not a generated object or a list of them", fm.Pos, o.Name, fm.Name, f.TypeReference.GO)
	}
	return n, nil
}

// decodeNested writes the decoding of a nested part's field: the object's
// own DecodeRecord, on each object of a list (an object where a list is
// declared being a list of one: an XML element that occurs once).
func decodeNested(objs codegen.Objects, o *codegen.Object, fm declare.FieldMap) (string, error) {
	n, err := nestedField(objs, o, fm)
	if err != nil {
		return "", err
	}
	elem := templates.CurrentImports.LookupType(n.elem)
	val := "x"
	if !n.ptr {
		val = "*x"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\tif v, ok := rec[%q]; ok && v != nil {\n", fm.Name)
	if !n.list {
		fmt.Fprintf(&b, "\t\tm, ok := v.(map[string]any)\n\t\tif !ok {\n\t\t\treturn fmt.Errorf(\"%s: want an object, not %%T\", v)\n\t\t}\n", fm.Name)
		fmt.Fprintf(&b, "\t\tx := new(%s)\n\t\tif err := x.DecodeRecord(m); err != nil {\n\t\t\treturn fmt.Errorf(\"%s: %%w\", err)\n\t\t}\n", elem, fm.Name)
		fmt.Fprintf(&b, "\t\tr.%s = %s\n\t}\n", n.field.GoFieldName, val)
		return b.String(), nil
	}
	fmt.Fprintf(&b, "\t\tl, ok := v.([]any)\n\t\tif m, one := v.(map[string]any); one {\n\t\t\tl, ok = []any{m}, true\n\t\t}\n")
	fmt.Fprintf(&b, "\t\tif !ok {\n\t\t\treturn fmt.Errorf(\"%s: want a list of objects, not %%T\", v)\n\t\t}\n", fm.Name)
	fmt.Fprintf(&b, "\t\tres := make(%s, 0, len(l))\n\t\tfor i, e := range l {\n", templates.CurrentImports.LookupType(n.field.TypeReference.GO))
	switch gql := n.field.TypeReference.GQL; {
	case gql.Elem != nil && gql.Elem.NonNull:
		// A null in a list of non-null objects does not fit the schema:
		// the record is a bad response (and not cached as good), rather
		// than gqlgen's null error at the element, an INTERNAL error that
		// blames the gateway for the upstream's answer.
		fmt.Fprintf(&b, "\t\t\tif e == nil {\n\t\t\t\treturn fmt.Errorf(\"%s[%%d]: null, where the schema has a non-null %s\", i)\n\t\t\t}\n", fm.Name, gql.Elem.Name())
	case n.ptr:
		b.WriteString("\t\t\tif e == nil {\n\t\t\t\tres = append(res, nil)\n\t\t\t\tcontinue\n\t\t\t}\n")
	}
	fmt.Fprintf(&b, "\t\t\tm, ok := e.(map[string]any)\n\t\t\tif !ok {\n\t\t\t\treturn fmt.Errorf(\"%s[%%d]: want an object, not %%T\", i, e)\n\t\t\t}\n", fm.Name)
	fmt.Fprintf(&b, "\t\t\tx := new(%s)\n\t\t\tif err := x.DecodeRecord(m); err != nil {\n\t\t\t\treturn fmt.Errorf(\"%s[%%d]: %%w\", i, err)\n\t\t\t}\n", elem, fm.Name)
	fmt.Fprintf(&b, "\t\t\tres = append(res, %s)\n\t\t}\n\t\tr.%s = res\n\t}\n", val, n.field.GoFieldName)
	return b.String(), nil
}

// subjectsDown writes the statements that hand the subjects s to the
// nested parts of fields whose types carry them; "" when none does.
func (p *Plugin) subjectsDown(objs codegen.Objects, o *codegen.Object, fields []declare.FieldMap) (string, error) {
	var b strings.Builder
	for _, fm := range fields {
		if !fm.Nested {
			continue
		}
		n, err := nestedField(objs, o, fm)
		if err != nil {
			return "", err
		}
		if nt := p.nested[n.typeObj.Name]; nt == nil || !nt.subjects {
			continue
		}
		switch {
		case n.list && n.ptr:
			fmt.Fprintf(&b, "\tfor _, x := range r.%s {\n\t\tif x != nil {\n\t\t\tx.setDataSubjects(s)\n\t\t}\n\t}\n", n.field.GoFieldName)
		case n.list:
			fmt.Fprintf(&b, "\tfor i := range r.%s {\n\t\tr.%s[i].setDataSubjects(s)\n\t}\n", n.field.GoFieldName, n.field.GoFieldName)
		case n.ptr:
			fmt.Fprintf(&b, "\tif r.%s != nil {\n\t\tr.%s.setDataSubjects(s)\n\t}\n", n.field.GoFieldName, n.field.GoFieldName)
		default:
			fmt.Fprintf(&b, "\tr.%s.setDataSubjects(s)\n", n.field.GoFieldName)
		}
	}
	return b.String(), nil
}

// nestedSubjectsFuncs writes a nested type's DataSubjects, those of the
// record it was decoded as a part of, and setDataSubjects, which the
// record's DecodeRecord calls. A value of the type that no declared record
// set (built some other way) names an unknown person, which counts as
// protected: its personal fields are denied, never served as about no one.
func (p *Plugin) nestedSubjectsFuncs(objs codegen.Objects, o *codegen.Object, n *nestedType, model string) (string, error) {
	down, err := p.subjectsDown(objs, o, n.part.Fields)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "// DataSubjects are the persons of the %s record a %s is a part of\n// (declared in %s); an unknown person (counts as protected) when it\n// was not decoded as a part of one.\n", n.res.Type, o.Name, n.res.System.Pos.File)
	fmt.Fprintf(&b, "func (r *%s) DataSubjects() %s.Subjects {\n\tif r.%s == nil {\n\t\treturn %s.OneSubject(%s.Subject{})\n\t}\n\treturn *r.%s\n}\n\n", o.Name, model, subjectsField, model, model, subjectsField)
	fmt.Fprintf(&b, "// setDataSubjects gives a %s its record's subjects, and its own nested\n// parts.\n", o.Name)
	fmt.Fprintf(&b, "func (r *%s) setDataSubjects(s %s.Subjects) {\n\tr.%s = &s\n%s}\n\n", o.Name, model, subjectsField, down)
	return b.String(), nil
}

// subjectsFunc writes DataSubjects from the declaration's subjects. A
// subject field that is null says "no person" only when the record holds no
// other personal value: if it does, the record's person is unknown, and an
// unknown subject (model.Subject{}) counts as protected, so the record's
// personal fields are denied rather than served as "about no one". Fields
// that return a record of their own (invoiceRecipient: Person) are decided
// on that record, not on this one, and do not count here.
// model is the alias of sources/model in the file being written.
func (p *Plugin) subjectsFunc(o *codegen.Object, r *declare.Resource, model string) string {
	subjectField := map[string]bool{}
	for _, s := range r.Subjects {
		subjectField[s.Field()] = true
	}
	typePersonal := o.Definition.Directives.ForName("personal") != nil
	otherPersonal := false
	var nestedHeld []string // conditions: the record has a nested part with personal data
	for _, f := range o.Fields {
		if f.FieldDefinition == nil || subjectField[f.Name] || strings.HasPrefix(f.Name, "__") {
			continue
		}
		personal := typePersonal || f.FieldDefinition.Directives.ForName("personal") != nil
		if personal && !f.TypeReference.Definition.IsCompositeType() {
			otherPersonal = true
		}
		if fm := r.Field(f.Name); fm != nil && fm.Nested && p.nested[f.TypeReference.Definition.Name] != nil && p.nested[f.TypeReference.Definition.Name].subjects {
			// A nested part's personal data is about this record's
			// subjects (its DataSubjects are these): when the record has
			// the part, a null subject is an unknown person.
			if _, list := f.TypeReference.GO.(*types.Slice); list {
				nestedHeld = append(nestedHeld, "len(r."+f.GoFieldName+") > 0")
			} else if _, ptr := f.TypeReference.GO.(*types.Pointer); ptr {
				nestedHeld = append(nestedHeld, "r."+f.GoFieldName+" != nil")
			} else {
				nestedHeld = append(nestedHeld, "true")
			}
		}
	}
	if otherPersonal {
		nestedHeld = nil // unknown whenever a subject is null
	}
	var b strings.Builder
	fmt.Fprintf(&b, "// DataSubjects are the persons a %s names (declared in %s);\n", o.Name, r.System.Pos.File)
	switch {
	case otherPersonal:
		b.WriteString("// an unknown person (counts as protected) when a subject is null, since the\n// record holds other personal data.\n")
	case len(nestedHeld) > 0:
		b.WriteString("// an unknown person (counts as protected) when a subject is null but the\n// record has a nested part with personal data.\n")
	default:
		b.WriteString("// none when it names none.\n")
	}
	fmt.Fprintf(&b, "func (r *%s) DataSubjects() %s.Subjects {\n", o.Name, model)
	fmt.Fprintf(&b, "\tout := make([]%s.Subject, 0, %d)\n", model, len(r.Subjects))
	for _, s := range r.Subjects {
		var f *codegen.Field
		for _, of := range o.Fields {
			if of.Name == s.Field() {
				f = of
			}
		}
		value := "r." + f.GoFieldName
		if _, ok := f.TypeReference.GO.(*types.Pointer); ok {
			value = "declaredString(" + value + ")"
		} else {
			value = "string(" + value + ")"
		}
		kind := "PartyID"
		if s.PersonalNumber != "" {
			kind = "PersonalNumber"
		}
		fmt.Fprintf(&b, "\tif v := %s; v != \"\" {\n\t\tout = append(out, %s.Subject{%s: v})\n\t}", value, model, kind)
		switch {
		case otherPersonal:
			fmt.Fprintf(&b, " else {\n\t\tout = append(out, %s.Subject{}) // unknown: counts as protected\n\t}", model)
		case len(nestedHeld) > 0:
			fmt.Fprintf(&b, " else if %s {\n\t\tout = append(out, %s.Subject{}) // unknown: counts as protected\n\t}", strings.Join(nestedHeld, " || "), model)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\treturn %s.SubjectList(out...)\n}\n\n", model)
	return b.String()
}

// rowFunc writes RowAttribute (model.Row) for a type with @row: the value
// of its attribute field, which declare.Check has made a String, an ID or an
// enum that every resource of the type maps. A null value is "": it names
// no purpose, and authz reads such a row to no one.
func rowFunc(o *codegen.Object, r *declare.Resource, row *ast.Directive) (string, error) {
	attr := ""
	if a := row.Arguments.ForName("attribute"); a != nil && a.Value != nil {
		attr = a.Value.Raw
	}
	var f *codegen.Field
	for _, of := range o.Fields {
		if of.Name == attr {
			f = of
		}
	}
	at := "schema"
	if row.Position != nil && row.Position.Src != nil {
		at = fmt.Sprintf("%s:%d", strings.TrimPrefix(row.Position.Src.Name, "../"), row.Position.Line)
	}
	if f == nil || f.IsResolver || f.GoFieldType != codegen.GoFieldVariable {
		return "", fmt.Errorf("%s: %s's @row attribute %q is not a plain field of the generated model", at, o.Name, attr)
	}
	value := "r." + f.GoFieldName
	goType := f.TypeReference.GO
	if pt, ok := goType.(*types.Pointer); ok {
		goType, value = pt.Elem(), "declaredString("+value+")"
	} else {
		value = "string(" + value + ")"
	}
	if basic, ok := goType.Underlying().(*types.Basic); !ok || basic.Kind() != types.String {
		return "", fmt.Errorf("%s: %s's @row attribute %s is a %s, not a string", at, o.Name, attr, f.TypeReference.GO)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "// RowAttribute gives a %s's %s, the value its rows carry their purpose in\n", o.Name, attr)
	fmt.Fprintf(&b, "// (@row; declared in %s): \"\" when null, which names no purpose, so\n// that the row is read by no one.\n", r.System.Pos.File)
	fmt.Fprintf(&b, "func (r *%s) RowAttribute(name string) (string, bool) {\n", o.Name)
	fmt.Fprintf(&b, "\tif name != %q {\n\t\treturn \"\", false\n\t}\n\treturn %s, true\n}\n\n", attr, value)
	return b.String(), nil
}

// writeDeclared writes the declarations as read, for the gateway's start,
// which checks them against the served schema with the same function.
func (p *Plugin) writeDeclared() error {
	var b strings.Builder
	b.WriteString(templates.GeneratedCodeHeader + "\n\n")
	b.WriteString("// Package declared holds the source declarations (schema/*.yaml) as\n")
	b.WriteString("// `go generate` read them, for the gateway's start.\n")
	b.WriteString("package declared\n\nimport \"github.com/kommungraf/kommungraf/sources/declare\"\n\n")
	b.WriteString("// Files are the declaration files and the files beside them (WSDLs),\n// named from the repository root.\n")
	b.WriteString("func Files() []declare.File {\n\treturn []declare.File{\n")
	for _, f := range p.files {
		fmt.Fprintf(&b, "\t\t{Name: %q, Data: []byte(%s)},\n", f.Name, strconv.Quote(string(f.Data)))
	}
	b.WriteString("\t}\n}\n")
	src, err := format.Source([]byte(b.String()))
	if err != nil {
		return fmt.Errorf("resourceplugin: formatting %s: %w", DeclaredFile, err)
	}
	if err := os.MkdirAll(filepath.Dir(DeclaredFile), 0o755); err != nil {
		return err
	}
	if old, err := os.ReadFile(DeclaredFile); err == nil && string(old) == string(src) {
		return nil // unchanged: keep its time
	}
	return os.WriteFile(DeclaredFile, src, 0o644)
}

// Interface guards.
var (
	_ plugin.Plugin              = (*Plugin)(nil)
	_ plugin.ConfigMutator       = (*Plugin)(nil)
	_ plugin.CodeGenerator       = (*Plugin)(nil)
	_ plugin.ResolverImplementer = (*Plugin)(nil)
)
