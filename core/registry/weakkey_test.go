package registry

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// TestClaimRefusesASmallOrderOwner: under the identity point as owner key
// the signature R = identity, S = 0 verifies for every Set, so anyone
// could move a name claimed with it; such a claim is refused at ingress,
// with an error saying why.
func TestClaimRefusesASmallOrderOwner(t *testing.T) {
	identity := make([]byte, ed25519.PublicKeySize)
	identity[0] = 1
	forged := make([]byte, ed25519.SignatureSize)
	forged[0] = 1
	set := op{kind: opSet, name: "victim.org", target: proto.AddrOf([]byte("evil")), seq: 1}
	copy(set.owner[:], identity)
	copy(set.sig[:], forged)
	if !setSignatureOK(&set) {
		t.Fatalf("premise: the forged Set under the identity key does not verify")
	}
	o, c, reason := opFromRequest(Claim{Name: "victim.org", Owner: identity})
	if c != codeBadSignature || reason != reasonBadKey {
		t.Fatalf("claim with the identity point as owner: code %d reason %q, want bad_key", c, reason)
	}
	err := resultErr(&o, c, Record{})
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "small order") {
		t.Fatalf("refusal error %v, want ErrBadSignature naming the owner key", err)
	}
	good := testKey(7)
	if _, c, reason := opFromRequest(Claim{Name: "victim.org", Owner: good.Public().(ed25519.PublicKey)}); c != codeOK {
		t.Fatalf("claim with a real key: code %d reason %q", c, reason)
	}
}

// A Set under a weak owner key is refused at ingress: it applies only
// under its name's owner key, so its name was claimed with that key
// (before claims checked it) and anyone can forge its Sets.
func TestSetRefusesASmallOrderOwner(t *testing.T) {
	identity := make([]byte, ed25519.PublicKeySize)
	identity[0] = 1
	forged := make([]byte, ed25519.SignatureSize)
	forged[0] = 1
	set := Set{Name: "victim.org", Target: proto.AddrOf([]byte("evil")), Seq: 1, Owner: identity, Sig: forged}
	if _, c, reason := opFromRequest(set); c != codeBadSignature || reason != reasonBadKey {
		t.Fatalf("set under the identity point: code %d reason %q, want bad_key", c, reason)
	}
	alice := newOwner(1)
	if _, c, reason := opFromRequest(alice.set("victim.org", proto.AddrOf([]byte("v")), 1)); c != codeOK {
		t.Fatalf("set under a real key: code %d reason %q", c, reason)
	}
}

// A Claim or Set forwarded by a non-replica (whose own ingress may not
// have checked it: an older build, a faulty member) has its owner key
// checked by the replica that serves it, as at ingress: refused with
// bad_key, and the name is not claimed.
func TestForwardFromNonReplicaRefusesASmallOrderOwner(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	identity := make([]byte, ed25519.PublicKeySize)
	identity[0] = 1
	claim := op{kind: opClaim, name: "weak.org"}
	copy(claim.owner[:], identity)
	set := op{kind: opSet, name: "weak.org", target: proto.AddrOf([]byte("evil")), seq: 1}
	copy(set.owner[:], identity)
	set.sig[0] = 1 // R = identity, S = 0: verifies under the identity key
	badKey := func() float64 { return c.metric(l, MetricRejects, reasonBadKey) }
	for i, o := range []op{claim, set} {
		before := badKey()
		f := forward{from: origin{node: c.nodes[3].id, session: 1, seq: uint64(100 + i)}, op: o}
		frame := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoRegistry, CorrID: f.from.seq},
			Payload: encodeForward(&f, c.nodes[l].reg.m.clusterVersion)})
		c.nodes[l].node.Step(env.Message{From: c.nodes[3].id, Frame: frame})
		c.run(500 * time.Millisecond)
		if got := badKey() - before; got != 1 {
			t.Fatalf("forwarded op %d: %v bad_key rejects, want 1", o.kind, got)
		}
	}
	if r := c.do(l, Resolve{Name: "weak.org"}); r.Record.Found {
		t.Fatalf("the name was claimed with the identity key: %+v", r.Record)
	}
}

