package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kommungraf/kommungraf/sources/rest"
	"github.com/kommungraf/kommungraf/sources/soap"
)

// Malformed response kinds a simulator can be told to send.
const (
	// MalformedHTML is an HTML error page answered with 200, as a proxy in
	// front of a real system sends.
	MalformedHTML = "html"
	// MalformedTruncated is the first half of the normal body, with the
	// normal content type.
	MalformedTruncated = "truncated"
	// MalformedDoctype is XML with a DOCTYPE declaring entities, answered with 200.
	MalformedDoctype = "doctype"
	// MalformedHuge is a body of HugeBodySize bytes and the normal content type.
	MalformedHuge = "huge"
)

// HugeBodySize is the size of the payload of a MalformedHuge answer; the
// envelope around it adds a few bytes.
const HugeBodySize = 50 << 20

// maxTimeoutHang bounds how long a TimeoutRate fault holds a request whose
// client never gives up.
const maxTimeoutHang = 60 * time.Second

// FaultConfig is what a simulator is told to do wrong. The zero value is a
// healthy system.
type FaultConfig struct {
	// Latency delays every answer.
	Latency time.Duration
	// Jitter adds a uniform random 0..Jitter on top of Latency.
	Jitter time.Duration
	// ErrorRate (0..1) is the share of requests answered with 503
	// problem+json (REST) or SOAP fault 9001 (SOAP).
	ErrorRate float64
	// TimeoutRate (0..1) is the share of requests never answered: the
	// simulator holds them until the client gives up (at most a minute).
	TimeoutRate float64
	// MalformedRate (0..1) is the share of requests answered with a broken
	// body of the kind Malformed.
	MalformedRate float64
	// Malformed is one of MalformedHTML, MalformedTruncated, MalformedDoctype
	// and MalformedHuge (default MalformedHTML).
	Malformed string
	// Down closes every connection without answering.
	Down bool
	// SOAPFaultsWith200 makes the SOAP simulator send its faults with HTTP 200,
	// as some real services do, instead of 500.
	SOAPFaultsWith200 bool
}

// faultConfigJSON is the wire form of FaultConfig: durations as Go duration
// strings ("20ms").
type faultConfigJSON struct {
	Latency           string  `json:"latency,omitempty"`
	Jitter            string  `json:"jitter,omitempty"`
	ErrorRate         float64 `json:"errorRate"`
	TimeoutRate       float64 `json:"timeoutRate"`
	MalformedRate     float64 `json:"malformedRate"`
	Malformed         string  `json:"malformed,omitempty"`
	Down              bool    `json:"down"`
	SOAPFaultsWith200 bool    `json:"soapFaultsWith200"`
}

// faultConfigFields are the JSON names of faultConfigJSON.
var faultConfigFields = map[string]bool{
	"latency": true, "jitter": true, "errorRate": true, "timeoutRate": true,
	"malformedRate": true, "malformed": true, "down": true, "soapFaultsWith200": true,
}

// MarshalJSON writes durations as Go duration strings.
func (c FaultConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultConfigJSON{
		Latency: c.Latency.String(), Jitter: c.Jitter.String(),
		ErrorRate: c.ErrorRate, TimeoutRate: c.TimeoutRate, MalformedRate: c.MalformedRate,
		Malformed: c.Malformed, Down: c.Down, SOAPFaultsWith200: c.SOAPFaultsWith200,
	})
}

// UnmarshalJSON reads durations as Go duration strings and rejects unknown
// fields, so that a typo in a fault drill fails loudly instead of doing nothing.
func (c *FaultConfig) UnmarshalJSON(b []byte) error {
	// encoding/json matches field names case-insensitively; a drill that
	// sends "errorrate" has a typo, so names must match exactly.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("fault config: %w", err)
	}
	for name := range fields {
		if !faultConfigFields[name] {
			return fmt.Errorf("fault config: unknown field %q", name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var raw faultConfigJSON
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("fault config: %w", err)
	}
	out := FaultConfig{
		ErrorRate: raw.ErrorRate, TimeoutRate: raw.TimeoutRate, MalformedRate: raw.MalformedRate,
		Malformed: raw.Malformed, Down: raw.Down, SOAPFaultsWith200: raw.SOAPFaultsWith200,
	}
	var err error
	if out.Latency, err = parseDuration("latency", raw.Latency); err != nil {
		return err
	}
	if out.Jitter, err = parseDuration("jitter", raw.Jitter); err != nil {
		return err
	}
	*c = out
	return nil
}

func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("fault config: %s: %w", field, err)
	}
	return d, nil
}

