// Package report computes the strategy's effect goals as figures, for
// the half-yearly follow-up: how much of the schema is classified, which
// client applications have an information contract, which sources have an
// owner, the open APIs published, which sources are reused by several
// client applications, and who may read level-3 data. The gateway serves
// it at /admin/api/report (JSON, CSV) and /admin/report (a printable page).
//
// Compute is a pure function of what the gateway knows: its schema's
// classification and the live policy's decisions (authz.PolicyFlow's
// catalog), the contracts, the configured client applications, the
// sources, the open APIs and the access log of the period.
package report

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/authz"
)

// Source is an upstream system as the report counts it.
type Source struct {
	Name, Kind, Owner string
}

// Inputs are what the report is computed from.
type Inputs struct {
	// Fields are the schema's fields with the live policy's decisions
	// (authz.PolicyFlow.Catalog).
	Fields []authz.FieldAccess
	// Contracts are the information contracts.
	Contracts []*authz.Contract
	// Configured are the client applications the configuration names
	// (API keys' clients); with the contracts' and the access log's
	// clients they are the client applications known.
	Configured []string
	// Sources are the upstream systems.
	Sources []Source
	// OpenAPIs are the published open APIs' names.
	OpenAPIs []string
	// Access are the access log's entries of the period; Truncated says
	// the log held more than were read.
	Access    []authz.AccessEntry
	Truncated bool
	// From and To bound the period.
	From, To time.Time
}

// Report is the figures.
type Report struct {
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Generated time.Time `json:"generated"`

	// Classification: every field of the schema has a level, or the
	// gateway does not start (authz.Classify); the report shows it holds.
	Fields           int            `json:"fields"`
	ClassifiedFields int            `json:"classifiedFields"`
	FieldsByLevel    map[string]int `json:"fieldsByLevel"`

	// Client applications known, and which have a contract. One without
	// is refused every field.
	Clients              []ClientFigure `json:"clients"`
	ClientsWithContract  int            `json:"clientsWithContract"`
	SourcesWithOwner     int            `json:"sourcesWithOwner"`
	Sources              []Source       `json:"sources"`
	OpenAPIs             []string       `json:"openApis"`
	OwnersReadBy         []OwnerReuse   `json:"ownersReadBy"`
	OwnersReused         int            `json:"ownersReused"`
	Level3               []Level3Field  `json:"level3"`
	AccessEntries        int            `json:"accessEntries"`
	AccessLogTruncated   bool           `json:"accessLogTruncated"`
	ServedOutsideMeasure string         `json:"servedOutsideThePlatform"`
}

// ClientFigure is one client application known to the gateway.
type ClientFigure struct {
	Client   string `json:"client"`
	Contract bool   `json:"contract"`
	Owner    string `json:"owner,omitempty"`
	// Requests are its access log entries in the period: the requests
	// that read personal data or were refused a field (the log keeps no
	// entry of the others).
	Requests int `json:"accessLogEntries"`
}

// OwnerReuse is one information owner's data and the client applications
// that read it in the period: reuse through the platform.
type OwnerReuse struct {
	Owner   string   `json:"owner"`
	Clients []string `json:"clients"`
}

// Level3Field is a level-3 field and the (role, client) pairs the live
// policy lets read it.
type Level3Field struct {
	Key     string   `json:"key"`
	Readers []string `json:"readers"`
}

