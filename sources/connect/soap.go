package connect

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// SOAPCall is the soap part of a resource declaration (schema/<system>.yaml):
// one document/literal operation of a WSDL, called once per key.
//
//	soap:
//	  wsdl: navet.wsdl              # or "?wsdl": fetched from the system's url at start
//	  service: PersonpostService    # optional when the WSDL has one
//	  operation: PersonpostXML
//	  version: "1.1"                # or "1.2"; default: the 1.1 binding, else the 1.2 one
//	  request:                      # input element's values, templated from the key and config
//	    Bestallning.OrgNr: "{config.orgNr}"
//	    Bestallning.BestallningsId: "{config.bestallningsId}"
//	    PersonId: "{key}"
//	  records: Folkbokforingspost   # path of the records in the response element
//	  idempotent: true              # a read: retried after transient failures
//	  faults: { code: Felkod, notFound: ["1001"] }
//	  security: { usernameToken: { userEnv: NAVET_USER, passwordEnv: NAVET_PASSWORD } }
type SOAPCall struct {
	// WSDL is the service description: a file name relative to the
	// declaration's folder (read from Files), or "?wsdl" to fetch it from
	// the system's configured url when the connector is built.
	WSDL string `yaml:"wsdl"`
	// Service is the name of the WSDL's service; optional when it has one.
	Service string `yaml:"service,omitempty"`
	// Operation is the name of the operation to call.
	Operation string `yaml:"operation"`
	// Version is the SOAP version, "1.1" or "1.2". Default: the service's
	// SOAP 1.1 binding of the operation, else its SOAP 1.2 binding.
	Version string `yaml:"version,omitempty"`
	// Request gives the values of the request: a dotted path of element
	// names below the operation's input element (Bestallning.OrgNr) to a
	// template, text in which {key} stands for the key and {config.<name>}
	// for sources.<system>.<name> of the configuration. An argument of the
	// bound field, {args.<name>}, or a field of its parent record,
	// {parent.<field>}, is the whole value of an optional element
	// (minOccurs="0"), left out when the value is null. Every
	// value is XML-escaped; elements are written in the schema's order,
	// and a required element without a value is a declaration error.
	Request map[string]string `yaml:"request"`
	// Records is the dotted path of the records below the response element
	// (each element it reaches is one record); "" makes the response
	// element itself the record.
	Records string `yaml:"records"`
	// Idempotent says that the operation only reads, so that a call is
	// tried again after a transient failure. SOAP says nothing about it;
	// without it, no call is repeated.
	Idempotent bool `yaml:"idempotent,omitempty"`
	// Faults maps the service's faults to outcomes.
	Faults SOAPFaults `yaml:"faults,omitempty"`
	// Security adds a WS-Security header to every request.
	Security *SOAPSecurity `yaml:"security,omitempty"`

	// Files is the declaration's folder, from which a WSDL file is read;
	// the declaration loader sets it (default: the working directory).
	Files fs.FS `yaml:"-"`
}

// SOAPFaults maps SOAP faults to outcomes. A fault's codes are, most
// specific first: the text of the detail element named Code, the SOAP 1.2
// subcodes' local names, and the fault code's local name (Client, Server,
// Sender, Receiver, VersionMismatch, MustUnderstand). The first code found
// in a list decides; a fault no list names is Rejected when the fault code
// blames the sender (Client, Sender, VersionMismatch, MustUnderstand,
// DataEncodingUnknown) and Unavailable otherwise. Whatever the outcome,
// the fault's code and string go to the log only, never to a client.
type SOAPFaults struct {
	// Code is the local name of the element in a fault's detail that
	// carries the service's own error code, e.g. Felkod.
	Code string `yaml:"code,omitempty"`
	// NotFound are the codes that mean "nothing for this key": the key is
	// answered as not found, not as an error.
	NotFound []string `yaml:"notFound,omitempty"`
	// Rejected are the codes of requests the service refuses (not retried).
	Rejected []string `yaml:"rejected,omitempty"`
	// Unavailable are the codes of transient failures (retried when the
	// call is idempotent).
	Unavailable []string `yaml:"unavailable,omitempty"`
}

// SOAPSecurity is the WS-Security header of the requests.
type SOAPSecurity struct {
	// UsernameToken sends a user name and password (WS-Security
	// UsernameToken profile 1.0).
	UsernameToken *SOAPUsernameToken `yaml:"usernameToken,omitempty"`
}

