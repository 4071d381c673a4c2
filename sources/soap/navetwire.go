package soap

import "encoding/xml"

// NavetNamespace is the XML namespace of the PersonpostXML messages.
const NavetNamespace = "http://xmls.skatteverket.se/se/skatteverket/folkbokforing/na/epersondata/V1"

// NavetAction is the SOAPAction of the population registry's only operation.
const NavetAction = "PersonpostXML"

// PersonpostRequest asks the registry for one person. The registry has no
// batch operation: one request, one person.
type PersonpostRequest struct {
	XMLName     xml.Name    `xml:"PersonpostRequest"`
	NS          string      `xml:"xmlns,attr,omitempty"`
	Bestallning Bestallning `xml:"Bestallning"`
	PersonID    string      `xml:"PersonId"`
}

// Bestallning identifies the ordering organisation and its authorised order.
type Bestallning struct {
	OrgNr          string `xml:"OrgNr"`
	BestallningsID string `xml:"BestallningsId"`
}

// PersonpostResponse is the body of a successful answer.
type PersonpostResponse struct {
	XMLName            xml.Name           `xml:"PersonpostXMLResponse"`
	NS                 string             `xml:"xmlns,attr,omitempty"`
	Folkbokforingspost Folkbokforingspost `xml:"Folkbokforingspost"`
}

// Folkbokforingspost is one person's registry record.
type Folkbokforingspost struct {
	// Sekretessmarkering and SkyddadFolkbokforing are "J" or "N".
	Sekretessmarkering   string     `xml:"Sekretessmarkering"`
	SkyddadFolkbokforing string     `xml:"SkyddadFolkbokforing"`
	Personpost           Personpost `xml:"Personpost"`
}

// Personpost holds identity, name, address and relations.
type Personpost struct {
	PersonID             PersonID        `xml:"PersonId"`
	Namn                 Namn            `xml:"Namn"`
	Folkbokforingsadress *Adress         `xml:"Folkbokforingsadress,omitempty"`
	Formedlingsadress    *Adress         `xml:"Formedlingsadress,omitempty"`
	Relationer           Relationer      `xml:"Relationer"`
	Avregistrering       *Avregistrering `xml:"Avregistrering,omitempty"`
}

// PersonID wraps a personnummer.
type PersonID struct {
	PersonNr string `xml:"PersonNr"`
}

// Namn is the registered name.
type Namn struct {
	Fornamn    string `xml:"Fornamn"`
	Mellannamn string `xml:"Mellannamn,omitempty"`
	Efternamn  string `xml:"Efternamn"`
}

// Adress is a registered or forwarding address.
type Adress struct {
	Utdelningsadress2 string `xml:"Utdelningsadress2"`
	PostNr            string `xml:"PostNr"`
	Postort           string `xml:"Postort"`
}

// Relationer lists the person's relations.
type Relationer struct {
	Relation []Relation `xml:"Relation"`
}

// Relation is one relation; Relationstyp is B (child), V (guardian) or M (spouse).
type Relation struct {
	RelationID   PersonID `xml:"RelationId"`
	Relationstyp string   `xml:"Relationstyp"`
}

// Avregistrering marks a deregistered person.
type Avregistrering struct {
	Avregistreringsdatum    string `xml:"Avregistreringsdatum"`
	AvregistreringsorsakKod string `xml:"AvregistreringsorsakKod"`
}

// Navet fault codes (Felkod) the simulator and the client agree on.
const (
	FelkodPersonSaknas    = "1001" // unknown person
	FelkodEjBehorig       = "2001" // BestallningsId not authorised
	FelkodFelaktigBegaran = "3001" // malformed request
	FelkodTeknisktFel     = "9001" // technical error on the registry side
)