// Compute computes the report.
func Compute(in Inputs, now time.Time) Report {
	r := Report{From: in.From.UTC(), To: in.To.UTC(), Generated: now.UTC(), FieldsByLevel: map[string]int{},
		OpenAPIs: slices.Sorted(slices.Values(in.OpenAPIs)), AccessEntries: len(in.Access), AccessLogTruncated: in.Truncated,
		ServedOutsideMeasure: "not measurable here: the gateway sees the requests it serves, not the integrations that bypass it"}
	if r.OpenAPIs == nil {
		r.OpenAPIs = []string{}
	}
	ownerOfType := map[string]string{}
	for _, fa := range in.Fields {
		f := fa.Field
		r.Fields++
		if f.Level >= authz.Negligible {
			r.ClassifiedFields++
		}
		r.FieldsByLevel[fmt.Sprint(int(f.Level))]++
		ownerOfType[f.Type] = f.Owner
		if f.Level >= 3 {
			var readers []string
			for _, a := range fa.Access {
				if a.Allowed || a.ProtectedAllowed {
					readers = append(readers, a.Role+" via "+a.Client)
				}
			}
			sort.Strings(readers)
			if readers == nil {
				readers = []string{}
			}
			r.Level3 = append(r.Level3, Level3Field{Key: f.Key, Readers: readers})
		}
	}
	contracts := map[string]*authz.Contract{}
	for _, c := range in.Contracts {
		contracts[c.Client] = c
	}
	requests := map[string]int{}
	readBy := map[string]map[string]bool{}
	for _, e := range in.Access {
		requests[e.Client]++
		if len(e.Fields) == 0 {
			continue
		}
		for _, f := range e.Fields {
			typ, _, _ := strings.Cut(f, ".")
			owner := ownerOfType[typ]
			if owner == "" || typ == "Query" {
				continue
			}
			if readBy[owner] == nil {
				readBy[owner] = map[string]bool{}
			}
			readBy[owner][e.Client] = true
		}
	}
	known := map[string]bool{}
	for _, c := range in.Contracts {
		known[c.Client] = true
	}
	for _, c := range in.Configured {
		known[c] = true
	}
	for c := range requests {
		known[c] = true
	}
	for _, c := range slices.Sorted(func(yield func(string) bool) {
		for k := range known {
			if !yield(k) {
				return
			}
		}
	}) {
		cf := ClientFigure{Client: c, Requests: requests[c]}
		if k := contracts[c]; k != nil {
			cf.Contract, cf.Owner = true, k.Owner
			r.ClientsWithContract++
		}
		r.Clients = append(r.Clients, cf)
	}
	r.Sources = slices.Clone(in.Sources)
	slices.SortFunc(r.Sources, func(a, b Source) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range r.Sources {
		if strings.TrimSpace(s.Owner) != "" {
			r.SourcesWithOwner++
		}
	}
	for _, owner := range slices.Sorted(func(yield func(string) bool) {
		for k := range readBy {
			if !yield(k) {
				return
			}
		}
	}) {
		clients := slices.Sorted(func(yield func(string) bool) {
			for k := range readBy[owner] {
				if !yield(k) {
					return
				}
			}
		})
		r.OwnersReadBy = append(r.OwnersReadBy, OwnerReuse{Owner: owner, Clients: clients})
		if len(clients) >= 2 {
			r.OwnersReused++
		}
	}
	return r
}

// Share is n of total as a percentage with one decimal ("100.0 %"), or
// "–" of nothing.
func Share(n, total int) string {
	if total == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(n)/float64(total))
}

// Rows are the report as the CSV export's rows: figure, value, detail.
func (r Report) Rows() [][]string {
	rows := [][]string{
		{"figure", "value", "detail"},
		{"period", r.From.Format(time.DateOnly) + " – " + r.To.Format(time.DateOnly), "generated " + r.Generated.Format(time.RFC3339)},
		{"schema fields classified", Share(r.ClassifiedFields, r.Fields), fmt.Sprintf("%d of %d; an unclassified field stops the start", r.ClassifiedFields, r.Fields)},
	}
	for _, lvl := range []string{"0", "1", "2", "3"} {
		rows = append(rows, []string{"fields at level " + lvl, fmt.Sprint(r.FieldsByLevel[lvl]), ""})
	}
	rows = append(rows,
		[]string{"client applications with a contract", Share(r.ClientsWithContract, len(r.Clients)), fmt.Sprintf("%d of %d known; one without is refused every field", r.ClientsWithContract, len(r.Clients))},
		[]string{"sources with an owner", Share(r.SourcesWithOwner, len(r.Sources)), fmt.Sprintf("%d of %d", r.SourcesWithOwner, len(r.Sources))},
		[]string{"open APIs published", fmt.Sprint(len(r.OpenAPIs)), strings.Join(r.OpenAPIs, " ")},
		[]string{"owners' data read by two or more client applications", fmt.Sprint(r.OwnersReused), fmt.Sprintf("of %d owners read in the period", len(r.OwnersReadBy))},
		[]string{"clients served outside the platform", "–", r.ServedOutsideMeasure},
		[]string{"access log entries in the period", fmt.Sprint(r.AccessEntries), map[bool]string{true: "the newest only: the log held more", false: ""}[r.AccessLogTruncated]},
	)
	for _, c := range r.Clients {
		rows = append(rows, []string{"client " + c.Client, map[bool]string{true: "contract", false: "no contract"}[c.Contract], fmt.Sprintf("%d access log entries; owner %s", c.Requests, cmp.Or(c.Owner, "–"))})
	}
	for _, o := range r.OwnersReadBy {
		rows = append(rows, []string{"read: " + o.Owner, fmt.Sprint(len(o.Clients)), strings.Join(o.Clients, " ")})
	}
	for _, f := range r.Level3 {
		rows = append(rows, []string{"level 3: " + f.Key, fmt.Sprint(len(f.Readers)), strings.Join(f.Readers, "; ")})
	}
	return rows
}
