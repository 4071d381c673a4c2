package connect_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/soap"
	"github.com/kommungraf/kommungraf/sources/testenv"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// update rewrites the golden files under testdata.
var update = flag.Bool("update", false, "rewrite the golden files under sources/connect/testdata")

// soapWorld is the synthetic registry the SOAP connector's tests read.
var soapWorld = sync.OnceValue(func() *sim.World { return sim.NewWorld(sim.WorldOptions{Seed: 3, People: 500}) })

// navetConfig is sources.folkbokforing's part that the request templates read.
var navetConfig = map[string]string{"orgNr": "212000-0000", "bestallningsId": sim.DefaultOrder}

// navetDecl declares PersonpostXML as a resource would, with the WSDL the
// simulator ships as a file next to the declaration.
func navetDecl(version string) connect.SOAPCall {
	return connect.SOAPCall{
		WSDL:      "navet.wsdl",
		Files:     fstest.MapFS{"navet.wsdl": {Data: sim.NavetWSDL()}},
		Operation: "PersonpostXML",
		Version:   version,
		Request: map[string]string{
			"Bestallning.OrgNr":          "{config.orgNr}",
			"Bestallning.BestallningsId": "{config.bestallningsId}",
			"PersonId":                   "{key}",
		},
		Records:    "Folkbokforingspost",
		Idempotent: true,
		Faults:     connect.SOAPFaults{Code: "Felkod", NotFound: []string{soap.FelkodPersonSaknas}},
	}
}

// navetFields maps a person's schema fields to the registry record.
var navetFields = map[string]string{
	"personalNumber":           "Personpost.PersonId.PersonNr",
	"givenName":                "Personpost.Namn.Fornamn",
	"middleName":               "Personpost.Namn.Mellannamn",
	"surname":                  "Personpost.Namn.Efternamn",
	"address.street":           "Personpost.Folkbokforingsadress.Utdelningsadress2",
	"address.postalCode":       "Personpost.Folkbokforingsadress.PostNr",
	"address.city":             "Personpost.Folkbokforingsadress.Postort",
	"forwardingAddress.street": "Personpost.Formedlingsadress.Utdelningsadress2",
	"forwardingAddress.city":   "Personpost.Formedlingsadress.Postort",
	"protectedIdentity":        "SkyddadFolkbokforing",
	"confidentialityMarking":   "Sekretessmarkering",
	"relations":                "Personpost.Relationer.Relation",
	"relatedNumbers":           "Personpost.Relationer.Relation.RelationId.PersonNr",
	"deregistered":             "Personpost.Avregistrering.Avregistreringsdatum",
}

// exchange is one request the simulator received, and its answer's status.
type exchange struct {
	header http.Header
	body   []byte
}

// navetServer is the registry simulator behind a recorder of requests.
type navetServer struct {
	url    string
	stats  *sim.Stats
	faults *sim.Faults
	log    *syncBuffer

	mu   sync.Mutex
	reqs []exchange
}

// syncBuffer is a log sink for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNavet serves the simulator with faults cfg, recording every POST.
func startNavet(t *testing.T, cfg sim.FaultConfig) *navetServer {
	t.Helper()
	n := &navetServer{stats: sim.NewStats(), faults: sim.NewFaults(), log: &syncBuffer{}}
	n.faults.Set(cfg)
	h := sim.NewNavet(soapWorld(), sim.NavetOptions{Stats: n.stats, Faults: n.faults})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			n.mu.Lock()
			n.reqs = append(n.reqs, exchange{header: r.Header.Clone(), body: body})
			n.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	n.url = srv.URL
	return n
}

// client is an upstream client of the simulator; opts may change its options.
func (n *navetServer) client(t *testing.T, opts func(*upstream.Options)) *upstream.Client {
	t.Helper()
	o := upstream.Options{
		Name: "folkbokforing", BaseURL: n.url, RetryBackoff: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(n.log, nil)),
	}
	if opts != nil {
		opts(&o)
	}
	up, err := upstream.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

func (n *navetServer) requests() []exchange {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.reqs)
}

