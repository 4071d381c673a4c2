package declare

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// The schema directives the check reads (schema/directives.graphqls).
const (
	ResourceDirective       = "resource"
	classificationDirective = "classification"
	ownerDirective          = "owner"
	personalDirective       = "personal"
	healthDirective         = "health"
	rowDirective            = "row"
)

// Binding is one schema field bound to a resource with @resource.
type Binding struct {
	// Type and Field name the bound field; Key is the parent's field that
	// holds the key.
	Type, Field, Key string
	// Resource is the resource's full name.
	Resource string
	// List says the field is a list.
	List bool
	Pos  Pos
}

// Bindings lists the fields of the schema bound with @resource, sorted by
// type and field. Arguments missing from a directive give empty names, which
// Check reports.
func Bindings(schema *ast.Schema) []Binding {
	var out []Binding
	for _, def := range objects(schema) {
		for _, f := range def.Fields {
			d := f.Directives.ForName(ResourceDirective)
			if d == nil {
				continue
			}
			out = append(out, Binding{
				Type: def.Name, Field: f.Name, Key: arg(d, "key"), Resource: arg(d, "name"),
				List: f.Type.Elem != nil, Pos: schemaPos(f.Position),
			})
		}
	}
	return out
}

// Check checks the declarations against the schema and the schema's
// @resource bindings against the declarations and the built-in loaders.
// Every problem is reported, located in the YAML or the schema file.
func Check(set *Set, schema *ast.Schema, builtins []Builtin) error {
	var ps Problems
	builtin := map[string]Builtin{}
	for _, b := range builtins {
		builtin[b.Name] = b
	}
	bound := map[string]map[string]bool{} // type -> fields bound with @resource
	for _, b := range Bindings(schema) {
		def := schema.Types[b.Type]
		f := def.Fields.ForName(b.Field)
		where := b.Type + "." + b.Field
		if bound[b.Type] == nil {
			bound[b.Type] = map[string]bool{}
		}
		bound[b.Type][b.Field] = true
		if b.Resource == "" || b.Key == "" {
			ps.add(b.Pos, "%s: @resource needs name and key", where)
			continue
		}
		if isRoot(schema, b.Type) {
			// A root field has no parent record to take its key from.
			ps.add(b.Pos, "%s: @resource on a root operation type: bind a field of an object type, whose key field is the record's", where)
			continue
		}
		listing := set.Resource(b.Resource).Paging() != nil
		if r := set.Resource(b.Resource); r != nil {
			checkArgs(&ps, schema, b, f, r, where)
		} else if len(f.Arguments) > 0 {
			ps.add(b.Pos, "%s: a field bound with @resource to a built-in loader takes no arguments", where)
		}
		if !classified(def, f) {
			ps.add(b.Pos, "%s has no @classification, on itself or on its type", where)
		}
		if kf := def.Fields.ForName(b.Key); kf == nil {
			ps.add(b.Pos, "%s: @resource key %q is not a field of %s", where, b.Key, b.Type)
		} else if kf.Type.Elem != nil || !isLeaf(schema, kf.Type.Name()) {
			ps.add(b.Pos, "%s: @resource key %q is not a scalar field of %s", where, b.Key, b.Type)
		} else if kf.Directives.ForName(ResourceDirective) != nil {
			ps.add(b.Pos, "%s: @resource key %q is itself bound to a resource", where, b.Key)
		}
		typ, list := "", false
		if r := set.Resource(b.Resource); r != nil {
			typ, list = r.Type, r.List
			checkKeyKind(&ps, schema, b, def, r, where)
			if listing {
				checkConnection(&ps, schema, b, f, r, where)
				continue
			}
		} else if bi, ok := builtin[b.Resource]; ok {
			typ, list = bi.Type, bi.List
		} else {
			ps.add(b.Pos, "%s: @resource(name: %q) names no declared resource (%s)", where, b.Resource, known(set, builtins))
			continue
		}
		if got := f.Type.Name(); got != typ {
			ps.add(b.Pos, "%s is of type %s but resource %s has records of type %s", where, got, b.Resource, typ)
		}
		switch {
		case b.List && !list:
			ps.add(b.Pos, "%s is a list but resource %s answers one record per key (list: false)", where, b.Resource)
		case !b.List && list:
			ps.add(b.Pos, "%s is not a list but resource %s answers many records per key (list: true)", where, b.Resource)
		}
	}
	if set != nil {
		first := map[string]*Resource{} // type -> the resource whose declaration go generate follows
		records := map[string]bool{}    // the resources' record types, which no nested part may have
		for _, sys := range set.Systems {
			for _, r := range sys.Resources {
				records[r.Type] = true
			}
		}
		for _, sys := range set.Systems {
			for _, r := range sys.Resources {
				if r.Builtin != nil {
					checkBuiltinResource(&ps, schema, r)
					continue
				}
				checkResource(&ps, schema, r, bound[r.Type], checkNested(&ps, schema, r, bound, records))
				if r.Type == "" {
					continue
				}
				// The generated DataSubjects of a type is written from one
				// declaration: every resource of the type must name its
				// subjects alike, or some records' persons are misread.
				if prev := first[r.Type]; prev == nil {
					first[r.Type] = r
				} else if !slices.EqualFunc(prev.Subjects, r.Subjects, func(a, b Subject) bool {
					return a.PartyID == b.PartyID && a.PersonalNumber == b.PersonalNumber
				}) {
					ps.add(r.subjectsPos, "resource %s: its records are of type %s like those of %s, but its subjects differ (the type's data subjects are generated from one declaration)", r.FullName(), r.Type, prev.FullName())
				}
			}
		}
	}
	return ps.err()
}

