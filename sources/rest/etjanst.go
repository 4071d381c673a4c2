package rest

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// MaxPage is the largest page the e-service platform serves (DIGG profile).
const MaxPage = 100

// ETjanst is the client of the e-service case system.
type ETjanst struct {
	c client
}

// NewETjanst builds the e-service platform client.
func NewETjanst(opts upstream.Options) (*ETjanst, error) {
	c, err := newClient("etjanst", opts)
	if err != nil {
		return nil, err
	}
	return &ETjanst{c: c}, nil
}

// ErrandFilter narrows an errand listing; empty fields do not filter.
type ErrandFilter struct {
	Status model.ErrandStatus
	// CaseTypes keeps errands of any of these case types (the platform
	// takes a comma-separated list).
	CaseTypes []string
	PartyIDs  []string
}

func (f ErrandFilter) query() url.Values {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if len(f.CaseTypes) > 0 {
		q.Set("caseType", strings.Join(f.CaseTypes, ","))
	}
	if len(f.PartyIDs) > 0 {
		q.Set("partyId", strings.Join(f.PartyIDs, ","))
	}
	return q
}

// Errands returns up to n errands starting at offset, and the total count.
// The platform pages by limit/page; a window that straddles two pages costs
// two calls, an aligned one a single call.
func (e *ETjanst) Errands(ctx context.Context, f ErrandFilter, offset, n int) ([]*model.Errand, int, error) {
	if n <= 0 || n > MaxPage {
		n = MaxPage
	}
	page := offset/n + 1
	skip := offset % n
	var out []*model.Errand
	total := 0
	for len(out) < n {
		list, err := e.page(ctx, f, n, page)
		if err != nil {
			return nil, 0, err
		}
		total = list.Meta.TotalRecords
		for _, d := range list.Errands[min(skip, len(list.Errands)):] {
			if len(out) == n {
				break
			}
			out = append(out, errandFromDTO(d))
		}
		skip = 0
		if page >= list.Meta.TotalPages || len(list.Errands) < n {
			break
		}
		page++
	}
	return out, total, nil
}

func (e *ETjanst) page(ctx context.Context, f ErrandFilter, limit, page int) (*ErrandList, error) {
	q := f.query()
	q.Set("limit", strconv.Itoa(limit))
	q.Set("page", strconv.Itoa(page))
	var list ErrandList
	if err := e.c.get(ctx, "listErrands", "api/v1/errands", q, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// ErrandsByParty returns every errand in which one of the parties is a
// stakeholder, keyed by partyId, following the platform's pages.
func (e *ETjanst) ErrandsByParty(ctx context.Context, partyIDs []string) (map[string][]*model.Errand, error) {
	out := make(map[string][]*model.Errand, len(partyIDs))
	if len(partyIDs) == 0 {
		return out, nil
	}
	want := make(map[string]bool, len(partyIDs))
	for _, id := range partyIDs {
		want[id] = true
	}
	f := ErrandFilter{PartyIDs: partyIDs}
	for page := 1; ; page++ {
		list, err := e.page(ctx, f, MaxPage, page)
		if err != nil {
			return nil, err
		}
		for _, d := range list.Errands {
			er := errandFromDTO(d)
			for _, s := range er.Stakeholders {
				if prev := out[s.PartyID]; want[s.PartyID] && (len(prev) == 0 || prev[len(prev)-1] != er) { // once per errand, whatever the roles
					out[s.PartyID] = append(out[s.PartyID], er)
				}
			}
		}
		if page >= list.Meta.TotalPages || len(list.Errands) == 0 {
			return out, nil
		}
	}
}

// ErrandsByNumber fetches errands with the platform's batch form; unknown
// numbers are absent from the map.
func (e *ETjanst) ErrandsByNumber(ctx context.Context, numbers []string) (map[string]*model.Errand, error) {
	return chunked(ctx, numbers, MaxPage, func(ctx context.Context, chunk []string, out func(string, *model.Errand)) error {
		var list ErrandList
		q := url.Values{"errandNumbers": {strings.Join(chunk, ",")}}
		if err := e.c.get(ctx, "errandsByNumber", "api/v1/errands", q, &list); err != nil {
			return err
		}
		for _, d := range list.Errands {
			out(d.ErrandNumber, errandFromDTO(d))
		}
		return nil
	})
}

// PersonalNumbersByParty resolves partyIds to personnummer in one call per
// 1000 keys; unknown parties are absent.
func (e *ETjanst) PersonalNumbersByParty(ctx context.Context, partyIDs []string) (map[string]string, error) {
	return e.lookup(ctx, partyIDs, func(ids []string) PartyLookupRequest { return PartyLookupRequest{PartyIDs: ids} },
		func(p PartyDTO) (string, string) { return p.PartyID, p.PersonalNumber })
}

// PartiesByPersonalNumber resolves personnummer to partyIds.
func (e *ETjanst) PartiesByPersonalNumber(ctx context.Context, pnrs []string) (map[string]string, error) {
	return e.lookup(ctx, pnrs, func(ids []string) PartyLookupRequest { return PartyLookupRequest{PersonalNumbers: ids} },
		func(p PartyDTO) (string, string) { return p.PersonalNumber, p.PartyID })
}

const maxLookup = 1000

func (e *ETjanst) lookup(ctx context.Context, keys []string, req func([]string) PartyLookupRequest, pair func(PartyDTO) (string, string)) (map[string]string, error) {
	return chunked(ctx, keys, maxLookup, func(ctx context.Context, chunk []string, out func(string, string)) error {
		var resp PartyLookupResponse
		if err := e.c.post(ctx, "lookupParties", "api/v1/parties/lookup", req(chunk), true, &resp); err != nil {
			return err
		}
		for _, p := range resp.Parties {
			out(pair(p))
		}
		return nil
	})
}

// Upstream is the platform's upstream stack, which the resources declared
// for it (schema/etjanst.yaml) and its readiness probe share: one
// concurrency bound, one breaker.
func (e *ETjanst) Upstream() *upstream.Client { return e.c.up }

func errandFromDTO(d ErrandDTO) *model.Errand {
	e := &model.Errand{
		ErrandNumber: d.ErrandNumber, CaseType: d.CaseType, Status: model.ErrandStatus(d.Status),
		SubmittedAt: d.SubmittedAt.UTC(), Description: d.Description, Channel: d.Channel,
		PropertyObjectID: d.PropertyObjectID,
	}
	for _, s := range d.Stakeholders {
		e.Stakeholders = append(e.Stakeholders, &model.Stakeholder{PartyID: s.PartyID, Role: model.StakeholderRole(s.Role)})
	}
	return e
}
