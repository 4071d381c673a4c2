package gateway

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/sources/cache"
)

// openPolicyAdmin opens the policy store (PostgreSQL with
// authz.policyDatabaseUrl, else a SQLite file), makes its current version
// live and keeps it so: Redis announcements when Redis is configured, and a
// periodic reload always. Without PostgreSQL the store is this instance's
// alone, so a change reaches no other replica.
func (g *Gateway) openPolicyAdmin(ctx context.Context, demo bool) error {
	s, a := g.sec, g.cfg.Authz
	var err error
	if s.policyDB != nil {
		s.policyVersions, err = authz.NewPostgresPolicyStore(ctx, s.policyDB, s.policyStore)
	} else {
		path := a.PolicyStoreFile
		if demo && g.tmpDir != "" {
			path = filepath.Join(g.tmpDir, "policy.db")
		}
		s.policyVersions, err = authz.NewSQLitePolicyStore(ctx, path)
	}
	if err != nil {
		return err
	}
	store := s.policyVersions
	g.checks["policystore"] = func(ctx context.Context) error { _, err := store.Current(ctx); return err }

	// An empty store starts from the policy the gateway loaded: the file
	// (comments included) or, when the Casbin table held other rules, those.
	seed, comment := "", ""
	if text, err := PolicySource(g.cfg); err == nil {
		if rules, err := authz.ParsePolicy(text, s.authorizer.Catalog()); err == nil && slices.EqualFunc(rules, s.authorizer.Rules(), slices.Equal) {
			seed, comment = text, "seeded from "+nameOr(a.PolicyFile, "the embedded default policy")
		}
	}
	if seed == "" {
		seed, comment = authz.RulesText(s.authorizer.Rules()), "seeded from the casbin_rule table"
	}

	if g.redis == nil && g.cfg.Redis.URL != "" { // the cache is off, announcements still need Redis
		if g.redis, err = cache.NewRedisClient(g.cfg.Redis.URL); err != nil {
			return err
		}
	}
	var notifier authz.PolicyNotifier
	if g.redis != nil {
		notifier = authz.NewRedisPolicyNotifier(g.redis, "")
	}
	s.policyFlow, err = authz.NewPolicyFlow(ctx, authz.PolicyFlowOptions{
		Store: s.policyVersions, Authorizer: s.authorizer, Roles: s.roles,
		RequireApproval: *a.RequireApproval, Notifier: notifier, AccessLog: s.accessLog,
		DryRunLimit: a.DryRunLimit, Seed: seed, SeedComment: comment, Logger: g.log,
	})
	if err != nil {
		return err
	}
	if text, err := PolicySource(g.cfg); err == nil {
		if rules, err := authz.ParsePolicy(text, nil); err == nil && !slices.EqualFunc(rules, s.authorizer.Rules(), slices.Equal) {
			g.log.Info("policy: the policy store's current version is live; it differs from the policy file, which only seeds an empty store",
				"version", s.authorizer.Version(), "file", nameOr(a.PolicyFile, "(embedded)"))
		}
	}
	s.policySync, err = authz.StartPolicySync(authz.PolicySyncOptions{
		Reloader: s.policyFlow, Redis: g.redis, Interval: a.PolicyReloadInterval, Logger: g.log,
	})
	if err != nil {
		return err
	}
	ps := s.policySync
	g.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kommungraf_policy_reload_failures_total",
			Help: "Reloads of the policy store's current version that failed; this replica keeps its last policy meanwhile.",
		}, func() float64 { return float64(ps.Failures()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kommungraf_policy_reload_last_success_timestamp_seconds",
			Help: "When this replica last read the policy store (Unix time). Alert when it falls far behind authz.policyReloadInterval.",
		}, func() float64 { return float64(ps.LastSuccess().Unix()) }),
	)
	return nil
}
