package registry

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

// goldenSnapshotMachine builds a state with one of everything a snapshot
// carries: names (claimed and set), a node descriptor, a client session
// with cached results, and a revocation.
func goldenSnapshotMachine(t *testing.T) *machine {
	t.Helper()
	admin := adminKey(0)
	m := adminMachine(admin)
	alice := newOwner(1)
	from := func(seq uint64) origin { return origin{node: proto.NodeID{7}, session: 5, seq: seq} }
	claim, c, reason := opFromRequest(Claim{Name: "alice.org", Owner: alice.pub})
	if c != codeOK {
		t.Fatalf("claim: %v %s", c, reason)
	}
	set, c, reason := opFromRequest(alice.set("alice.org", proto.AddrOf([]byte("site v1")), 1))
	if c != codeOK {
		t.Fatalf("set: %v %s", c, reason)
	}
	desc, c, reason := opFromRequest(Describe{Descriptor: signedDescriptor(testKey(3), []string{"127.0.0.1:4100"}, 2)})
	if c != codeOK {
		t.Fatalf("describe: %v %s", c, reason)
	}
	for i, o := range []op{claim, set, desc} {
		seq := uint64(i + 1)
		if ae := m.apply(seq, 1, encodeEntry(&entry{from: from(seq), floor: 1, op: o})); ae.code != codeOK {
			t.Fatalf("entry %d: %v %s", seq, ae.code, ae.reason)
		}
	}
	if ae := m.apply(4, 2, revokeEntry(1, revokeBody(admin, tokenID(6), 9000), 100)); ae.code != codeOK {
		t.Fatalf("revoke: %v %s", ae.code, ae.reason)
	}
	m.checkInvariants()
	return m
}

// TestGoldenRegistrySnapshot: a signed registry snapshot (as stored on
// disk and shipped to a lagging replica) opens, verifies, decodes and is
// written back byte for byte; and the encoder still writes the golden.
func TestGoldenRegistrySnapshot(t *testing.T) {
	key := testKey(1)
	enc := signSnapshot(key, goldenSnapshotMachine(t).encode(), VersionBase)
	want := goldenBytes(t, "registry-snapshot", enc)
	pub := key.Public().(ed25519.PublicKey)
	m, err := openSnapshot(want, func(k ed25519.PublicKey) bool { return k.Equal(pub) }, VersionBase)
	if err != nil {
		t.Fatalf("golden does not open: %v", err)
	}
	if m.applied != 4 || m.appliedTerm != 2 || len(m.names) != 1 || len(m.descs) != 1 || len(m.revs) != 1 {
		t.Fatalf("golden decodes to applied %d term %d, %d names, %d descriptors, %d revocations",
			m.applied, m.appliedTerm, len(m.names), len(m.descs), len(m.revs))
	}
	if again := signSnapshot(key, m.encode(), m.clusterVersion); !bytes.Equal(again, want) {
		t.Fatalf("golden re-encodes differently:\n got %x\nwant %x", again, want)
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("the encoder drifted from the golden:\n got %x\nwant %x", enc, want)
	}
}
