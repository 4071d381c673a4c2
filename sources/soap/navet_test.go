package soap_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/soap"
	"github.com/kommungraf/kommungraf/sources/testenv"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// update rewrites the golden files under testdata.
var update = flag.Bool("update", false, "rewrite the golden files under sources/soap/testdata")

// orgNr is the ordering organisation the client sends.
const orgNr = "212000-0000"

// testWorld is the synthetic registry every test here reads from.
var testWorld = sync.OnceValue(func() *sim.World { return sim.NewWorld(sim.WorldOptions{Seed: 3, People: 500}) })

// registry is one simulated population registry and a client of it.
type registry struct {
	navet *soap.Navet
	stats *sim.Stats
}

// newRegistry serves the simulator with cfg as its faults, wrapped by wrap
// when it is not nil, and builds a client that orders with order. Every
// test gets its own server and client, so that no circuit breaker state or
// counter leaks from one case to the next.
func newRegistry(t *testing.T, cfg sim.FaultConfig, order string, wrap func(http.Handler) http.Handler) *registry {
	t.Helper()
	stats := sim.NewStats()
	faults := sim.NewFaults()
	faults.Set(cfg)
	var h http.Handler = sim.NewNavet(testWorld(), sim.NavetOptions{Stats: stats, Faults: faults})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	n, err := soap.NewNavet(soap.NavetOptions{
		Options: upstream.Options{
			Name: "folkbokforing", BaseURL: srv.URL, Logger: slog.New(slog.DiscardHandler),
			// Short waits between attempts keep the retry cases fast; the
			// number of attempts is the default.
			RetryBackoff: time.Millisecond,
		},
		OrgNr: orgNr, BestallningsID: order,
	})
	if err != nil {
		t.Fatalf("NewNavet: %v", err)
	}
	return &registry{navet: n, stats: stats}
}

// calls returns the simulator's call counts per operation, faults included.
func (r *registry) calls() map[string]int64 {
	out := map[string]int64{}
	for op, c := range r.stats.Snapshot()["folkbokforing"] {
		out[op] = c.Calls
	}
	return out
}

// findPerson returns the first person of the test world that satisfies ok.
func findPerson(t *testing.T, what string, ok func(*model.Person) bool) *model.Person {
	t.Helper()
	for _, p := range testWorld().People {
		if ok(p) {
			return p
		}
	}
	t.Fatalf("the test world has no %s; choose another seed", what)
	return nil
}

// unknownPNR returns a personnummer with a valid check digit that the test
// world does not hold.
func unknownPNR(t *testing.T) string {
	t.Helper()
	for serial := 0; serial < 1000; serial++ {
		nine := fmt.Sprintf("000101%03d", serial)
		pnr := "19" + nine + string(rune('0'+model.LuhnDigit(nine)))
		if _, err := model.ParsePersonalNumber(pnr); err != nil {
			t.Fatalf("built an invalid personnummer %s: %v", pnr, err)
		}
		if testWorld().ByPNR[pnr] == nil {
			return pnr
		}
	}
	t.Fatal("every personnummer born 1900-01-01 is taken")
	return ""
}

