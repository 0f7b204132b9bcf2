//go:build unix

package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFlagWatchLogsARefusedConfigFileOnce: the watcher skipped a config
// file that became a FIFO (or a device, or too big) without a word, so an
// operator's next edits were ignored silently. It now logs once when the
// file can no longer be read and once when it can again.
func TestFlagWatchLogsARefusedConfigFileOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rond.yaml")
	content := []byte("flags: {}\n")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stop := watchFlags(context.Background(), path, newFeatureFlags(nil, nil), nil, log)
	defer stop()
	wait := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond(logs.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; logs %q", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	wait("the refusal logged", func(s string) bool { return strings.Contains(s, "config file cannot be read") })
	if !strings.Contains(logs.String(), "named pipe (FIFO)") {
		t.Errorf("logs %q: want the refusal to say the file is a FIFO", logs.String())
	}
	// A regular file again (the count below checks no repeat while
	// refused only over the looks that happened to pass meanwhile).
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	wait("the recovery logged", func(s string) bool { return strings.Contains(s, "config file can be read again") })
	if n := strings.Count(logs.String(), "config file cannot be read"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once; logs %q", n, logs.String())
	}
}
