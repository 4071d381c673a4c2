package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/gateway"
	"github.com/kommungraf/kommungraf/graph"
)

const policyUsage = `usage: kommungraf policy <command> [flags]
  explain  --persona ID | --token T  --field Type.field [--protected] | --action row|introspect|admin --object O
           the decision for one caller and field, the policy line that decided it and the policy version:
           asks the running gateway's LIVE policy (--url, default $KOMMUNGRAF_URL or ` + defaultURL + `; the
           caller's credential --admin-token or $KOMMUNGRAF_TOKEN, on a demo gateway the security officer's
           demo token); with --config, --file or --offline, or when no gateway answers, a policy file
  test     --file decisions.yaml     run a table of expected decisions; exit 1 on a mismatch
  lint     [--file policy.csv]       check a policy file against the model and the schema
test and lint take --config FILE (default: the embedded demo policy and contracts).
kommungraf policy <command> --help lists a command's flags.`

// policyCommand is `kommungraf policy ...`: security staff's tools for the
// access policy. It reads the same policy, contracts and roles as the gateway.
func policyCommand(ctx context.Context, args []string, std stdio) error {
	stdout := std.out
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(std.out, policyUsage+"\n\n"+policyAdminUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("policy "+sub, flag.ContinueOnError)
	file := fs.String("config", "", "configuration file (default: the demo's embedded policy)")
	switch sub {
	case "explain":
		persona := fs.String("persona", "", "explain for this demo persona: "+strings.Join(authz.PersonaIDs(), ", ")+", or anonymous")
		token := fs.String("token", "", "explain for the principal this bearer token or API key proves, verified as the gateway verifies it")
		field := fs.String("field", "", "the field, Type.field")
		protected := fs.Bool("protected", false, "the value belongs to a person with protected identity")
		action := fs.String("action", "", "instead of a field: row, introspect or admin")
		object := fs.String("object", "", "with --action: Type(attribute=value) for row (Errand(caseType=BYGGLOV)); schema, policy, accesslog or cache")
		cf := addClientFlags(fs, "explain")
		adminToken := fs.String("admin-token", "", "the caller's credential for the gateway: a security officer's bearer token or API key (default $KOMMUNGRAF_TOKEN; on a demo gateway the security officer's demo token)")
		policyFile := fs.String("file", "", "explain this policy file instead of asking the gateway (offline)")
		offline := fs.Bool("offline", false, "explain the configured or embedded policy without asking the gateway")
		fs.Usage = usageFunc(fs, "usage: kommungraf policy explain (--persona ID | --token T) (--field Type.field [--protected] | --action A --object O)\n"+
			"  explains the running gateway's live policy; --config, --file or --offline explain a policy file instead")
		if err := parseFlags(fs, args, std); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usageError{fmt.Errorf("policy explain: unexpected argument %q", fs.Arg(0))}
		}
		if *persona != "" && *token != "" {
			return usageError{errors.New("policy explain: give --persona or --token, not both")}
		}
		if (*field == "") == (*action == "") {
			return usageError{errors.New("policy explain: give --field, or --action and --object")}
		}
		q := explainQuestion{persona: *persona, token: *token, field: *field, protected: *protected, action: *action, object: *object}
		var fellBack error
		if *file == "" && *policyFile == "" && !*offline {
			err := explainLive(ctx, std, *cf.url, *adminToken, q)
			var ue *unreachableError
			if !errors.As(err, &ue) {
				return err
			}
			fellBack = ue
		}
		cfg, err := cliConfig(*file)
		if err != nil {
			return err
		}
		if *policyFile != "" {
			cfg.Authz.PolicyFile = *policyFile
		}
		a, roles, err := loadPolicyConfig(ctx, cfg)
		if err != nil {
			return err
		}
		source := "the embedded default policy"
		if cfg.Authz.PolicyFile != "" {
			source = "the policy in " + cfg.Authz.PolicyFile
		}
		if fellBack != nil {
			ue := fellBack.(*unreachableError)
			fmt.Fprintf(std.err, "kommungraf: could not reach %s: %v; explaining %s (version %d) instead, which may differ from the live one\n"+
				"  (give the gateway's address with --url URL or set KOMMUNGRAF_URL; --offline does not ask a gateway)\n",
				ue.url, ue.err, source, a.Version())
		}
		if *persona == "" && *token == "" {
			return usageError{errors.New("policy explain: give --persona or --token")}
		}
		p, err := principalFor(ctx, cfg, roles, *persona, *token)
		if err != nil {
			return err
		}
		d, err := authz.Explain(a, p, *field, *action, *object, *protected)
		if err != nil {
			return err
		}
		printExplanation(stdout, p, q, d, source+", not the live policy")
		return nil
	case "test":
		cases := fs.String("file", "", "decision table (YAML, see authz/policy/decisions.yaml)")
		fs.Usage = usageFunc(fs, "usage: kommungraf policy test --file decisions.yaml [--config FILE]\n  runs a table of expected decisions against a policy file; exit 1 on a mismatch")
		if err := parseFlags(fs, args, std); err != nil {
			return err
		}
		raw, err := os.ReadFile(*cases)
		if err != nil {
			return fmt.Errorf("policy test: %w", err)
		}
		table, err := authz.ParseDecisionTable(raw)
		if err != nil {
			return err
		}
		a, roles, _, err := loadPolicy(ctx, *file)
		if err != nil {
			return err
		}
		failed := 0
		for _, r := range authz.RunDecisionTable(a, roles, table) {
			switch {
			case r.Err != nil:
				failed++
				fmt.Fprintf(std.out, "ERROR line %d: %s: %v\n", r.Case.Line, r.Case.Name(), r.Err)
			case !r.Pass():
				failed++
				fmt.Fprintf(std.out, "FAIL  line %d: %s: got %s, want %s\n      %s\n      %s\n", r.Case.Line, r.Case.Name(),
					verdict(r.Decision.Allow), r.Case.Expect, r.Decision.Reason, orNone(r.Decision.Rule))
			}
		}
		fmt.Fprintf(std.out, "%d cases, %d failed (policy version %d)\n", len(table), failed, a.Version())
		if failed > 0 {
			return fmt.Errorf("policy test: %d of %d cases failed", failed, len(table))
		}
		return nil
	case "lint":
		policyFile := fs.String("file", "", "policy file to check (default: the configured one)")
		fs.Usage = usageFunc(fs, "usage: kommungraf policy lint [--file policy.csv] [--config FILE]\n  checks a policy file against the model and the schema")
		if err := parseFlags(fs, args, std); err != nil {
			return err
		}
		cfg, err := cliConfig(*file)
		if err != nil {
			return err
		}
		if *policyFile != "" {
			cfg.Authz.PolicyFile = *policyFile
		}
		cat, err := authz.Classify(graph.NewExecutableSchema(graph.Config{}).Schema())
		if err != nil {
			return err
		}
		text, err := gateway.PolicySource(cfg)
		if err != nil {
			return err
		}
		rules, err := authz.ParsePolicy(text, cat)
		if err != nil {
			return err
		}
		fmt.Fprintf(std.out, "%d policy lines, all valid\n", len(rules))
		return nil
	}
	if handled, err := policyAdmin(ctx, sub, args, std); handled {
		return err
	}
	return usageError{fmt.Errorf("policy: unknown command %q\n%s", sub, policyUsage+"\n\n"+policyAdminUsage)}
}

