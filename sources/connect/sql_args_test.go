package connect_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
)

// TestSQLArguments: a declared query with {args.kost} answers
// declare.ArgsKeys, one query per argument set (keys asked with equal
// arguments share it), each argument one bound value: a hostile one
// matches nothing and leaves the table as it was, a null one is NULL.
func TestSQLArguments(t *testing.T) {
	w := sqlWorld()
	var people []string
	for pnr, ds := range w.Diets {
		if len(ds) > 0 {
			people = append(people, pnr)
		}
	}
	slices.Sort(people)
	p1, p2 := people[0], people[1]
	d1 := w.Diets[p1][0]
	hostile := []string{`'; DROP TABLE specialkost; --`, `' OR '1'='1`, `back\slash\'`, `"quoted" {keys} $1 ?`}
	query := `SELECT personnummer, kost FROM specialkost
WHERE personnummer %s AND ({args.kost} IS NULL OR kost = {args.kost})
ORDER BY personnummer, kost`
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			for _, form := range keysForms(driver) {
				t.Run(form, func(t *testing.T) {
					op := "diets " + form
					c := newSQL(t, db.store, op, connect.SQLQuery{Query: fmt.Sprintf(query, form), Key: "personnummer"}, map[string]string{"diet": "kost"})
					k := func(pnr string, kost ...string) string {
						args := url.Values{}
						if len(kost) > 0 {
							args.Set("kost", kost[0])
						}
						return declare.ArgsKey(pnr, args)
					}
					keys := []string{k(p1, d1), k(p2, d1), k(p1), k(p2)}
					for _, h := range hostile {
						keys = append(keys, k(p1, h))
					}
					got, err := c.Fetch(t.Context(), keys)
					if err != nil {
						t.Fatalf("Fetch: %v", err)
					}
					if n := db.calls(t, op)["ok"]; n != float64(2+len(hostile)) {
						t.Errorf("%v queries, want %d: one per argument set", n, 2+len(hostile))
					}
					diets := func(key string) []string {
						var out []string
						for _, r := range got[key] {
							out = append(out, r["diet"].(string))
						}
						return out
					}
					if g := diets(k(p1, d1)); !slices.Equal(g, []string{d1}) {
						t.Errorf("%s with kost %q: %q, want [%s]", p1, d1, g, d1)
					}
					if g, want := diets(k(p2, d1)), slices.DeleteFunc(slices.Clone(w.Diets[p2]), func(d string) bool { return d != d1 }); !slices.Equal(g, want) {
						t.Errorf("%s with kost %q: %q, want %q", p2, d1, g, want)
					}
					for _, p := range []string{p1, p2} {
						want := slices.Sorted(slices.Values(w.Diets[p]))
						if g := diets(k(p)); !slices.Equal(g, want) {
							t.Errorf("%s with kost null: %q, want all its diets %q", p, g, want)
						}
					}
					for _, h := range hostile {
						if g := got[k(p1, h)]; len(g) != 0 {
							t.Errorf("kost %q matched %v", h, g)
						}
					}
				})
			}
			var n int
			if err := db.store.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM specialkost").Scan(&n); err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, ds := range w.Diets {
				want += len(ds)
			}
			if n != want {
				t.Errorf("specialkost holds %d rows after the hostile arguments, want %d", n, want)
			}
		})
	}
}
