package rest_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/testenv"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// update rewrites the golden files under testdata.
var update = flag.Bool("update", false, "rewrite the golden files under sources/rest/testdata")

// testWorld is the synthetic data both simulators serve.
var testWorld = sync.OnceValue(func() *sim.World { return sim.NewWorld(sim.WorldOptions{Seed: 3, People: 500}) })

func quietOptions(baseURL string) upstream.Options {
	// Name is left empty: the constructors name their upstream. Short waits
	// between attempts keep the retry cases fast.
	return upstream.Options{BaseURL: baseURL, Logger: slog.New(slog.DiscardHandler), RetryBackoff: time.Millisecond}
}

// requestLog keeps the path and query of every request a handler received.
type requestLog struct {
	mu   sync.Mutex
	reqs []*url.URL
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		l.mu.Lock()
		l.reqs = append(l.reqs, &u)
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (l *requestLog) all() []*url.URL {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*url.URL(nil), l.reqs...)
}

// systems are the simulated e-service platform and property register, the
// clients of both, and what the simulators counted.
type systems struct {
	stats   *sim.Stats
	etjanst *rest.ETjanst
	geodata *rest.Geodata
	// geodataLog records every request the property register received.
	geodataLog *requestLog
}

// newSystems starts both simulators with the faults given. Every test gets
// its own servers, so counters and circuit breakers start afresh.
func newSystems(t *testing.T, etjanstFaults, geodataFaults sim.FaultConfig) *systems {
	t.Helper()
	s := &systems{stats: sim.NewStats(), geodataLog: &requestLog{}}
	ef, gf := sim.NewFaults(), sim.NewFaults()
	ef.Set(etjanstFaults)
	gf.Set(geodataFaults)
	esrv := httptest.NewServer(sim.NewETjanst(testWorld(), sim.ETjanstOptions{Stats: s.stats, Faults: ef}))
	t.Cleanup(esrv.Close)
	gsrv := httptest.NewServer(s.geodataLog.wrap(sim.NewGeodata(testWorld(), sim.GeodataOptions{Stats: s.stats, Faults: gf})))
	t.Cleanup(gsrv.Close)
	var err error
	if s.etjanst, err = rest.NewETjanst(quietOptions(esrv.URL)); err != nil {
		t.Fatal(err)
	}
	if s.geodata, err = rest.NewGeodata(quietOptions(gsrv.URL)); err != nil {
		t.Fatal(err)
	}
	return s
}

// counters returns the calls and keys the simulators counted for one system.
func (s *systems) counters(system string) map[string]sim.Counter {
	out := map[string]sim.Counter{}
	for op, c := range s.stats.Snapshot()[system] {
		out[op] = c
	}
	return out
}