func cliConfig(file string) (*config.Config, error) {
	if file == "" {
		return config.Demo(), nil
	}
	return config.Load(file)
}

func loadPolicy(ctx context.Context, file string) (*authz.Authorizer, map[string]authz.RoleGrant, *config.Config, error) {
	cfg, err := cliConfig(file)
	if err != nil {
		return nil, nil, nil, err
	}
	a, roles, err := loadPolicyConfig(ctx, cfg)
	return a, roles, cfg, err
}

// loadPolicyConfig builds the Authorizer and role table cfg names, as the
// gateway does at start.
func loadPolicyConfig(ctx context.Context, cfg *config.Config) (*authz.Authorizer, map[string]authz.RoleGrant, error) {
	cat, err := authz.Classify(graph.NewExecutableSchema(graph.Config{}).Schema())
	if err != nil {
		return nil, nil, err
	}
	a, _, pool, err := gateway.LoadAuthorizer(ctx, cfg, cat)
	if err != nil {
		return nil, nil, err
	}
	if pool != nil {
		pool.Close()
	}
	roles, err := gateway.LoadRoles(cfg)
	return a, roles, err
}

func principalFor(ctx context.Context, cfg *config.Config, roles map[string]authz.RoleGrant, persona, token string) (*authz.Principal, error) {
	switch {
	case persona != "" && token != "":
		return nil, errors.New("give --persona or --token, not both")
	case persona == "anonymous":
		return authz.AnonymousPrincipal(), nil
	case persona != "":
		return authz.PersonaPrincipal(persona, roles)
	case token == "":
		return nil, errors.New("give --persona or --token")
	}
	o := cfg.Auth.OIDC
	keys := make([]authz.APIKey, 0, len(cfg.Auth.APIKeys))
	for _, k := range cfg.Auth.APIKeys {
		keys = append(keys, authz.APIKey{Name: k.Name, Client: k.Client, Roles: k.Roles, Unit: k.Unit, SHA256: k.SHA256})
	}
	if o.Issuer == "" && len(keys) == 0 {
		return nil, errors.New("--token needs --config with auth.oidc or auth.apiKeys (demo tokens are valid only against the gateway that issued them; use --persona)")
	}
	opts := authz.AuthenticatorOptions{APIKeys: keys, Roles: roles, RolesClaim: o.RolesClaim, UnitClaim: o.UnitClaim}
	if o.Issuer != "" {
		opts.JWKSURL, opts.Issuer, opts.Algorithms = o.JWKSURL, o.Issuer, o.Algorithms
		opts.Audience = o.Audience
		if opts.Audience == "" {
			opts.Audience = "kommungraf"
		}
	}
	authn, err := authz.NewAuthenticator(opts)
	if err != nil {
		return nil, err
	}
	defer authn.Close()
	return authn.AuthenticateToken(ctx, token)
}

