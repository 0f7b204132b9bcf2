package dht

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ron-network/ron/core/env"
	"github.com/ron-network/ron/core/proto"
)

var goldenRewrite = flag.Bool("golden-rewrite", false, "rewrite testdata/golden from the encoder")

// goldenBytes returns the golden record testdata/golden/name.hex, first
// writing encoded there under -golden-rewrite. The file is hex, 32 bytes
// a line, so a diff shows which bytes moved.
func goldenBytes(t *testing.T, name string, encoded []byte) []byte {
	t.Helper()
	path := "testdata/golden/" + name + ".hex"
	if *goldenRewrite {
		var b strings.Builder
		for s := hex.EncodeToString(encoded); len(s) > 0; s = s[min(64, len(s)):] {
			b.WriteString(s[:min(64, len(s))] + "\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with -golden-rewrite)", err)
	}
	want, err := hex.DecodeString(strings.ReplaceAll(string(text), "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return want
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