func (n *navetServer) calls(op string) int64 { return n.stats.Calls("folkbokforing", op) }

// attempts counts the requests of the operation, injected faults included.
func (n *navetServer) attempts() int64 {
	var sum int64
	for op, c := range n.stats.Snapshot()["folkbokforing"] {
		if op != "wsdl" {
			sum += c.Calls
		}
	}
	return sum
}

func newSOAP(t *testing.T, up *upstream.Client, decl connect.SOAPCall, fields map[string]string) *connect.SOAP {
	t.Helper()
	c, err := connect.NewSOAP(t.Context(), up, decl, fields, navetConfig)
	if err != nil {
		t.Fatalf("NewSOAP: %v", err)
	}
	return c
}

// findPeople returns the first person of the world for each predicate.
func findPeople(t *testing.T, preds map[string]func(*model.Person) bool) map[string]*model.Person {
	t.Helper()
	out := map[string]*model.Person{}
	for name, ok := range preds {
		for _, p := range soapWorld().People {
			if ok(p) {
				out[name] = p
				break
			}
		}
		if out[name] == nil {
			t.Fatalf("the test world has no %s; choose another seed", name)
		}
	}
	return out
}

var personKinds = map[string]func(*model.Person) bool{
	"middle name, spouse and children": func(p *model.Person) bool {
		return !p.ProtectedIdentity && p.MiddleName != "" && len(p.RelatedNumbers(model.RelationSpouse)) == 1 &&
			len(p.RelatedNumbers(model.RelationChild)) > 0
	},
	"child with guardians": func(p *model.Person) bool {
		return !p.ProtectedIdentity && len(p.RelatedNumbers(model.RelationGuardian)) == 2
	},
	"no relations":            func(p *model.Person) bool { return !p.ProtectedIdentity && len(p.Relations) == 0 },
	"confidentiality marking": func(p *model.Person) bool { return p.ConfidentialityMarking && !p.ProtectedIdentity },
	"protected identity":      func(p *model.Person) bool { return p.ProtectedIdentity },
	// The synthetic world has no deregistered person yet; the field's
	// absence (nil) is what is compared.
}

// TestSOAPNavetMatchesTheHandWrittenClient reads the same persons through
// the declaration and through sources/soap's Navet client, in SOAP 1.1 and
// 1.2, with the WSDL from a file and from ?wsdl.
func TestSOAPNavetMatchesTheHandWrittenClient(t *testing.T) {
	people := findPeople(t, personKinds)
	unknown := "190001019999"
	var keys []string
	for _, p := range people {
		keys = append(keys, p.PersonalNumber)
	}
	slices.Sort(keys)
	keys = append(keys, unknown)

	for _, tc := range []struct {
		name, version, wsdl, wantVersion string
	}{
		{"SOAP 1.1, WSDL file", "1.1", "navet.wsdl", "1.1"},
		{"SOAP 1.2, ?wsdl", "1.2", "?wsdl", "1.2"},
		{"default version, ?wsdl", "", "?wsdl", "1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startNavet(t, sim.FaultConfig{})
			up := srv.client(t, nil)
			decl := navetDecl(tc.version)
			decl.WSDL = tc.wsdl
			c := newSOAP(t, up, decl, navetFields)
			got, err := c.Fetch(t.Context(), keys)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if _, ok := got[unknown]; ok || len(got) != len(people) {
				t.Errorf("answered %d keys (unknown present: %v), want %d", len(got), ok, len(people))
			}
			if n := srv.calls(soap.NavetAction); n != int64(len(keys)) {
				t.Errorf("PersonpostXML calls = %d, want one per key (%d)", n, len(keys))
			}
			wantWSDL := int64(0)
			if tc.wsdl == "?wsdl" {
				wantWSDL = 1 // fetched once, when the connector is built
			}
			if got := srv.calls("wsdl"); got != wantWSDL {
				t.Errorf("wsdl calls = %d, want %d", got, wantWSDL)
			}
			for _, r := range srv.requests() {
				ct := r.header.Get("Content-Type")
				if v12 := strings.HasPrefix(ct, "application/soap+xml"); v12 != (tc.wantVersion == "1.2") {
					t.Fatalf("SOAP %s request with Content-Type %q", tc.wantVersion, ct)
				}
			}

			hand, err := soap.NewNavet(soap.NavetOptions{
				Options: upstream.Options{Name: "folkbokforing", BaseURL: srv.url, Logger: slog.New(slog.DiscardHandler)},
				OrgNr:   navetConfig["orgNr"], BestallningsID: navetConfig["bestallningsId"],
			})
			if err != nil {
				t.Fatal(err)
			}
			for kind, p := range people {
				t.Run(kind, func(t *testing.T) {
					want, err := hand.Person(t.Context(), p.PersonalNumber)
					if err != nil {
						t.Fatal(err)
					}
					recs := got[p.PersonalNumber]
					if len(recs) != 1 {
						t.Fatalf("%d records, want 1", len(recs))
					}
					comparePerson(t, recs[0], want)
				})
			}
		})
	}
}

