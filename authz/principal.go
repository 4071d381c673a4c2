package authz

import (
	"context"
	"slices"
)

// Principal is who is asking: the user (or system) and the client
// application it asks through. Every attribute an access decision may use is
// here; nothing else about the request is consulted.
type Principal struct {
	// Subject is the token's sub, the API key's name, or "anonymous".
	Subject string
	// Client is the client application (OIDC azp / client_id, or the API
	// key's client). Its information contract bounds what the principal sees.
	Client string
	// Roles are the principal's roles (from the token's roles claim or the
	// API key's configuration).
	Roles []string
	// Unit is the organisational unit (nämnd), e.g. "Bygg- och miljönämnden".
	Unit string
	// Clearance is the highest KLASSA level the principal is cleared for.
	Clearance Level
	// Purposes are the purposes the principal acts for (ändamål), e.g.
	// "bygglov"; purpose rules in the policy refer to them.
	Purposes []string
	// Anonymous is true for a request without credentials.
	Anonymous bool
	// Method says how the principal was authenticated: "oidc", "apikey",
	// "demo" or "anonymous".
	Method string
}

// NewPrincipal builds a principal from its identity and the role table: its
// clearance is the highest of its roles', its purposes their union. Roles the
// table does not name stay in Roles but grant nothing.
func NewPrincipal(subject, client string, roles []string, unit, method string, table map[string]RoleGrant) *Principal {
	p := &Principal{Subject: subject, Client: client, Unit: unit, Method: method, Clearance: Negligible}
	for _, role := range roles {
		if slices.Contains(p.Roles, role) {
			continue
		}
		p.Roles = append(p.Roles, role)
		g, ok := table[role]
		if !ok {
			continue
		}
		p.Clearance = max(p.Clearance, g.Clearance)
		for _, purpose := range g.Purposes {
			if !slices.Contains(p.Purposes, purpose) {
				p.Purposes = append(p.Purposes, purpose)
			}
		}
	}
	return p
}

// AnonymousPrincipal is the principal of a request without credentials: it
// sees only what the anonymous client's contract and the policy give level 0.
func AnonymousPrincipal() *Principal {
	return &Principal{Subject: "anonymous", Client: "anonymous", Clearance: Negligible, Anonymous: true, Method: "anonymous"}
}

// HasRole reports whether the principal holds role.
func (p *Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// HasPurpose reports whether the principal acts for purpose.
func (p *Principal) HasPurpose(purpose string) bool { return slices.Contains(p.Purposes, purpose) }

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the request's principal; a context without one is
// anonymous, so a missing authentication step can never grant more.
func FromContext(ctx context.Context) *Principal {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok && p != nil {
		return p
	}
	return AnonymousPrincipal()
}
