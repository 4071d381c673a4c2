package connect_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/sim"
)

// normalize is what a server or reverse proxy in front of an upstream
// (nginx, most frameworks) does to a request path before routing it, after
// RFC 3986 §6.2.2: percent-encoded unreserved characters are decoded
// (%2E is ".") and dot segments removed.
func normalize(escaped string) string {
	var b strings.Builder
	for i := 0; i < len(escaped); i++ {
		if escaped[i] == '%' && i+2 < len(escaped) && strings.EqualFold(escaped[i+1:i+3], "2E") {
			b.WriteByte('.')
			i += 2
			continue
		}
		b.WriteByte(escaped[i])
	}
	return path.Clean(b.String())
}

// TestReviewDotKeysStayInTheirSegment: the one-key form spells the keys
// "." and ".." as %2E and %2E%2E, which RFC 3986 makes equivalent to the
// dot segments themselves: an upstream that normalizes its paths is then
// asked for the template's parent path (here the listing of every
// property's pickups), and its answer is attributed to the key "..".
// A dot key must not be sent at all (it names no record), as an overlong
// key is not.
func TestReviewDotKeysStayInTheirSegment(t *testing.T) {
	set := declared(t, "schema/avfalldots.yaml", []byte(`
system: avfalldots
owner: O
connector: http
probe: api/v1/health
resources:
  pickups:
    type: WastePickup
    list: true
    http:
      one: { get: "api/v1/properties/{key}/pickups" }
      records: pickups
    fields: { propertyId: propertyId, fraction: fraction }
`))
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := normalize(r.URL.EscapedPath())
		mu.Lock()
		asked = append(asked, p)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case p == "/api/v1/pickups":
			// The listing of every property's pickups.
			_, _ = w.Write([]byte(`{"pickups":[{"propertyId":"someone-else","fraction":"MAT"},{"propertyId":"another","fraction":"GLAS"}]}`))
		case strings.HasPrefix(p, "/api/v1/properties/") && strings.HasSuffix(p, "/pickups"):
			_, _ = w.Write([]byte(`{"pickups":[]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	h := newHTTP(t, set.Resource("avfalldots.pickups"), srv.URL, nil)
	got, err := h.Fetch(context.Background(), []string{"..", ".", "p1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[".."]) > 0 || len(got["."]) > 0 {
		t.Errorf("dot keys were answered with other properties' records: %v", got)
	}
	for _, p := range asked {
		seg, ok := strings.CutPrefix(p, "/api/v1/properties/")
		if !ok || !strings.HasSuffix(seg, "/pickups") || strings.Count(seg, "/") != 1 {
			t.Errorf("the upstream, normalizing, was asked for %q: a key left its segment", p)
		}
	}
}

// TestReviewACommaKeyCannotFailItsBatch: in the batch form the keys are
// comma-joined, so the upstream reads a key with commas as several keys (it
// can never be answered as itself). One such key from a record of another
// system (a property id of 150 "x," is within MaxKeyBytes) made the
// waste-collection system see more than its 100 keys per call and refuse
// the whole batch: every innocent property of the request failed with it.
func TestReviewACommaKeyCannotFailItsBatch(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 5, People: 300})
	srv := httptest.NewServer(sim.NewAvfall(w, sim.AvfallOptions{Stats: sim.NewStats()}))
	defer srv.Close()
	h := newHTTP(t, pickups(t), srv.URL, nil)
	innocent := w.Properties[0].ObjectID
	hostile := strings.Repeat("x,", 150)
	got, err := h.Fetch(context.Background(), []string{innocent, hostile})
	var ke connect.KeyErrors
	if err != nil && (!errors.As(err, &ke) || ke[innocent] != nil) {
		t.Fatalf("the innocent key failed with the hostile one: %v", err)
	}
	if len(got[innocent]) != len(w.PickupsOf[innocent]) || len(got[hostile]) != 0 {
		t.Fatalf("answers %v", got)
	}
}
