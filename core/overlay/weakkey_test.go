package overlay

import (
	"crypto/ed25519"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// TestHelloRefusesASmallOrderKey: a HELLO request whose pub is the
// identity point, with id BLAKE3 of it and the signature R = identity,
// S = 0 that ed25519.Verify accepts for any message. Nobody holds that
// key, so without the check anyone could be that node; it is counted as
// weak_key and neither answered nor admitted.
func TestHelloRefusesASmallOrderKey(t *testing.T) {
	s := newSolo(t, nil)
	s.handle(env.Start{})
	identity := make(ed25519.PublicKey, ed25519.PublicKeySize)
	identity[0] = 1
	forged := make([]byte, ed25519.SignatureSize)
	forged[0] = 1
	weak := proto.NodeIDFromPublicKey(identity)
	nonce := []byte("0123456789abcdef")
	if !ed25519.Verify(identity, helloSigInput(weak, s.o.Self(), nonce, nil), forged) {
		t.Fatalf("premise: the forged HELLO signature does not verify under the identity point")
	}
	sentBefore := len(s.e.Sent)
	s.handle(env.Message{From: weak, Frame: frame(oap.ProtoHello, oap.FlagREQ, 5, craftHelloSig(identity, weak, s.o.Self(), nonce, nil, forged))})
	if got := s.value(MetricHandshakeFails, FailWeakKey); got != 1 {
		t.Errorf("transport_handshake_fail_total{weak_key} = %v, want 1", got)
	}
	if got := s.value(MetricHandshakeFails, FailBadSignature); got != 0 {
		t.Errorf("bad_signature = %v, want 0 (the key is refused first)", got)
	}
	if len(s.e.Sent) != sentBefore || s.o.State(weak) != StateClosed || len(s.o.Sessions()) != 1 {
		t.Fatalf("HELLO under the identity point was answered or admitted: %d frames sent, sessions %v", len(s.e.Sent)-sentBefore, s.o.Sessions())
	}
}
