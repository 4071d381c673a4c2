// Package graph holds what gqlgen generates from schema/*.graphqls, and
// handler.go, which assembles the GraphQL HTTP handler.
package graph

// gqlgen with the resource plugin (graph/internal/resourceplugin): the
// fields marked @resource are bound to the declarations in schema/*.yaml.
//go:generate go -C .. run ./graph/internal/generate
