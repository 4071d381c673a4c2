package authz

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ParseRoles reads the role table ({roles: {name: {clearance, purposes}}}),
// rejecting unknown keys and levels Kommungraf does not serve.
func ParseRoles(raw []byte) (map[string]RoleGrant, error) {
	var doc struct {
		Roles map[string]struct {
			Clearance *int     `yaml:"clearance"`
			Purposes  []string `yaml:"purposes"`
		} `yaml:"roles"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	out := make(map[string]RoleGrant, len(doc.Roles))
	var problems []string
	names := make([]string, 0, len(doc.Roles))
	for name := range doc.Roles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := doc.Roles[name]
		if r.Clearance == nil || *r.Clearance < int(Negligible) || *r.Clearance > int(MaxServed) {
			problems = append(problems, fmt.Sprintf("role %s: clearance 0 to %d is required", name, MaxServed))
			continue
		}
		out[name] = RoleGrant{Clearance: Level(*r.Clearance), Purposes: r.Purposes}
	}
	if len(problems) > 0 {
		return nil, errors.New("roles: " + strings.Join(problems, "; "))
	}
	return out, nil
}
