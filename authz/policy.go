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

// LineError is one policy line that does not fit the model.
type LineError struct {
	Line int
	Text string
	Msg  string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s: %q", e.Line, e.Msg, e.Text) }

// PolicyError lists every line of a policy that does not fit the model.
type PolicyError struct{ Lines []LineError }

func (e *PolicyError) Error() string {
	msgs := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		msgs[i] = l.Error()
	}
	return "invalid policy: " + strings.Join(msgs, "; ")
}

// ParsePolicy reads policy lines in Casbin's CSV form ("p, sub, obj, act,
// purpose, level, eft"; # comments and blank lines allowed) and checks every
// line against the model and the schema's catalog (nil skips the catalog
// check). It returns every problem at once; nothing is ever skipped silently.
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
			bad = append(bad, LineError{i + 1, line, "not a CSV line: " + err.Error()})
			continue
		}
		for j := range tokens {
			tokens[j] = strings.TrimSpace(tokens[j])
		}
		if msg := checkLine(tokens, cat); msg != "" {
			bad = append(bad, LineError{i + 1, line, msg})
			continue
		}
		rule := Rule(tokens[1:])
		if slices.ContainsFunc(rules, func(o Rule) bool { return slices.Equal(o, rule) }) {
			bad = append(bad, LineError{i + 1, line, "duplicate of an earlier line"})
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

var subjectKinds = []string{"role:", "unit:", "client:", "subject:"}

func checkLine(t []string, cat *Catalog) string {
	if len(t) == 0 || t[0] == "" {
		return "a line starts with its type, p"
	}
	if t[0] != "p" {
		return fmt.Sprintf("unknown line type %q (want p)", t[0])
	}
	if len(t) != ruleColumns+1 {
		return fmt.Sprintf("%d fields, want %d: p, subject, object, action, purpose, level, effect", len(t), ruleColumns+1)
	}
	for i, v := range t[1:] {
		if v == "" {
			return fmt.Sprintf("field %d is empty", i+2)
		}
	}
	sub, obj, act, purpose, level, eft := t[1+colSub], t[1+colObj], t[1+colAct], t[1+colPurpose], t[1+colLevel], t[1+colEft]
	if sub != "*" && sub != "authenticated" && !slices.ContainsFunc(subjectKinds, func(k string) bool {
		return strings.HasPrefix(sub, k) && len(sub) > len(k)
	}) {
		return fmt.Sprintf("subject %q: want *, authenticated, role:<r>, unit:<u>, client:<c> or subject:<s>", sub)
	}
	switch act {
	case ActRead:
		if !doublestar.ValidatePattern(obj) {
			return fmt.Sprintf("object %q is not a valid glob", obj)
		}
		if cat != nil && !slices.ContainsFunc(cat.Fields(), func(f *Field) bool { return matchGlob(f.Key, obj) }) {
			return fmt.Sprintf("object %q matches no field of the schema", obj)
		}
	case ActIntrospect:
		if obj != ObjSchema {
			return fmt.Sprintf("action introspect takes object %q", ObjSchema)
		}
	case ActAdmin:
		if !slices.ContainsFunc(adminObjects, func(o string) bool { return matchGlob(o, obj) }) {
			return fmt.Sprintf("action admin takes object %s", strings.Join(adminObjects, ", "))
		}
	case ActRow:
		if msg := checkRowObject(obj, cat); msg != "" {
			return msg
		}
		if level != "0" {
			return "a row line's level is 0: the fields of the row are decided by their own lines"
		}
	default:
		return fmt.Sprintf("action %q: want read, row, introspect or admin", act)
	}
	if strings.ContainsAny(purpose, "|, ") && purpose != "*" {
		return fmt.Sprintf("purpose %q: want a single word or *", purpose)
	}
	if level != "clearance" {
		n, err := strconv.Atoi(level)
		if err != nil || n < int(Negligible) || n > int(MaxServed) {
			return fmt.Sprintf("level %q: want clearance or 0 to %d", level, MaxServed)
		}
	}
	if eft != "allow" && eft != "deny" {
		return fmt.Sprintf("effect %q: want allow or deny", eft)
	}
	return ""
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
