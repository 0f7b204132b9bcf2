package fuzz

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ron-network/ron/core/auth"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/io/gateway"
	"github.com/ron-network/ron/io/pebbledisk"
	"github.com/ron-network/ron/io/runtime"
)

// readyWait bounds every wait of the fixtures (generous: a loaded machine).
const readyWait = 30 * time.Second

// nodeKey returns the deterministic key of fixture node i.
func nodeKey(i byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{i}, ed25519.SeedSize))
}

// startNode runs a node on in-memory pebble whose registry has replicas
// (sorted; nil: the node alone). It is closed with the test.
func startNode(tb testing.TB, key ed25519.PrivateKey, replicas []proto.NodeID) *runtime.Runtime {
	tb.Helper()
	d, err := pebbledisk.Open(pebbledisk.Options{Dir: "db", FS: vfs.NewMem()})
	if err != nil {
		tb.Fatal(err)
	}
	spec := runtime.NodeSpec{Key: key, Replicas: replicas}
	if spec.Replicas == nil {
		spec.Replicas = []proto.NodeID{spec.Self()}
	}
	log := slog.New(slog.DiscardHandler)
	rt, err := runtime.New(runtime.Config{Self: spec.Self(), NewNode: spec.NewNode, Disk: d,
		Metrics: runtime.NewPromMetrics(log), Logger: log, ReadyCheck: runtime.NodeReady, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	rt.Start(nil)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), readyWait)
		defer cancel()
		_ = rt.Close(ctx)
		_ = d.Close()
	})
	return rt
}

// newGateway returns a gateway over rt and a root token for tenant alice.
func newGateway(tb testing.TB, rt *runtime.Runtime) (*gateway.Gateway, string) {
	tb.Helper()
	keys := auth.NewKeyring(nil)
	secret, _ := auth.NewSecret(bytes.Repeat([]byte{9}, auth.KeyBytes))
	if err := keys.Create("root", auth.KindMAC, secret); err != nil {
		tb.Fatal(err)
	}
	key, _ := keys.CurrentMACKey("root")
	g := gateway.New(gateway.Config{Backend: rt, Verifier: auth.NewVerifier(keys, nil), Metrics: rt.Prom(),
		Gatherer: rt.Prom().Registry(), Logger: slog.New(slog.DiscardHandler), Version: "fuzz", ObjectBytesMax: 1 << 20})
	tok, err := auth.Mint(key, "alice", auth.OpsAll, [auth.NonceBytes]byte{1})
	if err != nil {
		tb.Fatal(err)
	}
	return g, tok.Encode()
}

// waitReady polls until rt reports ready.
func waitReady(tb testing.TB, rt *runtime.Runtime) {
	tb.Helper()
	deadline := time.Now().Add(readyWait)
	for !rt.Ready() {
		if time.Now().After(deadline) {
			tb.Fatal("node never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
