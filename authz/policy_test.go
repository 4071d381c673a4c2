package authz_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/authz"
)

func TestParsePolicyRefusesEveryBadLine(t *testing.T) {
	a, _ := defaultAuthorizer(t)
	cat := a.Catalog()
	tests := []struct {
		name, line, want string
	}{
		{"too few fields", "p, role:x, Person.*, read, *, clearance", "6 fields, want 7"},
		{"too many fields", "p, role:x, Person.*, read, *, clearance, allow, extra", "8 fields, want 7"},
		{"leading comma", ", role:x, Person.*, read, *, clearance, allow", "a line starts with its type"},
		{"unknown line type", "g, role:x, role:y", `unknown line type "g"`},
		{"empty field", "p, role:x, , read, *, clearance, allow", "field 3 is empty"},
		{"bad subject", "p, admin, Person.*, read, *, clearance, allow", `subject "admin"`},
		{"bad action", "p, role:x, Person.*, write, *, clearance, allow", `action "write"`},
		{"bad level", "p, role:x, Person.*, read, *, 4, allow", `level "4"`},
		{"level expression", "p, role:x, Person.*, read, *, clearance), allow", `level "clearance)"`},
		{"bad effect", "p, role:x, Person.*, read, *, clearance, permit", `effect "permit"`},
		{"glob that does not parse", "p, role:x, Person.[, read, *, clearance, allow", "not a valid glob"},
		{"object matching nothing", "p, role:x, Persn.*, read, *, clearance, allow", "matches no field"},
		{"introspect on a field", "p, role:x, Person.*, introspect, *, 0, allow", "introspect takes object"},
		{"unbalanced quote", `p, role:x, "Person.*, read, *, clearance, allow`, "not a CSV line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := "# ok\np, *, *, read, *, 0, allow\n" + tc.line + "\n"
			rules, err := authz.ParsePolicy(text, cat)
			var pe *authz.PolicyError
			if rules != nil || !errors.As(err, &pe) {
				t.Fatalf("ParsePolicy = %v, %v; want a PolicyError", rules, err)
			}
			if len(pe.Lines) != 1 || pe.Lines[0].Line != 3 || !strings.Contains(pe.Lines[0].Msg, tc.want) {
				t.Errorf("got %v, want line 3: ...%s...", pe.Lines, tc.want)
			}
		})
	}
	t.Run("every bad line is reported at once", func(t *testing.T) {
		_, err := authz.ParsePolicy("p, a\np, *, *, read, *, 0, allow\np, *, *, read, *, 0, allow\nx\n", cat)
		var pe *authz.PolicyError
		if !errors.As(err, &pe) || len(pe.Lines) != 3 {
			t.Fatalf("got %v, want 3 bad lines (short, duplicate, unknown type)", err)
		}
	})
}

func TestSwapChangesDecisionsAndCheckLeavesTheLivePolicy(t *testing.T) {
	a, roles := defaultAuthorizer(t)
	p, err := authz.PersonaPrincipal("case-officer", roles)
	if err != nil {
		t.Fatal(err)
	}
	city := a.Catalog().Field("Address", "city")
	s := authz.Prepare(p)
	if d := a.Decide(s, city, false); !d.Allow || d.PolicyVersion != 1 {
		t.Fatalf("before: %+v", d)
	}
	var without []authz.Rule
	for _, r := range a.Rules() {
		if r[0] == "role:case-officer" && r[1] == "Address.*" {
			continue
		}
		without = append(without, r)
	}
	scratch, err := a.Check(without)
	if err != nil {
		t.Fatal(err)
	}
	if d := scratch.Decide(s, city, false); d.Allow {
		t.Errorf("scratch still allows: %+v", d)
	}
	if d := a.Decide(s, city, false); !d.Allow {
		t.Errorf("Check changed the live policy: %+v", d)
	}
	if err := a.Swap(2, without, nil); err != nil {
		t.Fatal(err)
	}
	d := a.Decide(s, city, false)
	if d.Allow || d.PolicyVersion != 2 || d.Reason != "no policy line allows it" {
		t.Errorf("after Swap (the memo must not answer from version 1): %+v", d)
	}
}

