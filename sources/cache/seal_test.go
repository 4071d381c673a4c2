package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	_, _ = rand.Read(k)
	return k
}

// redisValues returns every value the version holds in Redis, by key.
func redisValues(t *testing.T, version string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	raw := rawRedis(t, version)
	keys, err := scanKeys(ctx, raw, "kg:"+version+":*")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte)
	for _, k := range keys {
		v, err := raw.Get(ctx, k).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// TestSealing proves at the Redis level that level-3 records are never
// stored in plain text.
func TestSealing(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	ctx := context.Background()
	keyA, keyB := newKey(t), newKey(t)
	secret := "Skyddad-" + randomHex(8) // a protected person's name
	open := "Öppen-" + randomHex(8)     // an ordinary person's name
	up := newUpstream()
	up.set(person{ID: "prot", Name: secret, Protected: true})
	up.set(person{ID: "plain", Name: open})
	up.set(person{ID: "other", Name: "Annan"})
	policy := Policy{TTL: time.Minute, NegativeTTL: time.Minute}

	t.Run("sealed with keys", func(t *testing.T) {
		version := testVersion(t)
		rawRedis(t, version)
		c := newCache(t, Options{Redis: newRedis(t, url), Version: version, SealKeys: [][]byte{keyA}})
		s := NewStore[person](c, "navet", "person", policy, Level3)
		if _, _, err := s.Fetch(ctx, []string{"prot", "plain", "missing"}, up.fetch); err != nil {
			t.Fatal(err)
		}
		vals := redisValues(t, version)
		if len(vals) != 3 {
			t.Fatalf("Redis holds %d keys, want 3 (sealed records and the not-found)", len(vals))
		}
		for k, v := range vals {
			if containsAny(string(v), secret, open) {
				t.Errorf("%s holds a name in plain text: %q", k, v)
			}
			// Every record of a store with a sensitive function is sealed,
			// so the format does not tell which person is protected.
			if v[0] != formatSealed {
				t.Errorf("%s is not sealed (format %q)", k, v[0])
			}
		}

		t.Run("rotation: the old key still opens", func(t *testing.T) {
			n := up.numCalls()
			c2 := newCache(t, Options{Redis: newRedis(t, url), Version: version, SealKeys: [][]byte{keyB, keyA}, LocalMaxEntries: -1})
			found, _, err := NewStore[person](c2, "navet", "person", policy, Level3).Fetch(ctx, []string{"prot", "plain", "missing"}, up.fetch)
			if err != nil {
				t.Fatal(err)
			}
			if up.numCalls() != n || found["prot"].Name != secret || found["plain"].Name != open || len(found) != 2 {
				t.Errorf("found=%v after %d upstream calls; want both records from Redis and none", found, up.numCalls()-n)
			}
		})

		t.Run("a retired key is a miss, not an error", func(t *testing.T) {
			n := up.numCalls()
			c3 := newCache(t, Options{Redis: newRedis(t, url), Version: version, SealKeys: [][]byte{keyB}, LocalMaxEntries: -1})
			found, _, err := NewStore[person](c3, "navet", "person", policy, Level3).Fetch(ctx, []string{"prot"}, up.fetch)
			if err != nil || found["prot"].Name != secret {
				t.Fatalf("found=%v err=%v", found, err)
			}
			if got := up.callsSince(n); !reflect.DeepEqual(got, [][]string{{"prot"}}) {
				t.Errorf("upstream calls %v, want one for prot", got)
			}
		})

		t.Run("a sealed value does not open under another key", func(t *testing.T) {
			raw := rawRedis(t, version)
			from, to := c.key("navet", "person", "plain"), c.key("navet", "person", "other")
			v, err := raw.Get(ctx, from).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if err := raw.Set(ctx, to, v, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			n := up.numCalls()
			c4 := newCache(t, Options{Redis: newRedis(t, url), Version: version, SealKeys: [][]byte{keyA}, LocalMaxEntries: -1})
			found, _, err := NewStore[person](c4, "navet", "person", policy, Level3).Fetch(ctx, []string{"other"}, up.fetch)
			if err != nil || found["other"].Name != "Annan" {
				t.Fatalf("found=%v err=%v, want the upstream's record", found, err)
			}
			if up.numCalls() != n+1 {
				t.Error("the moved value was accepted")
			}
		})
	})

	t.Run("without keys a level-3 store keeps out of Redis", func(t *testing.T) {
		version := testVersion(t)
		raw := rawRedis(t, version)
		c := newCache(t, Options{Redis: newRedis(t, url), Version: version})
		s := NewStore[person](c, "navet", "person", policy, Level3)
		if _, _, err := s.Fetch(ctx, []string{"prot", "plain", "missing"}, up.fetch); err != nil {
			t.Fatal(err)
		}
		// Not even the ordinary person or the not-found: which keys are
		// absent from Redis would tell who is protected.
		if vals := redisValues(t, version); len(vals) != 0 {
			t.Errorf("Redis holds %d values of a level-3 store without seal keys: %q", len(vals), vals)
		}
		n := up.numCalls()
		found, _, err := s.Fetch(ctx, []string{"prot", "plain"}, up.fetch)
		if err != nil || len(found) != 2 || up.numCalls() != n {
			t.Errorf("warm fetch: found=%v err=%v upstream calls=%d; want both from the in-process tier", found, err, up.numCalls()-n)
		}

		// Nor does it read from Redis: a value planted there is not served.
		ck := c.key("navet", "person", "prot")
		if err := raw.Set(ctx, ck, plainValue(t, person{ID: "prot", Name: "Planterad"}, time.Minute), time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		c2 := newCache(t, Options{Redis: newRedis(t, url), Version: version, LocalMaxEntries: -1})
		n = up.numCalls()
		found, _, err = NewStore[person](c2, "navet", "person", policy, Level3).Fetch(ctx, []string{"prot"}, up.fetch)
		if err != nil || found["prot"].Name != secret || up.numCalls() != n+1 {
			t.Errorf("found=%v err=%v after %d upstream calls; want the upstream's record", found, err, up.numCalls()-n)
		}
	})

	t.Run("a store without a sensitive function writes plain JSON", func(t *testing.T) {
		version := testVersion(t)
		rawRedis(t, version)
		c := newCache(t, Options{Redis: newRedis(t, url), Version: version, SealKeys: [][]byte{keyA}})
		if _, _, err := NewStore[person](c, "school", "unit", policy, Ordinary).Fetch(ctx, []string{"plain"}, up.fetch); err != nil {
			t.Fatal(err)
		}
		v := redisValues(t, version)[c.key("school", "unit", "plain")]
		if len(v) == 0 || v[0] != formatPlain || !bytes.Contains(v, []byte(open)) {
			t.Errorf("value %q, want plain JSON", v)
		}
	})
}

func TestSealerRoundTrip(t *testing.T) {
	keyA, keyB := newKey(t), newKey(t)
	sa, err := newSealer([][]byte{keyA})
	if err != nil {
		t.Fatal(err)
	}
	sealed := sa.seal("kg:v1:navet:person:1", []byte(`{"x":1}`))
	if again := sa.seal("kg:v1:navet:person:1", []byte(`{"x":1}`)); bytes.Equal(sealed, again) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	sba, _ := newSealer([][]byte{keyB, keyA})
	sb, _ := newSealer([][]byte{keyB})
	for _, tc := range []struct {
		name   string
		s      *sealer
		key    string
		value  []byte
		wantOK bool
	}{
		{"same key", sa, "kg:v1:navet:person:1", sealed, true},
		{"rotated list", sba, "kg:v1:navet:person:1", sealed, true},
		{"retired key", sb, "kg:v1:navet:person:1", sealed, false},
		{"other cache key", sa, "kg:v1:navet:person:2", sealed, false},
		{"tampered", sa, "kg:v1:navet:person:1", append(append([]byte(nil), sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), false},
		{"truncated", sa, "kg:v1:navet:person:1", sealed[:5], false},
		{"plain", sa, "kg:v1:navet:person:1", []byte(`p{"x":1}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, ok := tc.s.open(tc.key, tc.value)
			if ok != tc.wantOK || (ok && string(plain) != `{"x":1}`) {
				t.Errorf("open = %q, %v; want ok=%v", plain, ok, tc.wantOK)
			}
		})
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	b1, b2 := base64.StdEncoding.EncodeToString(k1), base64.StdEncoding.EncodeToString(k2)
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, tc := range []struct {
		name    string
		in      string
		want    [][]byte
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"blank", " , ", nil, ""},
		{"one", b1, [][]byte{k1}, ""},
		{"two with spaces", " " + b1 + " , " + b2 + " ", [][]byte{k1, k2}, ""},
		{"bad base64", b1 + ",not*base64", nil, "seal key 2: not standard base64"},
		{"wrong length", short, nil, "seal key 1: 16 bytes, want 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKeys(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), b1) || strings.Contains(err.Error(), short) {
					t.Errorf("error %q shows key material", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseKeys = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// plainValue is a value as an Ordinary store writes it: fresh for ttl.
func plainValue(t *testing.T, p person, ttl time.Duration) []byte {
	t.Helper()
	return append([]byte{formatPlain}, envelopeJSON(t, p, time.Now(), ttl, ttl)...)
}

// envelopeJSON is the JSON envelope of p, fetched at `at`, fresh for ttl and
// kept stale for stale more.
func envelopeJSON(t *testing.T, p person, at time.Time, ttl, stale time.Duration) []byte {
	t.Helper()
	v, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(envelope{
		FetchedAt: at.UnixMilli(), FreshUntil: at.Add(ttl).UnixMilli(), StaleUntil: at.Add(ttl + stale).UnixMilli(), Value: v,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logRecorder keeps the records logged through it.
type logRecorder struct {
	mu      sync.Mutex
	records []string // level, message and attributes, as text
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l } // the cache's component attr is not needed here
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, b.String())
	return nil
}

// warnings returns the warnings logged so far that contain substr.
func (l *logRecorder) warnings(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if strings.HasPrefix(r, "WARN ") && strings.Contains(r, substr) {
			out = append(out, r)
		}
	}
	return out
}

// TestLevel3StoreRejectsForeignValues plants values in Redis under a
// protected person's key, as anyone who can write to Redis could: none of
// them is served, each is fetched again from the upstream and overwritten,
// counted and logged.
func TestLevel3StoreRejectsForeignValues(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	ctx := context.Background()
	keyA, keyB := newKey(t), newKey(t)
	const pnr = "198501019876"
	secret := "Skyddad-" + randomHex(8)
	up := newUpstream()
	up.set(person{ID: pnr, Name: secret, Protected: true})
	policy := Policy{TTL: time.Minute, NegativeTTL: time.Minute, StaleIfError: time.Hour}
	forged := person{ID: pnr, Name: "Planterad-" + randomHex(4), Protected: false}

	version := testVersion(t)
	raw := rawRedis(t, version)
	reg := prometheus.NewRegistry()
	logs := &logRecorder{}
	// No in-process tier: every Fetch reads Redis.
	c := newCache(t, Options{
		Redis: newRedis(t, url), Version: version, SealKeys: [][]byte{keyA}, LocalMaxEntries: -1,
		Registerer: reg, Logger: slog.New(logs),
	})
	s := NewStore[person](c, "navet", "person", policy, Level3)
	ck := c.key("navet", "person", pnr)
	sealA, _ := newSealer([][]byte{keyA})
	sealB, _ := newSealer([][]byte{keyB})
	body := envelopeJSON(t, forged, time.Now(), time.Minute, time.Hour)
	notFound, _ := json.Marshal(envelope{FetchedAt: time.Now().UnixMilli(), FreshUntil: time.Now().Add(time.Minute).UnixMilli(), StaleUntil: time.Now().Add(time.Minute).UnixMilli(), NotFound: true})
	tampered := sealA.seal(ck, body)
	tampered[len(tampered)-1] ^= 1

	for _, tc := range []struct {
		name   string
		value  []byte
		reason string
	}{
		{"plain JSON", append([]byte{formatPlain}, body...), rejectUnsealed},
		{"bare JSON without a format byte", body, rejectUnsealed},
		{"a plain not-found that would hide the person", append([]byte{formatPlain}, notFound...), rejectUnsealed},
		{"empty", []byte{}, rejectUnsealed},
		{"sealed under another key", sealB.seal(ck, body), rejectUnauthenticated},
		{"sealed for another cache key", sealA.seal(c.key("navet", "person", "198001011234"), body), rejectUnauthenticated},
		{"sealed for the same key of another version", sealA.seal("kg:v0:navet:person:"+pnr, body), rejectUnauthenticated},
		{"sealed and tampered with", tampered, rejectUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := raw.Set(ctx, ck, tc.value, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			labels := map[string]string{"source": "navet", "entity": "person", "reason": tc.reason}
			before := metricValue(t, reg, "kommungraf_cache_rejected_total", labels)
			warned := len(logs.warnings("rejected"))
			n := up.numCalls()

			found, stale, err := s.Fetch(ctx, []string{pnr}, up.fetch)
			if err != nil || len(stale) != 0 {
				t.Fatalf("Fetch: err=%v stale=%v", err, stale)
			}
			if got := found[pnr]; got.Name != secret || !got.Protected {
				t.Fatalf("Fetch served %+v, want the upstream's protected record", got)
			}
			if up.numCalls() != n+1 {
				t.Errorf("%d upstream calls, want 1", up.numCalls()-n)
			}
			if d := metricValue(t, reg, "kommungraf_cache_rejected_total", labels) - before; d != 1 {
				t.Errorf("kommungraf_cache_rejected_total{reason=%q} grew by %v, want 1", tc.reason, d)
			}
			w := logs.warnings("rejected")
			if len(w) != warned+1 {
				t.Fatalf("%d warnings, want one more than %d: %q", len(w), warned, w)
			}
			if last := w[len(w)-1]; !strings.Contains(last, "reason="+tc.reason) || containsAny(last, pnr, forged.Name, secret) {
				t.Errorf("warning %q: want the reason, and neither the key nor a record's contents", last)
			}
			// The planted value is overwritten with the store's own sealed one.
			v, err := raw.Get(ctx, ck).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if plain, ok := sealA.open(ck, v); !ok || !strings.Contains(string(plain), secret) {
				t.Errorf("Redis holds %q after the fetch, want the upstream's record sealed under keyA", v)
			}
		})
	}

	t.Run("never served as stale", func(t *testing.T) {
		// Past its TTL but inside the stale window, while the upstream fails.
		planted := append([]byte{formatPlain}, envelopeJSON(t, forged, time.Now().Add(-2*time.Minute), time.Minute, time.Hour)...)
		if err := raw.Set(ctx, ck, planted, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		failing := newUpstream()
		failing.setErr(errUpstream)
		labels := map[string]string{"source": "navet", "entity": "person", "reason": rejectUnsealed}
		before := metricValue(t, reg, "kommungraf_cache_rejected_total", labels)
		found, stale, err := s.Fetch(ctx, []string{pnr}, failing.fetch)
		var fe *FetchError
		if !errors.As(err, &fe) || len(found) != 0 || len(stale) != 0 {
			t.Fatalf("found=%v stale=%v err=%v; want a FetchError and nothing served", found, stale, err)
		}
		if failing.numCalls() != 1 {
			t.Errorf("%d upstream calls, want 1", failing.numCalls())
		}
		if d := metricValue(t, reg, "kommungraf_cache_rejected_total", labels) - before; d != 1 {
			t.Errorf("kommungraf_cache_rejected_total grew by %v, want 1", d)
		}
	})

	t.Run("its own sealed values are served", func(t *testing.T) {
		if _, _, err := s.Fetch(ctx, []string{pnr}, up.fetch); err != nil { // overwrites the planted value
			t.Fatal(err)
		}
		before := metricValue(t, reg, "kommungraf_cache_rejected_total", nil)
		n := up.numCalls()
		found, _, err := s.Fetch(ctx, []string{pnr}, up.fetch)
		if err != nil || found[pnr].Name != secret || up.numCalls() != n {
			t.Errorf("found=%v err=%v after %d upstream calls; want the record from Redis", found, err, up.numCalls()-n)
		}
		if d := metricValue(t, reg, "kommungraf_cache_rejected_total", nil) - before; d != 0 {
			t.Errorf("%v rejections of the store's own value", d)
		}
	})
}

// TestOrdinaryStoreRejectsUnreadableValues: an Ordinary store reads plain
// JSON (its records are not level 3), but a value it cannot read is a
// counted miss.
func TestOrdinaryStoreRejectsUnreadableValues(t *testing.T) {
	t.Parallel()
	url := redisURL(t)
	ctx := context.Background()
	up := newUpstream("u1")
	version := testVersion(t)
	raw := rawRedis(t, version)
	reg := prometheus.NewRegistry()
	c := newCache(t, Options{Redis: newRedis(t, url), Version: version, SealKeys: [][]byte{newKey(t)}, LocalMaxEntries: -1, Registerer: reg})
	s := NewStore[person](c, "school", "unit", Policy{TTL: time.Minute}, Ordinary)
	ck := c.key("school", "unit", "u1")
	other, _ := newSealer([][]byte{newKey(t)})
	for _, tc := range []struct {
		name   string
		value  []byte
		reason string
	}{
		{"unknown format", []byte("x{}"), rejectMalformed},
		{"plain, not JSON", []byte("p{not json"), rejectMalformed},
		{"record of another shape", append([]byte{formatPlain}, `{"t":1,"f":99999999999999,"s":99999999999999,"v":"a string"}`...), rejectMalformed},
		{"sealed under a key this cache lacks", other.seal(ck, envelopeJSON(t, person{ID: "u1"}, time.Now(), time.Minute, 0)), rejectUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := raw.Set(ctx, ck, tc.value, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			labels := map[string]string{"source": "school", "entity": "unit", "reason": tc.reason}
			before := metricValue(t, reg, "kommungraf_cache_rejected_total", labels)
			n := up.numCalls()
			found, _, err := s.Fetch(ctx, []string{"u1"}, up.fetch)
			if err != nil || found["u1"].Name != "Namn u1" || up.numCalls() != n+1 {
				t.Errorf("found=%v err=%v after %d upstream calls; want the upstream's record", found, err, up.numCalls()-n)
			}
			if d := metricValue(t, reg, "kommungraf_cache_rejected_total", labels) - before; d != 1 {
				t.Errorf("kommungraf_cache_rejected_total{reason=%q} grew by %v, want 1", tc.reason, d)
			}
		})
	}
}
