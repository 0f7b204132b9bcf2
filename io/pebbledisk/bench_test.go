package pebbledisk

import (
	"fmt"
	"testing"

	"github.com/ron-network/ron/core/env"
)

// Benchmarks run on the real file system (b.TempDir), so put+sync pays a
// real fsync. Values are 1 KiB, keys 16 bytes.
const benchValueBytes = 1 << 10

func openBench(b *testing.B) *Disk {
	b.Helper()
	d, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	return d
}

func benchKey(i int) []byte { return fmt.Appendf(nil, "key%013d", i) }

func mustDo(b *testing.B, d *Disk, op env.DiskOp) env.DiskResult {
	res := d.Do(op)
	if res.Err != nil {
		b.Fatalf("%s: %v", op.Kind, res.Err)
	}
	return res
}

// BenchmarkPutSync is one durable write: a put followed by a sync.
func BenchmarkPutSync(b *testing.B) {
	d := openBench(b)
	value := make([]byte, benchValueBytes)
	b.ReportAllocs()
	b.SetBytes(benchValueBytes)
	for i := 0; b.Loop(); i++ {
		mustDo(b, d, env.DiskOp{Kind: env.DiskPut, Key: benchKey(i), Value: value})
		mustDo(b, d, env.DiskOp{Kind: env.DiskSync})
	}
}

// BenchmarkPut is a write visible at completion, not yet durable.
func BenchmarkPut(b *testing.B) {
	d := openBench(b)
	value := make([]byte, benchValueBytes)
	b.ReportAllocs()
	b.SetBytes(benchValueBytes)
	for i := 0; b.Loop(); i++ {
		mustDo(b, d, env.DiskOp{Kind: env.DiskPut, Key: benchKey(i), Value: value})
	}
}

// BenchmarkGet reads present keys of a store of 10k keys (memtable and
// block cache warm).
func BenchmarkGet(b *testing.B) {
	const keys = 10_000
	d := openBench(b)
	value := make([]byte, benchValueBytes)
	for i := range keys {
		mustDo(b, d, env.DiskOp{Kind: env.DiskPut, Key: benchKey(i), Value: value})
	}
	b.ReportAllocs()
	b.SetBytes(benchValueBytes)
	for i := 0; b.Loop(); i++ {
		if res := mustDo(b, d, env.DiskOp{Kind: env.DiskGet, Key: benchKey(i % keys)}); !res.Found {
			b.Fatalf("key %d missing", i%keys)
		}
	}
}

// BenchmarkSubmitPut is the asynchronous path: Submit through the queue to
// the worker and back through the completion function.
func BenchmarkSubmitPut(b *testing.B) {
	d := openBench(b)
	value := make([]byte, benchValueBytes)
	completed := make(chan struct{}, QueueDepthMax)
	d.SetCompletion(func(env.DiskDone) { completed <- struct{}{} })
	b.ReportAllocs()
	b.SetBytes(benchValueBytes)
	for i := 0; b.Loop(); i++ {
		d.Submit(env.OpID(i+1), env.DiskOp{Kind: env.DiskPut, Key: benchKey(i), Value: value})
		<-completed
	}
}