// Validate reports every value out of range at once.
func (c FaultConfig) Validate() error {
	var errs []error
	if c.Latency < 0 {
		errs = append(errs, errors.New("latency must not be negative"))
	}
	if c.Jitter < 0 {
		errs = append(errs, errors.New("jitter must not be negative"))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"errorRate", c.ErrorRate}, {"timeoutRate", c.TimeoutRate}, {"malformedRate", c.MalformedRate}} {
		if !(r.v >= 0 && r.v <= 1) { // also catches NaN
			errs = append(errs, fmt.Errorf("%s must be between 0 and 1, got %v", r.name, r.v))
		}
	}
	switch c.Malformed {
	case "", MalformedHTML, MalformedTruncated, MalformedDoctype, MalformedHuge:
	default:
		errs = append(errs, fmt.Errorf("malformed must be one of %s, %s, %s, %s; got %q",
			MalformedHTML, MalformedTruncated, MalformedDoctype, MalformedHuge, c.Malformed))
	}
	return errors.Join(errs...)
}

// Faults holds the fault configuration of one simulator. It is safe for
// concurrent use: a fault drill changes it while requests are served.
type Faults struct {
	mu  sync.RWMutex
	cfg FaultConfig
}

// NewFaults returns a healthy configuration.
func NewFaults() *Faults { return &Faults{} }

// Set replaces the configuration.
func (f *Faults) Set(c FaultConfig) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = c
}

// Get returns the current configuration.
func (f *Faults) Get() FaultConfig {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cfg
}

// ServeHTTP is the /__faults endpoint: GET returns the configuration as
// JSON, PUT replaces it (unknown fields and values out of range are rejected).
func (f *Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var c FaultConfig
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		if err := dec.Decode(&c); err != nil {
			writeProblem(w, http.StatusBadRequest, "Invalid fault configuration", err.Error())
			return
		}
		if dec.More() {
			writeProblem(w, http.StatusBadRequest, "Invalid fault configuration", "trailing data after the JSON object")
			return
		}
		if err := c.Validate(); err != nil {
			writeProblem(w, http.StatusBadRequest, "Invalid fault configuration", err.Error())
			return
		}
		f.Set(c)
	default:
		w.Header().Set("Allow", "GET, PUT")
		writeProblem(w, http.StatusMethodNotAllowed, "Method Not Allowed", r.Method+" is not supported on /__faults")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f.Get())
}

// BodyKind is the body format a simulated system speaks, so that injected
// faults look like that system's own errors.
type BodyKind int

// Body kinds.
const (
	// BodyJSON is a REST JSON API; errors are application/problem+json.
	BodyJSON BodyKind = iota + 1
	// BodyGeoJSON is an OGC API Features endpoint (application/geo+json).
	BodyGeoJSON
	// BodySOAP is SOAP 1.1 over text/xml; errors are SOAP faults.
	BodySOAP
	// BodyXML is a plain XML endpoint (application/xml).
	BodyXML
)

func (k BodyKind) contentType() string {
	switch k {
	case BodyGeoJSON:
		return "application/geo+json"
	case BodySOAP:
		return "text/xml; charset=utf-8"
	case BodyXML:
		return "application/xml; charset=utf-8"
	}
	return "application/json"
}

func (k BodyKind) isXML() bool { return k == BodySOAP || k == BodyXML }

// Wrap returns next behind the configured faults: latency on every request,
// then, by the configured rates, an error, a hang or a malformed answer;
// Down closes the connection. The control endpoints /__stats and /__faults
// are never delayed or broken.
func (f *Faults) Wrap(system string, next http.Handler, kind BodyKind) http.Handler {
	return f.wrap(system, next, kind, nil)
}

