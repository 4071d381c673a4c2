package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// Synthetic personnummer, valid by the Luhn rule.
const (
	alPerson1 = "201703142388"
	alPerson2 = "198506302390"
	alPerson3 = "196011227383"
)

var alKey = []byte("0123456789abcdef0123456789abcdef")

func alHasher(t testing.TB) *authz.PersonHasher {
	t.Helper()
	h, err := authz.NewPersonHasher(alKey)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func alPrincipal() *authz.Principal {
	return &authz.Principal{Subject: "anna", Client: "preschool-app", Unit: "Förskolenämnden",
		Roles: []string{"preschool-admin"}, Purposes: []string{"placements"}, Clearance: authz.Significant}
}

func TestPersonHasher(t *testing.T) {
	if _, err := authz.NewPersonHasher(alKey[:31]); err == nil {
		t.Error("NewPersonHasher accepted a 31-byte key")
	}
	h := alHasher(t)
	got := h.Hash(alPerson1)
	if len(got) != 32 || strings.Trim(got, "0123456789abcdef") != "" {
		t.Errorf("Hash = %q, want 32 lower-case hex digits", got)
	}
	for _, spelling := range []string{"20170314-2388", "20170314+2388", " 201703142388\n"} {
		if h.Hash(spelling) != got {
			t.Errorf("Hash(%q) differs from Hash(%q)", spelling, alPerson1)
		}
	}
	if h.Hash(alPerson2) == got {
		t.Error("two persons hash alike")
	}
	other, err := authz.NewPersonHasher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if other.Hash(alPerson1) == got {
		t.Error("two keys hash alike")
	}
	b64, err := authz.NewPersonHasherBase64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		t.Fatal(err)
	}
	if b64.Hash(alPerson1) != got {
		t.Error("NewPersonHasherBase64 does not decode to the same key")
	}
	for _, bad := range []string{"", "not base64!", "MDEyMzQ1Njc4OWFiY2RlZg=="} {
		if _, err := authz.NewPersonHasherBase64(bad); err == nil {
			t.Errorf("NewPersonHasherBase64(%q) accepted", bad)
		}
	}
}

func TestAccessRecorderEntry(t *testing.T) {
	h := alHasher(t)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name    string
		record  func(r *authz.AccessRecorder)
		ok      bool
		fields  []string
		persons []string
		denied  []string
		outcome string
	}{
		{name: "nothing", record: func(*authz.AccessRecorder) {}},
		{name: "non-personal only", record: func(r *authz.AccessRecorder) {
			r.Read("SchoolUnit.name", "")
			r.Read("Property.designation", "")
		}},
		{name: "served, deduped and sorted", record: func(r *authz.AccessRecorder) {
			for range 3 {
				r.Read("Person.surname", alPerson2)
				r.Read("Person.givenName", alPerson1)
				r.Read("Person.givenName", alPerson2)
				r.Read("SchoolUnit.name", "")
			}
		}, ok: true,
			fields:  []string{"Person.givenName", "Person.surname", "SchoolUnit.name"},
			persons: []string{h.Hash(alPerson1), h.Hash(alPerson2)}, outcome: authz.OutcomeServed},
		{name: "denied", record: func(r *authz.AccessRecorder) {
			r.Deny("Placement.specialDiet", "schoolUnits.edges.0.node.placements.edges.1.node.specialDiet")
			r.Deny("Placement.specialDiet", "schoolUnits.edges.0.node.placements.edges.0.node.specialDiet")
			r.Deny("Placement.specialDiet", "schoolUnits.edges.0.node.placements.edges.0.node.specialDiet")
		}, ok: true,
			denied: []string{
				"Placement.specialDiet@schoolUnits.edges.0.node.placements.edges.0.node.specialDiet",
				"Placement.specialDiet@schoolUnits.edges.0.node.placements.edges.1.node.specialDiet",
			}, outcome: authz.OutcomeDenied},
		{name: "partial", record: func(r *authz.AccessRecorder) {
			r.Read("Person.givenName", alPerson1)
			r.Deny("Placement.specialDiet", "person.placements.0.specialDiet")
		}, ok: true,
			fields: []string{"Person.givenName"}, persons: []string{h.Hash(alPerson1)},
			denied: []string{"Placement.specialDiet@person.placements.0.specialDiet"}, outcome: authz.OutcomePartial},
		{name: "denied, public data served", record: func(r *authz.AccessRecorder) {
			r.Read("SchoolUnit.name", "")
			r.Deny("Person.givenName", "person.givenName")
		}, ok: true,
			fields: []string{"SchoolUnit.name"}, denied: []string{"Person.givenName@person.givenName"},
			outcome: authz.OutcomePartial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := authz.NewAccessRecorder()
			tt.record(r)
			slices.Sort(tt.persons)
			e, ok := r.Entry(alPrincipal(), "req-1", "Overview", h, now)
			if ok != tt.ok {
				t.Fatalf("Entry ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if len(e.ID) != 36 {
				t.Errorf("entry ID %q, want a UUID", e.ID)
			}
			want := authz.AccessEntry{
				ID: e.ID, Time: now.UTC(), RequestID: "req-1", Subject: "anna", Client: "preschool-app",
				Unit: "Förskolenämnden", Roles: []string{"preschool-admin"}, Purposes: []string{"placements"},
				Operation: "Overview", Fields: tt.fields, Persons: tt.persons, Denied: tt.denied, Outcome: tt.outcome,
			}
			alEqual(t, []authz.AccessEntry{e}, []authz.AccessEntry{want})
		})
	}
}

