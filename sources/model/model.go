// Package model holds the gateway's domain records: what the source connectors
// decode upstream answers into, what the cache stores and what gqlgen binds the
// GraphQL types to. The records carry no access rules; authorization happens on
// the GraphQL fields (package authz).
package model

import "time"

// Person is one record of the population registry (folkbokföring).
type Person struct {
	PersonalNumber string
	GivenName      string
	MiddleName     string
	Surname        string
	// Address is the registered address or, for a person with protected
	// identity, the forwarding address (förmedlingsadress).
	Address *Address
	// ProtectedIdentity is skyddad folkbokföring.
	ProtectedIdentity bool
	// ConfidentialityMarking is sekretessmarkering.
	ConfidentialityMarking bool
	// Deregistered is set when the registry holds an avregistrering.
	Deregistered bool
	Relations    []Relation
	// FetchedAt is when the record was fetched from the registry; decisions
	// that read the protection flags refuse a record older than
	// authz.protectionMaxAge.
	FetchedAt time.Time
}

// RelationKind is the registry's Relationstyp.
type RelationKind string

// Relation kinds used by the registry.
const (
	RelationChild    RelationKind = "B"
	RelationGuardian RelationKind = "V"
	RelationSpouse   RelationKind = "M"
)

// Relation links a person to another by personnummer.
type Relation struct {
	PersonalNumber string
	Kind           RelationKind
}

// RelatedNumbers returns the personnummer of the relations of one kind, in
// registry order.
func (p *Person) RelatedNumbers(kind RelationKind) []string {
	var out []string
	for _, r := range p.Relations {
		if r.Kind == kind {
			out = append(out, r.PersonalNumber)
		}
	}
	return out
}

// Address is a postal address.
type Address struct {
	Street     string
	PostalCode string
	City       string
	// Forwarding is true for a förmedlingsadress of a protected person.
	Forwarding bool
	// PersonalNumber is the person the address is registered to (its data subject).
	PersonalNumber string
}

// Errand is one case (ärende) of the e-service platform.
type Errand struct {
	ErrandNumber     string
	CaseType         string
	Status           ErrandStatus
	SubmittedAt      time.Time
	Description      string
	Channel          string
	Stakeholders     []*Stakeholder
	PropertyObjectID string
}

// Stakeholder is a party's role in an errand.
type Stakeholder struct {
	PartyID string
	Role    StakeholderRole
}

// Property is one real property (fastighet) of the property register.
type Property struct {
	ObjectID    string
	Designation string
	AreaM2      float64
	Address     string
	Geometry    GeoJSON
}

// PropertyOwner is a registered owner (lagfaren ägare) of a property.
type PropertyOwner struct {
	Name string
	// PersonalNumber is set for a natural person, OrganisationNumber for a
	// legal one.
	PersonalNumber     string
	OrganisationNumber string
	Share              string
	AcquiredOn         time.Time
}

// SchoolUnit is a school unit (skolenhet) of the school database.
type SchoolUnit struct {
	Code             string
	Name             string
	SchoolForm       SchoolForm
	PropertyObjectID string
}

// Placement is a child's placement at a school unit.
type Placement struct {
	ID             int64
	PersonalNumber string
	SchoolUnitCode string
	Group          string
	StartDate      time.Time
	EndDate        *time.Time
	// HoursPerWeek is set for preschool placements only.
	HoursPerWeek *float64
}

// Absence is one day of absence.
type Absence struct {
	// PersonalNumber is the absent child (the data subject).
	PersonalNumber string
	Date           time.Time
	Hours          float64
	Reported       bool
}
