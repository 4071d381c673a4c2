// Package graph holds what gqlgen generates from schema/*.graphqls, and
// handler.go, which assembles the GraphQL HTTP handler.
package graph

//go:generate go -C .. tool gqlgen generate
