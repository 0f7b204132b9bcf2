package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/internal/loopback"
)

// TestProcessPutGetSIGTERM builds rond, starts it on loopback with
// ephemeral ports, stores and fetches an object over HTTP, and checks that
// SIGTERM makes it exit 0.
func TestProcessPutGetSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := buildRond(t)
	tokenFile := filepath.Join(dir, "root.token")
	cmd := exec.Command(bin, "--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0", "--root-token-file", tokenFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	url, _ := waitForBanner(t, stdout)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	st, err := os.Stat(tokenFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("root token file: %v %v", st, err)
	}
	token, _ := os.ReadFile(tokenFile)
	// The banner comes as soon as the listeners are up; the node answers
	// writes with 503 (retryable) until its machines have recovered, so a
	// client waits for /readyz, as any load balancer would.
	eventually(t, startDeadline, "/readyz", func() (bool, string) {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	data := []byte("stored by a real rond process")
	req, _ := http.NewRequest("PUT", url+"/o", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp := mustDo(t, req)
	if resp.StatusCode != 201 {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	get, _ := http.NewRequest("GET", url+"/o/"+proto.AddrOf(data).String(), nil)
	resp = mustDo(t, get)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) || err != nil {
			t.Fatalf("rond after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("rond did not exit after SIGTERM\n%s", stderr.String())
	}
}

var (
	urlLine  = regexp.MustCompile(`^\s+http\s+(http://\S+)`)
	idLine   = regexp.MustCompile(`^\s+node id\s+([0-9a-f]{64})`)
	quicLine = regexp.MustCompile(`^\s+quic\s+[0-9a-f]{64}@(\S+)`)
	oapLine  = regexp.MustCompile(`^\s+oap\s+(\S+)`)

	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildRond builds the binary once per test process.
func buildRond(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rond-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "rond")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// waitForBanner reads rond's banner up to its HTTP URL and returns the URL
// and the node id.
func waitForBanner(t *testing.T, r io.Reader) (url, id string) {
	t.Helper()
	b := readBanner(t, r)
	return b.url, b.id
}

// banner is what a test reads from rond's banner: the addresses it bound,
// so that a test can let rond pick its ports (":0") instead of picking a
// free port, releasing it and racing every other process for it.
type banner struct {
	url, id string
	quic    string // host:port of the node's QUIC transport
	oap     string // host:port of the OAP/1 listener, "off" when none
}

// readBanner reads rond's banner up to its OAP/1 line, which printBanner
// writes right after the HTTP one.
func readBanner(t *testing.T, r io.Reader) banner {
	t.Helper()
	found := make(chan banner, 1)
	go func() {
		var b banner
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if m := idLine.FindStringSubmatch(line); m != nil {
				b.id = m[1]
			}
			if m := quicLine.FindStringSubmatch(line); m != nil {
				b.quic = m[1]
			}
			if m := urlLine.FindStringSubmatch(line); m != nil {
				b.url = m[1]
			}
			if m := oapLine.FindStringSubmatch(line); m != nil && b.url != "" {
				b.oap = m[1]
				found <- b
				return
			}
		}
		close(found)
	}()
	select {
	case b, ok := <-found:
		if !ok {
			t.Fatal("rond exited before printing its address")
		}
		return b
	case <-time.After(30 * time.Second):
		t.Fatal("rond did not print its address")
	}
	return banner{}
}

func mustDo(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// started is one running rond process.
type started struct {
	cmd       *exec.Cmd
	url, id   string
	quic, oap string // bound addresses, from the banner
	token     string
	tokenFile string        // --root-token-file
	stderr    *lockedBuffer // exec copies into it while a test may read it
}

func startRond(t *testing.T, args ...string) *started {
	t.Helper()
	return startRondEnv(t, nil, args...)
}

// startRondEnv is startRond with env added to the test's environment.
func startRondEnv(t *testing.T, env []string, args ...string) *started {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "root.token")
	args = append([]string{"--http-addr", "127.0.0.1:0", "--root-token-file", tokenFile}, args...)
	cmd := exec.Command(buildRond(t), args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &started{cmd: cmd, tokenFile: tokenFile, stderr: &lockedBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	b := readBanner(t, stdout)
	s.url, s.id, s.quic, s.oap = b.url, b.id, b.quic, b.oap
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	token, _ := os.ReadFile(tokenFile)
	s.token = strings.TrimSpace(string(token))
	return s
}

// TestTwoProcessesShareContent is demo D-1: a blob put on one node is
// fetched by address from another, over QUIC between two processes.
func TestTwoProcessesShareContent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	n1 := startRond(t, "--quic-addr", "127.0.0.1:0")
	n2 := startRond(t, "--quic-addr", "127.0.0.1:0", "--bootstrap", n1.id+"@"+n1.quic, "--replicas", n1.id)
	data := []byte("put on node 2, read on node 1")
	addr := proto.AddrOf(data).String()
	// Both nodes start, find each other and elect: a cluster condition,
	// bounded like the others (convergeTimeout), not by a shorter 20 s.
	deadline := time.Now().Add(convergeTimeout)
	for {
		req, _ := http.NewRequest("PUT", n2.url+"/o", bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+n2.token)
		if resp := mustDo(t, req); resp.StatusCode == 201 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("PUT on node 2: %d\n%s", resp.StatusCode, n2.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	get, _ := http.NewRequest("GET", n1.url+"/o/"+addr, nil)
	resp := mustDo(t, get)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET on node 1: %d %q", resp.StatusCode, body)
	}
}

// freeUDPAddr returns a loopback UDP address that was free when picked.
// The cluster harness needs a fixed port (a restarted node must come back
// where its peers expect it), so the port is released between this pick
// and every bind. It is picked below the kernel's ephemeral range, where
// no socket bound to port 0 (every QUIC client of every other process on
// a busy CI machine) can land on it meanwhile; only another explicit
// bind could. Without a readable range, the kernel picks.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, addr, err := loopback.ListenFixed(loopback.UDP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return addr
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
