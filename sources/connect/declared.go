package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// DeclError is one problem of a resource's declaration that a connector
// found: in its own part (soap, sql, http) or in the field mapping as the
// connector reads it. Key is the path of declaration keys it concerns, from
// the resource: ["soap", "operation"], ["soap", "request",
// "Bestallning.OrgNr"], ["sql", "query"], ["fields", "givenName"], so that
// Locate can point at its line. Every connector reports its declaration's
// problems as DeclErrors; declare reports the rest of the file itself.
type DeclError struct {
	Key []string
	Err error
}

// Error names the key and the problem.
func (e *DeclError) Error() string { return strings.Join(e.Key, ".") + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *DeclError) Unwrap() error { return e.Err }

func declErr(key []string, format string, args ...any) *DeclError {
	return &DeclError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Locate turns what a connector's constructor or check returned into the
// resource's problems, each DeclError at its key's line in the declaration.
// ok is false when err holds an *upstream.Error: a database or endpoint
// that did not answer says nothing about the declaration, and err is then
// the one to report. Any other error is a problem at the resource.
func Locate(r *declare.Resource, err error) (ps declare.Problems, ok bool) {
	if err == nil {
		return nil, true
	}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return nil, false
	}
	var walk func(error)
	walk = func(e error) {
		var de *DeclError
		switch x := e.(type) {
		case *DeclError:
			ps = append(ps, r.Problem(declKey(x.Key), x.Error()))
		case interface{ Unwrap() []error }:
			for _, y := range x.Unwrap() {
				walk(y)
			}
		default:
			if errors.As(e, &de) && errors.Unwrap(e) != nil {
				walk(errors.Unwrap(e)) // context ("soap folkbokforing: ...") around the problems
				return
			}
			ps = append(ps, r.Problem(nil, e.Error()))
		}
	}
	walk(err)
	return ps, true
}

// declKey is a DeclError's key as written in the declaration: a nested
// part's field, object.field to the connectors (Fields), is under the
// part's own fields.
func declKey(key []string) []string {
	if len(key) != 2 || key[0] != "fields" || !strings.Contains(key[1], ".") {
		return key
	}
	out := []string{"fields"}
	for i, name := range strings.Split(key[1], ".") {
		if i > 0 {
			out = append(out, "fields")
		}
		out = append(out, name)
	}
	return out
}

// Fields is a resource's field mapping as the SOAP and SQL connectors take
// it: each schema field's name to its dotted path in the record (SOAP) or
// its column (SQL). A nested part's fields are named object.field, which
// those connectors build into nested objects, their paths below the part's
// own (declare.Check allows them a nested object, not a list of objects,
// and SQL a part without a path only: its columns grouped).
func Fields(r *declare.Resource) map[string]string {
	out := make(map[string]string, len(r.Fields))
	flattenFields(out, r.Fields, "", nil)
	return out
}

func flattenFields(out map[string]string, fields []declare.FieldMap, prefix string, at []string) {
	for _, f := range fields {
		path := append(at[:len(at):len(at)], f.Path...)
		if f.Nested {
			flattenFields(out, f.Fields, prefix+f.Name+".", path)
			continue
		}
		out[prefix+f.Name] = strings.Join(path, ".")
	}
}

// SOAPPart decodes a resource's soap part into a SOAPCall (its WSDL file
// read from the files beside the declaration, set.FS) and checks it on its
// own (SOAPCall.Validate); every problem is located. usable says the call
// decoded and is right on its own, so that checking it further (against
// its WSDL) tells more; an unknown key beside it does not stop that.
func SOAPPart(set *declare.Set, r *declare.Resource) (call SOAPCall, ps declare.Problems, usable bool) {
	ps, decoded := r.DecodePart(&call)
	call.Files = set.FS(r.System.Dir())
	if !decoded {
		return call, ps, false
	}
	errs := call.Validate()
	p, _ := Locate(r, errors.Join(errs...))
	return call, append(ps, p...), len(errs) == 0
}

