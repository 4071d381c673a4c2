package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// RateLimit configures the request rate limits: one budget per client
// application, shared by all its users, and one per user within it. The
// limits are GCRA (generic cell rate algorithm) buckets kept in Redis when
// redis.url is set, so every replica spends the same budget; without Redis,
// or while it fails, each replica keeps them in process.
type RateLimit struct {
	// Disabled turns rate limiting off (default on).
	Disabled bool `yaml:"disabled"`
	// Default are the limits of a client application Clients does not name
	// (default: client 200/s burst 400, user 50/s burst 100).
	Default ClientLimits `yaml:"default"`
	// Clients are the limits of named client applications, by the client
	// id their information contract names (the token's azp, the API key's
	// client, or anonymous). A limit left out is the Default's. The
	// anonymous and open-data-app clients default to 20/s burst 40.
	Clients map[string]ClientLimits `yaml:"clients"`
	// Roles give the per-user limit of a user holding the role (a persona
	// of the identity provider) instead of the client's user limit; a user
	// with several such roles gets the most generous.
	Roles map[string]Rate `yaml:"roles"`
	// RedisTimeout bounds one Redis round trip of the limiter (default
	// 50ms); a slower or failed answer is decided by the in-process limiter.
	RedisTimeout time.Duration `yaml:"redisTimeout"`
	// KeyPrefix begins the limiter's Redis keys (default "kommungraf:"):
	// gateways that share one Redis but not their limits (staging and
	// production) set different ones.
	KeyPrefix string `yaml:"keyPrefix"`
}

// ClientLimits are a client application's two limits.
type ClientLimits struct {
	// Client is the budget every user of the application shares.
	Client Rate `yaml:"client"`
	// User is each user's budget within the application (an anonymous
	// caller has only the client's).
	User Rate `yaml:"user"`
}

// Rate is a GCRA limit: Rate requests per Period sustained, up to Burst at once.
type Rate struct {
	// Rate is the requests allowed per Period.
	Rate int `yaml:"rate"`
	// Period is the rate's period (default 1s).
	Period time.Duration `yaml:"period"`
	// Burst is the most requests allowed at once (default 2 x Rate).
	Burst int `yaml:"burst"`
}

// OpenData configures the open REST APIs (DIGG's REST API profile) under
// /open/: which declarations are served, where the gateway is reached, and
// the anonymous rate limit of each client IP.
type OpenData struct {
	// Disabled serves no /open/ at all.
	Disabled bool `yaml:"disabled"`
	// Dir is a directory of open API declarations (*.yaml, with the
	// *.graphql files they name beside them); empty serves the declarations
	// built into the binary (cmd/kommungraf/internal/opendata/apis).
	Dir string `yaml:"dir"`
	// BaseURL is the absolute URL clients reach the gateway at, such as
	// https://api.orebro.se: the DCAT document's endpoint URLs and the
	// OpenAPI documents' servers. Empty takes the request's own scheme and
	// Host (fine behind no proxy, and in the demo).
	BaseURL string `yaml:"baseUrl"`
	// PerClient is each client IP's limit (default 20/s, burst 40).
	PerClient Rate `yaml:"perClient"`
}

// Default rate limits.
var (
	DefaultClientRate = Rate{Rate: 200, Period: time.Second, Burst: 400}
	DefaultUserRate   = Rate{Rate: 50, Period: time.Second, Burst: 100}
	// DefaultOpenDataRate is the anonymous and open-data clients' limit
	// per user (an anonymous caller's network address): low enough that
	// a burst of a few hundred requests meets 429s.
	DefaultOpenDataRate = Rate{Rate: 20, Period: time.Second, Burst: 40}
	// DefaultPublicRate is what the anonymous client's callers share in
	// all: ten times one address's, so one address flooding leaves the
	// rest of the public most of it.
	DefaultPublicRate = Rate{Rate: 200, Period: time.Second, Burst: 400}
)

// Cost configures the per-request budgets of upstream calls, checked
// against the operation's estimate before any resolver runs.
type Cost struct {
	// Budgets are the most calls one request may be estimated to make to
	// each upstream system (folkbokforing, etjanst, geodata, skoldatabas
	// or a declared system). The population registry is billed per call:
	// its default, 2000, lets the preschool overview (Q2, about 1800)
	// through.
	Budgets map[string]int `yaml:"budgets"`
	// DefaultBudget is the budget of an upstream Budgets does not name
	// (default 5000).
	DefaultBudget int `yaml:"defaultBudget"`
}