// comparePerson checks a declared record against the hand-written client's person.
func comparePerson(t *testing.T, r connect.Record, p *model.Person) {
	t.Helper()
	str := func(v any) string {
		s, _ := v.(string)
		return s
	}
	for _, f := range []struct {
		field string
		want  string
	}{
		{"personalNumber", p.PersonalNumber}, {"givenName", p.GivenName}, {"middleName", p.MiddleName},
		{"surname", p.Surname}, {"protectedIdentity", map[bool]string{true: "J", false: "N"}[p.ProtectedIdentity]},
		{"confidentialityMarking", map[bool]string{true: "J", false: "N"}[p.ConfidentialityMarking]},
	} {
		if got := str(r[f.field]); got != f.want {
			t.Errorf("%s = %q, want %q", f.field, got, f.want)
		}
	}
	if p.MiddleName == "" && r["middleName"] != nil {
		t.Errorf("middleName = %#v, want nil for a person without one", r["middleName"])
	}
	addr := func(field string) *model.Address {
		m, _ := r[field].(map[string]any)
		if m == nil {
			return nil
		}
		a := &model.Address{Street: str(m["street"]), PostalCode: str(m["postalCode"]), City: str(m["city"]), PersonalNumber: p.PersonalNumber}
		if field == "forwardingAddress" {
			a.Forwarding, a.PostalCode = true, p.Address.PostalCode // not mapped
		}
		return a
	}
	var gotAddr *model.Address
	switch {
	case r["address"] != nil && r["forwardingAddress"] != nil:
		t.Fatal("both addresses are set")
	case r["address"] != nil:
		gotAddr = addr("address")
	default:
		gotAddr = addr("forwardingAddress")
	}
	if !reflect.DeepEqual(gotAddr, p.Address) {
		t.Errorf("address = %+v, want %+v", gotAddr, p.Address)
	}
	var rels []model.Relation
	list, _ := r["relations"].([]any)
	for _, v := range list {
		m := v.(map[string]any)
		id := m["RelationId"].(map[string]any)
		rels = append(rels, model.Relation{PersonalNumber: id["PersonNr"].(string), Kind: model.RelationKind(m["Relationstyp"].(string))})
	}
	if !reflect.DeepEqual(rels, p.Relations) {
		t.Errorf("relations = %+v, want %+v", rels, p.Relations)
	}
	var numbers []string
	nums, _ := r["relatedNumbers"].([]any)
	for _, v := range nums {
		numbers = append(numbers, v.(string))
	}
	var want []string
	for _, rel := range p.Relations {
		want = append(want, rel.PersonalNumber)
	}
	if !slices.Equal(numbers, want) {
		t.Errorf("relatedNumbers = %v, want %v", numbers, want)
	}
	if (r["deregistered"] != nil) != p.Deregistered {
		t.Errorf("deregistered = %#v, person deregistered: %v", r["deregistered"], p.Deregistered)
	}
}

