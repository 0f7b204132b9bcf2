package overlay

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/env/envtest"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// solo drives one overlay ("a") by hand against a scripted peer ("b"):
// the test plays b, reading a's frames from the env and crafting b's.
type solo struct {
	t       *testing.T
	o       *Overlay
	e       *envtest.Env
	peerKey ed25519.PrivateKey
	peer    proto.NodeID
}

func newSolo(t *testing.T, tweak func(*Config)) *solo {
	t.Helper()
	key, peerKey := keyFor("a"), keyFor("b")
	cfg := Config{Key: key, Peers: []proto.NodeID{idOf(peerKey)}}
	if tweak != nil {
		tweak(&cfg)
	}
	o := New(cfg)
	e := envtest.New(idOf(key), 7)
	o.Init(e)
	return &solo{t: t, o: o, e: e, peerKey: peerKey, peer: idOf(peerKey)}
}

func (s *solo) handle(in env.Input) {
	envtest.Step(s.o, in)
	s.o.CheckInvariants()
}

func (s *solo) advance(d time.Duration) {
	for _, in := range s.e.Advance(d) {
		s.handle(in)
	}
}

// from delivers frame as sent by the peer.
func (s *solo) from(frame []byte) { s.handle(env.Message{From: s.peer, Frame: frame}) }

// sentFrames decodes the frames a sent so far (not clearing them).
func (s *solo) sentFrames() []oap.Frame {
	var out []oap.Frame
	for _, x := range s.e.Sent {
		f, err := oap.Decode(x.Frame)
		if err != nil {
			s.t.Fatalf("a sent an undecodable frame: %v", err)
		}
		out = append(out, f)
	}
	return out
}

// lastHelloRequest returns a's most recent HELLO request.
func (s *solo) lastHelloRequest() (oap.Frame, hello) {
	s.t.Helper()
	fs := s.sentFrames()
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].AppProto == oap.ProtoHello && fs[i].Flags&oap.FlagREQ != 0 {
			h, err := decodeHello(fs[i].Payload)
			if err != nil {
				s.t.Fatalf("a's HELLO does not decode: %v", err)
			}
			return fs[i], h
		}
	}
	s.t.Fatal("a sent no HELLO request")
	return oap.Frame{}, hello{}
}

// validReply is the peer's correct reply to a's latest HELLO request.
func (s *solo) validReply() []byte {
	f, h := s.lastHelloRequest()
	nonce := [NonceBytes]byte{9, 9, 9}
	return frame(oap.ProtoHello, oap.FlagRESP, f.CorrID, craftHello(s.peerKey, s.peer, s.o.Self(), nonce[:], h.nonce[:]))
}

// activate starts a and completes its handshake with the scripted peer.
func (s *solo) activate() {
	s.t.Helper()
	s.handle(env.Start{})
	s.from(s.validReply())
	if st := s.o.State(s.peer); st != StateActive {
		s.t.Fatalf("after a valid reply the session is %v, want active", st)
	}
}

func (s *solo) value(name, label string) float64 {
	return s.e.Recorder.Values[envtest.Key(name, label)]
}

// craftHello builds a HELLO payload by hand: signer's public key, claimed
// id, addressee, and a signature by signer over the documented input
// (context, claimed id, addressee, nonce, peer nonce). Tests tamper with
// the inputs to build invalid HELLOs.
func craftHello(signer ed25519.PrivateKey, claimed, to proto.NodeID, nonce, peerNonce []byte) []byte {
	sig := ed25519.Sign(signer, helloSigInput(claimed, to, nonce, peerNonce))
	return craftHelloSig(signer.Public().(ed25519.PublicKey), claimed, to, nonce, peerNonce, sig)
}

func craftHelloSig(pub ed25519.PublicKey, claimed, to proto.NodeID, nonce, peerNonce, sig []byte) []byte {
	w := helloJSON{
		UA: "test/1", Versions: []uint16{ProtocolVersion},
		ID: claimed.String(), To: to.String(), Pub: hex.EncodeToString(pub),
		Nonce: hex.EncodeToString(nonce), Sig: hex.EncodeToString(sig),
	}
	if peerNonce != nil {
		w.PeerNonce = hex.EncodeToString(peerNonce)
		w.MaxFrame, w.MaxInflight, w.FlagsSupported = oap.FrameBytesMax, 8, 0xff
	}
	b, err := json.Marshal(&w)
	if err != nil {
		panic(err)
	}
	return b
}

func pingFrame(corr, seq uint64) []byte {
	return frame(oap.ProtoOverlay, oap.FlagREQ, corr, message{kind: kindPing, seq: seq}.append(nil))
}

func pongFrame(corr uint64) []byte {
	return frame(oap.ProtoOverlay, oap.FlagRESP, corr, message{kind: kindPong}.append(nil))
}

// countKind counts the frames a sent of app proto p with flag.
func (s *solo) countKind(p, flag uint16) int {
	n := 0
	for _, f := range s.sentFrames() {
		if f.AppProto == p && f.Flags&flag != 0 {
			n++
		}
	}
	return n
}

// TestCheckInvariantsRunsAfterEveryMutation: CheckInvariants skips its walk
// only while nothing changed. A table broken behind the overlay's back is
// not seen until a mutating method runs, and then it is, whichever method
// it was (Handle, Enqueue, Close).
func TestCheckInvariantsRunsAfterEveryMutation(t *testing.T) {
	mutations := map[string]func(s *solo){
		"Handle":  func(s *solo) { s.o.Handle(env.Start{}) },
		"Enqueue": func(s *solo) { s.o.Enqueue(s.peer, []byte{1}) },
		"Close":   func(s *solo) { s.o.Close(s.peer) },
	}
	for _, name := range env.SortedKeys(mutations) {
		t.Run(name, func(t *testing.T) {
			s := newSolo(t, nil)
			s.o.CheckInvariants() // clears the flag Init set
			saved := s.o.order
			s.o.order = nil // breaks "order lists every session"
			s.o.CheckInvariants()
			s.o.order = saved
			mutations[name](s)
			s.o.order = nil
			defer func() {
				if recover() == nil {
					t.Fatalf("CheckInvariants after %s missed a broken table", name)
				}
			}()
			s.o.CheckInvariants()
		})
	}
}