// checkKeyKind refuses a binding whose key is not of the kind the resource's
// records are found by: the key field's type must be the type of the
// record's `by` field (a property's object id, an ID, is not a personnummer,
// a String). A looser check than naming the parent field in the
// declaration, but it keeps one kind of identifier from being sent where
// another is expected (a personnummer in a URL that takes property ids).
func checkKeyKind(ps *Problems, schema *ast.Schema, b Binding, parent *ast.Definition, r *Resource, where string) {
	if r.By == "" {
		return // one call per key, the records found by the call itself
	}
	kf := parent.Fields.ForName(b.Key)
	rec := schema.Types[r.Type]
	if kf == nil || rec == nil {
		return // reported elsewhere
	}
	if bf := rec.Fields.ForName(r.By); bf != nil && bf.Type.Name() != kf.Type.Name() {
		ps.add(b.Pos, "%s: @resource key %q is a %s, but resource %s finds its records by %s.%s, a %s", where, b.Key, kf.Type.Name(), r.FullName(), r.Type, r.By, bf.Type.Name())
	}
}

// Connection fields: a listing resource is bound by a field of a
// connection type, as the hand-written listings are (Relay: first, after).
const (
	ArgFirst = "first"
	ArgAfter = "after"
)

// checkConnection checks a field bound to a listing resource: the
// arguments first: Int and after: String and nothing else, and a
// connection type of the resource's records: edges: [E!]! with E
// { cursor: String!, node: <type> }, pageInfo: PageInfo!, and optionally
// totalCount: Int (null when the upstream does not say).
func checkConnection(ps *Problems, schema *ast.Schema, b Binding, f *ast.FieldDefinition, r *Resource, where string) {
	want := map[string]string{ArgFirst: "Int", ArgAfter: "String"}
	for _, a := range f.Arguments {
		if w, ok := want[a.Name]; !ok {
			continue // the call's own (checkArgs)
		} else if a.Type.String() != w {
			ps.add(b.Pos, "%s: argument %s is a %s; want %s (nullable, as the other connections' are)", where, a.Name, a.Type.String(), w)
		}
		delete(want, a.Name)
	}
	for _, name := range []string{ArgFirst, ArgAfter} {
		if _, missing := want[name]; missing {
			ps.add(b.Pos, "%s: resource %s is a listing: the field needs the argument %s: %s", where, r.FullName(), name, want[name])
		}
	}
	conn := schema.Types[f.Type.Name()]
	hint := fmt.Sprintf("a connection type { edges: [%sEdge!]! pageInfo: PageInfo! totalCount: Int }", r.Type)
	if f.Type.Elem != nil || conn == nil || conn.Kind != ast.Object {
		ps.add(b.Pos, "%s: resource %s is a listing: bind it with %s", where, r.FullName(), hint)
		return
	}
	for _, cf := range conn.Fields {
		switch cf.Name {
		case "edges":
			edge := schema.Types[cf.Type.Name()]
			if cf.Type.String() != "["+cf.Type.Name()+"!]!" || edge == nil || edge.Kind != ast.Object {
				ps.add(schemaPos(cf.Position), "%s.edges: want a non-null list of non-null edge objects (%s)", conn.Name, hint)
				continue
			}
			for _, ef := range edge.Fields {
				switch {
				case ef.Name == "cursor" && ef.Type.String() == "String!":
				case ef.Name == "node" && ef.Type.Elem == nil && ef.Type.Name() == r.Type:
				default:
					ps.add(schemaPos(ef.Position), "%s.%s: an edge of %s has cursor: String! and node: %s only", edge.Name, ef.Name, r.FullName(), r.Type)
				}
			}
			if edge.Fields.ForName("cursor") == nil || edge.Fields.ForName("node") == nil {
				ps.add(schemaPos(edge.Position), "%s: an edge has cursor: String! and node: %s", edge.Name, r.Type)
			}
		case "pageInfo":
			if cf.Type.String() != "PageInfo!" {
				ps.add(schemaPos(cf.Position), "%s.pageInfo: want PageInfo!", conn.Name)
			}
		case "totalCount":
			if cf.Type.String() != "Int" {
				ps.add(schemaPos(cf.Position), "%s.totalCount: want Int, nullable: null when the upstream does not count", conn.Name)
			} else if r.HTTP.Page.Total == nil {
				ps.add(r.HTTP.Page.Pos, "resource %s: %s has totalCount but the page part has no total (the path of the count in the answer)", r.FullName(), conn.Name)
			}
		default:
			if !strings.HasPrefix(cf.Name, "__") {
				ps.add(schemaPos(cf.Position), "%s.%s: a connection of %s has edges, pageInfo and totalCount only", conn.Name, cf.Name, r.FullName())
			}
		}
	}
	if conn.Fields.ForName("edges") == nil || conn.Fields.ForName("pageInfo") == nil {
		ps.add(schemaPos(conn.Position), "%s: resource %s is a listing: want %s", conn.Name, r.FullName(), hint)
	}
}

