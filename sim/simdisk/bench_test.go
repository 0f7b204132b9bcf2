package simdisk

import (
	"fmt"
	"testing"

	"github.com/ron-network/ron/core/env"
)

// Benchmarks of the simulated disk's own cost (no simulated latency is
// waited for: Apply runs the op at once). Values are 1 KiB, keys 16 bytes,
// the same shapes as io/pebbledisk's benchmarks so the two compare.
const benchValueBytes = 1 << 10

func benchKeyOf(i int) []byte { return fmt.Appendf(nil, "key%013d", i) }

func benchApply(b *testing.B, d *Disk, op env.DiskOp) env.DiskResult {
	res := d.Apply(&op)
	if res.Err != nil {
		b.Fatalf("%s: %v", op.Kind, res.Err)
	}
	return res
}

// BenchmarkPut: a write visible at completion, not yet durable. Apply
// keeps the value without copying it, so each put gets a fresh slice, as
// a state machine's would be.
func BenchmarkPut(b *testing.B) {
	d := New(env.NewRand(1))
	b.ReportAllocs()
	b.SetBytes(benchValueBytes)
	for i := 0; b.Loop(); i++ {
		benchApply(b, d, env.DiskOp{Kind: env.DiskPut, Key: benchKeyOf(i), Value: make([]byte, benchValueBytes)})
	}
}

// BenchmarkPutSync: a put followed by a sync (which empties the undo log).
func BenchmarkPutSync(b *testing.B) {
	d := New(env.NewRand(1))
	b.ReportAllocs()
	b.SetBytes(benchValueBytes)
	for i := 0; b.Loop(); i++ {
		benchApply(b, d, env.DiskOp{Kind: env.DiskPut, Key: benchKeyOf(i), Value: make([]byte, benchValueBytes)})
		benchApply(b, d, env.DiskOp{Kind: env.DiskSync})
	}
}

// BenchmarkGet reads present keys of a store of 10k synced keys.
func BenchmarkGet(b *testing.B) {
	const keys = 10_000
	d := New(env.NewRand(1))
	for i := range keys {
		benchApply(b, d, env.DiskOp{Kind: env.DiskPut, Key: benchKeyOf(i), Value: make([]byte, benchValueBytes)})
	}
	benchApply(b, d, env.DiskOp{Kind: env.DiskSync})
	b.ReportAllocs()
	b.SetBytes(benchValueBytes)
	for i := 0; b.Loop(); i++ {
		if res := benchApply(b, d, env.DiskOp{Kind: env.DiskGet, Key: benchKeyOf(i % keys)}); !res.Found {
			b.Fatalf("key %d missing", i%keys)
		}
	}
}
