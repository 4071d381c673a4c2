package authz

// The GDPR access log (loggning av åtkomst): every GraphQL response that
// contains personal data, and every denial, leaves one AccessEntry, so that
// security staff can answer "who read this person's data in this period".
//
// The log never holds a personnummer in clear text. Persons are stored as
// keyed hashes (HMAC-SHA256 with a secret key); staff search by giving the
// personnummer, which the query tool hashes with the same key. Without the
// key the hashes cannot be reversed by enumerating the (small) space of valid
// personnummer.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // Swedish dates wherever the gateway runs

	"github.com/google/uuid"
	"github.com/maypok86/otter/v2"
)

// Stockholm is the municipality's time zone: a date in a question to the
// access log is a Swedish date wherever the gateway or the CLI runs (the
// zone data is embedded, so loading it cannot fail).
var Stockholm = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		panic("authz: embedded tzdata lacks Europe/Stockholm: " + err.Error())
	}
	return loc
}()

// ParseAccessTime parses the from or to bound of an access log question: a
// date YYYY-MM-DD is a day in Swedish time, and as the end bound it includes
// that whole day (AccessQuery.To is exclusive); an RFC 3339 instant is taken
// as it is; "" is no bound.
func ParseAccessTime(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, Stockholm)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date YYYY-MM-DD nor an RFC 3339 time", s)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// Outcomes of a request, as recorded in AccessEntry.Outcome.
const (
	// OutcomeServed: everything asked for was served.
	OutcomeServed = "served"
	// OutcomeDenied: fields were denied and nothing was read.
	OutcomeDenied = "denied"
	// OutcomePartial: some fields were denied, others were served.
	OutcomePartial = "partial"
)