// SOAPUsernameToken names the environment variables that hold the
// credentials; the declaration never holds them.
type SOAPUsernameToken struct {
	// UserEnv is the variable holding the user name.
	UserEnv string `yaml:"userEnv"`
	// PasswordEnv is the variable holding the password.
	PasswordEnv string `yaml:"passwordEnv"`
	// Digest sends PasswordDigest (SHA-1 of nonce, creation time and
	// password) with a fresh nonce per request instead of the password.
	Digest bool `yaml:"digest,omitempty"`
}

// soapFetchWSDL is SOAPCall.WSDL's value that fetches the description from
// the endpoint, as SOAP services publish it.
const soapFetchWSDL = "?wsdl"

// SOAP envelopes and media types.
const (
	soap11EnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	soap12EnvelopeNS = "http://www.w3.org/2003/05/soap-envelope"
	soap11MediaType  = "text/xml; charset=utf-8"
)

// WS-Security namespaces and URIs (UsernameToken profile 1.0).
const (
	wsseNS         = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	wsuNS          = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	wssePassText   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
	wssePassDigest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	wsseBase64     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

// wsdlKey is the declaration key of the WSDL.
var wsdlKey = []string{"soap", "wsdl"}

// soapMaxWSDL caps a WSDL file read from the declaration's folder.
const soapMaxWSDL = 4 << 20

// SOAP is the declarative SOAP connector: one call of the operation per
// key, the keys of a batch fanned out at once (the upstream client's
// maxConcurrent bounds them across the gateway).
type SOAP struct {
	up         *upstream.Client
	plan       *soapPlan
	faults     SOAPFaults
	idempotent bool
	envNS      string
	header     http.Header
	// body is the request element, rendered but for the key and the
	// arguments.
	body []soapChunk
	// args says the request uses arguments: its keys are declare.ArgsKeys.
	args bool
	// token is the WS-Security UsernameToken, nil without one.
	token *soapToken
	// now and nonce are the clock and the randomness of PasswordDigest.
	now   func() time.Time
	nonce io.Reader
}

type soapToken struct {
	user, password string
	digest         bool
}

// NewSOAP builds the connector of decl: it checks the declaration, reads
// the WSDL (from decl.Files, or from the system's endpoint through up when
// decl.WSDL is "?wsdl"), resolves the operation and its elements, and
// checks every request path, the records path and every field path against
// the WSDL's schema. fields maps the schema's field names (dotted for a
// nested object: address.street) to paths within a record. config holds
// the values of {config.<name>}; the WS-Security credentials come from the
// environment. Every problem is reported at once.
//
// Requests go to up's base URL, the system's configured url: the WSDL's
// soap:address is read but not followed, because descriptions often name a
// host that only the service's own network knows.
func NewSOAP(ctx context.Context, up *upstream.Client, decl SOAPCall, fields, config map[string]string) (*SOAP, error) {
	if up == nil {
		return nil, errors.New("soap: no upstream client")
	}
	if errs := decl.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("soap %s: %w", up.Name(), errors.Join(errs...))
	}
	w, err := decl.LoadWSDL(ctx, up)
	if err != nil {
		return nil, fmt.Errorf("soap %s: %w", up.Name(), err)
	}
	plan, errs := compileSOAP(decl, w, fields, config)
	token, err := decl.token()
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("soap %s %s: %w", up.Name(), decl.Operation, errors.Join(errs...))
	}
	s := &SOAP{
		up: up, plan: plan, faults: decl.Faults, idempotent: decl.Idempotent,
		body: plan.body, token: token, now: time.Now, nonce: rand.Reader,
		args: slices.ContainsFunc(plan.body, func(c soapChunk) bool { return c.arg != "" }),
	}
	action := plan.op.action
	if plan.op.version == "1.2" {
		s.envNS = soap12EnvelopeNS
		params := map[string]string{"charset": "utf-8"}
		if action != "" {
			params["action"] = action
		}
		s.header = http.Header{"Content-Type": {mime.FormatMediaType("application/soap+xml", params)}}
	} else {
		s.envNS = soap11EnvelopeNS
		s.header = http.Header{"Content-Type": {soap11MediaType}, "Soapaction": {`"` + action + `"`}}
	}
	return s, nil
}

