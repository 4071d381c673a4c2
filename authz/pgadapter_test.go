package authz_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

const pgaModel = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
`

// pgaRBACModel adds roles, so SavePolicy and LoadPolicy see a g section.
const pgaRBACModel = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`

// pgaPool returns a pool on a fresh schema of the test PostgreSQL.
func pgaPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // runs before testenv drops the schema
	return pool
}

func pgaAdapter(t *testing.T, pool *pgxpool.Pool) *authz.PostgresAdapter {
	t.Helper()
	a, err := authz.NewPostgresAdapter(context.Background(), pool, "")
	if err != nil {
		t.Fatalf("NewPostgresAdapter: %v", err)
	}
	return a
}

func pgaNewModel(t *testing.T, text string) model.Model {
	t.Helper()
	m, err := model.NewModelFromString(text)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pgaRules(t *testing.T, a *authz.PostgresAdapter, ptype string) [][]string {
	t.Helper()
	rules, err := a.Rules(context.Background(), ptype)
	if err != nil {
		t.Fatalf("Rules(%s): %v", ptype, err)
	}
	return rules
}

func pgaEqual(a, b [][]string) bool { return slices.EqualFunc(a, b, slices.Equal) }

func TestPostgresAdapterSaveLoadEnforce(t *testing.T) {
	pool := pgaPool(t)
	a := pgaAdapter(t, pool)

	src, err := casbin.NewEnforcer(pgaNewModel(t, pgaModel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.AddPolicies([][]string{
		{"alice", "data1", "read"},
		{"bob", "data2", "write"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.SavePolicy(src.GetModel()); err != nil {
		t.Fatalf("SavePolicy: %v", err)
	}
	// Saving again replaces the rows instead of adding to them.
	if err := a.SavePolicy(src.GetModel()); err != nil {
		t.Fatalf("second SavePolicy: %v", err)
	}
	if got, want := pgaRules(t, a, "p"), [][]string{{"alice", "data1", "read"}, {"bob", "data2", "write"}}; !pgaEqual(got, want) {
		t.Errorf("rows after SavePolicy: %q, want %q", got, want)
	}

	e, err := casbin.NewEnforcer(pgaNewModel(t, pgaModel), a)
	if err != nil {
		t.Fatalf("NewEnforcer with the adapter: %v", err)
	}
	for _, c := range []struct {
		sub, obj, act string
		want          bool
	}{
		{"alice", "data1", "read", true},
		{"alice", "data1", "write", false},
		{"alice", "data2", "write", false},
		{"bob", "data2", "write", true},
		{"bob", "data1", "read", false},
		{"carol", "data1", "read", false},
	} {
		got, err := e.Enforce(c.sub, c.obj, c.act)
		if err != nil || got != c.want {
			t.Errorf("Enforce(%s, %s, %s) = %v, %v; want %v", c.sub, c.obj, c.act, got, err, c.want)
		}
	}
}

func TestPostgresAdapterSaveLoadRoles(t *testing.T) {
	a := pgaAdapter(t, pgaPool(t))
	src, err := casbin.NewEnforcer(pgaNewModel(t, pgaRBACModel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.AddPolicy("reader", "data1", "read"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.AddGroupingPolicy("alice", "reader"); err != nil {
		t.Fatal(err)
	}
	if err := a.SavePolicy(src.GetModel()); err != nil {
		t.Fatalf("SavePolicy: %v", err)
	}
	if got, want := pgaRules(t, a, "g"), [][]string{{"alice", "reader"}}; !pgaEqual(got, want) {
		t.Errorf("g rows: %q, want %q", got, want)
	}
	e, err := casbin.NewEnforcer(pgaNewModel(t, pgaRBACModel), a)
	if err != nil {
		t.Fatalf("NewEnforcer with the adapter: %v", err)
	}
	for _, c := range []struct {
		sub  string
		want bool
	}{
		{"alice", true},
		{"bob", false},
	} {
		if got, err := e.Enforce(c.sub, "data1", "read"); err != nil || got != c.want {
			t.Errorf("Enforce(%s, data1, read) = %v, %v; want %v", c.sub, got, err, c.want)
		}
	}
}

// TestPostgresAdapterAutoSave changes the policy through an enforcer, which
// calls the adapter, and checks the table and a freshly loaded enforcer
// after each step.
func TestPostgresAdapterAutoSave(t *testing.T) {
	a := pgaAdapter(t, pgaPool(t))
	e, err := casbin.NewEnforcer(pgaNewModel(t, pgaModel), a)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() (bool, error)
		want [][]string
	}{
		{"AddPolicy", func() (bool, error) { return e.AddPolicy("alice", "data1", "read") },
			[][]string{{"alice", "data1", "read"}}},
		{"AddPolicies", func() (bool, error) {
			return e.AddPolicies([][]string{{"alice", "data2", "read"}, {"bob", "data1", "read"}, {"bob", "data2", "write"}})
		}, [][]string{{"alice", "data1", "read"}, {"alice", "data2", "read"}, {"bob", "data1", "read"}, {"bob", "data2", "write"}}},
		{"RemovePolicy", func() (bool, error) { return e.RemovePolicy("alice", "data1", "read") },
			[][]string{{"alice", "data2", "read"}, {"bob", "data1", "read"}, {"bob", "data2", "write"}}},
		{"RemoveFilteredPolicy", func() (bool, error) { return e.RemoveFilteredPolicy(0, "bob") },
			[][]string{{"alice", "data2", "read"}}},
		{"AddPolicies again", func() (bool, error) {
			return e.AddPolicies([][]string{{"carol", "data3", "read"}, {"dave", "data3", "read"}})
		}, [][]string{{"alice", "data2", "read"}, {"carol", "data3", "read"}, {"dave", "data3", "read"}}},
		{"RemovePolicies", func() (bool, error) {
			return e.RemovePolicies([][]string{{"alice", "data2", "read"}, {"dave", "data3", "read"}})
		}, [][]string{{"carol", "data3", "read"}}},
	}
	for _, s := range steps {
		ok, err := s.do()
		if err != nil || !ok {
			t.Fatalf("%s: %v, %v; want true, nil", s.name, ok, err)
		}
		if got := pgaRules(t, a, "p"); !pgaEqual(got, s.want) {
			t.Errorf("%s: rows %q, want %q", s.name, got, s.want)
		}
		fresh, err := casbin.NewEnforcer(pgaNewModel(t, pgaModel), a)
		if err != nil {
			t.Fatalf("%s: reload: %v", s.name, err)
		}
		if got, _ := fresh.GetPolicy(); !pgaEqual(got, s.want) {
			t.Errorf("%s: reloaded policy %q, want %q", s.name, got, s.want)
		}
	}
}

// TestPostgresAdapterDirect calls the adapter itself, for what an enforcer
// would filter out before it.
func TestPostgresAdapterDirect(t *testing.T) {
	ctx := context.Background()
	a := pgaAdapter(t, pgaPool(t))
	if err := a.AddPolicies("p", "p", [][]string{
		{"alice", "data1", "read"},
		{"alice", "data1", "read"}, // a duplicate within the batch
		{"bob", "data1", "read"},
		{"bob", "data2", "write"},
	}); err != nil {
		t.Fatalf("AddPolicies: %v", err)
	}
	// A rule already stored is no error and no second row.
	if err := a.AddPolicy("p", "p", []string{"alice", "data1", "read"}); err != nil {
		t.Fatalf("AddPolicy of a stored rule: %v", err)
	}
	// Removing a rule that is not stored is no error either.
	if err := a.RemovePolicyCtx(ctx, "p", "p", []string{"nobody", "data1", "read"}); err != nil {
		t.Fatalf("RemovePolicy of a missing rule: %v", err)
	}
	// An empty filter value matches any field.
	if err := a.RemoveFilteredPolicyCtx(ctx, "p", "p", 1, "", "read"); err != nil {
		t.Fatalf("RemoveFilteredPolicy: %v", err)
	}
	if got, want := pgaRules(t, a, "p"), [][]string{{"bob", "data2", "write"}}; !pgaEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}

	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"seven fields", a.AddPolicy("p", "p", []string{"1", "2", "3", "4", "5", "6", "7"}), "at most 6"},
		{"filter past v5", a.RemoveFilteredPolicy("p", "p", 5, "a", "b"), "outside v0..v5"},
		{"negative field index", a.RemoveFilteredPolicy("p", "p", -1, "a"), "outside v0..v5"},
		{"ReplaceAll without ptype", a.ReplaceAll(ctx, [][]string{{"a"}}, ""), "empty ptype"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, c.err, c.want)
		}
	}
}

func TestPostgresAdapterReplaceAllRules(t *testing.T) {
	ctx := context.Background()
	a := pgaAdapter(t, pgaPool(t))
	if err := a.AddPolicies("p", "p", [][]string{{"old", "data1", "read"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddPolicies("g", "g", [][]string{{"alice", "reader"}}); err != nil {
		t.Fatal(err)
	}
	v2 := [][]string{
		{"alice", "data1", "read"},
		{"bob", "data2"}, // shorter rules come back without padding
		{"carol", "", "write"},
	}
	if err := a.ReplaceAll(ctx, v2, "p"); err != nil {
		t.Fatalf("ReplaceAll: %v", err)
	}
	if got := pgaRules(t, a, "p"); !pgaEqual(got, v2) {
		t.Errorf("p rules %q, want %q", got, v2)
	}
	if got, want := pgaRules(t, a, "g"), [][]string{{"alice", "reader"}}; !pgaEqual(got, want) {
		t.Errorf("g rules after replacing p: %q, want %q", got, want)
	}
	// A failing replacement changes nothing.
	if err := a.ReplaceAll(ctx, [][]string{{"x"}, {"1", "2", "3", "4", "5", "6", "7"}}, "p"); err == nil {
		t.Error("ReplaceAll with a seven-field rule: no error")
	}
	if got := pgaRules(t, a, "p"); !pgaEqual(got, v2) {
		t.Errorf("p rules after a failed ReplaceAll: %q, want %q", got, v2)
	}
	if err := a.ReplaceAll(ctx, nil, "p"); err != nil {
		t.Fatalf("ReplaceAll with no rules: %v", err)
	}
	if got := pgaRules(t, a, "p"); len(got) != 0 {
		t.Errorf("p rules after replacing with none: %q", got)
	}
}

// TestPostgresAdapterBadRow: a row the model cannot hold makes LoadPolicy
// fail, naming the row, instead of panicking or dropping the row.
func TestPostgresAdapterBadRow(t *testing.T) {
	for _, ptype := range []string{"", "p9", "x"} {
		t.Run("ptype="+strconv.Quote(ptype), func(t *testing.T) {
			ctx := context.Background()
			pool := pgaPool(t)
			a := pgaAdapter(t, pool)
			if err := a.AddPolicy("p", "p", []string{"alice", "data1", "read"}); err != nil {
				t.Fatal(err)
			}
			var id int64
			if err := pool.QueryRow(ctx, `INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES ($1, 'eve', 'data1', 'read') RETURNING id`,
				ptype).Scan(&id); err != nil {
				t.Fatal(err)
			}
			want := "row id " + strconv.FormatInt(id, 10) + " "
			err := a.LoadPolicy(pgaNewModel(t, pgaModel))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("LoadPolicy: %v, want an error naming %q", err, want)
			}
			if _, err := casbin.NewEnforcer(pgaNewModel(t, pgaModel), a); err == nil {
				t.Error("NewEnforcer: no error")
			}
		})
	}
}

func TestPostgresAdapterTableName(t *testing.T) {
	ctx := context.Background()
	pool := pgaPool(t)
	for _, c := range []struct {
		table string
		ok    bool
	}{
		{"", true}, // casbin_rule
		{"policy_rules", true},
		{"_x9", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"Casbin", false},
		{"9rules", false},
		{"rules-v2", false},
		{`casbin_rule"; DROP TABLE casbin_rule; --`, false},
		{"public.casbin_rule", false},
	} {
		_, err := authz.NewPostgresAdapter(ctx, pool, c.table)
		if (err == nil) != c.ok {
			t.Errorf("NewPostgresAdapter(%q): error %v, want ok=%v", c.table, err, c.ok)
		}
	}
	// Setting up is idempotent, and the named tables exist.
	if _, err := authz.NewPostgresAdapter(ctx, pool, "policy_rules"); err != nil {
		t.Errorf("second NewPostgresAdapter(policy_rules): %v", err)
	}
	for _, table := range []string{"casbin_rule", "policy_rules", strings.Repeat("a", 63)} {
		if _, err := pool.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{table}.Sanitize()); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
	if _, err := authz.NewPostgresAdapter(ctx, nil, ""); err == nil {
		t.Error("NewPostgresAdapter without a pool: no error")
	}
}
