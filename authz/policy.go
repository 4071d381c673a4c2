package authz

import (
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/util"
)

//go:embed policy/model.conf policy/policy.csv policy/contracts.yaml policy/roles.yaml policy/decisions.yaml
var defaults embed.FS

// DefaultModel is the Casbin model Kommungraf enforces (authz/policy/model.conf).
func DefaultModel() string { return mustDefault("policy/model.conf") }

// DefaultPolicy is the policy the demo and a gateway without a policy file
// load (authz/policy/policy.csv).
func DefaultPolicy() string { return mustDefault("policy/policy.csv") }

// DefaultContracts are the demo's information contracts (authz/policy/contracts.yaml).
func DefaultContracts() string { return mustDefault("policy/contracts.yaml") }

// DefaultRoles is the demo's role table (authz/policy/roles.yaml).
func DefaultRoles() string { return mustDefault("policy/roles.yaml") }

// DefaultDecisions are the expected decisions of the default policy
// (authz/policy/decisions.yaml).
func DefaultDecisions() string { return mustDefault("policy/decisions.yaml") }

func mustDefault(name string) string {
	b, err := defaults.ReadFile(name)
	if err != nil {
		panic("authz: embedded " + name + " missing: " + err.Error())
	}
	return string(b)
}

// Actions a policy line may name.
const (
	ActRead       = "read"
	ActIntrospect = "introspect"
	ActAdmin      = "admin"
	// ActRow is reading a row of a @row type: the object is
	// Type(attribute=value) (RowObject), the purpose column the purpose the
	// row belongs to.
	ActRow = "row"
)

// Objects that are not fields.
const (
	// ObjSchema is introspection of the schema (action introspect).
	ObjSchema = "schema"
	// ObjPolicy is policy administration (action admin).
	ObjPolicy = "policy"
	// ObjAccessLog is reading the access log (action admin).
	ObjAccessLog = "accesslog"
	// ObjCache is invalidating cached records (action admin).
	ObjCache = "cache"
)

var adminObjects = []string{ObjPolicy, ObjAccessLog, ObjCache}

// Rule is one policy line without its leading "p": subject, object, action,
// purpose, level, effect.
type Rule []string

// String is the line as it is written in a policy file.
func (r Rule) String() string {
	cols := make([]string, len(r))
	for i, c := range r {
		if strings.ContainsAny(c, ",\"") {
			c = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
		}
		cols[i] = c
	}
	return "p, " + strings.Join(cols, ", ")
}

// Rule columns.
const (
	colSub = iota
	colObj
	colAct
	colPurpose
	colLevel
	colEft
	ruleColumns
)

// LineError is one problem of a policy line that does not fit the model. A
// line with several problems gives one LineError for each.
type LineError struct {
	Line int
	Text string
	Msg  string
	// Column is the column the problem is in (ColumnNames: subject, object,
	// action, purpose, level, effect), or "" when it concerns the whole line.
	Column string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s: %q", e.Line, e.Msg, e.Text) }

// PolicyError lists every problem of every line of a policy that does not
// fit the model, in line order.
type PolicyError struct{ Lines []LineError }

func (e *PolicyError) Error() string {
	msgs := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		msgs[i] = l.Error()
	}
	return "invalid policy: " + strings.Join(msgs, "; ")
}

// BadLines is how many distinct lines have problems.
func (e *PolicyError) BadLines() int {
	n, last := 0, -1
	for _, l := range e.Lines {
		if l.Line != last || l.Line == 0 {
			n++
		}
		last = l.Line
	}
	return n
}

