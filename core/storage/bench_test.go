package storage

import (
	"testing"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/proto"
)

// BenchmarkChunkedAddress compares, per object size, the raw
// blake3.Sum256 (which may use goroutines) with the object address alone
// (proto.AddrOf, goroutine-free) and with Split at the default chunk size
// (the address plus every chunk address: the extra work of chunking).
func BenchmarkChunkedAddress(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}, {"64MiB", 64 << 20}} {
		data := randomData(1, size.n)
		b.Run(size.name+"/blake3.Sum256", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				_ = blake3.Sum256(data)
			}
		})
		b.Run(size.name+"/address", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				_ = proto.AddrOf(data)
			}
		})
		b.Run(size.name+"/split", func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				_, _ = Split(data, ChunkBytesDefault)
			}
		})
	}
}
