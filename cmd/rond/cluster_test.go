package main

// A harness that runs rond macronodes as real processes on loopback: keys
// are made by the test (so every node knows every id before any starts),
// QUIC ports are fixed per node (a restarted node comes back where its
// peers expect it), HTTP ports are ephemeral and read from the banner.
// Every wait is a bounded poll against a generous deadline; a failure
// dumps every node's log.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
)

// Bounds of the harness. They are deadlines, not expectations: on a
// loaded 2-core CI machine a start can take seconds.
const (
	startDeadline   = 60 * time.Second // banner and /readyz after a start
	convergeTimeout = 90 * time.Second // a cluster condition (leader, providers)
	requestTimeout  = 30 * time.Second // one HTTP exchange
	pollInterval    = 100 * time.Millisecond
	exitDeadline    = 20 * time.Second // a killed process is reaped
)

var httpClient = &http.Client{Timeout: requestTimeout}

// lockedBuffer collects a process's stderr across restarts; exec copies
// into it from its own goroutine while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// procNode is one macronode: its identity and data dir persist across
// restarts of its process.
type procNode struct {
	name    string
	dataDir string
	quic    string // fixed UDP host:port
	id      string
	extra   []string // --bootstrap, --replicas
	// settings are further flags of every start (a test's own, set
	// before the node starts, e.g. by newClusterWith's prepare).
	settings []string

	cmd    *exec.Cmd
	exited chan struct{}
	url    string
	token  string
	logs   *lockedBuffer
}

// newProcNode makes a data dir holding a fresh node key, so the id is
// known before the process starts.
func newProcNode(t *testing.T, name string) *procNode {
	t.Helper()
	dir := t.TempDir()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "node.key"), []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	n := &procNode{name: name, dataDir: dir, quic: freeUDPAddr(t), logs: &lockedBuffer{},
		id: proto.NodeIDFromPublicKey(pub).String()}
	t.Cleanup(func() {
		n.kill(t)
		if t.Failed() {
			t.Logf("=== log of %s (%s)\n%s", n.name, n.id[:8], n.logs)
		}
	})
	return n
}

// newCluster makes n nodes that bootstrap from each other and are all
// registry replicas, and starts them.
func newCluster(t *testing.T, count int) []*procNode {
	t.Helper()
	return newClusterWith(t, count, nil)
}

// newClusterWith is newCluster with prepare (when set) run on every node
// before any starts, e.g. to place files in its data dir or add flags to
// its extra.
func newClusterWith(t *testing.T, count int, prepare func(*procNode)) []*procNode {
	t.Helper()
	nodes := make([]*procNode, count)
	for i := range nodes {
		nodes[i] = newProcNode(t, string(rune('A'+i)))
		if prepare != nil {
			prepare(nodes[i])
		}
	}
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.id)
	}
	for _, n := range nodes {
		var boot []string
		for _, p := range nodes {
			if p != n {
				boot = append(boot, p.id+"@"+p.quic)
			}
		}
		n.extra = append(n.extra, "--bootstrap", strings.Join(boot, ","), "--replicas", strings.Join(ids, ","))
	}
	for _, n := range nodes {
		n.start(t)
	}
	for _, n := range nodes {
		n.waitReady(t)
	}
	return nodes
}

// start runs the process and waits for its banner (not for readiness).
func (n *procNode) start(t *testing.T) {
	t.Helper()
	tokenFile := filepath.Join(n.dataDir, "root.token")
	args := append([]string{"--data-dir", n.dataDir, "--http-addr", "127.0.0.1:0", "--quic-addr", n.quic,
		"--root-token-file", tokenFile, "--log-level", "info"}, n.extra...)
	args = append(args, n.settings...)
	cmd := exec.Command(buildRond(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = n.logs
	fmt.Fprintf(n.logs, "--- start %s\n", strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(n.exited)
	n.url, _ = waitForBanner(t, stdout)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	n.token = strings.TrimSpace(string(token))
}

// kill sends SIGKILL (no shutdown path runs) and reaps the process.
func (n *procNode) kill(t *testing.T) {
	t.Helper()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-n.exited:
	case <-time.After(exitDeadline):
		t.Errorf("%s: not reaped after SIGKILL", n.name)
	}
	fmt.Fprintf(n.logs, "--- killed\n")
	n.cmd = nil
}

func (n *procNode) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, startDeadline, n.name+" /readyz", func() (bool, string) {
		select {
		case <-n.exited:
			t.Fatalf("%s exited while starting", n.name)
		default:
		}
		code, body := n.do(t, "GET", "/readyz", nil, false)
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
}

// do runs one request; a transport error is status 0 with the error as
// the body, so polls can retry it.
func (n *procNode) do(t *testing.T, method, path string, body []byte, auth bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return resp.StatusCode, data
}

// eventually polls cond until it holds or the deadline passes; then the
// test fails with the last observation.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; last: %s", what, within, last)
		}
		time.Sleep(pollInterval)
	}
}

