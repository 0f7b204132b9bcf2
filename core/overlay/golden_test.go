package overlay

import (
	"bytes"
	"testing"

	"github.com/ron-network/ron/internal/golden"

	"github.com/ron-network/ron/core/proto/oap"
)

// goldenBytes is golden.Bytes: testdata/golden/name.hex, rewritten from
// encoded under -golden-rewrite.
func goldenBytes(t *testing.T, name string, encoded []byte) []byte {
	t.Helper()
	return golden.Bytes(t, name, encoded)
}

// goldenNonce is a fixed HELLO nonce (a real one is drawn from env.Rand).
func goldenNonce(b byte) [NonceBytes]byte {
	var n [NonceBytes]byte
	for i := range n {
		n[i] = b + byte(i)
	}
	return n
}

// TestGoldenHello: a HELLO request and its reply, as whole OAP frames,
// decode, verify, and are written back byte for byte by the encoder from
// the decoded fields (ed25519 signatures are deterministic); the encoder
// still writes the goldens. The user agent is part of the payload, so a
// UserAgent bump means regenerating these with -golden-rewrite.
func TestGoldenHello(t *testing.T) {
	reqNonce, repNonce := goldenNonce(0x10), goldenNonce(0x80)
	cases := []struct {
		name       string
		from, to   string
		flags      uint16
		corr       uint64
		nonce      [NonceBytes]byte
		peerNonce  []byte
		wantFields func(h *hello) bool
	}{
		{name: "overlay-hello-request", from: "golden-a", to: "golden-b", flags: oap.FlagREQ, corr: 1,
			nonce: reqNonce, wantFields: func(h *hello) bool { return h.maxFrame == 0 && len(h.peerNonce) == 0 }},
		{name: "overlay-hello-reply", from: "golden-b", to: "golden-a", flags: oap.FlagRESP, corr: 1,
			nonce: repNonce, peerNonce: reqNonce[:], wantFields: func(h *hello) bool {
				return h.maxFrame == oap.FrameBytesMax && h.maxInflight == MaxInflight && h.flagsSupported == 0xff
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := keyFor(c.from)
			self, peer := idOf(key), idOf(keyFor(c.to))
			enc := frame(oap.ProtoHello, c.flags, c.corr, signHello(nil, key, self, peer, c.nonce, c.peerNonce))
			want := goldenBytes(t, c.name, enc)
			f, err := oap.Decode(want)
			if err != nil {
				t.Fatalf("golden frame does not decode: %v", err)
			}
			h, err := decodeHello(f.Payload)
			if err != nil {
				t.Fatalf("golden HELLO does not decode: %v", err)
			}
			if err := verifyHello(nil, &h, self, peer, c.peerNonce); err != nil {
				t.Fatalf("golden HELLO does not verify: %v", err)
			}
			if f.AppProto != oap.ProtoHello || f.Flags != c.flags || h.ua != UserAgent || !c.wantFields(&h) {
				t.Fatalf("golden decodes to proto %d flags %#x ua %q %+v", f.AppProto, f.Flags, h.ua, h)
			}
			again := frame(f.AppProto, f.Flags, f.CorrID, signHello(nil, key, h.id, h.to, h.nonce, h.peerNonce))
			if !bytes.Equal(again, want) {
				t.Fatalf("golden re-encodes differently:\n got %x\nwant %x", again, want)
			}
			if !bytes.Equal(enc, want) {
				t.Fatalf("the encoder drifted from the golden:\n got %x\nwant %x", enc, want)
			}
		})
	}
}

// TestGoldenOverlayMessages: every overlay message kind (ping, pong), as a
// whole OAP frame, decodes and re-encodes byte for byte, and the encoder
// still writes the golden.
func TestGoldenOverlayMessages(t *testing.T) {
	cases := []struct {
		name  string
		flags uint16
		corr  uint64
		m     message
	}{
		{"overlay-ping", oap.FlagREQ, 42, message{kind: kindPing, seq: 7}},
		{"overlay-pong", oap.FlagRESP, 42, message{kind: kindPong, seq: 7, held: 1_500_000}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc := frame(oap.ProtoOverlay, c.flags, c.corr, c.m.append(nil))
			want := goldenBytes(t, c.name, enc)
			f, err := oap.Decode(want)
			if err != nil {
				t.Fatalf("golden frame does not decode: %v", err)
			}
			m, err := decodeMessage(f.Flags, f.Payload)
			if err != nil {
				t.Fatalf("golden message does not decode: %v", err)
			}
			if f.AppProto != oap.ProtoOverlay || f.CorrID != c.corr || m != c.m {
				t.Fatalf("golden decodes to proto %d corr %d %+v, want %+v", f.AppProto, f.CorrID, m, c.m)
			}
			if again := frame(f.AppProto, f.Flags, f.CorrID, m.append(nil)); !bytes.Equal(again, want) {
				t.Fatalf("golden re-encodes differently:\n got %x\nwant %x", again, want)
			}
			if !bytes.Equal(enc, want) {
				t.Fatalf("the encoder drifted from the golden:\n got %x\nwant %x", enc, want)
			}
		})
	}
}
