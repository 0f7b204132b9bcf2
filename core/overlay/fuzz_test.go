package overlay

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto/oap"
)

// FuzzDecodeHello: the HELLO decoder never panics, every rejection is a
// *HandshakeError labelled malformed, and an accepted HELLO re-encodes to a
// payload that decodes to the same value.
func FuzzDecodeHello(f *testing.F) {
	a, b := keyFor("a"), keyFor("b")
	var n [NonceBytes]byte
	f.Add(signHello(nil, a, idOf(a), idOf(b), n, nil))
	f.Add(signHello(nil, b, idOf(b), idOf(a), n, n[:]))
	f.Add([]byte(`{"ua":"x"}`))
	f.Add([]byte(`{"ua":"ron/0.1","versions":[1],"extra":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := decodeHello(data)
		if err != nil {
			var he *HandshakeError
			if !errors.As(err, &he) || he.Reason != FailMalformed || !errors.Is(err, ErrHandshake) {
				t.Fatalf("rejection %v is not a malformed HandshakeError", err)
			}
			return
		}
		_ = verifyHello(nil, &h, idOf(a), idOf(b), nil) // must not panic
		again, err := decodeHello(encodeHello(&h))
		if err != nil {
			t.Fatalf("re-encoded HELLO rejected: %v", err)
		}
		if !sameHello(&h, &again) {
			t.Fatalf("round trip changed the HELLO: %+v != %+v", h, again)
		}
	})
}

// encodeHello is the inverse of decodeHello, for the round-trip check.
func encodeHello(h *hello) []byte {
	w := helloJSON{
		UA: h.ua, Versions: h.versions, MaxFrame: h.maxFrame, MaxInflight: h.maxInflight,
		FlagsSupported: h.flagsSupported, ID: h.id.String(), To: h.to.String(),
		Pub: hex.EncodeToString(h.pub), Nonce: hex.EncodeToString(h.nonce[:]),
		PeerNonce: hex.EncodeToString(h.peerNonce), Sig: hex.EncodeToString(h.sig),
	}
	b, err := json.Marshal(&w)
	if err != nil {
		panic(err)
	}
	return b
}

func sameHello(x, y *hello) bool {
	return x.ua == y.ua && slices.Equal(x.versions, y.versions) && x.maxFrame == y.maxFrame &&
		x.maxInflight == y.maxInflight && x.flagsSupported == y.flagsSupported && x.id == y.id &&
		x.to == y.to && bytes.Equal(x.pub, y.pub) && x.nonce == y.nonce &&
		bytes.Equal(x.peerNonce, y.peerNonce) && bytes.Equal(x.sig, y.sig)
}

// FuzzDecodeMessage: the overlay payload decoder never panics and accepts
// only canonical encodings (re-encoding gives the same bytes).
func FuzzDecodeMessage(f *testing.F) {
	f.Add(oap.FlagREQ, message{kind: kindPing, seq: 1}.append(nil))
	f.Add(oap.FlagRESP, message{kind: kindPong, seq: 300}.append(nil))
	f.Add(oap.FlagRESP, []byte{1, 0})
	f.Add(oap.FlagREQ, []byte{1, 0x80, 0})
	f.Fuzz(func(t *testing.T, flags uint16, data []byte) {
		m, err := decodeMessage(flags, data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if got := m.append(nil); !bytes.Equal(got, data) {
			t.Fatalf("accepted %x, re-encodes to %x", data, got)
		}
	})
}

// FuzzHandleFrame feeds arbitrary frames to an Active overlay, as its peer
// and as a stranger: no panic, and the invariants hold after each.
func FuzzHandleFrame(f *testing.F) {
	b := keyFor("b")
	var n [NonceBytes]byte
	f.Add(pingFrame(1, 1))
	f.Add(pongFrame(2))
	f.Add(frame(oap.ProtoHello, oap.FlagREQ, 3, signHello(nil, b, idOf(b), idOf(keyFor("a")), n, nil)))
	f.Add(frame(oap.ProtoHello, oap.FlagRESP, 3, signHello(nil, b, idOf(b), idOf(keyFor("a")), n, n[:])))
	f.Add(frame(oap.ProtoOverlay, 0, 0, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSolo(t, nil)
		envtest.Step(s.o, env.Start{})
		envtest.Step(s.o, env.Message{From: s.peer, Frame: s.validReply()})
		envtest.Step(s.o, env.Message{From: s.peer, Frame: bytes.Clone(data)})
		s.o.CheckInvariants()
		envtest.Step(s.o, env.Message{From: idOf(keyFor("z")), Frame: bytes.Clone(data)})
		s.o.CheckInvariants()
		if len(s.o.Sessions()) > 2 {
			t.Fatalf("%d sessions", len(s.o.Sessions()))
		}
	})
}
