package catalog_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/catalog"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/resolvers"
	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// stores opens each kind of store; each open of one kind is the same place.
func stores(t *testing.T) map[string]func(*testing.T) catalog.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "usage.db")
	var dsn string
	return map[string]func(*testing.T) catalog.Store{
		"sqlite": func(t *testing.T) catalog.Store {
			s, err := catalog.OpenSQLite(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"postgres": func(t *testing.T) catalog.Store {
			if dsn == "" {
				dsn = testenv.PostgresURL(t)
			}
			s, err := catalog.OpenPostgres(context.Background(), dsn, "")
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// TestStoreAddsAndSurvivesReopening: counts add up per (day, client,
// item), two writers on one store add theirs, a reopened store has them,
// and Since leaves out older days. SQLite and the real PostgreSQL.
func TestStoreAddsAndSurvivesReopening(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := open(t), open(t)
			var wg sync.WaitGroup
			for _, s := range []catalog.Store{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 5 {
						if err := s.Add(ctx, []catalog.Count{
							{Day: "2026-12-01", Client: "x", Item: catalog.ItemRequests, N: 2},
							{Day: "2026-12-06", Client: "x", Item: catalog.ItemRequests, N: 1},
							{Day: "2026-12-06", Client: "y", Item: catalog.ItemField + "Person.givenName", N: 3},
						}); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			a.Close()
			b.Close()
			c := open(t)
			defer c.Close()
			got, err := c.Since(ctx, "2026-12-02")
			if err != nil {
				t.Fatal(err)
			}
			want := []catalog.Count{
				{Day: "2026-12-06", Client: "x", Item: catalog.ItemRequests, N: 10},
				{Day: "2026-12-06", Client: "y", Item: catalog.ItemField + "Person.givenName", N: 30},
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// failing is a store that refuses until told otherwise.
type failing struct {
	catalog.Store
	mu   sync.Mutex
	fail bool
}

func (f *failing) Add(ctx context.Context, c []catalog.Count) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("down")
	}
	return f.Store.Add(ctx, c)
}

// TestUsageKeepsCountsWhileTheStoreFails: what the store refused is
// added at the next flush, the upstream calls' deltas included, and
// nothing twice.
func TestUsageKeepsCountsWhileTheStoreFails(t *testing.T) {
	ctx := context.Background()
	inner, err := catalog.OpenSQLite(ctx, filepath.Join(t.TempDir(), "u.db"))
	if err != nil {
		t.Fatal(err)
	}
	st := &failing{Store: inner, fail: true}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	calls := map[string]catalog.Calls{"geodata": {Total: 4, OK: 3}}
	var callsMu sync.Mutex
	attr := catalog.NewAttribution([]catalog.System{{Name: "geodata", Resources: []catalog.Resource{{Name: "fastigheter", Types: []string{"Property"}}}}}, nil,
		[]*authz.Field{{Type: "Property", Name: "designation", Key: "Property.designation"}})
	u := catalog.NewUsage(catalog.UsageOptions{Store: st, Attribution: attr, FlushInterval: time.Hour, Now: func() time.Time { return now },
		Upstream: func() map[string]catalog.Calls { callsMu.Lock(); defer callsMu.Unlock(); return maps(calls) }})
	defer u.Close()
	u.Served("bygglov-app", []string{"Property.designation", "Query.property"})
	if err := u.Flush(ctx); err == nil {
		t.Fatal("the failing store's error was not returned")
	}
	u.Served("bygglov-app", []string{"Property.designation"})
	callsMu.Lock()
	calls["geodata"] = catalog.Calls{Total: 6, OK: 5}
	callsMu.Unlock()
	st.mu.Lock()
	st.fail = false
	st.mu.Unlock()
	if _, err := u.Counts(ctx, "2026-12-06"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Counts(ctx, "2026-12-06"); err != nil { // a second flush adds nothing
		t.Fatal(err)
	}
	got, err := inner.Since(ctx, "2026-12-06")
	if err != nil {
		t.Fatal(err)
	}
	want := []catalog.Count{
		{Day: "2026-12-06", Client: "", Item: catalog.ItemCalls + "geodata", N: 6},
		{Day: "2026-12-06", Client: "", Item: catalog.ItemOK + "geodata", N: 5},
		{Day: "2026-12-06", Client: "bygglov-app", Item: catalog.ItemField + "Property.designation", N: 2},
		{Day: "2026-12-06", Client: "bygglov-app", Item: catalog.ItemField + "Query.property", N: 1},
		{Day: "2026-12-06", Client: "bygglov-app", Item: catalog.ItemRequests, N: 2},
		{Day: "2026-12-06", Client: "bygglov-app", Item: catalog.ItemResource + "geodata.fastigheter", N: 2},
		{Day: "2026-12-06", Client: "bygglov-app", Item: catalog.ItemSource + "geodata", N: 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func maps(m map[string]catalog.Calls) map[string]catalog.Calls {
	out := map[string]catalog.Calls{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestSystemsCoverTheSchema: every field the built-in table names exists,
// every field of a system's type is attributed to a system, and the five
// demo systems come out with their kinds and owners.
func TestSystemsCoverTheSchema(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	cat, err := authz.Classify(schema)
	if err != nil {
		t.Fatal(err)
	}
	set, err := declare.Load(declared.Files(), schema, loaders.Builtins(), connect.CheckParts)
	if err != nil {
		t.Fatal(err)
	}
	systems := catalog.SystemsFrom(set, cat.Fields())
	for key := range catalog.Served {
		sys, res, _ := strings.Cut(key, ".")
		if d := set.System(sys); d == nil || !slices.ContainsFunc(d.Resources, func(r *declare.Resource) bool { return r.Name == res }) {
			t.Errorf("catalog.Served names %s, which no declaration has", key)
		}
	}
	for _, s := range systems {
		for _, r := range s.Resources {
			for _, f := range r.Fields {
				if !slices.ContainsFunc(cat.Fields(), func(x *authz.Field) bool { return x.Key == f }) {
					t.Errorf("%s.%s names %s, which the schema does not have", s.Name, r.Name, f)
				}
			}
		}
		if s.Owner == "" || s.Availability == "" || s.Kind == "" {
			t.Errorf("%s: owner %q, availability %q, kind %q", s.Name, s.Owner, s.Availability, s.Kind)
		}
	}
	attr := catalog.NewAttribution(systems, catalog.Bindings(schema), cat.Fields())
	for _, f := range cat.Fields() {
		sys, _ := attr.Of(f.Key)
		if f.Type == "PageInfo" {
			if sys != "" {
				t.Errorf("%s attributed to %s", f.Key, sys)
			}
			continue
		}
		if sys == "" {
			t.Errorf("%s is served by no system", f.Key)
		}
	}
	for field, want := range map[string][2]string{
		"Property.wastePickups":        {"avfall", "pickups"},
		"WastePickup.invoiceRecipient": {"folkbokforing", "personByParty"},
		"Errand.decisions":             {"etjanst", "listDecisions"},
		"Placement.specialDiet":        {"skoldatabas", "diets"},
		"Property.owners":              {"geodata", "owners"},
		"Query.person":                 {"folkbokforing", "person"},
	} {
		if s, r := attr.Of(field); s != want[0] || r != want[1] {
			t.Errorf("%s: %s.%s, want %s.%s", field, s, r, want[0], want[1])
		}
	}
}

// TestAvailability: the promise's figure against the calls that answered.
func TestAvailability(t *testing.T) {
	sys := []catalog.System{{Name: "a", Availability: "99.5 %, vardagar"}, {Name: "b", Availability: "best effort"}, {Name: "c", Availability: "99 %"}}
	counts := []catalog.Count{
		{Day: "2026-12-06", Item: catalog.ItemCalls + "a", N: 1000}, {Day: "2026-12-06", Item: catalog.ItemOK + "a", N: 994},
		{Day: "2026-12-06", Item: catalog.ItemCalls + "b", N: 10}, {Day: "2026-12-06", Item: catalog.ItemOK + "b", N: 10},
		// Outside the window: not counted.
		{Day: "2026-11-01", Item: catalog.ItemCalls + "c", N: 10},
	}
	c := catalog.Compute(catalog.Inputs{Systems: sys, Counts: counts, Now: time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)})
	got := map[string]catalog.Availability{}
	for _, s := range c.Systems {
		got[s.Name] = s.Availability
	}
	if a := got["a"]; a.Measured != "99.40 %" || a.Met == nil || *a.Met {
		t.Errorf("a: %+v, want 99.40 %% and not met", a)
	}
	if b := got["b"]; b.Measured != "100.00 %" || b.Met != nil {
		t.Errorf("b: %+v, want 100.00 %% and no verdict", b)
	}
	if cc := got["c"]; cc.Calls != 0 || cc.Measured != "–" {
		t.Errorf("c: %+v, want no calls in the window", cc)
	}
	if c.From != "2026-11-07" || c.To != "2026-12-06" {
		t.Errorf("window %s to %s", c.From, c.To)
	}
}
