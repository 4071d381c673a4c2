package authz

import (
	"fmt"
	"slices"
	"strings"
)

// Rows carry a purpose. A type marked @row(attribute: "caseType") in the
// schema has rows that belong to a purpose through the value of that
// attribute, and the policy says which with lines of the action "row":
//
//	p, *, Errand(caseType=BYGGLOV), row, bygglov, 0, allow
//
// reads "a row of Errand whose caseType is BYGGLOV may be read by anyone (*)
// acting for the purpose bygglov". The Casbin model decides a row like a
// field (subject, purpose narrowed by the client's contract, deny lines win),
// so security staff edit, explain and dry-run the table like any other
// line. A value that no line names is read by no one. Values are literal,
// never globs, so that the gateway can push the allowed values down to an
// upstream's filter.

// RowObject is the policy object of the rows of typ whose attribute has value.
func RowObject(typ, attribute, value string) string {
	return typ + "(" + attribute + "=" + value + ")"
}

// ParseRowObject splits Type(attribute=value).
func ParseRowObject(obj string) (typ, attribute, value string, ok bool) {
	typ, rest, ok1 := strings.Cut(obj, "(")
	inner, ok2 := strings.CutSuffix(rest, ")")
	attribute, value, ok3 := strings.Cut(inner, "=")
	if !ok1 || !ok2 || !ok3 || typ == "" || attribute == "" || value == "" {
		return "", "", "", false
	}
	return typ, attribute, value, true
}

func checkRowObject(obj string, cat *Catalog) string {
	typ, attr, value, ok := ParseRowObject(obj)
	if !ok {
		return fmt.Sprintf("row object %q: want Type(attribute=value), such as Errand(caseType=BYGGLOV)", obj)
	}
	if strings.ContainsAny(typ+attr+value, "*?[]{}\\()=|, ") {
		return fmt.Sprintf("row object %q: type, attribute and value are literal words (no globs)", obj)
	}
	if cat != nil {
		switch want := cat.RowAttribute(typ); {
		case want == "":
			return fmt.Sprintf("row object %q: type %s has no @%s in the schema", obj, typ, RowDirective)
		case want != attr:
			return fmt.Sprintf("row object %q: the rows of %s carry their purpose in %q", obj, typ, want)
		}
	}
	return ""
}

// RowValues are the values of typ's row attribute that the policy's row
// lines name, sorted: the only values any caller can be allowed.
func (snap *snapshot) rowValues(typ string) []string {
	var out []string
	for _, r := range snap.rules {
		if r[colAct] != ActRow {
			continue
		}
		if t, _, v, ok := ParseRowObject(r[colObj]); ok && t == typ && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// DecideRow answers whether s may read a row of typ whose row attribute has
// value (Catalog.RowAttribute names the attribute).
func (a *Authorizer) DecideRow(s *Subject, typ, value string) Decision {
	return a.decide(s, ActRow, RowObject(typ, a.catalog.RowAttribute(typ), value), Negligible, false)
}

// RowValues are the values of typ's row attribute whose rows s may read,
// sorted; empty when s may read none. A value outside every row line is
// never among them.
func (a *Authorizer) RowValues(s *Subject, typ string) []string {
	var out []string
	for _, v := range a.cur.Load().rowValues(typ) {
		if a.DecideRow(s, typ, v).Allow {
			out = append(out, v)
		}
	}
	return out
}

// AllRowValues are every value of typ's row attribute that some row line
// names, whoever may read them.
func (a *Authorizer) AllRowValues(typ string) []string { return a.cur.Load().rowValues(typ) }
