package registry

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/ron-network/ron/core/proto"
	"lukechampine.com/blake3"
	"pgregory.net/rapid"
)

// A cached answer must be the answer ed25519.Verify gives for the same
// input: valid signatures, flipped bits, another owner's key, another
// message under the same signature, asked once or many times. An input
// asked again at once is answered from the cache.
func TestSignatureCacheAgreesWithVerify(t *testing.T) {
	owners := []owner{newOwner(1), newOwner(2), newOwner(3)}
	rapid.Check(t, func(t *rapid.T) {
		c := NewSignatureCache()
		for range rapid.IntRange(1, 40).Draw(t, "ops") {
			signer := owners[rapid.IntRange(0, len(owners)-1).Draw(t, "signer")]
			claimed := owners[rapid.IntRange(0, len(owners)-1).Draw(t, "claimed")]
			name := rapid.SampledFrom([]string{"a.org", "b.org"}).Draw(t, "name")
			seq := rapid.Uint64Range(1, 3).Draw(t, "seq")
			set := signer.set(name, proto.Addr{byte(seq)}, seq)
			o, _, _ := opFromRequest(set) // a valid request; the fields below may break it
			copy(o.owner[:], claimed.pub)
			if rapid.Bool().Draw(t, "flip") {
				o.sig[rapid.IntRange(0, len(o.sig)-1).Draw(t, "byte")] ^= 1
			}
			o.seq += rapid.Uint64Range(0, 1).Draw(t, "seqDelta")
			want := setSignatureOK(&o)
			for k := range rapid.IntRange(1, 3).Draw(t, "repeats") {
				hits, misses := c.Stats()
				if got := c.setOK(&o); got != want {
					t.Fatalf("cache says %v, Verify says %v", got, want)
				}
				afterHits, afterMisses := c.Stats()
				if afterHits+afterMisses != hits+misses+1 || (k > 0 && afterHits != hits+1) {
					t.Fatalf("lookup %d of one input: hits %d -> %d, misses %d -> %d", k+1, hits, afterHits, misses, afterMisses)
				}
			}
		}
	})
}

// The cache holds SignatureCacheEntriesMax results and forgets the oldest
// first. Signatures with a non-canonical scalar are rejected by Verify
// without curve arithmetic, which keeps filling the cache cheap.
func TestSignatureCacheEvictsOldestFirst(t *testing.T) {
	c := NewSignatureCache()
	opN := func(i int) *op {
		o := &op{kind: opSet, name: fmt.Sprintf("n%d.org", i), seq: 1}
		for k := range o.sig {
			o.sig[k] = 0xff
		}
		o.sig[0], o.sig[1] = byte(i), byte(i>>8) // a key (owner, signature) of its own
		return o
	}
	const extra = 3
	for i := 0; i < SignatureCacheEntriesMax+extra; i++ {
		if c.setOK(opN(i)) {
			t.Fatalf("op %d: an invalid signature verified", i)
		}
	}
	if c.sigs.Len() != SignatureCacheEntriesMax {
		t.Fatalf("%d results cached, want %d", c.sigs.Len(), SignatureCacheEntriesMax)
	}
	lookup := func(i int) (hit bool) {
		hits, _ := c.Stats()
		c.setOK(opN(i))
		after, _ := c.Stats()
		return after > hits
	}
	// The oldest survivors and the newest are hits; then the evicted ones
	// miss (each re-insert evicts the next oldest, not yet looked up).
	for _, i := range []int{extra, extra + 1, SignatureCacheEntriesMax + extra - 1} {
		if !lookup(i) {
			t.Fatalf("op %d was evicted; only the %d oldest should be", i, extra)
		}
	}
	for i := 0; i < extra; i++ {
		if lookup(i) {
			t.Fatalf("op %d is still cached; the oldest should go first", i)
		}
	}
}

