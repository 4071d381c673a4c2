package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/problem"
	"github.com/kommungraf/kommungraf/graph"
	"github.com/kommungraf/kommungraf/graph/operations"
)

// routes are the policy administration API: every route needs admin on
// policy.
func (api *policyAPI) routes() []Route {
	var out []Route
	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET /admin/api/policy", api.policy},
		{"GET /admin/api/catalog", api.catalog},
		{"POST /admin/api/dry-run", api.dryRun},
		{"POST /admin/api/proposals", api.propose},
		{"GET /admin/api/proposals", api.proposals},
		{"GET /admin/api/proposals/{id}", api.proposal},
		{"POST /admin/api/proposals/{id}/approve", api.approve},
		{"POST /admin/api/proposals/{id}/reject", api.reject},
		{"GET /admin/api/versions", api.versions},
		{"GET /admin/api/versions/{version}", api.version},
		{"POST /admin/api/versions/{version}/restore", api.restore},
		{"GET /admin/api/audit", api.audit},
	} {
		out = append(out, Route{r.pattern, authz.ActAdmin, authz.ObjPolicy, r.h})
	}
	return out
}

// policyAPI serves /admin/api/*; the HTTP layer only reads arguments, calls
// the workflow and maps the result.
type policyAPI struct {
	flow  Workflow
	a     Policy
	roles map[string]authz.RoleGrant
	// units are units known beside those the policy names (the demo's
	// personas'): the identity provider, not Kommungraf, keeps units.
	units []string
	// ops are the registered operations, for the dry run's report of
	// which of them a change reaches.
	ops Operations
	log *slog.Logger
}

// The JSON shapes of the API (the policy editor page relies on them).
type (
	proposalJSON struct {
		ID          int64      `json:"id"`
		BaseVersion uint64     `json:"baseVersion"`
		Author      string     `json:"author"`
		Comment     string     `json:"comment"`
		CreatedAt   time.Time  `json:"createdAt"`
		Status      string     `json:"status"`
		Diff        string     `json:"diff"`
		Text        string     `json:"text"`
		DecidedBy   string     `json:"decidedBy,omitempty"`
		DecidedAt   *time.Time `json:"decidedAt,omitempty"`
		Reason      string     `json:"reason,omitempty"`
		Version     uint64     `json:"version,omitempty"`
		Restores    uint64     `json:"restores,omitempty"`
	}
	versionJSON struct {
		Version    uint64    `json:"version"`
		Author     string    `json:"author"`
		CreatedAt  time.Time `json:"createdAt"`
		Comment    string    `json:"comment"`
		Diff       string    `json:"diff"`
		Parent     uint64    `json:"parent"`
		Proposal   *int64    `json:"proposal"`
		ApprovedBy string    `json:"approvedBy,omitempty"`
		Text       string    `json:"text,omitempty"`
		Rules      []string  `json:"rules,omitempty"`
	}
	auditJSON struct {
		ID       int64     `json:"id"`
		At       time.Time `json:"at"`
		Actor    string    `json:"actor"`
		Action   string    `json:"action"`
		Proposal *int64    `json:"proposal"`
		Version  *uint64   `json:"version"`
		Comment  string    `json:"comment"`
		Detail   string    `json:"detail,omitempty"`
	}
	proposeJSON struct {
		Proposal proposalJSON `json:"proposal"`
		Applied  bool         `json:"applied"`
		Version  uint64       `json:"version,omitempty"`
	}
	// lineJSON is one problem of a line; a line with several problems
	// has one entry for each, in column order.
	lineJSON struct {
		Line    int    `json:"line"`
		Text    string `json:"text"`
		Message string `json:"message"`
		Column  string `json:"column,omitempty"`
	}
	railJSON struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
)

