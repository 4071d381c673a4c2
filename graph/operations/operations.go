// Package operations is the registry of trusted (persisted) GraphQL
// operations: documents reviewed and pushed ahead of time
// (`kommungraf operations push FILE.graphql...`), which a client
// application in persisted-only mode may run and nothing else.
//
// An operation is stored in a normal form: the operation with exactly the
// fragments it uses, printed by gqlparser's formatter. Its id is the
// SHA-256 of that text, so a client runs it by id (the Automatic Persisted
// Queries extension's sha256Hash, with no query), and a free-form document
// that is the same operation, whatever its whitespace, comments or
// fragment order, is recognised as registered.
package operations

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"golang.org/x/sync/singleflight"
)

// Operation is one registered operation.
type Operation struct {
	// ID is the SHA-256 (hex) of Document.
	ID string `json:"id"`
	// Name is the operation's name; every registered operation has one.
	Name string `json:"name"`
	// Document is the operation in normal form, with the fragments it uses.
	Document string `json:"document"`
	// Fields are the schema fields it selects, as "Type.field", sorted:
	// what a policy change may change for it.
	Fields []string `json:"fields"`
	// PushedBy and PushedAt say who registered it, and when.
	PushedBy string    `json:"pushedBy,omitempty"`
	PushedAt time.Time `json:"pushedAt,omitzero"`
}

// Store keeps the registered operations. Get answers nil, nil for an id
// it does not hold.
type Store interface {
	Get(ctx context.Context, id string) (*Operation, error)
	Put(ctx context.Context, ops []*Operation) error
	List(ctx context.Context) ([]*Operation, error)
	Close() error
}

// Parse reads a file of operations (and the fragments they use), checks
// it against the schema, and returns each named operation in normal form.
// Every problem is reported at once, with the file's name and the line.
func Parse(schema *ast.Schema, name, text string) ([]*Operation, error) {
	doc, perr := parser.ParseQuery(&ast.Source{Name: name, Input: text})
	if perr != nil {
		return nil, fmt.Errorf("%s: %w", name, perr)
	}
	if errs := validator.Validate(schema, doc); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = located(name, e.Locations, e.Message)
		}
		return nil, errors.New(strings.Join(msgs, "\n"))
	}
	if len(doc.Operations) == 0 {
		return nil, fmt.Errorf("%s: no operation", name)
	}
	var problems []string
	var out []*Operation
	for _, op := range doc.Operations {
		if op.Name == "" {
			problems = append(problems, located(name, []gqlerror.Location{{Line: op.Position.Line}}, "a registered operation needs a name"))
			continue
		}
		out = append(out, normalForm(doc, op))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return out, nil
}

// MaxTokens bounds the tokens of a request's document: the GraphQL
// handler's parser limit, and Normalize's, which runs before it on the
// text of every client that is not open (validation's cost grows faster
// than the text).
const MaxTokens = 10000

// Normalize returns the id of a document's operation (the one named, or
// the only one) in normal form, or "" when the text is not one valid
// operation of the schema within MaxTokens.
func Normalize(text, operationName string) string {
	// Parsed, not validated: validation (quadratic in the worst case) is
	// left to the executor, once, for a text that is no registered
	// operation. A match runs the registered document, which was
	// validated when it was pushed, never the client's text.
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: text}, MaxTokens)
	if err != nil {
		return ""
	}
	op := doc.Operations.ForName(operationName)
	if op == nil && operationName == "" && len(doc.Operations) == 1 {
		op = doc.Operations[0]
	}
	if op == nil {
		return ""
	}
	return normalForm(doc, op).ID
}

func located(file string, locs []gqlerror.Location, msg string) string {
	if len(locs) > 0 {
		return fmt.Sprintf("%s:%d: %s", file, locs[0].Line, msg)
	}
	return file + ": " + msg
}