// wrapSplit is wrap for a system whose endpoints answer in two body kinds:
// the requests other says are its (an XML endpoint beside JSON ones) get
// faults that look like what that endpoint would send, the rest like kind.
func (f *Faults) wrapSplit(system string, next http.Handler, kind, otherKind BodyKind, other func(*http.Request) bool, stats *Stats) http.Handler {
	main := f.wrap(system, next, kind, stats)
	alt := f.wrap(system, next, otherKind, stats)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if other(r) {
			alt.ServeHTTP(w, r)
			return
		}
		main.ServeHTTP(w, r)
	})
}

// wrap is Wrap that also counts injected faults in stats (operation
// "fault:<kind>"), so that a drill can prove the fault was served.
func (f *Faults) wrap(system string, next http.Handler, kind BodyKind, stats *Stats) http.Handler {
	record := func(what string) {
		if stats != nil {
			stats.Record(system, "fault:"+what, 0)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/__stats" || r.URL.Path == "/__faults" {
			next.ServeHTTP(w, r)
			return
		}
		if stats != nil {
			defer stats.enter(system)()
		}
		c := f.Get()
		if c.Down {
			record("down")
			dropConnection(w)
			return
		}
		bufferBody(r)
		delay := c.Latency
		if c.Jitter > 0 {
			delay += rand.N(c.Jitter + 1)
		}
		if !wait(r.Context(), delay) {
			return // the client gave up; nobody is listening
		}
		switch {
		case hit(c.ErrorRate):
			record("error")
			writeUnavailable(w, r, system, kind, c.SOAPFaultsWith200)
		case hit(c.TimeoutRate):
			record("timeout")
			if wait(r.Context(), maxTimeoutHang) {
				writeUnavailable(w, r, system, kind, c.SOAPFaultsWith200) // a client that never gives up
			}
		case hit(c.MalformedRate):
			m := c.Malformed
			if m == "" {
				m = MalformedHTML
			}
			record(m)
			serveMalformed(w, r, next, m, system, kind)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// maxBufferedBody bounds how much of a request body the fault middleware reads ahead.
const maxBufferedBody = 1 << 20

// bufferBody reads the request body before the middleware holds a request.
// net/http notices that a client went away (and cancels the request's
// context) only once the body has been read, so without this a POST held by
// latency or a timeout fault would outlive its client.
func bufferBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, r.Body, maxBufferedBody+1)
	switch {
	case err == io.EOF || (err == nil && n <= maxBufferedBody):
		r.Body = io.NopCloser(&buf)
	default: // larger than we care to hold, or broken: let the handler see the rest
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(&buf, r.Body), r.Body}
	}
}

func hit(rate float64) bool { return rate > 0 && rand.Float64() < rate }

// wait blocks for d or until ctx is done; it reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dropConnection closes the client's connection without a response, as a
// crashed system does; where the connection cannot be taken over (HTTP/2)
// it answers 503 instead.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", "the system is down")
}

// writeUnavailable answers with the system's own "temporarily unavailable"
// error; a SOAP system answers a SOAP 1.2 request with a SOAP 1.2 fault.
func writeUnavailable(w http.ResponseWriter, r *http.Request, system string, kind BodyKind, soapWith200 bool) {
	switch kind {
	case BodySOAP:
		if isSOAP12(r) {
			writeSOAP12Fault(w, soapWith200, false, "Tekniskt fel", soap.FelkodTeknisktFel,
				"Tjänsten är tillfälligt otillgänglig")
			return
		}
		status := http.StatusInternalServerError
		if soapWith200 {
			status = http.StatusOK
		}
		writeSOAPFault(w, status, "soap:Server", "Tekniskt fel", soap.FelkodTeknisktFel,
			"Tjänsten är tillfälligt otillgänglig")
	case BodyXML:
		writeXMLError(w, http.StatusServiceUnavailable, "Tjänsten är tillfälligt otillgänglig")
	default:
		writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", system+" is temporarily unavailable")
	}
}

// writeProblem answers with an RFC 9457 problem.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rest.Problem{Type: "about:blank", Title: title, Status: status, Detail: detail})
}

// xmlErrorBody is the small error document of the property register's
// legacy XML endpoint.
type xmlErrorBody struct {
	XMLName struct{} `xml:"Fel"`
	Kod     int      `xml:"Kod"`
	Text    string   `xml:"Text"`
}