// TestSOAPNavetRecordsGolden pins the records of two persons, one with
// protected identity, as JSON: the mapping from PersonpostXML to the schema.
func TestSOAPNavetRecordsGolden(t *testing.T) {
	people := findPeople(t, map[string]func(*model.Person) bool{
		"guardian":  personKinds["middle name, spouse and children"],
		"protected": personKinds["protected identity"],
	})
	srv := startNavet(t, sim.FaultConfig{})
	c := newSOAP(t, srv.client(t, nil), navetDecl(""), navetFields)
	got, err := c.Fetch(t.Context(), []string{people["guardian"].PersonalNumber, people["protected"].PersonalNumber})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, filepath.Join("testdata", "navet_records.golden.json"), append(b, '\n'), *update)
}

// TestSOAPRequestEnvelope pins the request of each SOAP version, its
// headers, and that the envelope reads back as the simulator's request type.
func TestSOAPRequestEnvelope(t *testing.T) {
	pnr := soapWorld().People[0].PersonalNumber
	for _, tc := range []struct {
		version, golden, contentType, soapAction string
	}{
		{"1.1", "navet_request_11.xml", "text/xml; charset=utf-8", `"PersonpostXML"`},
		{"1.2", "navet_request_12.xml", "application/soap+xml; action=PersonpostXML; charset=utf-8", ""},
	} {
		t.Run(tc.version, func(t *testing.T) {
			srv := startNavet(t, sim.FaultConfig{})
			c := newSOAP(t, srv.client(t, nil), navetDecl(tc.version), navetFields)
			if _, err := c.Fetch(t.Context(), []string{pnr}); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if got := r.header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if got := r.header.Get("SOAPAction"); got != tc.soapAction {
				t.Errorf("SOAPAction = %q, want %q", got, tc.soapAction)
			}
			testenv.Golden(t, filepath.Join("testdata", tc.golden), r.body, *update)

			var env soap.Envelope
			if err := xml.Unmarshal(r.body, &env); err != nil {
				t.Fatal(err)
			}
			var req soap.PersonpostRequest
			if err := xml.Unmarshal(env.Body.Content, &req); err != nil {
				t.Fatal(err)
			}
			want := soap.PersonpostRequest{Bestallning: soap.Bestallning{OrgNr: navetConfig["orgNr"], BestallningsID: sim.DefaultOrder}, PersonID: pnr}
			req.XMLName, req.NS = xml.Name{}, ""
			if !reflect.DeepEqual(req, want) {
				t.Errorf("request = %+v, want %+v", req, want)
			}
		})
	}
}