func toProposal(p authz.Proposal) proposalJSON {
	j := proposalJSON{ID: p.ID, BaseVersion: p.BaseVersion, Author: p.Author, Comment: p.Comment, CreatedAt: adminTime(p.CreatedAt),
		Status: p.Status, Diff: p.Diff, Text: p.Text, DecidedBy: p.DecidedBy, Reason: p.Reason, Version: p.Version, Restores: p.Restores}
	if !p.DecidedAt.IsZero() {
		t := adminTime(p.DecidedAt)
		j.DecidedAt = &t
	}
	return j
}

func toVersion(v authz.PolicyVersion, full bool) versionJSON {
	j := versionJSON{Version: v.Number, Author: v.Author, CreatedAt: adminTime(v.CreatedAt), Comment: v.Comment, Diff: v.Diff,
		Parent: v.Parent, ApprovedBy: v.ApprovedBy}
	if v.ProposalID != 0 {
		id := v.ProposalID
		j.Proposal = &id
	}
	if full {
		j.Text, j.Rules = v.Text, ruleLines(v.Text)
	}
	return j
}

// adminTime is a time as the admin API gives every time: RFC 3339 (as
// encoding/json writes a time.Time) with the Europe/Stockholm offset, so a
// reader sees the municipality's clock and still an unambiguous instant.
func adminTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(authz.Stockholm)
}

// ruleLines are a policy's lines in canonical form.
func ruleLines(text string) []string {
	rules, _ := authz.ParsePolicy(text, nil) // stored versions parsed when they were applied
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.String()
	}
	return out
}

func (api *policyAPI) policy(w http.ResponseWriter, r *http.Request) {
	v, err := api.flow.Store().Current(r.Context())
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"version": v.Number, "rules": ruleLines(v.Text), "text": v.Text, "requireApproval": api.flow.RequireApproval(),
		"liveVersion": api.a.Version(), "author": v.Author, "createdAt": adminTime(v.CreatedAt), "comment": v.Comment,
	})
}

func (api *policyAPI) catalog(w http.ResponseWriter, r *http.Request) {
	type accessJSON struct {
		Role             string `json:"role"`
		Client           string `json:"client"`
		Allowed          bool   `json:"allowed"`
		ProtectedAllowed bool   `json:"protectedAllowed"`
	}
	type fieldJSON struct {
		Key         string       `json:"key"`
		Type        string       `json:"type"`
		Field       string       `json:"field"`
		Level       int          `json:"level"`
		Owner       string       `json:"owner"`
		Personal    bool         `json:"personal"`
		Health      bool         `json:"health"`
		Description string       `json:"description"`
		Access      []accessJSON `json:"access"`
		Clients     []string     `json:"clients"`
		Rules       []string     `json:"rules"`
		// Rows: for a field of a type whose rows carry a purpose, which
		// rows are read for which purpose.
		Rows []authz.RowPurpose `json:"rows"`
	}
	type contractJSON struct {
		Client       string   `json:"client"`
		Name         string   `json:"name"`
		Owner        string   `json:"owner"`
		Purposes     []string `json:"purposes"`
		Ceiling      int      `json:"ceiling"`
		Availability string   `json:"availability"`
		Fields       []string `json:"fields"`
	}
	view := api.flow.Catalog()
	fields := make([]fieldJSON, 0, len(view))
	for _, fa := range view {
		f := fa.Field
		fj := fieldJSON{Key: f.Key, Type: f.Type, Field: f.Name, Level: int(f.Level), Owner: f.Owner, Personal: f.Personal,
			Health: f.Health, Description: f.Description, Access: make([]accessJSON, len(fa.Access)), Clients: fa.Clients, Rules: fa.Rules, Rows: fa.Rows}
		for i, a := range fa.Access {
			fj.Access[i] = accessJSON{a.Role, a.Client, a.Allowed, a.ProtectedAllowed}
		}
		fields = append(fields, fj)
	}
	contracts := []contractJSON{}
	for _, c := range api.a.Contracts().List() {
		contracts = append(contracts, contractJSON{c.Client, c.Name, c.Owner, c.Purposes, int(c.Ceiling), c.Availability, c.Fields})
	}
	out := map[string]any{"version": api.a.Version(), "fields": fields, "contracts": contracts}
	maps.Copy(out, api.vocabulary())
	writeJSON(w, http.StatusOK, out)
}