// putObject stores data on n, retrying while the node answers 503 (no
// quorum yet); it fails on any other status.
func putObject(t *testing.T, n *procNode, data []byte) string {
	t.Helper()
	var addr string
	eventually(t, convergeTimeout, "PUT /o on "+n.name, func() (bool, string) {
		code, body := n.do(t, "PUT", "/o", data, true)
		if code == http.StatusCreated {
			var res struct{ Addr string }
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("PUT /o: %v: %s", err, body)
			}
			addr = res.Addr
			return true, ""
		}
		if code != 0 && code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
			t.Fatalf("PUT /o on %s: %d %s", n.name, code, body)
		}
		return false, fmt.Sprintf("%d %s", code, body)
	})
	if want := proto.AddrOf(data).String(); addr != want {
		t.Fatalf("PUT /o answered address %s, want %s", addr, want)
	}
	return addr
}

// owner is a name owner's key.
type owner struct {
	priv ed25519.PrivateKey
	pub  string
}

func newOwner(t *testing.T) owner {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return owner{priv: priv, pub: hex.EncodeToString(pub)}
}

// setBody is the signed JSON of PUT /names/{name}.
func (o owner) setBody(name, target string, seq uint64) []byte {
	addr, err := proto.ParseAddr(target)
	if err != nil {
		panic(err)
	}
	sig := ed25519.Sign(o.priv, registry.SetSigningBytes(name, addr, seq))
	body, _ := json.Marshal(map[string]any{"target": target, "seq": seq, "owner": o.pub, "sig": hex.EncodeToString(sig)})
	return body
}

// claimName claims name for o on n, retrying while the registry has no
// leader yet (503, or 504 for a claim whose outcome was unknown: a
// retried claim by the same owner may then answer 409).
func claimName(t *testing.T, n *procNode, name string, o owner) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"owner": o.pub})
	eventually(t, convergeTimeout, "POST /names/"+name+" on "+n.name, func() (bool, string) {
		code, resp := n.do(t, "POST", "/names/"+name, body, true)
		switch code {
		case http.StatusCreated:
			return true, ""
		case http.StatusConflict:
			rec := resolveName(t, n, name)
			if rec.Owner != o.pub {
				t.Fatalf("name %s taken by %s", name, rec.Owner)
			}
			return true, ""
		case 0, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return false, fmt.Sprintf("%d %s", code, resp)
		}
		t.Fatalf("POST /names/%s on %s: %d %s", name, n.name, code, resp)
		return false, ""
	})
}

// nameRecord mirrors gateway.NameRecord.
type nameRecord struct {
	Name, Owner, Target string
	Seq                 uint64
}

// resolveName polls GET /names/{name} on n until it answers 200.
func resolveName(t *testing.T, n *procNode, name string) nameRecord {
	t.Helper()
	var rec nameRecord
	eventually(t, convergeTimeout, "GET /names/"+name+" on "+n.name, func() (bool, string) {
		code, body := n.do(t, "GET", "/names/"+name, nil, false)
		if code != http.StatusOK {
			return false, fmt.Sprintf("%d %s", code, body)
		}
		if err := json.Unmarshal(body, &rec); err != nil {
			t.Fatalf("GET /names/%s: %v: %s", name, err, body)
		}
		return true, ""
	})
	return rec
}

// randomBytes returns n random bytes (content that no other test or run
// stored, so a hit can only come from this run's put).
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
