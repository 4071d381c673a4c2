package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/kommungraf/kommungraf/graph/operations"
)

// TestAPQCacheKeepsShortTextsOnly: a log-unknown client's text sent with
// its hash is cached for the hash alone when it is short; a long one (up
// to server.maxBodyBytes, cached before it is even parsed) is not, so the
// cache's memory stays bounded by its entries times maxAPQText.
func TestAPQCacheKeepsShortTextsOnly(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	tr := newTrusted(TrustedOptions{
		Registry: operations.NewRegistry(schema, operations.NewMemoryStore()),
		Mode:     func(context.Context) (string, string) { return "bygglov-app", ModeLogUnknown },
	})
	send := func(text string) {
		t.Helper()
		sum := sha256.Sum256([]byte(text))
		hash := hex.EncodeToString(sum[:])
		ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{})
		p := &graphql.RawParams{Query: text, Extensions: map[string]any{"persistedQuery": map[string]any{"version": 1.0, "sha256Hash": hash}}}
		if err := tr.MutateOperationParameters(ctx, p); err != nil {
			t.Fatalf("a free-form text with its hash: %v", err)
		}
		if _, ok := tr.apq.Get(ctx, hash); ok != (len(text) <= maxAPQText) {
			t.Errorf("a text of %d bytes cached: %v, want %v", len(text), ok, len(text) <= maxAPQText)
		}
	}
	send("{ schoolUnits { totalCount } }")
	send("{ schoolUnits { totalCount } }" + strings.Repeat(" ", 1<<20))
}