// worldErrands returns the world's errands that pass keep, in world order.
func worldErrands(keep func(*model.Errand) bool) []*model.Errand {
	var out []*model.Errand
	for _, e := range testWorld().Errands {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func byCaseType(ct string) func(*model.Errand) bool {
	return func(e *model.Errand) bool { return e.CaseType == ct }
}

// window is xs[from:from+n], clipped to xs.
func window[T any](xs []T, from, n int) []T {
	from = min(from, len(xs))
	return xs[from:min(from+n, len(xs))]
}

// sameList compares two lists, treating nil and empty as equal.
func sameList[T any](got, want []T) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(got, want)
}

func TestETjanstErrandsWindows(t *testing.T) {
	bygglov := worldErrands(byCaseType("BYGGLOV"))
	decided := worldErrands(func(e *model.Errand) bool { return e.Status == model.ErrandDecided })
	decidedBygglov := worldErrands(func(e *model.Errand) bool {
		return e.CaseType == "BYGGLOV" && e.Status == model.ErrandDecided
	})
	all := testWorld().Errands
	if len(bygglov) < 45 || len(all) <= rest.MaxPage {
		t.Fatalf("the test world has %d errands, %d of them BYGGLOV; the windows below need more", len(all), len(bygglov))
	}

	// The last three errands sit on one page, or straddle the last two.
	last := len(bygglov) - 3
	lastCalls := int64(1)
	if (last/20+1)*20 < len(bygglov) {
		lastCalls = 2
	}

	tests := []struct {
		name      string
		filter    rest.ErrandFilter
		offset, n int
		want      []*model.Errand
		total     int
		calls     int64 // listErrands calls
	}{
		{"aligned window is one call", rest.ErrandFilter{CaseTypes: []string{"BYGGLOV"}}, 0, 20, bygglov[0:20], len(bygglov), 1},
		{"aligned second page is one call", rest.ErrandFilter{CaseTypes: []string{"BYGGLOV"}}, 20, 20, bygglov[20:40], len(bygglov), 1},
		{"window across two pages is two calls", rest.ErrandFilter{CaseTypes: []string{"BYGGLOV"}}, 5, 20, bygglov[5:25], len(bygglov), 2},
		{"last partial window", rest.ErrandFilter{CaseTypes: []string{"BYGGLOV"}}, last, 20, bygglov[last:], len(bygglov), lastCalls},
		{"window past the end", rest.ErrandFilter{CaseTypes: []string{"BYGGLOV"}}, len(bygglov) + 40, 20, nil, len(bygglov), 1},
		{"status filter", rest.ErrandFilter{Status: model.ErrandDecided}, 0, 30, window(decided, 0, 30), len(decided), 1},
		{"status and case type", rest.ErrandFilter{Status: model.ErrandDecided, CaseTypes: []string{"BYGGLOV"}}, 0, 100, window(decidedBygglov, 0, 100), len(decidedBygglov), 1},
		{"unknown case type", rest.ErrandFilter{CaseTypes: []string{"NO_SUCH_TYPE"}}, 0, 20, nil, 0, 1},
		{"no filter, page size capped at MaxPage", rest.ErrandFilter{}, 0, 500, all[:rest.MaxPage], len(all), 1},
		{"no filter, unaligned full page", rest.ErrandFilter{}, 50, 100, window(all, 50, 100), len(all), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
			got, total, err := s.etjanst.Errands(t.Context(), tc.filter, tc.offset, tc.n)
			if err != nil {
				t.Fatalf("Errands: %v", err)
			}
			if !sameList(got, tc.want) {
				t.Errorf("Errands(%+v, %d, %d) returned %d errands %s\nwant %d: %s",
					tc.filter, tc.offset, tc.n, len(got), numbers(got), len(tc.want), numbers(tc.want))
			}
			if total != tc.total {
				t.Errorf("total = %d, want %d", total, tc.total)
			}
			if c := s.counters("etjanst"); !reflect.DeepEqual(c, map[string]sim.Counter{"listErrands": {Calls: tc.calls}}) {
				t.Errorf("e-service platform calls = %+v, want %d listErrands", c, tc.calls)
			}
		})
	}
}

func numbers(es []*model.Errand) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.ErrandNumber)
		b.WriteByte(' ')
	}
	return b.String()
}

func TestETjanstErrandsByNumber(t *testing.T) {
	all := testWorld().Errands
	if len(all) < 150 {
		t.Fatalf("the test world has %d errands; want at least 150", len(all))
	}
	many := make([]string, 150)
	wantMany := map[string]*model.Errand{}
	for i := range many {
		many[i] = all[i].ErrandNumber
		wantMany[all[i].ErrandNumber] = all[i]
	}
	tests := []struct {
		name    string
		numbers []string
		want    map[string]*model.Errand
		counter sim.Counter // errandsByNumber
	}{
		{
			name:    "known, unknown and repeated numbers in one call",
			numbers: []string{all[7].ErrandNumber, "BYGG-1999-999999", all[3].ErrandNumber, all[7].ErrandNumber},
			want:    map[string]*model.Errand{all[7].ErrandNumber: all[7], all[3].ErrandNumber: all[3]},
			counter: sim.Counter{Calls: 1, Keys: 4},
		},
		{
			name:    "only unknown numbers",
			numbers: []string{"BYGG-1999-999999", "x,y"},
			want:    map[string]*model.Errand{},
			counter: sim.Counter{Calls: 1, Keys: 3}, // the comma splits one value in two on the wire
		},
		{
			name:    "more than one batch",
			numbers: many,
			want:    wantMany,
			counter: sim.Counter{Calls: 2, Keys: 150},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
			got, err := s.etjanst.ErrandsByNumber(t.Context(), tc.numbers)
			if err != nil {
				t.Fatalf("ErrandsByNumber: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ErrandsByNumber returned %d errands, want %d", len(got), len(tc.want))
			}
			if c := s.counters("etjanst"); !reflect.DeepEqual(c, map[string]sim.Counter{"errandsByNumber": tc.counter}) {
				t.Errorf("e-service platform calls = %+v, want errandsByNumber %+v", c, tc.counter)
			}
		})
	}
}

