package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// envRunMain makes the test binary run main itself (the child process of
// TestStartupErrorExitsWithAMessage).
const envRunMain = "KOMMUNGRAF_TEST_RUN_MAIN"

// TestStartupErrorExitsWithAMessage runs kommungraf (this test binary,
// running main) with seal keys that do not parse: it must exit 1 with the
// cause on stderr, not crash with a stack trace, and leave no demo temp dir.
func TestStartupErrorExitsWithAMessage(t *testing.T) {
	if os.Getenv(envRunMain) == "1" {
		os.Args = []string{"kommungraf", "--addr", "127.0.0.1:0", "--people", "60"}
		main()
		os.Exit(0) // main came back: it served and stopped, which the parent reports
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStartupErrorExitsWithAMessage$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KOMMUNGRAF_") || strings.HasPrefix(kv, "KOMMUNGRAF_TEST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, envRunMain+"=1", "KOMMUNGRAF_CACHE_KEYS=not-base64", "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()

	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("kommungraf ended with %v, want exit status 1\nstderr:\n%s", err, stderr.String())
	}
	const want = "kommungraf: KOMMUNGRAF_CACHE_KEYS: cache: seal key 1: not standard base64"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}
	for _, trace := range []string{"panic", "goroutine ", "SIGSEGV", "runtime error"} {
		if strings.Contains(stderr.String()+stdout.String(), trace) {
			t.Errorf("output holds %q:\nstderr:\n%s\nstdout:\n%s", trace, stderr.String(), stdout.String())
		}
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
		t.Errorf("temp dir after the failed start: %v (err %v), want it empty", left, err)
	}
}
