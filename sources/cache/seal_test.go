package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"
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
		s := NewStore(c, "navet", "person", policy, isProtected)
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
			found, _, err := NewStore(c2, "navet", "person", policy, isProtected).Fetch(ctx, []string{"prot", "plain", "missing"}, up.fetch)
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
			found, _, err := NewStore(c3, "navet", "person", policy, isProtected).Fetch(ctx, []string{"prot"}, up.fetch)
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
			found, _, err := NewStore(c4, "navet", "person", policy, isProtected).Fetch(ctx, []string{"other"}, up.fetch)
			if err != nil || found["other"].Name != "Annan" {
				t.Fatalf("found=%v err=%v, want the upstream's record", found, err)
			}
			if up.numCalls() != n+1 {
				t.Error("the moved value was accepted")
			}
		})
	})

	t.Run("without keys sensitive records stay in process", func(t *testing.T) {
		version := testVersion(t)
		rawRedis(t, version)
		c := newCache(t, Options{Redis: newRedis(t, url), Version: version})
		s := NewStore(c, "navet", "person", policy, isProtected)
		if _, _, err := s.Fetch(ctx, []string{"prot", "plain"}, up.fetch); err != nil {
			t.Fatal(err)
		}
		vals := redisValues(t, version)
		if _, ok := vals[c.key("navet", "person", "prot")]; ok {
			t.Error("the protected person's record is in Redis")
		}
		plain, ok := vals[c.key("navet", "person", "plain")]
		if !ok || plain[0] != formatPlain || !strings.Contains(string(plain), open) {
			t.Errorf("the ordinary record is not in Redis as plain JSON: %q", plain)
		}
		for k, v := range vals {
			if strings.Contains(string(v), secret) {
				t.Errorf("%s holds the protected name: %q", k, v)
			}
		}
		n := up.numCalls()
		found, _, err := s.Fetch(ctx, []string{"prot", "plain"}, up.fetch)
		if err != nil || len(found) != 2 || up.numCalls() != n {
			t.Errorf("warm fetch: found=%v err=%v upstream calls=%d; want both from the cache", found, err, up.numCalls()-n)
		}
	})

	t.Run("a store without a sensitive function writes plain JSON", func(t *testing.T) {
		version := testVersion(t)
		rawRedis(t, version)
		c := newCache(t, Options{Redis: newRedis(t, url), Version: version, SealKeys: [][]byte{keyA}})
		if _, _, err := NewStore[person](c, "school", "unit", policy, nil).Fetch(ctx, []string{"plain"}, up.fetch); err != nil {
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
