package overlay

import (
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
)

// ErrMalformed is wrapped by every overlay payload decode error.
var ErrMalformed = errors.New("overlay: malformed message")

// Message kinds of app proto 1 (ProtoOverlay).
const (
	kindPing uint64 = 1 // REQ: a heartbeat; answered by a pong with the same corr id
	kindPong uint64 = 2 // RESP: the answer to a ping
	kindMax         = kindPong
)

// message is an overlay payload: wire(kind uvarint, seq uvarint), and for
// a pong also held uvarint. seq is the sender's heartbeat number, echoed by
// the pong; it is informational (the corr id is what matches a pong to its
// ping). held is how many nanoseconds the answering side kept the ping
// before answering (a ping parked until the session was verified), which
// the pinger subtracts from its RTT sample, as QUIC does with ack_delay:
// without it, every reconnect would report the handshake as network RTT.
type message struct {
	kind uint64
	seq  uint64
	held uint64
}

func (m message) append(b []byte) []byte {
	b = wire.AppendUvarint(b, m.kind)
	b = wire.AppendUvarint(b, m.seq)
	if m.kind == kindPong {
		b = wire.AppendUvarint(b, m.held)
	}
	return b
}

// decodeMessage decodes an overlay payload; the frame flags must agree with
// the kind (a ping is a REQ, a pong a RESP).
func decodeMessage(flags uint16, payload []byte) (message, error) {
	var m message
	if len(payload) > MessageBytesMax {
		return m, fmt.Errorf("%w: %d bytes exceed %d", ErrMalformed, len(payload), MessageBytesMax)
	}
	r := wire.NewReader(payload)
	m.kind = r.Uvarint()
	m.seq = r.Uvarint()
	if m.kind == kindPong {
		m.held = r.Uvarint()
	}
	if err := r.Done(); err != nil {
		return m, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if m.kind == 0 || m.kind > kindMax {
		return m, fmt.Errorf("%w: unknown kind %d", ErrMalformed, m.kind)
	}
	want := oap.FlagREQ
	if m.kind == kindPong {
		want = oap.FlagRESP
	}
	if flags&(oap.FlagREQ|oap.FlagRESP) != want {
		return m, fmt.Errorf("%w: kind %d with flags %#04x", ErrMalformed, m.kind, flags)
	}
	return m, nil
}

// frame encodes an overlay frame of app proto p.
func frame(p, flags uint16, corr uint64, payload []byte) []byte {
	return oap.MustEncode(&oap.Frame{
		Header:  oap.Header{Flags: flags, AppProto: p, CorrID: corr},
		Payload: payload,
	})
}