// isRoot says typ is the schema's query, mutation or subscription type.
func isRoot(schema *ast.Schema, typ string) bool {
	for _, d := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		if d != nil && d.Name == typ {
			return true
		}
	}
	return false
}

// nestedData is what a resource's nested parts hold (checkNested).
type nestedData struct {
	personal, level3, health bool
	// mappedPersonal are the nested fields that hold personal data, by
	// their dotted names (container.ownerName).
	mappedPersonal []string
}

// checkNested checks a resource's nested parts (fields mapped with
// fields: {...}) against the schema, to any depth: each is a field of an
// object type (a list of objects needs a path: one record is not a list),
// the type owned by the system's owner, every field of it classified and
// either mapped or bound with @resource, with the kinds the schema gives
// (checkMapped); it is no resource's record type and no @row type, since
// its records are decoded, and its data subjects named, only as a part of
// the enclosing record's. What the parts hold (personal, level-3, health
// data) is returned for the resource's own rules: their personal data is
// about the record's subjects, which the generated DataSubjects of each
// nested type returns.
func checkNested(ps *Problems, schema *ast.Schema, r *Resource, bound map[string]map[string]bool, records map[string]bool) nestedData {
	var out nestedData
	def := schema.Types[r.Type]
	if def == nil || def.Kind != ast.Object {
		return out // reported by checkResource
	}
	var walk func(parent *ast.Definition, fields []FieldMap, prefix string)
	walk = func(parent *ast.Definition, fields []FieldMap, prefix string) {
		for _, fm := range fields {
			f := parent.Fields.ForName(fm.Name)
			if !fm.Nested || f == nil {
				continue
			}
			where := parent.Name + "." + fm.Name
			nd := schema.Types[f.Type.Name()]
			switch {
			case nd == nil || nd.Kind != ast.Object:
				ps.add(fm.Pos, "resource %s: field %s is a %s, not an object type: map it with a path (%s: %s), not a nested part", r.FullName(), where, f.Type.Name(), fm.Name, fm.Name)
				continue
			case f.Type.Elem != nil && f.Type.Elem.Elem != nil:
				ps.add(fm.Pos, "resource %s: field %s is a list of lists, which a nested part does not map", r.FullName(), where)
				continue
			case f.Type.Elem != nil && fm.Path == nil:
				ps.add(fm.Pos, "resource %s: field %s is a list of %s: its nested part needs the path of the list in the record", r.FullName(), where, nd.Name)
			case f.Type.Elem != nil && r.HTTP == nil:
				// The SOAP and SQL connectors build a nested object from
				// object.field names (connect.Fields), not a list of them.
				ps.add(fm.Pos, "resource %s: field %s is a list of %s, which only an http resource maps (a soap or sql record's nested part is one object)", r.FullName(), where, nd.Name)
			case r.SQL != nil && fm.Path != nil:
				ps.add(fm.Pos, "resource %s: field %s: an sql record's nested part groups columns of the row: leave out its path", r.FullName(), where)
			}
			name := r.FullName() + " (" + where + ")"
			if records[nd.Name] {
				ps.add(fm.Pos, "resource %s: %s is a resource's record type; a nested part's type is decoded only within its record: give the part its own type", name, nd.Name)
			}
			if nd.Directives.ForName(rowDirective) != nil {
				ps.add(fm.Pos, "resource %s: type %s has @row, which a nested part's type does not support", name, nd.Name)
			}
			if owner := directiveArg(nd.Directives, ownerDirective, "name"); owner == "" {
				ps.add(fm.Pos, "resource %s: type %s has no @owner", name, nd.Name)
			} else if owner != r.System.Owner {
				ps.add(fm.Pos, "resource %s: type %s has @owner(name: %q) but system %s is owned by %q", name, nd.Name, owner, r.System.Name, r.System.Owner)
			}
			typePersonal := nd.Directives.ForName(personalDirective) != nil
			partLevel := -1 // the lowest level of the part's personal fields, -1 for none
			for _, nf := range nd.Fields {
				if strings.HasPrefix(nf.Name, "__") {
					continue
				}
				if !classified(nd, nf) {
					ps.add(schemaPos(nf.Position), "field %s.%s has no @classification, on itself or on its type (resource %s, nested in %s)", nd.Name, nf.Name, r.FullName(), where)
				}
				isBound := bound[nd.Name][nf.Name]
				mapped := fm.Field(nf.Name) != nil
				personal := typePersonal || nf.Directives.ForName(personalDirective) != nil || nf.Directives.ForName(healthDirective) != nil
				if personal {
					// A bound field's too: it is decided on this part's
					// subjects (authz asks the field's parent object).
					out.personal = true
					if l := level(nd, nf); partLevel < 0 || l < partLevel {
						partLevel = l
					}
				}
				if personal && mapped && isLeaf(schema, nf.Type.Name()) {
					out.mappedPersonal = append(out.mappedPersonal, prefix+fm.Name+"."+nf.Name)
				}
				if level(nd, nf) == 3 && !isBound {
					out.level3 = true
				}
				if nf.Directives.ForName(healthDirective) != nil && !isBound {
					out.health = true
				}
				if !mapped && !isBound {
					ps.add(fm.Pos, "resource %s: field %s.%s is neither mapped in the nested part's fields nor bound with @resource", name, nd.Name, nf.Name)
				}
			}
			holderPersonal := parent.Directives.ForName(personalDirective) != nil || f.Directives.ForName(personalDirective) != nil || f.Directives.ForName(healthDirective) != nil
			if partLevel >= 0 && (!holderPersonal || level(parent, f) < partLevel) {
				// Whether the part is null, and how many a list holds, is
				// its persons' data too (an invoice to a person, not an
				// organisation): served by the field that holds it, to
				// callers who may not read the part's fields, without the
				// protected-identity rule or the access log.
				ps.add(schemaPos(f.Position), "field %s holds %s, whose fields hold personal data: mark it @personal and classify it at level %d or above, or whether it is null and how many it holds is served without the part's rules (resource %s)", where, nd.Name, partLevel, r.FullName())
			}
			checkMapped(ps, schema, r, nd, fm.Fields, bound[nd.Name])
			walk(nd, fm.Fields, prefix+fm.Name+".")
		}
	}
	walk(def, r.Fields, "")
	return out
}