// SQLPart decodes a resource's sql part into an SQLQuery and checks it on
// its own (SQLQuery.Validate); every problem is located. usable says the
// query decoded and is right on its own, as SOAPPart's.
func SQLPart(r *declare.Resource) (q SQLQuery, ps declare.Problems, usable bool) {
	ps, decoded := r.DecodePart(&q)
	if !decoded {
		return q, ps, false
	}
	errs := q.Validate()
	p, _ := Locate(r, errors.Join(errs...))
	return q, append(ps, p...), len(errs) == 0
}

// CheckParts is declare.Load's extra check of the connectors' parts, run by
// `go generate` and by the gateway's start alike: each soap part decoded
// and checked against its WSDL when the WSDL is a file beside the
// declaration (one fetched with "?wsdl" is checked at start, when the
// connector is built), each sql part decoded and its query's text checked
// (the database checks the rest at start). The configuration's values, the
// credentials in the environment and the database are not consulted.
func CheckParts(set *declare.Set) declare.Problems {
	var ps declare.Problems
	for _, sys := range set.Systems {
		for _, r := range sys.Resources {
			switch {
			case r.SOAP != nil:
				call, p, usable := SOAPPart(set, r)
				ps = append(ps, p...)
				if !usable || call.WSDL == soapFetchWSDL {
					continue
				}
				w, err := call.LoadWSDL(context.Background(), nil)
				if err == nil {
					err = errors.Join(call.ValidateWSDL(w, Fields(r))...)
				}
				p, _ = Locate(r, err)
				ps = append(ps, p...)
			case r.SQL != nil:
				_, p, _ := SQLPart(r)
				ps = append(ps, p...)
			}
		}
	}
	return ps
}

// Env is what the connectors of one declared system are built on.
type Env struct {
	// Client is the system's upstream stack (http and soap systems).
	Client *upstream.Client
	// Header is sent with every HTTP call: the system's credentials from
	// the environment (http systems).
	Header http.Header
	// Store is the system's database (sql systems).
	Store *sqldb.Store
	// Config holds the values of a SOAP request's {config.<name>}:
	// sources.<system>.<name> of the configuration.
	Config map[string]string
}

// Open builds the connector of a declared resource from its declaration and
// its system's env, checking what only now can be checked: a SOAP
// operation against a WSDL fetched with "?wsdl", the {config.<name>} values
// and the WS-Security credentials, an SQL query against the database. A
// problem of the declaration comes as declare.Problems, located; a
// database or endpoint that does not answer as its *upstream.Error.
func Open(ctx context.Context, set *declare.Set, r *declare.Resource, env Env) (Connector, error) {
	var c Connector
	var err error
	switch {
	case r.HTTP != nil:
		c, err = NewHTTP(HTTPOptions{Resource: r, Client: env.Client, Header: env.Header})
		return located(r, c, nil, err)
	case r.SOAP != nil:
		call, ps, usable := SOAPPart(set, r)
		if !usable {
			return nil, ps.Err()
		}
		config := env.Config
		if config == nil {
			config = map[string]string{} // checked: a {config.<name>} without a value is a problem
		}
		c, err = NewSOAP(ctx, env.Client, call, Fields(r), config)
		return located(r, c, ps, err)
	case r.SQL != nil:
		q, ps, usable := SQLPart(r)
		if !usable {
			return nil, ps.Err()
		}
		c, err = NewSQL(ctx, env.Store, r.Name, q, Fields(r))
		return located(r, c, ps, err)
	}
	return nil, fmt.Errorf("connect: %s: the resource has no connector part", r.FullName())
}

// located joins a connector's construction with the problems found before
// it (unknown keys beside a usable part): every problem, located, or the
// upstream's error, or the connector.
func located(r *declare.Resource, c Connector, before declare.Problems, err error) (Connector, error) {
	ps, ok := Locate(r, err)
	if !ok {
		return nil, fmt.Errorf("%s: resource %s: %w", r.Pos, r.FullName(), err)
	}
	if ps = append(before, ps...); len(ps) > 0 {
		return nil, ps.Err()
	}
	return c, nil
}
