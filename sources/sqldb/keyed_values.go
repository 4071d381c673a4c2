package sqldb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// valueKind is the JSON kind of a result column, decided once from the
// column's type when the query is checked, so that the same column gives
// the same kind of value on both databases although their drivers deliver
// different Go types:
//
//	column type                                   PostgreSQL (pgx)      SQLite (modernc)       JSON value
//	TEXT, VARCHAR, CHAR, UUID, other types        string                string                 string
//	INT2/4/8, FLOAT4/8, REAL, DOUBLE, NUMERIC     int64, float64,       int64, float64        json.Number
//	                                              string (NUMERIC)
//	BOOL, BOOLEAN                                 bool                  int64 0/1              bool
//	DATE                                          time.Time             time.Time or string   "YYYY-MM-DD"
//	TIMESTAMP, TIMESTAMPTZ, DATETIME              time.Time             time.Time or string   RFC 3339 in UTC
//	JSON, JSONB                                   []byte                string                 as encoding/json decodes it
//	none (a SQLite expression, COUNT(*), ...)     -                     by the value           by the value
//	BYTEA, BLOB; arrays                           refused: no JSON value
//
// NULL is nil in every kind. Numbers are json.Number, as a JSON decoder
// with UseNumber gives them (the declarative connectors' one rule for
// numbers, sources/connect): an integer exactly as the database has it, a
// float in encoding/json's spelling, a NUMERIC's text as the database
// writes it; JSON columns decode their numbers the same way. A float that
// is not finite (NaN, Infinity) has no JSON value and is a decode error; so
// is a value the column's kind cannot read (text in a number column of
// SQLite, which types values, not columns).
type valueKind int

const (
	kindAny valueKind = iota // no declared type: by the value
	kindText
	kindNumber
	kindBool
	kindDate
	kindTimestamp
	kindJSON
	kindBinary // refused
	kindArray  // refused
)

// postgresKind reads the type name pgx gives a column (upper case).
func postgresKind(name string) valueKind {
	switch name {
	case "INT2", "INT4", "INT8", "FLOAT4", "FLOAT8", "NUMERIC", "OID":
		return kindNumber
	case "BOOL":
		return kindBool
	case "DATE":
		return kindDate
	case "TIMESTAMP", "TIMESTAMPTZ":
		return kindTimestamp
	case "JSON", "JSONB":
		return kindJSON
	case "BYTEA":
		return kindBinary
	}
	if strings.HasPrefix(name, "_") {
		return kindArray
	}
	// TEXT, VARCHAR, BPCHAR, NAME, UUID, and every other type, which pgx
	// delivers in its text form.
	return kindText
}

// sqliteKind reads a declared column type (upper case) the way SQLite
// gives columns their affinity (https://sqlite.org/datatype3.html, 3.1),
// after the names the driver itself reads as dates, times and booleans.
func sqliteKind(decl string) valueKind {
	switch decl {
	case "":
		return kindAny
	case "DATE":
		return kindDate
	case "DATETIME", "TIMESTAMP":
		return kindTimestamp
	case "BOOLEAN", "BOOL":
		return kindBool
	case "JSON", "JSONB":
		return kindJSON
	}
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(decl, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("INT"):
		return kindNumber
	case has("CHAR", "CLOB", "TEXT"):
		return kindText
	case has("BLOB"):
		return kindBinary
	case has("REAL", "FLOA", "DOUB"):
		return kindNumber
	case strings.HasPrefix(decl, "NUMERIC"), strings.HasPrefix(decl, "DECIMAL"):
		return kindNumber
	}
	// Another name with NUMERIC affinity (UUID, MONEY, ...): a value that
	// looks like a number is stored as one, anything else as text.
	return kindAny
}

// problem says why a column of this kind cannot be read, or nil.
func (k valueKind) problem(dbType string) error {
	switch k {
	case kindBinary:
		return fmt.Errorf("is binary (%s), which has no JSON value: select a text form of it", dbType)
	case kindArray:
		return fmt.Errorf("is an array (%s): select one row per element (unnest), or a text form", dbType)
	}
	return nil
}

// value turns what the driver delivered into the column's JSON value.
func (k valueKind) value(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok {
		if k != kindJSON && !utf8.Valid(b) {
			return nil, errors.New("bytes that are not UTF-8 text")
		}
		v = string(b)
	}
	switch k {
	case kindText:
		switch x := v.(type) {
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
	case kindNumber:
		switch x := v.(type) {
		case int64:
			return json.Number(strconv.FormatInt(x, 10)), nil
		case float64:
			return finite(x)
		case string:
			return numberText(x)
		}
	case kindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return nil, errors.New("text that is not a boolean")
			}
			return b, nil
		}
	case kindDate:
		var d dateCol
		if err := d.Scan(v); err != nil {
			return nil, err
		}
		return d.t.Format(time.DateOnly), nil
	case kindTimestamp:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		case string:
			return x, nil
		}
	case kindJSON:
		var raw []byte
		switch x := v.(type) {
		case string:
			raw = []byte(x)
		case []byte:
			raw = x
		default:
			return nil, fmt.Errorf("a %T where JSON text was expected", v)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var out any
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf("JSON that does not parse: %w", err)
		}
		if dec.More() {
			return nil, errors.New("JSON that does not parse: more than one value")
		}
		return out, nil
	case kindAny:
		switch x := v.(type) {
		case string, bool:
			return x, nil
		case int64:
			return json.Number(strconv.FormatInt(x, 10)), nil
		case float64:
			return finite(x)
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		}
	}
	return nil, fmt.Errorf("a %T where the column's type promises %s", v, k)
}

// finite is a float as the JSON number encoding/json writes for it, and
// refuses what JSON has no number for.
func finite(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errors.New("a number that is not finite, which JSON cannot carry")
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return json.Number(b), nil
}

// numberText is a number the database wrote as text (PostgreSQL's
// NUMERIC): kept as written when it is a JSON number, so that no digit is
// lost, else read as a float ("+1", "1.", " 2 ").
func numberText(s string) (any, error) {
	s = strings.TrimSpace(s)
	if json.Valid([]byte(s)) && s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		return json.Number(s), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, errors.New("text that is not a number")
	}
	return finite(f)
}

// String names the kind in messages.
func (k valueKind) String() string {
	switch k {
	case kindText:
		return "text"
	case kindNumber:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindDate:
		return "a date"
	case kindTimestamp:
		return "a timestamp"
	case kindJSON:
		return "JSON"
	case kindBinary:
		return "binary data"
	case kindArray:
		return "an array"
	}
	return "any value"
}
