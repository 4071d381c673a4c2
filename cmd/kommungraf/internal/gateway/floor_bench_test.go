package gateway_test

// The floor (issue 10, item 4): Q1 and Q2 answered by a program that makes
// only the minimal upstream calls, straight to the same simulators the
// gateway under test calls, with the same source clients (so it pays the
// same transport, SOAP/XML/JSON decoding and SQL), but without GraphQL,
// dataloaders, cache or authorization machinery, and with no bound on
// concurrent calls that a query could reach. Each call starts as soon as the
// calls it needs have answered, and all calls of one step go at once: the
// physical floor of a query at a given upstream latency.
//
// The floor returns exactly what the gateway returns to the persona that
// runs the query (TestFloorAnswersLikeTheGateway compares the two answers
// and their upstream calls), so that it cannot get ahead by skipping work:
// a protected person's data is left out as the enforcement leaves it out,
// and the registry is asked for the owners whose names the case officer may
// only see once their protection is known.
//
// BenchmarkFloor runs the floor and the gateway one after the other, in
// alternating order, against one set of simulators and reports both medians
// and their ratio.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/soap"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// floorMaxConcurrent is the floor's bound on calls in flight per upstream:
// above what one Q2 asks of the registry (about 1,200 people), so that every
// step of one query goes out at once.
const floorMaxConcurrent = 4096

// floor calls the upstreams of a demo gateway directly.
type floor struct {
	registry *soap.Navet
	errands  *rest.ETjanst
	geo      *rest.Geodata
	school   *sqldb.Store
}

