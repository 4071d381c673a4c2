package opendata

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// openAPI serves the API's OpenAPI 3.1 document, generated from its
// declaration, its operations' selections and the schema's descriptions.
func (s *Service) openAPI(w http.ResponseWriter, r *http.Request, a *api) {
	if !s.onlyParams(w, r) {
		return
	}
	s.writeJSONBody(w, r, s.document(a, s.base(r)), 300)
}

// document builds the OpenAPI document of one API.
func (s *Service) document(a *api, base string) map[string]any {
	d := a.decl
	schemas := map[string]any{
		"Problem": obj("An error, RFC 9457 (application/problem+json).", map[string]any{
			"type":     str("A URI reference naming the problem type; about:blank when the status says it all."),
			"title":    str("The status code's phrase."),
			"status":   map[string]any{"type": "integer", "description": "The HTTP status code."},
			"detail":   str("What went wrong with this request."),
			"instance": str("The request's path and query."),
		}, "type", "title", "status", "detail", "instance"),
		"PageMeta": obj("Where this page sits in the list.", map[string]any{
			"page":         map[string]any{"type": "integer", "minimum": 1, "description": "This page's number, from 1."},
			"limit":        map[string]any{"type": "integer", "minimum": 1, "maximum": MaxLimit, "description": "Items per page."},
			"count":        map[string]any{"type": "integer", "minimum": 0, "description": "Items on this page."},
			"totalRecords": map[string]any{"type": "integer", "minimum": 0, "description": "Items on all pages."},
			"totalPages":   map[string]any{"type": "integer", "minimum": 0, "description": "Number of pages."},
		}, "page", "limit", "count", "totalRecords", "totalPages"),
		"Link": obj("A link.", map[string]any{"href": map[string]any{"type": "string", "format": "uri"}}, "href"),
		"ApiInfo": obj("DIGG's api-info.", map[string]any{
			"apiName":          str("The API's name."),
			"apiVersion":       str("The API's version (semantic versioning)."),
			"apiReleased":      map[string]any{"type": "string", "format": "date", "description": "When this version was released."},
			"apiDocumentation": map[string]any{"type": "string", "format": "uri", "description": "This document."},
			"apiStatus":        map[string]any{"type": "string", "enum": statuses, "description": "The API's life-cycle status."},
		}, "apiName", "apiVersion", "apiReleased", "apiDocumentation", "apiStatus"),
	}
	problem := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{
			"application/problem+json": map[string]any{"schema": ref("Problem")}}}
	}
	responses := map[string]any{
		"BadRequest":    problem("A parameter is invalid or unknown."),
		"NotFound":      problem("No such resource."),
		"NotAcceptable": problem("The Accept header admits no media type this resource is served as."),
		"TooManyRequests": map[string]any{"description": "The client address is over its rate limit; Retry-After says when to try again.",
			"headers": map[string]any{"Retry-After": map[string]any{"description": "Seconds to wait.", "schema": map[string]any{"type": "integer"}}},
			"content": map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}}},
		"ServerError": problem("The gateway failed."),
		"Unavailable": problem("A source system is unavailable or slow; try again later."),
		"NotModified": map[string]any{"description": "The representation is unchanged since the ETag sent in If-None-Match."},
	}
	cacheHeaders := map[string]any{
		"ETag":          map[string]any{"description": "The representation's entity tag, for If-None-Match.", "schema": map[string]any{"type": "string"}},
		"Cache-Control": map[string]any{"description": "How long the answer may be cached (the sources' cache TTL).", "schema": map[string]any{"type": "string"}},
	}
	errorsFor := func(ok map[string]any, notFound bool) map[string]any {
		out := map[string]any{"200": ok, "304": ref2("responses", "NotModified"), "400": ref2("responses", "BadRequest"),
			"406": ref2("responses", "NotAcceptable"), "429": ref2("responses", "TooManyRequests"),
			"500": ref2("responses", "ServerError"), "503": ref2("responses", "Unavailable")}
		if notFound {
			out["404"] = ref2("responses", "NotFound")
		}
		return out
	}
	limitParam := map[string]any{"name": "limit", "in": "query", "required": false,
		"description": fmt.Sprintf("Items per page, 1 to %d (default %d).", MaxLimit, DefaultLimit),
		"schema":      map[string]any{"type": "integer", "minimum": 1, "maximum": MaxLimit, "default": DefaultLimit}}
	pageParam := map[string]any{"name": "page", "in": "query", "required": false, "description": "The page, from 1 (default 1).",
		"schema": map[string]any{"type": "integer", "minimum": 1, "default": 1}}
	paths := map[string]any{
		"/api-info": map[string]any{"get": map[string]any{
			"operationId": "apiInfo", "summary": "About this API (DIGG's api-info).",
			"responses": errorsFor(map[string]any{"description": "The API's name, version, release, documentation and status.",
				"headers": cacheHeaders, "content": map[string]any{"application/json": map[string]any{"schema": ref("ApiInfo")}}}, false),
		}},
	}
	for _, res := range a.resources {
		name := typeName(res.decl.Name)
		var elem map[string]any
		var params []any
		params = append(params, limitParam, pageParam)
		if res.agg != nil {
			props := map[string]any{}
			var req []string
			for _, by := range res.agg.decl.By {
				props[by] = str(res.agg.dataset.Dimensions[by])
				req = append(req, by)
			}
			props["count"] = map[string]any{"type": "integer", "minimum": res.agg.decl.Suppress.Below,
				"description": fmt.Sprintf("Number of %s in the cell. Cells of fewer than %d are never published (left out).", res.agg.dataset.Description, res.agg.decl.Suppress.Below)}
			elem = obj(strings.TrimSpace(res.decl.Description), props, append(req, "count")...)
		} else {
			elem = selectionSchema(s.opts.Schema, res.list.elemType, res.list.elem, strings.TrimSpace(res.decl.Description))
			for _, p := range res.list.params {
				params = append(params, paramDoc(p, "query"))
			}
		}
		schemas[name] = elem
		listDesc := strings.TrimSpace(res.decl.Description)
		if res.agg != nil {
			listDesc += fmt.Sprintf(" Cells counting fewer than %d are suppressed: they are left out, and no totals are given.", res.agg.decl.Suppress.Below)
		}
		paths["/"+res.decl.Name] = map[string]any{"get": map[string]any{
			"operationId": "list" + name, "summary": "A page of " + res.decl.Name + ".", "description": listDesc,
			"parameters": params,
			"responses": errorsFor(map[string]any{"description": "One page, with the paging metadata and links.",
				"headers": mergeHeaders(cacheHeaders, map[string]any{"Link": map[string]any{"description": "RFC 8288 links: first, prev, next, last.", "schema": map[string]any{"type": "string"}}}),
				"content": map[string]any{"application/json": map[string]any{"schema": obj("A page of "+res.decl.Name+".", map[string]any{
					res.decl.Name: map[string]any{"type": "array", "items": ref(name)},
					"_meta":       ref("PageMeta"),
					"_links": map[string]any{"type": "object", "additionalProperties": ref("Link"),
						"description": "self, first, prev, next and last."},
				}, res.decl.Name, "_meta", "_links")}}}, false),
		}}
		if res.item != nil {
			paths["/"+res.decl.Name+"/{"+res.item.id.decl.Name+"}"] = map[string]any{"get": map[string]any{
				"operationId": "get" + name, "summary": "One of " + res.decl.Name + " by " + res.item.id.decl.Name + ".",
				"parameters": []any{paramDoc(res.item.id, "path")},
				"responses": errorsFor(map[string]any{"description": "The item.", "headers": cacheHeaders,
					"content": map[string]any{"application/json": map[string]any{"schema": ref(name)}}}, true),
			}}
		}
	}
	info := map[string]any{
		"title": d.Title, "version": d.Version, "description": strings.TrimSpace(d.Description),
		"contact": map[string]any{"name": d.Contact.Name, "email": d.Contact.Email},
		"license": map[string]any{"name": licenceName(d.Licence), "url": d.Licence},
	}
	if d.Contact.URL != "" {
		info["contact"].(map[string]any)["url"] = d.Contact.URL
	}
	return map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info":              info,
		"servers":           []any{map[string]any{"url": base + d.Base()}},
		"paths":             paths,
		"components":        map[string]any{"schemas": schemas, "responses": responses},
		"x-owner":           d.Owner,
		"x-publisher":       d.Publisher,
	}
}

