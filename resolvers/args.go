package resolvers

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kommungraf/kommungraf/graph/gqlmodel"
	"github.com/kommungraf/kommungraf/sources/model"
)

// CodeBadUserInput is the extensions.code of a rejected argument.
const CodeBadUserInput = "BAD_USER_INPUT"

// MaxPageSize is the largest `first` a connection accepts.
const MaxPageSize = 100

const defaultPageSize = 20

func badInput(ctx context.Context, format string, args ...any) error {
	return &gqlerror.Error{
		Message:    fmt.Sprintf(format, args...),
		Path:       graphql.GetPath(ctx),
		Extensions: map[string]any{"code": CodeBadUserInput},
	}
}

var (
	errandNumberRE = regexp.MustCompile(`^[A-Z]{2,6}-[0-9]{4}-[0-9]{6}$`)
	schoolCodeRE   = regexp.MustCompile(`^[0-9]{8}$`)
	caseTypeRE     = regexp.MustCompile(`^[A-Z_]{1,40}$`)
)

func personalNumberArg(ctx context.Context, s string) (string, error) {
	pnr, err := model.ParsePersonalNumber(s)
	if err != nil {
		return "", badInput(ctx, "personalNumber: %v", err)
	}
	return pnr, nil
}

func errandNumberArg(ctx context.Context, s string) (string, error) {
	if !errandNumberRE.MatchString(s) {
		return "", badInput(ctx, "errandNumber: want a number such as BYGG-2025-000123")
	}
	return s, nil
}

func schoolUnitCodeArg(ctx context.Context, s string) (string, error) {
	if !schoolCodeRE.MatchString(s) {
		return "", badInput(ctx, "code: want an 8-digit school unit code")
	}
	return s, nil
}

func caseTypeArg(ctx context.Context, s *string) (string, error) {
	if s == nil {
		return "", nil
	}
	if !caseTypeRE.MatchString(*s) {
		return "", badInput(ctx, "caseType: want an upper-case case type such as BYGGLOV")
	}
	return *s, nil
}

func designationArg(ctx context.Context, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 120 {
		return "", badInput(ctx, "designation: want a property designation such as ÖREBRO RÖNNEN 1:23")
	}
	return s, nil
}

// Cursors are opaque to clients; inside they are offsets into the list.
const cursorPrefix = "offset:"

func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.Itoa(offset)))
}

// CursorBefore is the `after` that starts a connection's page at offset
// (offset > 0): what a client paging by number (the open REST APIs' limit
// and page) passes instead of walking the cursors.
func CursorBefore(offset int) string { return encodeCursor(offset - 1) }

// window turns Relay arguments into an offset and a page size.
func window(ctx context.Context, first *int, after *string) (offset, n int, err error) {
	n = defaultPageSize
	if first != nil {
		if *first < 1 || *first > MaxPageSize {
			return 0, 0, badInput(ctx, "first: want 1 to %d", MaxPageSize)
		}
		n = *first
	}
	if after != nil {
		b, err := base64.RawURLEncoding.DecodeString(*after)
		rest, ok := strings.CutPrefix(string(b), cursorPrefix)
		o, convErr := strconv.Atoi(rest)
		if err != nil || !ok || convErr != nil || o < 0 || o > 1<<30 {
			return 0, 0, badInput(ctx, "after: not a cursor of this list")
		}
		offset = o + 1
	}
	return offset, n, nil
}

// connection builds the Relay parts shared by every connection type.
func connection[N any, E any](offset, total int, nodes []N, edge func(cursor string, node N) E) ([]E, *gqlmodel.PageInfo) {
	edges := make([]E, len(nodes))
	info := &gqlmodel.PageInfo{HasPreviousPage: offset > 0, HasNextPage: offset+len(nodes) < total}
	for i, n := range nodes {
		c := encodeCursor(offset + i)
		edges[i] = edge(c, n)
		if i == 0 {
			info.StartCursor = &c
		}
		if i == len(nodes)-1 {
			info.EndCursor = &c
		}
	}
	return edges, info
}
