// Package catalog is the integration catalog (integrationskatalog): every
// upstream system and resource with its owner, kind, the classification
// range of its fields, the contracts that may read it and the client
// applications that did, reads per client over the last 30 days, promised
// against measured availability and the open APIs built on it; and every
// client application with its contract and the fields it actually read.
//
// Compute is a pure function of what the gateway knows (the schema's
// classification, the systems' declarations, the contracts, the open APIs)
// and of the durable usage counts (Usage, Store): what the enforcement
// served per operation, and the upstream calls from the metrics, counted
// per UTC day in the access log's database (or a SQLite file beside the
// access log's file), so that they survive a restart.
package catalog

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/authz"
)

// Days is the window of reads and measured availability: today (UTC) and
// the days before it.
const Days = 30

// OpenAPI is a published open API as the catalog needs it.
type OpenAPI struct {
	Name, Title, Base string
	// Fields are what its registered operations select; Datasets' sources
	// are the systems its aggregates count.
	Fields  []string
	Sources []string
}

// Inputs are what the catalog is computed from.
type Inputs struct {
	// Fields are the schema's classified fields.
	Fields    []*authz.Field
	Contracts []*authz.Contract
	// Configured are the client applications the configuration names (API
	// keys' clients): a client without a contract is listed as such.
	Configured  []string
	Systems     []System
	Attribution *Attribution
	OpenAPIs    []OpenAPI
	// Counts are the usage counts of the window's days.
	Counts []Count
	// Now ends the window.
	Now time.Time
}

// Catalog is the integration catalog.
type Catalog struct {
	Generated time.Time `json:"generated"`
	// From and To are the window's first and last UTC day, inclusive.
	From    string        `json:"from"`
	To      string        `json:"to"`
	Window  string        `json:"window"`
	Totals  Totals        `json:"totals"`
	Systems []SystemEntry `json:"systems"`
	Clients []ClientEntry `json:"clients"`
}

// Totals are the catalog's headline figures.
type Totals struct {
	Systems             int `json:"systems"`
	Resources           int `json:"resources"`
	Clients             int `json:"clients"`
	ClientsWithContract int `json:"clientsWithContract"`
	OpenAPIs            int `json:"openApis"`
	// Reads are the operations served in the window, all clients.
	Reads int64 `json:"reads"`
}

// LevelRange is the lowest and highest KLASSA level of some fields.
type LevelRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// SystemEntry is one upstream system.
type SystemEntry struct {
	Name   string     `json:"name"`
	Title  string     `json:"title"`
	Kind   string     `json:"kind"`
	Owner  string     `json:"owner"`
	Fields int        `json:"fields"`
	Levels LevelRange `json:"levels"`
	// Contracts are the clients whose contract names at least one of its
	// fields (may read it); Clients those that read it in the window.
	Contracts    []string        `json:"contracts"`
	Clients      []string        `json:"clients"`
	Reads        []ClientReads   `json:"reads"`
	TotalReads   int64           `json:"totalReads"`
	Availability Availability    `json:"availability"`
	OpenAPIs     []string        `json:"openApis"`
	Resources    []ResourceEntry `json:"resources"`
}

// ResourceEntry is one resource of a system.
type ResourceEntry struct {
	Name       string        `json:"name"`
	Fields     int           `json:"fields"`
	Levels     *LevelRange   `json:"levels"`
	Clients    []string      `json:"clients"`
	Reads      []ClientReads `json:"reads"`
	TotalReads int64         `json:"totalReads"`
}

// ClientReads are one client's operations in the window that read a
// system or resource.
type ClientReads struct {
	Client string `json:"client"`
	Reads  int64  `json:"reads"`
}

