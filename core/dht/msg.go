package dht

import (
	"errors"
	"fmt"
	"math"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
	"github.com/ron-network/ron/core/proto/wire"
)

// kind is the first byte of every DHT payload.
type kind uint8

const (
	kindPing          kind = 1 // REQ, empty
	kindPong          kind = 2 // RESP, empty
	kindFindNode      kind = 3 // REQ: target
	kindNodes         kind = 4 // RESP: nodes
	kindFindProviders kind = 5 // REQ: target (the address), max
	kindProviders     kind = 6 // RESP: records, nodes
	kindProvide       kind = 7 // REQ: record
	kindProvideAck    kind = 8 // RESP: status
)

// ackStatus is the answer to PROVIDE. The quotas are checked before the
// signature (DHT.accept), so a record over its sender's or provider's
// quota, forged or not, is answered ackShed without being verified and
// counted as dht_rejects_total{reason="sender_quota"} or "provider_quota",
// not as "bad_signature".
type ackStatus uint8

const (
	ackStored    ackStatus = 0
	ackRejected  ackStatus = 1 // its provider is not a member, or it failed verification
	ackShed      ackStatus = 2 // not stored: a store limit or a quota refused it
	ackStatusMax           = ackShed
)

// responseKind is the reply kind expected for a request kind.
func responseKind(k kind) kind { return k + 1 }

func (k kind) isRequest() bool {
	return k == kindPing || k == kindFindNode || k == kindFindProviders || k == kindProvide
}

// recordFixedBytes is the encoded size of a record without its expiry varint.
const recordFixedBytes = 3*proto.IDBytes + 64

// message is one decoded DHT payload. nodes holds raw 32-byte ids and
// aliases the decoded buffer, so decoding a reply allocates nothing for its
// contacts.
type message struct {
	kind    kind
	target  proto.NodeID     // FindNode, FindProviders
	max     uint32           // FindProviders: records wanted
	nodes   []byte           // Nodes, Providers: count*IDBytes raw ids
	records []ProviderRecord // Providers
	record  ProviderRecord   // Provide
	status  ackStatus        // ProvideAck
}

func (m *message) nodeCount() int { return len(m.nodes) / proto.IDBytes }

func (m *message) node(i int) (id proto.NodeID) {
	copy(id[:], m.nodes[i*proto.IDBytes:])
	return id
}

// appendIDs appends raw ids, the form message.nodes holds.
func appendIDs(b []byte, ids []proto.NodeID) []byte {
	for i := range ids {
		b = append(b, ids[i][:]...)
	}
	return b
}

// appendPayload encodes m onto b.
func appendPayload(b []byte, m *message) []byte {
	b = append(b, byte(m.kind))
	switch m.kind {
	case kindFindNode:
		b = append(b, m.target[:]...)
	case kindNodes:
		b = appendNodes(b, m.nodes)
	case kindFindProviders:
		b = append(b, m.target[:]...)
		b = wire.AppendUvarint(b, uint64(m.max))
	case kindProviders:
		b = wire.AppendUvarint(b, uint64(len(m.records)))
		for i := range m.records {
			b = appendRecord(b, &m.records[i])
		}
		b = appendNodes(b, m.nodes)
	case kindProvide:
		b = appendRecord(b, &m.record)
	case kindProvideAck:
		b = wire.AppendUvarint(b, uint64(m.status))
	}
	return b
}

// appendNodes encodes raw ids as one byte string, so the decoder can alias
// it instead of copying every id.
func appendNodes(b, raw []byte) []byte { return wire.AppendBytes(b, raw) }

func appendRecord(b []byte, r *ProviderRecord) []byte {
	b = append(b, r.Addr[:]...)
	b = append(b, r.Provider[:]...)
	b = append(b, r.PublicKey[:]...)
	b = wire.AppendUvarint(b, uint64(r.Expiry))
	return append(b, r.Signature[:]...)
}

// ErrMalformed is wrapped by every payload or frame decode error.
var ErrMalformed = errors.New("dht: malformed message")

// decodePayload decodes one payload exactly (no trailing bytes).
func decodePayload(p []byte) (message, error) {
	var m message
	r := wire.NewReader(p)
	m.kind = kind(r.Uint(math.MaxUint8))
	switch m.kind {
	case kindPing, kindPong:
	case kindFindNode:
		r.Fixed(m.target[:])
	case kindNodes:
		m.nodes = readNodes(r)
	case kindFindProviders:
		r.Fixed(m.target[:])
		m.max = uint32(r.Uint(ProvidersPerReplyMax))
	case kindProviders:
		n := r.Count(ProvidersPerReplyMax)
		if r.Remaining() < n*recordFixedBytes {
			return m, fmt.Errorf("%w: %d records in %d bytes", ErrMalformed, n, r.Remaining())
		}
		if n > 0 && r.Err() == nil {
			m.records = make([]ProviderRecord, n)
			for i := range m.records {
				readRecord(r, &m.records[i])
			}
		}
		m.nodes = readNodes(r)
	case kindProvide:
		readRecord(r, &m.record)
	case kindProvideAck:
		m.status = ackStatus(r.Uint(uint64(ackStatusMax)))
	default:
		if r.Err() == nil {
			return m, fmt.Errorf("%w: unknown kind %d", ErrMalformed, m.kind)
		}
	}
	if err := r.Done(); err != nil {
		return m, fmt.Errorf("%w: kind %d: %w", ErrMalformed, m.kind, err)
	}
	if len(m.nodes)%proto.IDBytes != 0 {
		return m, fmt.Errorf("%w: node list of %d bytes is not a whole number of ids", ErrMalformed, len(m.nodes))
	}
	return m, nil
}

// readNodes reads the raw id list; decodePayload checks its length is a
// whole number of ids.
func readNodes(r *wire.Reader) []byte {
	raw := r.Bytes(KMax * proto.IDBytes)
	if len(raw) == 0 {
		return nil
	}
	return raw
}

func readRecord(r *wire.Reader, rec *ProviderRecord) {
	r.Fixed(rec.Addr[:])
	r.Fixed(rec.Provider[:])
	r.Fixed(rec.PublicKey[:])
	rec.Expiry = env.Time(r.Uint(math.MaxInt64))
	r.Fixed(rec.Signature[:])
}

// decodeFrame decodes a whole OAP/1 frame carrying a DHT payload. Exactly
// one of REQ and RESP must be set and must agree with the payload's kind.
func decodeFrame(b []byte) (oap.Header, message, error) {
	f, err := oap.Decode(b)
	if err != nil {
		return f.Header, message{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if f.AppProto != oap.ProtoDHT {
		return f.Header, message{}, fmt.Errorf("%w: app proto %d", ErrMalformed, f.AppProto)
	}
	m, err := decodePayload(f.Payload)
	if err != nil {
		return f.Header, m, err
	}
	isReq := f.Flags&oap.FlagREQ != 0
	isResp := f.Flags&oap.FlagRESP != 0
	if isReq == isResp || isReq != m.kind.isRequest() {
		return f.Header, m, fmt.Errorf("%w: flags %#x for kind %d", ErrMalformed, f.Flags, m.kind)
	}
	return f.Header, m, nil
}

// encodeFrame builds a whole frame for m.
func encodeFrame(corr uint64, m *message) []byte {
	flags := oap.FlagRESP
	if m.kind.isRequest() {
		flags = oap.FlagREQ
	}
	var scratch [512]byte
	payload := appendPayload(scratch[:0], m)
	return oap.MustEncode(&oap.Frame{
		Header:  oap.Header{Flags: flags, AppProto: oap.ProtoDHT, CorrID: corr},
		Payload: payload,
	})
}