func TestNavetPersonMapsTheRegistryRecord(t *testing.T) {
	tests := []struct {
		name string
		ok   func(*model.Person) bool
	}{
		{"adult with middle name, spouse and children", func(p *model.Person) bool {
			return !p.ProtectedIdentity && !p.ConfidentialityMarking && p.MiddleName != "" &&
				len(p.RelatedNumbers(model.RelationSpouse)) == 1 && len(p.RelatedNumbers(model.RelationChild)) > 0
		}},
		{"child with guardians", func(p *model.Person) bool {
			return !p.ProtectedIdentity && len(p.RelatedNumbers(model.RelationGuardian)) == 2
		}},
		{"single adult without relations", func(p *model.Person) bool {
			return !p.ProtectedIdentity && len(p.Relations) == 0
		}},
		{"confidentiality marking", func(p *model.Person) bool {
			return p.ConfidentialityMarking && !p.ProtectedIdentity
		}},
		{"protected identity", func(p *model.Person) bool { return p.ProtectedIdentity }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := addressed(findPerson(t, tc.name, tc.ok))
			r := newRegistry(t, sim.FaultConfig{}, sim.DefaultOrder, nil)
			got, err := r.navet.Person(t.Context(), want.PersonalNumber)
			if err != nil {
				t.Fatalf("Person(%s): %v", want.PersonalNumber, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Person(%s) mapped\n got %s\nwant %s", want.PersonalNumber, dump(t, got), dump(t, want))
			}
			if c := r.calls(); !reflect.DeepEqual(c, map[string]int64{soap.NavetAction: 1}) {
				t.Errorf("registry calls = %v, want one %s", c, soap.NavetAction)
			}
		})
	}

	t.Run("protected person gets the forwarding address", func(t *testing.T) {
		p := findPerson(t, "protected person", func(p *model.Person) bool { return p.ProtectedIdentity })
		r := newRegistry(t, sim.FaultConfig{}, sim.DefaultOrder, nil)
		got, err := r.navet.Person(t.Context(), p.PersonalNumber)
		if err != nil {
			t.Fatal(err)
		}
		want := model.Address{Street: "Box 2820", PostalCode: "403 20", City: "GÖTEBORG", Forwarding: true, PersonalNumber: p.PersonalNumber}
		if !got.ProtectedIdentity || got.Address == nil || *got.Address != want {
			t.Errorf("protected person: ProtectedIdentity %v, Address %+v; want true, %+v", got.ProtectedIdentity, got.Address, want)
		}
	})
}

// addressed is a world person as the connector maps it: the address names
// whose it is (the world shares one address per household).
func addressed(p *model.Person) *model.Person {
	cp := *p
	if p.Address != nil {
		a := *p.Address
		a.PersonalNumber = p.PersonalNumber
		cp.Address = &a
	}
	return &cp
}