// Availability is the promised availability against the share of
// upstream calls that answered in the window.
type Availability struct {
	Promised string `json:"promised"`
	// Calls and OK are the upstream calls in the window, and those that
	// answered (a not-found is an answer); Measured is OK/Calls as a
	// percentage with two decimals, "–" without calls.
	Calls    int64  `json:"calls"`
	OK       int64  `json:"ok"`
	Measured string `json:"measured"`
	// Met says the measured share reaches the promised one; null when
	// either is not a figure.
	Met *bool `json:"met"`
}

// ClientEntry is one client application.
type ClientEntry struct {
	Client       string   `json:"client"`
	Contract     bool     `json:"contract"`
	Name         string   `json:"name,omitempty"`
	Owner        string   `json:"owner,omitempty"`
	Purposes     []string `json:"purposes"`
	Ceiling      *int     `json:"ceiling"`
	Availability string   `json:"availability,omitempty"`
	Operations   string   `json:"operations,omitempty"`
	// Reads are its operations served in the window; Systems those it
	// read; FieldsRead the fields it was served.
	Reads      int64    `json:"reads"`
	Systems    []string `json:"systems"`
	FieldsRead []string `json:"fieldsRead"`
}

// Compute computes the catalog.
func Compute(in Inputs) Catalog {
	now := in.Now.UTC()
	from := now.AddDate(0, 0, -(Days - 1))
	c := Catalog{Generated: now, From: Day(from), To: Day(now),
		Window: fmt.Sprintf("the last %d days in UTC (%s to %s), counted per day in the usage store; reads are GraphQL operations (the open APIs' included, as client anonymous) that were served at least one field of the system or resource", Days, Day(from), Day(now))}

	// The usage counts of the window, by item and client.
	byItem := map[string]map[string]int64{}
	for _, n := range in.Counts {
		if n.Day < c.From || n.Day > c.To {
			continue
		}
		if byItem[n.Item] == nil {
			byItem[n.Item] = map[string]int64{}
		}
		byItem[n.Item][n.Client] += n.N
	}
	reads := func(item string) ([]ClientReads, []string, int64) {
		out, clients, total := []ClientReads{}, []string{}, int64(0)
		for _, cl := range slices.Sorted(maps.Keys(byItem[item])) {
			n := byItem[item][cl]
			out = append(out, ClientReads{Client: cl, Reads: n})
			clients = append(clients, cl)
			total += n
		}
		return out, clients, total
	}

	// Each system's fields, their levels and who may read them.
	fieldsOf := map[string][]*authz.Field{}
	resFields := map[string][]*authz.Field{}
	for _, f := range in.Fields {
		sys, res := in.Attribution.Of(f.Key)
		if sys == "" {
			continue
		}
		fieldsOf[sys] = append(fieldsOf[sys], f)
		resFields[sys+"."+res] = append(resFields[sys+"."+res], f)
	}
	apisOf := map[string][]string{}
	for _, a := range in.OpenAPIs {
		on := map[string]bool{}
		for _, s := range a.Sources {
			on[s] = true
		}
		for _, f := range a.Fields {
			if sys, _ := in.Attribution.Of(f); sys != "" {
				on[sys] = true
			}
		}
		for s := range on {
			apisOf[s] = append(apisOf[s], a.Name)
		}
	}
	for _, s := range in.Systems {
		e := SystemEntry{Name: s.Name, Title: s.Title, Kind: s.Kind, Owner: s.Owner, Fields: len(fieldsOf[s.Name]),
			Levels: levels(fieldsOf[s.Name]), Contracts: []string{}, OpenAPIs: slices.Sorted(slices.Values(apisOf[s.Name]))}
		if e.OpenAPIs == nil {
			e.OpenAPIs = []string{}
		}
		for _, k := range in.Contracts {
			if slices.ContainsFunc(fieldsOf[s.Name], func(f *authz.Field) bool { return k.Covers(f.Key) }) {
				e.Contracts = append(e.Contracts, k.Client)
			}
		}
		slices.Sort(e.Contracts)
		e.Reads, e.Clients, e.TotalReads = reads(ItemSource + s.Name)
		e.Availability = availability(s.Availability, byItem[ItemCalls+s.Name][""], byItem[ItemOK+s.Name][""])
		for _, r := range resourcesOf(s, in.Attribution, in.Fields) {
			fs := resFields[s.Name+"."+r]
			re := ResourceEntry{Name: r, Fields: len(fs)}
			if len(fs) > 0 {
				l := levels(fs)
				re.Levels = &l
			}
			re.Reads, re.Clients, re.TotalReads = reads(ItemResource + s.Name + "." + r)
			e.Resources = append(e.Resources, re)
		}
		c.Systems = append(c.Systems, e)
		c.Totals.Resources += len(e.Resources)
	}
	slices.SortFunc(c.Systems, func(a, b SystemEntry) int { return strings.Compare(a.Name, b.Name) })

	// The client applications: every contract, every configured client,
	// every client that was served something in the window.
	contracts := map[string]*authz.Contract{}
	known := map[string]bool{}
	for _, k := range in.Contracts {
		contracts[k.Client], known[k.Client] = k, true
	}
	for _, cl := range in.Configured {
		known[cl] = true
	}
	for cl := range byItem[ItemRequests] {
		known[cl] = true
	}
	fieldsRead := map[string][]string{}
	systemsRead := map[string][]string{}
	for item, per := range byItem {
		for cl := range per {
			switch {
			case strings.HasPrefix(item, ItemField):
				fieldsRead[cl] = append(fieldsRead[cl], strings.TrimPrefix(item, ItemField))
			case strings.HasPrefix(item, ItemSource):
				systemsRead[cl] = append(systemsRead[cl], strings.TrimPrefix(item, ItemSource))
			}
		}
	}
	for _, cl := range slices.Sorted(maps.Keys(known)) {
		e := ClientEntry{Client: cl, Purposes: []string{}, Reads: byItem[ItemRequests][cl],
			Systems: slices.Sorted(slices.Values(systemsRead[cl])), FieldsRead: slices.Sorted(slices.Values(fieldsRead[cl]))}
		if e.Systems == nil {
			e.Systems = []string{}
		}
		if e.FieldsRead == nil {
			e.FieldsRead = []string{}
		}
		if k := contracts[cl]; k != nil {
			ceiling := int(k.Ceiling)
			e.Contract, e.Name, e.Owner, e.Purposes, e.Ceiling = true, k.Name, k.Owner, slices.Clone(k.Purposes), &ceiling
			e.Availability, e.Operations = k.Availability, k.Operations
			c.Totals.ClientsWithContract++
		}
		c.Totals.Reads += e.Reads
		c.Clients = append(c.Clients, e)
	}
	c.Totals.Systems, c.Totals.Clients, c.Totals.OpenAPIs = len(c.Systems), len(c.Clients), len(in.OpenAPIs)
	return c
}

func levels(fs []*authz.Field) LevelRange {
	if len(fs) == 0 {
		return LevelRange{}
	}
	r := LevelRange{Min: int(fs[0].Level), Max: int(fs[0].Level)}
	for _, f := range fs[1:] {
		r.Min, r.Max = min(r.Min, int(f.Level)), max(r.Max, int(f.Level))
	}
	return r
}

// availability compares the promise ("99.5 %", anything after the figure
// ignored) with OK of calls.
func availability(promised string, calls, ok int64) Availability {
	a := Availability{Promised: promised, Calls: calls, OK: ok, Measured: "–"}
	if calls == 0 {
		return a
	}
	share := 100 * float64(ok) / float64(calls)
	a.Measured = strconv.FormatFloat(share, 'f', 2, 64) + " %"
	figure, _, _ := strings.Cut(strings.TrimSpace(promised), "%")
	if p, err := strconv.ParseFloat(strings.TrimSpace(figure), 64); err == nil {
		met := share >= p
		a.Met = &met
	}
	return a
}
