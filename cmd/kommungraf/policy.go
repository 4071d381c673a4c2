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
           the decision for one caller and field, and the policy line that decided it
  test     --file decisions.yaml     run a table of expected decisions; exit 1 on a mismatch
  lint     [--file policy.csv]       check a policy file against the model and the schema
Every command takes --config FILE (default: the embedded demo policy and contracts).`

// policyCommand is `kommungraf policy ...`: security staff's tools for the
// access policy. It reads the same policy, contracts and roles as the gateway.
func policyCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprintln(stdout, policyUsage+"\n"+policyAdminUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("policy "+sub, flag.ContinueOnError)
	file := fs.String("config", "", "configuration file (default: the demo's embedded policy)")
	switch sub {
	case "explain":
		persona := fs.String("persona", "", "a demo persona: "+strings.Join(authz.PersonaIDs(), ", ")+", or anonymous")
		token := fs.String("token", "", "a bearer token or API key, verified as the gateway would (needs --config with auth settings)")
		field := fs.String("field", "", "the field, Type.field")
		protected := fs.Bool("protected", false, "the value belongs to a person with protected identity")
		action := fs.String("action", "", "instead of a field: row, introspect or admin")
		object := fs.String("object", "", "with --action: Type(attribute=value) for row (Errand(caseType=BYGGLOV)); schema, policy, accesslog or cache")
		if err := fs.Parse(args); err != nil {
			return err
		}
		a, roles, cfg, err := loadPolicy(ctx, *file)
		if err != nil {
			return err
		}
		p, err := principalFor(ctx, cfg, roles, *persona, *token)
		if err != nil {
			return err
		}
		if (*field == "") == (*action == "") {
			return errors.New("policy explain: give --field, or --action and --object")
		}
		d, err := authz.Explain(a, p, *field, *action, *object, *protected)
		if err != nil {
			return err
		}
		printExplanation(stdout, p, *field, *action, *object, *protected, d)
		return nil
	case "test":
		cases := fs.String("file", "", "decision table (YAML, see authz/policy/decisions.yaml)")
		if err := fs.Parse(args); err != nil {
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
				fmt.Fprintf(stdout, "ERROR line %d: %s: %v\n", r.Case.Line, r.Case.Name(), r.Err)
			case !r.Pass():
				failed++
				fmt.Fprintf(stdout, "FAIL  line %d: %s: got %s, want %s\n      %s\n      %s\n", r.Case.Line, r.Case.Name(),
					verdict(r.Decision.Allow), r.Case.Expect, r.Decision.Reason, orNone(r.Decision.Rule))
			}
		}
		fmt.Fprintf(stdout, "%d cases, %d failed (policy version %d)\n", len(table), failed, a.Version())
		if failed > 0 {
			return fmt.Errorf("policy test: %d of %d cases failed", failed, len(table))
		}
		return nil
	case "lint":
		policyFile := fs.String("file", "", "policy file to check (default: the configured one)")
		if err := fs.Parse(args); err != nil {
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
		fmt.Fprintf(stdout, "%d policy lines, all valid\n", len(rules))
		return nil
	}
	if handled, err := policyAdmin(ctx, sub, args); handled {
		return err
	}
	return fmt.Errorf("policy: unknown command %q\n%s", sub, policyUsage+"\n"+policyAdminUsage)
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
	cat, err := authz.Classify(graph.NewExecutableSchema(graph.Config{}).Schema())
	if err != nil {
		return nil, nil, nil, err
	}
	a, _, pool, err := gateway.LoadAuthorizer(ctx, cfg, cat)
	if err != nil {
		return nil, nil, nil, err
	}
	if pool != nil {
		pool.Close()
	}
	roles, err := gateway.LoadRoles(cfg)
	return a, roles, cfg, err
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

func printExplanation(w io.Writer, p *authz.Principal, field, action, object string, protected bool, d authz.Decision) {
	what := field
	if action != "" {
		what = action + " " + object
	}
	fmt.Fprintf(w, "decision:  %s\n", strings.ToUpper(verdict(d.Allow)))
	fmt.Fprintf(w, "question:  %s", what)
	if protected {
		fmt.Fprint(w, " (a person with protected identity)")
	}
	fmt.Fprintf(w, "\nprincipal: subject=%s client=%s roles=[%s] unit=%q clearance=%d purposes=[%s]\n",
		p.Subject, p.Client, strings.Join(p.Roles, ","), p.Unit, p.Clearance, strings.Join(p.Purposes, ","))
	if action == "" {
		fmt.Fprintf(w, "level:     %d\n", d.Level)
	}
	fmt.Fprintf(w, "contract:  %s\n", orNone(d.Contract))
	fmt.Fprintf(w, "reason:    %s\n", d.Reason)
	fmt.Fprintf(w, "line:      %s\n", orNone(d.Rule))
	fmt.Fprintf(w, "policy:    version %d\n", d.PolicyVersion)
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
