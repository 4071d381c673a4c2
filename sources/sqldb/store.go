// Package sqldb is the SQL source for the school and preschool database
// (skol- och förskoledatabas): PostgreSQL in production, an embedded SQLite
// file by default, with the same schema and the same queries on both.
//
// Every read is one query, whatever the number of keys, so the gateway's
// per-request loaders can turn N lookups into one round trip. Failures come
// back as *upstream.Error with the system's name as Source ("skoldatabas"
// unless Options.System says otherwise) and the query's name as Operation;
// the driver's message stays in Err, for logs only.
//
// Besides its own queries, the store runs the keyed queries that source
// declarations write in SQL (PrepareKeyed, keyed.go), on the same pool,
// timeout, Recorder, metrics and error mapping.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers database/sql driver "pgx"
	"modernc.org/sqlite"

	"github.com/kommungraf/kommungraf/sources/upstream"
)

// System is the name the store reports to the Recorder, in metrics and in
// upstream errors, unless Options.System names another.
const System = "skoldatabas"

// Driver names accepted in Options.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Defaults for Options.
const (
	DefaultMaxOpenConns = 10
	DefaultQueryTimeout = 2 * time.Second
)

// Recorder counts the queries the store sends. *sim.Stats satisfies it.
type Recorder interface {
	// Record counts one query of system/operation that asked for keys keys.
	Record(system, operation string, keys int)
}

// RequestRecorder is a Recorder that also counts per gateway request id
// (upstream.RequestIDFromContext), as the HTTP simulators do with the
// X-Request-Id header. *sim.Stats satisfies it.
type RequestRecorder interface {
	RecordRequest(requestID, system, operation string, keys int)
}

// Options configure Open.
type Options struct {
	// Driver is DriverSQLite (the default when empty) or DriverPostgres.
	Driver string
	// DSN locates the database. SQLite: a file path or a "file:" URI; the
	// store adds WAL journal mode, a busy timeout, foreign keys and immediate
	// write transactions unless the DSN already sets them. PostgreSQL: a
	// postgres:// URL or key=value string as pgx reads it.
	DSN string
	// MaxOpenConns caps the connection pool (default 10). For SQLite in WAL
	// mode readers do not block each other, so the same default serves.
	MaxOpenConns int
	// QueryTimeout bounds each query (default 2s). A query that runs out of
	// time fails with an upstream.Timeout error.
	QueryTimeout time.Duration
	// Recorder, when set, is told of every query: the system, the operation
	// name and the number of keys.
	Recorder Recorder
	// Metrics, when set, count and time every query as the upstream
	// client does its calls (kommungraf_upstream_calls_total and
	// kommungraf_upstream_call_duration_seconds, by system and operation).
	Metrics *upstream.Metrics
	// Logger receives the detail of failed queries, which clients never
	// see (default slog.Default()).
	Logger *slog.Logger
	// System is the name of the upstream system the database is (default
	// System): what the Recorder, the metrics and upstream errors say. A
	// declared SQL system (connector: sql) opens its store with its name.
	System string
}

// Store reads the school database.
type Store struct {
	db      *sql.DB
	driver  string
	system  string
	dialect dialect
	timeout time.Duration
	rec     Recorder
	metrics *upstream.Metrics
	log     *slog.Logger
}

// Open connects to the database and pings it. A database that cannot be
// reached gives an *upstream.Error of kind Unavailable whose log text names the
// driver and the cause; a password in the DSN never appears in it.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Driver == "" {
		opts.Driver = DriverSQLite
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = DefaultMaxOpenConns
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if opts.System == "" {
		opts.System = System
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{
		driver: opts.Driver, system: opts.System, timeout: opts.QueryTimeout,
		rec: opts.Recorder, metrics: opts.Metrics, log: opts.Logger,
	}
	var sqlDriver, dsn string
	switch opts.Driver {
	case DriverSQLite:
		if opts.DSN == "" {
			return nil, errors.New("sqldb: sqlite: DSN is empty: give a file path or a file: URI")
		}
		sqlDriver, dsn = "sqlite", sqliteDSN(opts.DSN)
	case DriverPostgres:
		if opts.DSN == "" {
			return nil, errors.New("sqldb: postgres: DSN is empty: give a postgres:// URL")
		}
		sqlDriver, dsn = "pgx", opts.DSN
		s.dialect.postgres = true
	default:
		return nil, fmt.Errorf("sqldb: unknown driver %q: want %q or %q", opts.Driver, DriverSQLite, DriverPostgres)
	}
	db, err := sql.Open(sqlDriver, dsn)
	if err != nil {
		err = fmt.Errorf("sqldb: %s: %w", opts.Driver, err)
		if s.dialect.postgres {
			err = redact(err, opts.DSN)
		}
		return nil, err
	}
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxOpenConns)
	if s.dialect.postgres {
		// Let connections follow a failover or a pgbouncer restart.
		db.SetConnMaxLifetime(30 * time.Minute)
	}
	s.db = db
	// Connecting may take longer than a query may: give the first ping at
	// least openTimeout, within the caller's context.
	pingCtx, cancel := context.WithTimeout(ctx, max(opts.QueryTimeout, openTimeout))
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		ue := s.fail(pingCtx, "open", err)
		if s.dialect.postgres {
			ue.Err = redact(ue.Err, opts.DSN)
		}
		return nil, ue
	}
	return s, nil
}

