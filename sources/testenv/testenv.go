// Package testenv gives integration tests the real services they need:
// PostgreSQL and Redis on their standard local ports, as CI provides them.
// On a laptop without a service the test is skipped with a message that says
// how to provide it; under CI=true it fails instead, so a missing service can
// never turn a CI run green.
package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Environment variables that point the helpers at other servers.
const (
	EnvDatabaseURL = "KOMMUNGRAF_TEST_DATABASE_URL"
	EnvRedisURL    = "KOMMUNGRAF_TEST_REDIS_URL"
	// EnvRedisCluster lists the nodes of a Redis Cluster, host:port
	// comma-separated (.ci/redis-cluster.sh start prints it).
	EnvRedisCluster = "KOMMUNGRAF_TEST_REDIS_CLUSTER"
)

// Defaults: the services on their standard local ports.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// dialTimeout bounds each reachability check, so a firewalled port does not
// stall the test run.
const dialTimeout = 3 * time.Second

// Required reports whether services are required: CI=true (or another true
// value strconv.ParseBool accepts). Then a missing service fails the test.
func Required() bool {
	ok, _ := strconv.ParseBool(os.Getenv("CI"))
	return ok
}

// unavailable skips the test, or fails it when services are required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (CI=true: integration services are required)", msg)
	}
	t.Skipf("%s; skipping (under CI=true this fails)", msg)
}

// PostgresURL returns a DSN for a fresh, empty schema on the test PostgreSQL
// (KOMMUNGRAF_TEST_DATABASE_URL, default DefaultDatabaseURL), with
// search_path set to that schema, so tests can run in parallel without
// seeing each other's tables. The schema is dropped at t.Cleanup. If the
// server is unreachable the test is skipped, or fails under CI=true.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		base = DefaultDatabaseURL
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		unavailable(t, "testenv: PostgreSQL DSN %s does not parse (set %s): %v", redactURL(base), EnvDatabaseURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		unavailable(t, "testenv: PostgreSQL at %s is not reachable (set %s): %v", redactURL(base), EnvDatabaseURL, err)
	}
	schema := "kgtest_" + randomHex(8)
	// The name is generated, not input: quoting it keeps the statement valid regardless.
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+quoteIdent(schema)); err != nil {
		db.Close()
		t.Fatalf("testenv: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		// The test's context is gone by now: use a fresh one.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+quoteIdent(schema)+" CASCADE"); err != nil {
			t.Errorf("testenv: drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(base, schema)
}

// withSearchPath sets the search_path run-time parameter in a DSN, which pgx
// sends in the startup message: a postgres:// URL gets a query parameter, a
// key=value DSN one more pair.
func withSearchPath(dsn, schema string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// RedisURL returns the test Redis URL (KOMMUNGRAF_TEST_REDIS_URL, default
// DefaultRedisURL) after checking that the server answers PING with +PONG,
// over a plain TCP connection so the check needs no Redis client. A password
// in the URL is sent with AUTH first. If Redis is unreachable the test is
// skipped, or fails under CI=true.
func RedisURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(EnvRedisURL)
	if raw == "" {
		raw = DefaultRedisURL
	}
	if err := pingRedis(raw); err != nil {
		unavailable(t, "testenv: Redis at %s is not reachable (set %s): %v", redactURL(raw), EnvRedisURL, err)
	}
	return raw
}

// RedisClusterURL returns a URL for the Redis Cluster of
// KOMMUNGRAF_TEST_REDIS_CLUSTER in the form the gateway's redis.url takes
// for a cluster (redis://first?addr=second&addr=...), after checking that
// every node answers PING. Without the variable, or with a node down, the
// test is skipped, or fails under CI=true: CI starts a cluster itself
// (.ci/redis-cluster.sh).
func RedisClusterURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(EnvRedisCluster)
	var addrs []string
	for _, a := range strings.Split(raw, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) < 2 {
		unavailable(t, "testenv: no Redis Cluster: set %s to its nodes (host:port,host:port,...); .ci/redis-cluster.sh start starts one", EnvRedisCluster)
	}
	for _, a := range addrs {
		if err := pingRedis("redis://" + a); err != nil {
			unavailable(t, "testenv: Redis Cluster node %s (%s) is not reachable: %v", a, EnvRedisCluster, err)
		}
	}
	q := url.Values{"addr": addrs[1:]}
	return "redis://" + addrs[0] + "?" + q.Encode()
}

// pingRedis speaks just enough RESP to ask for PONG.
func pingRedis(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL does not parse: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("scheme %q is not redis://", u.Scheme)
	}
	if u.Scheme == "rediss" {
		return fmt.Errorf("rediss:// (TLS) is not supported by the reachability check")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	conn, err := net.DialTimeout("tcp", host, dialTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	if pw, ok := u.User.Password(); ok {
		auth := []string{"AUTH", pw}
		if name := u.User.Username(); name != "" {
			auth = []string{"AUTH", name, pw}
		}
		if err := roundTrip(conn, r, resp(auth...), "+OK"); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	return roundTrip(conn, r, "PING\r\n", "+PONG")
}

// resp encodes a command as a RESP array of bulk strings.
func resp(parts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(parts))
	for _, p := range parts {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(p), p)
	}
	return b.String()
}

func roundTrip(conn net.Conn, r *bufio.Reader, cmd, want string) error {
	if _, err := conn.Write([]byte(cmd)); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got := strings.TrimRight(line, "\r\n"); got != want {
		return fmt.Errorf("answered %q, want %q", got, want)
	}
	return nil
}

// redactURL hides a password for messages.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "(DSN not shown)"
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// RedisServer is a redis-server of a test's own, on a free local port,
// keeping nothing on disk: a test may restart or flush it without touching
// the shared Redis other tests use.
type RedisServer struct {
	t    testing.TB
	bin  string
	port int
	cmd  *exec.Cmd
}

// StartRedisServer starts a redis-server (from PATH, or /usr/bin) for the
// test, stopped at cleanup. Without the binary the test is skipped, or fails
// under CI=true. extra are more redis-server arguments.
func StartRedisServer(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/redis-server"); serr != nil {
			unavailable(t, "testenv: redis-server is not installed (apt-get install redis-server)")
		}
		bin = "/usr/bin/redis-server"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &RedisServer{t: t, bin: bin, port: port}
	s.start(extra...)
	t.Cleanup(s.stop)
	return s
}

// URL is the server's redis:// URL.
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Addr is the server's host:port.
func (s *RedisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *RedisServer) start(extra ...string) {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--loglevel", "warning"}, extra...)
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Dir = s.t.TempDir()
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("testenv: start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			_, err = conn.Write([]byte("PING\r\n"))
			if err == nil {
				line, rerr := bufio.NewReader(conn).ReadString('\n')
				err = rerr
				if err == nil && !strings.HasPrefix(line, "+PONG") {
					err = fmt.Errorf("answered %q", line)
				}
			}
			conn.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			s.t.Fatalf("testenv: redis-server on %s did not answer: %v", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *RedisServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart kills the server (as a crash would) and starts a new, empty one on
// the same port.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.stop()
	s.start()
}