// vocabulary is what a policy line's columns may name, for the editor's
// choices: the role table's roles, the units and purposes known to the role
// table, the contracts and the live policy, the clients with a contract,
// the schema's types, the actions and the admin objects.
func (api *policyAPI) vocabulary() map[string]any {
	type roleJSON struct {
		Name      string   `json:"name"`
		Clearance int      `json:"clearance"`
		Purposes  []string `json:"purposes"`
	}
	roles := []roleJSON{}
	purposes, units, clients, types := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(api.roles)) {
		g := api.roles[name]
		roles = append(roles, roleJSON{name, int(g.Clearance), append([]string{}, g.Purposes...)})
		for _, p := range g.Purposes {
			purposes[p] = true
		}
	}
	for _, c := range api.a.Contracts().List() {
		clients[c.Client] = true
		for _, p := range c.Purposes {
			purposes[p] = true
		}
	}
	for _, u := range api.units {
		units[u] = true
	}
	for _, r := range api.a.Rules() {
		if u, ok := strings.CutPrefix(r[0], "unit:"); ok {
			units[u] = true
		}
		if p := r[3]; p != "*" {
			purposes[p] = true
		}
	}
	for _, f := range api.a.Catalog().Fields() {
		types[f.Type] = true
	}
	sorted := func(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
	return map[string]any{
		"roles": roles, "units": sorted(units), "clients": sorted(clients), "purposes": sorted(purposes), "types": sorted(types),
		"actions":      []string{authz.ActRead, authz.ActRow, authz.ActIntrospect, authz.ActAdmin},
		"adminObjects": []string{authz.ObjPolicy, authz.ObjAccessLog, authz.ObjCache},
	}
}

func (api *policyAPI) dryRun(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text *string `json:"text"`
	}
	if !decodeBody(w, r, &body, true) {
		return
	}
	if body.Text == nil {
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", `want {"text": "<the whole policy>"}`, nil)
		return
	}
	rep, err := api.flow.DryRun(r.Context(), *body.Text)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	type changeJSON struct {
		Role      string `json:"role"`
		Client    string `json:"client"`
		Action    string `json:"action"`
		Field     string `json:"field"`
		Protected bool   `json:"protected"`
		Before    bool   `json:"before"`
		After     bool   `json:"after"`
		Rule      string `json:"rule,omitempty"`
		Reason    string `json:"reason,omitempty"`
	}
	changes := make([]changeJSON, len(rep.Changes))
	for i, c := range rep.Changes {
		changes[i] = changeJSON{c.Role, c.Client, c.Action, c.Field, c.Protected, c.Before, c.After, c.Rule, c.Reason}
	}
	rails := make([]railJSON, len(rep.GuardRails))
	for i, gr := range rep.GuardRails {
		rails[i] = railJSON{gr.Name, gr.Detail}
	}
	// The registered operations the change reaches: those selecting a
	// field whose decision changes, or any field of a type whose rows do.
	fields, rowTypes := map[string]bool{}, map[string]bool{}
	for _, c := range rep.Changes {
		switch c.Action {
		case authz.ActRead:
			fields[c.Field] = true
		case authz.ActRow:
			typ, _, _ := strings.Cut(c.Field, "(")
			rowTypes[typ] = true
		}
	}
	affected := []operations.Affected{}
	if api.ops != nil && len(rep.Changes) > 0 {
		a, err := api.ops.Affected(r.Context(), func(f string) bool {
			typ, _, _ := strings.Cut(f, ".")
			return fields[f] || rowTypes[typ]
		})
		if err != nil {
			api.log.ErrorContext(r.Context(), "dry run: operation registry", "error", err.Error())
		} else if a != nil {
			affected = a
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"baseVersion": rep.BaseVersion, "changes": changes, "guardRails": rails, "operations": affected,
		"recent": map[string]any{"examined": rep.Recent.Examined, "changed": rep.Recent.Changed,
			"since": adminTime(rep.Recent.Since), "unavailable": rep.Recent.Unavailable},
	})
}

