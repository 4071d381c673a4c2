// Package resolvers holds the thin GraphQL resolvers: read arguments, call a
// per-request loader, map the result. No HTTP, SQL, SOAP or policy code here.
package resolvers

// Resolver is the dependency-injection root. The loaders travel in the request
// context (sources/loaders), so the resolver itself holds no per-request state.
type Resolver struct{}
