package authz

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"gopkg.in/yaml.v3"
)

// Contract is a client application's information contract
// (informationskontrakt): what it may receive, why, and who answers for it.
type Contract struct {
	// Client is the client application's id (the token's azp, or an API key's client).
	Client string `yaml:"client"`
	// Name is the integration's name.
	Name string `yaml:"name"`
	// Owner is the board or unit accountable for the integration.
	Owner string `yaml:"owner"`
	// Purposes are the purposes the client serves; a principal acts only for
	// purposes that both its roles and its client's contract name.
	Purposes []string `yaml:"purposes"`
	// Ceiling is the highest KLASSA level the client may receive.
	Ceiling Level `yaml:"ceiling"`
	// Availability is the availability Kommungraf promises the client.
	Availability string `yaml:"availability"`
	// Fields are globs over "Type.field" the client may receive.
	Fields []string `yaml:"fields"`
	// Operations is which GraphQL documents the client may send:
	// persisted-only (registered operations only), log-unknown (any, the
	// unregistered ones logged) or open (any: analysts in GraphiQL).
	// Required: a contract that does not say is refused.
	Operations string `yaml:"operations"`
}

// Operation modes of a contract.
const (
	OperationsPersistedOnly = "persisted-only"
	OperationsLogUnknown    = "log-unknown"
	OperationsOpen          = "open"
)

// Covers reports whether the contract names the field.
func (c *Contract) Covers(key string) bool {
	return slices.ContainsFunc(c.Fields, func(p string) bool { return matchGlob(key, p) })
}

// Contracts are the information contracts by client.
type Contracts struct {
	byClient map[string]*Contract
	list     []*Contract
}

// ForClient returns the client's contract, or nil when it has none.
func (c *Contracts) ForClient(client string) *Contract {
	if c == nil {
		return nil
	}
	return c.byClient[client]
}

// List returns the contracts in file order.
func (c *Contracts) List() []*Contract {
	if c == nil {
		return nil
	}
	return c.list
}

// ParseContracts reads contracts YAML ({contracts: [...]}), rejecting unknown
// keys, and checks every contract against the schema's catalog (nil skips
// that check). Every problem is reported at once.
func ParseContracts(raw []byte, cat *Catalog) (*Contracts, error) {
	var doc struct {
		Contracts []*Contract `yaml:"contracts"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("contracts: %w", err)
	}
	out := &Contracts{byClient: map[string]*Contract{}}
	var problems []string
	for i, c := range doc.Contracts {
		where := fmt.Sprintf("contract %d (%s)", i+1, c.Client)
		switch {
		case c.Client == "":
			problems = append(problems, where+": client is required")
		case out.byClient[c.Client] != nil:
			problems = append(problems, where+": a second contract for the same client")
		}
		if c.Owner == "" {
			problems = append(problems, where+": owner is required")
		}
		if len(c.Purposes) == 0 {
			problems = append(problems, where+": at least one purpose is required")
		}
		switch c.Operations {
		case OperationsPersistedOnly, OperationsLogUnknown, OperationsOpen:
		default:
			problems = append(problems, fmt.Sprintf("%s: operations %q: want persisted-only, log-unknown or open", where, c.Operations))
		}
		if c.Ceiling < Negligible || c.Ceiling > MaxServed {
			problems = append(problems, fmt.Sprintf("%s: ceiling %d, want 0 to %d", where, c.Ceiling, MaxServed))
		}
		for _, f := range c.Fields {
			if !doublestar.ValidatePattern(f) {
				problems = append(problems, fmt.Sprintf("%s: field pattern %q is not a valid glob", where, f))
			} else if cat != nil && !slices.ContainsFunc(cat.Fields(), func(x *Field) bool { return matchGlob(x.Key, f) }) {
				problems = append(problems, fmt.Sprintf("%s: field pattern %q matches no field of the schema", where, f))
			}
		}
		out.byClient[c.Client] = c
		out.list = append(out.list, c)
	}
	if len(problems) > 0 {
		return nil, errors.New("contracts: " + strings.Join(problems, "; "))
	}
	return out, nil
}
