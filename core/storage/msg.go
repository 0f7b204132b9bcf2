package storage

import (
	"errors"
	"fmt"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
)

// kind is the first field of every storage payload.
type kind uint8

const (
	kindStoreChunk    kind = iota + 1 // REQ: chunk key, offset, chunk bytes -> reply ok
	kindCommit                        // REQ: object addr, manifest -> ok | missing(list of chunk addrs)
	kindCheck                         // REQ: object addr -> ok (held) | notFound
	kindFetchManifest                 // REQ: object addr -> ok(manifest) | notFound
	kindFetchChunk                    // REQ: chunk key, offset -> ok(bytes) | notFound | corrupt
	kindReply                         // RESP to any of the above
	kindLast          = kindReply
)

// status is the outcome carried by a reply.
type status uint8

const (
	statusOK       status = iota + 1
	statusNotFound        // the peer does not hold it
	statusMissing         // commit: chunks listed in data are missing
	statusCorrupt         // the peer's copy failed verification
	statusBusy            // shed: a bound was hit or the peer is recovering
	statusFailed          // the peer's disk failed
	statusBad             // the request was invalid
	statusLast     = statusBad
)

// message is a decoded storage payload. data aliases the frame.
type message struct {
	kind   kind
	addr   proto.Addr
	offset uint64 // kindStoreChunk and kindFetchChunk: the chunk's object offset
	status status // replies only
	data   []byte
}

// ErrMalformed is wrapped by every frame or payload decode error.
var ErrMalformed = errors.New("storage: malformed message")

// appendPayload encodes m: kind, addr, offset (chunk requests only),
// status (replies only), data. A chunk key is verified with the chunk's
// offset (its chaining value depends on it), so the chunk requests carry
// it.
func appendPayload(b []byte, m *message) []byte {
	b = wire.AppendUvarint(b, uint64(m.kind))
	b = wire.AppendFixed(b, m.addr[:])
	if m.kind.carriesOffset() {
		b = wire.AppendUvarint(b, m.offset)
	}
	if m.kind == kindReply {
		b = wire.AppendUvarint(b, uint64(m.status))
	}
	return wire.AppendBytes(b, m.data)
}

// decodePayload decodes and validates one storage payload.
func decodePayload(p []byte) (message, error) {
	var m message
	r := wire.NewReader(p)
	m.kind = kind(r.Uint(uint64(kindLast)))
	if r.Err() == nil && m.kind == 0 {
		return m, fmt.Errorf("%w: kind 0", ErrMalformed)
	}
	r.Fixed(m.addr[:])
	if m.kind.carriesOffset() {
		m.offset = r.Uint(StreamObjectBytesMax)
	}
	if m.kind == kindReply {
		m.status = status(r.Uint(uint64(statusLast)))
		if r.Err() == nil && m.status == 0 {
			return m, fmt.Errorf("%w: status 0", ErrMalformed)
		}
	}
	m.data = r.Bytes(dataBytesMax(m.kind))
	if err := r.Done(); err != nil {
		return message{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}

func (k kind) carriesOffset() bool { return k == kindStoreChunk || k == kindFetchChunk }

// dataBytesMax is the largest data field a kind may carry.
func dataBytesMax(k kind) int {
	switch k {
	case kindStoreChunk, kindReply:
		return ChunkBytesMax
	case kindCommit:
		return ManifestBytesMax
	}
	return 0
}

// decodeFrame decodes a whole OAP/1 frame carrying a storage payload:
// exactly one of REQ and RESP, agreeing with the payload's kind.
func decodeFrame(b []byte) (oap.Header, message, error) {
	f, err := oap.Decode(b)
	if err != nil {
		return f.Header, message{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if f.AppProto != oap.ProtoStorage {
		return f.Header, message{}, fmt.Errorf("%w: app proto %d", ErrMalformed, f.AppProto)
	}
	m, err := decodePayload(f.Payload)
	if err != nil {
		return f.Header, m, err
	}
	isReq, isResp := f.Flags&oap.FlagREQ != 0, f.Flags&oap.FlagRESP != 0
	if isReq == isResp || isResp != (m.kind == kindReply) {
		return f.Header, message{}, fmt.Errorf("%w: flags %#x for kind %d", ErrMalformed, f.Flags, m.kind)
	}
	return f.Header, m, nil
}

// encodeFrame builds a whole frame for m. Sizes are bounded by the
// callers (chunks by ChunkBytesMax, manifests by ManifestBytesMax), so a
// failure is a bug and MustEncode panics.
func encodeFrame(corr uint64, m *message) []byte {
	flags := oap.FlagREQ
	if m.kind == kindReply {
		flags = oap.FlagRESP
	}
	payload := appendPayload(make([]byte, 0, 48+len(m.data)), m)
	return oap.MustEncode(&oap.Frame{
		Header:  oap.Header{Flags: flags, AppProto: oap.ProtoStorage, CorrID: corr},
		Payload: payload,
	})
}

// appendAddrs and decodeAddrs carry the missing-chunk list of a commit
// reply: concatenated 32-byte addresses.
func appendAddrs(b []byte, addrs []proto.Addr) []byte {
	for _, a := range addrs {
		b = append(b, a[:]...)
	}
	return b
}

func decodeAddrs(b []byte) ([]proto.Addr, error) {
	if len(b)%proto.IDBytes != 0 || len(b)/proto.IDBytes > ManifestChunksMax {
		return nil, fmt.Errorf("%w: address list of %d bytes", ErrMalformed, len(b))
	}
	out := make([]proto.Addr, len(b)/proto.IDBytes)
	for i := range out {
		copy(out[i][:], b[i*proto.IDBytes:])
	}
	return out, nil
}