func TestNavetFailures(t *testing.T) {
	known := testWorld().People[0].PersonalNumber
	unknown := unknownPNR(t)
	// The registry's fault texts: they may reach the log, never a client.
	faultTexts := []string{"Person saknas", "Ej behörig", "Tekniskt fel", "Felaktig begäran",
		"personen finns inte", "beställningen är inte behörig", "tillfälligt otillgänglig"}

	tests := []struct {
		name   string
		faults sim.FaultConfig
		order  string
		pnr    string
		kind   upstream.Kind
		felkod string // Felkod of the SOAP fault behind the error; "" when there is none
		isErr  error  // a cause the error must wrap, if any
		public string
		calls  map[string]int64
	}{
		{
			name: "unknown person", order: sim.DefaultOrder, pnr: unknown,
			kind: upstream.NotFound, felkod: soap.FelkodPersonSaknas,
			public: "not found in folkbokforing",
			calls:  map[string]int64{soap.NavetAction: 1},
		},
		{
			name: "unknown person, fault sent with HTTP 200", faults: sim.FaultConfig{SOAPFaultsWith200: true},
			order: sim.DefaultOrder, pnr: unknown,
			kind: upstream.NotFound, felkod: soap.FelkodPersonSaknas,
			public: "not found in folkbokforing",
			calls:  map[string]int64{soap.NavetAction: 1},
		},
		{
			name: "unauthorised order is not retried", order: "NOT-OUR-ORDER", pnr: known,
			kind: upstream.Unavailable, felkod: soap.FelkodEjBehorig,
			public: "upstream folkbokforing is unavailable",
			calls:  map[string]int64{soap.NavetAction: 1},
		},
		{
			name: "unauthorised order, fault sent with HTTP 200", faults: sim.FaultConfig{SOAPFaultsWith200: true},
			order: "NOT-OUR-ORDER", pnr: known,
			kind: upstream.Unavailable, felkod: soap.FelkodEjBehorig,
			public: "upstream folkbokforing is unavailable",
			calls:  map[string]int64{soap.NavetAction: 1},
		},
		{
			name: "technical error is retried twice", faults: sim.FaultConfig{ErrorRate: 1},
			order: sim.DefaultOrder, pnr: known,
			kind: upstream.Unavailable, felkod: soap.FelkodTeknisktFel,
			public: "upstream folkbokforing is unavailable",
			calls:  map[string]int64{"fault:error": 3},
		},
		{
			name: "technical error with HTTP 200 is retried twice", faults: sim.FaultConfig{ErrorRate: 1, SOAPFaultsWith200: true},
			order: sim.DefaultOrder, pnr: known,
			kind: upstream.Unavailable, felkod: soap.FelkodTeknisktFel,
			public: "upstream folkbokforing is unavailable",
			calls:  map[string]int64{"fault:error": 3},
		},
		{
			name: "HTML error page", faults: sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedHTML},
			order: sim.DefaultOrder, pnr: known,
			kind: upstream.BadResponse, isErr: upstream.ErrXMLDirective,
			public: "upstream folkbokforing sent a response that could not be read",
			calls:  map[string]int64{"fault:html": 1},
		},
		{
			name: "truncated envelope", faults: sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedTruncated},
			order: sim.DefaultOrder, pnr: known,
			kind:   upstream.BadResponse,
			public: "upstream folkbokforing sent a response that could not be read",
			calls:  map[string]int64{"fault:truncated": 1, soap.NavetAction: 1},
		},
		{
			name: "DOCTYPE with entities", faults: sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedDoctype},
			order: sim.DefaultOrder, pnr: known,
			kind: upstream.BadResponse, isErr: upstream.ErrXMLDirective,
			public: "upstream folkbokforing sent a response that could not be read",
			calls:  map[string]int64{"fault:doctype": 1, soap.NavetAction: 1},
		},
		{
			name: "body over the size cap", faults: sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedHuge},
			order: sim.DefaultOrder, pnr: known,
			kind:   upstream.BadResponse,
			public: "upstream folkbokforing sent a response that could not be read",
			calls:  map[string]int64{"fault:huge": 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistry(t, tc.faults, tc.order, nil)
			p, err := r.navet.Person(t.Context(), tc.pnr)
			if p != nil {
				t.Errorf("Person returned %+v with the error", p)
			}
			ue := checkUpstreamError(t, err, tc.kind, tc.public)
			if ue == nil {
				return
			}
			var f *soap.Fault
			switch {
			case tc.felkod == "" && errors.As(err, &f):
				t.Errorf("error wraps an unexpected SOAP fault %v", f)
			case tc.felkod != "" && !errors.As(err, &f):
				t.Errorf("error %v does not wrap the SOAP fault", err)
			case tc.felkod != "" && (f.Detail == nil || f.Detail.Felkod != tc.felkod):
				t.Errorf("SOAP fault %v, want Felkod %s", f, tc.felkod)
			}
			if tc.isErr != nil && !errors.Is(err, tc.isErr) {
				t.Errorf("error %v does not wrap %v", err, tc.isErr)
			}
			pub := ue.Public()
			for _, leak := range append([]string{"<", ">", "DOCTYPE", "faultstring", "html", "nginx", "Utfyllnad"}, faultTexts...) {
				if strings.Contains(pub, leak) {
					t.Errorf("Public() %q contains %q from the upstream's answer", pub, leak)
				}
			}
			if c := r.calls(); !reflect.DeepEqual(c, tc.calls) {
				t.Errorf("registry calls = %v, want %v", c, tc.calls)
			}
		})
	}
}

// checkUpstreamError asserts that err is an *upstream.Error of the registry's
// PersonpostXML with the kind and public message wanted, and returns it.
func checkUpstreamError(t *testing.T, err error, kind upstream.Kind, public string) *upstream.Error {
	t.Helper()
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		t.Errorf("error = %v (%T), want an *upstream.Error", err, err)
		return nil
	}
	if ue.Kind != kind || ue.Source != "folkbokforing" || ue.Operation != soap.NavetAction {
		t.Errorf("error %s/%s kind %s, want folkbokforing/%s kind %s", ue.Source, ue.Operation, ue.Kind.Code(), soap.NavetAction, kind.Code())
	}
	if got := ue.Public(); got != public {
		t.Errorf("Public() = %q, want %q", got, public)
	}
	return ue
}

