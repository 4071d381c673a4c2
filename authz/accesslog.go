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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // Swedish dates wherever the gateway runs

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
}

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
		(q.To.IsZero() || e.Time.Before(q.To))
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

// Append writes e as one line.
func (l *JSONLAccessLog) Append(_ context.Context, e AccessEntry) error {
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
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("authz: access log %s: append: %w", l.path, err)
	}
	return nil
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
	// DefaultAccessLogBuffer is the queue length when none is given.
	DefaultAccessLogBuffer = 4096
	// accessLogEnqueueWait is how long Append waits for room in a full
	// queue before it drops the entry: a request is slowed a little before
	// an entry is lost.
	accessLogEnqueueWait = 100 * time.Millisecond
	// accessLogWriteTimeout bounds one write to the inner store.
	accessLogWriteTimeout = 10 * time.Second
)

// AsyncAccessLog puts a queue and one writer goroutine in front of another
// AccessLog, so that the request path never waits on the store. Entries that
// cannot be stored (the queue stayed full, or the store failed) are counted
// by Dropped and logged as errors: a lost entry is a defect to alert on.
type AsyncAccessLog struct {
	inner AccessLog
	log   *slog.Logger
	wait  time.Duration

	mu     sync.RWMutex // write-held only by Close: no send on a closed queue
	closed bool
	queue  chan asyncItem
	done   chan struct{} // closed when the writer has drained the queue

	dropped   atomic.Uint64
	closeOnce sync.Once
	closeErr  error
}

// asyncItem is an entry to write, or a Flush marker to acknowledge.
type asyncItem struct {
	entry AccessEntry
	flush chan struct{}
}

// NewAsyncAccessLog starts the writer for inner with a queue of buffer
// entries (DefaultAccessLogBuffer if buffer <= 0). log receives the errors
// (slog.Default() if nil). Close it to drain the queue and close inner.
func NewAsyncAccessLog(inner AccessLog, buffer int, log *slog.Logger) *AsyncAccessLog {
	if buffer <= 0 {
		buffer = DefaultAccessLogBuffer
	}
	a := &AsyncAccessLog{
		inner: inner,
		log:   cmp.Or(log, slog.Default()),
		wait:  accessLogEnqueueWait,
		queue: make(chan asyncItem, buffer),
		done:  make(chan struct{}),
	}
	go a.run()
	return a
}

func (a *AsyncAccessLog) run() {
	defer close(a.done)
	for it := range a.queue {
		if it.flush != nil {
			close(it.flush)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), accessLogWriteTimeout)
		err := a.inner.Append(ctx, it.entry)
		cancel()
		if err != nil {
			n := a.dropped.Add(1)
			a.log.Error("access log: entry lost: store failed", "request_id", it.entry.RequestID,
				"subject", it.entry.Subject, "dropped_total", n, "error", err)
		}
	}
}

// Append queues e and returns without waiting for the store. If the queue is
// full it waits a short time for room, then drops the entry, counts it and
// logs an error. ctx is not consulted: a client that went away has still
// read the data, so its entry is queued all the same. The error is
// ErrAccessLogClosed after Close, or says that the entry was dropped.
func (a *AsyncAccessLog) Append(_ context.Context, e AccessEntry) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrAccessLogClosed
	}
	select {
	case a.queue <- asyncItem{entry: e}:
		return nil
	default:
	}
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.queue <- asyncItem{entry: e}:
		return nil
	case <-t.C:
		n := a.dropped.Add(1)
		a.log.Error("access log: entry lost: queue full", "request_id", e.RequestID,
			"subject", e.Subject, "queue", cap(a.queue), "dropped_total", n)
		return fmt.Errorf("authz: access log queue full (%d): entry dropped", cap(a.queue))
	}
}

// Flush waits until every entry queued before it has been written (or
// failed), or ctx ends.
func (a *AsyncAccessLog) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return nil // Close has drained everything already
	}
	select {
	case a.queue <- asyncItem{flush: ack}:
		a.mu.RUnlock()
	case <-ctx.Done():
		a.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Query asks the inner store; entries still queued are not seen (Flush first).
func (a *AsyncAccessLog) Query(ctx context.Context, q AccessQuery) ([]AccessEntry, error) {
	return a.inner.Query(ctx, q)
}

// Dropped is the number of entries lost so far: dropped on a full queue, or
// refused by the store.
func (a *AsyncAccessLog) Dropped() uint64 { return a.dropped.Load() }

// Close stops accepting entries, writes everything queued and closes the
// inner store. Further calls return the first call's result.
func (a *AsyncAccessLog) Close() error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true
		close(a.queue)
		a.mu.Unlock()
		<-a.done
		a.closeErr = a.inner.Close()
	})
	return a.closeErr
}

// Interface guards.
var (
	_ AccessLog = (*JSONLAccessLog)(nil)
	_ AccessLog = (*AsyncAccessLog)(nil)
)
