package sim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/soap"
)

// DefaultOrder is the BestallningsId the population registry simulator
// accepts when NavetOptions.AuthorisedOrders is empty.
const DefaultOrder = "KOMMUNGRAF-DEMO"

// maxSOAPRequest caps a PersonpostXML request body; a real one is under 1 KiB.
const maxSOAPRequest = 1 << 20

// NavetOptions configures the population registry simulator.
type NavetOptions struct {
	// Stats counts every call as folkbokforing/PersonpostXML (optional).
	Stats *Stats
	// Faults, when set, wraps the handler with fault injection and decides
	// whether SOAP faults are sent with HTTP 200 (optional).
	Faults *Faults
	// AuthorisedOrders are the BestallningsId values that may read the
	// registry (default: DefaultOrder only).
	AuthorisedOrders []string
}

// navet is the Navet-style PersonpostXML service.
type navet struct {
	w      *World
	opts   NavetOptions
	orders map[string]bool
}

// NewNavet returns the Navet-style population registry: SOAP 1.1, one
// operation (PersonpostXML), one person per call, served by POST at "/" and
// at "/personpost".
func NewNavet(w *World, opts NavetOptions) http.Handler {
	n := &navet{w: w, opts: opts, orders: map[string]bool{}}
	orders := opts.AuthorisedOrders
	if len(orders) == 0 {
		orders = []string{DefaultOrder}
	}
	for _, o := range orders {
		n.orders[o] = true
	}
	var h http.Handler = n
	if opts.Faults != nil {
		h = opts.Faults.wrap("folkbokforing", h, BodySOAP, opts.Stats)
	}
	return h
}

func (n *navet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/personpost" {
		http.NotFound(w, r)
		return
	}
	if isWSDLRequest(r) {
		n.serveWSDL(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "PersonpostXML is served by POST only", http.StatusMethodNotAllowed)
		return
	}
	if n.opts.Stats != nil {
		n.opts.Stats.RecordRequest(r.Header.Get("X-Request-Id"), "folkbokforing", soap.NavetAction, 1)
	}
	// SOAP 1.2 is told apart by its media type, as its HTTP binding says;
	// everything else is answered as SOAP 1.1, as before 1.2 existed here.
	v12 := isSOAP12(r)
	action := r.Header.Values("SOAPAction")
	if v12 {
		action = soap12Action(r)
	}
	if !actionOK(action) {
		n.fault(w, v12, soap.FelkodFelaktigBegaran, "okänd SOAPAction, väntade "+soap.NavetAction)
		return
	}
	req, envNS, err := parsePersonpostRequest(http.MaxBytesReader(w, r.Body, maxSOAPRequest))
	if err != nil {
		n.fault(w, v12, soap.FelkodFelaktigBegaran, err.Error())
		return
	}
	if v12 && envNS != soap12EnvelopeNS {
		writeSOAP12VersionMismatch(w)
		return
	}
	switch {
	case strings.TrimSpace(req.Bestallning.OrgNr) == "":
		n.fault(w, v12, soap.FelkodFelaktigBegaran, "OrgNr saknas")
		return
	case !n.orders[req.Bestallning.BestallningsID]:
		n.fault(w, v12, soap.FelkodEjBehorig, "beställningen är inte behörig")
		return
	case req.PersonID == "":
		n.fault(w, v12, soap.FelkodFelaktigBegaran, "PersonId saknas")
		return
	}
	p := n.w.ByPNR[req.PersonID]
	if p == nil {
		n.fault(w, v12, soap.FelkodPersonSaknas, "personen finns inte i folkbokföringen")
		return
	}
	marshal, contentType := soap.Marshal, "text/xml; charset=utf-8"
	if v12 {
		marshal, contentType = marshalSOAP12, soap12ContentType
	}
	b, err := marshal(personpostResponse(p))
	if err != nil {
		n.fault(w, v12, soap.FelkodTeknisktFel, "svaret kunde inte skapas")
		return
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(b)
}

// actionOK accepts the PersonpostXML action quoted or not, as a URI ending in
// the action, or no SOAPAction header at all.
func actionOK(values []string) bool {
	if len(values) == 0 {
		return true
	}
	a := strings.Trim(strings.TrimSpace(values[0]), `"`)
	return a == "" || a == soap.NavetAction ||
		strings.HasSuffix(a, "/"+soap.NavetAction) || strings.HasSuffix(a, "#"+soap.NavetAction)
}

