package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kommungraf/kommungraf/graph/operations"
	"github.com/kommungraf/kommungraf/sources/model"
)

// Error codes of trusted operations.
const (
	// CodePersistedQueryRequired: the client application may run
	// registered operations only, and this document is not one.
	CodePersistedQueryRequired = "PERSISTED_QUERY_REQUIRED"
	// CodePersistedQueryNotFound: no registered or cached operation has
	// the hash (the APQ protocol's code: the client then sends the text).
	CodePersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND"
	// CodePersistedQueryHashMismatch: the text's SHA-256 is not the hash
	// sent with it.
	CodePersistedQueryHashMismatch = "PERSISTED_QUERY_HASH_MISMATCH"
)

// Operation modes of a client application (its information contract's
// `operations`).
const (
	// ModePersistedOnly runs registered operations only.
	ModePersistedOnly = "persisted-only"
	// ModeLogUnknown runs any operation and logs the unregistered ones.
	ModeLogUnknown = "log-unknown"
	// ModeOpen runs any operation (GraphiQL analysts).
	ModeOpen = "open"
)

// TrustedOptions configure trusted operations.
type TrustedOptions struct {
	// Registry holds the registered operations (required).
	Registry *operations.Registry
	// Mode is the request's client application's mode. An unknown mode is
	// persisted-only.
	Mode func(context.Context) (client, mode string)
	// APQCacheSize bounds the Automatic Persisted Queries cache of the
	// clients that may run free-form documents (default 1000). Only texts
	// of up to maxAPQText bytes are cached, so the cache holds at most
	// APQCacheSize × maxAPQText bytes of them.
	APQCacheSize int
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

// maxAPQText is the longest text the APQ cache keeps. A longer one runs
// but is not cached (its client gets PERSISTED_QUERY_NOT_FOUND for the
// hash alone, and sends the text again): without the bound, a thousand
// bodies of server.maxBodyBytes held a gigabyte, and the text is cached
// before it is parsed.
const maxAPQText = 64 << 10

// trusted enforces each client application's operation mode, serves
// registered operations by id, and Automatic Persisted Queries to the
// clients that may send free-form documents. It runs before the document
// is parsed, in gqlgen's parameter mutators.
type trusted struct {
	opts    TrustedOptions
	apq     *lru.LRU[string]
	metrics *prometheus.CounterVec
}

func newTrusted(opts TrustedOptions) *trusted {
	if opts.APQCacheSize <= 0 {
		opts.APQCacheSize = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	t := &trusted{opts: opts, apq: lru.New[string](opts.APQCacheSize),
		metrics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommungraf_graphql_operations_total",
			Help: "GraphQL operations by client application and how they came: registered (a registered operation, by id or text), apq (a cached free-form text), free (free-form), unregistered (free-form from a log-unknown client), refused (free-form from a persisted-only client), not_found (an unknown hash).",
		}, []string{"client", "kind"})}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(t.metrics)
	}
	return t
}

func (*trusted) ExtensionName() string                   { return "TrustedOperations" }
func (*trusted) Validate(graphql.ExecutableSchema) error { return nil }

func (t *trusted) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	client, mode := t.opts.Mode(ctx)
	switch mode {
	case ModeOpen, ModeLogUnknown, ModePersistedOnly:
	default:
		mode = ModePersistedOnly // unknown means the strictest
	}
	info := &operations.Info{Kind: "free"}
	hash, hasHash, gerr := apqHash(p.Extensions)
	if gerr != nil {
		return gerr
	}
	var op *operations.Operation
	var err error
	switch {
	case hasHash && p.Query == "":
		// By id: a registered operation, or a text this replica cached.
		if op, err = t.opts.Registry.Lookup(ctx, hash); err != nil {
			return t.internal(ctx, err)
		}
		if op == nil && mode != ModePersistedOnly {
			if q, ok := t.apq.Get(ctx, hash); ok {
				p.Query, info.Kind = q, "apq"
			}
		}
		if op == nil && p.Query == "" {
			t.metrics.WithLabelValues(client, "not_found").Inc()
			e := gqlerror.Errorf("PersistedQueryNotFound")
			errcode.Set(e, CodePersistedQueryNotFound)
			return e
		}
	case hasHash:
		sum := sha256.Sum256([]byte(p.Query))
		if hex.EncodeToString(sum[:]) != hash {
			e := gqlerror.Errorf("the query's SHA-256 is not the persistedQuery hash sent with it")
			errcode.Set(e, CodePersistedQueryHashMismatch)
			return e
		}
		if mode != ModePersistedOnly {
			if len(p.Query) <= maxAPQText {
				t.apq.Add(ctx, hash, p.Query)
			}
			info.Kind = "apq"
		}
	}
	if op == nil && p.Query != "" && mode != ModeOpen {
		if op, err = t.opts.Registry.Match(ctx, p.Query, p.OperationName); err != nil {
			return t.internal(ctx, err)
		}
	}
	if op != nil {
		p.Query, p.OperationName = op.Document, op.Name
		info = &operations.Info{ID: op.ID, Name: op.Name, Kind: "registered"}
	}
	switch {
	case op == nil && mode == ModePersistedOnly:
		t.metrics.WithLabelValues(client, "refused").Inc()
		e := gqlerror.Errorf("this client application may run registered operations only")
		errcode.Set(e, CodePersistedQueryRequired)
		return e
	case op == nil && mode == ModeLogUnknown:
		info.Kind = "unregistered"
		t.opts.Logger.InfoContext(ctx, "unregistered operation", "client", client, "operation", model.LoggableOperationName(p.OperationName))
	}
	t.metrics.WithLabelValues(client, info.Kind).Inc()
	operations.SetInfo(ctx, info)
	return nil
}

func (t *trusted) internal(ctx context.Context, err error) *gqlerror.Error {
	t.opts.Logger.ErrorContext(ctx, "trusted operations: registry unavailable", "error", err.Error())
	e := gqlerror.Errorf("the operation registry is unavailable")
	errcode.Set(e, CodeInternal)
	return e
}

// apqHash reads extensions.persistedQuery ({version: 1, sha256Hash}).
func apqHash(ext map[string]any) (hash string, ok bool, _ *gqlerror.Error) {
	raw, present := ext["persistedQuery"]
	if !present || raw == nil {
		return "", false, nil
	}
	m, _ := raw.(map[string]any)
	h, _ := m["sha256Hash"].(string)
	if m == nil || h == "" || len(h) > 64 {
		e := gqlerror.Errorf("invalid persistedQuery extension: want {version: 1, sha256Hash}")
		errcode.Set(e, CodeBadUserInput)
		return "", false, e
	}
	if fmt.Sprint(m["version"]) != "1" { // a float64 or a json.Number, as the transport decoded it
		e := gqlerror.Errorf("unsupported persistedQuery version: want 1")
		errcode.Set(e, CodeBadUserInput)
		return "", false, e
	}
	return h, true, nil
}

var (
	_ graphql.HandlerExtension          = (*trusted)(nil)
	_ graphql.OperationParameterMutator = (*trusted)(nil)
)
