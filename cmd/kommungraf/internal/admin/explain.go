package admin

import (
	"net/http"
	"strings"

	"github.com/kommungraf/kommungraf/authz"
)

// explainAPI serves POST /admin/api/explain: the LIVE policy's decision on
// one question for one principal, the line that decided it and the policy
// version, so that security staff explain what the gateway does now, not
// what a policy file on their laptop says.
//
//	{"persona"?: "case-officer", "token"?: "<bearer credential>",
//	 "field": "Type.field", "protected": false, "action": "", "object": ""}
//
// The route sits behind admin on policy like the rest of the policy API:
// explaining another principal's rights reveals what that principal may
// read. The principal is a demo persona (on a demo gateway only), the
// principal a token proves (verified exactly as a bearer credential of a
// request, so an expired or foreign token explains nothing), or without
// either the caller.
func (a *Admin) explainAPI() http.HandlerFunc {
	o := a.opts
	log := a.log.With("component", "policy-api")
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Persona   string `json:"persona"`
			Token     string `json:"token"`
			Field     string `json:"field"`
			Protected bool   `json:"protected"`
			Action    string `json:"action"`
			Object    string `json:"object"`
		}
		if !decodeBody(w, r, &body, true) {
			return
		}
		var p *authz.Principal
		switch {
		case body.Persona != "" && body.Token != "":
			writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "give persona or token, not both", nil)
			return
		case body.Persona != "" && !o.Demo:
			writeProblem(w, http.StatusBadRequest, "BAD_REQUEST",
				"persona: demo personas exist only on a demo gateway; give the principal's token instead", nil)
			return
		case body.Persona == "anonymous":
			p = authz.AnonymousPrincipal()
		case body.Persona != "":
			var err error
			if p, err = authz.PersonaPrincipal(body.Persona, o.Roles); err != nil {
				writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", "persona: "+err.Error(), nil)
				return
			}
		case body.Token != "":
			var err error
			if p, err = o.Authn.AuthenticateToken(r.Context(), body.Token); err != nil {
				// As for a request's credential, the reason goes to the log only.
				log.WarnContext(r.Context(), "policy explain: the token to explain is not valid", "reason", err.Error())
				writeProblem(w, http.StatusUnprocessableEntity, "INVALID_CREDENTIAL",
					"the token is not a valid credential for this gateway (the reason is in the gateway's log)", nil)
				return
			}
		default:
			p = authz.FromContext(r.Context())
		}
		if (body.Field == "") == (body.Action == "") {
			writeProblem(w, http.StatusBadRequest, "BAD_REQUEST",
				`want {"field": "Type.field"} or {"action": "row|introspect|admin", "object": "..."}`, nil)
			return
		}
		d, err := o.Explain(p, body.Field, body.Action, body.Object, body.Protected)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "BAD_REQUEST", err.Error(), nil)
			return
		}
		decision := "DENY"
		if d.Allow {
			decision = "ALLOW"
		}
		// Who asked about whom: an explanation of another principal's
		// token tells what that principal may see (the token itself is
		// never logged).
		log.InfoContext(r.Context(), "policy explained", "by", authz.FromContext(r.Context()).Subject,
			"for", p.Subject, "client", p.Client, "field", body.Field, "action", body.Action, "object", body.Object,
			"decision", decision, "version", d.PolicyVersion)
		writeJSON(w, http.StatusOK, map[string]any{
			"version": d.PolicyVersion, "decision": decision, "reason": d.Reason, "rule": d.Rule,
			"contract": d.Contract, "level": int(d.Level),
			"principal": map[string]any{
				"subject": p.Subject, "client": p.Client, "roles": nonNil(p.Roles), "unit": p.Unit,
				"clearance": int(p.Clearance), "purposes": nonNil(p.Purposes), "method": p.Method, "anonymous": p.Anonymous,
			},
			"question": strings.TrimSpace(body.Action + " " + body.Object + body.Field),
		})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
