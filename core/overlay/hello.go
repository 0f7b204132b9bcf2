package overlay

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
)

// ErrHandshake is wrapped by every HELLO rejection; the concrete error is a
// *HandshakeError carrying the transport_handshake_fail_total reason.
var ErrHandshake = errors.New("overlay: handshake rejected")

// HandshakeError is a rejected HELLO with its metric reason.
type HandshakeError struct {
	Reason string // one of the Fail* labels
	Detail string
}

func (e *HandshakeError) Error() string {
	return ErrHandshake.Error() + ": " + e.Reason + ": " + e.Detail
}

// Unwrap makes errors.Is(err, ErrHandshake) hold.
func (e *HandshakeError) Unwrap() error { return ErrHandshake }

func rejectHello(reason, format string, args ...any) *HandshakeError {
	return &HandshakeError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// helloJSON is the HELLO payload on the wire (ARCHITECTURE 5.1: a JSON object
// with "ua"; a reply adds max_frame, max_inflight, flags_supported and
// versions). The identity fields are RON's: id, to, pub, nonce, peer_nonce
// (replies only) and sig, all lowercase hex. encoding/json marshals struct
// fields in declaration order, so the encoding is deterministic.
type helloJSON struct {
	UA             string   `json:"ua"`
	Versions       []uint16 `json:"versions"`
	MaxFrame       uint32   `json:"max_frame,omitempty"`
	MaxInflight    uint32   `json:"max_inflight,omitempty"`
	FlagsSupported uint16   `json:"flags_supported,omitempty"`
	ID             string   `json:"id"`
	To             string   `json:"to"`
	Pub            string   `json:"pub"`
	Nonce          string   `json:"nonce"`
	PeerNonce      string   `json:"peer_nonce,omitempty"`
	Sig            string   `json:"sig"`
}

// hello is a decoded, syntactically valid HELLO. Whether it is a request or
// a reply is told by the frame's flags; a reply has a peerNonce.
type hello struct {
	ua             string
	versions       []uint16
	maxFrame       uint32
	maxInflight    uint32
	flagsSupported uint16
	id, to         proto.NodeID
	pub            ed25519.PublicKey
	nonce          [NonceBytes]byte
	peerNonce      []byte // empty in a request, NonceBytes in a reply
	sig            []byte
}

// helloSigContext separates HELLO signatures from any other use of the key.
const helloSigContext = "ron/overlay/hello/v1\x00"

// helloSigInput is what a HELLO signs: the sender's id, the receiver's id,
// the sender's nonce and, in a reply, the requester's nonce. Binding both
// ids stops a reflected or redirected HELLO; binding the requester's nonce
// makes a reply fresh, so a replayed reply cannot bring a session up.
func helloSigInput(from, to proto.NodeID, nonce, peerNonce []byte) []byte {
	b := make([]byte, 0, len(helloSigContext)+2*proto.IDBytes+2*(NonceBytes+1))
	b = append(b, helloSigContext...)
	b = append(b, from[:]...)
	b = append(b, to[:]...)
	b = wire.AppendBytes(b, nonce)
	return wire.AppendBytes(b, peerNonce)
}

// signHello builds the payload of a HELLO from the holder of key to peer.
// peerNonce is nil for a request; a reply also advertises our limits.
// sigs (nil: none) records the signature as valid (HelloSignatures).
func signHello(sigs *HelloSignatures, key ed25519.PrivateKey, self, peer proto.NodeID, nonce [NonceBytes]byte, peerNonce []byte) []byte {
	pub := key.Public().(ed25519.PublicKey)
	sig := sigs.Sign(key, helloSigInput(self, peer, nonce[:], peerNonce))
	w := helloJSON{
		UA:       UserAgent,
		Versions: []uint16{ProtocolVersion},
		ID:       self.String(),
		To:       peer.String(),
		Pub:      hex.EncodeToString(pub),
		Nonce:    hex.EncodeToString(nonce[:]),
		Sig:      hex.EncodeToString(sig),
	}
	if peerNonce != nil {
		w.MaxFrame = oap.FrameBytesMax
		w.MaxInflight = MaxInflight
		w.FlagsSupported = 0xff
		w.PeerNonce = hex.EncodeToString(peerNonce)
	}
	b, err := json.Marshal(&w)
	if err != nil || len(b) > HelloBytesMax {
		panic(fmt.Sprintf("overlay: own HELLO does not encode (%d bytes): %v", len(b), err))
	}
	return b
}

// decodeHello parses and syntactically validates a HELLO payload. Unknown
// fields and trailing bytes are rejected so that one frame has one meaning.
func decodeHello(b []byte) (hello, error) {
	var h hello
	if len(b) > HelloBytesMax {
		return h, rejectHello(FailMalformed, "%d bytes exceed %d", len(b), HelloBytesMax)
	}
	var w helloJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return h, rejectHello(FailMalformed, "json: %v", err)
	}
	if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) != 0 {
		return h, rejectHello(FailMalformed, "%d bytes after the JSON object", len(rest))
	}
	if w.UA == "" || len(w.UA) > UABytesMax {
		return h, rejectHello(FailMalformed, "ua of %d bytes, want 1..%d", len(w.UA), UABytesMax)
	}
	if len(w.Versions) == 0 || len(w.Versions) > VersionsMax {
		return h, rejectHello(FailMalformed, "%d versions, want 1..%d", len(w.Versions), VersionsMax)
	}
	h.ua, h.versions = w.UA, w.Versions
	h.maxFrame, h.maxInflight, h.flagsSupported = w.MaxFrame, w.MaxInflight, w.FlagsSupported
	if err := decodeHelloIdentity(&h, &w); err != nil {
		return h, err
	}
	return h, nil
}

