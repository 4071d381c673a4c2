package config

import (
	"strings"
	"testing"
	"time"
)

// TestTimeoutsAreOrdered: a write timeout that could cut a response before
// the request's own deadline answers it is refused at start; the default
// follows the request timeout.
func TestTimeoutsAreOrdered(t *testing.T) {
	cases := []struct {
		name, server string
		wantErr      string
		wantWrite    time.Duration
	}{
		{"default follows requestTimeout", "requestTimeout: 30s", "", 35500 * time.Millisecond},
		{"explicit and long enough", "requestTimeout: 10s\n  writeTimeout: 13s", "", 13 * time.Second},
		{"shorter than the request timeout", "requestTimeout: 20s\n  writeTimeout: 20s", "server.writeTimeout 20s must be at least requestTimeout 20s + admission.maxQueueWait 500ms + 2s", 0},
		{"the queue wait counts too", "requestTimeout: 10s\n  writeTimeout: 14s\n  admission: {maxQueueWait: 3s}", "must be at least requestTimeout 10s + admission.maxQueueWait 3s", 0},
		{"negative admission", "admission: {maxInFlight: -1}", "server.admission: maxInFlight", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cleanEnv(t)
			raw := "server:\n  " + c.server + "\n" + minimal
			got, err := Parse([]byte(raw))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Server.WriteTimeout != c.wantWrite {
				t.Fatalf("writeTimeout %s, want %s", got.Server.WriteTimeout, c.wantWrite)
			}
		})
	}
}
