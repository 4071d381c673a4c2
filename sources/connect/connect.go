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

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// Record is one entity as the schema names its fields. Values are what a
// JSON decoder with UseNumber produces (string, json.Number, bool, nil,
// []any, map[string]any), as gqlgen reads a request's variables, so that
// every connector's records decode alike through the scalars' own
// unmarshalers. The rule for numbers is the same in every connector: a
// number is a json.Number holding a valid JSON number, as the upstream
// wrote it where that is one (HTTP's JSON, a SOAP xs:decimal, an SQL
// integer or NUMERIC, exact beyond 2^53), never a float64; the record cache
// reads them back from Redis as written too (cache.TestNumbersSurviveRedis).
type Record = map[string]any

// MaxKeyBytes is the longest key a connector asks its upstream for, the
// same for every connector: a longer one cannot be a real identifier. It
// is answered as not found without a call (no URL, envelope or query
// carries it), so that it can neither make a batch too long for the
// innocent keys beside it nor cost the upstream anything.
const MaxKeyBytes = 512

// sendable is the keys a connector sends: repeated, empty and overlong
// (MaxKeyBytes) keys dropped, as they have no records.
func sendable(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if k == "" || len(k) > MaxKeyBytes || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

// number is the json.Number of a number an upstream wrote as text: kept as
// written when it is a JSON number, so that no digit is lost, else read as
// a float and written as encoding/json writes it ("+1", "1.", ".5" in XML
// Schema's spelling). Text that is no finite number is an error.
func number(s string) (json.Number, error) {
	if s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') && json.Valid([]byte(s)) {
		return json.Number(s), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", errors.New("a numeric value holds no JSON number")
	}
	b, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	return json.Number(b), nil
}

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

// nilEmptyObjects sets each nested object of a record (objects: the dotted
// field names' object paths, deepest first) to nil when all its fields are
// nil, so that an absent address or unit is null, not an object of nulls.
// The SOAP and SQL connectors build nested objects alike; this is their one
// rule.
func nilEmptyObjects(r Record, objects [][]string) {
	for _, obj := range objects {
		parent := r
		for _, seg := range obj[:len(obj)-1] {
			parent, _ = parent[seg].(map[string]any)
		}
		m, _ := parent[obj[len(obj)-1]].(map[string]any)
		if m == nil {
			continue
		}
		empty := true
		for _, v := range m {
			empty = empty && v == nil
		}
		if empty {
			parent[obj[len(obj)-1]] = nil
		}
	}
}