// The recorder travels in the request's authorization state, not in the
// context of its own; a nil recorder is a no-op.
func TestAccessRecorderNil(t *testing.T) {
	var nilRec *authz.AccessRecorder
	nilRec.Read("Person.givenName", alPerson1) // no-ops, no panic
	nilRec.Deny("Person.givenName", "person.givenName")
	if _, ok := nilRec.Entry(alPrincipal(), "", "", alHasher(t), time.Now()); ok {
		t.Error("nil recorder has an entry")
	}
}

func TestAccessRecorderConcurrent(t *testing.T) {
	const goroutines, persons = 16, 200
	r := authz.NewAccessRecorder()
	pns := make([]string, persons)
	for i := range pns {
		pns[i] = fmt.Sprintf("19%010d", i) // not valid personnummer; the recorder does not care
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i, pn := range pns {
				r.Read("Person.givenName", pn)
				r.Read(fmt.Sprintf("Type%d.field", g%4), "")
				if i%50 == 0 {
					r.Deny("Placement.specialDiet", fmt.Sprintf("p.%d", i))
				}
			}
		})
	}
	// Entry may run while fields still resolve.
	h := alHasher(t)
	wg.Go(func() { r.Entry(alPrincipal(), "", "", h, time.Now()) })
	wg.Wait()
	e, ok := r.Entry(alPrincipal(), "", "", h, time.Now())
	if !ok {
		t.Fatal("no entry")
	}
	if len(e.Persons) != persons || len(e.Fields) != 5 || len(e.Denied) != persons/50 {
		t.Errorf("entry has %d persons, %d fields, %d denials; want %d, 5, %d",
			len(e.Persons), len(e.Fields), len(e.Denied), persons, persons/50)
	}
	if !slices.IsSorted(e.Persons) || !slices.IsSorted(e.Fields) || !slices.IsSorted(e.Denied) {
		t.Error("entry lists are not sorted")
	}
}

func TestAccessRecorderReadDoesNotAllocate(t *testing.T) {
	r := authz.NewAccessRecorder()
	field, pn := "Person.givenName", alPerson1
	r.Read(field, pn)
	if n := testing.AllocsPerRun(1000, func() { r.Read(field, pn); r.Read("SchoolUnit.name", "") }); n != 0 {
		t.Errorf("Read of a recorded pair allocates %v times, want 0", n)
	}
}

