package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// noRetry makes the writer try a failed store again only when Flush (or
// Close) asks, so that a test decides when the store is tried.
func noRetry(int) time.Duration { return time.Hour }

// TestAsyncAccessLogSpoolPostgres stops the database (a proxy between the
// pool and PostgreSQL refuses and cuts every connection): entries go to the
// spool, none is lost; when the database is back the spool drains into it,
// one row per entry. Then the spool as it was before the drain, as a crash
// between the inserts and the truncation leaves it, plus entries never
// stored and a torn last line, is drained by a new log at start: still one
// row per entry.
func TestAsyncAccessLogSpoolPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresURL(t)
	proxy := newALProxy(t, dsn)
	store, err := authz.NewPostgresAccessLog(ctx, proxy.dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(t.TempDir(), "access.spool")
	a := alAsync(t, authz.AsyncAccessLogOptions{Store: store, SpoolPath: spool, RetryBackoff: noRetry})

	first := alEntry(0)
	if err := a.Append(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := alRowIDs(t, dsn); len(got) != 1 || got[first.ID] != 1 {
		t.Fatalf("with the database up: rows %v, want %s once", got, first.ID)
	}

	proxy.cut()
	const n = 50
	var named []string // IDs the caller chose; the others are assigned
	for i := 1; i <= n; i++ {
		e := alEntry(i)
		if i%3 == 0 {
			e.ID = ""
		} else {
			named = append(named, e.ID)
		}
		if i%2 == 0 {
			tk, err := a.Reserve()
			if err != nil {
				t.Fatalf("Reserve %d with the database down: %v", i, err)
			}
			tk.Append(e)
		} else if err := a.Append(ctx, e); err != nil {
			t.Fatalf("Append %d with the database down: %v", i, err)
		}
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	spooled := alSpoolLines(t, spool)
	ids := map[string]int{first.ID: 1}
	for _, e := range spooled {
		ids[e.ID]++
	}
	if len(spooled) != n || len(ids) != n+1 || a.Spooled() != n || a.Dropped() != 0 {
		t.Fatalf("with the database down: %d lines, %d distinct IDs, Spooled %d, Dropped %d; want %d, %d, %d, 0",
			len(spooled), len(ids), a.Spooled(), a.Dropped(), n, n+1, n)
	}
	for _, id := range named {
		if ids[id] != 1 {
			t.Errorf("ID %s the caller gave is not spooled once", id)
		}
	}
	left, err := os.ReadFile(spool) // what a crash right after the drain's inserts leaves
	if err != nil {
		t.Fatal(err)
	}

	proxy.restore()
	// The pool may first hand out a connection the cut killed: the first
	// attempt can fail, the next one dials anew.
	alEventually(t, "the spool drains into PostgreSQL", func() bool {
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return a.Spooled() == 0
	})
	if got := alRowIDs(t, dsn); !alSameCounts(got, ids) {
		t.Errorf("after the drain: rows %v, want each of %v once", got, ids)
	}
	if fi, err := os.Stat(spool); err != nil || fi.Size() != 0 {
		t.Errorf("spool after the drain: %v, %v; want an empty file", fi, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// The crash: the spool as it was, two entries the database never got,
	// and a line the crash tore.
	fresh := []authz.AccessEntry{alEntry(101), alEntry(102)}
	for _, e := range fresh {
		b, _ := json.Marshal(e)
		left = append(append(left, b...), '\n')
		ids[e.ID] = 1
	}
	left = append(left, `{"id":"torn-by-the-crash","time":"2026-`...)
	if err := os.WriteFile(spool, left, 0o600); err != nil {
		t.Fatal(err)
	}
	store2, err := authz.NewPostgresAccessLog(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	a2 := alAsync(t, authz.AsyncAccessLogOptions{Store: store2, SpoolPath: spool, RetryBackoff: noRetry})
	if err := a2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := alRowIDs(t, dsn); !alSameCounts(got, ids) || a2.Spooled() != 0 || a2.Dropped() != 0 {
		t.Errorf("after draining the left spool: rows %v, Spooled %d, Dropped %d; want each of %v once, 0, 0",
			got, a2.Spooled(), a2.Dropped(), ids)
	}
	if fi, err := os.Stat(spool); err != nil || fi.Size() != 0 {
		t.Errorf("left spool after the drain: %v, %v; want an empty file", fi, err)
	}
}

// TestPostgresAccessLogEntryID: a table from before entry IDs gets the
// column and its unique index, its rows stay readable, and an ID offered
// twice is stored once.
func TestPostgresAccessLogEntryID(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresURL(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		`CREATE TABLE access_log (
			id         bigserial PRIMARY KEY,
			at         timestamptz NOT NULL,
			request_id text   NOT NULL DEFAULT '',
			subject    text   NOT NULL,
			client     text   NOT NULL,
			unit       text   NOT NULL DEFAULT '',
			roles      text[] NOT NULL DEFAULT '{}',
			purposes   text[] NOT NULL DEFAULT '{}',
			operation  text   NOT NULL DEFAULT '',
			fields     text[] NOT NULL DEFAULT '{}',
			persons    text[] NOT NULL DEFAULT '{}',
			denied     text[] NOT NULL DEFAULT '{}',
			outcome    text   NOT NULL CHECK (outcome IN ('served', 'denied', 'partial')))`,
		`CREATE FUNCTION old_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'append-only'; END $$`,
		`CREATE TRIGGER old_no_update BEFORE UPDATE OR DELETE ON access_log FOR EACH ROW EXECUTE FUNCTION old_append_only()`,
		`INSERT INTO access_log (at, request_id, subject, client, outcome) VALUES ('2025-06-01T10:00:00Z', 'old', 'anna', 'preschool-app', 'served')`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("old table: %v", err)
		}
	}
	l, err := authz.NewPostgresAccessLog(ctx, dsn, "")
	if err != nil {
		t.Fatalf("migrating a table without entry_id: %v", err)
	}
	defer l.Close()
	e := alEntry(1)
	for range 2 {
		if err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	unnamed := alEntry(2)
	unnamed.ID = ""
	if err := l.Append(ctx, unnamed); err != nil {
		t.Fatal(err)
	}
	got, err := l.Query(ctx, authz.AccessQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byRequest := map[string][]string{}
	for _, g := range got {
		byRequest[g.RequestID] = append(byRequest[g.RequestID], g.ID)
	}
	if len(got) != 3 || !slices.Equal(byRequest["old"], []string{""}) || !slices.Equal(byRequest[e.RequestID], []string{e.ID}) ||
		len(byRequest[unnamed.RequestID]) != 1 || len(byRequest[unnamed.RequestID][0]) != 36 {
		t.Errorf("entries by request: %v; want old without an ID, %s once as %s, %s with a fresh UUID",
			byRequest, e.RequestID, e.ID, unnamed.RequestID)
	}
	if _, err := conn.Exec(ctx, "UPDATE access_log SET subject = 'x'"); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("UPDATE after the migration: %v, want the append-only exception", err)
	}
}

// TestAsyncAccessLogUnavailable: outstanding reservations, queued and
// spooled entries together never exceed the bound; beyond it Reserve and
// Append refuse with ErrAccessLogUnavailable, counted by Unavailable.
func TestAsyncAccessLogUnavailable(t *testing.T) {
	ctx := context.Background()
	t.Run("entries", func(t *testing.T) {
		store := &alMemLog{}
		store.fail.Store(true)
		spool := filepath.Join(t.TempDir(), "access.spool")
		a := alAsync(t, authz.AsyncAccessLogOptions{Store: store, SpoolPath: spool, Buffer: 2, SpoolMaxEntries: 3, RetryBackoff: noRetry})
		var tickets []*authz.AccessTicket
		for i := range 5 {
			tk, err := a.Reserve()
			if err != nil {
				t.Fatalf("Reserve %d of 5: %v", i+1, err)
			}
			tickets = append(tickets, tk)
		}
		for i, tk := range tickets[:3] {
			tk.Append(alEntry(i))
		}
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if a.Spooled() != 3 {
			t.Fatalf("Spooled = %d, want 3", a.Spooled())
		}
		if _, err := a.Reserve(); !errors.Is(err, authz.ErrAccessLogUnavailable) {
			t.Errorf("Reserve beyond the bound: %v, want ErrAccessLogUnavailable", err)
		}
		if err := a.Append(ctx, alEntry(9)); !errors.Is(err, authz.ErrAccessLogUnavailable) {
			t.Errorf("Append beyond the bound: %v, want ErrAccessLogUnavailable", err)
		}
		if a.Unavailable() != 2 {
			t.Errorf("Unavailable = %d, want 2", a.Unavailable())
		}

		tickets[3].Release() // nothing to log after all: the room is free again
		tickets[3].Release()
		tk, err := a.Reserve()
		if err != nil {
			t.Fatalf("Reserve after Release: %v", err)
		}
		if _, err := a.Reserve(); !errors.Is(err, authz.ErrAccessLogUnavailable) {
			t.Errorf("Reserve after a second Release: %v, want ErrAccessLogUnavailable", err)
		}
		tickets[4].Append(alEntry(4))
		tk.Append(alEntry(5))
		tk.Append(alEntry(6)) // a used ticket records nothing, and says so
		tickets[3].Append(alEntry(7))
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if a.Spooled() != 5 || a.Dropped() != 2 || a.Unavailable() != 3 {
			t.Errorf("Spooled %d, Dropped %d, Unavailable %d; want 5, 2, 3", a.Spooled(), a.Dropped(), a.Unavailable())
		}

		store.fail.Store(false)
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if a.Spooled() != 0 || len(store.requestIDs()) != 5 {
			t.Fatalf("after the store recovered: Spooled %d, stored %v; want 0 and 5 entries", a.Spooled(), store.requestIDs())
		}
		if _, err := a.Reserve(); err != nil {
			t.Errorf("Reserve once the spool drained: %v", err)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		store := &alMemLog{}
		store.fail.Store(true)
		a := alAsync(t, authz.AsyncAccessLogOptions{Store: store, Buffer: 2, SpoolMaxEntries: 100, SpoolMaxBytes: 1, RetryBackoff: noRetry})
		if err := a.Append(ctx, alEntry(1)); err != nil {
			t.Fatal(err)
		}
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// The spool is past its size: only the queue's two places are left.
		for i := range 2 {
			if _, err := a.Reserve(); err != nil {
				t.Fatalf("Reserve %d in the queue: %v", i+1, err)
			}
		}
		if _, err := a.Reserve(); !errors.Is(err, authz.ErrAccessLogUnavailable) || a.Unavailable() != 1 {
			t.Errorf("Reserve with a full spool and a full queue: %v, Unavailable %d; want ErrAccessLogUnavailable, 1", err, a.Unavailable())
		}
	})
	t.Run("closed", func(t *testing.T) {
		a := alAsync(t, authz.AsyncAccessLogOptions{Store: &alMemLog{}})
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := a.Reserve()
		if !errors.Is(err, authz.ErrAccessLogUnavailable) || !errors.Is(err, authz.ErrAccessLogClosed) || a.Unavailable() != 1 {
			t.Errorf("Reserve after Close: %v, Unavailable %d; want ErrAccessLogUnavailable and ErrAccessLogClosed, 1", err, a.Unavailable())
		}
	})
}

// A ticket dropped without Append or Release gives its room back when it is
// collected.
func TestAsyncAccessLogTicketLeak(t *testing.T) {
	a := alAsync(t, authz.AsyncAccessLogOptions{Store: &alMemLog{}, Buffer: 1, SpoolMaxEntries: 1})
	func() {
		for range 2 {
			if _, err := a.Reserve(); err != nil {
				t.Fatal(err)
			}
		}
	}()
	alEventually(t, "the leaked tickets' room comes back", func() bool {
		runtime.GC()
		tk, err := a.Reserve()
		if err != nil {
			return false
		}
		tk.Release()
		return true
	})
}

// A slow store does not slow Append: with the queue full, the entry goes to
// the spool at once, and on to the store when it is free.
func TestAsyncAccessLogSlowStore(t *testing.T) {
	ctx := context.Background()
	store := &alMemLog{started: make(chan struct{}, 1), gate: make(chan struct{})}
	a := alAsync(t, authz.AsyncAccessLogOptions{Store: store, Buffer: 1})
	if err := a.Append(ctx, alEntry(1)); err != nil { // the writer takes it and waits in the store
		t.Fatal(err)
	}
	<-store.started
	for i := 2; i <= 3; i++ { // the queue's one place, then the spool
		if err := a.Append(ctx, alEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if a.Spooled() != 1 {
		t.Errorf("Spooled = %d with the queue full, want 1", a.Spooled())
	}
	close(store.gate)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := store.requestIDs(); len(got) != 3 || a.Spooled() != 0 {
		t.Errorf("stored %v, Spooled %d; want r1, r2, r3 and 0", got, a.Spooled())
	}
}

// TestAsyncAccessLogSpoolJSONL: the file store too; the writer retries by
// its backoff alone, without Flush. A spool left by a crash after the
// drain is drained again at start without duplicating entries in the file,
// which is searched for the spooled IDs.
func TestAsyncAccessLogSpoolJSONL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, spool := filepath.Join(dir, "access.jsonl"), filepath.Join(dir, "access.jsonl.spool")
	jsonl, err := authz.NewJSONLAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	store := &alFlaky{AccessLog: jsonl}
	store.fail.Store(true)
	a := alAsync(t, authz.AsyncAccessLogOptions{Store: store, SpoolPath: spool,
		RetryBackoff: func(n int) time.Duration { return time.Millisecond << min(n, 6) }})
	const n = 20
	for i := range n {
		if err := a.Append(ctx, alEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Spooled() != n {
		t.Fatalf("Spooled = %d with the store failing, want %d", a.Spooled(), n)
	}
	left, err := os.ReadFile(spool)
	if err != nil {
		t.Fatal(err)
	}
	store.fail.Store(false)
	alEventually(t, "the writer retries and drains the spool", func() bool { return a.Spooled() == 0 })
	if err := a.Close(); err != nil { // closes the JSONL store too
		t.Fatal(err)
	}
	ids := alFileIDs(t, path)
	if len(ids) != n {
		t.Fatalf("file holds %d distinct IDs, want %d", len(ids), n)
	}

	fresh := alEntry(100)
	b, _ := json.Marshal(fresh)
	left = append(append(left, b...), '\n')
	ids[fresh.ID] = 1
	if err := os.WriteFile(spool, left, 0o600); err != nil {
		t.Fatal(err)
	}
	jsonl2, err := authz.NewJSONLAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	a2 := alAsync(t, authz.AsyncAccessLogOptions{Store: jsonl2, SpoolPath: spool})
	if err := a2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := alFileIDs(t, path); !alSameCounts(got, ids) {
		t.Errorf("after draining the left spool: IDs %v, want each of %v once", got, ids)
	}
}

// Close stores what it can and leaves the rest in the spool; an entry
// appended after Close on a ticket reserved before goes to the spool too.
// The next log drains all of it.
func TestAsyncAccessLogCloseKeepsSpool(t *testing.T) {
	ctx := context.Background()
	spool := filepath.Join(t.TempDir(), "access.spool")
	failing := &alMemLog{}
	failing.fail.Store(true)
	a := alAsync(t, authz.AsyncAccessLogOptions{Store: failing, SpoolPath: spool, RetryBackoff: noRetry,
		CloseTimeout: time.Second})
	late, err := a.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.Append(ctx, alEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	late.Append(alEntry(3))
	if got := alSpoolLines(t, spool); len(got) != 4 || a.Dropped() != 0 {
		t.Fatalf("after Close: %d spooled lines, Dropped %d; want 4, 0", len(got), a.Dropped())
	}

	working := &alMemLog{}
	a2 := alAsync(t, authz.AsyncAccessLogOptions{Store: working, SpoolPath: spool})
	if err := a2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := working.requestIDs(); !slices.Equal(got, []string{"r0", "r1", "r2", "r3"}) || a2.Spooled() != 0 {
		t.Errorf("the next log stored %v, Spooled %d; want r0..r3 in order, 0", got, a2.Spooled())
	}
}

// A damaged spool line in the middle (not a torn last line) is reported and
// counted, and does not stop the drain.
func TestAsyncAccessLogDamagedSpool(t *testing.T) {
	ctx := context.Background()
	spool := filepath.Join(t.TempDir(), "access.spool")
	var b []byte
	for i, line := range []string{"", "not json", ""} {
		if line == "" {
			j, _ := json.Marshal(alEntry(i))
			line = string(j)
		}
		b = append(b, line+"\n"...)
	}
	if err := os.WriteFile(spool, b, 0o600); err != nil {
		t.Fatal(err)
	}
	store := &alMemLog{}
	a := alAsync(t, authz.AsyncAccessLogOptions{Store: store, SpoolPath: spool})
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := store.requestIDs(); !slices.Equal(got, []string{"r0", "r2"}) || a.Dropped() != 1 || a.Spooled() != 0 {
		t.Errorf("stored %v, Dropped %d, Spooled %d; want r0 r2, 1, 0", got, a.Dropped(), a.Spooled())
	}
}

func alEntry(i int) authz.AccessEntry {
	return authz.AccessEntry{ID: authz.NewAccessEntryID(), Time: time.Date(2026, 3, 1, 10, 0, i, 0, time.UTC),
		RequestID: "r" + strconv.Itoa(i), Subject: "anna", Client: "preschool-app",
		Fields: []string{"Person.givenName"}, Persons: []string{"0123456789abcdef0123456789abcdef"}, Outcome: authz.OutcomeServed}
}

// alSpoolLines decodes the spool file; a line that does not decode fails the test.
func alSpoolLines(t *testing.T, path string) []authz.AccessEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []authz.AccessEntry
	for line := range bytes.Lines(b) {
		var e authz.AccessEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("spool line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// alRowIDs counts the rows of access_log per entry_id, read past the proxy.
func alRowIDs(t *testing.T, dsn string) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT coalesce(entry_id, '') FROM access_log")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, id := range ids {
		out[id]++
	}
	return out
}

// alFileIDs counts the entries of a JSON lines file per ID.
func alFileIDs(t *testing.T, path string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range alSpoolLines(t, path) {
		out[e.ID]++
	}
	return out
}

func alSameCounts(got, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for id, n := range want {
		if got[id] != n {
			return false
		}
	}
	return true
}

// alEventually polls cond until it holds, or fails the test after a
// deadline: for what happens on the writer's own schedule.
func alEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alMemLog is a store in memory that can fail, and hold its first Append
// until gate is closed.
type alMemLog struct {
	fail    atomic.Bool
	started chan struct{} // receives once when an Append waits at gate
	gate    chan struct{}
	mu      sync.Mutex
	entries []authz.AccessEntry
}

func (l *alMemLog) Append(_ context.Context, e authz.AccessEntry) error {
	if l.gate != nil {
		select {
		case l.started <- struct{}{}:
		default:
		}
		<-l.gate
	}
	if l.fail.Load() {
		return errors.New("store down")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	return nil
}

func (l *alMemLog) requestIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		out = append(out, e.RequestID)
	}
	return out
}

func (l *alMemLog) Query(context.Context, authz.AccessQuery) ([]authz.AccessEntry, error) {
	return nil, nil
}

func (l *alMemLog) Close() error { return nil }

// alFlaky makes another store fail while fail is set.
type alFlaky struct {
	authz.AccessLog
	fail atomic.Bool
}

func (l *alFlaky) Append(ctx context.Context, e authz.AccessEntry) error {
	if l.fail.Load() {
		return errors.New("store down")
	}
	return l.AccessLog.Append(ctx, e)
}

// alProxy stands between a pool and PostgreSQL, so that a test can stop
// the database for its pool alone: cut closes every connection and refuses
// new ones until restore.
type alProxy struct {
	dsn     string // dsn with the proxy's address
	ln      net.Listener
	network string
	target  string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newALProxy(t *testing.T, dsn string) *alProxy {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &alProxy{network: "tcp", target: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), conns: map[net.Conn]struct{}{}}
	if strings.HasPrefix(cfg.Host, "/") {
		p.network, p.target = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	if p.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(p.ln.Addr().String())
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = p.ln.Addr().String()
		q := u.Query()
		q.Del("host")
		q.Del("port")
		u.RawQuery = q.Encode()
		p.dsn = u.String()
	} else {
		p.dsn = dsn + " host=" + host + " port=" + port
	}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		p.ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *alProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *alProxy) serve(c net.Conn) {
	defer p.drop(c)
	up, err := net.Dial(p.network, p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.drop(up)
	done := make(chan struct{})
	go func() {
		io.Copy(up, c) //nolint:errcheck // ends when either side closes
		up.Close()
		close(done)
	}()
	io.Copy(c, up) //nolint:errcheck // ends when either side closes
	c.Close()
	<-done
}

func (p *alProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// cut stops the database for the proxy's clients.
func (p *alProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// restore lets clients connect again.
func (p *alProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
