package main

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

// TestProcessOAP drives a real rond through `ronctl --oap`: put and get of
// a multi-frame file with the node id pinned, a write with a bad token
// refused with the gateway's 401, a wrong pin refused at the handshake,
// and a name claimed, set and resolved, all over OAP/1.
func TestProcessOAP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	n := startRond(t, "--quic-addr", "127.0.0.1:0", "--oap-addr", "127.0.0.1:0")
	oapAddr := n.oap // bound by rond: no free port picked and released
	ronctl := buildRonctl(t)
	eventually(t, startDeadline, "/readyz", func() (bool, string) {
		resp, err := http.Get(n.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	dir := t.TempDir()
	data := make([]byte, 3<<20+17)
	_, _ = rand.NewChaCha8([32]byte{6}).Read(data)
	file := filepath.Join(dir, "blob")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	over := []string{"--oap", oapAddr, "--node-id", n.id}

	out, errOut, code := ctl(t, ronctl, append(over, "--token", n.token, "put", file)...)
	if code != 0 || out != proto.AddrOf(data).String() {
		t.Fatalf("ronctl --oap put: exit %d, %q %s\n%s", code, out, errOut, n.stderr)
	}
	fetched := filepath.Join(dir, "fetched")
	if _, errOut, code := ctl(t, ronctl, append(over, "get", out, "-o", fetched)...); code != 0 {
		t.Fatalf("ronctl --oap get: exit %d %s", code, errOut)
	}
	if got, err := os.ReadFile(fetched); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes (%v), want the %d put", len(got), err, len(data))
	}
	if _, errOut, code := ctl(t, ronctl, append(over, "--token", "not-a-token", "put", file)...); code != 1 || !strings.Contains(errOut, "401 UNAUTHORIZED") {
		t.Fatalf("put with a bad token: exit %d %s", code, errOut)
	}
	wrong := strings.Repeat("ab", 32)
	if _, errOut, code := ctl(t, ronctl, "--oap", oapAddr, "--node-id", wrong, "cat", out); code != 1 || !strings.Contains(errOut, "node id mismatch") {
		t.Fatalf("a wrong pin: exit %d %s", code, errOut)
	}
	if _, errOut, code := ctl(t, ronctl, "--oap", oapAddr, "cat", out); code != 2 || !strings.Contains(errOut, "--node-id") {
		t.Fatalf("--oap without a pin or --oap-insecure: exit %d %s", code, errOut)
	}

	owner := filepath.Join(dir, "owner.key")
	if _, errOut, code := ctl(t, ronctl, "key", "gen", owner); code != 0 {
		t.Fatalf("key gen: %s", errOut)
	}
	eventually(t, startDeadline, "name claim over OAP/1", func() (bool, string) {
		_, errOut, code := ctl(t, ronctl, append(over, "--token", n.token, "name", "claim", "blob.example", "--key", owner)...)
		if code != 0 && !strings.Contains(errOut, "503") {
			t.Fatalf("name claim: exit %d %s", code, errOut)
		}
		return code == 0, errOut
	})
	if _, errOut, code := ctl(t, ronctl, append(over, "--token", n.token, "name", "set", "blob.example", out, "--key", owner)...); code != 0 {
		t.Fatalf("name set: exit %d %s", code, errOut)
	}
	resolved, errOut, code := ctl(t, ronctl, append(over, "name", "get", "blob.example")...)
	if code != 0 || !strings.Contains(resolved, out) {
		t.Fatalf("name get: exit %d %q %s", code, resolved, errOut)
	}
}