// LoadWSDL reads the declaration's WSDL: the file decl.WSDL in decl.Files,
// or, for "?wsdl", the system's endpoint's ?wsdl through up (its deadline,
// size cap, retries and breaker). up may be nil for a file. A file that
// cannot be read and a description that cannot be parsed are a
// *DeclError of soap.wsdl; an endpoint that does not answer is its
// *upstream.Error.
func (c SOAPCall) LoadWSDL(ctx context.Context, up *upstream.Client) (*WSDL, error) {
	var data []byte
	if c.WSDL == soapFetchWSDL {
		if up == nil {
			return nil, errors.New("wsdl: ?wsdl needs the system's upstream client")
		}
		resp, err := up.Do(ctx, upstream.Request{
			Operation: "wsdl", Method: http.MethodGet, Query: url.Values{"wsdl": {""}}, Idempotent: true,
		})
		if err != nil {
			return nil, fmt.Errorf("wsdl: fetching ?wsdl: %w", err)
		}
		data = resp.Body
	} else {
		files := c.Files
		if files == nil {
			files = os.DirFS(".")
		}
		f, err := files.Open(path.Clean(c.WSDL))
		if err != nil {
			return nil, declErr(wsdlKey, "%v (a WSDL file is read from the declaration's folder)", err)
		}
		defer f.Close()
		if data, err = io.ReadAll(io.LimitReader(f, soapMaxWSDL+1)); err != nil {
			return nil, declErr(wsdlKey, "reading %s: %v", c.WSDL, err)
		}
		if len(data) > soapMaxWSDL {
			return nil, declErr(wsdlKey, "%s is larger than %d bytes", c.WSDL, soapMaxWSDL)
		}
	}
	w, err := ParseWSDL(data)
	if err != nil {
		return nil, &DeclError{Key: wsdlKey, Err: fmt.Errorf("%s: %w", c.WSDL, err)}
	}
	return w, nil
}

// Validate checks the declaration part on its own, without the WSDL:
// required keys, the version, templates, paths' and names' syntax. Each
// error is a *DeclError naming its key. ValidateWSDL checks the rest.
func (c SOAPCall) Validate() []error {
	var errs []error
	add := func(key []string, format string, args ...any) {
		errs = append(errs, declErr(key, format, args...))
	}
	switch {
	case c.WSDL == "":
		add([]string{"soap", "wsdl"}, "is required: a WSDL file next to the declaration, or %q", soapFetchWSDL)
	case c.WSDL == soapFetchWSDL:
	case strings.HasPrefix(c.WSDL, "?") || strings.Contains(c.WSDL, "://"):
		add([]string{"soap", "wsdl"}, "%q: give a file next to the declaration, or %q to fetch it from the system's url", c.WSDL, soapFetchWSDL)
	case !fs.ValidPath(path.Clean(c.WSDL)):
		add([]string{"soap", "wsdl"}, "%q must be a file name relative to the declaration's folder, inside it", c.WSDL)
	}
	if c.Operation == "" {
		add([]string{"soap", "operation"}, "is required")
	}
	switch c.Version {
	case "", "1.1", "1.2":
	default:
		add([]string{"soap", "version"}, "%q is not a SOAP version: give \"1.1\" or \"1.2\"", c.Version)
	}
	if len(c.Request) == 0 {
		add([]string{"soap", "request"}, "is required: the values of the request element, at least one with {key}")
	}
	usesKey := false
	for _, p := range slices.Sorted(maps.Keys(c.Request)) {
		key := []string{"soap", "request", p}
		if err := checkDotted(p); err != nil {
			add(key, "%v", err)
		}
		parts, err := parseSOAPTemplate(c.Request[p])
		if err != nil {
			add(key, "%v", err)
		}
		for _, part := range parts {
			usesKey = usesKey || part.key
		}
	}
	if len(c.Request) > 0 && !usesKey {
		add([]string{"soap", "request"}, "no value uses {key}: every call would ask for the same thing")
	}
	if c.Records != "" {
		if err := checkDotted(c.Records); err != nil {
			add([]string{"soap", "records"}, "%v", err)
		}
	}
	if c.Faults.Code != "" && !isNCName(c.Faults.Code) {
		add([]string{"soap", "faults", "code"}, "%q is not an element name", c.Faults.Code)
	}
	seen := map[string]string{}
	for _, l := range []struct {
		name  string
		codes []string
	}{{"notFound", c.Faults.NotFound}, {"rejected", c.Faults.Rejected}, {"unavailable", c.Faults.Unavailable}} {
		for _, code := range l.codes {
			switch {
			case strings.TrimSpace(code) == "":
				add([]string{"soap", "faults", l.name}, "an empty code")
			case seen[code] != "":
				add([]string{"soap", "faults", l.name}, "code %q is also in %s", code, seen[code])
			default:
				seen[code] = l.name
			}
		}
	}
	if c.Security != nil {
		t := c.Security.UsernameToken
		switch {
		case t == nil:
			add([]string{"soap", "security"}, "names no mechanism: give usernameToken")
		default:
			for _, v := range []struct{ key, env string }{{"userEnv", t.UserEnv}, {"passwordEnv", t.PasswordEnv}} {
				if !isEnvName(v.env) {
					add([]string{"soap", "security", "usernameToken", v.key}, "%q is not an environment variable's name", v.env)
				}
			}
		}
	}
	return errs
}

