package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"

	"github.com/kommungraf/kommungraf/sources/model"
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

// existingWorldHash is the SHA-256 of everything NewWorld generated before
// the waste-collection system's pickups were added: people, parties,
// errands, decisions, properties, owners, schools, placements, diets and
// absences. Data added to the world later must come from its own random
// stream and leave this hash alone, because other tests, the benchmarks'
// figures and every demo's screenshots pin today's world.
func existingWorldHash(t *testing.T, w *World) string {
	t.Helper()
	b, err := json.Marshal(struct {
		Seed                             uint64
		People                           []*model.Person
		PartyOf                          map[string]string
		Errands                          []*model.Errand
		Decisions                        map[string][]*Decision
		Properties                       []*model.Property
		Owners                           map[string][]*model.PropertyOwner
		SchoolUnits                      []*model.SchoolUnit
		Placements                       []*model.Placement
		Diets                            map[string][]string
		Absences                         []AbsenceRow
		IndexedPeople, IndexedProperties int
	}{
		w.Seed, w.People, w.PartyOf, w.Errands, w.Decisions, w.Properties, w.Owners,
		w.SchoolUnits, w.Placements, w.Diets, w.Absences, len(w.ByPNR), len(w.PropByID),
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestExistingWorldUnchanged pins the worlds the demo (seed 1) and the HTTP
// simulator tests (seed 5) use, as they were before later additions.
func TestExistingWorldUnchanged(t *testing.T) {
	for _, tc := range []struct {
		opts WorldOptions
		want string
	}{
		{WorldOptions{Seed: 1, People: DefaultPeople}, "0023dcb95bbe6c5c0e2a55de484615bd55c67d3f76577354bc5da64f2203d8d4"},
		{WorldOptions{Seed: 5, People: 300}, "1bd5224b5f76bf6a5381a32cf4225c3ba4ef0e1b779b1b022cb7a9dc18b06aa1"},
	} {
		if got := existingWorldHash(t, NewWorld(tc.opts)); got != tc.want {
			t.Errorf("seed %d, %d people: world hash %s, want %s", tc.opts.Seed, tc.opts.People, got, tc.want)
		}
	}
}
