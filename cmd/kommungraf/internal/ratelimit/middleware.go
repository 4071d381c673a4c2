package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
)

// CodeRateLimited is the extensions.code of a request over its limit.
const CodeRateLimited = "RATE_LIMITED"

// Policy names in the RateLimit-Policy and RateLimit headers.
const (
	PolicyClient = "client"
	PolicyUser   = "user"
)

// Middleware limits the requests of each client application and of each
// user within it, after authentication (it reads the principal).
type Middleware struct {
	limiter  *Limiter
	cfg      config.RateLimit
	rejected *prometheus.CounterVec
}

// NewMiddleware limits by cfg's limits with limiter; reg (may be nil)
// receives the rejections by client.
func NewMiddleware(cfg config.RateLimit, limiter *Limiter, reg prometheus.Registerer) *Middleware {
	m := &Middleware{limiter: limiter, cfg: cfg, rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kommungraf_ratelimit_rejections_total",
		Help: "Requests refused with 429, by client application (those rateLimit.clients names; others are \"other\") and limit (client, user).",
	}, []string{"client", "policy"})}
	if reg != nil {
		reg.MustRegister(m.rejected)
	}
	return m
}

// limits are the principal's two limits: its client application's, and
// its own within it: a user's, or for an anonymous caller its network
// address's, so that one address flooding cannot spend the budget the
// public shares.
func (m *Middleware) limits(p *authz.Principal) (client Limit, user *Limit) {
	cl, ok := m.cfg.Clients[p.Client]
	if !ok {
		cl = m.cfg.Default
	}
	client = toLimit(cl.Client)
	u := toLimit(cl.User)
	if p.Anonymous {
		return client, &u
	}
	best := -1.0
	for _, role := range p.Roles {
		if r, ok := m.cfg.Roles[role]; ok {
			if per := float64(r.Rate) / r.Period.Seconds(); per > best {
				best, u = per, toLimit(r)
			}
		}
	}
	return client, &u
}

// ClientLimit is the budget every caller of a client application shares
// (for "anonymous", the public's): rateLimit.clients' entry, else the
// default's.
func ClientLimit(cfg config.RateLimit, client string) Limit {
	cl, ok := cfg.Clients[client]
	if !ok {
		cl = cfg.Default
	}
	return toLimit(cl.Client)
}

// ClientKey is the limiter's key of a client application's shared budget.
func ClientKey(client string) string { return "rl:client:" + client }

func toLimit(r config.Rate) Limit { return Limit{Rate: r.Rate, Period: r.Period, Burst: r.Burst} }

// Wrap limits next.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := authz.FromContext(r.Context())
		clientLimit, userLimit := m.limits(p)
		type decided struct {
			name  string
			limit Limit
			res   Result
		}
		var out []decided
		// The narrower limit first, so that a user over their own limit
		// does not spend the budget the other users of the client share.
		if userLimit != nil {
			who := p.Subject
			if p.Anonymous {
				// The connection's address (an IPv6 client's /64), as admission.
				who = "addr:" + AddressKey(r.RemoteAddr)
			}
			res := m.limiter.Allow(r.Context(), PolicyUser, "rl:user:"+p.Client+":"+subjectKey(who), *userLimit)
			out = append(out, decided{PolicyUser, *userLimit, res})
		}
		if len(out) == 0 || out[0].res.Allowed {
			res := m.limiter.Allow(r.Context(), PolicyClient, ClientKey(p.Client), clientLimit)
			out = append([]decided{{PolicyClient, clientLimit, res}}, out...)
		}
		var policies, states []string
		var refused *decided
		for i := range out {
			d := &out[i]
			policies = append(policies, fmt.Sprintf("%q;q=%d;w=%d", d.name, d.limit.Burst, window(d.limit)))
			t := ceilSeconds(d.res.ResetAfter)
			if !d.res.Allowed {
				t = max(ceilSeconds(d.res.RetryAfter), 1)
				if refused == nil || d.res.RetryAfter > refused.res.RetryAfter {
					refused = d
				}
			}
			states = append(states, fmt.Sprintf("%q;r=%d;t=%d", d.name, d.res.Remaining, t))
		}
		h := w.Header()
		h.Set("RateLimit-Policy", strings.Join(policies, ", "))
		h.Set("RateLimit", strings.Join(states, ", "))
		if refused == nil {
			next.ServeHTTP(w, r)
			return
		}
		label := "other"
		if _, ok := m.cfg.Clients[p.Client]; ok {
			label = p.Client
		}
		m.rejected.WithLabelValues(label, refused.name).Inc()
		retry := max(ceilSeconds(refused.res.RetryAfter), 1)
		h.Set("Retry-After", strconv.Itoa(retry))
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		what := "this client application"
		switch {
		case refused.name == PolicyUser && p.Anonymous:
			what = "this network address"
		case refused.name == PolicyUser:
			what = "this user of the client application"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"errors": []map[string]any{{
				"message":    fmt.Sprintf("rate limit of %s exceeded; retry after %d s", what, retry),
				"extensions": map[string]any{"code": CodeRateLimited, "policy": refused.name, "retryAfterSeconds": retry},
			}},
			"data": nil,
		})
	})
}

// window is the policy's w: the seconds in which a full burst is earned
// back at the sustained rate (at least 1), so q=burst per w seconds states
// both the burst and the sustained rate.
func window(l Limit) int {
	return max(int(math.Ceil(float64(l.Burst)*l.Period.Seconds()/float64(l.Rate))), 1)
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// subjectKey keeps the user's identity out of Redis's keys.
func subjectKey(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(sum[:12])
}
