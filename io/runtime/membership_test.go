package runtime

import (
	"crypto/ed25519"
	"slices"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

func specKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = b
	return ed25519.NewKeyFromSeed(seed)
}

func specID(k ed25519.PrivateKey) proto.NodeID {
	return proto.NodeIDFromPublicKey(k.Public().(ed25519.PublicKey))
}

// TestMembership: a node with peers runs a closed membership, self, its
// replicas, its peers and its members, once each and sorted, given to
// both storage (placement, and whom it serves) and the DHT (whom it
// learns and serves); R is bounded by the members. A node alone and a
// node on an open network have none (storage places through the open
// DHT, as before).
func TestMembership(t *testing.T) {
	self, p1, p2, r1, m1 := specKey(1), specKey(2), specKey(3), specKey(4), specKey(5)
	spec := NodeSpec{Key: self, Peers: []proto.NodeID{specID(p1), specID(p2), specID(self)},
		Replicas: []proto.NodeID{specID(r1), specID(p1)}, Members: []proto.NodeID{specID(m1), specID(p2)}}
	want := []proto.NodeID{specID(self), specID(p1), specID(p2), specID(r1), specID(m1)}
	slices.SortFunc(want, proto.NodeID.Compare)
	d := spec.Describe()
	if !slices.Equal(d.Storage.Members, want) || !slices.Equal(d.DHT.Members, want) {
		t.Fatalf("members: storage %v, dht %v; want %v", d.Storage.Members, d.DHT.Members, want)
	}
	if d.Storage.Replicas != 3 || d.Storage.WriteQuorum != 2 {
		t.Fatalf("R=%d W=%d, want 3 and 2", d.Storage.Replicas, d.Storage.WriteQuorum)
	}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}

	pair := NodeSpec{Key: self, Peers: []proto.NodeID{specID(p1)}}
	if d := pair.Describe(); len(d.Storage.Members) != 2 || d.Storage.Replicas != 2 {
		t.Fatalf("two nodes: members %v, R=%d; want both, R=2", d.Storage.Members, d.Storage.Replicas)
	}
	open := spec
	open.OpenNetwork = true
	if d := open.Describe(); d.Storage.Members != nil || d.DHT.Members != nil {
		t.Fatalf("open network: members %v / %v, want none", d.Storage.Members, d.DHT.Members)
	}
	alone := NodeSpec{Key: self, Replicas: []proto.NodeID{specID(self)}}
	if d := alone.Describe(); d.Storage.Members != nil || d.DHT.Members != nil || d.Storage.Replicas != 1 {
		t.Fatalf("a node alone: members %v / %v, R=%d; want none, R=1", d.Storage.Members, d.DHT.Members, d.Storage.Replicas)
	}
	closed := alone
	closed.ClosedAlone = true
	if d := closed.Describe(); !slices.Equal(d.Storage.Members, []proto.NodeID{specID(self)}) ||
		!slices.Equal(d.DHT.Members, []proto.NodeID{specID(self)}) || d.Storage.Replicas != 1 || d.Storage.WriteQuorum != 1 {
		t.Fatalf("a node alone, closed: members %v / %v, R=%d W=%d; want itself, R=W=1",
			d.Storage.Members, d.DHT.Members, d.Storage.Replicas, d.Storage.WriteQuorum)
	}
	if err := closed.Validate(); err != nil {
		t.Fatal(err)
	}
}
