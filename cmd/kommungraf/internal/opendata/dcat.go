package opendata

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"regexp"
	"strings"
)

// The vocabularies of DCAT-AP-SE.
const (
	nsDCAT    = "http://www.w3.org/ns/dcat#"
	nsDCTerms = "http://purl.org/dc/terms/"
	nsFOAF    = "http://xmlns.com/foaf/0.1/"
	nsVCard   = "http://www.w3.org/2006/vcard/ns#"
	nsRDF     = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
	// publicAccess is the EU access-right authority's PUBLIC: level-0 data
	// and suppressed aggregates only, open to anyone.
	publicAccess = "http://publications.europa.eu/resource/authority/access-right/PUBLIC"
	themeBase    = "http://publications.europa.eu/resource/authority/data-theme/"
)

// service is one API as a dcat:DataService.
type service struct {
	ID, Title, Description, Publisher, PublisherID, ContactName, ContactEmail string
	Endpoint, EndpointDescription, Licence, Theme                             string
	Keywords                                                                  []string
}

func (s *Service) services(base string) []service {
	out := make([]service, 0, len(s.apis))
	for _, a := range s.apis {
		d := a.decl
		sv := service{
			ID: base + d.Base(), Title: d.Title, Description: strings.TrimSpace(d.Description),
			Publisher: d.Publisher, PublisherID: base + "/open/#" + slug(d.Publisher),
			ContactName: d.Contact.Name, ContactEmail: d.Contact.Email,
			Endpoint: base + d.Base(), EndpointDescription: base + d.Base() + "/openapi.json",
			Licence: d.Licence, Keywords: d.Keywords,
		}
		if d.Theme != "" {
			sv.Theme = themeBase + d.Theme
		}
		out = append(out, sv)
	}
	return out
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	r := strings.NewReplacer("å", "a", "ä", "a", "ö", "o", "Å", "a", "Ä", "a", "Ö", "o")
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(r.Replace(s)), "-"), "-")
}

// dcatJSONLD describes every API as a DCAT-AP-SE dcat:DataService of one
// dcat:Catalog, in JSON-LD.
func (s *Service) dcatJSONLD(w http.ResponseWriter, r *http.Request) {
	if !s.onlyParams(w, r) {
		return
	}
	base := s.base(r)
	sv := "sv"
	lit := func(v string) map[string]string { return map[string]string{"@value": v, "@language": sv} }
	idOf := func(v string) map[string]string { return map[string]string{"@id": v} }
	var graph []any
	var ids []any
	publishers := map[string]string{}
	for _, x := range s.services(base) {
		ids = append(ids, idOf(x.ID))
		publishers[x.PublisherID] = x.Publisher
		node := map[string]any{
			"@id":                      x.ID,
			"@type":                    "dcat:DataService",
			"dcterms:title":            lit(x.Title),
			"dcterms:description":      lit(x.Description),
			"dcterms:publisher":        idOf(x.PublisherID),
			"dcat:contactPoint":        map[string]any{"@type": "vcard:Organization", "vcard:fn": x.ContactName, "vcard:hasEmail": idOf("mailto:" + x.ContactEmail)},
			"dcat:endpointURL":         idOf(x.Endpoint),
			"dcat:endpointDescription": idOf(x.EndpointDescription),
			"dcterms:license":          idOf(x.Licence),
			"dcterms:accessRights":     idOf(publicAccess),
		}
		if len(x.Keywords) > 0 {
			kws := make([]any, len(x.Keywords))
			for i, k := range x.Keywords {
				kws[i] = lit(k)
			}
			node["dcat:keyword"] = kws
		}
		if x.Theme != "" {
			node["dcat:theme"] = idOf(x.Theme)
		}
		graph = append(graph, node)
	}
	var catalogPublisher string
	for id, name := range publishers {
		if catalogPublisher == "" || id < catalogPublisher {
			catalogPublisher = id
		}
		graph = append(graph, map[string]any{"@id": id, "@type": "foaf:Agent", "foaf:name": lit(name)})
	}
	catalog := map[string]any{
		"@id": base + "/open/", "@type": "dcat:Catalog",
		"dcterms:title":       lit("Öppna API:er"),
		"dcterms:description": lit("Kommunens öppna REST-API:er enligt DIGG:s REST API-profil."),
		"dcat:service":        ids,
	}
	if catalogPublisher != "" {
		catalog["dcterms:publisher"] = idOf(catalogPublisher)
	}
	graph = append([]any{catalog}, graph...)
	s.writeJSONBodyAs(w, r, "application/ld+json", map[string]any{
		"@context": map[string]string{"dcat": nsDCAT, "dcterms": nsDCTerms, "foaf": nsFOAF, "vcard": nsVCard},
		"@graph":   graph,
	})
}

