package soap

import (
	"bytes"
	"unicode/utf8"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/xml"
)

// The registry answers one person per call, so a query about many people
// reads as many envelopes, and encoding/xml reads about 30 MB/s: it was a
// quarter of the gateway's CPU time on a cold Q2. fastAnswer reads the usual
// answer with tdewolff/parse's XML lexer instead, about ten times faster,
// and answers only where it is sure that encoding/xml (personpostEnvelope)
// would decode the same record: elements and plain text, nothing else.
// Whatever it does not check — a fault, an entity or character reference,
// a comment, CDATA, a processing instruction or directive past the XML
// declaration, a carriage return, a repeated element, a name or character
// outside its plain subset, a mismatched tag — makes it give up, and
// encoding/xml reads the answer and decides, as before. FuzzFastAnswer
// holds it to that.

// fastAnswer fills out from body, the registry's answer, and reports true,
// or reports false and leaves the answer to encoding/xml (out may then be
// partly filled).
func fastAnswer(body []byte, out *PersonpostResponse) bool {
	// The lexer writes into its input (a NUL past the end, spaces for tabs
	// in attribute values): it gets a copy, so that encoding/xml reads the
	// answer as it came.
	in := make([]byte, len(body), len(body)+1)
	copy(in, body)
	r := fastReader{l: xml.NewLexer(parse.NewInputBytes(in))}
	return r.answer(out)
}

type fastReader struct {
	l     *xml.Lexer
	depth int // of the element being read
}

// fastMaxDepth bounds the nesting the fast reader follows: the record is
// seven levels deep, and deeper XML is encoding/xml's to refuse or read.
const fastMaxDepth = 32

// answer reads the prolog (whitespace and an XML declaration) and the
// envelope.
func (r *fastReader) answer(out *PersonpostResponse) bool {
	for {
		tt, data := r.l.Next()
		switch tt {
		case xml.TextToken:
			if len(bytes.TrimLeft(data, " \t\n")) > 0 {
				return false
			}
		case xml.StartTagPIToken:
			if !r.declaration() {
				return false
			}
		case xml.StartTagToken:
			name := r.l.Text()
			if !bytes.Equal(local(name), []byte("Envelope")) {
				return false
			}
			void, ok := r.attributes()
			if !ok || void {
				return false
			}
			body := false
			return r.children(name, func(child []byte, void bool) bool {
				if !bytes.Equal(local(child), []byte("Body")) {
					return r.skip(child, void)
				}
				if body || void {
					return false
				}
				body = true
				return r.body(child, out)
			}) && body
		default:
			return false
		}
	}
}

// declaration reads <?xml version="1.0" encoding="UTF-8"?> (the encoding
// optional, in any case): the declaration encoding/xml accepts without a
// CharsetReader. Any other processing instruction gives up.
func (r *fastReader) declaration() bool {
	if !bytes.Equal(r.l.Text(), []byte("xml")) {
		return false
	}
	version := false
	for {
		tt, _ := r.l.Next()
		switch tt {
		case xml.AttributeToken:
			name, val := r.l.Text(), r.l.AttrVal()
			switch {
			case string(name) == "version" && !version && (string(val) == `"1.0"` || string(val) == `'1.0'`):
				version = true
			case string(name) == "encoding" && len(val) == 7 && (val[0] == '"' || val[0] == '\'') && val[6] == val[0] &&
				bytes.EqualFold(val[1:6], []byte("utf-8")):
			default:
				return false
			}
		case xml.StartTagClosePIToken:
			return version
		default:
			return false
		}
	}
}

// attributes reads the attributes of the start tag just read and says
// whether the element is empty (<x/>). Their values are not needed; what
// encoding/xml would refuse or read differently gives up.
func (r *fastReader) attributes() (void, ok bool) {
	for {
		tt, _ := r.l.Next()
		switch tt {
		case xml.AttributeToken:
			val := r.l.AttrVal()
			if !plainName(r.l.Text()) || len(val) < 2 || (val[0] != '"' && val[0] != '\'') || val[len(val)-1] != val[0] ||
				!plainText(val[1:len(val)-1]) || bytes.ContainsAny(val[1:len(val)-1], "<\"'\t\n") {
				return false, false
			}
		case xml.StartTagCloseToken:
			return false, true
		case xml.StartTagCloseVoidToken:
			return true, true
		default:
			return false, false
		}
	}
}