// AccessEntry is one request's record in the access log.
type AccessEntry struct {
	// ID names the entry uniquely (a random UUID), so that an entry written
	// twice, as a spool drained again after a crash may do, is stored once.
	// AccessRecorder.Entry and every Append assign one if it is empty.
	// Entries written before IDs existed have none.
	ID string `json:"id"`
	// Time is when the response was produced (UTC once stored).
	Time time.Time `json:"time"`
	// RequestID correlates the entry with the gateway's request logs.
	RequestID string `json:"requestId,omitempty"`
	// Subject, Client, Unit, Roles and Purposes are copied from the Principal.
	Subject  string   `json:"subject"`
	Client   string   `json:"client"`
	Unit     string   `json:"unit,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Purposes []string `json:"purposes,omitempty"`
	// Operation is the GraphQL operation name, if any.
	Operation string `json:"operation,omitempty"`
	// OperationID is the registered operation's id (graph/operations),
	// when the request ran one.
	OperationID string `json:"operationId,omitempty"`
	// Fields are the fields served, as "Type.field", sorted and deduplicated.
	Fields []string `json:"fields,omitempty"`
	// Persons are the keyed hashes (PersonHasher) of the persons whose data
	// was served, sorted and deduplicated. Never a personnummer.
	Persons []string `json:"persons,omitempty"`
	// Denied are the FORBIDDEN fields as "Type.field@path", sorted and
	// deduplicated.
	Denied []string `json:"denied,omitempty"`
	// Outcome is OutcomeServed, OutcomeDenied or OutcomePartial.
	Outcome string `json:"outcome"`
}

// MinPersonHashKeyLen is the shortest key NewPersonHasher accepts: the full
// strength of HMAC-SHA256.
const MinPersonHashKeyLen = 32

// personHashHexLen is the length of a stored person hash: 128 bits of the
// HMAC, ample against collisions among a municipality's residents, and half
// the size in a log that repeats them for every read.
const personHashHexLen = 32

// PersonHasher turns a personnummer into the keyed hash the access log
// stores. It is safe for concurrent use.
type PersonHasher struct {
	key []byte
	// memo remembers recent hashes: a response names hundreds of persons,
	// and the same persons recur across requests. It holds personnummer
	// only in memory, as the record cache does.
	memo *otter.Cache[string, string]
}

// personHashMemo bounds the hasher's memo (about 10 MB at most).
const personHashMemo = 100_000

// NewPersonHasher returns a hasher with key, which must be at least
// MinPersonHashKeyLen bytes of secret, random data. The key is copied.
func NewPersonHasher(key []byte) (*PersonHasher, error) {
	if len(key) < MinPersonHashKeyLen {
		return nil, fmt.Errorf("authz: access log hash key is %d bytes, want at least %d", len(key), MinPersonHashKeyLen)
	}
	memo, err := otter.New(&otter.Options[string, string]{MaximumSize: personHashMemo})
	if err != nil {
		return nil, fmt.Errorf("authz: person hash memo: %w", err)
	}
	return &PersonHasher{key: bytes.Clone(key), memo: memo}, nil
}

// NewPersonHasherBase64 is NewPersonHasher for a key given as standard
// base64 (padded or not), the form it takes in an environment variable.
func NewPersonHasherBase64(s string) (*PersonHasher, error) {
	s = strings.TrimSpace(s)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		var err2 error
		if key, err2 = base64.RawStdEncoding.DecodeString(s); err2 != nil {
			return nil, fmt.Errorf("authz: access log hash key is not base64: %w", err)
		}
	}
	return NewPersonHasher(key)
}

// Hash returns the hex keyed hash of a personnummer. The separator of
// YYYYMMDD-NNNC (or +) is removed first, so both spellings of a number hash
// alike; callers that accept input from people should validate it first
// (sources/model.ParsePersonalNumber).
func (h *PersonHasher) Hash(personnummer string) string {
	s := strings.TrimSpace(personnummer)
	if len(s) == 13 && (s[8] == '-' || s[8] == '+') {
		s = s[:8] + s[9:]
	}
	if v, ok := h.memo.GetIfPresent(s); ok {
		return v
	}
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(s))
	var sum [sha256.Size]byte
	v := hex.EncodeToString(m.Sum(sum[:0]))[:personHashHexLen]
	h.memo.Set(s, v)
	return v
}

// AccessRecorder collects what one request read and was denied. The
// authorization middleware calls Read and Deny as fields resolve, which
// happens concurrently; the response path calls Entry once at the end. All
// methods are safe for concurrent use, and no-ops on a nil *AccessRecorder, so
// code paths without an access log need no checks.
type AccessRecorder struct {
	// fields and persons are recorded from many goroutines at once (every
	// element of a list), so they are sharded sets: little contention, and
	// no allocation for a key already recorded.
	fields  shardedSet // "Type.field"
	persons shardedSet // clear personnummer: only in memory, hashed by Entry
	mu      sync.Mutex
	denied  map[string]struct{}
}

// NewAccessRecorder returns an empty recorder for one request.
func NewAccessRecorder() *AccessRecorder {
	return &AccessRecorder{denied: map[string]struct{}{}, fields: newShardedSet(), persons: newShardedSet()}
}

// Read records that field ("Type.field") was served, about the person with
// personnummer, or about no person if personnummer is "". It is called for
// every personal field of every list element, so it takes one lock and, for a
// pair already recorded, does not allocate.
func (r *AccessRecorder) Read(field, personnummer string) {
	if r == nil {
		return
	}
	r.fields.add(field)
	if personnummer != "" {
		r.persons.add(personnummer)
	}
}

// ReadPerson records that data about the person with personnummer was
// served (Read records the field).
func (r *AccessRecorder) ReadPerson(personnummer string) {
	if r == nil || personnummer == "" {
		return
	}
	r.persons.add(personnummer)
}

// Deny records that field ("Type.field") was refused (FORBIDDEN) at path.
func (r *AccessRecorder) Deny(field, path string) {
	if r == nil {
		return
	}
	k := field + "@" + path
	r.mu.Lock()
	r.denied[k] = struct{}{}
	r.mu.Unlock()
}

// Entry builds the request's log entry; false means there is nothing to log:
// no person's data was read and nothing was denied. h must not be nil: the
// clear personnummer never leaves the recorder.
func (r *AccessRecorder) Entry(p *Principal, requestID, operation string, h *PersonHasher, now time.Time) (AccessEntry, bool) {
	if r == nil {
		return AccessEntry{}, false
	}
	if p == nil {
		p = AnonymousPrincipal()
	}
	persons := r.persons.keys()
	r.mu.Lock()
	denied := sortedKeys(r.denied)
	r.mu.Unlock()
	if len(persons) == 0 && len(denied) == 0 {
		return AccessEntry{}, false
	}
	fields := r.fields.keys()

	if len(persons) > 0 && h == nil {
		panic("authz: AccessRecorder.Entry needs a PersonHasher")
	}
	// Hashing maps distinct numbers to distinct hashes (bar a 2^-128
	// collision), but sort and compact anyway: the stored order is the hashes'.
	for i, pn := range persons {
		persons[i] = h.Hash(pn)
	}
	slices.Sort(persons)
	persons = slices.Compact(persons)

	outcome := OutcomeServed
	switch {
	case len(denied) > 0 && len(fields) == 0:
		outcome = OutcomeDenied
	case len(denied) > 0:
		outcome = OutcomePartial
	}
	return AccessEntry{
		ID:        NewAccessEntryID(),
		Time:      now.UTC(),
		RequestID: requestID,
		Subject:   p.Subject,
		Client:    p.Client,
		Unit:      p.Unit,
		Roles:     slices.Clone(p.Roles),
		Purposes:  slices.Clone(p.Purposes),
		Operation: operation,
		Fields:    fields,
		Persons:   persons,
		Denied:    denied,
		Outcome:   outcome,
	}, true
}

// NewAccessEntryID returns a fresh AccessEntry.ID: a random (version 4) UUID.
func NewAccessEntryID() string { return uuid.NewString() }

// withID returns e with an ID, assigning a fresh one if it has none.
func withID(e AccessEntry) AccessEntry {
	if e.ID == "" {
		e.ID = NewAccessEntryID()
	}
	return e
}

// shardedSet is a set of strings safe for concurrent use, split over
// shards by hash so that concurrent adds rarely meet on one lock.
type shardedSet struct {
	seed   maphash.Seed
	shards *[16]setShard
}

type setShard struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func newShardedSet() shardedSet {
	s := shardedSet{seed: maphash.MakeSeed(), shards: new([16]setShard)}
	for i := range s.shards {
		s.shards[i].m = map[string]struct{}{}
	}
	return s
}

func (s shardedSet) add(k string) {
	sh := &s.shards[maphash.String(s.seed, k)%uint64(len(s.shards))]
	sh.mu.Lock()
	if _, ok := sh.m[k]; !ok {
		sh.m[k] = struct{}{}
	}
	sh.mu.Unlock()
}

// keys returns the members sorted, or nil for an empty set.
func (s shardedSet) keys() []string {
	var out []string
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k := range sh.m {
			out = append(out, k)
		}
		sh.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

// sortedKeys returns the keys of m sorted, or nil when m is empty.
func sortedKeys(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

// DefaultAccessQueryLimit is the number of entries a query returns when
// AccessQuery.Limit is not set.
const DefaultAccessQueryLimit = 1000

// AccessQuery selects entries from an AccessLog. Zero values do not filter.
type AccessQuery struct {
	// PersonHash selects entries that read this person (PersonHasher.Hash).
	PersonHash string
	// Subject and Client select entries of this subject and client.
	Subject string
	Client  string
	// From (inclusive) and To (exclusive) bound the entry's Time.
	From time.Time
	To   time.Time
	// Limit caps the result, newest first; 0 means DefaultAccessQueryLimit.
	Limit int
	// IncludeSearches also selects the entries that record searches of the
	// access log itself (OperationAccessLogSearch): who looked a person up
	// in the log. Without it a search answers with reads of data only.
	IncludeSearches bool
}

// OperationAccessLogSearch is the Operation of the entry that a search of
// the access log leaves: the search is itself a look at the person (it
// shows which units and purposes read them), so it is logged like a read,
// Persons naming the person searched for, Fields FieldAccessLogSearch.
const (
	OperationAccessLogSearch = "access-log search"
	FieldAccessLogSearch     = "AccessLog.search"
)

func (q AccessQuery) limit() int {
	if q.Limit <= 0 {
		return DefaultAccessQueryLimit
	}
	return q.Limit
}

// match is the query as a predicate, for stores that scan.
func (q AccessQuery) match(e *AccessEntry) bool {
	return (q.PersonHash == "" || slices.Contains(e.Persons, q.PersonHash)) &&
		(q.Subject == "" || e.Subject == q.Subject) &&
		(q.Client == "" || e.Client == q.Client) &&
		(q.From.IsZero() || !e.Time.Before(q.From)) &&
		(q.To.IsZero() || e.Time.Before(q.To)) &&
		(q.IncludeSearches || e.Operation != OperationAccessLogSearch)
}

// AccessLog stores access entries. Stores are append-only: there is no way to
// change or remove an entry through this interface.
type AccessLog interface {
	// Append stores one entry.
	Append(ctx context.Context, e AccessEntry) error
	// Query returns the entries matching q, newest first.
	Query(ctx context.Context, q AccessQuery) ([]AccessEntry, error)
	// Close releases the store.
	Close() error
}

// ErrAccessLogClosed is returned by Append on a closed log.
var ErrAccessLogClosed = errors.New("authz: access log is closed")

// JSONLAccessLog is an AccessLog in an append-only file of JSON lines, one
// entry per line: for a single gateway instance, and for development. Writes
// are serialised, each entry is a single write(2), and the file is opened
// O_APPEND, so several processes may append to the same file.
type JSONLAccessLog struct {
	path string
	mu   sync.Mutex // serialises writes, and orders Query's size snapshot after them
	f    *os.File
	// torn is set when a write failed and may have left part of a line:
	// the next write ends that line first, so the retried entry (the
	// AsyncAccessLog retries) stands on a line of its own.
	torn bool
}

// NewJSONLAccessLog opens (creating with mode 0600) the access log file at path.
func NewJSONLAccessLog(path string) (*JSONLAccessLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("authz: open access log: %w", err)
	}
	if err := terminateTornLine(path, f); err != nil {
		f.Close()
		return nil, err
	}
	return &JSONLAccessLog{path: path, f: f}, nil
}

// terminateTornLine ends a last line left without its newline by a crash, so
// that the entries appended after it stay on lines of their own. The torn
// line itself is reported by Query.
func terminateTornLine(path string, w *os.File) error {
	r, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("authz: open access log: %w", err)
	}
	defer r.Close()
	fi, err := r.Stat()
	if err != nil {
		return fmt.Errorf("authz: access log %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return nil
	}
	last := make([]byte, 1)
	if _, err := r.ReadAt(last, fi.Size()-1); err != nil {
		return fmt.Errorf("authz: access log %s: %w", path, err)
	}
	if last[0] == '\n' {
		return nil
	}
	if _, err := w.Write([]byte{'\n'}); err != nil {
		return fmt.Errorf("authz: access log %s: terminate torn line: %w", path, err)
	}
	return nil
}

// Append writes e as one line, with a fresh ID if it has none.
//
// It does not look for e.ID in the file: within a process an entry is only
// written again after a write that failed, which stored no complete line.
// Entries that a crash may have stored already are those of a spool left
// behind, and the AsyncAccessLog asks heldIDs about those before it drains.
func (l *JSONLAccessLog) Append(_ context.Context, e AccessEntry) error {
	e = withID(e)
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("authz: access log: encode entry: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrAccessLogClosed
	}
	if l.torn {
		if err := terminateTornLine(l.path, l.f); err != nil {
			return err
		}
		l.torn = false
	}
	if _, err := l.f.Write(b); err != nil {
		l.torn = true
		return fmt.Errorf("authz: access log %s: append: %w", l.path, err)
	}
	return nil
}

// heldIDs implements accessIDLookup by reading the whole file once: it is
// asked only when a spool is left from an earlier process.
func (l *JSONLAccessLog) heldIDs(ctx context.Context, ids map[string]struct{}) (map[string]struct{}, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("authz: access log: %w", err)
	}
	defer f.Close()
	held := map[string]struct{}{}
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return held, nil // an unterminated last line is no stored entry
		}
		if err != nil {
			return nil, fmt.Errorf("authz: access log %s: %w", l.path, err)
		}
		var v struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(line, &v) != nil || v.ID == "" {
			continue // a damaged line holds no entry; Query reports it
		}
		if _, ok := ids[v.ID]; ok {
			held[v.ID] = struct{}{}
		}
	}
}

// Query scans the file. A line that does not decode is an error naming the
// line: an access log that is damaged must say so, not answer partially. A
// last line without its newline is a write in progress (by another process)
// and is not read.
func (l *JSONLAccessLog) Query(ctx context.Context, q AccessQuery) ([]AccessEntry, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("authz: access log: %w", err)
	}
	defer f.Close()
	// Every Append that returned before this point is complete within size.
	l.mu.Lock()
	fi, err := f.Stat()
	l.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("authz: access log %s: %w", l.path, err)
	}
	var out []AccessEntry
	r := bufio.NewReaderSize(io.LimitReader(f, fi.Size()), 64<<10)
	for n := 1; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // an unterminated last line is still being written
		}
		if err != nil {
			return nil, fmt.Errorf("authz: access log %s: %w", l.path, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var e AccessEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("authz: access log %s line %d is damaged: %w", l.path, n, err)
		}
		if q.match(&e) {
			out = append(out, e)
		}
	}
	sortNewestFirst(out)
	if lim := q.limit(); len(out) > lim {
		out = out[:lim:lim]
	}
	return out, nil
}

// sortNewestFirst orders entries by time, newest first; entries of the same
// time keep their file order reversed, i.e. the later-written first.
func sortNewestFirst(es []AccessEntry) {
	slices.Reverse(es)
	slices.SortStableFunc(es, func(a, b AccessEntry) int { return b.Time.Compare(a.Time) })
}

// Close closes the file.
func (l *JSONLAccessLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("authz: access log %s: close: %w", l.path, err)
	}
	return nil
}

// Defaults of AsyncAccessLog.
const (
	// DefaultAccessLogBuffer is the in-memory queue length when none is given.
	DefaultAccessLogBuffer = 4096
	// DefaultAccessLogSpoolEntries bounds the spool when no bound is given.
	DefaultAccessLogSpoolEntries = 100_000
	// DefaultAccessLogSpoolBytes bounds the spool's size when none is given.
	DefaultAccessLogSpoolBytes = 64 << 20
	// DefaultAccessLogCloseTimeout is how long Close keeps writing to the
	// store when no timeout is given.
	DefaultAccessLogCloseTimeout = 5 * time.Second
	// accessLogWriteTimeout bounds one write to the inner store.
	accessLogWriteTimeout = 10 * time.Second
	// accessLogDrainChunk is how many spooled entries the writer stores
	// between two looks at the queue, whose newer entries it then spools
	// behind them.
	accessLogDrainChunk = 256
)

// ErrAccessLogUnavailable is returned by Reserve (and by AsyncAccessLog's
// Append) when the log cannot promise to record one more access: its queue
// and its spool are full, or it is closed. Personal data must not be served
// then.
var ErrAccessLogUnavailable = errors.New("authz: access log unavailable: no room to record an access")

// errAccessLogShut is what Reserve returns on a closed log: errors.Is finds
// both ErrAccessLogUnavailable and ErrAccessLogClosed in it.
var errAccessLogShut = fmt.Errorf("%w: %w", ErrAccessLogUnavailable, ErrAccessLogClosed)

// DefaultAccessLogBackoff is the wait before the next attempt after the
// store failed failures times in a row: 250 ms, doubling up to 30 s.
func DefaultAccessLogBackoff(failures int) time.Duration {
	d := 250 * time.Millisecond
	for i := 1; i < failures && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// AsyncAccessLogOptions configures NewAsyncAccessLog.
type AsyncAccessLogOptions struct {
	// Store is where entries end up (a PostgresAccessLog or a
	// JSONLAccessLog). Required; Close closes it.
	Store AccessLog
	// SpoolPath is the local file that holds entries while the store
	// fails: JSON lines, each synced to disk before its entry counts as
	// accepted, drained into the store in order when it answers again and
	// emptied then. A spool left by an earlier process is drained at start.
	// Required. One process per file: two gateways must not share a spool.
	SpoolPath string
	// Buffer is the in-memory queue's length (DefaultAccessLogBuffer if
	// <= 0). When it is full because the store is slow, Append writes the
	// entry to the spool itself.
	Buffer int
	// SpoolMaxEntries bounds the entries the log holds besides the queue
	// (DefaultAccessLogSpoolEntries if <= 0): outstanding reservations,
	// queued and spooled entries together never exceed Buffer +
	// SpoolMaxEntries, and Reserve refuses beyond that.
	SpoolMaxEntries int
	// SpoolMaxBytes bounds the spool's waiting entries in bytes
	// (DefaultAccessLogSpoolBytes if <= 0). Once they reach it, Reserve
	// promises only room in the queue. The entries already promised may take
	// the spool past it by their own size, at most Buffer entries plus the
	// requests in flight.
	SpoolMaxBytes int64
	// RetryBackoff is the wait before the next attempt after the store
	// failed failures (>= 1) times in a row (DefaultAccessLogBackoff if nil).
	// Flush and Close try the store at once regardless.
	RetryBackoff func(failures int) time.Duration
	// CloseTimeout bounds how long Close keeps writing to the store
	// (DefaultAccessLogCloseTimeout if <= 0); what is left stays in the
	// spool for the next start.
	CloseTimeout time.Duration
	// Logger receives the errors (slog.Default() if nil).
	Logger *slog.Logger
}

func (o *AsyncAccessLogOptions) defaults() {
	if o.Buffer <= 0 {
		o.Buffer = DefaultAccessLogBuffer
	}
	if o.SpoolMaxEntries <= 0 {
		o.SpoolMaxEntries = DefaultAccessLogSpoolEntries
	}
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = DefaultAccessLogSpoolBytes
	}
	if o.RetryBackoff == nil {
		o.RetryBackoff = DefaultAccessLogBackoff
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultAccessLogCloseTimeout
	}
	o.Logger = cmp.Or(o.Logger, slog.Default())
}

// AccessReserver is an access log that promises room for an entry before
// the data it records is served: AsyncAccessLog.
type AccessReserver interface {
	// Reserve promises room for one entry, or returns an error wrapping
	// ErrAccessLogUnavailable.
	Reserve() (*AccessTicket, error)
}

// AsyncAccessLog puts a queue, a local spool and one writer goroutine in
// front of another AccessLog, so that the request path never waits on the
// store and no entry is lost when the store fails.
//
// The enforcement reserves room (Reserve) before it serves the first
// personal field of a response, and appends the entry on the ticket at the
// end; a reservation is refused, and the data not served, only when the
// queue and the spool are full. The writer stores queued entries; when the
// store fails it spools them (synced to disk) and retries the store with
// backoff, then drains the spool in order. Entries carry unique IDs that
// the stores ignore when they hold them already, so a spool drained again
// after a crash stores nothing twice.
type AsyncAccessLog struct {
	opts  AsyncAccessLogOptions
	inner AccessLog
	log   *slog.Logger
	spool *accessSpool
	limit int // Buffer + SpoolMaxEntries

	mu       sync.Mutex // never held across I/O, so Reserve never waits for a disk or a database
	closed   bool       // Reserve refuses
	stopped  bool       // the writer has taken its last look at fifo: Append spools itself
	used     int        // reservations + queued + in the writer's hands + spooled
	fifo     []AccessEntry
	flushes  []chan struct{}
	refusing bool // the last Reserve was refused: log the change only

	wake    chan struct{} // capacity 1: work for the writer
	closing chan struct{}
	done    chan struct{} // closed when the writer has finished

	// The writer goroutine's own state.
	down     bool // the store failed and has not answered since
	due      bool // the backoff after a failure has passed
	failures int
	retry    *time.Timer
	retryC   <-chan time.Time
	skipIDs  map[string]struct{} // IDs of a left spool that the store holds already

	dropped     atomic.Uint64
	unavailable atomic.Uint64
	closeOnce   sync.Once
	closeErr    error
}

// NewAsyncAccessLog opens (creating with mode 0600) the spool, starts the
// writer, which first drains what an earlier process left in the spool, and
// returns the log. Close it to write what is queued and close the store. On
// error the store is left open.
func NewAsyncAccessLog(opts AsyncAccessLogOptions) (*AsyncAccessLog, error) {
	if opts.Store == nil {
		return nil, errors.New("authz: access log: no store")
	}
	if opts.SpoolPath == "" {
		return nil, errors.New("authz: access log: no spool path: entries the store refuses would be lost")
	}
	opts.defaults()
	sp, err := openAccessSpool(opts.SpoolPath)
	if err != nil {
		return nil, err
	}
	a := &AsyncAccessLog{
		opts:    opts,
		inner:   opts.Store,
		log:     opts.Logger,
		spool:   sp,
		limit:   opts.Buffer + opts.SpoolMaxEntries,
		used:    int(sp.pending.Load()),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if a.used > 0 {
		a.log.Warn("access log: draining the spool an earlier process left", "spool", sp.path, "entries", a.used)
		a.signal()
	}
	go a.run()
	return a, nil
}

// AccessTicket is the room Reserve promised for one entry. Exactly one of
// Append and Release should be called on it; a ticket dropped without
// either is released when it is garbage collected, and logged.
type AccessTicket struct{ s *ticketState }

// ticketState is apart from the ticket so that the ticket's cleanup can
// reach it without keeping the ticket alive.
type ticketState struct {
	a     *AsyncAccessLog
	state atomic.Uint32
}

const (
	ticketOpen uint32 = iota
	ticketAppended
	ticketReleased
)

// Reserve promises room for one entry, in the queue or the spool. It never
// waits for the store or the disk. The error wraps ErrAccessLogUnavailable
// when the queue and the spool are full (and Unavailable counts it), and
// also ErrAccessLogClosed after Close.
func (a *AsyncAccessLog) Reserve() (*AccessTicket, error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.unavailable.Add(1)
		return nil, errAccessLogShut
	}
	if !a.roomLocked() {
		first := !a.refusing
		a.refusing = true
		used := a.used
		a.mu.Unlock()
		n := a.unavailable.Add(1)
		if first {
			a.log.Error("access log: queue and spool are full: responses with personal data are refused",
				"waiting", used, "spooled", a.spool.pending.Load(), "spool_bytes", a.spool.pendingBytes.Load(),
				"spool", a.spool.path, "unavailable_total", n)
		}
		return nil, fmt.Errorf("%w (%d entries waiting, at most %d)", ErrAccessLogUnavailable, used, a.limit)
	}
	a.used++
	if a.refusing {
		a.refusing = false
		a.log.Warn("access log: room again: responses with personal data are served")
	}
	a.mu.Unlock()
	t := &AccessTicket{s: &ticketState{a: a}}
	runtime.AddCleanup(t, func(s *ticketState) {
		if s.state.CompareAndSwap(ticketOpen, ticketReleased) {
			s.a.unreserve()
			s.a.log.Error("access log: a ticket was dropped without Append or Release; its room is returned")
		}
	}, t.s)
	return t, nil
}

// roomLocked reports whether one more entry fits: in all, and, once the
// spool has reached its size, in the queue.
func (a *AsyncAccessLog) roomLocked() bool {
	if a.used >= a.limit {
		return false
	}
	spooled := int(a.spool.pending.Load())
	return a.spool.pendingBytes.Load() < a.opts.SpoolMaxBytes || a.used-spooled < a.opts.Buffer
}

// Append records e, with a fresh ID if it has none, in the room the ticket
// holds (t must come from Reserve): it cannot fail for lack of room, and it does not wait for the
// store (when the queue is full it syncs e to the spool). Only the first of
// Append and Release counts; an entry appended on a used ticket is not
// recorded, and is logged and counted by Dropped.
func (t *AccessTicket) Append(e AccessEntry) {
	a := t.s.a
	if !t.s.state.CompareAndSwap(ticketOpen, ticketAppended) {
		n := a.dropped.Add(1)
		a.log.Error("access log: entry lost: appended on a ticket already used", "request_id", e.RequestID,
			"subject", e.Subject, "dropped_total", n)
		return
	}
	runtime.KeepAlive(t) // until the state says appended: else the cleanup could release it
	a.accept(withID(e))
}

// Release gives the room back, for a response that turned out to hold
// nothing to log. It is a no-op after Append, a second time, and on nil.
func (t *AccessTicket) Release() {
	if t == nil {
		return
	}
	if t.s.state.CompareAndSwap(ticketOpen, ticketReleased) {
		t.s.a.unreserve()
	}
	runtime.KeepAlive(t)
}

// Append is Reserve followed by the ticket's Append: it queues e and
// returns without waiting for the store. ctx is not consulted: a client
// that went away has still read the data. The error wraps
// ErrAccessLogUnavailable when there is no room (and ErrAccessLogClosed
// after Close).
func (a *AsyncAccessLog) Append(_ context.Context, e AccessEntry) error {
	t, err := a.Reserve()
	if err != nil {
		return err
	}
	t.Append(e)
	return nil
}

// accept takes an entry whose room is reserved.
func (a *AsyncAccessLog) accept(e AccessEntry) {
	a.mu.Lock()
	if !a.stopped && len(a.fifo) < a.opts.Buffer {
		a.fifo = append(a.fifo, e)
		a.mu.Unlock()
		a.signal()
		return
	}
	a.mu.Unlock()
	// The queue is full, because the store is slow, or the writer has
	// stopped: the entry goes to the spool from here.
	err := a.spool.append([]AccessEntry{e})
	a.mu.Lock()
	stopped := a.stopped
	if err != nil && !stopped {
		a.fifo = append(a.fifo, e) // past Buffer, but kept: the writer retries the spool
	}
	a.mu.Unlock()
	switch {
	case err == nil:
		a.signal()
	case stopped:
		a.lose(e, "the spool failed after Close", err)
	default:
		a.log.Error("access log: cannot write the spool; the entry waits in memory", "spool", a.spool.path, "error", err)
		a.signal()
	}
}

func (a *AsyncAccessLog) unreserve() { a.release(1) }

// release returns the room of n entries that are stored (or gone).
func (a *AsyncAccessLog) release(n int) {
	a.mu.Lock()
	a.used -= n
	a.mu.Unlock()
}

// lose counts and logs an entry that is not recorded anywhere.
func (a *AsyncAccessLog) lose(e AccessEntry, why string, err error) {
	n := a.dropped.Add(1)
	a.log.Error("access log: entry lost: "+why, "id", e.ID, "request_id", e.RequestID,
		"subject", e.Subject, "dropped_total", n, "error", err)
}

func (a *AsyncAccessLog) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *AsyncAccessLog) run() {
	defer close(a.done)
	if a.spool.pending.Load() > 0 {
		a.lookUpLeftIDs()
	}
	for {
		select {
		case <-a.wake:
		case <-a.retryC:
			a.retryC, a.due = nil, true
		case <-a.closing:
			a.finish()
			return
		}
		a.pass(context.Background(), false)
	}
}

// lookUpLeftIDs asks a store that would store an entry twice which entries
// of a spool left by an earlier process it holds already: that process may
// have stored them and then crashed before it emptied the spool.
// PostgreSQL needs no asking: it ignores an ID it holds.
func (a *AsyncAccessLog) lookUpLeftIDs() {
	lk, ok := a.inner.(accessIDLookup)
	if !ok {
		return
	}
	ids, err := a.spool.ids()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		a.skipIDs, err = lk.heldIDs(ctx, ids)
		cancel()
	}
	if err != nil {
		a.log.Warn("access log: cannot tell which spooled entries the store holds; some may be stored twice", "error", err)
	}
}

// pass is one round of the writer: drain the spool if the store may be
// tried, then store or spool what is queued, then acknowledge the flushes
// that came before.
func (a *AsyncAccessLog) pass(ctx context.Context, final bool) {
	a.mu.Lock()
	flushes := a.flushes
	a.flushes = nil
	a.mu.Unlock()
	try := !a.down || a.due || len(flushes) > 0 || final // a flush tries the store at once
	a.due = false
	if try && a.spool.pending.Load() > 0 {
		a.drain(ctx, &try, final)
	}
	a.writeBatch(ctx, a.takeQueue(), &try)
	for _, f := range flushes {
		close(f)
	}
}

func (a *AsyncAccessLog) takeQueue() []AccessEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.fifo
	a.fifo = nil
	return q
}

// writeBatch stores queued entries, or spools them: while the spool holds
// older ones, once the store failed, and while it may not be tried.
func (a *AsyncAccessLog) writeBatch(ctx context.Context, batch []AccessEntry, try *bool) {
	spooling := a.spool.pending.Load() > 0
	for i, e := range batch {
		if spooling || !a.store(ctx, e, try) {
			a.spoolBatch(batch[i:])
			return
		}
		a.release(1)
	}
}

// spoolBatch syncs entries to the spool; if that fails they go back to the
// front of the queue, and the writer tries again after a backoff.
func (a *AsyncAccessLog) spoolBatch(batch []AccessEntry) {
	if len(batch) == 0 {
		return
	}
	if err := a.spool.append(batch); err != nil {
		a.log.Error("access log: cannot write the spool; entries wait in memory", "spool", a.spool.path,
			"entries", len(batch), "error", err)
		a.mu.Lock()
		a.fifo = append(batch[:len(batch):len(batch)], a.fifo...)
		a.mu.Unlock()
		a.armRetry(max(a.failures, 1))
	}
}

// store writes one entry to the store if it may be tried; false means it
// was not stored (and, if it was tried, that the store failed).
func (a *AsyncAccessLog) store(ctx context.Context, e AccessEntry, try *bool) bool {
	if !*try {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, accessLogWriteTimeout)
	err := a.inner.Append(wctx, e)
	cancel()
	if err != nil {
		*try = false
		a.failures++
		if !a.down {
			a.log.Error("access log: the store failed; entries go to the spool until it answers again",
				"spool", a.spool.path, "error", err)
		} else {
			a.log.Warn("access log: the store still fails", "failures", a.failures, "spooled", a.spool.pending.Load(), "error", err)
		}
		a.down = true
		a.armRetry(a.failures)
		return false
	}
	if a.down {
		a.log.Info("access log: the store answers again; draining the spool", "spooled", a.spool.pending.Load())
		a.down, a.failures = false, 0
		a.disarmRetry()
	}
	return true
}

func (a *AsyncAccessLog) armRetry(failures int) {
	a.disarmRetry()
	a.retry = time.NewTimer(a.opts.RetryBackoff(failures))
	a.retryC = a.retry.C
}

func (a *AsyncAccessLog) disarmRetry() {
	if a.retry != nil {
		a.retry.Stop()
		a.retry, a.retryC = nil, nil
	}
}

// drain stores spooled entries in order until the spool is empty, the
// store fails, ctx ends or (unless final) Close begins; then it empties the
// spool file or cuts off its stored front.
func (a *AsyncAccessLog) drain(ctx context.Context, try *bool, final bool) {
	defer func() {
		if err := a.spool.settle(); err != nil {
			a.log.Error("access log: cannot shorten the spool; its stored entries will be offered again", "spool", a.spool.path, "error", err)
		}
		if a.spool.pending.Load() == 0 {
			a.skipIDs = nil
		}
	}()
	for a.spool.pending.Load() > 0 {
		if ctx.Err() != nil || !final && a.isClosing() {
			return
		}
		lines, err := a.spool.next(accessLogDrainChunk)
		if err != nil {
			a.log.Error("access log: cannot read the spool", "spool", a.spool.path, "error", err)
			a.armRetry(max(a.failures, 1))
			return
		}
		if len(lines) == 0 {
			return // counted entries the file does not hold: cannot happen
		}
		for _, ln := range lines {
			if len(ln.raw) > 0 {
				var e AccessEntry
				if err := json.Unmarshal(ln.raw, &e); err != nil {
					a.lose(AccessEntry{}, "a spooled line is damaged", err)
				} else if _, held := a.skipIDs[e.ID]; !held && !a.store(ctx, withID(e), try) {
					return
				}
				a.release(1)
			}
			a.spool.advance(ln)
		}
		// Entries queued meanwhile are newer than every spooled one: they
		// join the spool's end, which keeps the store's order.
		a.spoolBatch(a.takeQueue())
	}
}

func (a *AsyncAccessLog) isClosing() bool {
	select {
	case <-a.closing:
		return true
	default:
		return false
	}
}

// finish is the writer's last round: store what it can within CloseTimeout,
// spool the rest, and hand later Appends (of tickets reserved before Close)
// to the spool directly.
func (a *AsyncAccessLog) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.CloseTimeout)
	defer cancel()
	a.pass(ctx, true)
	a.mu.Lock()
	a.stopped = true
	last, flushes := a.fifo, a.flushes
	a.fifo, a.flushes = nil, nil
	a.mu.Unlock()
	try := !a.down && ctx.Err() == nil
	a.writeBatch(ctx, last, &try)
	for _, f := range flushes {
		close(f)
	}
	a.disarmRetry()
	for _, e := range a.takeQueue() { // the spool would not take them
		a.lose(e, "neither the store nor the spool took it before Close", nil)
	}
	if n := a.spool.pending.Load(); n > 0 {
		a.log.Warn("access log: entries stay in the spool for the next start", "spool", a.spool.path, "entries", n)
	}
	if err := a.spool.close(); err != nil {
		a.closeErr = err
	}
}

// Flush waits until every entry appended before it is durable, in the
// store or in the spool, and the writer has tried the store once for what
// is spooled, or until ctx ends. Spooled() tells what the store has not
// taken yet.
func (a *AsyncAccessLog) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return nil // Close has written everything already
	}
	a.flushes = append(a.flushes, ack)
	a.mu.Unlock()
	a.signal()
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Query asks the inner store; entries still queued or spooled are not seen.
func (a *AsyncAccessLog) Query(ctx context.Context, q AccessQuery) ([]AccessEntry, error) {
	return a.inner.Query(ctx, q)
}

// Dropped is the number of entries lost so far: damaged lines in the spool,
// entries appended on a ticket already used, and entries that neither the
// store nor the spool would take by Close. Alert on any.
func (a *AsyncAccessLog) Dropped() uint64 { return a.dropped.Load() }

// Spooled is the number of entries in the spool that the store has not
// taken yet: non-zero while the store fails.
func (a *AsyncAccessLog) Spooled() uint64 { return uint64(max(a.spool.pending.Load(), 0)) }

// Unavailable is the number of reservations refused so far: responses with
// personal data that were not served because the log had no room.
func (a *AsyncAccessLog) Unavailable() uint64 { return a.unavailable.Load() }

// Close stops accepting reservations, stores what it can within
// CloseTimeout, leaves the rest in the spool for the next start and closes
// the store. An entry appended later on a ticket reserved before Close goes
// to the spool. Further calls return the first call's result.
func (a *AsyncAccessLog) Close() error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		close(a.closing)
		<-a.done
		a.closeErr = errors.Join(a.closeErr, a.inner.Close())
	})
	return a.closeErr
}

// accessIDLookup is a store that would store an entry twice: asked which
// entries of a left spool it holds, before that spool is drained.
type accessIDLookup interface {
	heldIDs(ctx context.Context, ids map[string]struct{}) (map[string]struct{}, error)
}

// accessSpool is the AsyncAccessLog's append-only file of JSON lines. The
// writer reads it from offset, the front it has stored, and empties the
// file when it has stored everything; Appends on a full queue write to it
// too. An entry counts as spooled once its line is synced.
type accessSpool struct {
	path string

	mu     sync.Mutex
	f      *os.File // nil once closed: append then opens the file for its one write
	size   int64    // bytes of whole lines in the file
	offset int64    // bytes at the front that the store holds; only the writer moves it
	torn   bool     // a failed write may have left part of a line that truncation did not remove

	pending      atomic.Int64 // entries after offset
	pendingBytes atomic.Int64 // size - offset
}

// spoolLine is one line read from the spool: raw is empty for a blank line.
type spoolLine struct {
	raw []byte
	n   int64 // bytes in the file, newline included
}

func openAccessSpool(path string) (*accessSpool, error) {
	// A compaction that a crash interrupted leaves its copy; the spool
	// itself is whole, as the copy replaces it only by rename.
	_ = os.Remove(path + ".tmp")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("authz: access log spool: %w", err)
	}
	s := &accessSpool{path: path, f: f}
	if err := s.recover(); err != nil {
		f.Close()
		return nil, err
	}
	syncDir(filepath.Dir(path)) // the file's name is as durable as its lines
	return s, nil
}

// recover counts the entries an earlier process left and cuts off a torn
// last line: that line was never synced whole, so its entry was never
// accepted.
func (s *accessSpool) recover() error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("authz: access log spool %s: %w", s.path, err)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, fi.Size()), 64<<10)
	var whole, n int64
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("authz: access log spool %s: %w", s.path, err)
		}
		whole += int64(len(line))
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
	}
	if whole < fi.Size() {
		if err := s.f.Truncate(whole); err != nil {
			return fmt.Errorf("authz: access log spool %s: cut a torn line: %w", s.path, err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("authz: access log spool %s: %w", s.path, err)
		}
	}
	s.size = whole
	s.pending.Store(n)
	s.pendingBytes.Store(whole)
	return nil
}

// append writes entries as lines in one write and syncs them; on failure
// the file is cut back, and none of them counts as spooled.
func (s *accessSpool) append(es []AccessEntry) error {
	var b []byte
	for _, e := range es {
		j, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("authz: access log spool: encode entry %s: %w", e.ID, err)
		}
		b = append(append(b, j...), '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, size := s.f, s.size
	if f == nil {
		var err error
		if f, err = os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
			return fmt.Errorf("authz: access log spool: %w", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("authz: access log spool %s: %w", s.path, err)
		}
		size = fi.Size()
	}
	if s.torn {
		b = append([]byte{'\n'}, b...)
	}
	_, err := f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		// After a failed sync the kernel may have dropped the pages: the
		// lines cannot count as accepted, so cut them off again.
		s.torn = f.Truncate(size) != nil
		return fmt.Errorf("authz: access log spool %s: %w", s.path, err)
	}
	s.torn = false
	if s.f != nil {
		s.size += int64(len(b))
		s.pending.Add(int64(len(es)))
		s.pendingBytes.Store(s.size - s.offset)
	}
	return nil
}

// next reads up to max lines after offset. Only the writer calls it, and
// only the writer moves offset or replaces the file, so the lines stay put
// while it stores them; concurrent appends go after them.
func (s *accessSpool) next(max int) ([]spoolLine, error) {
	s.mu.Lock()
	f, off, end := s.f, s.offset, s.size
	s.mu.Unlock()
	if f == nil {
		return nil, ErrAccessLogClosed
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, end-off), 64<<10)
	var out []spoolLine
	for len(out) < max {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("authz: access log spool %s: %w", s.path, err)
		}
		ln := spoolLine{n: int64(len(line))}
		if len(bytes.TrimSpace(line)) > 0 {
			ln.raw = line
		}
		out = append(out, ln)
	}
	return out, nil
}

// advance marks a line read by next as stored.
func (s *accessSpool) advance(ln spoolLine) {
	s.mu.Lock()
	s.offset += ln.n
	s.pendingBytes.Store(s.size - s.offset)
	s.mu.Unlock()
	if len(ln.raw) > 0 {
		s.pending.Add(-1)
	}
}

// settle empties the file once the store holds all of it. Otherwise, once
// the stored front is a quarter of the file, it copies the rest into a new
// file that replaces the spool by rename, so the file does not grow while
// the store comes and goes. A crash before either leaves lines the store
// holds already, which draining again does not duplicate.
func (s *accessSpool) settle() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.f == nil || s.offset == 0:
		return nil
	case s.offset == s.size:
		if err := s.f.Truncate(0); err != nil {
			return err
		}
		if err := s.f.Sync(); err != nil {
			return err
		}
		s.size, s.offset = 0, 0
		return nil
	case s.offset < s.size/4:
		return nil
	}
	tmp := s.path + ".tmp"
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(nf, io.NewSectionReader(s.f, s.offset, s.size-s.offset))
	if err == nil {
		err = nf.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		nf.Close()
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(s.path))
	s.f.Close()
	s.f = nf
	s.size -= s.offset
	s.offset = 0
	return nil
}

// ids returns the IDs of the entries in the spool.
func (s *accessSpool) ids() (map[string]struct{}, error) {
	s.mu.Lock()
	f, off, end := s.f, s.offset, s.size
	s.mu.Unlock()
	if f == nil {
		return nil, ErrAccessLogClosed
	}
	ids := map[string]struct{}{}
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, end-off), 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return ids, nil
		}
		if err != nil {
			return nil, fmt.Errorf("authz: access log spool %s: %w", s.path, err)
		}
		var v struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(line, &v) == nil && v.ID != "" {
			ids[v.ID] = struct{}{}
		}
	}
}

// close closes the file; later appends open it for their one write.
func (s *accessSpool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("authz: access log spool %s: close: %w", s.path, err)
	}
	return nil
}

// syncDir makes a new or renamed name in dir durable. Some file systems
// cannot sync a directory; the lines are synced all the same.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Interface guards.
var (
	_ AccessLog      = (*JSONLAccessLog)(nil)
	_ AccessLog      = (*AsyncAccessLog)(nil)
	_ AccessReserver = (*AsyncAccessLog)(nil)
	_ accessIDLookup = (*JSONLAccessLog)(nil)
)