// checkMapped checks the fields a mapping names against their type: each
// a field of it, not bound with @resource, a scalar or an enum mapped by a
// path, an object (or a list of objects) mapped by a nested part
// (checkNested checks the part).
func checkMapped(ps *Problems, schema *ast.Schema, r *Resource, def *ast.Definition, fields []FieldMap, bound map[string]bool) {
	name := r.FullName()
	for _, fm := range fields {
		f := def.Fields.ForName(fm.Name)
		switch {
		case f == nil:
			ps.add(fm.Pos, "resource %s: %s has no field %q", name, def.Name, fm.Name)
		case bound[fm.Name]:
			ps.add(fm.Pos, "resource %s: field %s.%s is both mapped and bound with @resource", name, def.Name, fm.Name)
		case fm.Nested:
			// checkNested
		case schema.Types[f.Type.Name()] != nil && schema.Types[f.Type.Name()].Kind == ast.Object:
			ps.add(fm.Pos, "resource %s: field %s.%s is an object of type %s: map it with a nested part, %s: { path: ..., fields: { <field>: <path> } }", name, def.Name, fm.Name, f.Type.Name(), fm.Name)
		case f.Type.Elem != nil || !isLeaf(schema, f.Type.Name()):
			ps.add(fm.Pos, "resource %s: field %s.%s is not a scalar or an enum; only those are mapped from a record by a path", name, def.Name, fm.Name)
		}
	}
}

