package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/kommungraf/kommungraf/sources/upstream"
)

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID takes a sane X-Request-Id from the caller or makes one, echoes it,
// and puts it in the context so upstream calls and logs carry it.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(upstream.WithRequestID(r.Context(), id)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		log.InfoContext(r.Context(), "http request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000, "request_id", upstream.RequestIDFromContext(r.Context()))
	})
}

// recoverPanics turns a panic outside GraphQL execution into a plain 500.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic in HTTP handler", "panic", v, "stack", string(debug.Stack()))
				graphqlError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// loopbackOnly serves only callers on this machine.
//
// The Host must name loopback too: a page of another site whose name an
// attacker re-points at 127.0.0.1 (DNS rebinding) reaches the loopback
// listener from the victim's own browser, but carries its own name in Host.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() || !upstream.IsLoopbackHost(r.Host) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "only served on loopback"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// graphqlOnly answers requests no GraphQL transport takes (wrong method, a POST
// that is not JSON) with a coded GraphQL error instead of gqlgen's bare one.
func graphqlOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodOptions:
		case http.MethodPost:
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || (mt != "application/json" && mt != "application/graphql-response+json") {
				graphqlError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "POST a JSON body with Content-Type: application/json")
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			graphqlError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST, or GET for queries")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func graphqlError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]string{"code": code}}},
		"data":   nil,
	})
}