// ParsePolicy reads policy lines in Casbin's CSV form ("p, sub, obj, act,
// purpose, level, eft"; # comments and blank lines allowed) and checks every
// line against the model and the schema's catalog (nil skips the catalog
// check). It returns every problem of every line at once; nothing is ever
// skipped silently.
func ParsePolicy(text string, cat *Catalog) ([]Rule, error) {
	var rules []Rule
	var bad []LineError
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := csv.NewReader(strings.NewReader(line))
		r.TrimLeadingSpace = true
		r.FieldsPerRecord = -1
		tokens, err := r.Read()
		if err != nil && !errors.Is(err, io.EOF) {
			bad = append(bad, LineError{Line: i + 1, Text: line, Msg: "not a CSV line: " + err.Error()})
			continue
		}
		for j := range tokens {
			tokens[j] = strings.TrimSpace(tokens[j])
		}
		if problems := checkLine(tokens, cat); len(problems) > 0 {
			for _, p := range problems {
				bad = append(bad, LineError{Line: i + 1, Text: line, Msg: p.msg, Column: p.column})
			}
			continue
		}
		rule := Rule(tokens[1:])
		if slices.ContainsFunc(rules, func(o Rule) bool { return slices.Equal(o, rule) }) {
			bad = append(bad, LineError{Line: i + 1, Text: line, Msg: "duplicate of an earlier line"})
			continue
		}
		rules = append(rules, rule)
	}
	if len(bad) > 0 {
		return nil, &PolicyError{Lines: bad}
	}
	return rules, nil
}

// ValidateRules checks lines read by a Casbin adapter (each without the
// leading "p") as ParsePolicy checks a file.
func ValidateRules(lines [][]string, cat *Catalog) ([]Rule, error) {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(Rule(l).String())
		b.WriteByte('\n')
	}
	return ParsePolicy(b.String(), cat)
}

// ColumnNames name a rule's columns, in order, as LineError.Column does.
var ColumnNames = [ruleColumns]string{"subject", "object", "action", "purpose", "level", "effect"}

var subjectKinds = []string{"role:", "unit:", "client:", "subject:"}

// lineProblem is one problem checkLine finds; column is "" for the line.
type lineProblem struct{ column, msg string }

// checkLine returns every problem of one line. A line whose shape is wrong
// (no p, the wrong number of columns) has that one problem: its columns
// cannot be told apart. Otherwise each column is checked on its own, except
// that an object is checked only against a valid action, which says what
// objects mean.
func checkLine(t []string, cat *Catalog) []lineProblem {
	whole := func(format string, args ...any) []lineProblem {
		return []lineProblem{{"", fmt.Sprintf(format, args...)}}
	}
	if len(t) == 0 || t[0] == "" {
		return whole("a line starts with its type, p")
	}
	if t[0] != "p" {
		return whole("unknown line type %q (want p)", t[0])
	}
	if len(t) != ruleColumns+1 {
		return whole("%d fields, want %d: p, subject, object, action, purpose, level, effect", len(t), ruleColumns+1)
	}
	var out []lineProblem
	add := func(col int, format string, args ...any) {
		out = append(out, lineProblem{ColumnNames[col], fmt.Sprintf(format, args...)})
	}
	cols := t[1:]
	empty := func(col int) bool { return cols[col] == "" }
	for i, v := range cols {
		if v == "" {
			add(i, "field %d is empty", i+2)
		}
	}
	sub, obj, act, purpose, level, eft := cols[colSub], cols[colObj], cols[colAct], cols[colPurpose], cols[colLevel], cols[colEft]
	if !empty(colSub) && sub != "*" && sub != "authenticated" && !slices.ContainsFunc(subjectKinds, func(k string) bool {
		return strings.HasPrefix(sub, k) && len(sub) > len(k)
	}) {
		add(colSub, "subject %q: want *, authenticated, role:<r>, unit:<u>, client:<c> or subject:<s>", sub)
	}
	levelChecked := false
	switch {
	case empty(colAct):
	case act == ActRead:
		switch {
		case empty(colObj):
		case !doublestar.ValidatePattern(obj):
			add(colObj, "object %q is not a valid glob", obj)
		case cat != nil && !slices.ContainsFunc(cat.Fields(), func(f *Field) bool { return matchGlob(f.Key, obj) }):
			add(colObj, "object %q matches no field of the schema", obj)
		}
	case act == ActIntrospect:
		if !empty(colObj) && obj != ObjSchema {
			add(colObj, "action introspect takes object %q", ObjSchema)
		}
	case act == ActAdmin:
		if !empty(colObj) && !slices.ContainsFunc(adminObjects, func(o string) bool { return matchGlob(o, obj) }) {
			add(colObj, "action admin takes object %s", strings.Join(adminObjects, ", "))
		}
	case act == ActRow:
		if !empty(colObj) {
			if msg := checkRowObject(obj, cat); msg != "" {
				add(colObj, "%s", msg)
			}
		}
		if !empty(colLevel) && level != "0" {
			add(colLevel, "a row line's level is 0: the fields of the row are decided by their own lines")
		}
		levelChecked = true
	default:
		add(colAct, "action %q: want read, row, introspect or admin", act)
	}
	if !empty(colPurpose) && strings.ContainsAny(purpose, "|, ") && purpose != "*" {
		add(colPurpose, "purpose %q: want a single word or *", purpose)
	}
	if !empty(colLevel) && !levelChecked && level != "clearance" {
		n, err := strconv.Atoi(level)
		if err != nil || n < int(Negligible) || n > int(MaxServed) {
			add(colLevel, "level %q: want clearance or 0 to %d", level, MaxServed)
		}
	}
	if !empty(colEft) && eft != "allow" && eft != "deny" {
		add(colEft, "effect %q: want allow or deny", eft)
	}
	return out
}

