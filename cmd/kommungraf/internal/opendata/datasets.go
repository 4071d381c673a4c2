package opendata

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/sources/loaders"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/rest"
	"github.com/kommungraf/kommungraf/sources/sqldb"
)

// ErrandLister pages through the e-service platform's errands
// (rest.ETjanst).
type ErrandLister interface {
	Errands(ctx context.Context, f rest.ErrandFilter, offset, n int) ([]*model.Errand, int, error)
}

// PlacementFacts reads the school database's placements as facts without
// the child (sqldb.Store).
type PlacementFacts interface {
	PlacementFacts(ctx context.Context, asOf time.Time) ([]sqldb.PlacementFact, error)
}

// ErrandsDataset is every errand of the e-service platform submitted
// before the reference date (complete months only), whatever its purpose,
// as case type, month, status and channel: errands are level 1 and read by
// purpose, so no anonymous caller reaches a row of them; a declared
// aggregate publishes their counts, small ones suppressed. Only errands of
// the case types covered names (those the policy's purpose table names,
// read at each count) are counted: an errand of a case type no purpose
// covers is readable by no one (fail closed), and its case type is not
// published either.
func ErrandsDataset(src ErrandLister, covered func() []string) *Dataset {
	return &Dataset{
		Name:        "errands",
		Description: "errands (ärenden) of the e-service platform",
		Source:      loaders.SourceErrands,
		Dimensions: map[string]string{
			"caseType": "Case type (ärendetyp), such as BYGGLOV.",
			"month":    "Month the errand was submitted, YYYY-MM (UTC).",
			"status":   "The errand's status: RECEIVED, UNDER_REVIEW, DECIDED, CLOSED or WITHDRAWN.",
			"channel":  "How the errand was submitted (e-service, paper, ...).",
		},
		Scope: func() string { return strings.Join(covered(), ",") },
		Rows: func(ctx context.Context, asOf time.Time) ([]Row, error) {
			types := covered()
			var rows []Row
			for offset := 0; ; {
				page, total, err := src.Errands(ctx, rest.ErrandFilter{}, offset, rest.MaxPage)
				if err != nil {
					return nil, err
				}
				for _, e := range page {
					if !e.SubmittedAt.Before(asOf) || !slices.Contains(types, e.CaseType) {
						continue // the current month when it is over; an uncovered case type never
					}
					rows = append(rows, Row{
						"caseType": e.CaseType, "month": e.SubmittedAt.UTC().Format("2006-01"),
						"status": string(e.Status), "channel": e.Channel,
					})
				}
				offset += len(page)
				if len(page) == 0 || offset >= total {
					return rows, nil
				}
			}
		},
	}
}

// PlacementsDataset is the placements in force on the reference date, as
// school unit, the child's birth year and the start year: placements are
// level 2.
func PlacementsDataset(src PlacementFacts) *Dataset {
	return &Dataset{
		Name:        "placements",
		Description: "current placements (placeringar) at preschools and schools",
		Source:      loaders.SourceSchool,
		Dimensions: map[string]string{
			"schoolUnit": "The school unit's code (skolenhetskod).",
			"birthYear":  "The child's birth year.",
			"startYear":  "The year the placement started.",
		},
		Rows: func(ctx context.Context, asOf time.Time) ([]Row, error) {
			facts, err := src.PlacementFacts(ctx, asOf)
			if err != nil {
				return nil, err
			}
			rows := make([]Row, len(facts))
			for i, f := range facts {
				rows[i] = Row{"schoolUnit": f.SchoolUnitCode, "birthYear": f.BirthYear, "startYear": f.StartYear}
			}
			return rows, nil
		},
	}
}