func TestParseContractsRefuses(t *testing.T) {
	a, _ := defaultAuthorizer(t)
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown key":      {"contracts:\n  - client: a\n    owner: o\n    purposes: [x]\n    operations: open\n    colour: red\n", "field colour not found"},
		"no owner":         {"contracts:\n  - client: a\n    purposes: [x]\n", "owner is required"},
		"no purpose":       {"contracts:\n  - client: a\n    owner: o\n", "at least one purpose"},
		"level 4 ceiling":  {"contracts:\n  - client: a\n    owner: o\n    purposes: [x]\n    ceiling: 4\n", "ceiling 4"},
		"duplicate client": {"contracts:\n  - {client: a, owner: o, purposes: [x]}\n  - {client: a, owner: o, purposes: [x]}\n", "a second contract"},
		"unknown field":    {"contracts:\n  - {client: a, owner: o, purposes: [x], fields: [Nope.*]}\n", "matches no field"},
		"no operations":    {"contracts:\n  - {client: a, owner: o, purposes: [x]}\n", `operations "": want persisted-only, log-unknown or open`},
		"bad operations":   {"contracts:\n  - {client: a, owner: o, purposes: [x], operations: all}\n", `operations "all"`},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := authz.ParseContracts([]byte(tc.yaml), a.Catalog())
			if c != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, %v; want error with %q", c, err, tc.want)
			}
		})
	}
}

// TestForgedAttributesGrantNothing: identity values come from tokens and
// API key configuration; one that smuggles the attribute separator in
// ("x|role:security-officer") must not acquire the role it names.
func TestForgedAttributesGrantNothing(t *testing.T) {
	a, roles := defaultAuthorizer(t)
	for name, p := range map[string]*authz.Principal{
		"subject":  authz.NewPrincipal("x|role:security-officer", "policy-editor", nil, "", "oidc", roles),
		"unit":     authz.NewPrincipal("s", "policy-editor", []string{"analyst"}, "Strategi|role:security-officer", "oidc", roles),
		"role":     authz.NewPrincipal("s", "policy-editor", []string{"analyst|role:security-officer"}, "", "oidc", roles),
		"client":   authz.NewPrincipal("s", "policy-editor|role:security-officer", nil, "", "oidc", roles),
		"newline":  authz.NewPrincipal("s", "policy-editor", []string{"security-officer\n"}, "", "oidc", roles),
		"real one": authz.NewPrincipal("s", "policy-editor", []string{"security-officer"}, "", "oidc", roles),
	} {
		t.Run(name, func(t *testing.T) {
			d, err := authz.Explain(a, p, "", authz.ActAdmin, authz.ObjPolicy, false)
			if err != nil {
				t.Fatal(err)
			}
			if want := name == "real one"; d.Allow != want {
				t.Errorf("admin policy = %v, want %v (%s)", d.Allow, want, d.Reason)
			}
		})
	}
}