// selectionSchema is the JSON Schema of an object as the selection set
// shapes it: each selected field by its response key, with the schema's
// type and description.
func selectionSchema(schema *ast.Schema, def *ast.Definition, set ast.SelectionSet, desc string) map[string]any {
	props := map[string]any{}
	var req []string
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.Definition == nil || strings.HasPrefix(s.Name, "__") {
					continue
				}
				if _, dup := props[s.Alias]; !dup {
					req = append(req, s.Alias)
				}
				props[s.Alias] = typeSchema(schema, s.Definition.Type, s, strings.TrimSpace(s.Definition.Description))
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			case *ast.FragmentSpread:
				if s.Definition != nil {
					walk(s.Definition.SelectionSet)
				}
			}
		}
	}
	walk(set)
	if desc == "" && def != nil {
		desc = strings.TrimSpace(def.Description)
	}
	return obj(desc, props, req...)
}

// typeSchema maps a GraphQL type to JSON Schema (2020-12, as OpenAPI 3.1
// takes it): a nullable type also admits null.
func typeSchema(schema *ast.Schema, t *ast.Type, f *ast.Field, desc string) map[string]any {
	var out map[string]any
	var kind string
	switch {
	case t.Elem != nil:
		out = map[string]any{"items": typeSchema(schema, t.Elem, f, "")}
		kind = "array"
	default:
		def := f.Definition
		named := def.Type.Name()
		var enum []string
		switch named {
		case "String", "ID":
			kind, out = "string", map[string]any{}
		case "Int":
			kind, out = "integer", map[string]any{}
		case "Float":
			kind, out = "number", map[string]any{}
		case "Boolean":
			kind, out = "boolean", map[string]any{}
		case "Date":
			kind, out = "string", map[string]any{"format": "date"}
		case "DateTime", "Time":
			kind, out = "string", map[string]any{"format": "date-time"}
		case "GeoJSON":
			kind, out = "object", map[string]any{"description": "A GeoJSON geometry (RFC 7946), coordinates in CRS84."}
		default:
			td := schema.Types[named]
			switch {
			case len(f.SelectionSet) > 0:
				out = selectionSchema(schema, td, f.SelectionSet, "")
				delete(out, "description")
				kind = "object"
			case td != nil && td.Kind == ast.Enum:
				for _, v := range td.EnumValues {
					enum = append(enum, v.Name)
				}
				kind, out = "string", map[string]any{}
			default:
				kind, out = "string", map[string]any{}
			}
		}
		if enum != nil {
			vals := make([]any, 0, len(enum)+1)
			for _, e := range enum {
				vals = append(vals, e)
			}
			if !t.NonNull {
				vals = append(vals, nil)
			}
			out["enum"] = vals
		}
	}
	if t.NonNull {
		out["type"] = kind
	} else {
		out["type"] = []any{kind, "null"}
	}
	if desc != "" {
		out["description"] = desc
	}
	return out
}