func BenchmarkAccessRecorderRead(b *testing.B) {
	pns := make([]string, 1000)
	for i := range pns {
		pns[i] = fmt.Sprintf("19%010d", i)
	}
	r := authz.NewAccessRecorder()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Read("Person.givenName", pns[i%len(pns)])
			i++
		}
	})
}

// TestAccessEntryHasNoClearPersonnummer checks the entry, and the bytes each
// store writes, for every spelling of the numbers read.
func TestAccessEntryHasNoClearPersonnummer(t *testing.T) {
	r := authz.NewAccessRecorder()
	for _, pn := range []string{alPerson1, alPerson2, "19601122-7383"} {
		r.Read("Person.personalNumber", pn)
		r.Read("Person.givenName", pn)
	}
	e, ok := r.Entry(alPrincipal(), "req-1", "", alHasher(t), time.Now())
	if !ok {
		t.Fatal("no entry")
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "access.jsonl")
	l, err := authz.NewJSONLAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, pn := range []string{alPerson1, alPerson2, alPerson3} {
		for _, s := range []string{pn, pn[:8] + "-" + pn[8:], pn[2:], pn[2:8] + "-" + pn[8:]} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("marshalled entry contains %s: %s", s, b)
			}
			if bytes.Contains(file, []byte(s)) {
				t.Errorf("JSON lines file contains %s", s)
			}
		}
	}
}

// alEntries is the suite's log: three persons, two subjects and two
// clients over a year, written in time order except for the last one.
func alEntries(h *authz.PersonHasher) []authz.AccessEntry {
	at := func(month, day int) time.Time { return time.Date(2026, time.Month(month), day, 9, 30, 0, 0, time.UTC) }
	p1, p2, p3 := h.Hash(alPerson1), h.Hash(alPerson2), h.Hash(alPerson3)
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	return []authz.AccessEntry{
		{Time: at(1, 10), RequestID: "r1", Subject: "anna", Client: "preschool-app", Unit: "Förskolenämnden",
			Roles: []string{"preschool-admin"}, Purposes: []string{"placements"}, Operation: "Overview",
			Fields: []string{"Person.givenName", "Placement.group"}, Persons: sorted(p1, p2), Outcome: authz.OutcomeServed},
		{Time: at(2, 1), RequestID: "r2", Subject: "bengt", Client: "bygglov-app",
			Roles: []string{"case-officer"}, Purposes: []string{"bygglov"},
			Fields: []string{"Person.surname"}, Persons: []string{p3}, Outcome: authz.OutcomeServed},
		{Time: at(3, 15), RequestID: "r3", Subject: "anna", Client: "preschool-app",
			Fields: []string{"Person.givenName"}, Persons: []string{p1},
			Denied: []string{"Placement.specialDiet@person.placements.0.specialDiet"}, Outcome: authz.OutcomePartial},
		{Time: at(6, 30), RequestID: "r4", Subject: "bengt", Client: "preschool-app",
			Denied: []string{"Person.givenName@person.givenName"}, Outcome: authz.OutcomeDenied},
		{Time: at(12, 31), RequestID: "r5", Subject: "anna", Client: "bygglov-app",
			Fields: []string{"Person.address"}, Persons: sorted(p1, p3), Outcome: authz.OutcomeServed},
		{Time: at(2, 20), RequestID: "r6", Subject: "bengt", Client: "bygglov-app",
			Fields: []string{"Person.givenName"}, Persons: []string{p1}, Outcome: authz.OutcomeServed},
	}
}

