package storage

import (
	"bytes"
	"testing"

	"github.com/ron-network/ron/core/proto"
	"github.com/ron-network/ron/core/proto/oap"
)

// FuzzDecodeManifest: the decoder never panics, accepts only what it
// validates, and what it accepts re-encodes to the same bytes.
func FuzzDecodeManifest(f *testing.F) {
	for _, n := range []int{0, 1, 4096, 3*4096 + 5} {
		_, m := Split(randomData(uint64(n), n), 4096)
		f.Add(AppendManifest(nil, &m))
	}
	f.Add([]byte{1, 0, 1})
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		var total uint64
		for _, c := range m.Chunks {
			if c.Size == 0 || c.Size > ChunkBytesMax {
				t.Fatalf("accepted chunk size %d", c.Size)
			}
			total += uint64(c.Size)
		}
		if total != m.Size || len(m.Chunks) > ManifestChunksMax {
			t.Fatalf("accepted inconsistent manifest")
		}
		if !bytes.Equal(AppendManifest(nil, &m), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzDecodeStorageMessage: frames and payloads decode without panics,
// and an accepted message re-encodes to the same payload.
func FuzzDecodeStorageMessage(f *testing.F) {
	a := proto.AddrOf([]byte("seed"))
	for _, m := range []message{
		{kind: kindStoreChunk, addr: a, data: []byte("seed")},
		{kind: kindCommit, addr: a, data: []byte{1, 4, 1}},
		{kind: kindCheck, addr: a},
		{kind: kindFetchManifest, addr: a},
		{kind: kindFetchChunk, addr: a},
		{kind: kindReply, addr: a, status: statusMissing, data: a[:]},
		{kind: kindReply, addr: a, status: statusOK},
	} {
		f.Add(encodeFrame(7, &m))
		f.Add(appendPayload(nil, &m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, m, err := decodeFrame(b); err == nil {
			f, _ := oap.Decode(b)
			if !bytes.Equal(appendPayload(nil, &m), f.Payload) {
				t.Fatalf("frame payload re-encoding differs")
			}
		}
		m, err := decodePayload(b)
		if err != nil {
			return
		}
		if len(m.data) > dataBytesMax(m.kind) || m.kind == 0 || m.kind > kindLast {
			t.Fatalf("accepted out-of-range message")
		}
		if !bytes.Equal(appendPayload(nil, &m), b) {
			t.Fatalf("re-encoding differs")
		}
		if m.status == statusMissing {
			_, _ = decodeAddrs(m.data)
		}
	})
}
