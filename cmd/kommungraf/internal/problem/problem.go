// Package problem writes the gateway's RFC 9457 problem+json answers
// outside GraphQL (the admin surface, the limits, the readiness and demo
// routes): one writer, so every such answer has the same members.
package problem

import (
	"encoding/json"
	"net/http"
)

// Write answers with an RFC 9457 problem+json body: type about:blank, the
// status's title, the status, an UPPER_SNAKE code and a detail for people,
// plus extra members. It is never cached.
func Write(w http.ResponseWriter, status int, code, detail string, extra map[string]any) {
	body := map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "detail": detail}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