// weakDescriptor is a node descriptor under the identity point: its id
// is BLAKE3 of that key and its signature R = identity, S = 0, which
// ed25519.Verify accepts for any addresses, so anyone can make one.
func weakDescriptor(addrs []string) NodeDescriptor {
	identity := make(ed25519.PublicKey, ed25519.PublicKeySize)
	identity[0] = 1
	forged := make([]byte, ed25519.SignatureSize)
	forged[0] = 1
	return NodeDescriptor{NodeID: proto.NodeIDFromPublicKey(identity), PublicKey: identity, Addrs: addrs, Seq: 1, Sig: forged}
}

// A node descriptor under a small-order key is refused at ingress
// (bad_key, the error naming the descriptor's key), while one that is
// already an entry in a log still passes the checks apply runs again
// (validateOp), so a replay applies it as before.
func TestDescribeRefusesASmallOrderKey(t *testing.T) {
	d := weakDescriptor([]string{"203.0.113.9:4100"})
	o, c, reason := opFromRequest(Describe{Descriptor: d})
	if c != codeBadSignature || reason != reasonBadKey {
		t.Fatalf("descriptor under the identity point: code %d reason %q, want bad_key", c, reason)
	}
	if err := ingressErr(&o, c, reason); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "node descriptor's public key") {
		t.Fatalf("refusal error %v, want ErrBadSignature naming the node descriptor's key", err)
	}
	if c, reason := validateOp(&o); c != codeOK {
		t.Fatalf("apply's check of a logged weak descriptor: code %d reason %q, want unchanged (ok)", c, reason)
	}
	if _, c, reason := opFromRequest(Describe{Descriptor: signedDescriptor(testKey(3), []string{"127.0.0.1:4100"}, 1)}); c != codeOK {
		t.Fatalf("descriptor under a real key: code %d reason %q", c, reason)
	}
}

// Through a cluster: a weak descriptor submitted at a replica or
// forwarded by a non-replica (an older build's ingress) is refused with
// bad_key and never reaches the state.
func TestClusterRefusesASmallOrderDescriptor(t *testing.T) {
	c := newCluster(t, replicas3, 1, Config{})
	l := c.leader(2 * time.Second)
	d := weakDescriptor([]string{"203.0.113.9:4100"})
	badKey := func() float64 { return c.metric(l, MetricRejects, reasonBadKey) }
	before := badKey()
	if res := c.do(l, Describe{Descriptor: d}); !errors.Is(res.Err, ErrBadSignature) || !strings.Contains(res.Err.Error(), "small order") {
		t.Fatalf("describe under the identity point at the leader: %v, want ErrBadSignature naming the key", res.Err)
	}
	o := op{kind: opDescribe, desc: descriptor{node: d.NodeID, addrs: d.Addrs, seq: d.Seq}}
	copy(o.desc.pub[:], d.PublicKey)
	copy(o.desc.sig[:], d.Sig)
	f := forward{from: origin{node: c.nodes[3].id, session: 1, seq: 100}, op: o}
	frame := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: oap.FlagREQ, AppProto: oap.ProtoRegistry, CorrID: f.from.seq},
		Payload: encodeForward(&f, c.nodes[l].reg.m.clusterVersion)})
	c.nodes[l].node.Step(env.Message{From: c.nodes[3].id, Frame: frame})
	c.run(500 * time.Millisecond)
	if got := badKey() - before; got != 2 {
		t.Fatalf("%v bad_key rejects, want 2 (the request, the forward)", got)
	}
	for i := range replicas3 {
		if _, ok := c.nodes[i].reg.m.descs[d.NodeID]; ok {
			t.Fatalf("replica %d holds the weak descriptor", i)
		}
	}
}

// A descriptor under a usable key whose node id is not BLAKE3 of it is
// refused as bad_key too, and its error says which part is wrong: the id,
// not the key (review2 saw "small order or non-canonical" for it).
func TestDescribeIDMismatchIsNamed(t *testing.T) {
	d := signedDescriptor(testKey(3), []string{"127.0.0.1:4100"}, 1)
	d.NodeID[0] ^= 1
	o, c, reason := opFromRequest(Describe{Descriptor: d})
	if c != codeBadSignature || reason != reasonBadKey {
		t.Fatalf("descriptor with a flipped node id: code %d reason %q, want bad_key", c, reason)
	}
	err := ingressErr(&o, c, reason)
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "node id is not BLAKE3 of its public key") {
		t.Fatalf("refusal error %v, want ErrBadSignature naming the node id", err)
	}
	if strings.Contains(err.Error(), "small order") {
		t.Fatalf("refusal error %v blames a usable key", err)
	}
}
