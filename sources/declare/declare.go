// Package declare reads the source declarations (schema/<system>.yaml): one
// file per upstream system, naming its owner, connector, config defaults,
// readiness probe and resources (the call, the batch form, the record
// mapping, the data subjects, the cache policy). Loaders, cache stores,
// config defaults, readiness checks, metrics labels, resolver bodies and
// the data-subject hook are derived from them.
//
// Load is the one check: `go generate` (graph/internal/generate) and the
// gateway's start both call it, so a declaration that does not fit the
// schema fails both with the same located list of every problem.
package declare

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"gopkg.in/yaml.v3"
)

// File is one declaration file as read: its name, relative to the
// repository root (schema/<system>.yaml), and its content.
type File struct {
	Name string
	Data []byte
}

// Pos is a place in a declaration or schema file.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Problem is one thing wrong with a declaration, where it is.
type Problem struct {
	Pos Pos
	Msg string
}

func (p Problem) String() string { return p.Pos.String() + ": " + p.Msg }

// Problems are every problem found, sorted by place. Its Error lists them
// one a line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  " + p.String()
	}
	return fmt.Sprintf("%d problem(s) in the source declarations:\n%s", len(ps), strings.Join(lines, "\n"))
}

func (ps *Problems) add(pos Pos, format string, args ...any) {
	*ps = append(*ps, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// Err is nil for no problems, else the problems sorted by place.
func (ps Problems) Err() error { return ps.err() }

func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Pos.File != ps[j].Pos.File {
			return ps[i].Pos.File < ps[j].Pos.File
		}
		return ps[i].Pos.Line < ps[j].Pos.Line
	})
	return ps
}

// Connector kinds.
const (
	ConnectorHTTP = "http"
	ConnectorSOAP = "soap"
	ConnectorSQL  = "sql"
)

// Set is every declared system, by name.
type Set struct {
	Systems []*System
	byName  map[string]*Resource
	// others are the files given beside the declarations (a SOAP system's
	// WSDL), by name from the repository root.
	others map[string][]byte
}

