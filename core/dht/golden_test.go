package dht

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/ron-network/ron/internal/golden"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

// goldenBytes is golden.Bytes: testdata/golden/name.hex, rewritten from
// encoded under -golden-rewrite.
func goldenBytes(t *testing.T, name string, encoded []byte) []byte {
	t.Helper()
	return golden.Bytes(t, name, encoded)
}

// goldenRecord is a provider record with recognisable bytes in every
// field (its signature is not valid; the codec does not check it).
func goldenRecord(seed byte) ProviderRecord {
	r := ProviderRecord{Addr: proto.AddrOf([]byte{seed}), Expiry: 1_700_000_000_000_000_000 + env.Time(seed)}
	for i := range r.Provider {
		r.Provider[i] = seed + byte(i)
	}
	for i := range r.PublicKey {
		r.PublicKey[i] = seed ^ byte(i)
	}
	for i := range r.Signature {
		r.Signature[i] = byte(i) * seed
	}
	return r
}

// TestGoldenPeerMessages: the DHT's peer messages, a provider record in a
// PROVIDE and a PROVIDERS reply among them, decode from their goldens and
// re-encode byte for byte, and the encoder still writes them.
func TestGoldenPeerMessages(t *testing.T) {
	nodes := appendIDs(nil, []proto.NodeID{{1}, {2}, {3}})
	for name, m := range map[string]message{
		"dht-find-node":      {kind: kindFindNode, target: proto.NodeID{7, 7, 7}},
		"dht-nodes":          {kind: kindNodes, nodes: nodes},
		"dht-find-providers": {kind: kindFindProviders, target: proto.NodeID{9}, max: 20},
		"dht-providers":      {kind: kindProviders, records: []ProviderRecord{goldenRecord(1), goldenRecord(2)}, nodes: nodes},
		"dht-provide":        {kind: kindProvide, record: goldenRecord(3)},
		"dht-provide-ack":    {kind: kindProvideAck, status: ackShed},
	} {
		t.Run(name, func(t *testing.T) {
			want := goldenBytes(t, name, appendPayload(nil, &m))
			got, err := decodePayload(want)
			if err != nil {
				t.Fatalf("golden does not decode: %v", err)
			}
			if again := appendPayload(nil, &got); !bytes.Equal(again, want) {
				t.Fatalf("golden re-encodes differently:\n got %x\nwant %x", again, want)
			}
			if enc := appendPayload(nil, &m); !bytes.Equal(enc, want) {
				t.Fatalf("the encoder drifted from the golden:\n got %x\nwant %x", enc, want)
			}
			if got.kind == kindProvide && !reflect.DeepEqual(got.record, m.record) {
				t.Fatalf("provider record decodes to %+v, want %+v", got.record, m.record)
			}
		})
	}
}
