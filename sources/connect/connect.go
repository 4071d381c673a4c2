// Package connect holds Kommungraf's declarative connectors: an upstream
// call described in a source declaration (schema/*.yaml) rather than in Go.
// An HTTP connector (JSON or XML bodies), a SOAP connector (operations read
// from a WSDL) and an SQL connector (a parameterised query on PostgreSQL or
// SQLite) each turn a batch of keys into records, on the same upstream stack
// as the hand-written connectors: the upstream client's deadline, body cap,
// retries of idempotent calls, circuit breaker, global concurrency bound and
// metrics (sources/upstream), or the school database's pool and query
// timeout (sources/sqldb).
//
// A record is the upstream's answer for one entity in the schema's shape:
// the declaration's field mapping has already renamed and selected its
// fields, so that the loaders can decode it into the schema's Go type.
package connect

import "context"

// Record is one entity as the schema names its fields. Values are what a
// JSON decoder with UseNumber produces (string, json.Number, bool, nil,
// []any, map[string]any), as gqlgen reads a request's variables, so that
// every connector's records decode alike through the scalars' own
// unmarshalers. (A float64 from a record cached as JSON is read as the
// number it is written as.)
type Record = map[string]any

// A Connector answers keys with records.
type Connector interface {
	// Fetch returns the records of each key. A key without records is
	// absent from the map (the loaders answer it as "not found"), never an
	// error. keys are distinct and at most MaxKeys when that is above 0;
	// the caller splits larger batches. An error fails the whole batch and
	// is an *upstream.Error with the system's name, never upstream text;
	// or it is a KeyErrors, which fails only the keys it names (a fan-out
	// of one call per key), the map then holding the others' records.
	Fetch(ctx context.Context, keys []string) (map[string][]Record, error)
	// MaxKeys is the most keys one Fetch may carry (0: no limit).
	MaxKeys() int
}