// normalForm is op with the fragments it uses (transitively), sorted by
// name, printed by the formatter; its fields come from the validated
// document's definitions.
func normalForm(doc *ast.QueryDocument, op *ast.OperationDefinition) *Operation {
	used := map[string]*ast.FragmentDefinition{}
	fields := map[string]bool{}
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.ObjectDefinition != nil && !strings.HasPrefix(s.Name, "__") {
					fields[s.ObjectDefinition.Name+"."+s.Name] = true
				}
				walk(s.SelectionSet)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			case *ast.FragmentSpread:
				if used[s.Name] == nil {
					if f := doc.Fragments.ForName(s.Name); f != nil {
						used[s.Name] = f
						walk(f.SelectionSet)
					}
				}
			}
		}
	}
	walk(op.SelectionSet)
	one := &ast.QueryDocument{Operations: ast.OperationList{op}}
	for _, name := range sortedKeys(used) {
		one.Fragments = append(one.Fragments, used[name])
	}
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  "), formatter.WithoutDescription()).FormatQueryDocument(one)
	text := buf.String()
	sum := sha256.Sum256([]byte(text))
	return &Operation{ID: hex.EncodeToString(sum[:]), Name: op.Name, Document: text, Fields: sortedKeys(fields)}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Registry answers lookups from its store, remembering what it found (and,
// for a while, what it did not: an unknown id costs the store one query a
// minute, however often it is asked). Lookups of free-form text remember
// the text's id (bounded), so a client that sends a registered document
// as text pays its parsing once.
type Registry struct {
	schema *ast.Schema
	store  Store
	group  singleflight.Group

	mu      sync.Mutex
	known   map[string]*Operation
	missing map[string]time.Time
	texts   map[string]string // sha256 of a request's text and name → normal-form id ("" for none)
}

// Limits of the registry's memory of misses and texts.
const (
	missTTL  = time.Minute
	maxMiss  = 10000
	maxTexts = 10000
)

// NewRegistry serves the operations of store, checked against schema.
func NewRegistry(schema *ast.Schema, store Store) *Registry {
	return &Registry{schema: schema, store: store, known: map[string]*Operation{},
		missing: map[string]time.Time{}, texts: map[string]string{}}
}

// Schema is the schema the registry checks documents against.
func (r *Registry) Schema() *ast.Schema { return r.schema }

// Lookup returns the registered operation with the id, or nil.
func (r *Registry) Lookup(ctx context.Context, id string) (*Operation, error) {
	if !isID(id) {
		return nil, nil
	}
	r.mu.Lock()
	op, ok := r.known[id]
	missedAt, missed := r.missing[id]
	r.mu.Unlock()
	if ok {
		return op, nil
	}
	if missed && time.Since(missedAt) < missTTL {
		return nil, nil
	}
	v, err, _ := r.group.Do(id, func() (any, error) { return r.store.Get(ctx, id) })
	if err != nil {
		return nil, &StoreError{err}
	}
	op, _ = v.(*Operation)
	r.mu.Lock()
	defer r.mu.Unlock()
	if op != nil {
		r.known[id] = op
		delete(r.missing, id)
		return op, nil
	}
	if len(r.missing) >= maxMiss {
		clear(r.missing)
	}
	r.missing[id] = time.Now()
	return nil, nil
}

// Match returns the registered operation a free-form document is (in
// normal form), or nil.
func (r *Registry) Match(ctx context.Context, text, operationName string) (*Operation, error) {
	sum := sha256.Sum256([]byte(operationName + "\x00" + text))
	key := hex.EncodeToString(sum[:])
	r.mu.Lock()
	id, ok := r.texts[key]
	r.mu.Unlock()
	if !ok {
		id = Normalize(text, operationName)
		r.mu.Lock()
		if len(r.texts) >= maxTexts {
			clear(r.texts)
		}
		r.texts[key] = id
		r.mu.Unlock()
	}
	if id == "" {
		return nil, nil
	}
	return r.Lookup(ctx, id)
}

// Push registers the operations of the files (name → text): every file
// checked first, all stored together or none. It returns them as stored.
func (r *Registry) Push(ctx context.Context, by string, files map[string]string) ([]*Operation, error) {
	var all []*Operation
	var problems []string
	names := sortedKeys(files)
	seen := map[string]string{}
	for _, name := range names {
		ops, err := Parse(r.schema, name, files[name])
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, op := range ops {
			if prev, dup := seen[op.Name]; dup && prev != op.ID {
				problems = append(problems, fmt.Sprintf("%s: operation %s is pushed twice with different documents", name, op.Name))
			}
			seen[op.Name] = op.ID
			op.PushedBy, op.PushedAt = by, time.Now().UTC()
			all = append(all, op)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	if err := r.store.Put(ctx, all); err != nil {
		return nil, &StoreError{err}
	}
	r.mu.Lock()
	for _, op := range all {
		r.known[op.ID] = op
		delete(r.missing, op.ID)
	}
	clear(r.texts) // a text that matched nothing may match now
	r.mu.Unlock()
	return all, nil
}

// List returns every registered operation, by name.
func (r *Registry) List(ctx context.Context) ([]*Operation, error) {
	ops, err := r.store.List(ctx)
	if err != nil {
		return nil, &StoreError{err}
	}
	slices.SortFunc(ops, func(a, b *Operation) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	return ops, nil
}

// Affected returns the registered operations that select a field
// ("Type.field") reached says yes to, each with those fields.
func (r *Registry) Affected(ctx context.Context, reached func(field string) bool) ([]Affected, error) {
	ops, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Affected
	for _, op := range ops {
		var hit []string
		for _, f := range op.Fields {
			if reached(f) {
				hit = append(hit, f)
			}
		}
		if len(hit) > 0 {
			out = append(out, Affected{ID: op.ID, Name: op.Name, Fields: hit})
		}
	}
	return out, nil
}

// Affected is a registered operation a change reaches, and through which
// of its fields.
type Affected struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
}

func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// Info is what a request ran: its registered operation's id and name, if
// it was one, and how the document came.
type Info struct {
	ID, Name string
	// Kind is registered (by id, or a text that is one), apq (a cached
	// free-form text), free (free-form, from an open client) or
	// unregistered (free-form, from a log-unknown client).
	Kind string
}

const infoKey = "kommungraf.operation"

// SetInfo records what the request's operation was in its operation
// context (gqlgen's Stats, which a client cannot write).
func SetInfo(ctx context.Context, info *Info) {
	graphql.GetOperationContext(ctx).Stats.SetExtension(infoKey, info)
}

// InfoFrom returns what the request's operation was; nil when trusted
// operations did not decide (they are off).
func InfoFrom(ctx context.Context) *Info {
	if !graphql.HasOperationContext(ctx) {
		return nil
	}
	info, _ := graphql.GetOperationContext(ctx).Stats.GetExtension(infoKey).(*Info)
	return info
}

// DemoFile is the demo's registered operations (demo.graphql), which seed
// its registry.
//
//go:embed demo.graphql
var DemoFile string

// StoreError is a failure of the registry's store, not of a document:
// its text is for the log.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return "operations store: " + e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }
