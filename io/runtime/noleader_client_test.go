package runtime_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/stack"
	"github.com/ron-network/ron/io/runtime"
)

// A non-replica whose registry requests reach only one replica, cut off
// from the other two (a leaderless minority), is not ready with
// ReasonRegistryNoLeader once the replies have said so past the grace:
// it still hears that replica answer its revocation pulls, so it is not
// ReasonRegistryUnreachable, and before the cut it is ready.
func TestNodeUnreadyNonReplicaInLeaderlessMinority(t *testing.T) {
	keys := make([]ed25519.PrivateKey, 4)
	ids := make([]proto.NodeID, 4)
	for i := range keys {
		keys[i] = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(40 + i)}, ed25519.SeedSize))
		ids[i] = runtime.NodeSpec{Key: keys[i]}.Self()
	}
	replicas := ids[:3]
	c := envtest.NewCluster(envtest.ClusterConfig{IDs: ids, Seed: 1,
		NewNode: func(i int, e env.Env) *node.Node {
			return runtime.NodeSpec{Key: keys[i], Replicas: replicas, Members: ids, RevocationPullInterval: time.Second}.NewNode(e)
		}})
	const nr = 3
	unready := func() string { return runtime.NodeUnready(c.Members[nr].Node) }
	resolveEvery := func(d time.Duration, stop func() bool) bool {
		end := c.Now + d
		for c.Now < end {
			c.Request(nr, registry.ServiceName, registry.Resolve{Name: "example.org"})
			if c.RunUntil(100*time.Millisecond, stop) {
				return true
			}
		}
		return false
	}
	if resolveEvery(5*time.Second, func() bool { return unready() != "" }) {
		t.Fatalf("non-replica not ready with no fault: %q", unready())
	}
	a := 0 // the replica the non-replica still reaches
	for i := range replicas {
		if !stack.RegistryOf(c.Members[i].Node).IsLeader() {
			a = i
			break
		}
	}
	c.Drop = func(from, to int, _ []byte) bool {
		side := func(i int) bool { return i == a || i == nr }
		return side(from) != side(to)
	}
	if !resolveEvery(10*time.Second, func() bool { return unready() != "" }) {
		t.Fatalf("non-replica reaching only a leaderless replica: ready after 10s")
	}
	if why := unready(); why != runtime.ReasonRegistryNoLeader {
		t.Fatalf("non-replica reaching only a leaderless replica: NodeUnready %q, want %q", why, runtime.ReasonRegistryNoLeader)
	}
	c.HealAll()
	if !resolveEvery(10*time.Second, func() bool { return unready() == "" }) {
		t.Fatalf("healed non-replica still not ready: %q", unready())
	}
}