func (api *policyAPI) propose(w http.ResponseWriter, r *http.Request) {
	var body struct {
		BaseVersion *uint64 `json:"baseVersion"`
		Text        *string `json:"text"`
		Comment     string  `json:"comment"`
	}
	if !decodeBody(w, r, &body, true) {
		return
	}
	if body.BaseVersion == nil || body.Text == nil {
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST",
			`want {"baseVersion": <the version the change is written against>, "text": "<the whole policy>", "comment": "..."}`, nil)
		return
	}
	res, err := api.flow.Propose(r.Context(), actor(r), *body.BaseVersion, *body.Text, body.Comment)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, proposeJSON{toProposal(res.Proposal), res.Applied, res.Version})
}

var proposalStatuses = []string{"", authz.ProposalProposed, authz.ProposalApplied, authz.ProposalRejected, authz.ProposalSuperseded}

func (api *policyAPI) proposals(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if !slices.Contains(proposalStatuses, status) {
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "status: want proposed, applied, rejected or superseded", nil)
		return
	}
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	ps, err := api.flow.Store().Proposals(r.Context(), status, limit)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	out := make([]proposalJSON, len(ps))
	for i, p := range ps {
		out[i] = toProposal(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"proposals": out})
}

func (api *policyAPI) proposal(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	p, err := api.flow.Store().Proposal(r.Context(), id)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"proposal": toProposal(p)})
}

func (api *policyAPI) approve(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok || !decodeBody(w, r, &struct{}{}, false) {
		return
	}
	v, p, err := api.flow.Approve(r.Context(), actor(r), id)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": v.Number, "proposal": toProposal(p)})
}

func (api *policyAPI) reject(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	p, err := api.flow.Reject(r.Context(), actor(r), id, body.Reason)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"proposal": toProposal(p)})
}

func (api *policyAPI) versions(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	vs, err := api.flow.Store().Versions(r.Context(), limit)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	out := make([]versionJSON, len(vs))
	for i, v := range vs {
		out[i] = toVersion(v, false)
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": out})
}

func (api *policyAPI) version(w http.ResponseWriter, r *http.Request) {
	n, ok := pathVersion(w, r)
	if !ok {
		return
	}
	v, err := api.flow.Store().Version(r.Context(), n)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toVersion(v, true))
}