func TestETjanstPartyLookupRoundTrip(t *testing.T) {
	w := testWorld()
	s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
	pnrs := []string{w.People[0].PersonalNumber, w.People[10].PersonalNumber, w.People[20].PersonalNumber, "190001010008"}
	if w.PartyOf[pnrs[3]] != "" {
		t.Fatalf("%s is in the test world", pnrs[3])
	}
	wantParties := map[string]string{}
	for _, p := range pnrs[:3] {
		wantParties[p] = w.PartyOf[p]
	}

	parties, err := s.etjanst.PartiesByPersonalNumber(t.Context(), pnrs)
	if err != nil {
		t.Fatalf("PartiesByPersonalNumber: %v", err)
	}
	if !reflect.DeepEqual(parties, wantParties) {
		t.Errorf("PartiesByPersonalNumber = %v, want %v", parties, wantParties)
	}

	ids := []string{"00000000-0000-4000-8000-000000000000"}
	wantNumbers := map[string]string{}
	for p, id := range parties {
		ids = append(ids, id)
		wantNumbers[id] = p
	}
	numbersByParty, err := s.etjanst.PersonalNumbersByParty(t.Context(), ids)
	if err != nil {
		t.Fatalf("PersonalNumbersByParty: %v", err)
	}
	if !reflect.DeepEqual(numbersByParty, wantNumbers) {
		t.Errorf("PersonalNumbersByParty = %v, want %v", numbersByParty, wantNumbers)
	}
	if c := s.counters("etjanst"); !reflect.DeepEqual(c, map[string]sim.Counter{"lookupParties": {Calls: 2, Keys: 8}}) {
		t.Errorf("e-service platform calls = %+v, want two lookupParties of 4 keys", c)
	}

	t.Run("no keys, no call", func(t *testing.T) {
		s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
		got, err := s.etjanst.PartiesByPersonalNumber(t.Context(), nil)
		if err != nil || len(got) != 0 {
			t.Errorf("PartiesByPersonalNumber(nil) = %v, %v", got, err)
		}
		if c := s.counters("etjanst"); len(c) != 0 {
			t.Errorf("e-service platform calls = %+v, want none", c)
		}
	})
}

func TestETjanstErrandsByParty(t *testing.T) {
	w := testWorld()
	bygglov := worldErrands(byCaseType("BYGGLOV"))
	preschool := worldErrands(byCaseType("FORSKOLEPLATS"))
	if len(bygglov) == 0 || len(preschool) == 0 {
		t.Fatal("the test world needs BYGGLOV and FORSKOLEPLATS errands")
	}
	applicant := bygglov[0].Stakeholders[0].PartyID
	pupil := preschool[0].Stakeholders[len(preschool[0].Stakeholders)-1].PartyID
	guardian := preschool[0].Stakeholders[0].PartyID
	stranger := "00000000-0000-4000-8000-000000000000"
	if w.PersonOfParty[stranger] != "" {
		t.Fatal("the stranger is in the test world")
	}
	of := func(party string) []*model.Errand {
		return worldErrands(func(e *model.Errand) bool {
			for _, s := range e.Stakeholders {
				if s.PartyID == party {
					return true
				}
			}
			return false
		})
	}

	tests := []struct {
		name    string
		parties []string
		want    map[string][]*model.Errand
		calls   int64
	}{
		{"one party", []string{applicant}, map[string][]*model.Errand{applicant: of(applicant)}, 1},
		{"guardian, pupil and a stranger", []string{guardian, pupil, stranger},
			map[string][]*model.Errand{guardian: of(guardian), pupil: of(pupil)}, 1},
		{"no parties, no call", nil, map[string][]*model.Errand{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
			got, err := s.etjanst.ErrandsByParty(t.Context(), tc.parties)
			if err != nil {
				t.Fatalf("ErrandsByParty: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				for p, es := range got {
					t.Errorf("party %s: got %s", p, numbers(es))
				}
				for p, es := range tc.want {
					t.Errorf("party %s: want %s", p, numbers(es))
				}
			}
			want := map[string]sim.Counter{}
			if tc.calls > 0 {
				want["listErrands"] = sim.Counter{Calls: tc.calls}
			}
			if c := s.counters("etjanst"); !reflect.DeepEqual(c, want) {
				t.Errorf("e-service platform calls = %+v, want %+v", c, want)
			}
		})
	}
}

