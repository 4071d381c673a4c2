package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/graph"
)

// limitBody caps request bodies at n bytes. A body that declares a larger
// Content-Length is answered 413 before anything reads it: a coded GraphQL
// error on /graphql, problem+json elsewhere. A body without a length (chunked)
// is cut at n by http.MaxBytesReader; graphqlBody answers 413 for those on
// /graphql, the admin API (internal/admin) for its own.
func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			tooLarge(w, r, n)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		next.ServeHTTP(w, r)
	})
}

// graphqlBody reads a POST's body into memory, at most n bytes (limitBody
// already capped it), before the GraphQL transport decodes it: a body over
// the limit is a 413 with PAYLOAD_TOO_LARGE instead of the transport's 400,
// and a request holds at most n bytes of body however it was sent.
func graphqlBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		var buf bytes.Buffer
		if r.ContentLength > 0 {
			buf.Grow(int(min(r.ContentLength, n)))
		}
		// The body is read within the request's deadline, not only the
		// server's ReadTimeout, and the deadline is lifted once it is read
		// (the server's background read must not end the request early).
		// An error only means the writer cannot set one (tests' recorders).
		rc := http.NewResponseController(w)
		if dl, ok := r.Context().Deadline(); ok {
			_ = rc.SetReadDeadline(dl)
		}
		_, err := buf.ReadFrom(r.Body)
		_ = rc.SetReadDeadline(time.Time{})
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			tooLarge(w, r, n)
			return
		case err != nil:
			// The client stopped sending (or the read timed out): nobody
			// is left to read an answer, but give it a coded one.
			graphqlError(w, http.StatusBadRequest, graph.CodeBadUserInput, "the request body could not be read")
			return
		}
		r.Body = io.NopCloser(&buf)
		next.ServeHTTP(w, r)
	})
}

// tooLarge answers 413 in the form the path's clients read: a GraphQL
// error on /graphql, problem+json elsewhere.
func tooLarge(w http.ResponseWriter, r *http.Request, n int64) {
	msg := fmt.Sprintf("the request body is larger than %d bytes", n)
	w.Header().Set("Connection", "close") // the rest of the body is not read
	if r.URL.Path == "/graphql" || strings.HasPrefix(r.URL.Path, "/graphql/") {
		graphqlError(w, http.StatusRequestEntityTooLarge, graph.CodePayloadTooLarge, msg)
		return
	}
	writeProblem(w, http.StatusRequestEntityTooLarge, graph.CodePayloadTooLarge, msg)
}