// requestLog keeps the bodies and headers of the requests a handler received.
type requestLog struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		l.bodies = append(l.bodies, body)
		l.headers = append(l.headers, r.Header.Clone())
		l.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (l *requestLog) only(t *testing.T) ([]byte, http.Header) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bodies) != 1 {
		t.Fatalf("the registry received %d requests, want 1", len(l.bodies))
	}
	return l.bodies[0], l.headers[0]
}

func TestNavetEscapesPersonIDInEnvelope(t *testing.T) {
	known := testWorld().People[0].PersonalNumber
	tests := []struct {
		name, pnr string
	}{
		{"markup and entities", `<x>&amp;"'`},
		{"closing the element", "</PersonId><PersonId>" + known},
		{"CDATA end", "]]><PersonId>" + known + "</PersonId>"},
		{"comment and processing instruction", "<!-- x --><?pi x?>"},
		{"DOCTYPE", `<!DOCTYPE x [<!ENTITY e "e">]>&e;`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log requestLog
			r := newRegistry(t, sim.FaultConfig{}, sim.DefaultOrder, log.wrap)
			p, err := r.navet.Person(t.Context(), tc.pnr)
			if p != nil {
				t.Errorf("Person(%q) = %+v, want nothing", tc.pnr, p)
			}
			checkUpstreamError(t, err, upstream.NotFound, "not found in folkbokforing")

			body, header := log.only(t)
			assertWellFormed(t, body)
			var env soap.Envelope
			if err := xml.Unmarshal(body, &env); err != nil {
				t.Fatalf("request is not a SOAP envelope: %v\n%s", err, body)
			}
			if env.XMLName.Space != soap.EnvelopeNamespace {
				t.Errorf("envelope namespace %q, want %q", env.XMLName.Space, soap.EnvelopeNamespace)
			}
			var req soap.PersonpostRequest
			if err := xml.Unmarshal(env.Body.Content, &req); err != nil {
				t.Fatalf("body is not a PersonpostRequest: %v\n%s", err, body)
			}
			want := soap.PersonpostRequest{
				XMLName:     xml.Name{Space: soap.NavetNamespace, Local: "PersonpostRequest"},
				NS:          soap.NavetNamespace,
				Bestallning: soap.Bestallning{OrgNr: orgNr, BestallningsID: sim.DefaultOrder},
				PersonID:    tc.pnr,
			}
			if !reflect.DeepEqual(req, want) {
				t.Errorf("request decoded to\n %+v\nwant %+v\n%s", req, want, body)
			}
			if got := header.Get("Soapaction"); got != `"PersonpostXML"` {
				t.Errorf("SOAPAction = %q", got)
			}
			if got := header.Get("Content-Type"); got != "text/xml; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if c := r.calls(); !reflect.DeepEqual(c, map[string]int64{soap.NavetAction: 1}) {
				t.Errorf("registry calls = %v", c)
			}
		})
	}
}

// assertWellFormed reads body with a strict decoder: every token must parse,
// there must be no directive, and exactly one root element.
func assertWellFormed(t *testing.T, body []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("request is not well-formed XML: %v\n%s", err, body)
		}
		switch tok.(type) {
		case xml.Directive:
			t.Errorf("request carries a directive:\n%s", body)
		case xml.Comment:
			t.Errorf("request carries a comment:\n%s", body)
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 {
		t.Errorf("request has %d root elements, want 1:\n%s", roots, body)
	}
}

