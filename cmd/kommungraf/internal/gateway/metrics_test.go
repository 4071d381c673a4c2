package gateway_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/model"
)

// counters are the kommungraf_ counter and gauge series of /metrics
// (histograms, whose buckets follow timing, left out), by series.
func counters(t *testing.T, d *demo) map[string]string {
	t.Helper()
	resp, err := http.Get(d.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if series, value, ok := strings.Cut(sc.Text(), " "); ok && strings.HasPrefix(series, "kommungraf_") && !isHistogram(series) {
			out[series] = value
		}
	}
	return out
}

func isHistogram(series string) bool {
	name, _, _ := strings.Cut(series, "{")
	return strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count")
}

// TestMetricsDoNotTellProtectedFromUnknown: /metrics needs no credential,
// so what a lookup adds to it must be the same for a protected person the
// caller may not see and for a personnummer the registry does not know,
// as the GraphQL answers are.
func TestMetricsDoNotTellProtectedFromUnknown(t *testing.T) {
	d := newSecureDemo(t).as(t, "case-officer")
	unknown := "19000101000" + string('0'+model.LuhnDigit("000101000"))
	protected := protectedAdultWithAddress(t).PersonalNumber
	lookup := func(pnr string) (answer string, added map[string]string) {
		before := counters(t, d)
		r := d.query(t, `{ person(personalNumber: "`+pnr+`") { givenName } }`)
		added = map[string]string{}
		for series, v := range counters(t, d) {
			if before[series] != v {
				added[series] = before[series] + " -> " + v
			}
		}
		return r.raw, added
	}
	// Twice each: the first asks the registry, the second the cache.
	for round := range 2 {
		answerP, addedP := lookup(protected)
		answerU, addedU := lookup(unknown)
		if answerP != answerU {
			t.Fatalf("round %d: answers differ:\n%s\n%s", round, answerP, answerU)
		}
		if len(addedP) == 0 || len(addedP) != len(addedU) {
			t.Fatalf("round %d: metrics differ:\nprotected %v\nunknown   %v", round, addedP, addedU)
		}
		for series := range addedP {
			if _, ok := addedU[series]; !ok {
				t.Fatalf("round %d: metrics differ:\nprotected %v\nunknown   %v", round, addedP, addedU)
			}
		}
	}
}
