// Package sim simulates the municipality's upstream systems: the Navet-style
// population registry (SOAP), the e-service case system (REST), the property
// register (OGC API Features plus a legacy XML endpoint), the school
// database (seed data for SQLite and PostgreSQL) and the waste-collection
// system (REST). All data is synthetic and
// generated deterministically from a seed by NewWorld; no real person's data
// is ever used.
package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kommungraf/kommungraf/sources/model"
)

// WorldOptions selects the synthetic world.
type WorldOptions struct {
	// Seed makes the world reproducible: the same seed and size give the same data.
	Seed uint64
	// People is the approximate number of people in the registry (default 5000).
	People int
}

// DefaultPeople is the population of the demo world.
const DefaultPeople = 5000

// World is one generated data set shared by all simulators, so that the
// systems agree with each other the way the city's real systems do.
type World struct {
	Seed   uint64
	People []*model.Person
	// ByPNR indexes People by personnummer.
	ByPNR map[string]*model.Person
	// PartyOf maps personnummer to the e-service platform's pseudonymous partyId.
	PartyOf map[string]string
	// PersonOfParty maps partyId back to personnummer.
	PersonOfParty map[string]string

	Errands   []*model.Errand
	ByErrand  map[string]*model.Errand
	Decisions map[string][]*Decision

	Properties []*model.Property
	PropByID   map[string]*model.Property
	Owners     map[string][]*model.PropertyOwner

	SchoolUnits []*model.SchoolUnit
	Placements  []*model.Placement
	// Diets maps personnummer to special diets (specialkost).
	Diets    map[string][]string
	Absences []AbsenceRow

	// Pickups are the waste-collection system's scheduled pickups, property
	// by property in world order. They are drawn from a random stream of
	// their own (see addPickups), so adding them changed nothing above.
	Pickups []*Pickup
	// PickupByID indexes Pickups by id.
	PickupByID map[string]*Pickup
	// PickupsOf lists each property's pickups, by the property's ObjectID.
	PickupsOf map[string][]*Pickup
}

// Decision is a decision (beslut) in an errand, as the e-service platform
// keeps it. The gateway has no Go type for it: it reads decisions through
// their declaration (schema/etjanst.yaml).
type Decision struct {
	ID        string
	Outcome   model.DecisionOutcome
	DecidedAt time.Time
	Law       string
}

// AbsenceRow is one row of the franvaro table.
type AbsenceRow struct {
	PersonalNumber string
	model.Absence
}