func TestNewNavetValidatesOptions(t *testing.T) {
	tests := []struct {
		name string
		opts soap.NavetOptions
		want string
	}{
		{"no orgNr", soap.NavetOptions{Options: upstream.Options{BaseURL: "http://127.0.0.1:1"}, BestallningsID: "X"},
			"soap: folkbokforing needs orgNr and bestallningsId"},
		{"no bestallningsId", soap.NavetOptions{Options: upstream.Options{BaseURL: "http://127.0.0.1:1"}, OrgNr: orgNr},
			"soap: folkbokforing needs orgNr and bestallningsId"},
		{"relative base URL", soap.NavetOptions{Options: upstream.Options{BaseURL: "/navet"}, OrgNr: orgNr, BestallningsID: "X"},
			`upstream folkbokforing: base URL "/navet" must be an absolute http(s) URL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := soap.NewNavet(tc.opts)
			if n != nil || err == nil || err.Error() != tc.want {
				t.Errorf("NewNavet = %v, %v; want error %q", n, err, tc.want)
			}
		})
	}
}

// TestNavetMapsHandcraftedAnswers covers answers the simulator never sends:
// a deregistered person, a protected person whose record still carries the
// registered address, a record without PersonNr, faults with other codes and
// a 5xx that is not SOAP at all.
func TestNavetMapsHandcraftedAnswers(t *testing.T) {
	const pnr = "198112189876"
	registered := &soap.Adress{Utdelningsadress2: "Storgatan 1", PostNr: "702 10", Postort: "ÖREBRO"}
	fwd := &soap.Adress{Utdelningsadress2: "Box 2820", PostNr: "403 20", Postort: "GÖTEBORG"}
	record := func(skyddad string, pp soap.Personpost) []byte {
		pp.PersonID.PersonNr = pnr
		pp.Namn = soap.Namn{Fornamn: "Test", Efternamn: "Testsson"}
		b, err := soap.Marshal(soap.PersonpostResponse{NS: soap.NavetNamespace, Folkbokforingspost: soap.Folkbokforingspost{
			Sekretessmarkering: "N", SkyddadFolkbokforing: skyddad, Personpost: pp,
		}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fault := func(felkod string) []byte {
		b, err := soap.Marshal(&soap.Fault{FaultCode: "soap:Client", FaultString: "hemligt felmeddelande",
			Detail: &soap.FaultDetail{Felkod: felkod, Beskrivning: "intern beskrivning"}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := func() *model.Person {
		return &model.Person{PersonalNumber: pnr, GivenName: "Test", Surname: "Testsson"}
	}

	tests := []struct {
		name   string
		status int
		ctype  string
		body   []byte
		want   *model.Person
		kind   upstream.Kind
		public string
		calls  int64
	}{
		{
			name: "deregistered person", status: 200, ctype: "text/xml",
			body: record("N", soap.Personpost{Folkbokforingsadress: registered,
				Avregistrering: &soap.Avregistrering{Avregistreringsdatum: "20251231", AvregistreringsorsakKod: "UV"}}),
			want: func() *model.Person {
				p := base()
				p.Address = &model.Address{Street: "Storgatan 1", PostalCode: "702 10", City: "ÖREBRO", PersonalNumber: p.PersonalNumber}
				p.Deregistered = true
				return p
			}(),
			calls: 1,
		},
		{
			name: "protected person with both addresses gets the forwarding one", status: 200, ctype: "text/xml",
			body: record("J", soap.Personpost{Folkbokforingsadress: registered, Formedlingsadress: fwd}),
			want: func() *model.Person {
				p := base()
				p.ProtectedIdentity = true
				p.Address = &model.Address{Street: "Box 2820", PostalCode: "403 20", City: "GÖTEBORG", Forwarding: true, PersonalNumber: p.PersonalNumber}
				return p
			}(),
			calls: 1,
		},
		{
			name: "protected person's registered address is never mapped", status: 200, ctype: "text/xml",
			body: record("J", soap.Personpost{Folkbokforingsadress: registered}),
			want: func() *model.Person {
				p := base()
				p.ProtectedIdentity = true
				return p
			}(),
			calls: 1,
		},
		{
			name: "record without PersonNr", status: 200, ctype: "text/xml",
			body: bytes.ReplaceAll(record("N", soap.Personpost{}), []byte(pnr), nil),
			kind: upstream.BadResponse, public: "upstream folkbokforing sent a response that could not be read", calls: 1,
		},
		{
			name: "malformed request fault is rejected, not retried", status: 500, ctype: "text/xml",
			body: fault(soap.FelkodFelaktigBegaran),
			kind: upstream.Rejected, public: "upstream folkbokforing rejected the request", calls: 1,
		},
		{
			name: "fault with an unknown Felkod is retried", status: 500, ctype: "text/xml",
			body: fault("4711"),
			kind: upstream.Unavailable, public: "upstream folkbokforing is unavailable", calls: 3,
		},
		{
			name: "5xx that is not SOAP is retried", status: 503, ctype: "text/plain",
			body: []byte("Service Unavailable"),
			kind: upstream.Unavailable, public: "upstream folkbokforing is unavailable", calls: 3,
		},
		{
			name: "4xx that is not SOAP is rejected", status: 403, ctype: "text/html",
			body: []byte("<html><body>Forbidden</body></html>"),
			kind: upstream.Rejected, public: "upstream folkbokforing rejected the request", calls: 1,
		},
		{
			name: "200 with an empty body", status: 200, ctype: "text/xml",
			kind: upstream.BadResponse, public: "upstream folkbokforing sent a response that could not be read", calls: 1,
		},
		{
			name: "a fault after an answer is the fault", status: 200, ctype: "text/xml",
			body: bytes.Replace(record("N", soap.Personpost{}), []byte("</soap:Body>"),
				bytes.Join([][]byte{soapBody(t, fault(soap.FelkodPersonSaknas)), []byte("</soap:Body>")}, nil), 1),
			kind: upstream.NotFound, public: "not found in folkbokforing", calls: 1,
		},
		{
			name: "an answer that is not the body's first element is not read", status: 200, ctype: "text/xml",
			body: bytes.Replace(record("N", soap.Personpost{}), []byte("<soap:Body>"), []byte("<soap:Body><Annat/>"), 1),
			kind: upstream.BadResponse, public: "upstream folkbokforing sent a response that could not be read", calls: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				_, _ = w.Write(tc.body)
			}))
			t.Cleanup(srv.Close)
			n, err := soap.NewNavet(soap.NavetOptions{
				Options: upstream.Options{Name: "folkbokforing", BaseURL: srv.URL, Logger: slog.New(slog.DiscardHandler), RetryBackoff: time.Millisecond},
				OrgNr:   orgNr, BestallningsID: sim.DefaultOrder,
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := n.Person(t.Context(), pnr)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("Person: %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("Person mapped\n got %s\nwant %s", dump(t, got), dump(t, tc.want))
				}
			} else {
				if got != nil {
					t.Errorf("Person returned %+v with the error", got)
				}
				if ue := checkUpstreamError(t, err, tc.kind, tc.public); ue != nil {
					for _, leak := range []string{"hemligt", "intern beskrivning", "Forbidden", "<"} {
						if strings.Contains(ue.Public(), leak) {
							t.Errorf("Public() %q contains %q", ue.Public(), leak)
						}
					}
				}
			}
			if c := calls.Load(); c != tc.calls {
				t.Errorf("registry calls = %d, want %d", c, tc.calls)
			}
		})
	}
}

// soapBody is the inner XML of an envelope's body.
func soapBody(t *testing.T, envelope []byte) []byte {
	t.Helper()
	var env soap.Envelope
	if err := xml.Unmarshal(envelope, &env); err != nil {
		t.Fatal(err)
	}
	return env.Body.Content
}

// TestNavetPersonGolden pins the mapping of one registry record to the model.
// Run with -update to rewrite testdata/person.golden.json.
func TestNavetPersonGolden(t *testing.T) {
	want := findPerson(t, "adult with middle name and relations", func(p *model.Person) bool {
		return !p.ProtectedIdentity && p.MiddleName != "" && len(p.RelatedNumbers(model.RelationSpouse)) == 1 &&
			len(p.RelatedNumbers(model.RelationChild)) > 0
	})
	r := newRegistry(t, sim.FaultConfig{}, sim.DefaultOrder, nil)
	got, err := r.navet.Person(t.Context(), want.PersonalNumber)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "person.golden.json"), dump(t, got))
}

// dump is v as indented JSON with a final newline.
func dump(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// golden compares got with the file at path, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	testenv.Golden(t, path, got, *update)
}
