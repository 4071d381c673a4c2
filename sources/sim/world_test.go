package sim

import (
	"slices"
	"testing"
)

// TestNamesAgreeWithTheSexDigit: in a personnummer the ninth digit of the
// ten-digit form is odd for men and even for women; Swedish users notice a
// "Maja" with an odd digit. Checked on every person of the demo's default
// world and of a second seed, and the world stays deterministic.
func TestNamesAgreeWithTheSexDigit(t *testing.T) {
	for _, opts := range []WorldOptions{{Seed: 1, People: 5000}, {Seed: 11, People: 3000}} {
		w := NewWorld(opts)
		men, women := 0, 0
		for _, p := range w.People {
			sex := int(p.PersonalNumber[10]-'0') % 2 // YYYYMMDD NN[N] C
			if !slices.Contains(givenNames[sex], p.GivenName) || !slices.Contains(middleNames[sex], p.MiddleName) {
				t.Fatalf("seed %d: %s %s %s has the sex digit %c", opts.Seed, p.GivenName, p.MiddleName, p.PersonalNumber, p.PersonalNumber[10])
			}
			if slices.Contains(givenNames[1-sex], p.GivenName) {
				t.Fatalf("seed %d: %s is in both lists", opts.Seed, p.GivenName)
			}
			if sex == 1 {
				men++
			} else {
				women++
			}
		}
		// Both sexes are well represented (about half each).
		if n := len(w.People); men < n*4/10 || women < n*4/10 {
			t.Fatalf("seed %d: %d men and %d women of %d", opts.Seed, men, women, n)
		}
		again := NewWorld(opts)
		for i, p := range w.People {
			q := again.People[i]
			if p.PersonalNumber != q.PersonalNumber || p.GivenName != q.GivenName || p.MiddleName != q.MiddleName || p.Surname != q.Surname {
				t.Fatalf("seed %d: person %d differs between two generations: %+v vs %+v", opts.Seed, i, p, q)
			}
		}
	}
}
