package authz

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecisionCase is one expected decision of a decision table: security
// staff's regression tests for the policy (authz/policy/decisions.yaml).
type DecisionCase struct {
	// Persona is a demo persona id; or give Principal.
	Persona string `yaml:"persona"`
	// Principal describes a caller that is not a persona.
	Principal *struct {
		Subject string   `yaml:"subject"`
		Client  string   `yaml:"client"`
		Roles   []string `yaml:"roles"`
		Unit    string   `yaml:"unit"`
	} `yaml:"principal"`
	// Field is "Type.field" for a read; or Action and Object.
	Field string `yaml:"field"`
	// Protected asks about a value of a person with protected identity.
	Protected bool `yaml:"protected"`
	// Action (row, introspect, admin) and Object (Errand(caseType=BYGGLOV),
	// schema, policy, ...) for other questions.
	Action string `yaml:"action"`
	Object string `yaml:"object"`
	// Expect is allow or deny.
	Expect string `yaml:"expect"`
	// Line is where the case is in its file.
	Line int `yaml:"-"`
}

// Name describes the case in one line.
func (c DecisionCase) Name() string {
	who := c.Persona
	if who == "" && c.Principal != nil {
		who = fmt.Sprintf("client:%s roles:%s", c.Principal.Client, strings.Join(c.Principal.Roles, "+"))
	}
	what := c.Field
	if c.Action != "" {
		what = c.Action + " " + c.Object
	}
	if c.Protected {
		what += " (protected person)"
	}
	return who + " " + what
}

// DecisionResult is a case and what the policy decided.
type DecisionResult struct {
	Case     DecisionCase
	Decision Decision
	// Err is set when the case itself is wrong (unknown persona or field).
	Err error
}

// Pass reports whether the decision is the expected one.
func (r DecisionResult) Pass() bool {
	return r.Err == nil && r.Decision.Allow == (r.Case.Expect == "allow")
}

// ParseDecisionTable reads {cases: [...]}, rejecting unknown keys.
func ParseDecisionTable(raw []byte) ([]DecisionCase, error) {
	var doc struct {
		Cases []yaml.Node `yaml:"cases"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decision table: %w", err)
	}
	out := make([]DecisionCase, 0, len(doc.Cases))
	for _, n := range doc.Cases {
		var c DecisionCase
		if err := n.Decode(&c); err != nil {
			return nil, fmt.Errorf("decision table line %d: %w", n.Line, err)
		}
		c.Line = n.Line
		if c.Expect != "allow" && c.Expect != "deny" {
			return nil, fmt.Errorf("decision table line %d: expect %q, want allow or deny", n.Line, c.Expect)
		}
		out = append(out, c)
	}
	return out, nil
}

// RunDecisionTable decides every case with a and the role table.
func RunDecisionTable(a *Authorizer, roles map[string]RoleGrant, cases []DecisionCase) []DecisionResult {
	out := make([]DecisionResult, len(cases))
	for i, c := range cases {
		out[i] = DecisionResult{Case: c}
		var p *Principal
		switch {
		case c.Persona == "anonymous":
			p = AnonymousPrincipal()
		case c.Persona != "":
			var err error
			if p, err = PersonaPrincipal(c.Persona, roles); err != nil {
				out[i].Err = err
				continue
			}
		case c.Principal != nil:
			p = NewPrincipal(c.Principal.Subject, c.Principal.Client, c.Principal.Roles, c.Principal.Unit, "table", roles)
		default:
			out[i].Err = fmt.Errorf("line %d: name a persona or a principal", c.Line)
			continue
		}
		d, err := Explain(a, p, c.Field, c.Action, c.Object, c.Protected)
		out[i].Decision, out[i].Err = d, err
	}
	return out
}

// Explain decides one question for p: a field read (field "Type.field",
// protected for a value of a protected person) or an action on an object.
func Explain(a *Authorizer, p *Principal, field, action, object string, protected bool) (Decision, error) {
	s := Prepare(p)
	if action == ActRow {
		typ, attr, value, ok := ParseRowObject(object)
		if !ok || a.Catalog().RowAttribute(typ) == "" || a.Catalog().RowAttribute(typ) != attr {
			return Decision{}, fmt.Errorf("unknown row %q (want Type(attribute=value) of a @row type, such as Errand(caseType=BYGGLOV))", object)
		}
		return a.DecideRow(s, typ, value), nil
	}
	if action != "" && action != ActRead {
		switch {
		case action == ActIntrospect && object == ObjSchema:
		case action == ActAdmin && slices.Contains(adminObjects, object):
		default:
			return Decision{}, fmt.Errorf("unknown question %q on %q (want introspect schema, row Type(attribute=value), or admin %s)", action, object, strings.Join(adminObjects, "|"))
		}
		return a.DecideAction(s, action, object), nil
	}
	typ, name, ok := strings.Cut(field, ".")
	f := a.Catalog().Field(typ, name)
	if !ok || f == nil {
		return Decision{}, fmt.Errorf("unknown field %q (want Type.field of the schema)", field)
	}
	return a.Decide(s, f, protected), nil
}