func writeXMLError(w http.ResponseWriter, status int, text string) {
	writeXML(w, status, xmlErrorBody{Kod: status, Text: text})
}

func serveMalformed(w http.ResponseWriter, r *http.Request, next http.Handler, what, system string, kind BodyKind) {
	switch what {
	case MalformedTruncated:
		rec := newRecorder()
		next.ServeHTTP(rec, r)
		copyHeader(w.Header(), rec.header)
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.status)
		b := rec.body.Bytes()
		_, _ = w.Write(b[:len(b)/2])
	case MalformedDoctype:
		body := doctypeBody(r, next, kind)
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		if kind == BodySOAP {
			w.Header().Set("Content-Type", kind.contentType())
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	case MalformedHuge:
		writeHuge(w, kind)
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"+
			"<body><h1>Bad Gateway</h1><p>The proxy could not reach %s.</p><hr><address>nginx</address></body></html>\n",
			system)
	}
}

// doctypeBody is the normal answer of an XML system with a DOCTYPE that
// declares entities inserted after the XML declaration. A JSON system gets a
// small XML document instead: what a misconfigured proxy would send.
func doctypeBody(r *http.Request, next http.Handler, kind BodyKind) []byte {
	const entities = `[<!ENTITY kg "kommungraf"><!ENTITY kg2 "&kg;&kg;&kg;&kg;&kg;&kg;&kg;&kg;">]>`
	if !kind.isXML() {
		return []byte(xmlHeader + "<!DOCTYPE Svar " + entities + "\n<Svar>&kg2;</Svar>\n")
	}
	rec := newRecorder()
	next.ServeHTTP(rec, r)
	body := rec.body.Bytes()
	prolog := ""
	if bytes.HasPrefix(body, []byte("<?xml")) {
		if i := bytes.Index(body, []byte("?>")); i >= 0 {
			prolog, body = string(body[:i+2]), body[i+2:]
		}
	}
	root := rootName(body)
	var b bytes.Buffer
	b.WriteString(prolog)
	b.WriteString("\n<!DOCTYPE " + root + " " + entities + "\n")
	b.Write(bytes.TrimLeft(body, " \r\n\t"))
	return b.Bytes()
}

// rootName returns the name of the first element in an XML body.
func rootName(body []byte) string {
	i := bytes.IndexByte(body, '<')
	if i < 0 {
		return "Svar"
	}
	rest := body[i+1:]
	end := bytes.IndexAny(rest, " \t\r\n/>")
	if end <= 0 {
		return "Svar"
	}
	return string(rest[:end])
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// writeHuge streams HugeBodySize bytes of padding inside an envelope of the
// system's format, from one small buffer.
func writeHuge(w http.ResponseWriter, kind BodyKind) {
	var head, tail string
	switch kind {
	case BodySOAP:
		head = xmlHeader + `<soap:Envelope xmlns:soap="` + soap.EnvelopeNamespace + `"><soap:Body><Utfyllnad>`
		tail = "</Utfyllnad></soap:Body></soap:Envelope>\n"
	case BodyXML:
		head, tail = xmlHeader+"<Utfyllnad>", "</Utfyllnad>\n"
	default:
		head, tail = `{"padding":"`, "\"}\n"
	}
	w.Header().Set("Content-Type", kind.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+HugeBodySize+len(tail)))
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, head); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for left := HugeBodySize; left > 0; {
		n := min(left, len(chunk))
		if _, err := w.Write(chunk[:n]); err != nil {
			return // the client hung up, as it should on a body over its cap
		}
		left -= n
	}
	_, _ = io.WriteString(w, tail)
}

// recorder buffers a handler's answer so that a fault can rewrite it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, status: http.StatusOK} }

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = append([]string(nil), v...)
	}
}

// writeXML answers with an XML document.
func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "Internal Server Error", "could not encode the answer")
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xmlHeader)
	_, _ = w.Write(b)
}

var (
	_ http.Handler        = (*Faults)(nil)
	_ http.ResponseWriter = (*recorder)(nil)
	_ json.Marshaler      = FaultConfig{}
	_ json.Unmarshaler    = (*FaultConfig)(nil)
)
