package dht

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// sampleMessages has one message of every kind, with populated lists.
func sampleMessages() []message {
	addr := proto.AddrOf([]byte("sample"))
	rec := NewProviderRecord(testKey(5, 1), addr, env.Time(1e18))
	ids := []proto.NodeID{{1}, {2, 3}, {0xff}}
	return []message{
		{kind: kindPing},
		{kind: kindPong},
		{kind: kindFindNode, target: proto.NodeID{9, 9}},
		{kind: kindNodes},
		{kind: kindNodes, nodes: appendIDs(nil, ids)},
		{kind: kindFindProviders, target: addr.Key(), max: 7},
		{kind: kindProviders, records: []ProviderRecord{rec, rec}, nodes: appendIDs(nil, ids[:1])},
		{kind: kindProvide, record: rec},
		{kind: kindProvideAck, status: ackShed},
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		p := appendPayload(nil, &m)
		got, err := decodePayload(p)
		if err != nil {
			t.Fatalf("kind %d: %v", m.kind, err)
		}
		if again := appendPayload(nil, &got); !bytes.Equal(again, p) {
			t.Fatalf("kind %d: re-encoding differs", m.kind)
		}
		if got.kind != m.kind || got.target != m.target || got.max != m.max || got.status != m.status ||
			got.record != m.record || !bytes.Equal(got.nodes, m.nodes) || len(got.records) != len(m.records) {
			t.Fatalf("kind %d: decoded %+v, want %+v", m.kind, got, m)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	nodes := appendPayload(nil, &message{kind: kindNodes, nodes: appendIDs(nil, []proto.NodeID{{1}})})
	cases := map[string][]byte{
		"empty":         {},
		"unknown kind":  {99},
		"trailing":      append(appendPayload(nil, &message{kind: kindPing}), 0),
		"truncated":     nodes[:len(nodes)-1],
		"partial id":    {byte(kindNodes), 33, 0},
		"too many ids":  append([]byte{byte(kindNodes), 0x81, 0x08}, make([]byte, 1025)...),
		"bad ack":       {byte(kindProvideAck), 9},
		"records short": {byte(kindProviders), 2, 0},
	}
	for name, p := range cases {
		if _, err := decodePayload(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
	ping := appendPayload(nil, &message{kind: kindPing})
	for _, flags := range []uint16{0, oap.FlagRESP, oap.FlagREQ | oap.FlagRESP} {
		f := oap.MustEncode(&oap.Frame{Header: oap.Header{Flags: flags, AppProto: oap.ProtoDHT}, Payload: ping})
		if _, _, err := decodeFrame(f); err == nil {
			t.Errorf("PING with flags %#x accepted", flags)
		}
	}
}

// FuzzDecodeMessage: decoding never panics, and whatever decodes
// re-encodes to the same bytes (the encoding is canonical).
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(appendPayload(nil, &m))
	}
	f.Add([]byte{byte(kindProviders), 1})
	f.Add([]byte{byte(kindNodes), 0x80, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := decodePayload(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if again := appendPayload(nil, &m); !bytes.Equal(again, p) {
			t.Fatalf("decoded payload re-encodes differently:\n in %x\nout %x", p, again)
		}
		for i := range m.records { // verification of hostile records must not panic
			_ = m.records[i].Verify(0, time.Hour)
		}
	})
}

func TestRecordSigningBytes(t *testing.T) {
	addr := proto.AddrOf([]byte("a"))
	rec := NewProviderRecord(testKey(1, 2), addr, env.Time(0x0102030405060708))
	want := append([]byte(RecordSigningDomain), addr[:]...)
	want = append(want, rec.Provider[:]...)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8)
	if !bytes.Equal(rec.SigningBytes(), want) {
		t.Fatalf("signing bytes differ from the documented layout")
	}
	if err := rec.Verify(1, 1<<62); err != nil {
		t.Fatalf("fresh record: %v", err)
	}
}