func decodeHelloIdentity(h *hello, w *helloJSON) error {
	var err error
	if h.id, err = proto.ParseNodeID(w.ID); err != nil {
		return rejectHello(FailMalformed, "id: %v", err)
	}
	if h.to, err = proto.ParseNodeID(w.To); err != nil {
		return rejectHello(FailMalformed, "to: %v", err)
	}
	pub, err := decodeHexField("pub", w.Pub, ed25519.PublicKeySize)
	if err != nil {
		return err
	}
	h.pub = ed25519.PublicKey(pub)
	nonce, err := decodeHexField("nonce", w.Nonce, NonceBytes)
	if err != nil {
		return err
	}
	copy(h.nonce[:], nonce)
	if w.PeerNonce != "" {
		if h.peerNonce, err = decodeHexField("peer_nonce", w.PeerNonce, NonceBytes); err != nil {
			return err
		}
	}
	h.sig, err = decodeHexField("sig", w.Sig, ed25519.SignatureSize)
	return err
}

// decodeHexField decodes exactly size bytes of lowercase hex.
func decodeHexField(name, s string, size int) ([]byte, error) {
	if len(s) != 2*size {
		return nil, rejectHello(FailMalformed, "%s: %d hex digits, want %d", name, len(s), 2*size)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil, rejectHello(FailMalformed, "%s: character %q at %d is not lowercase hex", name, c, i)
		}
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, rejectHello(FailMalformed, "%s: %v", name, err)
	}
	return b, nil
}

// verifyHello is the identity check of a HELLO received from the node
// from by self: the claimed id is the sender and is BLAKE3 of the carried
// public key, the HELLO is addressed to self, it speaks our version, the
// key is not of small order nor non-canonical, and the signature verifies. expectNonce is our nonce when h must be a reply to
// it, nil when h must be a request. sigs (nil: none) may answer the
// signature check for a signature another node of this process made.
func verifyHello(sigs *HelloSignatures, h *hello, from, self proto.NodeID, expectNonce []byte) error {
	if !speaksVersion(h.versions) {
		return rejectHello(FailVersion, "versions %v do not include %d", h.versions, ProtocolVersion)
	}
	if proto.NodeIDFromPublicKey(h.pub) != h.id {
		return rejectHello(FailIDMismatch, "id %s is not the hash of the public key", h.id.Short())
	}
	if h.id != from {
		return rejectHello(FailIDMismatch, "id %s sent by %s", h.id.Short(), from.Short())
	}
	if h.to != self {
		return rejectHello(FailWrongTarget, "addressed to %s", h.to.Short())
	}
	// Under a small-order key the signature R = identity, S = 0 verifies
	// (ed25519.Verify is cofactorless): anyone could be h.id. No honest
	// node has such a key (one derived from a seed never is).
	if err := proto.CheckPublicKey(h.pub); err != nil {
		return rejectHello(FailWeakKey, "pub of %s: %v", h.id.Short(), err)
	}
	if expectNonce == nil && len(h.peerNonce) != 0 {
		return rejectHello(FailMalformed, "request carries peer_nonce")
	}
	if expectNonce != nil && !bytes.Equal(h.peerNonce, expectNonce) {
		return rejectHello(FailBadNonce, "reply does not echo our nonce")
	}
	if !sigs.Verify(h.pub, helloSigInput(h.id, h.to, h.nonce[:], h.peerNonce), h.sig) {
		return rejectHello(FailBadSignature, "signature of %s does not verify", h.id.Short())
	}
	return nil
}

func speaksVersion(versions []uint16) bool {
	for _, v := range versions {
		if v == ProtocolVersion {
			return true
		}
	}
	return false
}