// refDate fixes "today" of the synthetic world so that the data does not
// depend on the day it is generated.
var refDate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	// Given and middle names by sex: a personnummer's ninth digit (the last
	// of the three serial digits) is odd for men and even for women, and the
	// names must agree with it. Each list of a pair has the same length, so
	// the generator draws the same random numbers whatever the sex.
	givenNames = [2][]string{
		{"Alice", "Maja", "Elsa", "Astrid", "Wilma", "Freja", "Olivia", "Selma", "Alma", "Ella",
			"Ebba", "Signe", "Agnes", "Stina", "Karin", "Anna", "Eva", "Maria", "Lena", "Sara"},
		{"William", "Noah", "Hugo", "Lucas", "Liam", "Oscar", "Elias", "Nils", "Alfred", "Vincent",
			"Erik", "Lars", "Karl", "Anders", "Johan", "Per", "Mikael", "Olof", "Gustav", "Axel"},
	}
	middleNames = [2][]string{
		{"", "", "", "", "Marie", "Johanna", "Kristina", "Sofia", "Louise", "Elisabet", "Linnea", "Ingrid"},
		{"", "", "", "", "Erik", "Johan", "Karl", "Emanuel", "Anders", "Gustav", "Olof", "Fredrik"},
	}
	surnames = []string{"Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
		"Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson", "Bengtsson", "Jönsson",
		"Lindberg", "Jakobsson", "Magnusson", "Lindström", "Olofsson", "Lindqvist", "Lindgren", "Berg",
		"Axelsson", "Bergström", "Lundberg", "Lind", "Lundgren", "Lundqvist", "Mattsson", "Berglund"}
	streets = []string{"Storgatan", "Drottninggatan", "Kungsgatan", "Rudbecksgatan", "Västra Nobelgatan",
		"Fabriksgatan", "Svartågatan", "Hagagatan", "Tullgatan", "Ekersvägen", "Mosåsvägen", "Glomman",
		"Adolfsbergsvägen", "Sörbyvägen", "Ånstagatan", "Varbergavägen", "Markbacksvägen", "Lillåvägen"}
	places = []struct{ city, postal string }{
		{"ÖREBRO", "702"}, {"ÖREBRO", "703"}, {"ÖREBRO", "704"}, {"ÖREBRO", "705"}, {"ÖREBRO", "706"},
		{"ÖREBRO", "703"}, {"ÖREBRO", "702"}, {"GARPHYTTAN", "719"}, {"GLANSHAMMAR", "705"}, {"ODENSBACKA", "715"},
	}
	// blocks are synthetic block names (kvarter) for property designations.
	blocks = []string{"RÖNNEN", "LÄRKAN", "HÄGERN", "BJÖRKEN", "ASPEN", "EKEN", "LINDEN", "GRANEN", "TALLEN",
		"VIOLEN", "RÖDHAKEN", "TRASTEN", "SVALAN", "MÅSEN", "ÄLGEN", "HJORTEN", "RÄVEN", "UGGLAN", "KORPEN",
		"LJUNGEN", "MYRTEN", "NEJLIKAN", "KLÖVERN", "HUMLAN", "BISAMEN", "SPOVEN", "VÄDUREN", "OXEN"}
	areas       = []string{"Adolfsberg", "Brickebacken", "Baronbackarna", "Ekeby", "Hovsta", "Lillån", "Mosås", "Norrby", "Sörby", "Tybble", "Vivalla", "Varberga", "Rynninge", "Hjärsta"}
	animals     = []string{"Igelkotten", "Myran", "Ekorren", "Haren", "Björnen", "Nyckelpigan", "Fjärilen", "Ugglan"}
	diets       = []string{"Glutenfri", "Laktosfri", "Nötallergi", "Äggallergi", "Fiskallergi", "Mjölkproteinallergi"}
	caseWeights = []struct {
		caseType, prefix, law string
		weight                int
	}{
		{"BYGGLOV", "BYGG", "Plan- och bygglagen (2010:900) 9 kap. 31 §", 30},
		{"FORSKOLEPLATS", "FSK", "Skollagen (2010:800) 8 kap. 14 §", 20},
		{"ELEVRESA", "ELEV", "Skollagen (2010:800) 10 kap. 32 §", 10},
		{"EKONOMISKT_BISTAND", "EKB", "Socialtjänstlagen (2001:453) 4 kap. 1 §", 15},
		{"PARKERINGSTILLSTAND", "PARK", "Trafikförordningen (1998:1276) 13 kap. 8 §", 15},
		{"SERVERINGSTILLSTAND", "SERV", "Alkohollagen (2010:1622) 8 kap. 2 §", 10},
	}
)

// NewWorld generates the synthetic world. It is deterministic: the same
// options always give the same data.
func NewWorld(opts WorldOptions) *World {
	if opts.People <= 0 {
		opts.People = DefaultPeople
	}
	g := &generator{
		rnd:   rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x6b6f6d6d756e)),
		used:  map[string]bool{},
		codes: map[string]bool{},
		w: &World{
			Seed: opts.Seed, ByPNR: map[string]*model.Person{}, PartyOf: map[string]string{},
			PersonOfParty: map[string]string{}, ByErrand: map[string]*model.Errand{},
			Decisions: map[string][]*Decision{}, PropByID: map[string]*model.Property{},
			Owners: map[string][]*model.PropertyOwner{}, Diets: map[string][]string{},
		},
		designations: map[string]bool{},
	}
	g.households(opts.People)
	g.companyProperties(len(g.w.Properties)/6 + 5)
	g.schools()
	g.errands()
	addPickups(g.w) // last, and from its own stream: see addPickups
	return g.w
}

