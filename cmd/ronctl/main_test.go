package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// startNode serves a real micronode (runtime, pebble in memory, gateway)
// and returns its URL and a root token.
func startNode(t *testing.T) (string, string) {
	t.Helper()
	url, token, _ := startNodeWithID(t)
	return url, token
}

// startNodeWithID is startNode that also returns the node id; it serves
// GET /status as rond does.
func startNodeWithID(t *testing.T) (string, string, proto.NodeID) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	disk, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	spec := runtime.NodeSpec{Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))}
	spec.Replicas = []proto.NodeID{spec.Self()}
	rt, err := runtime.New(runtime.Config{Self: spec.Self(), NewNode: spec.NewNode, Disk: disk, Logger: log, ReadyCheck: runtime.NodeReady})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(nil)
	keys := auth.NewKeyring(nil)
	secret, _ := auth.NewSecret(bytes.Repeat([]byte{8}, auth.KeyBytes))
	_ = keys.Create("root", auth.KindMAC, secret)
	key, _ := keys.CurrentMACKey("root")
	tok, _ := auth.Mint(key, "root", auth.OpsAll, [auth.NonceBytes]byte{})
	gw := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil),
		Metrics: rt.Prom(), Gatherer: rt.Prom().Registry(), Logger: log, Version: "test"})
	srv := httptest.NewServer(gw.WithStatus(gateway.StatusConfig{NodeID: spec.Self().String(), Profile: "micronode (test)", Started: time.Now(),
		RegistryReplica: true}))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx)
		_ = disk.Close()
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node never became ready")
		}
		if !rt.Ready() {
			continue
		}
		_, err := runtime.Call(context.Background(), rt, registry.Resolve{Name: "warmup"})
		if err == nil {
			break
		}
	}
	return srv.URL, tok.Encode(), spec.Self()
}

func ronctl(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

func TestRonctlEndToEnd(t *testing.T) {
	url, token := startNode(t)
	dir := t.TempDir()
	g := []string{"--node", url, "--token", token}

	out, errText, code := ronctl(t, "piped bytes", append(g, "put", "-")...)
	addr := strings.TrimSpace(out)
	if code != 0 || addr != proto.AddrOf([]byte("piped bytes")).String() {
		t.Fatalf("put: %d %q %q", code, out, errText)
	}
	if out, _, code := ronctl(t, "", "cat", addr, "--node", url); code != 0 || out != "piped bytes" {
		t.Fatalf("cat (flags after the command): %d %q", code, out)
	}
	file := filepath.Join(dir, "copy")
	if _, errText, code := ronctl(t, "", append(g, "get", addr, "-o", file)...); code != 0 {
		t.Fatalf("get: %d %s", code, errText)
	}
	if b, _ := os.ReadFile(file); string(b) != "piped bytes" {
		t.Fatalf("get wrote %q", b)
	}

	keyFile := filepath.Join(dir, "owner.key")
	if _, errText, code := ronctl(t, "", "key", "gen", keyFile); code != 0 {
		t.Fatalf("key gen: %s", errText)
	}
	if _, errText, code := ronctl(t, "", append(g, "name", "claim", "docs.example", "--key", keyFile)...); code != 0 {
		t.Fatalf("claim: %s", errText)
	}
	for i := 0; i < 2; i++ { // seq 1 then 2, each read from the node
		if _, errText, code := ronctl(t, "", append(g, "name", "set", "docs.example", addr, "--key", keyFile)...); code != 0 {
			t.Fatalf("set %d: %s", i+1, errText)
		}
	}
	out, _, code = ronctl(t, "", append(g, "--json", "name", "get", "docs.example")...)
	if code != 0 || !strings.Contains(out, `"seq":2`) || !strings.Contains(out, addr) {
		t.Fatalf("name get: %d %s", code, out)
	}
	_, errText, code = ronctl(t, "", append(g, "name", "set", "docs.example", addr, "--key", keyFile, "--seq", "2")...)
	if code != 1 || !strings.Contains(errText, "CONFLICT") || strings.Count(errText, "\n") != 1 {
		t.Fatalf("stale set: %d %q, want one line naming CONFLICT", code, errText)
	}
	if out, _, code := ronctl(t, "", "status", "--node", url); code != 0 || !strings.Contains(out, "ready     yes") {
		t.Fatalf("status: %d %s", code, out)
	}
}

func TestRonctlFailures(t *testing.T) {
	url, _ := startNode(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--node", url, "--token", "", "put", "-"}, 2, "RON_TOKEN"},
		{[]string{"--node", url, "--token", "bogus", "put", "-"}, 1, "UNAUTHORIZED"},
		{[]string{"--node", url, "cat", "b3:" + strings.Repeat("0", 64)}, 1, "NOT_FOUND"},
		{[]string{"--node", url, "cat", "nope"}, 2, "b3"},
		{[]string{"--node", "http://127.0.0.1:1", "status"}, 1, "cannot reach"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"name", "claim", "x.example", "--node", url, "--token", "t"}, 2, "--key"},
	}
	for _, c := range cases {
		_, errText, code := ronctl(t, "data", c.args...)
		if code != c.code || !strings.Contains(errText, c.want) || strings.Count(errText, "\n") != 1 {
			t.Errorf("%v: exit %d %q, want %d and one line containing %q", c.args, code, errText, c.code, c.want)
		}
	}
	if out, _, code := ronctl(t, "", "--help"); code != 0 || !strings.Contains(out, "Examples:") {
		t.Fatalf("--help: %d", code)
	}
}
