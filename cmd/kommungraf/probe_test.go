package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProbe: the container's health check passes on 2xx only, never
// follows a redirect, and a bad command line is a usage error (exit 2).
func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			_, _ = w.Write([]byte(`{"status":"ready"}`))
		case "/moved":
			http.Redirect(w, r, "/readyz", http.StatusFound)
		default:
			http.Error(w, `{"status":"not ready"}`, http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	if out, _, err := runCLI(t, "probe", srv.URL+"/readyz"); err != nil || out != srv.URL+"/readyz: 200 OK\n" {
		t.Fatalf("probe of a ready gateway: %v %q", err, out)
	}
	for path, want := range map[string]string{
		"/down":  "probe: " + srv.URL + "/down answered 503 Service Unavailable",
		"/moved": "probe: " + srv.URL + "/moved answered 302 Found",
	} {
		_, _, err := runCLI(t, "probe", srv.URL+path)
		if err == nil || err.Error() != want {
			t.Errorf("probe %s: %v, want %q", path, err, want)
		}
		if _, usage := err.(usageError); usage {
			t.Errorf("probe %s: a failing probe is exit 1, not a usage error", path)
		}
	}
	if _, _, err := runCLI(t, "probe", closedURL(t)+"/readyz"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("probe of a closed port: %v", err)
	}
	for _, args := range [][]string{{"probe"}, {"probe", "a", "b"}, {"probe", "ftp://x/readyz"}, {"probe", "/readyz"}} {
		if _, _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		} else if _, usage := err.(usageError); !usage {
			t.Errorf("%v: %v is not a usage error", args, err)
		}
	}
}