// children reads the content of the element name up to its end tag,
// calling child for each child element once its start tag is read (void:
// it is empty and has no end tag). Text between the children is checked
// and dropped, as encoding/xml drops it for a struct.
func (r *fastReader) children(name []byte, child func(name []byte, void bool) bool) bool {
	if r.depth++; r.depth > fastMaxDepth {
		return false
	}
	defer func() { r.depth-- }()
	for {
		tt, data := r.l.Next()
		switch tt {
		case xml.TextToken:
			if !plainText(data) {
				return false
			}
		case xml.StartTagToken:
			n := r.l.Text()
			if !plainName(n) {
				return false
			}
			void, ok := r.attributes()
			if !ok || !child(n, void) {
				return false
			}
		case xml.EndTagToken:
			return bytes.Equal(r.l.Text(), name)
		default:
			return false
		}
	}
}

// skip reads past an element the record does not hold.
func (r *fastReader) skip(name []byte, void bool) bool {
	return void || r.children(name, r.skip)
}

// text reads the text of an element that holds a string; an element in it
// gives up.
func (r *fastReader) text(name []byte, void bool, dst *string) bool {
	if void {
		*dst = ""
		return true
	}
	var s []byte
	for {
		tt, data := r.l.Next()
		switch tt {
		case xml.TextToken:
			if !plainText(data) {
				return false
			}
			s = data
		case xml.EndTagToken:
			*dst = string(s)
			return bytes.Equal(r.l.Text(), name)
		default:
			return false
		}
	}
}

// seen tells a first element of a struct from a repeated one (which
// encoding/xml would merge: the fast reader gives up).
type seen uint16

func (s *seen) first(bit int) bool {
	if *s&(1<<bit) != 0 {
		return false
	}
	*s |= 1 << bit
	return true
}

// body reads the envelope's body: its first element is the answer; a
// fault, or any other first element, gives up.
func (r *fastReader) body(name []byte, out *PersonpostResponse) bool {
	first := true
	return r.children(name, func(child []byte, void bool) bool {
		l := local(child)
		if bytes.Equal(l, []byte("Fault")) {
			return false
		}
		if !first {
			return r.skip(child, void)
		}
		first = false
		if !bytes.Equal(l, []byte("PersonpostXMLResponse")) || void {
			return false
		}
		var s seen
		return r.children(child, func(c []byte, void bool) bool {
			if !bytes.Equal(local(c), []byte("Folkbokforingspost")) {
				return r.skip(c, void)
			}
			return s.first(0) && r.post(c, void, &out.Folkbokforingspost)
		})
	}) && !first
}

func (r *fastReader) post(name []byte, void bool, f *Folkbokforingspost) bool {
	if void {
		return true
	}
	var s seen
	return r.children(name, func(c []byte, void bool) bool {
		switch string(local(c)) {
		case "Sekretessmarkering":
			return s.first(0) && r.text(c, void, &f.Sekretessmarkering)
		case "SkyddadFolkbokforing":
			return s.first(1) && r.text(c, void, &f.SkyddadFolkbokforing)
		case "Personpost":
			return s.first(2) && r.personpost(c, void, &f.Personpost)
		}
		return r.skip(c, void)
	})
}

func (r *fastReader) personpost(name []byte, void bool, p *Personpost) bool {
	if void {
		return true
	}
	var s seen
	return r.children(name, func(c []byte, void bool) bool {
		switch string(local(c)) {
		case "PersonId":
			return s.first(0) && r.personID(c, void, &p.PersonID)
		case "Namn":
			return s.first(1) && r.namn(c, void, &p.Namn)
		case "Folkbokforingsadress":
			p.Folkbokforingsadress = new(Adress)
			return s.first(2) && r.adress(c, void, p.Folkbokforingsadress)
		case "Formedlingsadress":
			p.Formedlingsadress = new(Adress)
			return s.first(3) && r.adress(c, void, p.Formedlingsadress)
		case "Relationer":
			return s.first(4) && r.relationer(c, void, &p.Relationer)
		case "Avregistrering":
			p.Avregistrering = new(Avregistrering)
			return s.first(5) && r.avregistrering(c, void, p.Avregistrering)
		}
		return r.skip(c, void)
	})
}