// DefaultCostBudgets are the budgets of the upstreams the file leaves out:
// each declared system's defaults.costBudget (schema/<name>.yaml).
func DefaultCostBudgets() map[string]int {
	out := map[string]int{}
	if set, err := Declarations(); err == nil {
		for _, sys := range set.Systems {
			if b := sys.Defaults.CostBudget; b > 0 {
				out[sys.Name] = b
			}
		}
	}
	return out
}

func (r *Rate) fill(def Rate) {
	if r.Rate == 0 {
		*r = def
		return
	}
	if r.Period == 0 {
		r.Period = time.Second
	}
	if r.Burst == 0 {
		r.Burst = 2 * r.Rate
	}
}

func (c *Config) limitsDefaults() {
	rl := &c.RateLimit
	rl.Default.Client.fill(DefaultClientRate)
	rl.Default.User.fill(DefaultUserRate)
	if rl.Clients == nil {
		rl.Clients = map[string]ClientLimits{}
	}
	if _, ok := rl.Clients["open-data-app"]; !ok {
		rl.Clients["open-data-app"] = ClientLimits{Client: DefaultOpenDataRate, User: DefaultOpenDataRate}
	}
	if _, ok := rl.Clients["anonymous"]; !ok {
		rl.Clients["anonymous"] = ClientLimits{Client: DefaultPublicRate, User: DefaultOpenDataRate}
	}
	for name, l := range rl.Clients {
		l.Client.fill(rl.Default.Client)
		l.User.fill(rl.Default.User)
		rl.Clients[name] = l
	}
	for name, r := range rl.Roles {
		r.fill(rl.Default.User)
		rl.Roles[name] = r
	}
	c.OpenData.PerClient.fill(DefaultOpenDataRate)
	if rl.RedisTimeout == 0 {
		rl.RedisTimeout = 50 * time.Millisecond
	}
	if c.Cost.Budgets == nil {
		c.Cost.Budgets = map[string]int{}
	}
	for name, b := range DefaultCostBudgets() {
		if _, ok := c.Cost.Budgets[name]; !ok {
			c.Cost.Budgets[name] = b
		}
	}
	if c.Cost.DefaultBudget == 0 {
		c.Cost.DefaultBudget = 5000
	}
}

func (c *Config) validateLimits() []error {
	var p []error
	check := func(where string, r Rate) {
		if r.Rate < 1 || r.Burst < 1 || r.Period < time.Millisecond || r.Period > 24*time.Hour {
			p = append(p, fmt.Errorf("%s: rate and burst must be at least 1 and period between 1ms and 24h (rate limits are never unlimited: rateLimit.disabled turns them off)", where))
		}
	}
	rl := c.RateLimit
	check("rateLimit.default.client", rl.Default.Client)
	check("rateLimit.default.user", rl.Default.User)
	for _, name := range slices.Sorted(maps.Keys(rl.Clients)) {
		check("rateLimit.clients."+name+".client", rl.Clients[name].Client)
		check("rateLimit.clients."+name+".user", rl.Clients[name].User)
	}
	for _, name := range slices.Sorted(maps.Keys(rl.Roles)) {
		check("rateLimit.roles."+name, rl.Roles[name])
	}
	if rl.RedisTimeout < 0 {
		p = append(p, fmt.Errorf("rateLimit.redisTimeout must not be negative"))
	}
	check("openData.perClient", c.OpenData.PerClient)
	if u := c.OpenData.BaseURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		p = append(p, fmt.Errorf("openData.baseUrl %q: want an absolute http(s) URL", u))
	}
	known := map[string]bool{}
	if set, err := Declarations(); err == nil {
		for _, sys := range set.Systems {
			known[sys.Name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Cost.Budgets)) {
		if !known[name] {
			p = append(p, fmt.Errorf("cost.budgets.%s: unknown upstream (want one of %v)", name, slices.Sorted(maps.Keys(known))))
		}
		if c.Cost.Budgets[name] < 1 {
			p = append(p, fmt.Errorf("cost.budgets.%s must be at least 1", name))
		}
	}
	if c.Cost.DefaultBudget < 1 {
		p = append(p, fmt.Errorf("cost.defaultBudget must be at least 1"))
	}
	return p
}
