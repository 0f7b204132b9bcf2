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
	"github.com/ron-network/ron/io/runtime"
)

// NodeUnready never holds back a node without a registry nor a single
// replica (a micronode leads alone: there is no quorum to lose), however
// long it runs; a replica of three running alone says
// ReasonRegistryNoLeader once its grace has passed (the control that the
// check runs at all on these nodes).
func TestNodeUnreadyOnlyOnAReplicaWithPeers(t *testing.T) {
	keys := make([]ed25519.PrivateKey, 3)
	ids := make([]proto.NodeID, 3)
	for i := range keys {
		keys[i] = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(20 + i)}, ed25519.SeedSize))
		ids[i] = runtime.NodeSpec{Key: keys[i]}.Self()
	}
	// everUnready runs c for d of virtual time and reports the first
	// reason NodeUnready gave node 0 after any step ("" when none).
	everUnready := func(c *envtest.Cluster, d time.Duration) string {
		why := ""
		c.RunUntil(d, func() bool {
			why = runtime.NodeUnready(c.Members[0].Node)
			return why != ""
		})
		if why == "" && c.Now < d {
			t.Fatalf("ran %v of virtual time, want %v", c.Now, d)
		}
		return why
	}

	bare := envtest.NewCluster(envtest.ClusterConfig{IDs: ids[:1], Seed: 1,
		NewNode: func(_ int, e env.Env) *node.Node {
			return node.New(e, node.Config{Invariants: true}, &lossProbe{})
		}})
	if why := everUnready(bare, time.Minute); why != "" {
		t.Fatalf("a node without a registry: NodeUnready %q, want never", why)
	}

	single := envtest.NewCluster(envtest.ClusterConfig{IDs: ids[:1], Seed: 1,
		NewNode: func(_ int, e env.Env) *node.Node {
			return runtime.NodeSpec{Key: keys[0], Replicas: ids[:1]}.NewNode(e)
		}})
	if why := everUnready(single, time.Minute); why != "" {
		t.Fatalf("a single replica: NodeUnready %q, want never", why)
	}

	alone := envtest.NewCluster(envtest.ClusterConfig{IDs: ids, Seed: 1, StartDown: true,
		NewNode: func(i int, e env.Env) *node.Node {
			return runtime.NodeSpec{Key: keys[i], Replicas: ids}.NewNode(e)
		}})
	alone.Start(0) // the other two never start
	if why := everUnready(alone, time.Minute); why != runtime.ReasonRegistryNoLeader {
		t.Fatalf("one replica of three alone: NodeUnready %q, want %q", why, runtime.ReasonRegistryNoLeader)
	}
}