func paramDoc(p *boundParam, in string) map[string]any {
	sch := map[string]any{}
	switch p.kind {
	case "enum":
		sch["type"] = "string"
		vals := make([]any, len(p.enum))
		for i, e := range p.enum {
			vals[i] = e
		}
		sch["enum"] = vals
	default:
		sch["type"] = p.kind
	}
	if p.decl.Pattern != "" {
		sch["pattern"] = "^(?:" + p.decl.Pattern + ")$"
	}
	out := map[string]any{"name": p.decl.Name, "in": in, "required": in == "path", "schema": sch}
	if p.desc != "" {
		out["description"] = strings.TrimSpace(p.desc)
	}
	if p.decl.Example != "" {
		out["example"] = p.decl.Example
	}
	return out
}

func obj(desc string, props map[string]any, required ...string) map[string]any {
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	if desc != "" {
		out["description"] = desc
	}
	return out
}

func str(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }

func ref(schema string) map[string]any { return ref2("schemas", schema) }

func ref2(kind, name string) map[string]any {
	return map[string]any{"$ref": "#/components/" + kind + "/" + name}
}

func mergeHeaders(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// typeName is a resource's schema name: skolenheter → Skolenheter.
func typeName(resource string) string {
	var b strings.Builder
	for _, part := range strings.Split(resource, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// licenceName names the well-known licences by their URI.
func licenceName(uri string) string {
	switch {
	case strings.Contains(uri, "publicdomain/zero/1.0"):
		return "CC0 1.0"
	case strings.Contains(uri, "licenses/by/4.0"):
		return "CC BY 4.0"
	}
	return uri
}
