package ron_test

import (
	"bytes"
	"crypto/ed25519"
	"reflect"
	"slices"
	"testing"

	"github.com/ron-network/ron/core/authz"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/node"
	"github.com/ron-network/ron/core/overlay"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/registry"
	"github.com/ron-network/ron/core/stack"
	"github.com/ron-network/ron/core/storage"
	"github.com/ron-network/ron/io/runtime"
	"github.com/ron-network/ron/sim/runner"
	"github.com/ron-network/ron/sim/scenario"
)

// parityScenario runs every optional service (nodes.off: []) and the token
// workload, so the registry carries admin keys and pulls revocations as a
// rond configured with them does.
const parityScenario = `name: parity
duration: 10s
nodes: {count: 3, registry_replicas: 3, off: []}
workload:
  clients: 1
  rate: 10/s
  mix: {claim: 0.2, set: 0.5, resolve: 0.3, put: 0.5, get: 0.5, lookup: 0.1}
  tokens: {count: 2, rate: 10/s, revoke_at: 5s}
`

// TestCompositionParity builds each node of a three-node cluster through
// the simulator's path (sim/runner, as a run composes it) and through
// rond's (io/runtime.NodeSpec, as cmd/rond fills it from the same facts:
// key, peers, replicas, admin keys, revocation pull interval, R and W),
// and requires the same services, in the same order, of the same types,
// with the same configurations. The only fields allowed to differ are the
// simulator's own, listed in worldOnly.
func TestCompositionParity(t *testing.T) {
	scn, err := scenario.Parse("parity.yaml", []byte(parityScenario))
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]ed25519.PrivateKey, 3)
	ids := make([]proto.NodeID, len(keys))
	for i := range keys {
		keys[i] = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize))
		ids[i] = proto.NodeIDFromPublicKey(keys[i].Public().(ed25519.PublicKey))
	}
	opts := runner.Options{Seed: 7}
	for i := range keys {
		simDesc := runner.DescribeNode(scn, opts, keys, i)
		spec := runtime.NodeSpec{Key: keys[i], Peers: ids, Replicas: ids,
			AdminKeys: simDesc.Registry.AdminKeys, RevocationPullInterval: simDesc.Registry.RevocationPullInterval,
			StorageReplicas: runner.StorageReplicas, WriteQuorum: runner.StorageWriteQuorum}
		simPlan, rondPlan := stack.Plan(simDesc), stack.Plan(spec.Describe())
		if len(simPlan) != len(rondPlan) {
			t.Fatalf("node %d: the simulator plans %v, rond %v", i, names(simPlan), names(rondPlan))
		}
		for k := range simPlan {
			a, b := simPlan[k], rondPlan[k]
			if a.Name != b.Name || !reflect.DeepEqual(worldOnly(a.Config), worldOnly(b.Config)) {
				t.Errorf("node %d, service %d: simulator %s %+v\n rond %s %+v", i, k, a.Name, a.Config, b.Name, b.Config)
			}
		}
		simNode := runner.ComposeNode(scn, opts, keys, i, envtest.New(ids[i], 1))
		rondNode := spec.NewNode(envtest.New(ids[i], 1))
		compareNodes(t, i, simNode, rondNode)
	}
}

func names(plan []stack.Part) []string {
	out := make([]string, len(plan))
	for i, p := range plan {
		out[i] = p.Name
	}
	return out
}

// compareNodes requires the built nodes to hold the same services in the
// same order, of the same types.
func compareNodes(t *testing.T, i int, simNode, rondNode *node.Node) {
	t.Helper()
	simNames, rondNames := simNode.ServiceNames(), rondNode.ServiceNames()
	if !slices.Equal(simNames, rondNames) {
		t.Fatalf("node %d: the simulator composes %v, rond %v", i, simNames, rondNames)
	}
	for _, name := range simNames {
		a, b := simNode.Service(name), rondNode.Service(name)
		if ta, tb := reflect.TypeOf(a), reflect.TypeOf(b); ta != tb && !(name == "dht" && stack.DHTOf(simNode) != nil && stack.DHTOf(rondNode) != nil) {
			t.Errorf("node %d: service %s is a %v in the simulator, a %v in rond", i, name, ta, tb)
		}
	}
}

// worldOnly blanks what is the simulator's own, by design: deliberate bugs,
// the signature caches shared by the nodes of one process, the DHT's
// member allow-list (rond's; the simulator's DHT is open), drawn DHT
// bootstrap contacts and staggered joins (rond
// bootstraps from its configured peers), and the token workload's key
// source (rond's gateway verifies with its keyring and asks authz only for
// revocations).
func worldOnly(cfg any) any {
	switch c := cfg.(type) {
	case registry.Config:
		c.Bug, c.Signatures = registry.Bug{}, nil
		c.Failed = nil // the simulator's observer of replica failures (quorum.go); nil in rond
		// Both worlds list every node (rond's closed membership is the
		// same three); the order is not the registry's business.
		c.Members = slices.Clone(c.Members)
		slices.SortFunc(c.Members, proto.NodeID.Compare)
		return c
	case overlay.Config:
		c.Bug, c.Signatures = overlay.Bug{}, nil
		// Both worlds list every node (rond's closed membership is the
		// same three); the order is not the overlay's business.
		c.Members = slices.Clone(c.Members)
		slices.SortFunc(c.Members, proto.NodeID.Compare)
		return c
	case storage.Config:
		// Both worlds place on a static membership (rond's closed one is
		// self, replicas, peers and members: here all three nodes); its
		// order is placement's business (it sorts by distance).
		c.Members = slices.Clone(c.Members)
		slices.SortFunc(c.Members, proto.NodeID.Compare)
		c.BugServeUnverified, c.BugAckBeforeSync = false, false
		c.CorruptionFrom = nil // the simulator's observer of corruption sources; nil in rond
		return c
	case authz.Config:
		c.Keys = nil
		return c
	case stack.DHTPart:
		// rond's DHT learns only its members; the simulator's runs open
		// (its DHT-only scale scenarios have no static membership).
		c.Config.Bootstrap, c.Config.Members, c.JoinAt = nil, nil, 0
		return c
	}
	return cfg
}
