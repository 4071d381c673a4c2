package model

import "time"

// Data subjects and row attributes are declared here, next to the records,
// rather than recovered by the authorizer: every record whose GraphQL type
// holds personal data implements DataSubjects, and every record whose rows
// the policy decides by an attribute implements Row. The gateway checks at
// start that each @personal and each @row type of the schema has a record
// in Records that implements them, and refuses to start otherwise, so a new
// personal type cannot fall through as "no person, not protected".

// Subject names one data subject of a record: the personnummer, or the
// e-service platform's pseudonymous party id, which the gateway resolves to
// one through the platform's party lookup.
type Subject struct {
	PersonalNumber string
	PartyID        string
}

// DataSubjects is implemented by every record that holds personal data. It
// lists the persons the record's personal fields are about; an empty list
// says the record is about no natural person (a legal person owning a
// property), never "unknown".
type DataSubjects interface {
	DataSubjects() Subjects
}

// Subjects is a list of data subjects. Authorization asks a record for its
// subjects for every personal field it serves, so the common list of one is
// a value, without a slice behind it.
type Subjects struct {
	one  Subject
	n    int       // 0 or 1 with one; len(many) otherwise
	many []Subject // more than one
}

// OneSubject is the list of s alone.
func OneSubject(s Subject) Subjects { return Subjects{one: s, n: 1} }

// SubjectList is the list of ss (which it keeps).
func SubjectList(ss ...Subject) Subjects {
	if len(ss) == 1 {
		return OneSubject(ss[0])
	}
	return Subjects{n: len(ss), many: ss}
}

// Len is the number of subjects.
func (s Subjects) Len() int { return s.n }

// At is the i-th subject, 0 <= i < Len().
func (s Subjects) At(i int) Subject {
	if s.many == nil {
		if i != 0 || s.n != 1 {
			panic("model: Subjects.At out of range")
		}
		return s.one
	}
	return s.many[i]
}

// Protectable is implemented by the registry's record of a person, which
// carries the protection flags themselves.
type Protectable interface {
	// IsProtected reports skyddad folkbokföring or sekretessmarkering.
	IsProtected() bool
	// FlagsAt is when the registry last vouched for the flags (zero: unknown,
	// which counts as too old).
	FlagsAt() time.Time
}

// Row is implemented by records whose rows the policy decides by the value
// of an attribute (the schema's @row(attribute: ...)), such as an errand by
// its case type. ok is false for an attribute the record does not have.
type Row interface {
	RowAttribute(name string) (value string, ok bool)
}

// Records maps each GraphQL object type bound to a record of this package
// (gqlgen autobinds by name) to a zero value of it, for the checks at start.
func Records() map[string]any {
	return map[string]any{
		"Person":        (*Person)(nil),
		"Address":       (*Address)(nil),
		"Errand":        (*Errand)(nil),
		"Stakeholder":   (*Stakeholder)(nil),
		"Property":      (*Property)(nil),
		"PropertyOwner": (*PropertyOwner)(nil),
		"SchoolUnit":    (*SchoolUnit)(nil),
		"Placement":     (*Placement)(nil),
		"Absence":       (*Absence)(nil),
	}
}

func pnr(s string) Subjects {
	if s == "" {
		return Subjects{}
	}
	return OneSubject(Subject{PersonalNumber: s})
}

// DataSubjects is the person themself.
func (p *Person) DataSubjects() Subjects {
	return OneSubject(Subject{PersonalNumber: p.PersonalNumber})
}

// IsProtected reports skyddad folkbokföring or sekretessmarkering.
func (p *Person) IsProtected() bool { return p.ProtectedIdentity || p.ConfidentialityMarking }

// FlagsAt is when the record was fetched from the registry.
func (p *Person) FlagsAt() time.Time { return p.FetchedAt }

// DataSubjects is the person the address is registered to.
func (a *Address) DataSubjects() Subjects {
	return OneSubject(Subject{PersonalNumber: a.PersonalNumber})
}

// DataSubjects are the errand's stakeholders: its description may name them.
func (e *Errand) DataSubjects() Subjects {
	out := make([]Subject, 0, len(e.Stakeholders))
	for _, s := range e.Stakeholders {
		out = append(out, Subject{PartyID: s.PartyID})
	}
	return SubjectList(out...)
}

// RowAttribute gives the errand's case type, which binds it to a purpose.
func (e *Errand) RowAttribute(name string) (string, bool) {
	if name == "caseType" {
		return e.CaseType, true
	}
	return "", false
}

// DataSubjects is the party.
func (s *Stakeholder) DataSubjects() Subjects { return OneSubject(Subject{PartyID: s.PartyID}) }

// DataSubjects is the owner when a natural person, none for a legal person.
func (o *PropertyOwner) DataSubjects() Subjects { return pnr(o.PersonalNumber) }

// DataSubjects is the placed child.
func (p *Placement) DataSubjects() Subjects {
	return OneSubject(Subject{PersonalNumber: p.PersonalNumber})
}

// DataSubjects is the absent child.
func (a *Absence) DataSubjects() Subjects {
	return OneSubject(Subject{PersonalNumber: a.PersonalNumber})
}

// Interface guards.
var (
	_ DataSubjects = (*Person)(nil)
	_ Protectable  = (*Person)(nil)
	_ DataSubjects = (*Address)(nil)
	_ DataSubjects = (*Errand)(nil)
	_ Row          = (*Errand)(nil)
	_ DataSubjects = (*Stakeholder)(nil)
	_ DataSubjects = (*PropertyOwner)(nil)
	_ DataSubjects = (*Placement)(nil)
	_ DataSubjects = (*Absence)(nil)
)
