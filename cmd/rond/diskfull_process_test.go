package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ron-network/ron/io/pebbledisk"
)

// TestProcessDiskFullSIGTERM: a rond whose disk refuses every write (the
// pebbledisk write failpoint returns ENOSPC, through GO_FAILPOINTS) says
// so on /readyz and /metrics, answers writes 507 INSUFFICIENT_STORAGE,
// keeps its pebble log quiet, and still exits within the drain bound on
// SIGTERM.
func TestProcessDiskFullSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	n := startRondEnv(t, []string{"GO_FAILPOINTS=" + pebbledisk.FailpointWrite + `=return("full")`},
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--quic-addr", "127.0.0.1:0", "--oap-addr", "off")
	url, cmd, stderr := n.url, n.cmd, n.stderr

	var ready struct{ Code, Message string }
	eventually(t, startDeadline, "/readyz to name the full disk", func() (bool, string) {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&ready)
		return resp.StatusCode == 503 && strings.Contains(ready.Message, "disk full"), resp.Status + " " + ready.Message
	})
	metrics := mustDo(t, mustRequest(t, "GET", url+"/metrics", nil))
	body, _ := io.ReadAll(metrics.Body)
	if !strings.Contains(string(body), "\nnode_ready_state 0\n") {
		t.Fatalf("node_ready_state is not 0 on a full disk")
	}
	req := mustRequest(t, "PUT", url+"/o", bytes.NewReader([]byte("no room for this")))
	req.Header.Set("Authorization", "Bearer "+n.token)
	if resp := mustDo(t, req); resp.StatusCode != http.StatusInsufficientStorage {
		t.Fatalf("PUT on a full disk: %d", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done: // the final sync fails on a full disk: the exit code may say so
		t.Logf("exited (%v) %v after SIGTERM on a full disk", err, time.Since(start).Round(time.Millisecond))
	case <-time.After(drainTimeout + 20*time.Second):
		t.Fatalf("rond did not exit after SIGTERM on a full disk\n%s", stderr.String())
	}
	if lines := strings.Count(stderr.String(), "component=pebble"); lines > 50 {
		t.Fatalf("pebble logged %d lines on a full disk", lines)
	}
}

func mustRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
