package registry

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/proto"
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
	set := Set{Name: "victim.org", Target: proto.AddrOf([]byte("evil")), Seq: 1, Owner: identity, Sig: forged}
	if o, c, _ := opFromRequest(set); c != codeOK || !setSignatureOK(&o) {
		t.Fatalf("premise: the forged Set under the identity key does not verify (code %d)", c)
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