func (r *fastReader) personID(name []byte, void bool, id *PersonID) bool {
	if void {
		return true
	}
	var s seen
	return r.children(name, func(c []byte, void bool) bool {
		if string(local(c)) == "PersonNr" {
			return s.first(0) && r.text(c, void, &id.PersonNr)
		}
		return r.skip(c, void)
	})
}

func (r *fastReader) namn(name []byte, void bool, n *Namn) bool {
	if void {
		return true
	}
	var s seen
	return r.children(name, func(c []byte, void bool) bool {
		switch string(local(c)) {
		case "Fornamn":
			return s.first(0) && r.text(c, void, &n.Fornamn)
		case "Mellannamn":
			return s.first(1) && r.text(c, void, &n.Mellannamn)
		case "Efternamn":
			return s.first(2) && r.text(c, void, &n.Efternamn)
		}
		return r.skip(c, void)
	})
}

func (r *fastReader) adress(name []byte, void bool, a *Adress) bool {
	if void {
		return true
	}
	var s seen
	return r.children(name, func(c []byte, void bool) bool {
		switch string(local(c)) {
		case "Utdelningsadress2":
			return s.first(0) && r.text(c, void, &a.Utdelningsadress2)
		case "PostNr":
			return s.first(1) && r.text(c, void, &a.PostNr)
		case "Postort":
			return s.first(2) && r.text(c, void, &a.Postort)
		}
		return r.skip(c, void)
	})
}

func (r *fastReader) relationer(name []byte, void bool, rel *Relationer) bool {
	if void {
		return true
	}
	return r.children(name, func(c []byte, void bool) bool {
		if string(local(c)) != "Relation" {
			return r.skip(c, void)
		}
		rel.Relation = append(rel.Relation, Relation{})
		x := &rel.Relation[len(rel.Relation)-1]
		if void {
			return true
		}
		var s seen
		return r.children(c, func(c []byte, void bool) bool {
			switch string(local(c)) {
			case "RelationId":
				return s.first(0) && r.personID(c, void, &x.RelationID)
			case "Relationstyp":
				return s.first(1) && r.text(c, void, &x.Relationstyp)
			}
			return r.skip(c, void)
		})
	})
}

func (r *fastReader) avregistrering(name []byte, void bool, a *Avregistrering) bool {
	if void {
		return true
	}
	var s seen
	return r.children(name, func(c []byte, void bool) bool {
		switch string(local(c)) {
		case "Avregistreringsdatum":
			return s.first(0) && r.text(c, void, &a.Avregistreringsdatum)
		case "AvregistreringsorsakKod":
			return s.first(1) && r.text(c, void, &a.AvregistreringsorsakKod)
		}
		return r.skip(c, void)
	})
}

// local is a name without its namespace prefix: encoding/xml matches the
// record's elements by local name.
func local(name []byte) []byte {
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// plainName reports an ASCII name, with at most one namespace prefix, that
// encoding/xml reads as the same prefix and local name.
func plainName(name []byte) bool {
	part := 0 // the length of the current part
	colons := 0
	for _, c := range name {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9', c == '-', c == '.':
			if part == 0 {
				return false
			}
		case c == ':':
			if part == 0 || colons > 0 {
				return false
			}
			colons++
			part = 0
			continue
		default:
			return false
		}
		part++
	}
	return part > 0
}

// plainText reports text that encoding/xml reads as it is: valid UTF-8 of
// XML characters, without a reference (&), a carriage return (which it
// would turn into a newline) or "]]>" (which it refuses).
func plainText(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&', c == '\r', c == '<':
				return false
			case c < 0x20 && c != '\t' && c != '\n':
				return false
			case c == '>' && i >= 2 && b[i-1] == ']' && b[i-2] == ']':
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError || !(r >= 0x80 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
		i += n
	}
	return true
}