// TestSOAPFaults drives the simulator's faults and checks each error's
// kind, that clients never see the upstream's text, and that the log does.
func TestSOAPFaults(t *testing.T) {
	known := soapWorld().People[0].PersonalNumber
	for _, tc := range []struct {
		name     string
		version  string
		cfg      sim.FaultConfig
		order    string
		key      string
		want     upstream.Kind // 0: no error
		logged   string        // in the log, never in Public()
		absent   bool          // the key has no records
		attempts int64         // requests the simulator counted (0: not checked)
	}{
		{"error, fault with 500", "1.1", sim.FaultConfig{ErrorRate: 1}, "", known, upstream.Unavailable, "Tekniskt fel", false, 3},
		{"error, fault with 200", "1.1", sim.FaultConfig{ErrorRate: 1, SOAPFaultsWith200: true}, "", known, upstream.Unavailable, "Tekniskt fel", false, 3},
		{"error, SOAP 1.2 fault", "1.2", sim.FaultConfig{ErrorRate: 1}, "", known, upstream.Unavailable, "Tekniskt fel", false, 3},
		{"unknown person, fault with 500", "1.1", sim.FaultConfig{}, "", "191212121212", 0, "", true, 1},
		{"unknown person, fault with 200", "1.1", sim.FaultConfig{SOAPFaultsWith200: true}, "", "191212121212", 0, "", true, 1},
		{"unknown person, SOAP 1.2 fault with 400", "1.2", sim.FaultConfig{}, "", "191212121212", 0, "", true, 1},
		{"unauthorised order", "1.1", sim.FaultConfig{}, "SOMEONE-ELSE", known, upstream.Rejected, "Ej behörig", false, 1},
		{"unauthorised order with 200", "1.2", sim.FaultConfig{SOAPFaultsWith200: true}, "SOMEONE-ELSE", known, upstream.Rejected, "Ej behörig", false, 1},
		{"timeout", "1.1", sim.FaultConfig{TimeoutRate: 1}, "", known, upstream.Timeout, "", false, 0},
		{"HTML page with 200", "1.1", sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedHTML}, "", known, upstream.BadResponse, "", false, 0},
		{"truncated envelope", "1.1", sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedTruncated}, "", known, upstream.BadResponse, "", false, 0},
		{"truncated SOAP 1.2 envelope", "1.2", sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedTruncated}, "", known, upstream.BadResponse, "", false, 0},
		{"DOCTYPE", "1.1", sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedDoctype}, "", known, upstream.BadResponse, "", false, 0},
		{"over the size cap", "1.1", sim.FaultConfig{MalformedRate: 1, Malformed: sim.MalformedHuge}, "", known, upstream.BadResponse, "", false, 0},
		{"down", "1.1", sim.FaultConfig{Down: true}, "", known, upstream.Unavailable, "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startNavet(t, tc.cfg)
			up := srv.client(t, func(o *upstream.Options) { o.Timeout = 300 * time.Millisecond; o.MaxBodyBytes = 1 << 20 })
			config := navetConfig
			if tc.order != "" {
				config = map[string]string{"orgNr": navetConfig["orgNr"], "bestallningsId": tc.order}
			}
			c, err := connect.NewSOAP(t.Context(), up, navetDecl(tc.version), navetFields, config)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Fetch(t.Context(), []string{tc.key})
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if _, ok := got[tc.key]; ok == tc.absent {
					t.Errorf("records for %s: %v, want absent=%v", tc.key, got[tc.key], tc.absent)
				}
			} else {
				var ue *upstream.Error
				if !errors.As(err, &ue) {
					t.Fatalf("error %v (%T), want an *upstream.Error", err, err)
				}
				if ue.Kind != tc.want || ue.Source != "folkbokforing" || ue.Operation != soap.NavetAction {
					t.Errorf("error %s/%s kind %s, want folkbokforing/PersonpostXML %s", ue.Source, ue.Operation, ue.Kind.Code(), tc.want.Code())
				}
				if tc.logged != "" {
					if strings.Contains(ue.Public(), tc.logged) {
						t.Errorf("Public() %q carries the upstream's text", ue.Public())
					}
					if !strings.Contains(srv.log.String(), tc.logged) {
						t.Errorf("the log lacks the fault string %q:\n%s", tc.logged, srv.log.String())
					}
				}
			}
			if tc.attempts > 0 && srv.attempts() != tc.attempts {
				t.Errorf("%d requests, want %d", srv.attempts(), tc.attempts)
			}
		})
	}
}

// TestSOAPRetriesOnlyIdempotent: a transient fault is tried again only
// when the declaration says the operation is a read.
func TestSOAPRetriesOnlyIdempotent(t *testing.T) {
	for _, idempotent := range []bool{true, false} {
		srv := startNavet(t, sim.FaultConfig{ErrorRate: 1})
		decl := navetDecl("")
		decl.Idempotent = idempotent
		c := newSOAP(t, srv.client(t, nil), decl, navetFields)
		if _, err := c.Fetch(t.Context(), []string{soapWorld().People[0].PersonalNumber}); upstream.KindOf(err) != upstream.Unavailable {
			t.Fatalf("idempotent=%v: error %v", idempotent, err)
		}
		want := int64(1)
		if idempotent {
			want = 3 // the default two retries
		}
		if got := srv.stats.Snapshot()["folkbokforing"]["fault:error"].Calls; got != want {
			t.Errorf("idempotent=%v: %d attempts, want %d", idempotent, got, want)
		}
	}
}

