package soap

import (
	"bytes"
	"context"
	"encoding/xml"
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
	up      *upstream.Client
	request requestTemplate
}

// NewNavet builds the registry client.
func NewNavet(opts NavetOptions) (*Navet, error) {
	if opts.Name == "" {
		opts.Name = "folkbokforing"
	}
	if opts.OrgNr == "" || opts.BestallningsID == "" {
		return nil, errors.New("soap: folkbokforing needs orgNr and bestallningsId")
	}
	request, err := newRequestTemplate(Bestallning{OrgNr: opts.OrgNr, BestallningsID: opts.BestallningsID})
	if err != nil {
		return nil, err
	}
	up, err := upstream.NewClient(opts.Options)
	if err != nil {
		return nil, err
	}
	return &Navet{up: up, request: request}, nil
}

// requestTemplate is the client's request envelope (Marshal of its
// PersonpostRequest), split where the personnummer goes: a call writes only
// the personnummer, escaped as Marshal escapes it, between the two halves.
type requestTemplate struct{ prefix, suffix []byte }

func newRequestTemplate(order Bestallning) (requestTemplate, error) {
	b, err := Marshal(PersonpostRequest{NS: NavetNamespace, Bestallning: order})
	if err != nil {
		return requestTemplate{}, err
	}
	// PersonId is the request's last element, so its empty form is the
	// last one in the envelope, whatever the order's values hold.
	const open, empty = "<PersonId>", "<PersonId></PersonId>"
	i := bytes.LastIndex(b, []byte(empty))
	if i < 0 {
		return requestTemplate{}, errors.New("soap: PersonpostRequest envelope without an empty PersonId")
	}
	return requestTemplate{prefix: b[:i+len(open)], suffix: b[i+len(open):]}, nil
}

// body is the envelope asking for pnr.
func (t requestTemplate) body(pnr string) []byte {
	var b bytes.Buffer
	b.Grow(len(t.prefix) + len(pnr) + len(t.suffix))
	b.Write(t.prefix)
	_ = xml.EscapeText(&b, []byte(pnr)) // as Marshal escapes character data; a bytes.Buffer does not fail
	b.Write(t.suffix)
	return b.Bytes()
}

// Person fetches one person by personnummer. An unknown person is an error of
// kind upstream.NotFound.
func (n *Navet) Person(ctx context.Context, pnr string) (*model.Person, error) {
	var post PersonpostResponse
	_, err := n.up.Do(ctx, upstream.Request{
		Operation: NavetAction, Method: http.MethodPost, Body: n.request.body(pnr), Idempotent: true,
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

// Upstream is the registry's upstream stack, which its readiness probe
// (schema/folkbokforing.yaml) shares.
func (n *Navet) Upstream() *upstream.Client { return n.up }

// classify reads the envelope whatever the HTTP status: some services send
// faults with 200. The faultstring goes to the log through Err, never further.
func classify(r *upstream.Response, out *PersonpostResponse) *upstream.Error {
	first, fault, err := readAnswer(r.Body, out)
	if err != nil {
		if e := upstream.StatusError(r.Status); e != nil {
			return e
		}
		return upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: fmt.Errorf("reading envelope: %w", err)})
	}
	if fault != nil {
		return faultError(fault)
	}
	if e := upstream.StatusError(r.Status); e != nil {
		return e
	}
	if first != "PersonpostXMLResponse" {
		return upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: fmt.Errorf("reading PersonpostXMLResponse: the body holds %q", first)})
	}
	if out.Folkbokforingspost.Personpost.PersonID.PersonNr == "" {
		return upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: errors.New("answer without PersonNr")})
	}
	return nil
}

// readAnswer reads the registry's answer into out: the usual answer with
// the fast reader (fastread.go), anything else with encoding/xml. first is
// the local name of the body's first element, fault the body's fault.
func readAnswer(body []byte, out *PersonpostResponse) (first string, fault *Fault, err error) {
	if fastAnswer(body, out) {
		return "PersonpostXMLResponse", nil, nil
	}
	*out = PersonpostResponse{} // what the fast reader filled before it gave up
	env := personpostEnvelope{Body: personpostBody{Response: out}}
	err = upstream.DecodeXML(body, &env)
	return env.Body.First, env.Body.Fault, err
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
