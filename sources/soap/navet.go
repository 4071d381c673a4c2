package soap

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// NavetOptions configures the population registry client.
type NavetOptions struct {
	upstream.Options
	// OrgNr is the ordering organisation's number.
	OrgNr string
	// BestallningsID is the registry's id of the municipality's authorised order.
	BestallningsID string
}

// Navet is the client of the Navet-style population registry. The registry
// answers one person per call; batching and fan-out live in the loaders.
type Navet struct {
	up    *upstream.Client
	order Bestallning
}

// NewNavet builds the registry client.
func NewNavet(opts NavetOptions) (*Navet, error) {
	if opts.Name == "" {
		opts.Name = "folkbokforing"
	}
	if opts.OrgNr == "" || opts.BestallningsID == "" {
		return nil, errors.New("soap: folkbokforing needs orgNr and bestallningsId")
	}
	up, err := upstream.NewClient(opts.Options)
	if err != nil {
		return nil, err
	}
	return &Navet{up: up, order: Bestallning{OrgNr: opts.OrgNr, BestallningsID: opts.BestallningsID}}, nil
}

// Person fetches one person by personnummer. An unknown person is an error of
// kind upstream.NotFound.
func (n *Navet) Person(ctx context.Context, pnr string) (*model.Person, error) {
	body, err := Marshal(PersonpostRequest{NS: NavetNamespace, Bestallning: n.order, PersonID: pnr})
	if err != nil {
		return nil, upstream.Errorf(n.up.Name(), NavetAction, upstream.Rejected, "%w", err)
	}
	var post PersonpostResponse
	_, err = n.up.Do(ctx, upstream.Request{
		Operation: NavetAction, Method: http.MethodPost, Body: body, Idempotent: true,
		Header: http.Header{
			"Content-Type": {"text/xml; charset=utf-8"},
			"Soapaction":   {`"` + NavetAction + `"`},
		},
		Classify: func(r *upstream.Response) *upstream.Error { return classify(r, &post) },
	})
	if err != nil {
		return nil, err
	}
	return personFromPost(post.Folkbokforingspost), nil
}

// Ping checks that the registry answers HTTP.
func (n *Navet) Ping(ctx context.Context) error { return n.up.Ping(ctx, "") }

// classify reads the envelope whatever the HTTP status: some services send
// faults with 200. The faultstring goes to the log through Err, never further.
func classify(r *upstream.Response, out *PersonpostResponse) *upstream.Error {
	var env Envelope
	if err := upstream.DecodeXML(r.Body, &env); err != nil {
		if e := upstream.StatusError(r.Status); e != nil {
			return e
		}
		return upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: fmt.Errorf("reading envelope: %w", err)})
	}
	if f := env.Body.Fault; f != nil {
		return faultError(f)
	}
	if e := upstream.StatusError(r.Status); e != nil {
		return e
	}
	if err := upstream.DecodeXML(env.Body.Content, out); err != nil {
		return upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: fmt.Errorf("reading PersonpostXMLResponse: %w", err)})
	}
	if out.Folkbokforingspost.Personpost.PersonID.PersonNr == "" {
		return upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: errors.New("answer without PersonNr")})
	}
	return nil
}

func faultError(f *Fault) *upstream.Error {
	code := ""
	if f.Detail != nil {
		code = f.Detail.Felkod
	}
	switch code {
	case FelkodPersonSaknas:
		return &upstream.Error{Kind: upstream.NotFound, Err: f}
	case FelkodEjBehorig:
		// The order is not authorised: a configuration problem, retrying cannot help.
		return upstream.Permanent(&upstream.Error{Kind: upstream.Unavailable, Err: f})
	case FelkodFelaktigBegaran:
		return upstream.Permanent(&upstream.Error{Kind: upstream.Rejected, Err: f})
	}
	return &upstream.Error{Kind: upstream.Unavailable, Err: f}
}

func personFromPost(f Folkbokforingspost) *model.Person {
	pp := f.Personpost
	p := &model.Person{
		PersonalNumber:         pp.PersonID.PersonNr,
		GivenName:              pp.Namn.Fornamn,
		MiddleName:             pp.Namn.Mellannamn,
		Surname:                pp.Namn.Efternamn,
		ProtectedIdentity:      f.SkyddadFolkbokforing == "J",
		ConfidentialityMarking: f.Sekretessmarkering == "J",
		Deregistered:           pp.Avregistrering != nil,
	}
	switch {
	case pp.Formedlingsadress != nil:
		a := pp.Formedlingsadress
		p.Address = &model.Address{Street: a.Utdelningsadress2, PostalCode: a.PostNr, City: a.Postort, Forwarding: true, PersonalNumber: p.PersonalNumber}
	case pp.Folkbokforingsadress != nil && !p.ProtectedIdentity:
		a := pp.Folkbokforingsadress
		p.Address = &model.Address{Street: a.Utdelningsadress2, PostalCode: a.PostNr, City: a.Postort, PersonalNumber: p.PersonalNumber}
	}
	for _, r := range pp.Relationer.Relation {
		p.Relations = append(p.Relations, model.Relation{PersonalNumber: r.RelationID.PersonNr, Kind: model.RelationKind(r.Relationstyp)})
	}
	return p
}
