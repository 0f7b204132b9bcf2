package oap

import (
	"bytes"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"pgregory.net/rapid"

	"github.com/ron-network/ron/core/proto/oap/oaptest"
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
		back, err := Inflate(packed, InflatedBytesMax)
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
	back, err := Inflate(packed, InflatedBytesMax)
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
		if _, err := Inflate(bomb, InflatedBytesMax); ReasonOf(err) != ReasonDecompressBound {
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
	_, err := Inflate(bomb, InflatedBytesMax)
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
		if _, err := Inflate(payload, InflatedBytesMax); ReasonOf(err) != ReasonDecompressFailed {
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
	back, err := Inflate(packed, InflatedBytesMax)
	_, bombErr := Inflate(bomb, InflatedBytesMax)
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

// windowBomb compresses n zero bytes with a streaming encoder declaring
// the given window and no content size.
func windowBomb(t *testing.T, n, window int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// headLimit is a limit like the client API's head bound.
const headLimit = 64 << 10

// A limit accepts honest payloads up to it, from Compress (single
// segment, content size declared) and from a streaming encoder whose
// window is the limit rounded up to a power of two, and refuses anything
// past it with decompress_bound.
func TestInflateLimit(t *testing.T) {
	body := FrameBytesMax - HeaderBytes
	accepted := []struct {
		name    string
		limit   int
		payload []byte
		n       int
	}{
		{"Compress, exactly the limit", headLimit, Compress(make([]byte, headLimit)), headLimit},
		{"streamed, exactly the limit", headLimit, windowBomb(t, headLimit, headLimit), headLimit},
		{"Compress, one body frame", body, Compress(make([]byte, body)), body},
		{"streamed, one body frame", body, windowBomb(t, body, 1<<20), body},
		{"a tiny limit", 1, Compress([]byte{7}), 1},
	}
	for _, c := range accepted {
		if out, err := Inflate(c.payload, c.limit); err != nil || len(out) != c.n {
			t.Errorf("%s: %d bytes, %v", c.name, len(out), err)
		}
	}
	refused := map[string][]byte{
		"Compress, one byte over":       Compress(make([]byte, headLimit+1)),
		"streamed, window of the limit": windowBomb(t, 8<<20, headLimit),
		"two frames, each under":        append(Compress(make([]byte, headLimit/2+1)), Compress(make([]byte, headLimit/2+1))...),
	}
	for name, bomb := range refused {
		if _, err := Inflate(bomb, headLimit); ReasonOf(err) != ReasonDecompressBound {
			t.Errorf("%s: %v, want decompress_bound", name, err)
		}
	}
	for _, limit := range []int{0, InflatedBytesMax + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("Inflate limit %d did not panic", limit)
				}
			}()
			_, _ = Inflate(nil, limit)
		}()
	}
}

// Refusing a bomb under a small limit allocates a few times that limit
// (about 6.5 times for a 64 KiB limit: output, history and block buffers;
// the check allows 16, half of one InflatedBytesMax, against flakes),
// not InflatedBytesMax: whatever window the bomb declares, the decoder's
// history is sized from the limit, and so is the output (red team: a
// few hundred bytes of head made the client endpoint allocate 8 MiB).
func TestInflateLimitBoundsMemory(t *testing.T) {
	bombs := map[string]struct {
		payload []byte
		reason  Reason
	}{
		"window of the limit":    {windowBomb(t, 8<<20, headLimit), ReasonDecompressBound},
		"8 MiB window":           {windowBomb(t, 8<<20, 8<<20), ReasonDecompressWindow},
		"Compress, 1 MiB window": {Compress(make([]byte, 8<<20)), ReasonDecompressWindow},
		"declared size":          {singleSegment(t, make([]byte, 8<<20)), ReasonDecompressBound},
	}
	for name, b := range bombs {
		bomb := b.payload
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Inflate(bomb, headLimit)
		runtime.ReadMemStats(&after)
		if ReasonOf(err) != b.reason {
			t.Fatalf("%s: %v, want %s", name, err, b.reason)
		}
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d compressed bytes refused after allocating %d bytes", name, len(bomb), allocated)
		if bound := uint64(16 * headLimit); allocated > bound {
			t.Errorf("%s: allocated %d bytes under a limit of %d, bound %d", name, allocated, headLimit, bound)
		}
	}
}

// A frame declaring a window past the reader's is decompress_window, not
// decompress_bound, however little it holds, and the detail names both
// windows: a streaming encoder's default window (the zstd CLI's 2 MiB,
// klauspost's 8 MiB) used to be reported as a bomb. A window up to the
// caller's is accepted, and the window a caller passes admits them.
func TestInflateWindow(t *testing.T) {
	small := []byte("a small payload from a streaming encoder")
	body := FrameBytesMax - HeaderBytes
	twoMiB := oaptest.Streamed(t, small, zstd.WithWindowSize(2<<20))
	eightMiB := oaptest.Streamed(t, small)
	var h zstd.Header
	if err := h.Decode(eightMiB); err != nil || h.SingleSegment || h.WindowSize != 8<<20 {
		t.Fatalf("the default writer's frame: %+v, %v; want a streamed 8 MiB window", h, err)
	}
	if out, err := InflateWindow(twoMiB, body, 2<<20); err != nil || !bytes.Equal(out, small) {
		t.Fatalf("a 2 MiB window under a 2 MiB reader: %q, %v", out, err)
	}
	if out, err := InflateWindow(Compress(make([]byte, body)), body, 2<<20); err != nil || len(out) != body {
		t.Fatalf("Compress of one body frame under a 2 MiB reader: %d bytes, %v", len(out), err)
	}
	refused := []struct {
		name          string
		payload       []byte
		limit, window int
		detail        string
	}{
		{"8 MiB window, 2 MiB reader", eightMiB, body, 2 << 20, "window 8388608 bytes > 2097152"},
		{"2 MiB window, head reader", twoMiB, headLimit, headLimit, "window 2097152 bytes > 65536"},
		{"8 MiB bomb, head reader", windowBomb(t, 8<<20, 8<<20), headLimit, headLimit, "window 8388608 bytes > 65536"},
		{"second frame's 8 MiB window", append(Compress(small), eightMiB...), body, 2 << 20, "window 8388608 bytes > 2097152"},
	}
	for _, c := range refused {
		_, err := InflateWindow(c.payload, c.limit, c.window)
		if ReasonOf(err) != ReasonDecompressWindow || !strings.Contains(err.Error(), c.detail) {
			t.Errorf("%s: %v, want decompress_window with %q", c.name, err, c.detail)
		}
	}
	for _, window := range []int{headLimit / 2, InflatedBytesMax + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("Inflate window %d under a limit of %d did not panic", window, headLimit)
				}
			}()
			_, _ = InflateWindow(nil, headLimit, window)
		}()
	}
}

// singleSegment compresses content as one single-segment frame: no
// window, only its content size declared.
func singleSegment(t *testing.T, content []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	out := enc.EncodeAll(content, nil)
	var h zstd.Header
	if err := h.Decode(out); err != nil || !h.SingleSegment || h.FrameContentSize != uint64(len(content)) {
		t.Fatalf("not a single-segment frame of %d bytes: %+v, %v", len(content), h, err)
	}
	return out
}