func checkResource(ps *Problems, schema *ast.Schema, r *Resource, bound map[string]bool, nested nestedData) {
	name := r.FullName()
	if r.Type == "" {
		return // reported by Parse
	}
	def := schema.Types[r.Type]
	if def == nil || def.Kind != ast.Object {
		ps.add(r.typePos, "resource %s: type %s is not an object type of the schema", name, r.Type)
		return
	}
	if owner := directiveArg(def.Directives, ownerDirective, "name"); owner == "" {
		ps.add(r.typePos, "resource %s: type %s has no @owner", name, r.Type)
	} else if owner != r.System.Owner {
		ps.add(r.typePos, "resource %s: type %s has @owner(name: %q) but system %s is owned by %q", name, r.Type, owner, r.System.Name, r.System.Owner)
	}
	if d := def.Directives.ForName(rowDirective); d != nil {
		checkRow(ps, schema, r, def, d)
	}
	typePersonal := def.Directives.ForName(personalDirective) != nil
	personal, level3, health := typePersonal, false, false
	var mappedPersonal []string // mapped fields that hold personal data
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		if !classified(def, f) {
			ps.add(schemaPos(f.Position), "field %s.%s has no @classification, on itself or on its type (resource %s)", r.Type, f.Name, name)
		}
		if f.Directives.ForName(personalDirective) != nil || f.Directives.ForName(healthDirective) != nil {
			personal = true
		}
		if level(def, f) == 3 && !bound[f.Name] {
			level3 = true
		}
		if f.Directives.ForName(healthDirective) != nil && !bound[f.Name] {
			health = true
		}
		if (typePersonal || f.Directives.ForName(personalDirective) != nil || f.Directives.ForName(healthDirective) != nil) && r.Field(f.Name) != nil {
			mappedPersonal = append(mappedPersonal, f.Name)
		}
		if r.Field(f.Name) == nil && !bound[f.Name] {
			ps.add(r.fieldsPos, "resource %s: field %s.%s is neither mapped in fields nor bound with @resource", name, r.Type, f.Name)
		}
	}
	checkMapped(ps, schema, r, def, r.Fields, bound)
	personal, level3, health = personal || nested.personal, level3 || nested.level3, health || nested.health
	mappedPersonal = append(mappedPersonal, nested.mappedPersonal...)
	if r.By != "" && (r.Field(r.By) == nil || r.Field(r.By).Nested) {
		ps.add(r.byPos, "resource %s: by %q is not a field mapped in fields", name, r.By)
	}
	if personal && r.Subjects == nil {
		ps.add(r.subjectsPos, "resource %s: type %s holds personal data (@personal) but the declaration has no subjects (how do its records name their persons? [] if they name none)", name, r.Type)
	}
	if r.Subjects != nil && len(r.Subjects) == 0 && len(mappedPersonal) > 0 {
		// "[]" says the records are about no natural person: their personal
		// fields would never be raised for a protected person, and their
		// reads would be logged without a data subject.
		ps.add(r.subjectsPos, "resource %s: type %s maps personal data (%s) but subjects is empty: name the field that identifies its person", name, r.Type, strings.Join(mappedPersonal, ", "))
	}
	for _, s := range r.Subjects {
		if sf := r.Field(s.Field()); sf == nil || sf.Nested {
			ps.add(s.Pos, "resource %s: subject field %q is not a field mapped in fields", name, s.Field())
		} else if f := def.Fields.ForName(s.Field()); f != nil && !typePersonal && f.Directives.ForName(personalDirective) == nil {
			// A person's identifier is personal data itself.
			ps.add(s.Pos, "resource %s: subject field %s.%s is not marked @personal: a person's identifier is personal data", name, r.Type, s.Field())
		}
	}
	if level3 && !r.Level3 {
		ps.add(r.Pos, "resource %s: type %s has level-3 fields, so its records must be sealed in the cache: set level3: true", name, r.Type)
	} else if health && !r.Level3 {
		ps.add(r.Pos, "resource %s: type %s has health data (@health), so its records must be sealed in the cache: set level3: true", name, r.Type)
	}
}