// Resource returns a declared resource by its full name (system.resource).
func (s *Set) Resource(name string) *Resource {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// System returns a declared system by name, or nil.
func (s *Set) System(name string) *System {
	if s == nil {
		return nil
	}
	for _, sys := range s.Systems {
		if sys.Name == name {
			return sys
		}
	}
	return nil
}

// System is one declared upstream system.
type System struct {
	// Name is the system's name, [a-z][a-z0-9]*: the config key
	// sources.<name>, the metrics' source label, the cache's namespace.
	Name  string
	Title string
	// Owner is the information owner: @owner of every type it feeds.
	Owner string
	// Availability is what the system's owner promises, such as
	// "99.5 %" (optional): the integration catalog sets it against the
	// share of upstream calls that answered.
	Availability string
	// Connector is http, soap or sql.
	Connector string
	// Defaults are the defaults of the config's sources.<name>.
	Defaults Defaults
	// Builtin says the system's client is Go code (builtin: true): the
	// gateway opens it by the system's name, and it fails to start when it
	// has no client of that name. Its declared resources run on that
	// client, its configuration (a typed sources.<name>) and readiness
	// check; its resources with a builtin part are the Go loaders'.
	Builtin bool
	// Probe is the readiness check: for http (required) and soap
	// (default ?wsdl; a built-in soap system's default is its base URL) a
	// GET path relative to the base URL, any status below 500 being ready;
	// an sql system has none: its database's ping is.
	Probe string
	// Cache is the system's record cache policy, the default of its
	// resources and of the config's cache.sources.<name> (CacheDeclared).
	Cache         Cache
	CacheDeclared bool
	Resources     []*Resource
	Pos           Pos
}

// Defaults are a system's config defaults; the config overrides them, and
// zero leaves the upstream stack's own default. For an sql system with its
// own database, Timeout is the query timeout and MaxConcurrent the pool's
// size; it has no MaxBodyBytes or Retries.
type Defaults struct {
	Timeout       time.Duration
	MaxConcurrent int
	MaxBodyBytes  int64
	Retries       int
	// CostBudget is the system's default cost budget per query
	// (cost.budgets.<name>); 0 leaves it unbudgeted.
	CostBudget int
}

// Apply fills the settings the configuration leaves zero with the
// declared defaults.
func (d Defaults) Apply(timeout *time.Duration, maxConcurrent *int, maxBodyBytes *int64, retries *int) {
	if *timeout == 0 {
		*timeout = d.Timeout
	}
	if *maxConcurrent == 0 {
		*maxConcurrent = d.MaxConcurrent
	}
	if *maxBodyBytes == 0 {
		*maxBodyBytes = d.MaxBodyBytes
	}
	if *retries == 0 {
		*retries = d.Retries
	}
}

// Resource is one upstream operation that answers records by key.
type Resource struct {
	System *System
	// Name is the resource's name within its system.
	Name string
	// Type is the schema type of its records.
	Type string
	// By is the record field (schema name) that holds the key; required
	// for the batch form, whose answer mixes the keys' records.
	By string
	// List says a key has many records; otherwise at most one.
	List bool
	// HTTP is the call, for the http connector.
	HTTP *HTTP
	// SOAP and SQL hold those connectors' parts as written, for their
	// connectors to read.
	SOAP, SQL *yaml.Node
	// Fields maps schema field names to paths in the upstream record, in
	// the file's order.
	Fields []FieldMap
	// Subjects say how a record names its data subjects; nil when the
	// declaration has none (a type with personal data then fails the
	// check), empty when it names no person.
	Subjects []Subject
	// Cache is the record cache's policy; a zero TTL caches nothing.
	// CacheDeclared says the declaration gives it: a resource of a built-in
	// system without one has its system's configured policy
	// (cache.sources.<system>).
	Cache         Cache
	CacheDeclared bool
	// Level3 says the records may hold level-3 data: sealed in Redis.
	Level3 bool
	// Builtin is the call form of a resource a Go loader serves
	// (sources/loaders) in a built-in system: its identity (key, batch
	// form, most keys per call, cache policy, sealing, data subjects) is
	// declared here, its call and mapping are Go.
	Builtin *BuiltinCall
	// SubjectsFromModel says the records' Go model names their data
	// subjects (subjects: model, a model.DataSubjects in sources/model);
	// only a builtin resource may say so.
	SubjectsFromModel bool
	Pos               Pos
	// fieldsPos and subjectsPos locate those parts for the schema check.
	fieldsPos, subjectsPos, typePos, byPos, listPos Pos
	// node is the resource's mapping as written, for KeyPos and DecodePart.
	node *yaml.Node
	// argTypes are the schema types of the arguments and parent fields its
	// call uses, by ArgRef.Key, as Check found them (ArgKind).
	argTypes map[string]string
}

// FullName is system.resource, the name fields bind to with @resource.
func (r *Resource) FullName() string { return r.System.Name + "." + r.Name }

// Paging is the resource's paging when it is a listing, else nil.
func (r *Resource) Paging() *Page {
	if r == nil || r.HTTP == nil {
		return nil
	}
	return r.HTTP.Page
}

// Field returns the mapping of a schema field, or nil.
func (r *Resource) Field(name string) *FieldMap { return fieldOf(r.Fields, name) }

// FieldMap maps one schema field to a path in the upstream record.
type FieldMap struct {
	// Name is the schema field's name.
	Name string
	// Path is the dotted path in the upstream record, split; relative to
	// the enclosing nested part's object when the field is in one. Nil for
	// a nested part without a path: its fields are read from the
	// enclosing record itself.
	Path []string
	// Fields are a nested part's fields (name: { path: ..., fields:
	// {...} }): the field is an object, or a list of objects when its path
	// leads to a list, of a type of the schema, mapped field by field as
	// the record is. Nil for a scalar or enum field.
	Fields []FieldMap
	// Nested says the field is mapped with a nested part.
	Nested bool
	Pos    Pos
}

// Field returns the nested part's mapping of a field, or nil.
func (f *FieldMap) Field(name string) *FieldMap { return fieldOf(f.Fields, name) }

func fieldOf(fields []FieldMap, name string) *FieldMap {
	for i := range fields {
		if fields[i].Name == name {
			return &fields[i]
		}
	}
	return nil
}

// MaxNesting is the deepest a declaration's nested parts go: fields
// within fields within ... four levels below the record.
const MaxNesting = 4

// Subject is one data subject a record names: exactly one of the two is
// set, each the schema name of a field of the record.
type Subject struct {
	PartyID        string
	PersonalNumber string
	Pos            Pos
}

// Field is the schema field that holds the subject's identifier.
func (s Subject) Field() string { return s.PartyID + s.PersonalNumber }

// Cache is a resource's cache policy.
type Cache struct {
	TTL, NegativeTTL, StaleIfError time.Duration
}

// HTTP is a resource's HTTP call.
type HTTP struct {
	// Batch is the batch form: {keys} in its query is the keys, each
	// query-escaped, comma-joined; in a POST's body, a JSON array.
	Batch *Call
	// One is the form of one key per call: {key} is the key, path-escaped
	// (or a JSON string in a POST's body).
	One *Call
	// Records is the dotted path of the record array in the body; empty:
	// the body is the array (list) or the record (one form).
	Records []string
	// Format is json or xml.
	Format string
	// Page makes the resource a listing: the one form's call answers a
	// key's records a page at a time (Page), and a field bound to it is a
	// connection with first and after. Nil for a resource answered whole.
	Page *Page
}

// Pagination styles of a listing resource.
const (
	// PageLimitPage asks for pages by number: ?limit=<size>&page=<n>.
	PageLimitPage = "limit+page"
	// PageLimitOffset asks by record offset: ?limit=<size>&offset=<n>.
	PageLimitOffset = "limit+offset"
	// PageLinks follows the answer's links with rel "next" (OGC API
	// Features), from the first page (?limit=<size>).
	PageLinks = "links"
)

// Bounds of a listing resource's paging.
const (
	// MaxUpstreamPageSize is the largest size a declaration may give.
	MaxUpstreamPageSize = 1000
	// MaxUpstreamPages is the largest maxPages a declaration may give.
	MaxUpstreamPages = 50
)

// Page is how a listing resource's upstream pages its answers. The gateway
// asks in pages of Size records, whatever page the client asks for: a
// client's page (first, after) is the upstream pages it overlaps, at most
// MaxPages calls.
type Page struct {
	// Style is PageLimitPage, PageLimitOffset or PageLinks.
	Style string
	// Limit, Number and Offset are the query parameters' names: the page
	// size (default "limit"), the page number (limit+page, default "page")
	// and the offset (limit+offset, default "offset").
	Limit, Number, Offset string
	// First is the number of the first page (limit+page; default 1).
	First int
	// Size is the records per upstream page (default 100).
	Size int
	// MaxPages is the most upstream calls one client page makes (default
	// 10). With links, every page is followed from the first, so only the
	// first MaxPages*Size records can be reached.
	MaxPages int
	// Total is the path of the number of records on all pages in the body;
	// nil when the upstream does not say (totalCount is then null).
	Total []string
	// Links is the path of the links array (links style; default "links").
	Links []string
	Pos   Pos
}

// Calls is the most upstream calls a client page of first records makes.
func (p *Page) Calls(first int) int {
	if p.Style == PageLinks || first < 1 {
		return p.MaxPages
	}
	return min(p.MaxPages, (first+p.Size-1)/p.Size+1)
}

// Reach is how many records from the start a client may page to: all of
// them by number or offset, MaxPages*Size by links (0: no bound).
func (p *Page) Reach() int {
	if p.Style == PageLinks {
		return p.MaxPages * p.Size
	}
	return 0
}

// Call is one HTTP call template.
type Call struct {
	// Get is the path and query, relative to the system's base URL.
	Get string
	// Post is the path and query of a POST instead of a GET (exactly one
	// of Get and Post); its JSON body is Body (body.go).
	Post string
	Body *BodyNode
	// Idempotent says a POST only reads: it is retried after a transient
	// failure as a GET is. A POST without it is tried once.
	Idempotent bool
	// MaxKeys is the most keys one batch call may carry.
	MaxKeys int
	Pos     Pos
}

// Template is the call's path and query: the GET's or the POST's.
func (c *Call) Template() string {
	if c.Post != "" {
		return c.Post
	}
	return c.Get
}

// BuiltinCall is a Go loader's call form: batch (many keys per call, at
// most MaxKeys), one (a call per key, fanned out under the system's
// concurrency bound) or page (a window of a listing per key).
type BuiltinCall struct {
	Form    string
	MaxKeys int
	Pos     Pos
}

// Call forms of a builtin resource.
const (
	FormBatch = "batch"
	FormOne   = "one"
	FormPage  = "page"
)

// Builtin is a hand-written loader a declared field may bind to by name,
// such as folkbokforing.personByParty.
type Builtin struct {
	Name string
	// Type is the schema type of its values.
	Type string
	List bool
}

var (
	nameRE  = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	resRE   = regexp.MustCompile(`^[a-z][A-Za-z0-9]*(-[a-z0-9]+)*$`)
	fieldRE = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]*$`)
	pathRE  = regexp.MustCompile(`^[^.\s]+(\.[^.\s]+)*$`)
)

// IsDeclaration says whether a file is a declaration (*.yaml) rather than
// a file next to one, such as a WSDL, which a connector reads.
func IsDeclaration(name string) bool {
	ext := path.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

// Parse reads declaration files. Every problem of every file is reported,
// each with its file and line; the schema is not consulted (Check).
func Parse(files []File) (*Set, error) {
	set, ps := parse(files)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return set, nil
}

// parse reads what it can of every file, and its problems.
func parse(files []File) (*Set, Problems) {
	set := &Set{byName: map[string]*Resource{}}
	var ps Problems
	seen := map[string]Pos{}
	for _, f := range files {
		if !IsDeclaration(f.Name) {
			if set.others == nil {
				set.others = map[string][]byte{}
			}
			set.others[path.Clean(f.Name)] = f.Data
			continue
		}
		sys := parseFile(f, &ps)
		if sys == nil {
			continue
		}
		if prev, dup := seen[sys.Name]; dup {
			ps.add(sys.Pos, "system %q is declared twice (also at %s)", sys.Name, prev)
			continue
		}
		seen[sys.Name] = sys.Pos
		set.Systems = append(set.Systems, sys)
		for _, r := range sys.Resources {
			set.byName[r.FullName()] = r
		}
	}
	sort.Slice(set.Systems, func(i, j int) bool { return set.Systems[i].Name < set.Systems[j].Name })
	return set, ps
}

// mapping reads one YAML mapping, noting which keys were read so that the
// others can be reported as unknown.
type mapping struct {
	file string
	node *yaml.Node
	ps   *Problems
	what string
	read map[string]bool
}

func newMapping(file string, n *yaml.Node, ps *Problems, what string) *mapping {
	if n.Kind != yaml.MappingNode {
		ps.add(Pos{file, n.Line}, "%s: want a mapping", what)
		return nil
	}
	return &mapping{file: file, node: n, ps: ps, what: what, read: map[string]bool{}}
}

func (m *mapping) pos() Pos { return Pos{m.file, m.node.Line} }

// get returns the value of key, or nil.
func (m *mapping) get(key string) *yaml.Node {
	m.read[key] = true
	for i := 0; i+1 < len(m.node.Content); i += 2 {
		if m.node.Content[i].Value == key {
			return m.node.Content[i+1]
		}
	}
	return nil
}

// keyPos is the place of key, or of the mapping when it is absent.
func (m *mapping) keyPos(key string) Pos {
	for i := 0; i+1 < len(m.node.Content); i += 2 {
		if m.node.Content[i].Value == key {
			return Pos{m.file, m.node.Content[i].Line}
		}
	}
	return m.pos()
}

// unknown reports every key that was not read.
func (m *mapping) unknown(known ...string) {
	for i := 0; i+1 < len(m.node.Content); i += 2 {
		k := m.node.Content[i]
		if !m.read[k.Value] {
			hint := ""
			if len(known) > 0 {
				hint = " (want " + strings.Join(known, ", ") + ")"
			}
			m.ps.add(Pos{m.file, k.Line}, "%s: unknown key %q%s", m.what, k.Value, hint)
		}
	}
}

func (m *mapping) str(key string, required bool) string {
	n := m.get(key)
	if n == nil {
		if required {
			m.ps.add(m.pos(), "%s: %s is required", m.what, key)
		}
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		m.ps.add(Pos{m.file, n.Line}, "%s.%s: want a string", m.what, key)
		return ""
	}
	return strings.TrimSpace(n.Value)
}

func (m *mapping) integer(key string, min int) int {
	n := m.get(key)
	if n == nil {
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < min {
		m.ps.add(Pos{m.file, n.Line}, "%s.%s: want a whole number of at least %d, not %q", m.what, key, min, n.Value)
		return 0
	}
	return v
}

func (m *mapping) boolean(key string, required bool) bool {
	n := m.get(key)
	if n == nil {
		if required {
			m.ps.add(m.pos(), "%s: %s is required (true or false)", m.what, key)
		}
		return false
	}
	switch n.Value {
	case "true":
		return true
	case "false":
		return false
	}
	m.ps.add(Pos{m.file, n.Line}, "%s.%s: want true or false, not %q", m.what, key, n.Value)
	return false
}

func (m *mapping) duration(key string) time.Duration {
	n := m.get(key)
	if n == nil {
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d < 0 {
		m.ps.add(Pos{m.file, n.Line}, "%s.%s: want a duration such as 10m or 1h, not %q", m.what, key, n.Value)
		return 0
	}
	return d
}

func (m *mapping) sub(key string, required bool) *mapping {
	n := m.get(key)
	if n == nil {
		if required {
			m.ps.add(m.pos(), "%s: %s is required", m.what, key)
		}
		return nil
	}
	return newMapping(m.file, n, m.ps, m.what+"."+key)
}

func parseFile(f File, ps *Problems) *System {
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Data, &doc); err != nil {
		line := 0
		if m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		ps.add(Pos{f.Name, line}, "not YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		ps.add(Pos{f.Name, 1}, "empty declaration: want system, owner, connector and resources")
		return nil
	}
	m := newMapping(f.Name, doc.Content[0], ps, "declaration")
	if m == nil {
		return nil
	}
	sys := &System{Pos: m.keyPos("system")}
	sys.Name = m.str("system", true)
	m.what = "system " + sys.Name
	if sys.Name != "" {
		switch {
		case !nameRE.MatchString(sys.Name):
			ps.add(sys.Pos, "system name %q: want lower-case letters and digits, starting with a letter", sys.Name)
		default:
			if base := strings.TrimSuffix(filepath.Base(f.Name), filepath.Ext(f.Name)); base != sys.Name {
				ps.add(sys.Pos, "system %q is declared in %s: name the file %s.yaml", sys.Name, filepath.Base(f.Name), sys.Name)
			}
		}
	}
	sys.Title = m.str("title", false)
	sys.Owner = m.str("owner", true)
	sys.Availability = m.str("availability", false)
	sys.Connector = m.str("connector", true)
	switch sys.Connector {
	case "", ConnectorHTTP, ConnectorSOAP, ConnectorSQL:
	default:
		ps.add(m.keyPos("connector"), "connector %q: want http, soap or sql", sys.Connector)
	}
	sys.Builtin = m.boolean("builtin", false)
	if d := m.sub("defaults", false); d != nil {
		if sys.Connector == ConnectorSQL {
			// A database has a query timeout and a pool, no body or retries.
			sys.Defaults = Defaults{Timeout: d.duration("timeout"), MaxConcurrent: d.integer("maxConcurrent", 1)}
			d.unknown("timeout", "maxConcurrent")
		} else {
			sys.Defaults = Defaults{
				Timeout: d.duration("timeout"), MaxConcurrent: d.integer("maxConcurrent", 1),
				MaxBodyBytes: int64(d.integer("maxBodyBytes", 1024)), Retries: d.integer("retries", -1),
				CostBudget: d.integer("costBudget", 1),
			}
			d.unknown("timeout", "maxConcurrent", "maxBodyBytes", "retries", "costBudget")
		}
	}
	sys.Probe = m.str("probe", sys.Connector == ConnectorHTTP)
	switch {
	case sys.Probe == "":
	case sys.Connector == ConnectorSQL:
		ps.add(m.keyPos("probe"), "system %s: probe: an sql system is ready when its database answers; remove the probe", sys.Name)
	default:
		checkRelative(ps, m.keyPos("probe"), "probe", sys.Probe)
	}
	if c := m.sub("cache", false); c != nil {
		sys.CacheDeclared = true
		sys.Cache = Cache{TTL: c.duration("ttl"), NegativeTTL: c.duration("negativeTTL"), StaleIfError: c.duration("staleIfError")}
		c.unknown("ttl", "negativeTTL", "staleIfError")
	}
	res := m.get("resources")
	switch {
	case res == nil:
		ps.add(m.pos(), "system %s: resources is required", sys.Name)
	case res.Kind != yaml.MappingNode || len(res.Content) == 0:
		ps.add(Pos{f.Name, res.Line}, "system %s: resources: want a mapping of at least one resource", sys.Name)
	default:
		for i := 0; i+1 < len(res.Content); i += 2 {
			if r := parseResource(f.Name, sys, res.Content[i], res.Content[i+1], ps); r != nil {
				if !r.CacheDeclared && sys.CacheDeclared && !sys.Builtin {
					// A built-in system's resources keep its configured
					// policy (cache.sources.<name>), whose default this is.
					r.Cache = sys.Cache
				}
				sys.Resources = append(sys.Resources, r)
			}
		}
	}
	m.unknown("system", "title", "owner", "availability", "connector", "builtin", "defaults", "probe", "cache", "resources")
	return sys
}

func parseResource(file string, sys *System, key, val *yaml.Node, ps *Problems) *Resource {
	r := &Resource{System: sys, Name: key.Value, Pos: Pos{file, key.Line}, node: val}
	if !resRE.MatchString(r.Name) {
		ps.add(r.Pos, "resource name %q: want letters and digits, starting with a lower-case letter", r.Name)
	}
	m := newMapping(file, val, ps, "resource "+sys.Name+"."+r.Name)
	if m == nil {
		return nil
	}
	r.Type, r.typePos = m.str("type", true), m.keyPos("type")
	r.By, r.byPos = m.str("by", false), m.keyPos("by")
	r.List, r.listPos = m.boolean("list", true), m.keyPos("list")
	r.Level3 = m.boolean("level3", false)
	kinds := 0
	for _, k := range []string{ConnectorHTTP, ConnectorSOAP, ConnectorSQL} {
		n := m.get(k)
		if n == nil {
			continue
		}
		kinds++
		if k != sys.Connector && sys.Connector != "" {
			ps.add(Pos{file, n.Line}, "resource %s.%s: a %s part in a system whose connector is %s", sys.Name, r.Name, k, sys.Connector)
			continue
		}
		switch k {
		case ConnectorHTTP:
			r.HTTP = parseHTTP(file, m.sub(k, true), ps)
		case ConnectorSOAP:
			r.SOAP = n
		case ConnectorSQL:
			r.SQL = n
		}
	}
	if b := m.sub("builtin", false); b != nil {
		kinds++
		r.Builtin = &BuiltinCall{Form: b.str("form", true), MaxKeys: b.integer("maxKeys", 1), Pos: b.pos()}
		switch r.Builtin.Form {
		case "", FormBatch, FormOne, FormPage:
		default:
			ps.add(b.keyPos("form"), "%s.form %q: want batch, one or page", b.what, r.Builtin.Form)
		}
		if r.Builtin.MaxKeys > 0 && r.Builtin.Form != FormBatch {
			ps.add(b.keyPos("maxKeys"), "%s.maxKeys: only the batch form carries many keys per call", b.what)
		}
		if !sys.Builtin {
			ps.add(b.pos(), "resource %s.%s: a builtin part is a Go loader's; system %s is not builtin: true (declare its call: http, soap or sql)", sys.Name, r.Name, sys.Name)
		}
		if kinds > 1 {
			ps.add(b.pos(), "resource %s.%s: a builtin resource has no %s part (its call is Go)", sys.Name, r.Name, sys.Connector)
		}
		b.unknown("form", "maxKeys")
	}
	if kinds == 0 && sys.Connector != "" {
		ps.add(m.pos(), "resource %s.%s: its %s part (or builtin, for a Go loader of a built-in system) is required", sys.Name, r.Name, sys.Connector)
	}
	if r.Paging() != nil && !r.List {
		ps.add(m.keyPos("list"), "resource %s.%s: a listing (http.page) answers many records per key: list: true", sys.Name, r.Name)
	}
	if r.HTTP != nil && r.HTTP.Batch != nil && r.By == "" {
		ps.add(m.pos(), "resource %s.%s: by is required with the batch form (which record field holds the key?)", sys.Name, r.Name)
	}
	r.fieldsPos = m.keyPos("fields")
	if fm := m.sub("fields", r.Builtin == nil); fm != nil {
		r.Fields = parseFieldMaps(fm, 1)
	}
	r.subjectsPos = r.Pos
	if m.get("subjects") != nil {
		r.subjectsPos = m.keyPos("subjects")
	}
	if n := m.get("subjects"); n != nil && n.Kind == yaml.ScalarNode && n.Value == "model" {
		// The Go model names them (model.DataSubjects), which the
		// gateway's start checks.
		r.SubjectsFromModel = true
		if r.Builtin == nil {
			ps.add(Pos{file, n.Line}, "resource %s.%s: subjects: model is for a Go loader's records (builtin); name the fields that identify the persons, such as [{partyId: invoicePartyId}]", sys.Name, r.Name)
		}
	} else if n != nil {
		r.Subjects = []Subject{}
		if n.Kind != yaml.SequenceNode {
			ps.add(Pos{file, n.Line}, "resource %s.%s: subjects: want a list such as [{partyId: invoicePartyId}], or [] for records that name no person", sys.Name, r.Name)
		}
		for _, item := range n.Content {
			sm := newMapping(file, item, ps, "resource "+sys.Name+"."+r.Name+" subject")
			if sm == nil {
				continue
			}
			s := Subject{PartyID: sm.str("partyId", false), PersonalNumber: sm.str("personalNumber", false), Pos: sm.pos()}
			sm.unknown("partyId", "personalNumber")
			if (s.PartyID == "") == (s.PersonalNumber == "") {
				ps.add(s.Pos, "%s: want exactly one of partyId or personalNumber, naming a mapped field", sm.what)
				continue
			}
			r.Subjects = append(r.Subjects, s)
		}
	}
	if c := m.sub("cache", false); c != nil {
		r.CacheDeclared = true
		r.Cache = Cache{TTL: c.duration("ttl"), NegativeTTL: c.duration("negativeTTL"), StaleIfError: c.duration("staleIfError")}
		c.unknown("ttl", "negativeTTL", "staleIfError")
	}
	m.unknown("type", "by", "list", "http", "soap", "sql", "builtin", "fields", "subjects", "cache", "level3")
	return r
}

// parseFieldMaps reads a fields mapping: each schema field to a dotted
// path (name: path) or to a nested part (name: { path: ..., fields: {...} }),
// whose fields are read the same way, depth levels below the record.
func parseFieldMaps(fm *mapping, depth int) []FieldMap {
	ps, file := fm.ps, fm.file
	if len(fm.node.Content) == 0 {
		ps.add(fm.pos(), "%s: map at least one schema field to a path in the record", fm.what)
	}
	var out []FieldMap
	for i := 0; i+1 < len(fm.node.Content); i += 2 {
		k, v := fm.node.Content[i], fm.node.Content[i+1]
		fm.read[k.Value] = true
		pos := Pos{file, k.Line}
		if !fieldRE.MatchString(k.Value) {
			ps.add(pos, "%s: %q is not a schema field name", fm.what, k.Value)
			continue
		}
		if fieldOf(out, k.Value) != nil {
			ps.add(pos, "%s: %s is mapped twice", fm.what, k.Value)
			continue
		}
		if v.Kind == yaml.MappingNode {
			// A nested part: an object (or a list of objects) of the schema.
			if depth >= MaxNesting {
				ps.add(pos, "%s.%s: nested deeper than %d levels", fm.what, k.Value, MaxNesting)
				continue
			}
			nm := newMapping(file, v, ps, fm.what+"."+k.Value)
			f := FieldMap{Name: k.Value, Nested: true, Pos: pos}
			if p := nm.str("path", false); p != "" {
				if !pathRE.MatchString(p) {
					ps.add(nm.keyPos("path"), "%s.path: want a dotted path in the upstream record, such as invoice.lines", nm.what)
				}
				f.Path = strings.Split(p, ".")
			}
			if sub := nm.sub("fields", true); sub != nil {
				f.Fields = parseFieldMaps(sub, depth+1)
			}
			nm.unknown("path", "fields")
			out = append(out, f)
			continue
		}
		if v.Kind != yaml.ScalarNode || !pathRE.MatchString(v.Value) {
			ps.add(pos, "%s.%s: want a dotted path in the upstream record, such as invoice.partyId, or a nested part { path: ..., fields: {...} }", fm.what, k.Value)
			continue
		}
		out = append(out, FieldMap{Name: k.Value, Path: strings.Split(v.Value, "."), Pos: pos})
	}
	return out
}

func parseHTTP(file string, m *mapping, ps *Problems) *HTTP {
	if m == nil {
		return nil
	}
	h := &HTTP{Format: m.str("format", false)}
	switch h.Format {
	case "":
		h.Format = "json"
	case "json", "xml":
	default:
		ps.add(m.keyPos("format"), "%s.format %q: want json or xml", m.what, h.Format)
	}
	if rec := m.str("records", false); rec != "" {
		if !pathRE.MatchString(rec) {
			ps.add(m.keyPos("records"), "%s.records: want a dotted path such as data.items", m.what)
		}
		h.Records = strings.Split(rec, ".")
	}
	if b := m.sub("batch", false); b != nil {
		h.Batch = parseCall(b, h.Format, ps)
		h.Batch.MaxKeys = b.integer("maxKeys", 1)
		if h.Batch.MaxKeys == 0 {
			h.Batch.MaxKeys = 100
		}
		if h.Batch.Post == "" {
			checkTemplate(ps, b.keyPos("get"), b.what+".get", h.Batch.Get, "{keys}", "{key}")
		} else {
			checkPost(ps, b, h.Batch, "{keys}", "{key}")
		}
		b.unknown("get", "post", "body", "idempotent", "maxKeys")
	}
	h.Page = parsePage(m.sub("page", false), ps)
	if o := m.sub("one", false); o != nil {
		h.One = parseCall(o, h.Format, ps)
		switch {
		case h.One.Post != "":
			checkPost(ps, o, h.One, "{key}", "{keys}")
			if h.Page != nil {
				ps.add(o.keyPos("post"), "%s.post: a listing's pages are asked with get", o.what)
			}
		case h.Page != nil:
			// A listing's key may be a filter in the query (items?owner={key}).
			checkListTemplate(ps, o.keyPos("get"), o.what+".get", h.One.Get, h.Page)
		default:
			checkTemplate(ps, o.keyPos("get"), o.what+".get", h.One.Get, "{key}", "{keys}")
		}
		o.unknown("get", "post", "body", "idempotent")
	}
	if (h.Batch == nil) == (h.One == nil) {
		ps.add(m.pos(), "%s: want exactly one of batch (many keys per call) or one (a call per key)", m.what)
	}
	if h.Page != nil && h.Batch != nil {
		ps.add(h.Page.Pos, "%s.page: a listing is asked one key at a time: use one, not batch", m.what)
	}
	m.unknown("batch", "one", "records", "format", "page")
	return h
}

// parsePage reads a listing's page part.
func parsePage(m *mapping, ps *Problems) *Page {
	if m == nil {
		return nil
	}
	p := &Page{Style: m.str("style", true), Pos: m.pos()}
	p.Limit, p.Number, p.Offset = m.str("limit", false), m.str("page", false), m.str("offset", false)
	p.First = m.integer("first", 0)
	p.Size, p.MaxPages = m.integer("size", 1), m.integer("maxPages", 1)
	total, links := m.str("total", false), m.str("links", false)
	if p.Limit == "" {
		p.Limit = "limit"
	}
	if p.Size == 0 {
		p.Size = 100
	}
	if p.MaxPages == 0 {
		p.MaxPages = 10
	}
	if p.Size > MaxUpstreamPageSize {
		ps.add(m.keyPos("size"), "%s.size: at most %d records per upstream page", m.what, MaxUpstreamPageSize)
	}
	if p.MaxPages > MaxUpstreamPages {
		ps.add(m.keyPos("maxPages"), "%s.maxPages: at most %d upstream calls per client page", m.what, MaxUpstreamPages)
	}
	only := func(key, style string) {
		if m.get(key) != nil && p.Style != style {
			ps.add(m.keyPos(key), "%s.%s: only the %s style has it", m.what, key, style)
		}
	}
	switch p.Style {
	case "":
	case PageLimitPage:
		if p.Number == "" {
			p.Number = "page"
		}
		if m.get("first") == nil {
			p.First = 1
		}
	case PageLimitOffset:
		if p.Offset == "" {
			p.Offset = "offset"
		}
	case PageLinks:
		if links == "" {
			links = "links"
		}
	default:
		ps.add(m.keyPos("style"), "%s.style %q: want limit+page, limit+offset or links", m.what, p.Style)
	}
	only("page", PageLimitPage)
	only("first", PageLimitPage)
	only("offset", PageLimitOffset)
	only("links", PageLinks)
	for _, q := range []struct{ key, v string }{{"limit", p.Limit}, {"page", p.Number}, {"offset", p.Offset}} {
		if q.v != "" && !queryNameRE.MatchString(q.v) {
			ps.add(m.keyPos(q.key), "%s.%s %q: want a query parameter's name (letters, digits, _ . -)", m.what, q.key, q.v)
		}
	}
	for _, x := range []struct {
		key, v string
		to     *[]string
	}{{"total", total, &p.Total}, {"links", links, &p.Links}} {
		if x.v == "" {
			continue
		}
		if !pathRE.MatchString(x.v) {
			ps.add(m.keyPos(x.key), "%s.%s: want a dotted path in the body such as _meta.totalRecords", m.what, x.key)
		}
		*x.to = strings.Split(x.v, ".")
	}
	m.unknown("style", "size", "maxPages", "limit", "page", "first", "offset", "total", "links")
	return p
}

var queryNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// checkListTemplate checks a listing's call template: {key} once, in the
// path or as a query value; the paging parameters are the gateway's.
func checkListTemplate(ps *Problems, pos Pos, what, tmpl string, p *Page) {
	if tmpl == "" {
		return
	}
	checkRelative(ps, pos, what, tmpl)
	bare := checkArgPlaces(ps, pos, what, tmpl)
	switch {
	case strings.Count(tmpl, "{key}") != 1:
		ps.add(pos, "%s %q: want {key} exactly once", what, tmpl)
	case strings.Count(bare, "{") != 1 || strings.Count(bare, "}") != 1:
		ps.add(pos, "%s %q: only {key}, {args.<name>} and {parent.<field>} may be in braces", what, tmpl)
	}
	_, query, _ := strings.Cut(tmpl, "?")
	if vals, err := url.ParseQuery(strings.ReplaceAll(query, "{key}", "k")); err == nil {
		for _, name := range []string{p.Limit, p.Number, p.Offset} {
			if name != "" && vals.Has(name) {
				ps.add(pos, "%s %q: %s is the paging's own parameter: leave it out", what, tmpl, name)
			}
		}
	}
}

// parseCall reads a call's method: get, or post with a body (and
// idempotent). A POST's body is sent as JSON, or as XML for a format: xml
// resource (checkXMLBody).
func parseCall(m *mapping, format string, ps *Problems) *Call {
	c := &Call{Pos: m.pos()}
	hasGet, hasPost := m.get("get") != nil, m.get("post") != nil
	switch {
	case hasGet && hasPost:
		ps.add(m.keyPos("post"), "%s: want one of get or post, not both", m.what)
	case !hasGet && !hasPost:
		ps.add(m.pos(), "%s: get (or post with a body) is required", m.what)
	}
	c.Get, c.Post = m.str("get", false), m.str("post", false)
	c.Idempotent = m.boolean("idempotent", false)
	body := m.get("body")
	if !hasPost {
		if body != nil {
			ps.add(m.keyPos("body"), "%s.body: a body is a POST's: write post: <path> instead of get", m.what)
		}
		if m.get("idempotent") != nil {
			ps.add(m.keyPos("idempotent"), "%s.idempotent: a GET is always idempotent; the key is a POST's", m.what)
		}
		return c
	}
	if body == nil || body.Kind == yaml.ScalarNode && body.Tag == "!!null" {
		ps.add(m.keyPos("post"), "%s: a POST needs its body (body: {ids: \"{keys}\"}, sent as JSON; a format: xml resource's body: {search: {id: \"{keys}\"}})", m.what)
		return c
	}
	c.Body = parseBody(ps, m.file, m.what+".body", body)
	if format == "xml" {
		checkXMLBody(ps, m.file, m.what+".body", body)
	}
	return c
}

// checkPost checks a POST's path template and body: the placeholder want
// exactly once in the two, {keys} in the body ({key} in the path, as a
// GET's, or in the body), other nowhere; arguments and parent fields where
// a GET takes them, or as whole values of the body.
func checkPost(ps *Problems, m *mapping, c *Call, want, other string) {
	pos, what, tmpl := m.keyPos("post"), m.what+".post", c.Post
	bare := checkArgPlaces(ps, pos, what, tmpl)
	checkRelative(ps, pos, what, tmpl)
	inBody := map[string]int{}
	for _, p := range c.Body.placeholders() {
		if p == KeyPlace || p == KeysPlace {
			inBody[p]++
		}
	}
	inTmpl := strings.Count(tmpl, want)
	path, _, _ := strings.Cut(tmpl, "?")
	switch {
	case strings.Contains(tmpl, other) || inBody[other] > 0:
		ps.add(pos, "%s %q: %s belongs to the other form", what, tmpl, other)
	case want == "{keys}" && inTmpl > 0:
		ps.add(pos, "%s %q: a POST's {keys} belongs in its body (propertyIds: \"{keys}\", a JSON array)", what, tmpl)
	case inTmpl+inBody[want] != 1:
		ps.add(pos, "%s %q: want %s exactly once, in the path or as a whole value of the body", what, tmpl, want)
	case inTmpl == 1 && !strings.Contains(path, want):
		ps.add(pos, "%s %q: {key} belongs in the path (items/{key}) or the body", what, tmpl)
	case strings.Count(bare, "{") != inTmpl || strings.Count(bare, "}") != inTmpl:
		ps.add(pos, "%s %q: only %s, {args.<name>} and {parent.<field>} may be in braces", what, tmpl, want)
	}
}

// checkTemplate checks a call template: relative to the base URL, the
// placeholder once, nothing else in braces but arguments ({args.<name>},
// args.go).
func checkTemplate(ps *Problems, pos Pos, what, tmpl, want, other string) {
	if tmpl == "" {
		return
	}
	bare := checkArgPlaces(ps, pos, what, tmpl)
	checkRelative(ps, pos, what, tmpl)
	switch n := strings.Count(tmpl, want); {
	case n != 1:
		ps.add(pos, "%s %q: want %s exactly once", what, tmpl, want)
	case strings.Contains(tmpl, other):
		ps.add(pos, "%s %q: %s belongs to the other form", what, tmpl, other)
	case strings.Count(bare, "{") != 1 || strings.Count(bare, "}") != 1:
		ps.add(pos, "%s %q: only %s, {args.<name>} and {parent.<field>} may be in braces", what, tmpl, want)
	}
	if want == "{keys}" {
		path, _, _ := strings.Cut(tmpl, "?")
		if strings.Contains(path, want) {
			ps.add(pos, "%s %q: {keys} belongs in the query (?ids={keys})", what, tmpl)
		}
	}
	if want == "{key}" {
		path, _, _ := strings.Cut(tmpl, "?")
		if !strings.Contains(path, want) {
			ps.add(pos, "%s %q: {key} belongs in the path (items/{key})", what, tmpl)
		}
	}
}

func checkRelative(ps *Problems, pos Pos, what, p string) {
	if strings.Contains(p, "://") || strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.ContainsAny(p, " #\\") {
		ps.add(pos, "%s %q: want a path relative to the system's URL (api/v1/...), without .., # or spaces", what, p)
	}
}

// Extra is a further check of declarations that Load could read: the
// connectors' check of their parts (sources/connect.CheckParts), which
// this package does not know. Its problems join Load's.
type Extra func(*Set) Problems

// Load parses the declarations and checks them against the schema, and
// with every extra check: the one function behind `go generate` and the
// gateway's start. Every problem is reported: those of the files and those
// against the schema of whatever could be read.
func Load(files []File, schema *ast.Schema, builtins []Builtin, extra ...Extra) (*Set, error) {
	set, ps := parse(files)
	if err := Check(set, schema, builtins); err != nil {
		ps = append(ps, err.(Problems)...)
	}
	for _, x := range extra {
		ps = append(ps, x(set)...)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return set, nil
}

// Shape is a fingerprint of what the resource's records hold: the call,
// the mapping, the key, the subjects and the sealing, as written (places
// and the cache policy left out). The record cache puts it in every key,
// so a record cached before the declaration changed is never read as one
// of the new shape: it lacks the new fields, or names subjects another way.
func (r *Resource) Shape() string {
	type field = shapeField
	type call struct {
		Get     string
		Post    string    `json:",omitempty"`
		Body    *BodyNode `json:",omitempty"`
		MaxKeys int
	}
	s := struct {
		Type, By         string
		List, Level3     bool
		Fields, Subjects []field
		Batch, One       call
		Records          string
		Format           string
		Page             *Page
		SOAP, SQL        any
	}{Type: r.Type, By: r.By, List: r.List, Level3: r.Level3}
	s.Fields = shapeFields(r.Fields)
	for _, sub := range r.Subjects {
		s.Subjects = append(s.Subjects, field{Name: sub.PartyID, Path: sub.PersonalNumber})
	}
	if h := r.HTTP; h != nil {
		if h.Batch != nil {
			s.Batch = call{h.Batch.Get, h.Batch.Post, h.Batch.Body, h.Batch.MaxKeys}
		}
		if h.One != nil {
			s.One = call{h.One.Get, h.One.Post, h.One.Body, h.One.MaxKeys}
		}
		s.Records, s.Format = strings.Join(h.Records, "."), h.Format
		if h.Page != nil {
			p := *h.Page
			p.Pos = Pos{}
			s.Page = &p
		}
	}
	if r.SOAP != nil {
		_ = r.SOAP.Decode(&s.SOAP)
	}
	if r.SQL != nil {
		_ = r.SQL.Decode(&s.SQL)
	}
	b, err := json.Marshal(s)
	if err != nil {
		// A SOAP or SQL part with a key that is not a string: fmt prints
		// maps sorted by key, and nothing above is a pointer.
		b = fmt.Appendf(nil, "%#v", s)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// shapeField is a field mapping in Shape: a nested part's fields within
// it (written only when there are any, so that the shape of a declaration
// without nested parts is the one it had before they existed).
type shapeField struct {
	Name, Path string
	Nested     bool         `json:",omitempty"`
	Fields     []shapeField `json:",omitempty"`
}

func shapeFields(fields []FieldMap) []shapeField {
	var out []shapeField
	for _, f := range fields {
		out = append(out, shapeField{Name: f.Name, Path: strings.Join(f.Path, "."), Nested: f.Nested, Fields: shapeFields(f.Fields)})
	}
	return out
}
