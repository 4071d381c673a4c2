package authz

import (
	"fmt"
	"slices"
)

// PersonaIDs are the demo personas of DOMAIN.md, the open-data client last.
func PersonaIDs() []string {
	ids := make([]string, 0, len(devPersonas)+1)
	for _, p := range devPersonas {
		ids = append(ids, p.id)
	}
	return append(ids, OpenDataPersona)
}

// PersonaPrincipal is the principal a demo persona's credential yields, built
// without a token: for `kommungraf policy explain --persona` and the
// decision tables security staff keep as regression tests.
func PersonaPrincipal(id string, roles map[string]RoleGrant) (*Principal, error) {
	if id == OpenDataPersona {
		return NewPrincipal("demo-open-data", "open-data-app", []string{"open-data"}, "external", "apikey", roles), nil
	}
	i := slices.IndexFunc(devPersonas, func(p devPersona) bool { return p.id == id })
	if i < 0 {
		return nil, fmt.Errorf("unknown persona %q (want one of %v)", id, PersonaIDs())
	}
	p := devPersonas[i]
	return NewPrincipal(p.subject, p.client, []string{p.role}, p.unit, "demo", roles), nil
}
