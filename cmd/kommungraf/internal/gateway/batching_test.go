package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/model"
)

// q2Small is Q2's shape on fewer rows (5 units x 10 placements), so that 21
// of them run under -race in reasonable time; the calls per operation do not
// depend on the page sizes.
const q2Small = `{ schoolUnits(first: 5) { edges { node {
    name property { designation }
    placements(first: 10) { edges { node {
      group specialDiet
      child { givenName guardians { givenName address { city } } } } } } } } } }`

// productionBatching is the production configuration of batching (the
// default safety-net wait and the upstreams' default bounds, as every demo
// in these tests has) with the record cache off, so that every request
// reaches the upstreams and its calls can be counted: with it on, one
// request's fetch answers the others'.
//
// The school database's query timeout is widened: 16 concurrent Q2s under
// -race on two shared cores can keep the in-process SQLite's queries
// waiting for a connection past the production 2 s, which is about the
// machine, not about batching.
func productionBatching(c *config.Config) {
	if c.Batching.Wait != 0 && c.Batching.Wait != loaders.DefaultWait {
		panic("the demo's batch wait is not the production default")
	}
	c.Cache.Disabled = true
	c.Sources.Skoldatabas.QueryTimeout = 20 * time.Second
	// These tests run up to 16 requests at once to show that concurrent
	// requests do not split one another's batches: all of them must run
	// together. With the default slots (4 per CPU) half would queue, and
	// under -race on two shared cores wait past the queue's 500 ms and be
	// refused, which is admission control working (operations_test.go),
	// not batching.
	c.Server.Admission.MaxInFlight = 16
}

// upstreamCall is one operation of one upstream system.
type upstreamCall struct{ system, op string }

// TestEveryRequestIsOneBatchPerLevel runs Q1 (as the bygglov case officer)
// and Q2 (as the preschool administrator) with authorization on, the demo's
// policy and the production batch configuration, at 1, 4 and 16 concurrent
// clients under -race, and counts each request's upstream calls by its
// X-Request-Id (the simulators and the SQL recorder count per request id).
// Every request must make exactly one call per level where the upstream has
// a batch form, and one registry call per distinct person: a level split
// into two batches, by scheduling, load or a cap, fails it. The dispatcher's
// safety-net timer must not have fired once.
func TestEveryRequestIsOneBatchPerLevel(t *testing.T) {
	d := startDemo(t, productionBatching, time.Millisecond, false)
	q1People, _ := q1Distinct()
	tests := []struct {
		name, persona, query string
		want                 map[upstreamCall]int64
	}{
		{"Q1", "case-officer", q1, map[upstreamCall]int64{
			{"etjanst", "listErrands"}:         1,
			{"etjanst", "lookupParties"}:       1,
			{"geodata", "items"}:               1,
			{"folkbokforing", "PersonpostXML"}: int64(q1People),
		}},
		{"Q2", "preschool-admin", q2Small, map[upstreamCall]int64{
			{"skoldatabas", "schoolUnits"}:      1,
			{"skoldatabas", "placementsByUnit"}: 1,
			{"skoldatabas", "dietsByPerson"}:    1,
			{"geodata", "items"}:                1,
			{"folkbokforing", "PersonpostXML"}:  int64(q2Distinct(5, 10)),
		}},
	}
	for _, tc := range tests {
		for _, clients := range []int{1, 4, 16} {
			t.Run(fmt.Sprintf("%s/%d-clients", tc.name, clients), func(t *testing.T) {
				ids := runConcurrently(t, d, tc.persona, tc.query, clients)
				for _, id := range ids {
					got := d.gw.Sim().Stats.Request(id)
					for c, want := range tc.want {
						if n := got[c.system][c.op].Calls; n != want {
							t.Errorf("request %s: %s %s: %d calls, want %d (all: %v)", id, c.system, c.op, n, want, got)
						}
					}
				}
			})
		}
	}
	if n := metric(t, d, `kommungraf_loader_flushes_total{trigger="timer"}`); n != "0" {
		t.Errorf("the dispatcher's safety-net timer fired %s times; every batch must start when its level is complete", n)
	}
}