// Sharing one cache among every node of a cluster must not change a
// single reply, through good and bad signatures, rejected sets and a
// crashed replica replaying its log at restart (awaitConverged checks the
// replicas agree). Raft's election jitter comes from crypto/rand here, so
// the leader, and with it terms and state hashes, may differ between the
// two runs; the replies may not. The simulator's trace hash, identical
// with and without the cache, is the whole-cluster check.
func TestSharedSignatureCacheChangesNoOutcome(t *testing.T) {
	plain := runSignatureScript(t, Config{})
	shared := NewSignatureCache()
	cached := runSignatureScript(t, Config{Signatures: shared})
	if plain != cached {
		t.Fatalf("outcomes differ with a shared cache:\n%s\nvs\n%s", plain, cached)
	}
	if hits, _ := shared.Stats(); hits == 0 {
		t.Fatalf("the shared cache was never hit: the test does not exercise it")
	}
}

func runSignatureScript(t *testing.T, cfg Config) string {
	c := newCluster(t, replicas3, 1, cfg)
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	alice, bob := newOwner(1), newOwner(2)
	var out bytes.Buffer
	record := func(step string, r Result) {
		fmt.Fprintf(&out, "%s: err=%v rec=%+v\n", step, r.Err, r.Record)
	}
	record("claim", c.do(3, Claim{Name: "s.org", Owner: alice.pub}))
	record("set1", c.do(3, alice.set("s.org", proto.AddrOf([]byte("1")), 1)))
	bad := alice.set("s.org", proto.AddrOf([]byte("2")), 2)
	bad.Sig[5] ^= 0x40
	record("badsig", c.do(l, bad))
	record("notowner", c.do(3, bob.set("s.org", proto.AddrOf([]byte("3")), 2)))
	record("stale", c.do(f, alice.set("s.org", proto.AddrOf([]byte("4")), 1)))
	c.crash(f)
	record("set2", c.do(3, alice.set("s.org", proto.AddrOf([]byte("5")), 2)))
	c.restart(f)
	c.awaitConverged(3 * time.Second)
	record("resolve", c.do(3, Resolve{Name: "s.org"}))
	rejects := 0.0
	for i := range c.nodes {
		rejects += c.metric(i, MetricRejects, reasonBadSignature)
	}
	fmt.Fprintf(&out, "bad_signature rejects: %v\n", rejects)
	return out.String()
}

// extendChain hashes one contiguous copy of its input; the chain is
// defined over the stream prev || index || term || data, so both must
// give the same digest at every size (one block, one chunk, several).
func TestExtendChainMatchesStreamingDefinition(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine()
		prev := m.chain
		for range rapid.IntRange(1, 4).Draw(t, "entries") {
			data := rapid.SliceOfN(rapid.Byte(), 0, 3000).Draw(t, "data")
			index, term := rapid.Uint64().Draw(t, "index"), rapid.Uint64().Draw(t, "term")
			h := blake3.New(32, nil)
			h.Write(prev[:])
			var hdr [16]byte
			binary.BigEndian.PutUint64(hdr[:8], index)
			binary.BigEndian.PutUint64(hdr[8:], term)
			h.Write(hdr[:])
			h.Write(data)
			var want [32]byte
			h.Sum(want[:0])
			m.extendChain(index, term, data)
			if m.chain != want {
				t.Fatalf("%d bytes: chain %x, streaming BLAKE3 %x", len(data), m.chain, want)
			}
			prev = m.chain
		}
	})
}