// TestSOAPFanOutIsBounded: one Fetch sends every key at once, and the
// upstream client's maxConcurrent bounds the calls in flight.
func TestSOAPFanOutIsBounded(t *testing.T) {
	srv := startNavet(t, sim.FaultConfig{Latency: 20 * time.Millisecond})
	c := newSOAP(t, srv.client(t, func(o *upstream.Options) { o.MaxConcurrent = 4 }), navetDecl(""), navetFields)
	var keys []string
	for _, p := range soapWorld().People[:24] {
		keys = append(keys, p.PersonalNumber)
	}
	got, err := c.Fetch(t.Context(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) || srv.calls(soap.NavetAction) != int64(len(keys)) {
		t.Errorf("%d answered in %d calls, want %d in as many", len(got), srv.calls(soap.NavetAction), len(keys))
	}
	if m := srv.stats.MaxInFlight("folkbokforing"); m > 4 || m < 2 {
		t.Errorf("at most %d calls in flight, want 2..4 (fanned out, bounded by maxConcurrent)", m)
	}
}

// TestSOAPFailureFailsTheBatch: one key's failure fails the whole Fetch.
func TestSOAPFailureFailsTheBatch(t *testing.T) {
	srv := startNavet(t, sim.FaultConfig{})
	decl := navetDecl("")
	decl.Faults.NotFound = nil // the unknown person is now a Client fault: rejected
	c := newSOAP(t, srv.client(t, nil), decl, navetFields)
	got, err := c.Fetch(t.Context(), []string{soapWorld().People[0].PersonalNumber, "191212121212"})
	if upstream.KindOf(err) != upstream.Rejected || got != nil {
		t.Fatalf("Fetch = %v, %v; want no records and a Rejected error", got, err)
	}
}

// securityHeader is the WS-Security header as the test reads it.
type securityHeader struct {
	Header struct {
		Security struct {
			MustUnderstand string `xml:"http://schemas.xmlsoap.org/soap/envelope/ mustUnderstand,attr"`
			Username       string `xml:"UsernameToken>Username"`
			Password       struct {
				Type string `xml:"Type,attr"`
				Text string `xml:",chardata"`
			} `xml:"UsernameToken>Password"`
			Nonce   string `xml:"UsernameToken>Nonce"`
			Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd UsernameToken>Created"`
		} `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Security"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Header"`
}

func TestSOAPWSSecurity(t *testing.T) {
	const user, password = "kommungraf-test", `s3cr<t&"x]]>`
	t.Setenv("KG_TEST_NAVET_USER", user)
	t.Setenv("KG_TEST_NAVET_PASSWORD", password)
	pnr := soapWorld().People[0].PersonalNumber

	for _, digest := range []bool{false, true} {
		t.Run(map[bool]string{false: "PasswordText", true: "PasswordDigest"}[digest], func(t *testing.T) {
			srv := startNavet(t, sim.FaultConfig{})
			decl := navetDecl("1.1")
			decl.Security = &connect.SOAPSecurity{UsernameToken: &connect.SOAPUsernameToken{
				UserEnv: "KG_TEST_NAVET_USER", PasswordEnv: "KG_TEST_NAVET_PASSWORD", Digest: digest,
			}}
			c := newSOAP(t, srv.client(t, nil), decl, navetFields)
			got, err := c.Fetch(t.Context(), []string{pnr})
			if err != nil || len(got[pnr]) != 1 {
				t.Fatalf("Fetch = %v, %v; the simulator ignores the header and answers", got, err)
			}
			body := srv.requests()[0].body
			var env securityHeader
			if err := xml.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			s := env.Header.Security
			if s.Username != user || s.MustUnderstand != "1" {
				t.Errorf("Username %q, mustUnderstand %q", s.Username, s.MustUnderstand)
			}
			if !digest {
				if s.Password.Text != password || !strings.HasSuffix(s.Password.Type, "#PasswordText") {
					t.Errorf("Password %q (%s), want the password as text", s.Password.Text, s.Password.Type)
				}
				return
			}
			if bytes.Contains(body, []byte("s3cr")) {
				t.Error("the digest request carries the password")
			}
			nonce, err := base64.StdEncoding.DecodeString(s.Nonce)
			if err != nil || len(nonce) != 16 {
				t.Fatalf("Nonce %q: %v", s.Nonce, err)
			}
			if _, err := time.Parse(time.RFC3339Nano, s.Created); err != nil {
				t.Errorf("Created %q: %v", s.Created, err)
			}
			h := sha1.Sum([]byte(string(nonce) + s.Created + password))
			if want := base64.StdEncoding.EncodeToString(h[:]); s.Password.Text != want || !strings.HasSuffix(s.Password.Type, "#PasswordDigest") {
				t.Errorf("Password %q (%s), want digest %q", s.Password.Text, s.Password.Type, want)
			}
		})
	}

	t.Run("credentials missing from the environment", func(t *testing.T) {
		srv := startNavet(t, sim.FaultConfig{})
		decl := navetDecl("1.1")
		decl.Security = &connect.SOAPSecurity{UsernameToken: &connect.SOAPUsernameToken{UserEnv: "KG_TEST_NAVET_USER", PasswordEnv: "KG_TEST_UNSET_PASSWORD"}}
		_, err := connect.NewSOAP(t.Context(), srv.client(t, nil), decl, navetFields, navetConfig)
		if err == nil || !strings.Contains(err.Error(), "KG_TEST_UNSET_PASSWORD") || strings.Contains(err.Error(), user) {
			t.Errorf("error %v, want one naming the unset variable and no value", err)
		}
	})
}

// TestSOAPHostileKeys sends keys that would be markup if they were not
// escaped: each stays the text of PersonId, the envelope stays well-formed,
// the simulator answers "unknown person" (no record, no error), and no
// fault or malformed request is counted.
func TestSOAPHostileKeys(t *testing.T) {
	known := soapWorld().People[0].PersonalNumber
	// Each key, and the PersonId the simulator must read from it.
	hostile := []struct{ key, personID string }{
		{"</PersonId><x>", "</PersonId><x>"},
		{"]]>", "]]>"},
		{"<![CDATA[" + known + "]]>", "<![CDATA[" + known + "]]>"},
		{"&xxe;", "&xxe;"},
		{`"'><PersonId>` + known, `"'><PersonId>` + known},
		{"<PersonId>" + known + "</PersonId>", "<PersonId>" + known + "</PersonId>"},
		{known + "</PersonId><PersonId>" + known, known + "</PersonId><PersonId>" + known},
		{`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>`, `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>`},
		{`<?xml version="1.0"?>`, `<?xml version="1.0"?>`},
		// Characters XML cannot carry arrive as U+FFFD, never as markup.
		{"\x00\x01\x0b" + known, "\uFFFD\uFFFD\uFFFD" + known},
		{"\xff\xfe" + known, "\uFFFD\uFFFD" + known},
	}
	var keys []string
	for _, h := range hostile {
		keys = append(keys, h.key)
	}
	for _, version := range []string{"1.1", "1.2"} {
		t.Run(version, func(t *testing.T) {
			srv := startNavet(t, sim.FaultConfig{})
			c := newSOAP(t, srv.client(t, nil), navetDecl(version), navetFields)
			got, err := c.Fetch(t.Context(), keys)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if len(got) != 0 {
				t.Errorf("hostile keys found records: %v", got)
			}
			if n := srv.calls(soap.NavetAction); n != int64(len(keys)) {
				t.Errorf("%d calls, want %d", n, len(keys))
			}
			seen := map[string]bool{}
			for _, r := range srv.requests() {
				var env soap.Envelope
				if err := xml.Unmarshal(r.body, &env); err != nil {
					t.Fatalf("request is not well-formed: %v\n%s", err, r.body)
				}
				var req soap.PersonpostRequest
				if err := xml.Unmarshal(env.Body.Content, &req); err != nil {
					t.Fatalf("request body: %v\n%s", err, r.body)
				}
				seen[req.PersonID] = true
			}
			for _, h := range hostile {
				if !seen[h.personID] {
					t.Errorf("no request carried PersonId %q as text", h.personID)
				}
			}
		})
	}
}