// TestRegistryBoundHoldsAcrossRequests: 16 concurrent Q2s share the
// registry's bound; the registry never has more calls in flight than
// sources.folkbokforing.maxConcurrent, while without a shared bound each
// request alone would have sent all its people at once.
func TestRegistryBoundHoldsAcrossRequests(t *testing.T) {
	const bound = 8
	d := startDemo(t, func(c *config.Config) {
		productionBatching(c)
		c.Sources.Folkbokforing.MaxConcurrent = bound
	}, 2*time.Millisecond, false)
	d.gw.Sim().Stats.Reset()
	runConcurrently(t, d, "preschool-admin", q2Small, 16)
	got := d.gw.Sim().Stats.MaxInFlight("folkbokforing")
	if got > bound {
		t.Fatalf("the registry had %d calls in flight at once, bound %d", got, bound)
	}
	if got < bound/2 {
		t.Fatalf("the registry had at most %d calls in flight with 16 clients: the test did not load it", got)
	}
}

// runConcurrently sends query as persona from clients goroutines at once and
// returns the requests' ids. Only FORBIDDEN errors (a protected person's
// fields) are expected.
func runConcurrently(t *testing.T, d *demo, persona, query string, clients int) []string {
	t.Helper()
	auth := "Bearer " + d.token(t, persona)
	body, _ := json.Marshal(map[string]any{"query": query})
	ids := make([]string, clients)
	errs := make([]error, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		ids[i] = fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "."), clients, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = post(d, auth, ids[i], body)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func post(d *demo, auth, id string, body []byte) error {
	req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	req.Header.Set("X-Request-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(raw, &r); err != nil || resp.StatusCode != http.StatusOK || len(r.Data) == 0 || string(r.Data) == "null" {
		return fmt.Errorf("request %s: HTTP %d: %s", id, resp.StatusCode, raw)
	}
	for _, e := range r.Errors {
		if e.Extensions["code"] != "FORBIDDEN" {
			return fmt.Errorf("request %s: unexpected error: %s", id, raw)
		}
	}
	return nil
}

// q1Distinct counts Q1's distinct stakeholders and properties in the world.
func q1Distinct() (people, properties int) {
	w := testWorld()
	ps, props := map[string]bool{}, map[string]bool{}
	n := 0
	for _, e := range w.Errands {
		if e.CaseType != "BYGGLOV" || n == 50 {
			continue
		}
		n++
		props[e.PropertyObjectID] = true
		for _, s := range e.Stakeholders {
			ps[w.PersonOfParty[s.PartyID]] = true
		}
	}
	return len(ps), len(props)
}

// q2Distinct counts the people a Q2 of units x placements asks the registry
// for: every child, and the guardians of the children the preschool
// administrator may see (a protected child is null, so its guardians are
// never asked for).
func q2Distinct(units, placements int) int {
	w := testWorld()
	us := append([]*model.SchoolUnit(nil), w.SchoolUnits...)
	sort.Slice(us, func(i, j int) bool { return us[i].Code < us[j].Code })
	us = us[:min(units, len(us))]
	byUnit := map[string][]*model.Placement{}
	for _, p := range w.Placements {
		byUnit[p.SchoolUnitCode] = append(byUnit[p.SchoolUnitCode], p)
	}
	people := map[string]bool{}
	for _, u := range us {
		pls := byUnit[u.Code]
		sort.Slice(pls, func(i, j int) bool { return pls[i].ID < pls[j].ID })
		for _, p := range pls[:min(placements, len(pls))] {
			people[p.PersonalNumber] = true
			child := w.ByPNR[p.PersonalNumber]
			if child == nil || isProtected(child) {
				continue
			}
			for _, g := range child.RelatedNumbers(model.RelationGuardian) {
				people[g] = true
			}
		}
	}
	return len(people)
}

// metric reads one sample of the gateway's /metrics.
func metric(t *testing.T, d *demo, sample string) string {
	t.Helper()
	_, body := getBody(t, d.srv.URL+"/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", sample)
	}
	return m[1]
}
