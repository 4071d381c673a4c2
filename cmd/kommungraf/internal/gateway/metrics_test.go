package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/authz"
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

// TestOperationNamesStayOutOfMetricsAndTheLog: an operation name is the
// client's text. One that could hold a personnummer reaches neither the
// /metrics labels nor the access log (which otherwise holds persons only as
// keyed hashes), and anonymous callers cannot grow the label set without
// bound.
func TestOperationNamesStayOutOfMetricsAndTheLog(t *testing.T) {
	d := newSecureDemo(t)
	officer := d.as(t, "case-officer")
	p := protectedAdultWithAddress(t)
	someone := testWorld().People[0]
	if isProtected(someone) {
		t.Fatal("the first person is protected; pick another")
	}
	r := officer.operation(t, "Person_"+someone.PersonalNumber, `query Person_`+someone.PersonalNumber+` { person(personalNumber: "`+someone.PersonalNumber+`") { givenName } }`)
	mustNoErrors(t, r)
	officer.operation(t, "Born_"+p.PersonalNumber[2:8], `query Born_`+p.PersonalNumber[2:8]+` { person(personalNumber: "`+p.PersonalNumber+`") { givenName } }`)
	for i := range 300 {
		d.operation(t, fmt.Sprintf("Probe%d", i), fmt.Sprintf("query Probe%d { __typename }", i))
	}
	resp, err := http.Get(d.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	labels := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "kommungraf_graphql_request_duration_seconds_count{") {
			labels[line[strings.Index(line, "{"):strings.Index(line, "}")]] = true
		}
	}
	for _, secret := range []string{someone.PersonalNumber, p.PersonalNumber[2:8]} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("/metrics holds %s", secret)
		}
	}
	if len(labels) > 201 || !labels[`{operation="other"`] {
		t.Fatalf("%d operation labels; want at most 200 names and other", len(labels))
	}
	if err := d.gw.AccessLog().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, err := d.gw.AccessLog().Query(context.Background(), authz.AccessQuery{Subject: "demo-case-officer", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 2 {
		t.Fatalf("%d entries", len(entries))
	}
	for _, e := range entries {
		if e.Operation != "" {
			t.Fatalf("access log entry with operation %q", e.Operation)
		}
	}
}
