// Package opendata serves the open REST APIs under /open/, by DIGG's REST
// API profile: each API is declared in a YAML file that security staff and
// the information owner review (apis/*.yaml in the binary, or
// openData.dir), as resources backed by persisted GraphQL operations whose
// every field is level 0 and allowed to the anonymous contract, or by
// declared aggregates whose small counts are suppressed. It also serves the
// list of APIs, each API's api-info and OpenAPI 3.1 document, and a
// DCAT-AP-SE description of them all for dataportal.se.
//
// The operations run through the gateway's GraphQL handler as the anonymous
// principal: the same executor, authorization, access log and cost bounds
// as /graphql, not a second data path. Aggregates are computed server-side
// from the sources (Dataset); they are the only way rows a level-0 caller
// may not read reach /open/, and only as counts of at least the declared
// threshold.
package opendata

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Declaration is one open API, as its file declares it.
type Declaration struct {
	// API is the API's name in its URL, /open/{api}/v{major}: lower-case
	// letters, digits and hyphens.
	API string `yaml:"api"`
	// Title and Description describe the API (Swedish, for dataportal.se).
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
	// Version is the API's semantic version; its major is in the URL.
	Version string `yaml:"version"`
	// Released is the date this version was released (YYYY-MM-DD).
	Released string `yaml:"released"`
	// Status is DIGG's apiStatus: active, beta, deprecated or retired.
	Status string `yaml:"status"`
	// Publisher is the organisation that publishes the API.
	Publisher string `yaml:"publisher"`
	// Owner is the information owner who answers for its content.
	Owner string `yaml:"owner"`
	// Contact is where users turn with questions.
	Contact Contact `yaml:"contact"`
	// Licence is the licence's URI, such as CC0 1.0's.
	Licence string `yaml:"licence"`
	// Keywords and Theme classify the API in the catalogue (Theme: an EU
	// data theme code such as EDUC, GOVE, ENVI, REGI, SOCI).
	Keywords []string `yaml:"keywords"`
	Theme    string   `yaml:"theme"`
	// Sources are the upstream systems the API reads; the shortest of
	// their cache TTLs is the responses' Cache-Control max-age.
	Sources []string `yaml:"sources"`
	// Operations names a .graphql file beside the declaration whose
	// operations are registered (trusted operations) at start; resources
	// may also name operations registered before.
	Operations string `yaml:"operations"`
	// Resources are the API's resources.
	Resources []*Resource `yaml:"resources"`

	// File is the declaration's file name; OperationsText the text of
	// Operations (set by Load).
	File           string `yaml:"-"`
	OperationsText string `yaml:"-"`
	major          int
}

// Contact is an API's contact point.
type Contact struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	URL   string `yaml:"url"`
}

// Resource is one resource of an API: a list (/{resource}) and, for an
// operation-backed one, an item by id (/{resource}/{id}).
type Resource struct {
	// Name is the resource's path segment: plural, lower-case.
	Name string `yaml:"name"`
	// Description describes the resource.
	Description string `yaml:"description"`
	// List and Item are backed by persisted GraphQL operations.
	List *ListOp `yaml:"list"`
	Item *ItemOp `yaml:"item"`
	// Aggregate is a declared aggregate over a dataset instead (no item).
	Aggregate *Aggregate `yaml:"aggregate"`
}

// ListOp is a resource's list: a registered operation and the list in its
// result that the API pages over.
type ListOp struct {
	// Operation is the registered operation's name.
	Operation string `yaml:"operation"`
	// Path is the dotted path in the operation's data to the list: a Relay
	// connection (paged by the operation's $first and $after) or a list
	// field (paged here).
	Path string `yaml:"path"`
	// Parameters are the query parameters, each mapped to a variable of
	// the operation; its type is the variable's.
	Parameters []*Parameter `yaml:"parameters"`
}

// ItemOp is a resource's item by id.
type ItemOp struct {
	// Operation is the registered operation's name; Path the dotted path
	// in its data to the object (null: 404).
	Operation string `yaml:"operation"`
	Path      string `yaml:"path"`
	// ID is the {id} path parameter.
	ID *Parameter `yaml:"id"`
}

