package overlay

import (
	"crypto/ed25519"
	"testing"

	"github.com/ron-network/ron/core/proto"
)

// The cache must answer exactly as ed25519.Verify: a hit only for the
// signature its signer recorded, over the very message; everything else
// verified in full.
func TestHelloSignaturesAnswerAsVerify(t *testing.T) {
	c := NewHelloSignatures()
	a, b := keyFor("a"), keyFor("b")
	msg := []byte("hello from a")
	sig := c.Sign(a, msg)
	pubA, pubB := a.Public().(ed25519.PublicKey), b.Public().(ed25519.PublicKey)
	if !ed25519.Verify(pubA, msg, sig) {
		t.Fatal("sign did not make a valid Ed25519 signature")
	}
	if !c.Verify(pubA, msg, sig) || hits(c) != 1 {
		t.Fatalf("own signature: hits %d, want a hit", hits(c))
	}
	forged := append([]byte(nil), sig...)
	forged[3] ^= 1
	cases := []struct {
		name     string
		pub      ed25519.PublicKey
		msg, sig []byte
	}{
		{"other message", pubA, []byte("hello from b"), sig},
		{"other key", pubB, msg, sig},
		{"altered signature", pubA, msg, forged},
		{"short signature", pubA, msg, sig[:10]},
	}
	for _, k := range cases {
		if got, want := c.Verify(k.pub, k.msg, k.sig), ed25519.Verify(k.pub, k.msg, k.sig); got != want || got {
			t.Errorf("%s: verify %v, ed25519.Verify %v (want both false)", k.name, got, want)
		}
	}
	if hits(c) != 1 {
		t.Errorf("hits %d after misses, want 1", hits(c))
	}
}

// A private key whose public half is not its seed's is never vouched for,
// so its signatures are verified in full (and here fail).
func TestHelloSignaturesDoNotVouchForABadKey(t *testing.T) {
	c := NewHelloSignatures()
	bad := append(ed25519.PrivateKey(nil), keyFor("a")...)
	copy(bad[ed25519.SeedSize:], keyFor("b")[ed25519.SeedSize:])
	msg := []byte("m")
	sig := c.Sign(bad, msg)
	pub := ed25519.PublicKey(bad[ed25519.SeedSize:])
	if got, want := c.Verify(pub, msg, sig), ed25519.Verify(pub, msg, sig); got != want {
		t.Fatalf("verify %v, ed25519.Verify %v", got, want)
	}
	if hits(c) != 0 {
		t.Fatalf("a bad key's signature was answered from the cache")
	}
}

// The cache holds at most HelloSignaturesMax signatures, oldest evicted
// first; an evicted one is verified in full (and still verifies).
func TestHelloSignaturesEvictOldest(t *testing.T) {
	c := NewHelloSignatures()
	a := keyFor("a")
	pub := a.Public().(ed25519.PublicKey)
	msgs := make([][]byte, HelloSignaturesMax+1)
	sigs := make([][]byte, len(msgs))
	for i := range msgs {
		msgs[i] = []byte{byte(i), byte(i >> 8)}
		sigs[i] = c.Sign(a, msgs[i])
	}
	if c.Len() != HelloSignaturesMax {
		t.Fatalf("%d entries, want %d", c.Len(), HelloSignaturesMax)
	}
	if !c.Verify(pub, msgs[0], sigs[0]) || hits(c) != 0 {
		t.Fatalf("evicted signature: hits %d, want a full (passing) verification", hits(c))
	}
	if !c.Verify(pub, msgs[len(msgs)-1], sigs[len(msgs)-1]) || hits(c) != 1 {
		t.Fatalf("newest signature: hits %d, want 1", hits(c))
	}
}

// Two overlays sharing a cache bring a session up with the receiver's
// verification answered from it; HELLOs are the same bytes with or
// without a cache.
func TestHelloSignaturesSharedByOverlays(t *testing.T) {
	c := NewHelloSignatures()
	a, b := keyFor("a"), keyFor("b")
	var nonce [NonceBytes]byte
	nonce[0] = 7
	idA, idB := proto.NodeIDFromPublicKey(a.Public().(ed25519.PublicKey)), proto.NodeIDFromPublicKey(b.Public().(ed25519.PublicKey))
	with := signHello(c, a, idA, idB, nonce, nil)
	without := signHello(nil, a, idA, idB, nonce, nil)
	if string(with) != string(without) {
		t.Fatal("a cache changed the HELLO's bytes")
	}
	h, err := decodeHello(with)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyHello(c, &h, idA, idB, nil); err != nil || hits(c) != 1 {
		t.Fatalf("verify: %v, hits %d, want nil and 1", err, hits(c))
	}
	// Misdirected: the identity checks still run before the signature.
	if err := verifyHello(c, &h, idA, idA, nil); err == nil {
		t.Fatal("a HELLO addressed to another node verified")
	}
}

// hits is how many verifications c answered from what it holds.
func hits(c *HelloSignatures) uint64 {
	h, _ := c.Stats()
	return h
}
