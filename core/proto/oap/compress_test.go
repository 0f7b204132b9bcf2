package oap

import (
	"bytes"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/klauspost/compress/zstd"
	"pgregory.net/rapid"
)

func TestCompressRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// Mix random bytes with runs so that both literal and match paths run.
		var payload []byte
		for _, piece := range rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 300), 0, 8).Draw(t, "pieces") {
			payload = append(payload, piece...)
			payload = append(payload, bytes.Repeat(piece, rapid.IntRange(0, 20).Draw(t, "repeat"))...)
		}
		packed := Compress(payload)
		if !bytes.Equal(Compress(payload), packed) {
			t.Fatal("Compress is not deterministic")
		}
		back, err := Inflate(packed)
		if err != nil || !bytes.Equal(back, payload) {
			t.Fatalf("round trip of %d bytes: %d bytes back, %v", len(payload), len(back), err)
		}
	})
}

func TestInflateAtTheBound(t *testing.T) {
	exact := bytes.Repeat([]byte("ron!"), InflatedBytesMax/4)
	packed := Compress(exact)
	if len(packed) > FrameBytesMax/100 {
		t.Fatalf("%d repeated bytes compress to %d, expected a tiny frame", len(exact), len(packed))
	}
	back, err := Inflate(packed)
	if err != nil || !bytes.Equal(back, exact) {
		t.Fatalf("payload of exactly InflatedBytesMax: %d bytes, %v", len(back), err)
	}
}

// zstdBomb compresses n zero bytes with a streaming encoder, which writes
// no content size in the frame header, so the bound must be enforced while
// decoding, not from the header.
func zstdBomb(t *testing.T, n int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for written := 0; written < n; written += len(chunk) {
		if _, err := w.Write(chunk[:min(len(chunk), n-written)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestInflateRejectsBombs(t *testing.T) {
	declared, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer declared.Close()
	bombs := map[string][]byte{
		"one byte over, size declared": declared.EncodeAll(make([]byte, InflatedBytesMax+1), nil),
		"one byte over, streamed":      zstdBomb(t, InflatedBytesMax+1),
		"two frames each under the bound": append(declared.EncodeAll(make([]byte, InflatedBytesMax/2+1), nil),
			declared.EncodeAll(make([]byte, InflatedBytesMax/2+1), nil)...),
	}
	for name, bomb := range bombs {
		if len(bomb) > FrameBytesMax {
			t.Fatalf("%s: bomb of %d bytes does not fit a frame", name, len(bomb))
		}
		if _, err := Inflate(bomb); ReasonOf(err) != ReasonDecompressBound {
			t.Errorf("%s: %v, want decompress_bound", name, err)
		}
	}
}

// A 256 MiB bomb must be refused after about InflatedBytesMax of output:
// total allocation stays far below what decoding it all would take.
func TestInflateBombMemoryBounded(t *testing.T) {
	bomb := zstdBomb(t, 256<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Inflate(bomb)
	runtime.ReadMemStats(&after)
	if ReasonOf(err) != ReasonDecompressBound {
		t.Fatalf("Inflate: %v", err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	if allocated > 4*InflatedBytesMax {
		t.Fatalf("refusing a %d-byte bomb allocated %d bytes, bound %d", len(bomb), allocated, 4*InflatedBytesMax)
	}
	t.Logf("bomb of %d compressed bytes refused after allocating %d bytes", len(bomb), allocated)
}

func TestInflateRejectsGarbage(t *testing.T) {
	valid := Compress([]byte("hello hello hello hello"))
	corrupt := bytes.Clone(valid)
	corrupt[len(corrupt)-1] ^= 0xff // the content checksum
	for name, payload := range map[string][]byte{
		"not zstd":    []byte("plain text, not a zstd frame"),
		"truncated":   valid[:len(valid)-3],
		"bad content": corrupt,
	} {
		if _, err := Inflate(payload); ReasonOf(err) != ReasonDecompressFailed {
			t.Errorf("%s: %v, want decompress_failed", name, err)
		}
	}
}

func TestCompressOverBoundPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Compress past InflatedBytesMax did not panic")
		}
	}()
	Compress(make([]byte, InflatedBytesMax+1))
}

// goroutinesCreated is the process's cumulative count of goroutines started.
func goroutinesCreated() uint64 {
	sample := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// core/ may not start goroutines. With the options used here, zstd must
// encode and decode on the caller's goroutine, for small payloads and for
// ones spanning many blocks. An async stream decoder starts some, which
// shows that the check can fail.
func TestZstdStartsNoGoroutines(t *testing.T) {
	payload := bytes.Repeat([]byte("abcdefgh"), 1<<18) // 2 MiB, 16 zstd blocks
	bomb := zstdBomb(t, InflatedBytesMax+1)
	before := goroutinesCreated()
	packed := Compress(payload)
	back, err := Inflate(packed)
	_, bombErr := Inflate(bomb)
	if created := goroutinesCreated() - before; created != 0 {
		t.Fatalf("Compress and Inflate started %d goroutines", created)
	}
	if err != nil || !bytes.Equal(back, payload) || bombErr == nil {
		t.Fatalf("round trip: %v; bomb: %v", err, bombErr)
	}
	before = goroutinesCreated()
	async, err := zstd.NewReader(bytes.NewReader(packed), zstd.WithDecoderConcurrency(4))
	if err != nil {
		t.Fatal(err)
	}
	defer async.Close()
	if _, err := async.Read(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if goroutinesCreated() == before {
		t.Fatal("an async decoder started no goroutine: the check above proves nothing")
	}
}