// newFloor builds the floor's clients for gw's simulators and school
// database, with gw's timeouts and retries but floorMaxConcurrent as every
// HTTP upstream's bound. The school database is a second pool on the same
// SQLite file, counted by the simulators' Stats like the gateway's.
func newFloor(tb testing.TB, gw *gateway.Gateway) *floor {
	tb.Helper()
	src := gw.Config().Sources
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := func(name string, s config.HTTPSource) upstream.Options {
		// Keep every connection a query opened for the next one: the
		// default transport's MaxIdleConns (100 in all) would close most
		// of a Q2's 1,200 and open them again, each query.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 0, floorMaxConcurrent
		t.ResponseHeaderTimeout = s.Timeout
		tb.Cleanup(t.CloseIdleConnections)
		return upstream.Options{
			Name: name, BaseURL: s.URL, Timeout: s.Timeout, MaxBodyBytes: s.MaxBodyBytes,
			Retries: s.Retries, RetryBackoff: s.RetryBackoff, BreakerFailures: s.BreakerFailures, BreakerOpen: s.BreakerOpen,
			MaxConcurrent: floorMaxConcurrent, Transport: t, Logger: log,
		}
	}
	registry, err := soap.NewNavet(soap.NavetOptions{
		Options: opts("folkbokforing", src.Folkbokforing.HTTPSource),
		OrgNr:   src.Folkbokforing.OrgNr, BestallningsID: src.Folkbokforing.BestallningsID,
	})
	if err != nil {
		tb.Fatal(err)
	}
	errands, err := rest.NewETjanst(opts("etjanst", src.Etjanst))
	if err != nil {
		tb.Fatal(err)
	}
	geo, err := rest.NewGeodata(opts("geodata", src.Geodata))
	if err != nil {
		tb.Fatal(err)
	}
	db := src.Skoldatabas
	school, err := sqldb.Open(context.Background(), sqldb.Options{
		Driver: db.Driver, DSN: db.DSN, MaxOpenConns: db.MaxOpenConns, QueryTimeout: db.QueryTimeout,
		Recorder: gw.Sim().Stats,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { school.Close() })
	return &floor{registry: registry, errands: errands, geo: geo, school: school}
}

// people asks the registry for every person at once. A person the registry
// does not know is nil in the map, as the gateway's loader leaves it null.
func (f *floor) people(ctx context.Context, pnrs []string) (map[string]*model.Person, error) {
	got := make([]*model.Person, len(pnrs))
	g, ctx := errgroup.WithContext(ctx)
	for i, pnr := range pnrs {
		g.Go(func() error {
			p, err := f.registry.Person(ctx, pnr)
			if err != nil && !upstream.IsNotFound(err) {
				return err
			}
			got[i] = p
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string]*model.Person, len(pnrs))
	for i, pnr := range pnrs {
		out[pnr] = got[i]
	}
	return out, nil
}

// owners asks the title register for every property's owners at once.
func (f *floor) owners(ctx context.Context, ids []string) (map[string][]*model.PropertyOwner, error) {
	got := make([][]*model.PropertyOwner, len(ids))
	g, ctx := errgroup.WithContext(ctx)
	for i, id := range ids {
		g.Go(func() error {
			o, err := f.geo.Owners(ctx, id)
			if err != nil && !upstream.IsNotFound(err) {
				return err
			}
			got[i] = o
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string][]*model.PropertyOwner, len(ids))
	for i, id := range ids {
		out[id] = got[i]
	}
	return out, nil
}

// visible is a person the case officer and the preschool administrator may
// see: known to the registry and neither protected nor marked. (Neither
// persona is cleared for protected identities; the enforcement treats a
// person the registry does not know as protected.)
func visible(p *model.Person) bool { return p != nil && !p.IsProtected() }

// The answers' shapes: what the gateway's JSON "data" holds for Q1 and Q2.
type (
	floorQ1Data struct {
		Errands struct {
			Edges []floorQ1Edge `json:"edges"`
		} `json:"errands"`
	}
	floorQ1Edge struct {
		Node floorQ1Errand `json:"node"`
	}
	floorQ1Errand struct {
		ErrandNumber string                `json:"errandNumber"`
		Status       string                `json:"status"`
		Property     *floorQ1Property      `json:"property"`
		Stakeholders []*floorQ1Stakeholder `json:"stakeholders"`
	}
	floorQ1Property struct {
		Designation string          `json:"designation"`
		AreaM2      float64         `json:"areaM2"`
		Owners      []*floorQ1Owner `json:"owners"`
	}
	floorQ1Owner struct {
		Name *string `json:"name"` // null when the owner is protected
	}
	floorQ1Stakeholder struct {
		Role   string         `json:"role"`
		Person *floorQ1Person `json:"person"`
	}
	floorQ1Person struct {
		GivenName string     `json:"givenName"`
		Surname   string     `json:"surname"`
		Address   *floorCity `json:"address"`
	}
	floorCity struct {
		City string `json:"city"`
	}

	floorQ2Data struct {
		SchoolUnits struct {
			Edges []floorQ2Edge `json:"edges"`
		} `json:"schoolUnits"`
	}
	floorQ2Edge struct {
		Node floorQ2Unit `json:"node"`
	}
	floorQ2Unit struct {
		Name       string               `json:"name"`
		Property   *floorQ2Property     `json:"property"`
		Placements floorQ2PlacementConn `json:"placements"`
	}
	floorQ2Property struct {
		Designation string `json:"designation"`
	}
	floorQ2PlacementConn struct {
		Edges []floorQ2PlacementEdge `json:"edges"`
	}
	floorQ2PlacementEdge struct {
		Node floorQ2Placement `json:"node"`
	}
	floorQ2Placement struct {
		Group       *string       `json:"group"`       // null when the child is protected
		SpecialDiet []string      `json:"specialDiet"` // null when none, or the child is protected
		Child       *floorQ2Child `json:"child"`
	}
	floorQ2Child struct {
		GivenName string             `json:"givenName"`
		Guardians []*floorQ2Guardian `json:"guardians"`
	}
	floorQ2Guardian struct {
		GivenName string     `json:"givenName"`
		Address   *floorCity `json:"address"`
	}
)

func city(a *model.Address) *floorCity {
	if a == nil {
		return nil
	}
	return &floorCity{City: a.City}
}

// q1 answers Q1 for the bygglov case officer with the minimal calls:
//
//	errands listing -> party lookup (1 call)     -> one PersonpostXML per person
//	                -> properties batch (1 call) -> one lagfart per property
//
// and, after both, PersonpostXML for any owner who is a natural person and
// not a stakeholder: the enforcement needs an owner's protection before it
// shows the owner's name. (In the demo's world every such owner is a
// stakeholder of the errand, so this step makes no call.)
func (f *floor) q1(ctx context.Context, n int) (*floorQ1Data, error) {
	errands, _, err := f.errands.Errands(ctx, rest.ErrandFilter{CaseTypes: []string{"BYGGLOV"}}, 0, n)
	if err != nil {
		return nil, err
	}
	var parties, propIDs []string
	for _, e := range errands {
		for _, s := range e.Stakeholders {
			parties = append(parties, s.PartyID)
		}
		if e.PropertyObjectID != "" {
			propIDs = append(propIDs, e.PropertyObjectID)
		}
	}
	var (
		pnrOf  map[string]string
		people map[string]*model.Person
		props  map[string]*model.Property
		owners map[string][]*model.PropertyOwner
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		if pnrOf, err = f.errands.PersonalNumbersByParty(gctx, floorDistinct(parties)); err != nil {
			return err
		}
		var pnrs []string
		for _, party := range parties {
			if pnr := pnrOf[party]; pnr != "" {
				pnrs = append(pnrs, pnr)
			}
		}
		people, err = f.people(gctx, floorDistinct(pnrs))
		return err
	})
	g.Go(func() error {
		var err error
		if props, err = f.geo.PropertiesByID(gctx, floorDistinct(propIDs)); err != nil {
			return err
		}
		var found []string
		for _, id := range floorDistinct(propIDs) {
			if props[id] != nil {
				found = append(found, id)
			}
		}
		owners, err = f.owners(gctx, found)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var more []string
	for _, list := range owners {
		for _, o := range list {
			if _, known := people[o.PersonalNumber]; o.PersonalNumber != "" && !known {
				more = append(more, o.PersonalNumber)
			}
		}
	}
	if len(more) > 0 {
		extra, err := f.people(ctx, floorDistinct(more))
		if err != nil {
			return nil, err
		}
		for pnr, p := range extra {
			people[pnr] = p
		}
	}

	out := &floorQ1Data{}
	out.Errands.Edges = make([]floorQ1Edge, len(errands))
	for i, e := range errands {
		node := &out.Errands.Edges[i].Node
		node.ErrandNumber, node.Status = e.ErrandNumber, string(e.Status)
		if p := props[e.PropertyObjectID]; p != nil {
			prop := &floorQ1Property{Designation: p.Designation, AreaM2: p.AreaM2}
			if list := owners[p.ObjectID]; list != nil {
				prop.Owners = make([]*floorQ1Owner, len(list))
				for j, o := range list {
					prop.Owners[j] = &floorQ1Owner{}
					if o.PersonalNumber == "" || visible(people[o.PersonalNumber]) {
						prop.Owners[j].Name = &o.Name
					}
				}
			}
			node.Property = prop
		}
		node.Stakeholders = make([]*floorQ1Stakeholder, len(e.Stakeholders))
		for j, s := range e.Stakeholders {
			st := &floorQ1Stakeholder{Role: string(s.Role)}
			if p := people[pnrOf[s.PartyID]]; visible(p) {
				st.Person = &floorQ1Person{GivenName: p.GivenName, Surname: p.Surname, Address: city(p.Address)}
			}
			node.Stakeholders[j] = st
		}
	}
	return out, nil
}

// q2 answers Q2 for the preschool administrator with the minimal calls:
//
//	school units page -> properties batch (1 call)
//	                  -> placements of every unit (1 query) -> one PersonpostXML per child
//	                     -> diets of the visible children (1 query)
//	                     -> one PersonpostXML per guardian of a visible child
//
// A protected child's placement shows neither its group nor its diet, and
// its guardians are never asked for, as the enforcement does it.
func (f *floor) q2(ctx context.Context, units, perUnit int) (*floorQ2Data, error) {
	us, _, err := f.school.SchoolUnits(ctx, 0, units)
	if err != nil {
		return nil, err
	}
	codes := make([]string, len(us))
	var propIDs []string
	for i, u := range us {
		codes[i] = u.Code
		if u.PropertyObjectID != "" {
			propIDs = append(propIDs, u.PropertyObjectID)
		}
	}
	var (
		props map[string]*model.Property
		pages map[string]sqldb.PlacementPage
		kids  map[string]*model.Person
		adult map[string]*model.Person
		diets map[string][]string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		props, err = f.geo.PropertiesByID(gctx, floorDistinct(propIDs))
		return err
	})
	g.Go(func() error {
		var err error
		if pages, err = f.school.PlacementsByUnit(gctx, codes, 0, perUnit); err != nil {
			return err
		}
		var children []string
		for _, c := range codes {
			for _, p := range pages[c].Placements {
				children = append(children, p.PersonalNumber)
			}
		}
		if kids, err = f.people(gctx, floorDistinct(children)); err != nil {
			return err
		}
		var seen, guardians []string
		for _, pnr := range floorDistinct(children) {
			if c := kids[pnr]; visible(c) {
				seen = append(seen, pnr)
				for _, gp := range c.RelatedNumbers(model.RelationGuardian) {
					if _, known := kids[gp]; !known {
						guardians = append(guardians, gp)
					}
				}
			}
		}
		g2, g2ctx := errgroup.WithContext(gctx)
		g2.Go(func() error {
			var err error
			diets, err = f.school.DietsByPerson(g2ctx, seen)
			return err
		})
		g2.Go(func() error {
			var err error
			adult, err = f.people(g2ctx, floorDistinct(guardians))
			return err
		})
		return g2.Wait()
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}

	person := func(pnr string) *model.Person {
		if p, ok := kids[pnr]; ok {
			return p
		}
		return adult[pnr]
	}
	out := &floorQ2Data{}
	out.SchoolUnits.Edges = make([]floorQ2Edge, len(us))
	for i, u := range us {
		node := &out.SchoolUnits.Edges[i].Node
		node.Name = u.Name
		if p := props[u.PropertyObjectID]; p != nil {
			node.Property = &floorQ2Property{Designation: p.Designation}
		}
		pls := pages[u.Code].Placements
		node.Placements.Edges = make([]floorQ2PlacementEdge, len(pls))
		for j, pl := range pls {
			n := &node.Placements.Edges[j].Node
			c := kids[pl.PersonalNumber]
			if !visible(c) {
				continue // group, specialDiet and child are null
			}
			n.Group, n.SpecialDiet = &pl.Group, diets[pl.PersonalNumber]
			n.Child = &floorQ2Child{GivenName: c.GivenName, Guardians: []*floorQ2Guardian{}}
			for _, gp := range c.RelatedNumbers(model.RelationGuardian) {
				if g := person(gp); visible(g) {
					n.Child.Guardians = append(n.Child.Guardians, &floorQ2Guardian{GivenName: g.GivenName, Address: city(g.Address)})
				}
			}
		}
	}
	return out, nil
}

// floorDistinct drops repeated keys, keeping the first occurrence's order.
func floorDistinct(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// floorQuery is one of the two queries, as the gateway and the floor answer it.
type floorQuery struct {
	name, query, persona string
	floor                func(context.Context, *floor) (any, error)
}

var floorQueries = []floorQuery{
	{"Q1", benchQ1, "case-officer", func(ctx context.Context, f *floor) (any, error) { return f.q1(ctx, 50) }},
	{"Q2", benchQ2, "preschool-admin", func(ctx context.Context, f *floor) (any, error) { return f.q2(ctx, 20, 30) }},
}

// callCounts are the upstream calls of one query: "system operation" ->
// calls and keys.
type callCounts map[string]sim.Counter

func countsOf(s map[string]map[string]sim.Counter) callCounts {
	out := callCounts{}
	for sys, ops := range s {
		for op, c := range ops {
			out[sys+" "+op] = c
		}
	}
	return out
}

func (c callCounts) calls() (n int64) {
	for _, v := range c {
		n += v.Calls
	}
	return n
}

func (c callCounts) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d calls/%d keys; ", k, c[k].Calls, c[k].Keys)
	}
	return b.String()
}

// sameAnswer compares two JSON documents by value and says where the first
// difference is ("" when none).
func sameAnswer(got, want []byte) string {
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return "floor answer: " + err.Error()
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return "gateway answer: " + err.Error()
	}
	return jsonDiff("data", g, w)
}

func jsonDiff(path string, g, w any) string {
	switch w := w.(type) {
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok || len(gm) != len(w) {
			return fmt.Sprintf("%s: floor %.200v, gateway %.200v", path, g, w)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if d := jsonDiff(path+"."+k, gm[k], w[k]); d != "" {
				return d
			}
		}
		return ""
	case []any:
		gs, ok := g.([]any)
		if !ok || len(gs) != len(w) {
			return fmt.Sprintf("%s: floor %.200v, gateway %.200v", path, g, w)
		}
		for i := range w {
			if d := jsonDiff(fmt.Sprintf("%s.%d", path, i), gs[i], w[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(g, w) {
		return fmt.Sprintf("%s: floor %v, gateway %v", path, g, w)
	}
	return ""
}

// TestFloorAnswersLikeTheGateway keeps the floor honest: for Q1 (as the
// case officer) and Q2 (as the preschool administrator), with authorization
// on and no latency, the floor's answer is the gateway's "data", value for
// value (protected people left out in the same places); it makes the calls
// the world says the query needs (one per level where the upstream has a
// batch form, one per distinct person or property where it has not), and
// the same calls as the gateway with the same number of keys.
func TestFloorAnswersLikeTheGateway(t *testing.T) {
	d := startDemo(t, productionBatching, 0, false)
	fl := newFloor(t, d.gw)
	stats := d.gw.Sim().Stats
	q1People, q1Properties := q1Distinct()
	want := map[string]map[string]int64{
		"Q1": {
			"etjanst listErrands": 1, "etjanst lookupParties": 1, "geodata items": 1,
			"folkbokforing PersonpostXML": int64(q1People), "geodata lagfart": int64(q1Properties),
		},
		"Q2": {
			"skoldatabas schoolUnits": 1, "skoldatabas placementsByUnit": 1, "skoldatabas dietsByPerson": 1,
			"geodata items": 1, "folkbokforing PersonpostXML": int64(q2Distinct(20, 30)),
		},
	}
	for _, q := range floorQueries {
		t.Run(q.name, func(t *testing.T) {
			stats.Reset()
			r := d.as(t, q.persona).query(t, q.query)
			forbiddenPaths(t, r) // only FORBIDDEN errors
			gwCalls := countsOf(stats.Snapshot())

			stats.Reset()
			ans, err := q.floor(context.Background(), fl)
			if err != nil {
				t.Fatal(err)
			}
			flCalls := countsOf(stats.Snapshot())
			raw, err := json.Marshal(ans)
			if err != nil {
				t.Fatal(err)
			}
			if diff := sameAnswer(raw, r.Data); diff != "" {
				t.Errorf("the floor's answer differs from the gateway's at %s", diff)
			}
			if !reflect.DeepEqual(flCalls, gwCalls) {
				t.Errorf("upstream calls differ:\nfloor:   %v\ngateway: %v", flCalls, gwCalls)
			}
			got := map[string]int64{}
			for op, c := range flCalls {
				got[op] = c.Calls
			}
			if !reflect.DeepEqual(got, want[q.name]) {
				t.Errorf("the floor's calls: %v\nwant %v", got, want[q.name])
			}
			t.Logf("upstream calls: %v", flCalls)
		})
	}
}

// timedData posts q to g in process and returns the answer's data and how
// long the handler took to write it (the client's decoding is not timed).
// Only FORBIDDEN errors are accepted.
func (g *benchGateway) timedData(q string) (json.RawMessage, time.Duration, error) {
	body, _ := json.Marshal(map[string]string{"query": q})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if g.auth != "" {
		req.Header.Set("Authorization", g.auth)
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	g.handler.ServeHTTP(rec, req)
	took := time.Since(start)
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Extensions struct{ Code string } `json:"extensions"`
		} `json:"errors"`
	}
	err := json.Unmarshal(rec.Body.Bytes(), &r)
	for _, e := range r.Errors {
		if e.Extensions.Code != "FORBIDDEN" {
			err = fmt.Errorf("error %q", e.Extensions.Code)
		}
	}
	if err != nil || rec.Code != http.StatusOK || len(r.Data) == 0 || string(r.Data) == "null" {
		return nil, took, fmt.Errorf("query failed: HTTP %d, %v: %.500s", rec.Code, err, rec.Body.String())
	}
	return r.Data, took, nil
}

// BenchmarkFloor runs Q1 (as the bygglov case officer) and Q2 (as the
// preschool administrator) through the gateway in its production
// configuration (config.Demo() defaults, authorization on, record cache off
// so that every query reaches the upstreams) and through the floor, against
// the same simulators, alternating which goes first. It reports both
// medians and floor-ratio = median(gateway) / median(floor), at the
// registry's default bound (sources.folkbokforing.maxConcurrent) and at 128.
// The gateway's time is its handler's; the floor's ends with its answer
// assembled (not marshalled).
//
// With clients=16 each iteration sends 16 floor queries at once, then 16
// gateway queries at once (or the other way round), and the medians are
// those of every query; the gateway's registry bound is then shared by the
// 16, the floor's is not. Only Q1: 16 Q2s are 20,000 registry calls at once.
//
// Every iteration checks that each answer is the one of the warm-up (where
// the floor's was compared value for value with the gateway's), and that
// floor and gateway made the warm-up's upstream calls with the same keys,
// per query; any difference fails the benchmark.
//
//	go test -run '^$' -bench 'BenchmarkFloor' -benchtime 10x -count 5 ./cmd/kommungraf/internal/gateway/
func BenchmarkFloor(b *testing.B) {
	// The default bound (config.RegistryMaxConcurrent) and the generic
	// upstream default it replaced, under which Q1 takes two rounds.
	bounds := []int{config.Demo().Sources.Folkbokforing.MaxConcurrent}
	if upstream.DefaultMaxConcurrent != bounds[0] {
		bounds = append(bounds, upstream.DefaultMaxConcurrent)
	}
	for _, q := range floorQueries {
		for _, clients := range []int{1, 16} {
			if clients > 1 && q.name != "Q1" {
				continue
			}
			for _, registryMax := range bounds {
				b.Run(fmt.Sprintf("%s/clients=%d/registryMax=%d", q.name, clients, registryMax), func(b *testing.B) {
					benchFloor(b, q, clients, registryMax)
				})
			}
		}
	}
}

func benchFloor(b *testing.B, q floorQuery, clients, registryMax int) {
	g := newBenchGateway(b, benchSetup{persona: q.persona, registryMax: registryMax})
	fl := newFloor(b, g.gw)
	stats := g.gw.Sim().Stats
	ctx := context.Background()

	// The two ways to answer, each timed by itself.
	viaFloor := func() (any, time.Duration, error) {
		start := time.Now()
		ans, err := q.floor(ctx, fl)
		return ans, time.Since(start), err
	}
	viaGateway := func() (any, time.Duration, error) { return g.timedData(q.query) }

	// Warm up both (connections, SQLite's page cache) and take the answers
	// and calls every iteration must give.
	stats.Reset()
	wantGW, _, err := viaGateway()
	if err != nil {
		b.Fatal(err)
	}
	gc := countsOf(stats.Snapshot())
	stats.Reset()
	ans, _, err := viaFloor()
	if err != nil {
		b.Fatal(err)
	}
	fc := countsOf(stats.Snapshot())
	wantFloor := answerJSON(b, ans)
	if diff := sameAnswer(wantFloor, wantGW.(json.RawMessage)); diff != "" {
		b.Fatalf("the floor's answer differs from the gateway's at %s", diff)
	}
	if !reflect.DeepEqual(fc, gc) {
		b.Fatalf("upstream calls differ:\nfloor:   %v\ngateway: %v", fc, gc)
	}
	if n := fc["folkbokforing PersonpostXML"].Calls; n*int64(clients) > floorMaxConcurrent {
		b.Fatalf("%d registry calls: the floor's bound %d does not let them all go at once", n, floorMaxConcurrent)
	}
	want := callCounts{}
	for k, c := range fc {
		want[k] = sim.Counter{Calls: c.Calls * int64(clients), Keys: c.Keys * int64(clients)}
	}

	// round runs clients queries at once and checks them once all are done,
	// so that no check takes CPU from a query still running.
	var wallFloor, wallGW []time.Duration // of each round, for clients > 1
	round := func(who string, run func() (any, time.Duration, error), wantAns []byte) []time.Duration {
		stats.Reset()
		began := time.Now()
		took := make([]time.Duration, clients)
		answers := make([]any, clients)
		errs := make([]error, clients)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				<-start
				answers[i], took[i], errs[i] = run()
			})
		}
		close(start)
		wg.Wait()
		if wall := time.Since(began); who == "floor" {
			wallFloor = append(wallFloor, wall)
		} else {
			wallGW = append(wallGW, wall)
		}
		calls := countsOf(stats.Snapshot())
		for i := range clients {
			if errs[i] != nil {
				b.Fatalf("%s: %v", who, errs[i])
			}
			if got := answerJSON(b, answers[i]); !bytes.Equal(got, wantAns) {
				b.Fatalf("%s: the answer changed: %s", who, sameAnswer(got, wantAns))
			}
		}
		if !reflect.DeepEqual(calls, want) {
			b.Fatalf("%s: upstream calls of %d queries differ from the warm-up's:\ngot:  %v\nwant: %v", who, clients, calls, want)
		}
		return took
	}

	var tFloor, tGW []time.Duration
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			tFloor = append(tFloor, round("floor", viaFloor, wantFloor)...)
			tGW = append(tGW, round("gateway", viaGateway, wantGW.(json.RawMessage))...)
		} else {
			tGW = append(tGW, round("gateway", viaGateway, wantGW.(json.RawMessage))...)
			tFloor = append(tFloor, round("floor", viaFloor, wantFloor)...)
		}
		i++
	}
	slices.Sort(tFloor)
	slices.Sort(tGW)
	mf, mg := percentile(tFloor, 0.5), percentile(tGW, 0.5)
	b.ReportMetric(ms(mf), "floor-ms")
	b.ReportMetric(ms(mg), "gateway-ms")
	b.ReportMetric(float64(mg)/float64(mf), "floor-ratio")
	if clients > 1 {
		// Under load the median query says little of throughput: calls that
		// all go at once share the CPU and finish together, calls queued
		// at a bound finish in turn. The time the clients' queries took
		// together does.
		slices.Sort(wallFloor)
		slices.Sort(wallGW)
		wf, wg := percentile(wallFloor, 0.5), percentile(wallGW, 0.5)
		b.ReportMetric(ms(wf), "floor-round-ms")
		b.ReportMetric(ms(wg), "gateway-round-ms")
		b.ReportMetric(float64(wg)/float64(wf), "round-ratio")
	}
	b.ReportMetric(float64(fc.calls()), "upstream-calls/op")
	b.ReportMetric(float64(fc["folkbokforing PersonpostXML"].Calls), "registry-calls")
}

// answerJSON is an answer as JSON: the gateway's data as it came, the
// floor's marshalled.
func answerJSON(b *testing.B, ans any) []byte {
	if raw, ok := ans.(json.RawMessage); ok {
		return raw
	}
	raw, err := json.Marshal(ans)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}
