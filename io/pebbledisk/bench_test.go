package pebbledisk

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// BenchmarkChunkPutSync is the storage write pattern of a large object:
// 256 KiB chunks submitted back to back (at most chunkWindow queued, as a
// PUT pipelines them) and a sync after every 64 of them (16 MiB), on the
// real file system. "inline" keeps every value in pebble (WAL, then a blob
// file at flush), "side" writes them once to segments. It reports the
// bytes the process wrote to storage per byte stored (/proc/self/io
// write_bytes, Linux, after a flush of the memtable), the figure side
// files halve.
func BenchmarkChunkPutSync(b *testing.B) {
	const chunk, perSync, chunkWindow = 256 << 10, 64, 16
	for _, v := range []struct {
		name string
		min  int
	}{{"inline", -1}, {"side", 0}} {
		b.Run(v.name, func(b *testing.B) {
			d, err := Open(Options{Dir: b.TempDir(), SideValueBytesMin: v.min})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = d.Close() }()
			completed := make(chan env.DiskResult, QueueDepthMax)
			d.SetCompletion(func(done env.DiskDone) { completed <- done.Result })
			value := make([]byte, chunk)
			wait := func() {
				if res := <-completed; res.Err != nil {
					b.Fatal(res.Err)
				}
			}
			before := writeBytes(b)
			b.SetBytes(chunk)
			inflight, id := 0, env.OpID(0)
			submit := func(op env.DiskOp) {
				if inflight == chunkWindow {
					wait()
					inflight--
				}
				id++
				d.Submit(id, op)
				inflight++
			}
			for i := 0; b.Loop(); i++ {
				value[0], value[1], value[2] = byte(i), byte(i>>8), byte(i>>16) // distinct chunks
				submit(env.DiskOp{Kind: env.DiskPut, Key: benchKey(i), Value: bytes.Clone(value)})
				if i%perSync == perSync-1 {
					submit(env.DiskOp{Kind: env.DiskSync})
				}
			}
			submit(env.DiskOp{Kind: env.DiskSync})
			for ; inflight > 0; inflight-- {
				wait()
			}
			// Count what a flush of the memtable writes too: inline values
			// are written again there (into blob files).
			if err := d.db.Flush(); err != nil {
				b.Fatal(err)
			}
			if after := writeBytes(b); after >= 0 && before >= 0 {
				b.ReportMetric(float64(after-before)/float64(b.N*chunk), "written/stored")
			}
		})
	}
}

// writeBytes reads write_bytes of /proc/self/io, -1 where there is none.
func writeBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	return -1
}

// BenchmarkReadyPersist is a registry replica's Ready on disk: a batch of
// a log entry and the hard state, then a sync, submitted together, the
// next Ready once both completed (a sequential name set's shape). It
// reports the process's CPU per Ready (cpu-us/op) besides the wall time.
func BenchmarkReadyPersist(b *testing.B) {
	d := openBench(b)
	done := make(chan env.DiskDone, QueueDepthMax)
	d.SetCompletion(func(dd env.DiskDone) { done <- dd })
	entry, hs := bytes.Repeat([]byte("e"), 400), bytes.Repeat([]byte("h"), 40)
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	id := env.OpID(0)
	n := 0
	for i := 0; b.Loop(); i++ {
		id++
		d.Submit(id, env.DiskOp{Kind: env.DiskBatch, Batch: []env.DiskWrite{{Key: benchKey(i), Value: entry}, {Key: []byte("raft/hs"), Value: hs}}})
		id++
		d.Submit(id, env.DiskOp{Kind: env.DiskSync})
		for range 2 {
			if dd := <-done; dd.Result.Err != nil {
				b.Fatal(dd.Result.Err)
			}
		}
		n++
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-us/op")
}