func matchGlob(key, pattern string) bool {
	ok, err := util.GlobMatch(key, pattern)
	return err == nil && ok
}

// casbinSubject is the request's subject as the model sees it.
type casbinSubject struct {
	// Attrs is "|*|authenticated|role:x|unit:y|client:z|subject:s|", so one
	// string test answers every subject selector.
	Attrs string
	// Purposes is "|*|p1|p2|".
	Purposes  string
	Clearance int
}

// casbinObject is the request's object: a field, or schema / policy.
type casbinObject struct {
	Field     string
	Level     int
	Protected bool
}

// hasAttr(set, selector) is true when "|selector|" is in set.
func hasAttr(args ...any) (any, error) {
	if len(args) != 2 {
		return false, fmt.Errorf("hasAttr: want 2 arguments, got %d", len(args))
	}
	set, ok1 := args[0].(string)
	sel, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		return false, errors.New("hasAttr: want strings")
	}
	return strings.Contains(set, "|"+sel+"|"), nil
}

// grantLevel(level, clearance) is the highest level a line grants.
func grantLevel(args ...any) (any, error) {
	if len(args) != 2 {
		return 0.0, fmt.Errorf("grantLevel: want 2 arguments, got %d", len(args))
	}
	s, _ := args[0].(string)
	if s == "clearance" {
		switch c := args[1].(type) {
		case int:
			return float64(c), nil
		case float64:
			return c, nil
		}
		return 0.0, fmt.Errorf("grantLevel: clearance is %T", args[1])
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0.0, fmt.Errorf("grantLevel: level %q", s)
	}
	return float64(n), nil
}

// newEnforcer compiles the model and loads rules into a fresh enforcer. A
// matcher that does not parse or evaluate is an error here, not at the
// first request.
func newEnforcer(modelText string, rules []Rule) (*casbin.SyncedEnforcer, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("authz: model: %w", err)
	}
	e, err := casbin.NewSyncedEnforcer(m)
	if err != nil {
		return nil, fmt.Errorf("authz: model: %w", err)
	}
	e.EnableLog(false)
	e.EnableAutoSave(false)
	e.AddFunction("hasAttr", hasAttr)
	e.AddFunction("grantLevel", grantLevel)
	lines := make([][]string, len(rules))
	for i, r := range rules {
		lines[i] = r
	}
	if len(lines) > 0 {
		if _, err := e.AddPolicies(lines); err != nil {
			return nil, fmt.Errorf("authz: loading policy: %w", err)
		}
	}
	probe := casbinSubject{Attrs: "|*|", Purposes: "|*|"}
	if _, err := e.Enforce(probe, casbinObject{Field: "Query.probe"}, ActRead); err != nil {
		return nil, fmt.Errorf("authz: the model's matcher does not evaluate: %w", err)
	}
	return e, nil
}