// testAccessLogQueries runs the same queries against any store.
func testAccessLogQueries(t *testing.T, l authz.AccessLog) {
	t.Helper()
	ctx := context.Background()
	h := alHasher(t)
	entries := alEntries(h)
	for i := range entries {
		entries[i].ID = authz.NewAccessEntryID()
	}
	for _, e := range entries {
		if err := l.Append(ctx, e); err != nil {
			t.Fatalf("Append %s: %v", e.RequestID, err)
		}
	}
	day := func(month, d int) time.Time { return time.Date(2026, time.Month(month), d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		q    authz.AccessQuery
		want []string // request ids, newest first
	}{
		{"all", authz.AccessQuery{}, []string{"r5", "r4", "r3", "r6", "r2", "r1"}},
		{"person", authz.AccessQuery{PersonHash: h.Hash(alPerson1)}, []string{"r5", "r3", "r6", "r1"}},
		{"person, dashed", authz.AccessQuery{PersonHash: h.Hash("20170314-2388")}, []string{"r5", "r3", "r6", "r1"}},
		{"person in period", authz.AccessQuery{PersonHash: h.Hash(alPerson1), From: day(2, 1), To: day(4, 1)}, []string{"r3", "r6"}},
		{"from inclusive", authz.AccessQuery{From: entries[1].Time, To: day(3, 1)}, []string{"r6", "r2"}},
		{"to exclusive", authz.AccessQuery{To: entries[1].Time}, []string{"r1"}},
		{"person and subject", authz.AccessQuery{PersonHash: h.Hash(alPerson1), Subject: "bengt"}, []string{"r6"}},
		{"subject", authz.AccessQuery{Subject: "anna"}, []string{"r5", "r3", "r1"}},
		{"client", authz.AccessQuery{Client: "preschool-app"}, []string{"r4", "r3", "r1"}},
		{"limit", authz.AccessQuery{PersonHash: h.Hash(alPerson1), Limit: 2}, []string{"r5", "r3"}},
		{"unknown person", authz.AccessQuery{PersonHash: alHasher(t).Hash("200001012380")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Query(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.RequestID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("Query returned %v, want %v", ids, tt.want)
			}
			var want []authz.AccessEntry
			for _, id := range tt.want {
				want = append(want, entries[slices.IndexFunc(entries, func(e authz.AccessEntry) bool { return e.RequestID == id })])
			}
			alEqual(t, got, want)
		})
	}
}

// alEqual compares entries field by field, through JSON so that times
// compare by instant and the message shows both sides.
func alEqual(t *testing.T, got, want []authz.AccessEntry) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("entries differ\n got: %s\nwant: %s", g, w)
	}
}

func TestJSONLAccessLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.jsonl")
	l, err := authz.NewJSONLAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	testAccessLogQueries(t, l)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), alEntries(alHasher(t))[0]); !errors.Is(err, authz.ErrAccessLogClosed) {
		t.Errorf("Append after Close: %v, want ErrAccessLogClosed", err)
	}

	// Reopening appends, and an entry being written by another process (no
	// newline yet) is not read.
	l2, err := authz.NewJSONLAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Append(context.Background(), authz.AccessEntry{Time: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), RequestID: "r7", Subject: "s", Outcome: "served"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"time":"2026-05-05T00:00:00Z","requestId":"r8"`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := l2.Query(context.Background(), authz.AccessQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 || got[0].RequestID != "r7" {
		t.Errorf("after reopening: %d entries, newest %q; want 7, r7", len(got), got[0].RequestID)
	}

	// After a crash the torn line is terminated on open, and reported by Query.
	l2.Close()
	l3, err := authz.NewJSONLAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if err := l3.Append(context.Background(), authz.AccessEntry{Time: time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), RequestID: "r9", Subject: "s", Outcome: "served"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l3.Query(context.Background(), authz.AccessQuery{}); err == nil || !strings.Contains(err.Error(), "line 8 ") {
		t.Errorf("Query of a damaged log: %v, want an error naming line 8", err)
	}
}

func TestPostgresAccessLog(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	ctx := context.Background()
	l, err := authz.NewPostgresAccessLog(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	// Setting up is idempotent: a second instance starts against the same table.
	l2, err := authz.NewPostgresAccessLog(ctx, dsn, "")
	if err != nil {
		t.Fatalf("second NewPostgresAccessLog: %v", err)
	}
	l2.Close()

	testAccessLogQueries(t, l)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"UPDATE access_log SET subject = 'someone-else'",
		"DELETE FROM access_log WHERE request_id = 'r1'",
		"TRUNCATE access_log",
	} {
		if _, err := conn.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error %v, want the append-only exception", stmt, err)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM access_log WHERE subject <> 'someone-else'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(alEntries(alHasher(t))) {
		t.Errorf("%d entries left unchanged, want %d", n, len(alEntries(alHasher(t))))
	}
}

// TestPostgresAccessLogSchema puts the table in a schema of its own, named
// by the schema argument, beside the test's schema.
func TestPostgresAccessLogSchema(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	ctx := context.Background()
	schema := fmt.Sprintf("kgtest_accesslog_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) }) // after the drop below
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	l, err := authz.NewPostgresAccessLog(ctx, dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(ctx, alEntries(alHasher(t))[0]); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "access_log"}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d rows in %s.access_log, want 1", n, schema)
	}
}

// alAsync starts an AsyncAccessLog on store with a spool in a temp dir
// and closes it at the end of the test.
func alAsync(t *testing.T, opts authz.AsyncAccessLogOptions) *authz.AsyncAccessLog {
	t.Helper()
	if opts.SpoolPath == "" {
		opts.SpoolPath = filepath.Join(t.TempDir(), "access.spool")
	}
	if opts.Logger == nil {
		opts.Logger = alLogger(t)
	}
	a, err := authz.NewAsyncAccessLog(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestAsyncAccessLog(t *testing.T) {
	ctx := context.Background()
	entries := alEntries(alHasher(t))
	path := filepath.Join(t.TempDir(), "access.jsonl")
	inner, err := authz.NewJSONLAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	a := alAsync(t, authz.AsyncAccessLogOptions{Store: inner})
	for _, e := range entries[:3] {
		if err := a.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := a.Query(ctx, authz.AccessQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("after Flush: %d entries, want 3", len(got))
	}
	for _, e := range got {
		if e.ID == "" {
			t.Errorf("entry %s stored without an ID", e.RequestID)
		}
	}

	// Close drains: everything appended before it is in the file.
	for range 500 {
		if err := a.Append(ctx, entries[3]); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := a.Append(ctx, entries[0]); !errors.Is(err, authz.ErrAccessLogClosed) || !errors.Is(err, authz.ErrAccessLogUnavailable) {
		t.Errorf("Append after Close: %v, want ErrAccessLogClosed and ErrAccessLogUnavailable", err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
	reopened, err := authz.NewJSONLAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	got, err = reopened.Query(ctx, authz.AccessQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range got {
		ids[e.ID] = true
	}
	if len(got) != 503 || len(ids) != 503 || a.Dropped() != 0 || a.Spooled() != 0 {
		t.Errorf("after Close: %d entries, %d IDs, %d dropped, %d spooled; want 503, 503, 0, 0",
			len(got), len(ids), a.Dropped(), a.Spooled())
	}
}

// A store that fails loses nothing: the entry waits in the spool.
func TestAsyncAccessLogStoreFailure(t *testing.T) {
	ctx := context.Background()
	inner := &alBlockingLog{release: make(chan struct{}), fail: errors.New("disk full")}
	close(inner.release)
	var logged testenv.LogBuffer
	spool := filepath.Join(t.TempDir(), "access.spool")
	a := alAsync(t, authz.AsyncAccessLogOptions{Store: inner, Buffer: 8, SpoolPath: spool,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err := a.Append(ctx, authz.AccessEntry{RequestID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Dropped() != 0 || a.Spooled() != 1 {
		t.Errorf("Dropped = %d, Spooled = %d; want 0, 1", a.Dropped(), a.Spooled())
	}
	if got := alSpoolLines(t, spool); len(got) != 1 || got[0].RequestID != "r1" || got[0].ID == "" {
		t.Errorf("spool holds %+v, want r1 with an ID", got)
	}
	if !strings.Contains(logged.String(), "disk full") {
		t.Errorf("store failure not logged: %q", logged.String())
	}
}

// alBlockingLog is a store whose Append waits for release.
type alBlockingLog struct {
	started  chan struct{}
	release  chan struct{}
	fail     error
	appended int // only the writer goroutine touches it before Close returns
}

func (l *alBlockingLog) Append(context.Context, authz.AccessEntry) error {
	if l.started != nil {
		select {
		case l.started <- struct{}{}:
		default:
		}
	}
	<-l.release
	if l.fail != nil {
		return l.fail
	}
	l.appended++
	return nil
}

func (l *alBlockingLog) Query(context.Context, authz.AccessQuery) ([]authz.AccessEntry, error) {
	return nil, nil
}

func (l *alBlockingLog) Close() error { return nil }

func alLogger(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, nil))
}

// tWriter logs to the test while it runs. A line logged after it ended
// (a dropped ticket's cleanup runs when the collector gets to it, maybe
// during a later test) goes to stderr: t.Log then would race with the
// test's end.
type tWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return os.Stderr.Write(p)
	}
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestParseAccessTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		end  bool
		want string
	}{
		{"", false, "0001-01-01T00:00:00Z"},
		{"2026-12-01", false, "2026-11-30T23:00:00Z"}, // midnight in Stockholm (CET)
		{"2026-12-01", true, "2026-12-01T23:00:00Z"},  // the whole day, To exclusive
		{"2026-07-01", false, "2026-06-30T22:00:00Z"}, // CEST
		{"2026-12-01T10:00:00Z", true, "2026-12-01T10:00:00Z"},
	} {
		got, err := authz.ParseAccessTime(tc.in, tc.end)
		if err != nil || got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("ParseAccessTime(%q, %v) = %v, %v; want %s", tc.in, tc.end, got.UTC(), err, tc.want)
		}
	}
	if _, err := authz.ParseAccessTime("1 dec", false); err == nil {
		t.Error("a malformed date parsed")
	}
}

// TestAccessLogSearchesOfTheLog: an entry that records a search of the log
// is left out of a search unless IncludeSearches asks for it, in the file
// store and in PostgreSQL (test named for CI's integration filter).
func TestAccessLogSearchesOfTheLogPostgres(t *testing.T) {
	ctx := context.Background()
	file, err := authz.NewJSONLAccessLog(filepath.Join(t.TempDir(), "access.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	pg, err := authz.NewPostgresAccessLog(ctx, testenv.PostgresURL(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	h := alHasher(t)
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	read := authz.AccessEntry{Time: at, RequestID: "read", Subject: "anna", Client: "bygglov-app",
		Fields: []string{"Person.address"}, Persons: []string{h.Hash(alPerson1)}, Outcome: authz.OutcomeServed}
	search := authz.AccessEntry{Time: at.Add(time.Hour), RequestID: "search", Subject: "sigrid", Client: "policy-editor",
		Operation: authz.OperationAccessLogSearch, Fields: []string{authz.FieldAccessLogSearch},
		Persons: []string{h.Hash(alPerson1)}, Outcome: authz.OutcomeServed}
	for name, l := range map[string]authz.AccessLog{"file": file, "postgres": pg} {
		t.Run(name, func(t *testing.T) {
			for _, e := range []authz.AccessEntry{read, search} {
				e.ID = authz.NewAccessEntryID()
				if err := l.Append(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				q    authz.AccessQuery
				want []string
			}{
				{authz.AccessQuery{PersonHash: h.Hash(alPerson1)}, []string{"read"}},
				{authz.AccessQuery{PersonHash: h.Hash(alPerson1), IncludeSearches: true}, []string{"search", "read"}},
				{authz.AccessQuery{Subject: "sigrid"}, nil},
				{authz.AccessQuery{Subject: "sigrid", IncludeSearches: true}, []string{"search"}},
			} {
				got, err := l.Query(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, e := range got {
					ids = append(ids, e.RequestID)
				}
				if !slices.Equal(ids, tc.want) {
					t.Errorf("%+v: %v, want %v", tc.q, ids, tc.want)
				}
			}
		})
	}
}