// Parameter maps a query or path parameter to an operation variable.
type Parameter struct {
	// Name is the parameter's name in the URL.
	Name string `yaml:"name"`
	// Variable is the operation's variable it sets.
	Variable string `yaml:"variable"`
	// Description says what it does (default: the schema's description of
	// the argument the variable is passed to).
	Description string `yaml:"description"`
	// Pattern, when set, is a regular expression a string value must match
	// as a whole.
	Pattern string `yaml:"pattern"`
	// Example is an example value, for the OpenAPI document and the tests.
	Example string `yaml:"example"`

	re *regexp.Regexp
}

// Aggregate is a declared aggregate: counts of a dataset's rows grouped by
// some of its dimensions, every cell under the suppression threshold left
// out.
type Aggregate struct {
	// Dataset names the rows (see Dataset): errands, placements.
	Dataset string `yaml:"dataset"`
	// By are the dimensions the rows are grouped by.
	By []string `yaml:"by"`
	// Suppress is required: an aggregate without it does not start.
	Suppress *Suppress `yaml:"suppress"`
}

// Suppress is an aggregate's small-count suppression.
type Suppress struct {
	// Below is the threshold: a cell counting fewer rows is never served
	// (default 5, at least MinThreshold).
	Below int `yaml:"below"`
}

// DefaultThreshold is the suppression threshold when a declaration says
// suppress: {} ; MinThreshold the lowest one a declaration may choose.
const (
	DefaultThreshold = 5
	MinThreshold     = 3
)