// TestDenyLinesDenyAtEveryLevel: a deny line's level column does not limit it.
func TestDenyLinesDenyAtEveryLevel(t *testing.T) {
	a, roles := defaultAuthorizer(t)
	rules, err := authz.ParsePolicy(authz.DefaultPolicy()+"\np, role:case-officer, Person.*, read, *, 0, deny\n", a.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Swap(2, rules, nil); err != nil {
		t.Fatal(err)
	}
	p, _ := authz.PersonaPrincipal("case-officer", roles)
	for _, field := range []string{"Person.givenName", "Person.address", "Person.personalNumber"} {
		if d, _ := authz.Explain(a, p, field, "", "", false); d.Allow {
			t.Errorf("%s allowed despite the deny line: %+v", field, d)
		}
	}
}

// TestMemoSeparatesAnonymousFromLookalikes: a token whose subject and
// client spell "anonymous" is still authenticated, and its decisions must
// never answer for a real anonymous caller.
func TestMemoSeparatesAnonymousFromLookalikes(t *testing.T) {
	a, roles := defaultAuthorizer(t)
	rules, err := authz.ParsePolicy(authz.DefaultPolicy()+"\np, authenticated, schema, introspect, *, 0, allow\n", a.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Swap(2, rules, nil); err != nil {
		t.Fatal(err)
	}
	fake := authz.NewPrincipal("anonymous", "anonymous", nil, "", "oidc", roles)
	if d, _ := authz.Explain(a, fake, "", authz.ActIntrospect, authz.ObjSchema, false); !d.Allow {
		t.Fatalf("an authenticated caller should introspect under this policy: %+v", d)
	}
	if d, _ := authz.Explain(a, authz.AnonymousPrincipal(), "", authz.ActIntrospect, authz.ObjSchema, false); d.Allow {
		t.Fatal("the anonymous caller got the authenticated caller's memoized decision")
	}
}

func TestExplainRefusesUnknownQuestions(t *testing.T) {
	a, _ := defaultAuthorizer(t)
	for _, q := range [][2]string{{authz.ActAdmin, "polcy"}, {authz.ActIntrospect, "policy"}, {"write", "schema"}} {
		if _, err := authz.Explain(a, authz.AnonymousPrincipal(), "", q[0], q[1], false); err == nil {
			t.Errorf("%s %s: no error", q[0], q[1])
		}
	}
	if _, err := authz.Explain(a, authz.AnonymousPrincipal(), "Person.nope", "", "", false); err == nil {
		t.Error("unknown field: no error")
	}
}

// Every problem of a line is reported, each with its column, so an editor
// can mark every bad field of the line at once rather than one per attempt.
func TestParsePolicyReportsEveryProblemOfALine(t *testing.T) {
	a, _ := defaultAuthorizer(t)
	cat := a.Catalog()
	type problem struct {
		line        int
		column, msg string
	}
	tests := []struct {
		name, text string
		want       []problem
	}{
		{"four bad columns", "p, *, *, read, *, 0, allow\np, admin, Person.*, write, for all, 4, permit\n", []problem{
			{2, "subject", `subject "admin"`}, {2, "action", `action "write"`}, {2, "purpose", `purpose "for all"`},
			{2, "level", `level "4"`}, {2, "effect", `effect "permit"`},
		}},
		{"an unknown field and a bad level", "p, role:x, Persn.*, read, *, 9, allow\n", []problem{
			{1, "object", "matches no field"}, {1, "level", `level "9"`},
		}},
		{"two empty fields and a bad effect", "p, , Person.*, read, , clearance, maybe\n", []problem{
			{1, "subject", "field 2 is empty"}, {1, "purpose", "field 5 is empty"}, {1, "effect", `effect "maybe"`},
		}},
		{"a row line with a glob and a level", "p, role:x, Errand(caseType=*), row, bygglov, 2, allow\n", []problem{
			{1, "object", "literal words"}, {1, "level", "a row line's level is 0"},
		}},
		{"a wrong shape is one problem of the whole line", "p, admin, Person.*, write\np, role:x, Persn.*, read, *, 9, allow\n", []problem{
			{1, "", "4 fields, want 7"}, {2, "object", "matches no field"}, {2, "level", `level "9"`},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authz.ParsePolicy(tc.text, cat)
			var pe *authz.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("ParsePolicy = %v, want a PolicyError", err)
			}
			if len(pe.Lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d: %v", len(pe.Lines), len(tc.want), pe.Lines)
			}
			for i, w := range tc.want {
				g := pe.Lines[i]
				if g.Line != w.line || g.Column != w.column || !strings.Contains(g.Msg, w.msg) {
					t.Errorf("problem %d = line %d column %q %q; want line %d column %q ...%s...", i, g.Line, g.Column, g.Msg, w.line, w.column, w.msg)
				}
			}
		})
	}
	t.Run("BadLines counts lines, not problems", func(t *testing.T) {
		_, err := authz.ParsePolicy("p, admin, Person.*, write, *, 4, permit\np, *, *, read, *, 0, allow\np, x\n", cat)
		var pe *authz.PolicyError
		if !errors.As(err, &pe) || len(pe.Lines) != 5 || pe.BadLines() != 2 {
			t.Fatalf("got %v; want 5 problems on 2 lines", err)
		}
	})
}
