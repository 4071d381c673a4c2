package model

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// ErrandStatus is the status of an errand, as the e-service platform names it.
type ErrandStatus string

// Errand statuses.
const (
	ErrandReceived    ErrandStatus = "RECEIVED"
	ErrandUnderReview ErrandStatus = "UNDER_REVIEW"
	ErrandDecided     ErrandStatus = "DECIDED"
	ErrandClosed      ErrandStatus = "CLOSED"
	ErrandWithdrawn   ErrandStatus = "WITHDRAWN"
)

// ErrandStatuses lists every status in display order.
var ErrandStatuses = []ErrandStatus{ErrandReceived, ErrandUnderReview, ErrandDecided, ErrandClosed, ErrandWithdrawn}

// StakeholderRole is a party's role in an errand.
type StakeholderRole string

// Stakeholder roles.
const (
	RoleApplicant     StakeholderRole = "APPLICANT"
	RoleGuardian      StakeholderRole = "GUARDIAN"
	RolePupil         StakeholderRole = "PUPIL"
	RolePropertyOwner StakeholderRole = "PROPERTY_OWNER"
)

// StakeholderRoles lists every role.
var StakeholderRoles = []StakeholderRole{RoleApplicant, RoleGuardian, RolePupil, RolePropertyOwner}

// DecisionOutcome is the outcome of a decision.
type DecisionOutcome string

// Decision outcomes.
const (
	OutcomeApproved  DecisionOutcome = "APPROVED"
	OutcomeRejected  DecisionOutcome = "REJECTED"
	OutcomeDismissed DecisionOutcome = "DISMISSED"
)

// DecisionOutcomes lists every outcome.
var DecisionOutcomes = []DecisionOutcome{OutcomeApproved, OutcomeRejected, OutcomeDismissed}

// SchoolForm is the school form (skolform) of a school unit.
type SchoolForm string

// School forms.
const (
	FormPreschool SchoolForm = "FORSKOLA"
	FormPrimary   SchoolForm = "GRUNDSKOLA"
	FormSecondary SchoolForm = "GYMNASIESKOLA"
)

// SchoolForms lists every school form.
var SchoolForms = []SchoolForm{FormPreschool, FormPrimary, FormSecondary}

func unmarshalEnum[T ~string](v any, valid []T, name string) (T, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string", name)
	}
	for _, x := range valid {
		if string(x) == s {
			return x, nil
		}
	}
	return "", fmt.Errorf("%q is not a valid %s", s, name)
}

// MarshalGQL implements graphql.Marshaler.
func (e ErrandStatus) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Quote(string(e))) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (e *ErrandStatus) UnmarshalGQL(v any) (err error) {
	*e, err = unmarshalEnum(v, ErrandStatuses, "ErrandStatus")
	return err
}

// MarshalGQL implements graphql.Marshaler.
func (e StakeholderRole) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Quote(string(e))) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (e *StakeholderRole) UnmarshalGQL(v any) (err error) {
	*e, err = unmarshalEnum(v, StakeholderRoles, "StakeholderRole")
	return err
}

// MarshalGQL implements graphql.Marshaler.
func (e DecisionOutcome) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Quote(string(e))) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (e *DecisionOutcome) UnmarshalGQL(v any) (err error) {
	*e, err = unmarshalEnum(v, DecisionOutcomes, "DecisionOutcome")
	return err
}

// MarshalGQL implements graphql.Marshaler.
func (e SchoolForm) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Quote(string(e))) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (e *SchoolForm) UnmarshalGQL(v any) (err error) {
	*e, err = unmarshalEnum(v, SchoolForms, "SchoolForm")
	return err
}

// GeoJSON is a GeoJSON geometry object kept as raw JSON.
type GeoJSON json.RawMessage

// MarshalGQL implements graphql.Marshaler: the geometry is written as a JSON object.
func (g GeoJSON) MarshalGQL(w io.Writer) {
	if len(g) == 0 {
		io.WriteString(w, "null")
		return
	}
	w.Write(g)
}

// UnmarshalGQL implements graphql.Unmarshaler. Geometry is output only.
func (g *GeoJSON) UnmarshalGQL(any) error { return fmt.Errorf("GeoJSON is an output type") }

// MarshalJSON keeps the raw geometry.
func (g GeoJSON) MarshalJSON() ([]byte, error) {
	if len(g) == 0 {
		return []byte("null"), nil
	}
	return g, nil
}

// UnmarshalJSON keeps the raw geometry.
func (g *GeoJSON) UnmarshalJSON(b []byte) error {
	*g = append((*g)[:0], b...)
	return nil
}