// TestETjanstErrandsByPartyTwoRoles: a party may hold two roles in one
// errand (an applicant who is also the property's owner); the errand is
// still listed once for that party.
func TestETjanstErrandsByPartyTwoRoles(t *testing.T) {
	const party, other = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	submitted := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	list := rest.ErrandList{
		Errands: []rest.ErrandDTO{{
			ErrandNumber: "BYGG-2025-000001", CaseType: "BYGGLOV", Status: "RECEIVED", SubmittedAt: submitted,
			Description: "Ansökan om bygglov.", Channel: "E_SERVICE", PropertyObjectID: "33333333-3333-4333-8333-333333333333",
			Stakeholders: []rest.StakeholderDTO{
				{PartyID: party, Role: "APPLICANT"}, {PartyID: party, Role: "PROPERTY_OWNER"}, {PartyID: other, Role: "PROPERTY_OWNER"},
			},
		}},
		Meta: rest.PageMeta{Page: 1, Limit: 100, Count: 1, TotalRecords: 1, TotalPages: 1},
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
	t.Cleanup(srv.Close)
	e, err := rest.NewETjanst(quietOptions(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.ErrandsByParty(t.Context(), []string{party, other})
	if err != nil {
		t.Fatalf("ErrandsByParty: %v", err)
	}
	errand := &model.Errand{
		ErrandNumber: "BYGG-2025-000001", CaseType: "BYGGLOV", Status: model.ErrandReceived, SubmittedAt: submitted,
		Description: "Ansökan om bygglov.", Channel: "E_SERVICE", PropertyObjectID: "33333333-3333-4333-8333-333333333333",
		Stakeholders: []*model.Stakeholder{
			{PartyID: party, Role: model.RoleApplicant}, {PartyID: party, Role: model.RolePropertyOwner}, {PartyID: other, Role: model.RolePropertyOwner},
		},
	}
	want := map[string][]*model.Errand{party: {errand}, other: {errand}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ErrandsByParty\n got %s\nwant %s", dump(t, got), dump(t, want))
	}
	if h := hits.Load(); h != 1 {
		t.Errorf("upstream calls = %d, want 1", h)
	}
}

func TestGeodataPropertiesByID(t *testing.T) {
	w := testWorld()
	p0, p5 := w.Properties[0], w.Properties[5]
	s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
	got, err := s.geodata.PropertiesByID(t.Context(), []string{p0.ObjectID, "00000000-0000-4000-8000-000000000000", p5.ObjectID})
	if err != nil {
		t.Fatalf("PropertiesByID: %v", err)
	}
	want := map[string]*model.Property{p0.ObjectID: p0, p5.ObjectID: p5}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PropertiesByID\n got %s\nwant %s", dump(t, got), dump(t, want))
	}
	if c := s.counters("geodata"); !reflect.DeepEqual(c, map[string]sim.Counter{"items": {Calls: 1, Keys: 3}}) {
		t.Errorf("property register calls = %+v, want one items call of 3 keys", c)
	}
}

func TestGeodataPropertyByDesignation(t *testing.T) {
	p := testWorld().Properties[3]
	injected := p.Designation + "?x=1&limit=5"
	traversal := "../../conformance?" + p.Designation
	tests := []struct {
		name        string
		designation string
		want        *model.Property
	}{
		{"exact", p.Designation, p},
		{"lower case", strings.ToLower(p.Designation), p},
		{"mixed case", strings.ToUpper(p.Designation[:7]) + strings.ToLower(p.Designation[7:]), p},
		{"unknown", "ÖREBRO FINNSINTE 99:999", nil},
		{"query string in the designation", injected, nil},
		{"path traversal in the designation", traversal, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
			got, err := s.geodata.PropertyByDesignation(t.Context(), tc.designation)
			if err != nil {
				t.Fatalf("PropertyByDesignation(%q): %v", tc.designation, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PropertyByDesignation(%q)\n got %s\nwant %s", tc.designation, dump(t, got), dump(t, tc.want))
			}
			if c := s.counters("geodata"); !reflect.DeepEqual(c, map[string]sim.Counter{"items": {Calls: 1, Keys: 1}}) {
				t.Errorf("property register calls = %+v, want one items call of 1 key", c)
			}
			reqs := s.geodataLog.all()
			if len(reqs) != 1 {
				t.Fatalf("the register received %d requests, want 1", len(reqs))
			}
			wantQuery := url.Values{"beteckning": {tc.designation}, "limit": {"1"}}
			if r := reqs[0]; r.Path != "/collections/fastigheter/items" || !reflect.DeepEqual(r.Query(), wantQuery) {
				t.Errorf("request %s?%s, want path /collections/fastigheter/items and query %v", r.Path, r.RawQuery, wantQuery)
			}
		})
	}
}

func TestGeodataOwners(t *testing.T) {
	w := testWorld()
	var couple, company, municipal *model.Property
	for _, p := range w.Properties {
		owners := w.Owners[p.ObjectID]
		switch {
		case couple == nil && len(owners) == 2:
			couple = p
		case company == nil && len(owners) == 1 && strings.HasPrefix(owners[0].OrganisationNumber, "556"):
			company = p
		case municipal == nil && len(owners) == 1 && owners[0].OrganisationNumber == "212000-0000":
			municipal = p
		}
	}
	if couple == nil || company == nil || municipal == nil {
		t.Fatal("the test world needs a property owned by a couple, one by a company and one by the municipality")
	}

	for _, p := range []*model.Property{couple, company, municipal} {
		t.Run(p.Designation, func(t *testing.T) {
			s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
			got, err := s.geodata.Owners(t.Context(), p.ObjectID)
			if err != nil {
				t.Fatalf("Owners(%s): %v", p.ObjectID, err)
			}
			if want := w.Owners[p.ObjectID]; !reflect.DeepEqual(got, want) {
				t.Errorf("Owners(%s)\n got %s\nwant %s", p.ObjectID, dump(t, got), dump(t, want))
			}
			if c := s.counters("geodata"); !reflect.DeepEqual(c, map[string]sim.Counter{"lagfart": {Calls: 1, Keys: 1}}) {
				t.Errorf("property register calls = %+v, want one lagfart call", c)
			}
		})
	}

	t.Run("golden", func(t *testing.T) {
		s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
		mapped := map[string][]*model.PropertyOwner{}
		for _, p := range []*model.Property{couple, company, municipal} {
			got, err := s.geodata.Owners(t.Context(), p.ObjectID)
			if err != nil {
				t.Fatalf("Owners(%s): %v", p.ObjectID, err)
			}
			mapped[p.Designation] = got
		}
		golden(t, filepath.Join("testdata", "owners.golden.json"), dump(t, mapped))
	})

	t.Run("unknown property", func(t *testing.T) {
		s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
		got, err := s.geodata.Owners(t.Context(), "00000000-0000-4000-8000-000000000000")
		if got != nil || upstream.KindOf(err) != upstream.NotFound {
			t.Errorf("Owners(unknown) = %v, %v; want NotFound", got, err)
		}
	})

	t.Run("an id with slashes stays one path segment", func(t *testing.T) {
		s := newSystems(t, sim.FaultConfig{}, sim.FaultConfig{})
		_, err := s.geodata.Owners(t.Context(), "../../conformance")
		if err == nil {
			t.Fatal("Owners(../../conformance) succeeded")
		}
		reqs := s.geodataLog.all()
		if len(reqs) != 1 || reqs[0].EscapedPath() != "/legacy/lagfart/..%2F..%2Fconformance" {
			t.Errorf("requests %v, want one to /legacy/lagfart/..%%2F..%%2Fconformance", reqs)
		}
	})
}

func TestFailuresAreClassified(t *testing.T) {
	const (
		bad         = "upstream %s sent a response that could not be read"
		unavailable = "upstream %s is unavailable"
		rejected    = "upstream %s rejected the request"
	)
	problem400 := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(rest.Problem{Title: "Bad Request", Status: 400, Detail: "hemlig detalj: <script>"})
	}
	jsonAsHTML := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = json.NewEncoder(w).Encode(rest.ErrandList{Meta: rest.PageMeta{Page: 1, Limit: 20}})
	}
	noContentType := func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = nil
		_, _ = io.WriteString(w, `{"errands":[],"_meta":{"page":1}}`)
	}
	errands := func(s *systems) error {
		_, _, err := s.etjanst.Errands(t.Context(), rest.ErrandFilter{}, 0, 20)
		return err
	}
	lookup := func(s *systems) error {
		_, err := s.etjanst.PartiesByPersonalNumber(t.Context(), []string{testWorld().People[0].PersonalNumber})
		return err
	}
	items := func(s *systems) error {
		_, err := s.geodata.PropertiesByID(t.Context(), []string{testWorld().Properties[0].ObjectID})
		return err
	}
	owners := func(s *systems) error {
		_, err := s.geodata.Owners(t.Context(), testWorld().Properties[0].ObjectID)
		return err
	}
	malformed := func(kind string) sim.FaultConfig { return sim.FaultConfig{MalformedRate: 1, Malformed: kind} }

	tests := []struct {
		name    string
		system  string // etjanst or geodata
		handler http.HandlerFunc
		faults  sim.FaultConfig // for the simulator when handler is nil
		call    func(*systems) error
		kind    upstream.Kind
		public  string
		isErr   error
		calls   map[string]int64 // simulator counts, when the simulator answers
		hits    int64            // handler calls, when a handler answers
	}{
		{name: "problem+json 400 is rejected, not retried", system: "etjanst", handler: problem400, call: errands,
			kind: upstream.Rejected, public: rejected, hits: 1},
		{name: "problem+json 400 on a POST lookup", system: "etjanst", handler: problem400, call: lookup,
			kind: upstream.Rejected, public: rejected, hits: 1},
		{name: "JSON labelled text/html", system: "etjanst", handler: jsonAsHTML, call: errands,
			kind: upstream.BadResponse, public: bad, hits: 1},
		{name: "no content type", system: "etjanst", handler: noContentType, call: errands,
			kind: upstream.BadResponse, public: bad, hits: 1},
		{name: "HTML error page with 200", system: "etjanst", faults: malformed(sim.MalformedHTML), call: errands,
			kind: upstream.BadResponse, public: bad, calls: map[string]int64{"fault:html": 1}},
		{name: "truncated JSON", system: "etjanst", faults: malformed(sim.MalformedTruncated), call: errands,
			kind: upstream.BadResponse, public: bad, calls: map[string]int64{"fault:truncated": 1, "listErrands": 1}},
		{name: "XML with DOCTYPE instead of JSON", system: "etjanst", faults: malformed(sim.MalformedDoctype), call: errands,
			kind: upstream.BadResponse, public: bad, isErr: upstream.ErrXMLDirective, calls: map[string]int64{"fault:doctype": 1}},
		{name: "JSON over the size cap", system: "etjanst", faults: malformed(sim.MalformedHuge), call: errands,
			kind: upstream.BadResponse, public: bad, calls: map[string]int64{"fault:huge": 1}},
		{name: "503 is retried twice", system: "etjanst", faults: sim.FaultConfig{ErrorRate: 1}, call: errands,
			kind: upstream.Unavailable, public: unavailable, calls: map[string]int64{"fault:error": 3}},
		{name: "GeoJSON: HTML error page with 200", system: "geodata", faults: malformed(sim.MalformedHTML), call: items,
			kind: upstream.BadResponse, public: bad, calls: map[string]int64{"fault:html": 1}},
		{name: "legacy XML: DOCTYPE with entities", system: "geodata", faults: malformed(sim.MalformedDoctype), call: owners,
			kind: upstream.BadResponse, public: bad, isErr: upstream.ErrXMLDirective, calls: map[string]int64{"fault:doctype": 1, "lagfart": 1}},
		{name: "legacy XML: truncated", system: "geodata", faults: malformed(sim.MalformedTruncated), call: owners,
			kind: upstream.BadResponse, public: bad, calls: map[string]int64{"fault:truncated": 1, "lagfart": 1}},
		{name: "legacy XML: HTML error page with 200", system: "geodata", faults: malformed(sim.MalformedHTML), call: owners,
			kind: upstream.BadResponse, public: bad, calls: map[string]int64{"fault:html": 1}},
		{name: "legacy XML: 503 is retried twice", system: "geodata", faults: sim.FaultConfig{ErrorRate: 1}, call: owners,
			kind: upstream.Unavailable, public: unavailable, calls: map[string]int64{"fault:error": 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s *systems
			var hits atomic.Int64
			if tc.handler != nil {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					tc.handler(w, r)
				}))
				t.Cleanup(srv.Close)
				s = &systems{}
				var err error
				if s.etjanst, err = rest.NewETjanst(quietOptions(srv.URL)); err != nil {
					t.Fatal(err)
				}
				if s.geodata, err = rest.NewGeodata(quietOptions(srv.URL)); err != nil {
					t.Fatal(err)
				}
			} else if tc.system == "etjanst" {
				s = newSystems(t, tc.faults, sim.FaultConfig{})
			} else {
				s = newSystems(t, sim.FaultConfig{}, tc.faults)
			}

			err := tc.call(s)
			var ue *upstream.Error
			if !errors.As(err, &ue) {
				t.Fatalf("error = %v (%T), want an *upstream.Error", err, err)
			}
			if ue.Kind != tc.kind || ue.Source != tc.system {
				t.Errorf("error from %s kind %s, want %s kind %s (%v)", ue.Source, ue.Kind.Code(), tc.system, tc.kind.Code(), err)
			}
			public := fmt.Sprintf(tc.public, tc.system)
			if ue.Public() != public {
				t.Errorf("Public() = %q, want %q", ue.Public(), public)
			}
			for _, leak := range []string{"<", "hemlig", "DOCTYPE", "nginx", "Bad Request", "Tjänsten"} {
				if strings.Contains(ue.Public(), leak) {
					t.Errorf("Public() %q contains %q from the upstream's answer", ue.Public(), leak)
				}
			}
			if tc.isErr != nil && !errors.Is(err, tc.isErr) {
				t.Errorf("error %v does not wrap %v", err, tc.isErr)
			}
			if tc.handler != nil {
				if h := hits.Load(); h != tc.hits {
					t.Errorf("upstream calls = %d, want %d", h, tc.hits)
				}
				return
			}
			got := map[string]int64{}
			for op, c := range s.counters(tc.system) {
				got[op] = c.Calls
			}
			if !reflect.DeepEqual(got, tc.calls) {
				t.Errorf("simulator calls = %v, want %v", got, tc.calls)
			}
		})
	}

	t.Run("problem title goes to the log, not to the client", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(problem400))
		t.Cleanup(srv.Close)
		e, err := rest.NewETjanst(quietOptions(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = e.Errands(t.Context(), rest.ErrandFilter{}, 0, 20)
		if !strings.Contains(err.Error(), `problem "Bad Request": hemlig detalj`) {
			t.Errorf("Error() = %q, want the problem for the log", err.Error())
		}
	})
}

// dump is v as indented JSON with a final newline.
func dump(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// golden compares got with the file at path, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	testenv.Golden(t, path, got, *update)
}