// openTimeout is the least time Open gives the first connection.
const openTimeout = 5 * time.Second

// sqliteDSN adds the settings the store relies on to a SQLite DSN, unless the
// DSN sets them itself: WAL so that readers never wait for the seeder, a busy
// timeout so that writers wait for each other instead of failing, foreign
// keys, and BEGIN IMMEDIATE so a write transaction takes its lock up front
// (a deferred one can fail with SQLITE_BUSY halfway through).
func sqliteDSN(dsn string) string {
	settings := []struct{ key, param string }{
		{"busy_timeout", "_pragma=busy_timeout(5000)"},
		{"journal_mode", "_pragma=journal_mode(WAL)"},
		{"synchronous", "_pragma=synchronous(NORMAL)"},
		{"foreign_keys", "_pragma=foreign_keys(1)"},
		{"_txlock", "_txlock=immediate"},
	}
	query := ""
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		query = strings.ToLower(dsn[i+1:])
	}
	var add []string
	for _, s := range settings {
		if !strings.Contains(query, s.key) {
			add = append(add, s.param)
		}
	}
	if len(add) == 0 {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + strings.Join(add, "&")
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// Driver returns DriverSQLite or DriverPostgres.
func (s *Store) Driver() string { return s.driver }

// System returns the system's name, as the Recorder, metrics and errors say it.
func (s *Store) System() string { return s.system }

// As returns the store under another system's name, on the same pool, with
// the same query timeout, Recorder, metrics and logger: a declared SQL
// system that reads the school database counts its queries under its own
// name. Close the store it was made from, not this one.
func (s *Store) As(system string) *Store {
	c := *s
	c.system = system
	return &c
}

// DB returns the connection pool, for the seeder and for tests.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers within the query timeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return nil
}

// fail wraps a database error in an *upstream.Error. The kind is Timeout when
// the query's context ended (a deadline, or the caller gave up) or the server
// cancelled the statement; BadResponse when a row could not be decoded; and
// Unavailable otherwise: a refused or dropped connection, a closed pool, a
// locked or missing database file, a server in trouble.
func (s *Store) fail(ctx context.Context, op string, err error) *upstream.Error {
	kind := upstream.Unavailable
	var de *decodeError
	switch {
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		pgconn.Timeout(err), isStatementCancelled(err):
		kind = upstream.Timeout
	case errors.As(err, &de):
		kind = upstream.BadResponse
	}
	return &upstream.Error{Source: s.system, Operation: op, Kind: kind, Err: fmt.Errorf("sqldb %s: %w", s.driver, err)}
}

// safeCause describes why a query failed in words that hold neither the
// statement nor its parameters: PostgreSQL's SQLSTATE, SQLite's result
// code, the network operation that failed, or the error's type.
func safeCause(err error) string {
	var pe *pgconn.PgError
	var se *sqlite.Error
	var de *decodeError
	var ne *net.OpError
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &pe):
		return "SQLSTATE " + pe.Code
	case errors.As(err, &se):
		return fmt.Sprintf("sqlite result code %d", se.Code())
	case errors.As(err, &de):
		return "a row does not decode"
	case errors.Is(err, context.DeadlineExceeded):
		return "query timeout"
	case errors.Is(err, context.Canceled):
		return "caller gone"
	case errors.As(err, &ne):
		return "network: " + ne.Op + ": " + ne.Err.Error()
	case errors.As(err, &ce):
		return "connect failed"
	case errors.Is(err, sql.ErrConnDone), errors.Is(err, driver.ErrBadConn):
		return "connection lost"
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	// database/sql's own failures are fixed sentences ("sql: database is
	// closed"); its scan errors quote values, but they are decodeErrors.
	if msg := err.Error(); strings.HasPrefix(msg, "sql: ") && !strings.Contains(msg, "Scan") {
		return msg
	}
	return fmt.Sprintf("%T", err)
}

// isStatementCancelled reports a statement stopped by the database itself:
// PostgreSQL's statement_timeout (query_canceled) or SQLite's interrupt.
func isStatementCancelled(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "57014"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == 9 // SQLITE_INTERRUPT
	}
	return false
}

// decodeError marks a row the store could not read: the database answered,
// but not with what the schema promises.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "decode row: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// redact removes the DSN's password from an error's text. pgx already hides
// it in its own messages; this guards every other path (a DSN that does not
// parse, a message a future driver version writes differently).
func redact(err error, dsn string) error {
	pw := dsnPassword(dsn)
	if pw == "" || err == nil {
		return err
	}
	msg := err.Error()
	for _, form := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw), url.UserPassword("", pw).String()[1:]} {
		if form != "" {
			msg = strings.ReplaceAll(msg, form, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// dsnPassword finds the password of a PostgreSQL DSN, URL or key=value.
func dsnPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
	}
	if cfg, err := pgx.ParseConfig(dsn); err == nil {
		return cfg.Password
	}
	return ""
}

// redactedError keeps the cause for errors.Is/As but prints the redacted text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
