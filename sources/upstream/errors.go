// Package upstream is the shared stack every HTTP upstream call goes through:
// a context deadline, a response size cap, bounded retries with backoff for
// idempotent calls, a circuit breaker per upstream, metrics, and errors that
// say what failed without carrying the upstream's body to the client.
package upstream

import (
	"errors"
	"fmt"
)

// Kind classifies an upstream failure; each kind has one GraphQL error code.
type Kind int

// Failure kinds.
const (
	// Unavailable: connection refused, 5xx, breaker open, unauthorised order.
	Unavailable Kind = iota + 1
	// Timeout: the deadline passed before the upstream answered.
	Timeout
	// BadResponse: the answer could not be understood (HTML, truncated JSON,
	// DOCTYPE in XML, over the size cap, unexpected status).
	BadResponse
	// NotFound: the upstream says the entity does not exist. Loaders map it to
	// null, not to an error.
	NotFound
	// Rejected: the upstream refused the request as invalid (4xx other than 404).
	Rejected
)

// Code is the extensions.code clients see for the kind.
func (k Kind) Code() string {
	switch k {
	case Unavailable:
		return "UPSTREAM_UNAVAILABLE"
	case Timeout:
		return "UPSTREAM_TIMEOUT"
	case BadResponse:
		return "UPSTREAM_BAD_RESPONSE"
	case NotFound:
		return "NOT_FOUND"
	case Rejected:
		return "UPSTREAM_REJECTED"
	}
	return "UPSTREAM_ERROR"
}

// Error is a failed upstream call. Err holds the detail for logs (it may
// contain a SOAP faultstring or SQL error text); Public() is what a client may see.
type Error struct {
	Source    string // e.g. "folkbokforing"
	Operation string // e.g. "PersonpostXML"
	Kind      Kind
	Err       error
	// permanent marks a failure that trying again cannot mend.
	permanent bool
}

// Error implements error; the text is for logs only.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %s: %v", e.Source, e.Operation, e.Kind.Code(), e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Public is the message a client may see: which system failed and how, nothing more.
func (e *Error) Public() string {
	switch e.Kind {
	case Timeout:
		return fmt.Sprintf("upstream %s did not answer in time", e.Source)
	case BadResponse:
		return fmt.Sprintf("upstream %s sent a response that could not be read", e.Source)
	case NotFound:
		return fmt.Sprintf("not found in %s", e.Source)
	case Rejected:
		return fmt.Sprintf("upstream %s rejected the request", e.Source)
	}
	return fmt.Sprintf("upstream %s is unavailable", e.Source)
}

// Errorf builds an *Error.
func Errorf(source, op string, kind Kind, format string, args ...any) *Error {
	return &Error{Source: source, Operation: op, Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Permanent marks e as not worth retrying and returns it.
func Permanent(e *Error) *Error {
	e.permanent = true
	return e
}

// KindOf returns the kind of an upstream error, or 0 for other errors.
func KindOf(err error) Kind {
	var ue *Error
	if errors.As(err, &ue) {
		return ue.Kind
	}
	return 0
}

// IsNotFound reports whether err says the entity does not exist.
func IsNotFound(err error) bool { return KindOf(err) == NotFound }