// explainQuestion is what `policy explain` asks: for whom (persona or
// token) and about what (a field, or an action on an object).
type explainQuestion struct {
	persona, token, field, action, object string
	protected                             bool
}

// explainLive asks the gateway at base to explain q against its live
// policy, and prints the answer. An *unreachableError means no gateway
// answered, and the caller may fall back to a policy file.
func explainLive(ctx context.Context, std stdio, base, adminToken string, q explainQuestion) error {
	const name = "policy explain"
	c, err := newGatewayClient(ctx, name, base, adminToken, "")
	if err != nil {
		return err
	}
	if c.token == "" {
		// The demo's own security officer; on any other gateway this fails
		// and says to give a credential.
		if err := c.demoToken(ctx, "security-officer"); err != nil {
			var ue *unreachableError
			if errors.As(err, &ue) {
				return err
			}
			return fmt.Errorf("%s: the gateway at %s explains only to a security officer: give --admin-token or set KOMMUNGRAF_TOKEN (or --offline to explain the built-in policy instead)", name, c.base)
		}
	}
	body := map[string]any{"field": q.field, "protected": q.protected, "action": q.action, "object": q.object}
	if q.persona != "" {
		body["persona"] = q.persona
	}
	if q.token != "" {
		body["token"] = q.token
	}
	var ans struct {
		Version   uint64 `json:"version"`
		Decision  string `json:"decision"`
		Reason    string `json:"reason"`
		Rule      string `json:"rule"`
		Contract  string `json:"contract"`
		Level     int    `json:"level"`
		Principal struct {
			Subject   string   `json:"subject"`
			Client    string   `json:"client"`
			Roles     []string `json:"roles"`
			Unit      string   `json:"unit"`
			Clearance int      `json:"clearance"`
			Purposes  []string `json:"purposes"`
		} `json:"principal"`
	}
	if err := c.do(ctx, "POST", "/admin/api/explain", body, &ans); err != nil {
		return err
	}
	pr := ans.Principal
	p := &authz.Principal{Subject: pr.Subject, Client: pr.Client, Roles: pr.Roles, Unit: pr.Unit, Clearance: authz.Level(pr.Clearance), Purposes: pr.Purposes}
	d := authz.Decision{Allow: ans.Decision == "ALLOW", Reason: ans.Reason, Rule: ans.Rule, Contract: ans.Contract,
		Level: authz.Level(ans.Level), PolicyVersion: ans.Version}
	printExplanation(std.out, p, q, d, "live, at "+c.base)
	return nil
}

// printExplanation prints a decision; source says which policy decided.
func printExplanation(w io.Writer, p *authz.Principal, q explainQuestion, d authz.Decision, source string) {
	what := q.field
	if q.action != "" {
		what = q.action + " " + q.object
	}
	fmt.Fprintf(w, "decision:  %s\n", strings.ToUpper(verdict(d.Allow)))
	fmt.Fprintf(w, "question:  %s", what)
	if q.protected {
		fmt.Fprint(w, " (a person with protected identity)")
	}
	fmt.Fprintf(w, "\nprincipal: subject=%s client=%s roles=[%s] unit=%q clearance=%d purposes=[%s]\n",
		p.Subject, p.Client, strings.Join(p.Roles, ","), p.Unit, p.Clearance, strings.Join(p.Purposes, ","))
	if q.action == "" {
		fmt.Fprintf(w, "level:     %d\n", d.Level)
	}
	fmt.Fprintf(w, "contract:  %s\n", orNone(d.Contract))
	fmt.Fprintf(w, "reason:    %s\n", d.Reason)
	fmt.Fprintf(w, "line:      %s\n", orNone(d.Rule))
	fmt.Fprintf(w, "policy:    version %d (%s)\n", d.PolicyVersion, source)
}

func verdict(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