// parsePersonpostRequest reads a SOAP envelope carrying a PersonpostRequest
// and returns it with the envelope's namespace (which tells SOAP 1.1 from 1.2).
// Any DOCTYPE or other directive is refused before the envelope is decoded:
// the registry takes no entity declarations from its callers.
func parsePersonpostRequest(body io.Reader) (*soap.PersonpostRequest, string, error) {
	raw, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, "", fmt.Errorf("begäran är större än %d byte", tooBig.Limit)
		}
		return nil, "", fmt.Errorf("begäran kunde inte läsas: %w", err)
	}
	directive, err := scanXML(raw)
	switch {
	case err != nil:
		return nil, "", fmt.Errorf("felaktig XML: %w", err)
	case directive:
		return nil, "", errors.New("DOCTYPE och andra direktiv är inte tillåtna")
	}
	var env soap.Envelope
	if err := xml.Unmarshal(raw, &env); err != nil {
		return nil, "", fmt.Errorf("felaktigt SOAP-kuvert: %w", err)
	}
	var req soap.PersonpostRequest
	if err := xml.Unmarshal(env.Body.Content, &req); err != nil {
		return nil, "", fmt.Errorf("felaktig PersonpostRequest: %w", err)
	}
	req.PersonID = strings.TrimSpace(req.PersonID)
	return &req, env.XMLName.Space, nil
}

// personpostResponse maps a registry person to the PersonpostXML answer. A
// person with protected identity has no folkbokföringsadress in the
// registry; the answer carries the forwarding address (förmedlingsadress)
// instead.
func personpostResponse(p *model.Person) soap.PersonpostResponse {
	post := soap.Personpost{
		PersonID: soap.PersonID{PersonNr: p.PersonalNumber},
		Namn:     soap.Namn{Fornamn: p.GivenName, Mellannamn: p.MiddleName, Efternamn: p.Surname},
	}
	if p.Address != nil {
		a := &soap.Adress{Utdelningsadress2: p.Address.Street, PostNr: p.Address.PostalCode, Postort: p.Address.City}
		if p.ProtectedIdentity {
			post.Formedlingsadress = a
		} else {
			post.Folkbokforingsadress = a
		}
	}
	for _, rel := range p.Relations {
		post.Relationer.Relation = append(post.Relationer.Relation, soap.Relation{
			RelationID: soap.PersonID{PersonNr: rel.PersonalNumber}, Relationstyp: string(rel.Kind),
		})
	}
	if p.Deregistered {
		// The model keeps no date or cause; the world's reference day and
		// "UV" (utvandrad) stand in for them.
		post.Avregistrering = &soap.Avregistrering{
			Avregistreringsdatum: refDate.AddDate(0, 0, -1).Format("20060102"), AvregistreringsorsakKod: "UV",
		}
	}
	return soap.PersonpostResponse{
		NS: soap.NavetNamespace,
		Folkbokforingspost: soap.Folkbokforingspost{
			Sekretessmarkering:   yesNo(p.ConfidentialityMarking),
			SkyddadFolkbokforing: yesNo(p.ProtectedIdentity),
			Personpost:           post,
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "J"
	}
	return "N"
}

// faultTexts are the faultstrings of the registry's error codes.
var faultTexts = map[string]struct{ code, text string }{
	soap.FelkodPersonSaknas:    {"soap:Client", "Person saknas"},
	soap.FelkodEjBehorig:       {"soap:Client", "Ej behörig"},
	soap.FelkodFelaktigBegaran: {"soap:Client", "Felaktig begäran"},
	soap.FelkodTeknisktFel:     {"soap:Server", "Tekniskt fel"},
}

// fault answers with the registry's fault for felkod, in SOAP 1.2 when v12.
func (n *navet) fault(w http.ResponseWriter, v12 bool, felkod, beskrivning string) {
	with200 := n.opts.Faults != nil && n.opts.Faults.Get().SOAPFaultsWith200
	t := faultTexts[felkod]
	if v12 {
		writeSOAP12Fault(w, with200, t.code == "soap:Client", t.text, felkod, beskrivning)
		return
	}
	status := http.StatusInternalServerError
	if with200 {
		status = http.StatusOK
	}
	writeSOAPFault(w, status, t.code, t.text, felkod, beskrivning)
}

// writeSOAPFault answers with a SOAP 1.1 fault carrying the registry's detail.
func writeSOAPFault(w http.ResponseWriter, status int, faultcode, faultstring, felkod, beskrivning string) {
	b, err := soap.Marshal(&soap.Fault{
		FaultCode: faultcode, FaultString: faultstring,
		Detail: &soap.FaultDetail{Felkod: felkod, Beskrivning: beskrivning},
	})
	if err != nil {
		http.Error(w, "soap fault could not be encoded", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var _ http.Handler = (*navet)(nil)