// checkRow checks a declared type with @row(attribute: ...): the attribute
// is a field of the type, a String, an ID or an enum and no list (the
// policy's row lines name its values as words), and every resource of the
// type maps it, so that each record carries the value its purpose is read
// from (go generate writes the type's RowAttribute from it). A listing of a
// @row type is refused: the gateway filters rows after the upstream has
// counted and paged them, so totalCount, hasNextPage and the pages' sizes
// would still count the rows the caller may not read. So is a single row
// (list: false): the upstream chooses it among the key's rows (a person's
// latest receipt) before the gateway can remove it, and the null left in
// its place, where without the hidden row the upstream would have chosen a
// row the caller may read, tells that the hidden one exists. Nothing in a
// declaration shows that a key names one row only, so a @row type is
// served as the key's rows, a list.
func checkRow(ps *Problems, schema *ast.Schema, r *Resource, def *ast.Definition, d *ast.Directive) {
	attr := arg(d, "attribute")
	// A problem of the type itself is reported once, not once per resource.
	typeProblem := func(pos Pos, format string, args ...any) {
		p := Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)}
		if !slices.Contains(*ps, p) {
			*ps = append(*ps, p)
		}
	}
	switch f := def.Fields.ForName(attr); {
	case f == nil:
		typeProblem(schemaPos(d.Position), "type %s: @%s(attribute: %q) names no field of %s", def.Name, rowDirective, attr, def.Name)
		return
	case !RowAttributeType(schema, f.Type):
		typeProblem(schemaPos(f.Position), "type %s: its @%s attribute %s is a %s; want a String, an ID or an enum, not a list (the policy names its values as words)", def.Name, rowDirective, attr, f.Type.String())
		return
	case f.Directives.ForName(ResourceDirective) != nil:
		typeProblem(schemaPos(f.Position), "type %s: its @%s attribute %s is bound with @resource; it must be a field the records carry", def.Name, rowDirective, attr)
		return
	}
	if r.Field(attr) == nil {
		ps.add(r.fieldsPos, "resource %s: type %s has @%s(attribute: %q) but the resource does not map %s: every resource of the type maps it (a row without it is read by no one)", r.FullName(), def.Name, rowDirective, attr, attr)
	}
	if p := r.Paging(); p != nil {
		ps.add(p.Pos, "resource %s: type %s has @%s, and a listing cannot serve it: the upstream counts and pages the rows before the gateway removes those the caller may not read, so totalCount, hasNextPage and the pages' sizes would reveal them (bind the type by key, or serve it from a resource without a page part)", r.FullName(), def.Name, rowDirective)
	}
	if !r.List {
		ps.add(r.listPos, "resource %s: type %s has @%s, and a single row (list: false) cannot serve it: the upstream chooses the key's row before the gateway removes one the caller may not read, so null where the upstream would otherwise have chosen another row reveals the hidden one (declare list: true and bind a list of the key's rows)", r.FullName(), def.Name, rowDirective)
	}
}