// ConfigNames are the names of the request's {config.<name>} values, sorted:
// the keys of sources.<system> the configuration must set.
func (c SOAPCall) ConfigNames() []string {
	seen := map[string]bool{}
	for _, v := range c.Request {
		parts, _ := parseSOAPTemplate(v)
		for _, p := range parts {
			if p.config != "" {
				seen[p.config] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// ValidateWSDL checks the declaration against its WSDL: the service,
// operation and version exist, the operation is document/literal, every
// request path names a value of the input element and every required value
// has one, the records path and every field path exist in the output
// element. Run Validate first.
func (c SOAPCall) ValidateWSDL(w *WSDL, fields map[string]string) []error {
	_, errs := compileSOAP(c, w, fields, nil)
	return errs
}

// token reads the WS-Security credentials from the environment.
func (c SOAPCall) token() (*soapToken, error) {
	if c.Security == nil || c.Security.UsernameToken == nil {
		return nil, nil
	}
	t := c.Security.UsernameToken
	user, password := os.Getenv(t.UserEnv), os.Getenv(t.PasswordEnv)
	var missing []string
	if user == "" {
		missing = append(missing, t.UserEnv)
	}
	if password == "" {
		missing = append(missing, t.PasswordEnv)
	}
	if len(missing) > 0 {
		return nil, declErr([]string{"soap", "security", "usernameToken"}, "the environment does not set %s", strings.Join(missing, " and "))
	}
	return &soapToken{user: user, password: password, digest: t.Digest}, nil
}

// MaxKeys is 0: a SOAP operation takes one key per call, and Fetch sends
// as many calls as it has keys.
func (s *SOAP) MaxKeys() int { return 0 }

// Fetch calls the operation once per key, all keys at once; the upstream
// client's global bound queues what is over it. A key the service does not
// know (a notFound fault, or no records) is absent from the result; so is
// an empty or overlong key (MaxKeyBytes), without a call. The
// first failure fails the batch and cancels the calls still running.
func (s *SOAP) Fetch(ctx context.Context, keys []string) (map[string][]Record, error) {
	keys = sendable(keys)
	out := make(map[string][]Record, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if len(keys) == 1 {
		recs, err := s.fetch(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			out[keys[0]] = recs
		}
		return out, nil
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, key := range keys {
		g.Go(func() error {
			recs, err := s.fetch(gctx, key)
			if err != nil || len(recs) == 0 {
				return err
			}
			mu.Lock()
			out[key] = recs
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// fetch makes the call for one key. A key of a request that uses
// arguments is a declare.ArgsKey: its arguments go into the request.
func (s *SOAP) fetch(ctx context.Context, key string) ([]Record, error) {
	var args url.Values
	if s.args {
		var err error
		if _, args, key, err = declare.ParseArgsKey(key); err != nil || key == "" || len(key) > MaxKeyBytes {
			return nil, nil // no key the resolvers ask: no records
		}
	}
	body, err := s.envelope(key, args)
	if err != nil {
		return nil, upstream.Permanent(upstream.Errorf(s.up.Name(), s.plan.op.name, upstream.Rejected, "building the request: %w", err))
	}
	var recs []Record
	_, err = s.up.Do(ctx, upstream.Request{
		Operation: s.plan.op.name, Method: http.MethodPost, Body: body,
		Idempotent: s.idempotent, Header: s.header.Clone(),
		Classify: func(r *upstream.Response) *upstream.Error {
			var e *upstream.Error
			recs, e = s.classify(r)
			return e
		},
	})
	if upstream.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// envelope writes the request for key: the envelope, the WS-Security
// header when declared, and the request element with key XML-escaped.
func (s *SOAP) envelope(key string, args url.Values) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soap:Envelope xmlns:soap="` + s.envNS + `">`)
	if s.token != nil {
		if err := s.writeSecurity(&b); err != nil {
			return nil, err
		}
	}
	b.WriteString(`<soap:Body>`)
	for _, c := range s.body {
		switch {
		case c.key:
			escapeXML(&b, key)
		case c.arg != "":
			if args.Has(c.arg) {
				b.WriteString("<" + c.elem + ">")
				escapeXML(&b, args.Get(c.arg))
				b.WriteString("</" + c.elem + ">")
			}
		default:
			b.WriteString(c.text)
		}
	}
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return b.Bytes(), nil
}

// writeSecurity writes the WS-Security header with the UsernameToken.
func (s *SOAP) writeSecurity(b *bytes.Buffer) error {
	t := s.token
	b.WriteString(`<soap:Header><wsse:Security xmlns:wsse="` + wsseNS + `" xmlns:wsu="` + wsuNS + `" soap:mustUnderstand="1">`)
	b.WriteString(`<wsse:UsernameToken><wsse:Username>`)
	escapeXML(b, t.user)
	b.WriteString(`</wsse:Username>`)
	if !t.digest {
		b.WriteString(`<wsse:Password Type="` + wssePassText + `">`)
		escapeXML(b, t.password)
		b.WriteString(`</wsse:Password>`)
	} else {
		nonce := make([]byte, 16)
		if _, err := io.ReadFull(s.nonce, nonce); err != nil {
			return fmt.Errorf("ws-security nonce: %w", err)
		}
		created := s.now().UTC().Format("2006-01-02T15:04:05.000Z")
		h := sha1.New() // the profile's digest; SHA-1 is what it specifies
		h.Write(nonce)
		h.Write([]byte(created))
		h.Write([]byte(t.password))
		b.WriteString(`<wsse:Password Type="` + wssePassDigest + `">` + base64.StdEncoding.EncodeToString(h.Sum(nil)) + `</wsse:Password>`)
		b.WriteString(`<wsse:Nonce EncodingType="` + wsseBase64 + `">` + base64.StdEncoding.EncodeToString(nonce) + `</wsse:Nonce>`)
		b.WriteString(`<wsu:Created>` + created + `</wsu:Created>`)
	}
	b.WriteString(`</wsse:UsernameToken></wsse:Security></soap:Header>`)
	return nil
}

// classify reads an answer whatever its HTTP status, since services send
// faults with 200 as well as 500: a fault maps to its declared outcome; a
// body that is no SOAP envelope is a bad response (or the status's error
// when the status is one); an envelope without a fault under an error
// status is that status's error.
func (s *SOAP) classify(r *upstream.Response) ([]Record, *upstream.Error) {
	env, err := parseSOAPXML(r.Body)
	if err == nil && (env.name.Local != "Envelope" || (env.name.Space != soap11EnvelopeNS && env.name.Space != soap12EnvelopeNS)) {
		err = fmt.Errorf("the root element is {%s}%s, not a SOAP envelope", env.name.Space, env.name.Local)
	}
	var body *soapNode
	if err == nil {
		if body = env.elem(env.name.Space, "Body"); body == nil {
			err = errors.New("the envelope has no Body")
		}
	}
	if err != nil {
		if e := upstream.StatusError(r.Status); e != nil {
			return nil, e
		}
		return nil, upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: fmt.Errorf("reading the envelope: %w", err)})
	}
	var payload *soapNode
	if len(body.children) > 0 {
		payload = body.children[0]
	}
	if payload != nil && payload.name.Local == "Fault" && payload.name.Space == env.name.Space {
		return nil, s.faultError(readSOAPFault(payload, s.faults.Code))
	}
	if e := upstream.StatusError(r.Status); e != nil {
		return nil, e
	}
	if env.name.Space != s.envNS {
		return nil, upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: fmt.Errorf("answered in the envelope %s, asked in %s", env.name.Space, s.envNS)})
	}
	recs, err := s.plan.decode(payload)
	if err != nil {
		return nil, upstream.Permanent(&upstream.Error{Kind: upstream.BadResponse, Err: err})
	}
	return recs, nil
}

// soapFault is a received fault; its text is for logs only.
type soapFault struct {
	code     string   // the fault code's local name: Client, Server, Sender, Receiver, ...
	subcodes []string // SOAP 1.2 subcodes' local names, outermost first
	reason   string
	detail   string // the text of the detail's code element, if declared and present
}

func (f *soapFault) Error() string {
	codes := append([]string{f.code}, f.subcodes...)
	s := "soap fault " + strings.Join(codes, "/")
	if f.detail != "" {
		s += " (" + f.detail + ")"
	}
	return s + ": " + f.reason
}

// readSOAPFault reads a SOAP 1.1 or 1.2 fault.
func readSOAPFault(n *soapNode, detailCode string) *soapFault {
	f := &soapFault{}
	local := func(qname string) string {
		_, l, ok := strings.Cut(strings.TrimSpace(qname), ":")
		if !ok {
			l = strings.TrimSpace(qname)
		}
		// SOAP 1.1's dotted codes (Client.Authentication) refine the first part.
		l, _, _ = strings.Cut(l, ".")
		return l
	}
	var detail *soapNode
	if n.name.Space == soap12EnvelopeNS {
		if c := n.elem(soap12EnvelopeNS, "Code"); c != nil {
			if v := c.elem(soap12EnvelopeNS, "Value"); v != nil {
				f.code = local(v.text)
			}
			for sc := c.elem(soap12EnvelopeNS, "Subcode"); sc != nil; sc = sc.elem(soap12EnvelopeNS, "Subcode") {
				if v := sc.elem(soap12EnvelopeNS, "Value"); v != nil {
					f.subcodes = append(f.subcodes, local(v.text))
				}
			}
		}
		if r := n.elem(soap12EnvelopeNS, "Reason"); r != nil {
			if t := r.elem(soap12EnvelopeNS, "Text"); t != nil {
				f.reason = t.text
			}
		}
		detail = n.elem(soap12EnvelopeNS, "Detail")
	} else {
		if c := n.elem("", "faultcode"); c != nil {
			f.code = local(c.text)
		}
		if r := n.elem("", "faultstring"); r != nil {
			f.reason = r.text
		}
		detail = n.elem("", "detail")
	}
	if detail != nil && detailCode != "" {
		if d := findElement(detail, detailCode, 0); d != nil {
			f.detail = strings.TrimSpace(d.text)
		}
	}
	return f
}

// findElement returns the first descendant of n named local, depth first.
func findElement(n *soapNode, local string, depth int) *soapNode {
	if depth > soapMaxDepth {
		return nil
	}
	for _, c := range n.children {
		if c.name.Local == local {
			return c
		}
		if d := findElement(c, local, depth+1); d != nil {
			return d
		}
	}
	return nil
}

// faultError maps a fault to an upstream error by the declared lists, or
// by who the fault code blames.
func (s *SOAP) faultError(f *soapFault) *upstream.Error {
	codes := []string{}
	if f.detail != "" {
		codes = append(codes, f.detail)
	}
	for i := len(f.subcodes) - 1; i >= 0; i-- {
		codes = append(codes, f.subcodes[i])
	}
	codes = append(codes, f.code)
	for _, c := range codes {
		switch {
		case slices.Contains(s.faults.NotFound, c):
			return &upstream.Error{Kind: upstream.NotFound, Err: f}
		case slices.Contains(s.faults.Rejected, c):
			return upstream.Permanent(&upstream.Error{Kind: upstream.Rejected, Err: f})
		case slices.Contains(s.faults.Unavailable, c):
			return &upstream.Error{Kind: upstream.Unavailable, Err: f}
		}
	}
	switch f.code {
	case "Client", "Sender", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown":
		return upstream.Permanent(&upstream.Error{Kind: upstream.Rejected, Err: f})
	}
	return &upstream.Error{Kind: upstream.Unavailable, Err: f}
}

// isEnvName reports a conventional environment variable name.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// checkDotted checks a dotted path of element names.
func checkDotted(p string) error {
	for _, seg := range strings.Split(p, ".") {
		if !isNCName(seg) {
			return fmt.Errorf("%q is not a dotted path of element names", p)
		}
	}
	return nil
}

var _ Connector = (*SOAP)(nil)