// DIGG's apiStatus values.
var statuses = []string{"active", "beta", "deprecated", "retired"}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	versionRE = regexp.MustCompile(`^([1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)
	// reserved are an API's own paths, which no resource may take.
	reserved = []string{"api-info", "openapi.json"}
)

// Major is the API's major version, in its URL.
func (d *Declaration) Major() int { return d.major }

// Base is the API's base path, /open/{api}/v{major}.
func (d *Declaration) Base() string { return fmt.Sprintf("/open/%s/v%d", d.API, d.major) }

//go:embed apis
var builtin embed.FS

// Builtin is the file system of the declarations built into the binary.
func Builtin() fs.FS {
	sub, err := fs.Sub(builtin, "apis")
	if err != nil {
		panic(err) // the embedded directory exists: a build problem, not a run-time one
	}
	return sub
}

// Dir is the file system of a declarations directory (openData.dir).
func Dir(dir string) (fs.FS, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("openData.dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("openData.dir: %s is not a directory", dir)
	}
	return os.DirFS(dir), nil
}

// Load reads every *.yaml declaration of fsys (and the .graphql files they
// name), rejecting unknown keys, and checks what can be checked without
// the schema. Every problem is reported at once, each with its file.
func Load(fsys fs.FS, where string) ([]*Declaration, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []*Declaration
	var problems []string
	seen := map[string]string{}
	for _, name := range names {
		file := path.Join(where, name)
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", file, err))
			continue
		}
		d := &Declaration{}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(d); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", file, err))
			continue
		}
		d.File = file
		ps := d.validate()
		if d.Operations != "" {
			text, err := fs.ReadFile(fsys, d.Operations)
			if err != nil {
				ps = append(ps, fmt.Sprintf("operations: %v", err))
			}
			d.OperationsText = string(text)
		}
		if prev, dup := seen[d.API]; dup && d.API != "" {
			ps = append(ps, fmt.Sprintf("api %q is declared in %s too", d.API, prev))
		}
		seen[d.API] = file
		for _, p := range ps {
			problems = append(problems, file+": "+p)
		}
		out = append(out, d)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no open API declaration (*.yaml)", where)
	}
	return out, nil
}

// validate checks the declaration on its own.
func (d *Declaration) validate() []string {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if !nameRE.MatchString(d.API) {
		bad("api %q: want lower-case letters, digits and hyphens", d.API)
	}
	for key, v := range map[string]string{"title": d.Title, "description": d.Description, "publisher": d.Publisher,
		"owner": d.Owner, "licence": d.Licence, "contact.email": d.Contact.Email} {
		if strings.TrimSpace(v) == "" {
			bad("%s is required", key)
		}
	}
	if m := versionRE.FindStringSubmatch(d.Version); m == nil {
		bad("version %q: want MAJOR.MINOR.PATCH", d.Version)
	} else {
		fmt.Sscan(m[1], &d.major)
	}
	if _, err := time.Parse(time.DateOnly, d.Released); err != nil {
		bad("released %q: want YYYY-MM-DD", d.Released)
	}
	if !slices.Contains(statuses, d.Status) {
		bad("status %q: want one of %s", d.Status, strings.Join(statuses, ", "))
	}
	if !strings.HasPrefix(d.Licence, "https://") && !strings.HasPrefix(d.Licence, "http://") {
		bad("licence %q: want the licence's URI", d.Licence)
	}
	if len(d.Sources) == 0 {
		bad("sources: name the upstream systems the API reads (their cache TTLs give Cache-Control)")
	}
	if len(d.Resources) == 0 {
		bad("resources: at least one")
	}
	names := map[string]bool{}
	for i, r := range d.Resources {
		at := fmt.Sprintf("resources[%d] (%s)", i, r.Name)
		switch {
		case !nameRE.MatchString(r.Name):
			bad("%s: name: want a plural lower-case path segment", at)
		case slices.Contains(reserved, r.Name):
			bad("%s: name %q is the API's own path", at, r.Name)
		case names[r.Name]:
			bad("%s: a second resource of that name", at)
		}
		names[r.Name] = true
		if strings.TrimSpace(r.Description) == "" {
			bad("%s: description is required", at)
		}
		switch {
		case r.Aggregate != nil && (r.List != nil || r.Item != nil):
			bad("%s: an aggregate resource has no list or item operation", at)
		case r.Aggregate != nil:
			a := r.Aggregate
			if a.Suppress == nil {
				bad("%s: aggregate over %s has no suppress: an aggregate must suppress its small counts (suppress: {below: %d})", at, a.Dataset, DefaultThreshold)
			} else if a.Suppress.Below == 0 {
				a.Suppress.Below = DefaultThreshold
			} else if a.Suppress.Below < MinThreshold {
				bad("%s: suppress.below %d: at least %d", at, a.Suppress.Below, MinThreshold)
			}
			if len(a.By) == 0 {
				bad("%s: aggregate: by names no dimension", at)
			}
		case r.List == nil:
			bad("%s: a list operation (list:) or an aggregate is required", at)
		default:
			if r.List.Operation == "" || r.List.Path == "" {
				bad("%s: list: operation and path are required", at)
			}
			for _, p := range r.List.Parameters {
				ps = append(ps, p.check(at+": list: parameter")...)
				if slices.Contains([]string{"limit", "page"}, p.Name) {
					bad("%s: list: parameter %q is the profile's paging parameter", at, p.Name)
				}
			}
			if r.Item != nil {
				if r.Item.Operation == "" || r.Item.Path == "" || r.Item.ID == nil {
					bad("%s: item: operation, path and id are required", at)
				} else {
					ps = append(ps, r.Item.ID.check(at+": item: id")...)
				}
			}
		}
	}
	return ps
}

func (p *Parameter) check(at string) []string {
	var ps []string
	if !regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`).MatchString(p.Name) {
		ps = append(ps, fmt.Sprintf("%s %q: want a camelCase name", at, p.Name))
	}
	if p.Variable == "" {
		ps = append(ps, fmt.Sprintf("%s %q: variable is required", at, p.Name))
	}
	if p.Pattern != "" {
		re, err := regexp.Compile("^(?:" + p.Pattern + ")$")
		if err != nil {
			ps = append(ps, fmt.Sprintf("%s %q: pattern: %v", at, p.Name, err))
		}
		p.re = re
	}
	return ps
}
