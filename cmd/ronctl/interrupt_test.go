package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
)

var (
	ronctlOnce sync.Once
	ronctlBin  string
	ronctlErr  error
)

// buildRonctl builds the ronctl binary once per test process, for the
// tests that need a real process (signals).
func buildRonctl(t *testing.T) string {
	t.Helper()
	ronctlOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ronctl-test")
		if err != nil {
			ronctlErr = err
			return
		}
		ronctlBin = filepath.Join(dir, "ronctl")
		if out, err := exec.Command("go", "build", "-o", ronctlBin, ".").CombinedOutput(); err != nil {
			ronctlErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if ronctlErr != nil {
		t.Fatal(ronctlErr)
	}
	return ronctlBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if ronctlBin != "" {
		_ = os.RemoveAll(filepath.Dir(ronctlBin))
	}
	os.Exit(code)
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGetInterruptedRemovesTempFile: SIGINT or SIGTERM while get -o FILE
// downloads cancels the download, removes the temporary file, leaves FILE
// as it was (absent, or its old bytes), and exits 128+signal saying it
// was interrupted. Before, the signal killed ronctl with the temporary
// file left behind.
func TestGetInterruptedRemovesTempFile(t *testing.T) {
	bin := buildRonctl(t)
	data := bytes.Repeat([]byte("slow object "), 1<<16)
	addr := proto.AddrOf(data)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		_, _ = w.Write(data[:4096])
		w.(http.Flusher).Flush()
		select { // the rest never comes while the test runs
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name     string
		sig      syscall.Signal
		existing bool
	}{
		{"SIGINT", syscall.SIGINT, false},
		{"SIGTERM", syscall.SIGTERM, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "copy.bin")
			if tc.existing {
				if err := os.WriteFile(out, []byte("old bytes"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bin, "--node", srv.URL, "get", addr.String(), "-o", out)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			temps := func() []string {
				m, _ := filepath.Glob(filepath.Join(dir, ".copy.bin.ronctl-*"))
				return m
			}
			waitFor(t, "the first bytes in the temporary file", func() bool {
				for _, p := range temps() {
					if st, err := os.Stat(p); err == nil && st.Size() > 0 {
						return true
					}
				}
				return false
			})
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-exited:
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("ronctl did not exit after %s; stderr %q", tc.name, stderr.String())
			}
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 128+int(tc.sig) {
				t.Fatalf("exit %v, want code %d; stderr %q", err, 128+int(tc.sig), stderr.String())
			}
			if !strings.Contains(stderr.String(), "interrupted ("+tc.name+")") || !strings.Contains(stderr.String(), "partial download was removed") {
				t.Errorf("stderr %q: want it to say interrupted by %s and the partial file removed", stderr.String(), tc.name)
			}
			if left := temps(); len(left) != 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
			got, err := os.ReadFile(out)
			switch {
			case tc.existing && string(got) != "old bytes":
				t.Errorf("%s now holds %q (err %v), want its old bytes", out, got, err)
			case !tc.existing && !os.IsNotExist(err):
				t.Errorf("%s exists after an interrupted get (err %v)", out, err)
			}
		})
	}
}

// TestGetKeepsAnIgnoredSIGINTIgnored: a ronctl started with SIGINT
// ignored (nohup, a shell's background job) keeps it ignored. Before,
// signal.Notify un-ignored it and a SIGINT meant for the foreground job
// cancelled the download. The test sends SIGINT then SIGTERM: the
// kernel discards an ignored SIGINT at once, so only SIGTERM interrupts
// (exit 143); had SIGINT been caught, it came first (the lower number is
// delivered first) and the exit said SIGINT, or SIGTERM then killed.
func TestGetKeepsAnIgnoredSIGINTIgnored(t *testing.T) {
	bin := buildRonctl(t)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh to start ronctl with SIGINT ignored: %v", err)
	}
	data := bytes.Repeat([]byte("slow object "), 1<<16)
	addr := proto.AddrOf(data)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		_, _ = w.Write(data[:4096])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "copy.bin")
	// exec keeps the ignored disposition the trap set.
	cmd := exec.Command(sh, "-c", `trap '' INT; exec "$0" "$@"`, bin, "--node", srv.URL, "get", addr.String(), "-o", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitFor(t, "the first bytes in the temporary file", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, ".copy.bin.ronctl-*"))
		for _, p := range m {
			if st, err := os.Stat(p); err == nil && st.Size() > 0 {
				return true
			}
		}
		return false
	})
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err = <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("ronctl did not exit after SIGTERM; stderr %q", stderr.String())
	}
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) || !strings.Contains(stderr.String(), "interrupted (SIGTERM)") {
		t.Fatalf("exit %v, want code %d interrupted by SIGTERM (SIGINT ignored); stderr %q", err, 128+int(syscall.SIGTERM), stderr.String())
	}
}