func (s *Service) writeJSONBodyAs(w http.ResponseWriter, r *http.Request, contentType string, v any) {
	var buf bytes.Buffer
	enc := newJSONEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "the answer could not be encoded")
		return
	}
	s.writeBody(w, r, contentType, bytes.TrimSpace(buf.Bytes()), 300)
}

// dcatRDF is the same description in RDF/XML.
func (s *Service) dcatRDF(w http.ResponseWriter, r *http.Request) {
	if !s.onlyParams(w, r) {
		return
	}
	base := s.base(r)
	var b bytes.Buffer
	esc := func(v string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(v))
		return strings.ReplaceAll(e.String(), `"`, "&quot;")
	}
	res := func(prop, uri string) { b.WriteString("    <" + prop + ` rdf:resource="` + esc(uri) + `"/>` + "\n") }
	text := func(prop, v string) { b.WriteString("    <" + prop + ` xml:lang="sv">` + esc(v) + "</" + prop + ">\n") }
	b.WriteString(xml.Header)
	b.WriteString(`<rdf:RDF xmlns:rdf="` + nsRDF + `" xmlns:dcat="` + nsDCAT + `" xmlns:dcterms="` + nsDCTerms +
		`" xmlns:foaf="` + nsFOAF + `" xmlns:vcard="` + nsVCard + `">` + "\n")
	services := s.services(base)
	b.WriteString(`  <dcat:Catalog rdf:about="` + esc(base+"/open/") + `">` + "\n")
	text("dcterms:title", "Öppna API:er")
	text("dcterms:description", "Kommunens öppna REST-API:er enligt DIGG:s REST API-profil.")
	if len(services) > 0 {
		res("dcterms:publisher", services[0].PublisherID)
	}
	for _, x := range services {
		res("dcat:service", x.ID)
	}
	b.WriteString("  </dcat:Catalog>\n")
	publishers := map[string]bool{}
	for _, x := range services {
		b.WriteString(`  <dcat:DataService rdf:about="` + esc(x.ID) + `">` + "\n")
		text("dcterms:title", x.Title)
		text("dcterms:description", x.Description)
		res("dcterms:publisher", x.PublisherID)
		b.WriteString("    <dcat:contactPoint>\n      <vcard:Organization>\n")
		b.WriteString("        <vcard:fn>" + esc(x.ContactName) + "</vcard:fn>\n")
		b.WriteString(`        <vcard:hasEmail rdf:resource="mailto:` + esc(x.ContactEmail) + `"/>` + "\n")
		b.WriteString("      </vcard:Organization>\n    </dcat:contactPoint>\n")
		res("dcat:endpointURL", x.Endpoint)
		res("dcat:endpointDescription", x.EndpointDescription)
		res("dcterms:license", x.Licence)
		res("dcterms:accessRights", publicAccess)
		for _, k := range x.Keywords {
			text("dcat:keyword", k)
		}
		if x.Theme != "" {
			res("dcat:theme", x.Theme)
		}
		b.WriteString("  </dcat:DataService>\n")
		if !publishers[x.PublisherID] {
			publishers[x.PublisherID] = true
			b.WriteString(`  <foaf:Agent rdf:about="` + esc(x.PublisherID) + `">` + "\n")
			text("foaf:name", x.Publisher)
			b.WriteString("  </foaf:Agent>\n")
		}
	}
	b.WriteString("</rdf:RDF>\n")
	s.writeBody(w, r, "application/rdf+xml", b.Bytes(), 300)
}
