package rest

import (
	"encoding/json"
	"encoding/xml"
	"time"
)

// The wire types of the two REST upstreams. The simulators encode them and the
// connector decodes them, so the contract lives in one place.

// ErrandDTO is an errand of the e-service platform (DIGG REST API profile).
type ErrandDTO struct {
	ErrandNumber     string           `json:"errandNumber"`
	CaseType         string           `json:"caseType"`
	Status           string           `json:"status"`
	SubmittedAt      time.Time        `json:"submittedAt"`
	Description      string           `json:"description"`
	Channel          string           `json:"channel"`
	Stakeholders     []StakeholderDTO `json:"stakeholders"`
	PropertyObjectID string           `json:"propertyObjectId,omitempty"`
}

// StakeholderDTO is a party in an errand; people are pseudonymous partyIds.
type StakeholderDTO struct {
	PartyID string `json:"partyId"`
	Role    string `json:"role"`
}

// ErrandList is one page of errands.
type ErrandList struct {
	Errands []ErrandDTO `json:"errands"`
	Meta    PageMeta    `json:"_meta"`
}

// PageMeta describes a limit/page page (page starts at 1).
type PageMeta struct {
	Page         int `json:"page"`
	Limit        int `json:"limit"`
	Count        int `json:"count"`
	TotalRecords int `json:"totalRecords"`
	TotalPages   int `json:"totalPages"`
}

// PartyLookupRequest asks for partyIds by personnummer or the other way round;
// exactly one of the lists is set.
type PartyLookupRequest struct {
	PartyIDs        []string `json:"partyIds,omitempty"`
	PersonalNumbers []string `json:"personalNumbers,omitempty"`
}

// PartyLookupResponse lists the parties found; unknown keys are left out.
type PartyLookupResponse struct {
	Parties []PartyDTO `json:"parties"`
}

// PartyDTO pairs a partyId with a personnummer.
type PartyDTO struct {
	PartyID        string `json:"partyId"`
	PersonalNumber string `json:"personalNumber"`
}

// Problem is an RFC 9457 application/problem+json error body.
type Problem struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// FeatureCollection is an OGC API Features items answer (GeoJSON).
type FeatureCollection struct {
	Type           string    `json:"type"`
	Features       []Feature `json:"features"`
	NumberMatched  int       `json:"numberMatched"`
	NumberReturned int       `json:"numberReturned"`
	Links          []Link    `json:"links,omitempty"`
}

// Feature is one property (fastighet) as a GeoJSON feature in CRS84.
type Feature struct {
	Type       string            `json:"type"`
	ID         string            `json:"id"`
	Geometry   json.RawMessage   `json:"geometry"`
	Properties FeatureProperties `json:"properties"`
}

// FeatureProperties are the property register's attributes.
type FeatureProperties struct {
	Objektidentitet string  `json:"objektidentitet"`
	Beteckning      string  `json:"beteckning"`
	ArealM2         float64 `json:"arealM2"`
	Adress          string  `json:"adress,omitempty"`
}

// Link is an OGC API link.
type Link struct {
	Href  string `json:"href"`
	Rel   string `json:"rel"`
	Type  string `json:"type,omitempty"`
	Title string `json:"title,omitempty"`
}

// Lagfartsinformation is the legacy XML answer of /legacy/lagfart/{objektidentitet}:
// the registered owners of one property.
type Lagfartsinformation struct {
	XMLName         xml.Name        `xml:"Lagfartsinformation"`
	Objektidentitet string          `xml:"objektidentitet,attr"`
	Agare           []LagfarenAgare `xml:"LagfarenAgare"`
}

// LagfarenAgare is one registered owner; exactly one of Personnummer and
// Organisationsnummer is set. Inskrivningsdag is YYYY-MM-DD.
type LagfarenAgare struct {
	Namn                string `xml:"Namn"`
	Personnummer        string `xml:"Personnummer,omitempty"`
	Organisationsnummer string `xml:"Organisationsnummer,omitempty"`
	Andel               string `xml:"Andel"`
	Inskrivningsdag     string `xml:"Inskrivningsdag"`
}
