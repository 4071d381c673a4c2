package graph

import (
	"strings"

	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// suggestion begins the hint gqlparser's validation rules append to a
// message ("Cannot query field \"x\" on type \"Person\". Did you mean
// \"y\"?", and likewise for arguments, types, enum values and inline
// fragments): it names parts of the schema the caller did not write.
const suggestion = " Did you mean "

// hideSuggestions removes that hint from a validation error, for callers
// who may not see the schema. The hint is always the message's end (the
// rules add it after the message), and names are GraphQL names, which
// hold no "?"; gqlparser lists enum values only in it.
func hideSuggestions(err *gqlerror.Error) *gqlerror.Error {
	if err == nil || err.Extensions["code"] != errcode.ValidationFailed {
		return err
	}
	i := strings.Index(err.Message, suggestion)
	if i < 0 {
		return err
	}
	out := *err
	out.Message = err.Message[:i]
	return &out
}