type household struct {
	adults, children []*model.Person
	property         *model.Property
}

type generator struct {
	rnd          *rand.Rand
	w            *World
	used         map[string]bool
	codes        map[string]bool
	designations map[string]bool
	homes        []*household
	seq          map[string]int
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (g *generator) uuid() string { return uuidFrom(g.rnd) }

// uuidFrom draws a version 4 UUID from r.
func uuidFrom(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String()
}

// personalNumber draws a unique, Luhn-valid personnummer for a birth date.
func (g *generator) personalNumber(born time.Time) string {
	date := born.Format("20060102")
	for {
		serial := fmt.Sprintf("%03d", g.rnd.IntN(1000))
		nine := date[2:] + serial
		pnr := date + serial + string('0'+model.LuhnDigit(nine))
		if !g.used[pnr] {
			g.used[pnr] = true
			return pnr
		}
	}
}

// sexOf is 1 for a man and 0 for a woman, read from the ninth digit of the
// ten-digit personnummer (the eleventh of the twelve-digit one).
func sexOf(pnr string) int { return int(pnr[10]-'0') % 2 }

func (g *generator) person(age int, surname string, addr *model.Address) *model.Person {
	born := refDate.AddDate(-age, 0, -g.rnd.IntN(365))
	pnr := g.personalNumber(born)
	p := &model.Person{
		PersonalNumber: pnr,
		GivenName:      pick(g.rnd, givenNames[sexOf(pnr)]),
		MiddleName:     pick(g.rnd, middleNames[sexOf(pnr)]),
		Surname:        surname,
		Address:        addr,
	}
	if g.rnd.IntN(200) == 0 {
		p.ConfidentialityMarking = true
	}
	g.w.People = append(g.w.People, p)
	g.w.ByPNR[p.PersonalNumber] = p
	party := g.uuid()
	g.w.PartyOf[p.PersonalNumber] = party
	g.w.PersonOfParty[party] = p.PersonalNumber
	return p
}

func (g *generator) households(n int) {
	for len(g.w.People) < n {
		place := pick(g.rnd, places)
		addr := &model.Address{
			Street:     fmt.Sprintf("%s %d", pick(g.rnd, streets), 1+g.rnd.IntN(80)),
			PostalCode: fmt.Sprintf("%s %02d", place.postal, g.rnd.IntN(100)),
			City:       place.city,
		}
		surname := pick(g.rnd, surnames)
		h := &household{}
		adults := 1 + g.rnd.IntN(2)
		base := 25 + g.rnd.IntN(35)
		for i := 0; i < adults; i++ {
			h.adults = append(h.adults, g.person(base+g.rnd.IntN(5), surname, addr))
		}
		if base < 50 {
			for i, kids := 0, g.rnd.IntN(4); i < kids; i++ {
				h.children = append(h.children, g.person(g.rnd.IntN(min(base-18, 18)), surname, addr))
			}
		}
		g.relate(h)
		// About 1% of households live with protected identity (skyddad folkbokföring).
		if g.rnd.IntN(100) == 0 {
			fwd := &model.Address{Street: "Box 2820", PostalCode: "403 20", City: "GÖTEBORG", Forwarding: true}
			for _, p := range append(append([]*model.Person{}, h.adults...), h.children...) {
				p.ProtectedIdentity = true
				p.Address = fwd
			}
		} else if g.rnd.IntN(10) < 4 {
			h.property = g.property(addr.Street+", "+addr.City, 400+g.rnd.Float64()*1600)
			share := "1/1"
			if len(h.adults) == 2 {
				share = "1/2"
			}
			acquired := refDate.AddDate(-g.rnd.IntN(30), -g.rnd.IntN(12), 0)
			for _, a := range h.adults {
				g.w.Owners[h.property.ObjectID] = append(g.w.Owners[h.property.ObjectID], &model.PropertyOwner{
					Name: a.GivenName + " " + a.Surname, PersonalNumber: a.PersonalNumber, Share: share, AcquiredOn: acquired,
				})
			}
		}
		g.homes = append(g.homes, h)
	}
}

func (g *generator) relate(h *household) {
	if len(h.adults) == 2 {
		a, b := h.adults[0], h.adults[1]
		a.Relations = append(a.Relations, model.Relation{PersonalNumber: b.PersonalNumber, Kind: model.RelationSpouse})
		b.Relations = append(b.Relations, model.Relation{PersonalNumber: a.PersonalNumber, Kind: model.RelationSpouse})
	}
	for _, c := range h.children {
		for _, a := range h.adults {
			c.Relations = append(c.Relations, model.Relation{PersonalNumber: a.PersonalNumber, Kind: model.RelationGuardian})
			a.Relations = append(a.Relations, model.Relation{PersonalNumber: c.PersonalNumber, Kind: model.RelationChild})
		}
	}
}

// property creates a property with a unique synthetic designation and a
// square geometry in Örebro, in CRS84 (longitude, latitude).
func (g *generator) property(address string, area float64) *model.Property {
	var designation string
	for {
		designation = fmt.Sprintf("ÖREBRO %s %d:%d", pick(g.rnd, blocks), 1+g.rnd.IntN(30), 1+g.rnd.IntN(300))
		if !g.designations[designation] {
			g.designations[designation] = true
			break
		}
	}
	lon, lat := 15.10+g.rnd.Float64()*0.25, 59.22+g.rnd.Float64()*0.10
	side := math.Sqrt(area)
	dLat := side / 111320
	dLon := side / (111320 * math.Cos(lat*math.Pi/180))
	ring := [][2]float64{{lon, lat}, {lon + dLon, lat}, {lon + dLon, lat + dLat}, {lon, lat + dLat}, {lon, lat}}
	for i := range ring {
		ring[i][0] = math.Round(ring[i][0]*1e7) / 1e7
		ring[i][1] = math.Round(ring[i][1]*1e7) / 1e7
	}
	geom, _ := json.Marshal(map[string]any{"type": "Polygon", "coordinates": [][][2]float64{ring}})
	p := &model.Property{
		ObjectID: g.uuid(), Designation: designation, AreaM2: math.Round(area), Address: address, Geometry: geom,
	}
	g.w.Properties = append(g.w.Properties, p)
	g.w.PropByID[p.ObjectID] = p
	return p
}

func (g *generator) orgNumber() string {
	return fmt.Sprintf("556%03d-%04d", g.rnd.IntN(1000), g.rnd.IntN(10000))
}

func (g *generator) companyProperties(n int) {
	companies := []struct{ name, org string }{
		{"Kvarnbo Fastigheter AB", g.orgNumber()}, {"Svartå Bostäder AB", g.orgNumber()},
		{"Närkes Hyreshus AB", g.orgNumber()}, {"Byggbolaget Tybble AB", g.orgNumber()},
	}
	for i := 0; i < n; i++ {
		c := pick(g.rnd, companies)
		p := g.property(fmt.Sprintf("%s %d, ÖREBRO", pick(g.rnd, streets), 1+g.rnd.IntN(80)), 800+g.rnd.Float64()*8000)
		g.w.Owners[p.ObjectID] = []*model.PropertyOwner{{
			Name: c.name, OrganisationNumber: c.org, Share: "1/1", AcquiredOn: refDate.AddDate(-g.rnd.IntN(40), 0, 0),
		}}
	}
}

func (g *generator) schoolCode() string {
	for {
		c := fmt.Sprintf("%08d", 10000000+g.rnd.IntN(90000000))
		if !g.codes[c] {
			g.codes[c] = true
			return c
		}
	}
}

func (g *generator) schoolUnit(name string, form model.SchoolForm) *model.SchoolUnit {
	p := g.property(fmt.Sprintf("%s %d, ÖREBRO", pick(g.rnd, streets), 1+g.rnd.IntN(80)), 3000+g.rnd.Float64()*20000)
	g.w.Owners[p.ObjectID] = []*model.PropertyOwner{{
		Name: "Örebro kommun (syntetisk)", OrganisationNumber: "212000-0000", Share: "1/1", AcquiredOn: refDate.AddDate(-50, 0, 0),
	}}
	u := &model.SchoolUnit{Code: g.schoolCode(), Name: name, SchoolForm: form, PropertyObjectID: p.ObjectID}
	g.w.SchoolUnits = append(g.w.SchoolUnits, u)
	return u
}

func age(p *model.Person) int {
	born, _ := time.Parse("20060102", p.PersonalNumber[:8])
	a := refDate.Year() - born.Year()
	if refDate.YearDay() < born.YearDay() {
		a--
	}
	return a
}

func (g *generator) schools() {
	var pre, prim, sec []*model.Person
	for _, h := range g.homes {
		for _, c := range h.children {
			switch a := age(c); {
			case a >= 1 && a <= 5:
				if g.rnd.IntN(10) < 9 {
					pre = append(pre, c)
				}
			case a >= 6 && a <= 15:
				prim = append(prim, c)
			case a >= 16:
				if g.rnd.IntN(2) == 0 {
					sec = append(sec, c)
				}
			}
		}
	}
	var preUnits, primUnits, secUnits []*model.SchoolUnit
	for i := 0; i < max(5, len(pre)/40); i++ {
		preUnits = append(preUnits, g.schoolUnit(fmt.Sprintf("%s förskola %d", areas[i%len(areas)], i/len(areas)+1), model.FormPreschool))
	}
	for i := 0; i < max(3, len(prim)/250); i++ {
		primUnits = append(primUnits, g.schoolUnit(fmt.Sprintf("%sskolan %d", areas[i%len(areas)], i/len(areas)+1), model.FormPrimary))
	}
	for i := 0; i < max(2, len(sec)/500); i++ {
		secUnits = append(secUnits, g.schoolUnit(fmt.Sprintf("Gymnasium %s %d", areas[i%len(areas)], i/len(areas)+1), model.FormSecondary))
	}
	var id int64
	place := func(children []*model.Person, units []*model.SchoolUnit, group func(*model.Person) string, hours bool) {
		for _, c := range children {
			id++
			u := units[g.rnd.IntN(len(units))]
			pl := &model.Placement{
				ID: id, PersonalNumber: c.PersonalNumber, SchoolUnitCode: u.Code, Group: group(c),
				StartDate: refDate.AddDate(0, -g.rnd.IntN(36), 0),
			}
			if hours {
				h := float64(15 + 5*g.rnd.IntN(7))
				pl.HoursPerWeek = &h
			}
			if g.rnd.IntN(10) == 0 {
				end := refDate.AddDate(0, 1+g.rnd.IntN(12), 0)
				pl.EndDate = &end
			}
			g.w.Placements = append(g.w.Placements, pl)
			if g.rnd.IntN(100) < 7 {
				g.w.Diets[c.PersonalNumber] = append(g.w.Diets[c.PersonalNumber], pick(g.rnd, diets))
			}
			for i, n := 0, g.rnd.IntN(5); i < n; i++ {
				g.w.Absences = append(g.w.Absences, AbsenceRow{PersonalNumber: c.PersonalNumber, Absence: model.Absence{
					Date: refDate.AddDate(0, 0, -1-g.rnd.IntN(120)), Hours: float64(1 + g.rnd.IntN(8)), Reported: g.rnd.IntN(5) > 0,
				}})
			}
		}
	}
	place(pre, preUnits, func(*model.Person) string { return "Avdelning " + pick(g.rnd, animals) }, true)
	place(prim, primUnits, func(c *model.Person) string { return fmt.Sprintf("%d%c", age(c)-6, 'A'+rune(g.rnd.IntN(3))) }, false)
	place(sec, secUnits, func(c *model.Person) string { return fmt.Sprintf("NA%dA", age(c)-15) }, false)
	sort.Slice(g.w.SchoolUnits, func(i, j int) bool { return g.w.SchoolUnits[i].Code < g.w.SchoolUnits[j].Code })
}

func (g *generator) errands() {
	g.seq = map[string]int{}
	total := 0
	for _, c := range caseWeights {
		total += c.weight
	}
	for _, h := range g.homes {
		for i, n := 0, g.rnd.IntN(3); i < n; i++ {
			r := g.rnd.IntN(total)
			ci := 0
			for r >= caseWeights[ci].weight {
				r -= caseWeights[ci].weight
				ci++
			}
			g.errand(h, ci)
		}
	}
	sort.Slice(g.w.Errands, func(i, j int) bool { return g.w.Errands[i].ErrandNumber < g.w.Errands[j].ErrandNumber })
}

func (g *generator) errand(h *household, ci int) {
	c := caseWeights[ci]
	applicant := h.adults[g.rnd.IntN(len(h.adults))]
	e := &model.Errand{
		CaseType: c.caseType,
		Channel:  pick(g.rnd, []string{"E_SERVICE", "E_SERVICE", "E_SERVICE", "EMAIL", "PAPER"}),
		Stakeholders: []*model.Stakeholder{{
			PartyID: g.w.PartyOf[applicant.PersonalNumber], Role: model.RoleApplicant,
		}},
	}
	switch c.caseType {
	case "BYGGLOV":
		prop := h.property
		if prop == nil {
			prop = g.w.Properties[g.rnd.IntN(len(g.w.Properties))]
		}
		e.PropertyObjectID = prop.ObjectID
		e.Description = fmt.Sprintf("Ansökan om bygglov för %s på fastigheten %s.",
			pick(g.rnd, []string{"tillbyggnad av enbostadshus", "nybyggnad av garage", "fasadändring", "installation av eldstad", "attefallshus"}), prop.Designation)
		for _, o := range g.w.Owners[prop.ObjectID] {
			if o.PersonalNumber != "" && o.PersonalNumber != applicant.PersonalNumber {
				e.Stakeholders = append(e.Stakeholders, &model.Stakeholder{PartyID: g.w.PartyOf[o.PersonalNumber], Role: model.RolePropertyOwner})
			}
		}
	case "FORSKOLEPLATS", "ELEVRESA":
		if len(h.children) == 0 {
			g.errand(h, 3+g.rnd.IntN(3)) // a household without children applies for something else
			return
		}
		child := pick(g.rnd, h.children)
		e.Stakeholders[0].Role = model.RoleGuardian
		e.Stakeholders = append(e.Stakeholders, &model.Stakeholder{PartyID: g.w.PartyOf[child.PersonalNumber], Role: model.RolePupil})
		e.Description = fmt.Sprintf("Ansökan för barn (%s) inom %s.", child.GivenName, strings.ToLower(c.caseType))
	case "EKONOMISKT_BISTAND":
		e.Description = "Ansökan om ekonomiskt bistånd för hushållet."
	default:
		e.Description = "Ansökan om " + strings.ToLower(strings.ReplaceAll(c.caseType, "_", " ")) + "."
	}
	e.SubmittedAt = refDate.AddDate(0, 0, -g.rnd.IntN(700)).Add(time.Duration(g.rnd.IntN(86400)) * time.Second)
	year := e.SubmittedAt.Year()
	key := fmt.Sprintf("%s-%d", c.prefix, year)
	g.seq[key]++
	e.ErrandNumber = fmt.Sprintf("%s-%06d", key, g.seq[key])
	e.Status = model.ErrandStatuses[g.rnd.IntN(len(model.ErrandStatuses))]
	g.w.Errands = append(g.w.Errands, e)
	g.w.ByErrand[e.ErrandNumber] = e
	if e.Status == model.ErrandDecided || e.Status == model.ErrandClosed {
		g.w.Decisions[e.ErrandNumber] = []*Decision{{
			ID:        g.uuid(),
			Outcome:   model.DecisionOutcomes[g.rnd.IntN(len(model.DecisionOutcomes))],
			DecidedAt: e.SubmittedAt.AddDate(0, 0, 5+g.rnd.IntN(60)),
			Law:       c.law,
		}}
	}
}