// SignSet makes the signature Set needs and vouches for it, so the first
// verification is already a hit; a tampered copy of that signature is
// still verified in full and rejected. A key whose public half is not the
// one its seed derives is never vouched for, and neither is a key beyond
// SignatureCacheSignersMax; a nil cache only signs.
func TestSignSetVouchesOnlyForGoodSignatures(t *testing.T) {
	target := proto.AddrOf([]byte("t"))
	lookup := func(c *SignatureCache, key ed25519.PrivateKey, sig []byte) (ok, hit bool) {
		// opFromRequest verifies without the cache; the op is filled in
		// even when the signature is bad.
		o, _, _ := opFromRequest(Set{Name: "a.org", Target: target, Seq: 1, Owner: key.Public().(ed25519.PublicKey), Sig: sig})
		hits, _ := c.Stats()
		ok = c.setOK(&o)
		after, _ := c.Stats()
		return ok, after > hits
	}
	alice := newOwner(1)
	c := NewSignatureCache()
	sig := c.SignSet(alice.priv, "A.org", target, 1) // signs the normalised name
	if !ed25519.Verify(alice.pub, SetSigningBytes("a.org", target, 1), sig) {
		t.Fatalf("SignSet made a signature that does not verify")
	}
	if ok, hit := lookup(c, alice.priv, sig); !ok || !hit {
		t.Fatalf("vouched signature: ok %v, hit %v; want a valid hit", ok, hit)
	}
	bad := bytes.Clone(sig)
	bad[3] ^= 1
	if ok, hit := lookup(c, alice.priv, bad); ok || hit {
		t.Fatalf("tampered signature: ok %v, hit %v; want verified and rejected", ok, hit)
	}

	mismatched := bytes.Clone(alice.priv)
	copy(mismatched[ed25519.SeedSize:], newOwner(2).pub) // alice's seed, bob's public half
	sig = c.SignSet(mismatched, "a.org", target, 1)
	if ok, hit := lookup(c, mismatched, sig); ok || hit {
		t.Fatalf("signature by a mismatched key: ok %v, hit %v; want verified and rejected", ok, hit)
	}

	full := NewSignatureCache()
	for i := range SignatureCacheSignersMax {
		full.SignSet(newOwner(10+i).priv, "a.org", target, 1)
	}
	extra := newOwner(99)
	sig = full.SignSet(extra.priv, "a.org", target, 1)
	if ok, hit := lookup(full, extra.priv, sig); !ok || hit {
		t.Fatalf("key beyond SignatureCacheSignersMax: ok %v, hit %v; want verified in full and valid", ok, hit)
	}

	var none *SignatureCache
	if sig := none.SignSet(alice.priv, "a.org", target, 1); !ed25519.Verify(alice.pub, SetSigningBytes("a.org", target, 1), sig) {
		t.Fatalf("a nil cache's SignSet made a signature that does not verify")
	}
}

// A Set's signature is verified before it is proposed and never at apply
// (doc.go, "Signatures"): through a replica, one verification; through a
// non-replica, two (its ingress and the replica's onForward), however many
// replicas apply the entry. A bad signature is still rejected at ingress.
func TestSetSignatureVerifiedOnceBeforeProposal(t *testing.T) {
	cache := NewSignatureCache()
	c := newCluster(t, replicas3, 1, Config{Signatures: cache})
	l := c.leader(2 * time.Second)
	f := (l + 1) % replicas3
	alice := newOwner(1)
	if r := c.do(3, Claim{Name: "once.org", Owner: alice.pub}); r.Err != nil {
		t.Fatalf("claim: %v", r.Err)
	}
	lookups := func() uint64 { hits, misses := cache.Stats(); return hits + misses }
	for i, via := range []struct {
		node, want int
	}{{f, 1}, {3, 2}, {l, 1}} {
		before := lookups()
		if r := c.do(via.node, alice.set("once.org", proto.AddrOf([]byte{byte(i)}), uint64(i+1))); r.Err != nil {
			t.Fatalf("set %d via node %d: %v", i+1, via.node, r.Err)
		}
		c.awaitConverged(3 * time.Second)
		if got := lookups() - before; got != uint64(via.want) {
			t.Fatalf("set via node %d: %d signature verifications, want %d (none at apply)", via.node, got, via.want)
		}
	}
	bad := alice.set("once.org", proto.AddrOf([]byte("bad")), 4)
	bad.Sig[7] ^= 1
	if r := c.do(f, bad); !errIs(r.Err, ErrBadSignature) {
		t.Fatalf("bad signature via follower: %v, want ErrBadSignature", r.Err)
	}
	if r := c.do(3, Resolve{Name: "once.org"}); r.Err != nil || r.Record.Seq != 3 {
		t.Fatalf("resolve after the bad set: %+v, want seq 3", r)
	}
}