// RowAttributeType says t may hold a @row attribute: a String, an ID or an
// enum, not a list. authz.Classify asks the same at start.
func RowAttributeType(schema *ast.Schema, t *ast.Type) bool {
	if t == nil || t.Elem != nil {
		return false
	}
	def := schema.Types[t.Name()]
	return t.Name() == "String" || t.Name() == "ID" || (def != nil && def.Kind == ast.Enum)
}

// checkBuiltinResource checks a Go loader's declaration against the
// schema: its records' type is a type of the schema; an object type is
// owned by the system's owner, sealed when it holds level-3 or health data,
// and names its data subjects when it holds personal data. Its fields are
// mapped by Go (sources/model), so none is declared.
func checkBuiltinResource(ps *Problems, schema *ast.Schema, r *Resource) {
	name := r.FullName()
	if r.Type == "" {
		return // reported by Parse
	}
	def := schema.Types[r.Type]
	switch {
	case def == nil:
		ps.add(r.typePos, "resource %s: type %s is not a type of the schema", name, r.Type)
		return
	case def.Kind != ast.Object:
		return // a scalar (a personnummer, a diet): the declaration says the rest
	}
	if owner := directiveArg(def.Directives, ownerDirective, "name"); owner != r.System.Owner {
		ps.add(r.typePos, "resource %s: type %s has @owner(name: %q) but system %s is owned by %q", name, r.Type, owner, r.System.Name, r.System.Owner)
	}
	personal := def.Directives.ForName(personalDirective) != nil
	level3, health := false, false
	for _, f := range def.Fields {
		if f.Directives.ForName(personalDirective) != nil {
			personal = true
		}
		if f.Directives.ForName(healthDirective) != nil {
			personal, health = true, true
		}
		if level(def, f) == 3 {
			level3 = true
		}
	}
	if personal && r.Subjects == nil && !r.SubjectsFromModel {
		ps.add(r.subjectsPos, "resource %s: type %s holds personal data (@personal) but the declaration has no subjects (subjects: model, when its Go record names them)", name, r.Type)
	}
	if (level3 || health) && !r.Level3 {
		ps.add(r.Pos, "resource %s: type %s has level-3 or health data, so its records must be sealed in the cache: set level3: true", name, r.Type)
	}
}

func known(set *Set, builtins []Builtin) string {
	var names []string
	if set != nil {
		for n := range set.byName {
			names = append(names, n)
		}
	}
	for _, b := range builtins {
		names = append(names, b.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none is declared"
	}
	return "known: " + strings.Join(names, ", ")
}

// objects are the schema's own object types, sorted by name.
func objects(schema *ast.Schema) []*ast.Definition {
	var out []*ast.Definition
	for name, def := range schema.Types {
		if def.Kind == ast.Object && !def.BuiltIn && !strings.HasPrefix(name, "__") {
			out = append(out, def)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func isLeaf(schema *ast.Schema, typ string) bool {
	def := schema.Types[typ]
	return def != nil && (def.Kind == ast.Scalar || def.Kind == ast.Enum)
}

func classified(def *ast.Definition, f *ast.FieldDefinition) bool { return level(def, f) >= 0 }

// level is a field's KLASSA level, its own or its type's; -1 for none.
// The levels themselves are checked by authz.Classify.
func level(def *ast.Definition, f *ast.FieldDefinition) int {
	for _, dirs := range []ast.DirectiveList{f.Directives, def.Directives} {
		if v := directiveArg(dirs, classificationDirective, "level"); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
			return 0
		}
	}
	return -1
}

func directiveArg(dirs ast.DirectiveList, directive, name string) string {
	d := dirs.ForName(directive)
	if d == nil {
		return ""
	}
	return arg(d, name)
}

func arg(d *ast.Directive, name string) string {
	if a := d.Arguments.ForName(name); a != nil && a.Value != nil {
		return strings.TrimSpace(a.Value.Raw)
	}
	return ""
}

// schemaPos names a schema position by the file's path from the
// repository root (gqlgen's embedded sources say ../schema/x.graphqls).
func schemaPos(p *ast.Position) Pos {
	if p == nil || p.Src == nil {
		return Pos{File: "schema"}
	}
	return Pos{File: strings.TrimPrefix(p.Src.Name, "../"), Line: p.Line}
}