func (api *policyAPI) restore(w http.ResponseWriter, r *http.Request) {
	n, ok := pathVersion(w, r)
	if !ok {
		return
	}
	var body struct {
		Comment string `json:"comment"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	res, err := api.flow.Restore(r.Context(), actor(r), n, body.Comment)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, proposeJSON{toProposal(res.Proposal), res.Applied, res.Version})
}

func (api *policyAPI) audit(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	es, err := api.flow.Store().Audit(r.Context(), limit)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	out := make([]auditJSON, len(es))
	for i, e := range es {
		j := auditJSON{ID: e.ID, At: adminTime(e.At), Actor: e.Actor, Action: e.Action, Comment: e.Comment, Detail: e.Detail}
		if e.ProposalID != 0 {
			id := e.ProposalID
			j.Proposal = &id
		}
		if e.Version != 0 {
			v := e.Version
			j.Version = &v
		}
		out[i] = j
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
}

// actor is who does it: the authenticated principal's subject.
// actor names who acts in the audit and for the four-eyes rule. API key
// names and identity-provider subjects are separate namespaces, so a key
// named like an officer's subject is never taken for that officer.
func actor(r *http.Request) string {
	p := authz.FromContext(r.Context())
	if p.Method == "apikey" {
		return "apikey:" + p.Subject
	}
	return p.Subject
}

// fail maps a workflow error to its problem.
func (api *policyAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *authz.PolicyError
	var gr *authz.GuardRailError
	var stale *authz.StaleVersionError
	switch {
	case errors.As(err, &pe):
		lines := make([]lineJSON, len(pe.Lines))
		for i, l := range pe.Lines {
			lines[i] = lineJSON{l.Line, l.Text, l.Msg, l.Column}
		}
		detail := fmt.Sprintf("%d line(s) of the policy do not fit the model; the live policy is unchanged", pe.BadLines())
		writeProblem(w, http.StatusUnprocessableEntity, "INVALID_POLICY", detail, map[string]any{"lines": lines})
	case errors.As(err, &gr):
		rails := make([]railJSON, len(gr.Rails))
		for i, x := range gr.Rails {
			rails[i] = railJSON{x.Name, x.Detail}
		}
		writeProblem(w, http.StatusUnprocessableEntity, "GUARD_RAIL", gr.Error(), map[string]any{"rails": rails})
	case errors.As(err, &stale):
		writeProblem(w, http.StatusConflict, "STALE_VERSION", stale.Error(),
			map[string]any{"baseVersion": stale.Base, "currentVersion": stale.Current})
	case errors.Is(err, authz.ErrSelfApproval):
		writeProblem(w, http.StatusForbidden, "SELF_APPROVAL", err.Error(), nil)
	case errors.Is(err, authz.ErrProposalClosed):
		writeProblem(w, http.StatusConflict, "PROPOSAL_CLOSED", err.Error(), nil)
	case errors.Is(err, authz.ErrNoChange):
		writeProblem(w, http.StatusUnprocessableEntity, "NO_CHANGE", err.Error(), nil)
	case errors.Is(err, authz.ErrPolicyNotFound):
		writeProblem(w, http.StatusNotFound, "NOT_FOUND", err.Error(), nil)
	default:
		api.log.ErrorContext(r.Context(), "policy API: request failed", "path", r.URL.Path, "error", err.Error())
		writeProblem(w, http.StatusServiceUnavailable, "POLICY_STORE_UNAVAILABLE", "the policy store could not complete the request; try again", nil)
	}
}

// writeProblem answers with an RFC 9457 problem+json body and extra members.
func writeProblem(w http.ResponseWriter, status int, code, detail string, extra map[string]any) {
	problem.Write(w, status, code, detail, extra)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// tooLarge answers 413 for a body past the gateway's limit (which cut it
// with http.MaxBytesReader), as the gateway answers one it refuses before
// reading.
func tooLarge(w http.ResponseWriter, n int64) {
	w.Header().Set("Connection", "close") // the rest of the body is not read
	writeProblem(w, http.StatusRequestEntityTooLarge, graph.CodePayloadTooLarge, fmt.Sprintf("the request body is larger than %d bytes", n), nil)
}

// decodeBody reads a JSON body strictly; an empty body is allowed unless
// required.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any, required bool) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if errors.Is(err, io.EOF) && !required {
		return true
	}
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		msg := "the body is not the expected JSON object"
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge(w, mbe.Limit)
			return false
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			msg += ": " + strings.TrimPrefix(err.Error(), "json: ")
		}
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", msg, nil)
		return false
	}
	return true
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeProblem(w, http.StatusNotFound, "NOT_FOUND", "no proposal "+r.PathValue("id"), nil)
		return 0, false
	}
	return id, true
}

func pathVersion(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	n, err := strconv.ParseUint(r.PathValue("version"), 10, 63)
	if err != nil || n < 1 {
		writeProblem(w, http.StatusNotFound, "NOT_FOUND", "no policy version "+r.PathValue("version"), nil)
		return 0, false
	}
	return n, true
}

// queryLimit reads ?limit= (default 500, at most 10000).
func queryLimit(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 500, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "limit: want 1 to 10000", nil)
		return 0, false
	}
	return n, true
}
